#![no_main]
//! The stateful target in a PQ suite: TBD9 (X-Wing, ML-DSA-44) at its
//! private-use code point, so that mutations reach the ML-KEM, X25519 and
//! ML-DSA decoding and checks inside live group processing.

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use mlsx_base::crypto::CryptoProvider;
use mlsx_fuzz::harness::Scenario;
use mlsx_pq_suites::{PqProvider, PqSuite};

fn scenario() -> &'static Scenario {
    static S: OnceLock<Scenario> = OnceLock::new();
    S.get_or_init(|| {
        let pq = PqProvider::default();
        let cs = pq
            .code_point(PqSuite::Tbd9)
            .and_then(|c| pq.cipher_suite_provider(c))
            .expect("TBD9");
        Scenario::build(Arc::clone(&cs))
    })
}

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    scenario().run(data);
});
