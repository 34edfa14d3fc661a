//! The fuzz harness (`fuzz/src/harness.rs`) in PQ suites, as ordinary
//! tests: a sweep of single-byte edits over every valid message of the
//! stateful scenario in TBD9 (X-Wing, ML-DSA-44) and TBD8 (ML-KEM-1024,
//! ECDSA P-384). Each edited message must be rejected with the receiver's
//! saved state unchanged (or, for a commit or Welcome, accepted with the
//! members in agreement, which no edit achieves here).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::Arc;

use mlsx_base::codec::WireFormat;
use mlsx_base::crypto::CryptoProvider;
use mlsx_pq_suites::{PqProvider, PqSuite};

fn scenario(suite: PqSuite) -> harness::Scenario {
    let pq = PqProvider::default();
    let cs = pq.code_point(suite).and_then(|c| pq.cipher_suite_provider(c)).unwrap();
    harness::Scenario::build(Arc::clone(&cs))
}

/// Inputs the `stateful_pq` fuzz target found, kept in
/// `fuzz/regressions/stateful_pq/` (TBD9).
#[test]
fn kept_fuzz_inputs_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/stateful_pq");
    let Ok(entries) = std::fs::read_dir(&dir) else { return };
    let s = scenario(PqSuite::Tbd9);
    for e in entries {
        let path = e.unwrap().path();
        println!("{}", path.display());
        s.run(&std::fs::read(&path).unwrap());
    }
}

fn sweep(suite: PqSuite) {
    use harness::Outcome;

    let s = scenario(suite);
    for (i, msg) in s.encoded_messages().iter().enumerate() {
        let kind = s.messages[i].body.wire_format();
        if kind != WireFormat::KEY_PACKAGE {
            assert_eq!(
                s.feed(msg),
                Outcome::Accepted,
                "{suite:?}: valid message {i} ({kind:?}) was not accepted"
            );
        }
        // About 60 positions per message, spread over it.
        let step = (msg.len() / 60).max(1);
        let mut accepted = 0;
        for pos in (0..msg.len()).step_by(step) {
            let mut bytes = msg.clone();
            bytes[pos] ^= 0x01;
            if s.feed(&bytes) == Outcome::Accepted {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 0, "{suite:?}: message {i}: an edited message was accepted");
    }
}

#[test]
fn single_byte_edits_in_tbd9() {
    sweep(PqSuite::Tbd9);
}

#[test]
fn single_byte_edits_in_tbd8() {
    sweep(PqSuite::Tbd8);
}
