//! The backends of ML-KEM and ML-DSA against each other (RustCrypto, and
//! libcrux with the `libcrux` feature), through this crate's own types, on
//! the operations the suites perform, with keys stored as seeds as mlsx
//! stores them (so every decapsulation and signature starts from the seed).
//!
//! `cargo bench -p mlsx-pq-suites --features libcrux --bench backends`

mod common;

use common::must;
use criterion::{Criterion, criterion_group, criterion_main};
use mlsx_base::crypto::{HpkeKem, HpkePrivateKey, SignaturePrivateKey, SignatureScheme};
use mlsx_pq_suites::mldsa::Signing;
use mlsx_pq_suites::{Backend, KeyDerivation, MlDsa, MlKem};

fn ml_kem_768(c: &mut Criterion) {
    let mut g = c.benchmark_group("backends/ml_kem_768");
    let dk_seed = [7u8; 64];
    let sk = HpkePrivateKey::from_slice(&dk_seed);
    for backend in Backend::available() {
        let kem = MlKem::MlKem768(KeyDerivation::Labeled, *backend);
        let pk = must(kem.public_key(&sk));
        let (_, ct) = must(kem.encap(&pk));
        g.bench_function(format!("keygen/{backend}"), |b| b.iter(|| must(kem.public_key_from_seed(&dk_seed))));
        g.bench_function(format!("encaps/{backend}"), |b| b.iter(|| must(kem.encap(&pk))));
        g.bench_function(format!("decaps_from_seed/{backend}"), |b| b.iter(|| must(kem.decap(&ct, &sk))));
    }
    g.finish();
}

fn ml_dsa_65(c: &mut Criterion) {
    let mut g = c.benchmark_group("backends/ml_dsa_65");
    let sk = SignaturePrivateKey::from_slice(&[9u8; 32]);
    let msg = [0x42u8; 256];
    for backend in Backend::available() {
        let scheme = MlDsa::MlDsa65(Signing::Hedged, *backend);
        let pk = must(scheme.public_key(&sk));
        let sig = must(scheme.sign(&sk, &msg));
        g.bench_function(format!("sign_from_seed/{backend}"), |b| b.iter(|| must(scheme.sign(&sk, &msg))));
        g.bench_function(format!("verify/{backend}"), |b| b.iter(|| must(scheme.verify(&pk, &msg, &sig))));
    }
    g.finish();
}

criterion_group!(benches, ml_kem_768, ml_dsa_65);
criterion_main!(benches);
