//! The default RustCrypto backend against libcrux, on the operations the
//! suites perform, with keys stored as seeds as mlsx stores them (so every
//! decapsulation and signature starts from the seed).
//!
//! `cargo bench -p mlsx-pq-suites --bench backends`

mod common;

use common::must;
use criterion::{Criterion, criterion_group, criterion_main};
use mlsx_base::crypto::{HpkeKem, HpkePrivateKey, SignaturePrivateKey, SignatureScheme};
use mlsx_pq_suites::mldsa::Signing;
use mlsx_pq_suites::{KeyDerivation, MlDsa, MlKem};

fn seed<const N: usize>(b: u8) -> [u8; N] {
    [b; N]
}

fn ml_kem_768(c: &mut Criterion) {
    let mut g = c.benchmark_group("backends/ml_kem_768");
    let kem = MlKem::MlKem768(KeyDerivation::Labeled);
    let dk_seed: [u8; 64] = seed(7);
    let sk = HpkePrivateKey::from_slice(&dk_seed);
    let pk = must(kem.public_key(&sk));
    let (_, ct) = must(kem.encap(&pk));

    g.bench_function("keygen/rustcrypto", |b| b.iter(|| must(kem.public_key_from_seed(&dk_seed))));
    g.bench_function("encaps/rustcrypto", |b| b.iter(|| must(kem.encap(&pk))));
    g.bench_function("decaps_from_seed/rustcrypto", |b| b.iter(|| must(kem.decap(&ct, &sk))));

    use libcrux_ml_kem::mlkem768;
    let lpk = must(mlkem768::MlKem768PublicKey::try_from(pk.as_slice()));
    let lct = must(mlkem768::MlKem768Ciphertext::try_from(ct.as_slice()));
    g.bench_function("keygen/libcrux", |b| b.iter(|| mlkem768::generate_key_pair(dk_seed)));
    g.bench_function("encaps/libcrux", |b| {
        b.iter(|| {
            let ok = mlkem768::validate_public_key(&lpk);
            (ok, mlkem768::encapsulate(&lpk, seed(3)))
        })
    });
    g.bench_function("decaps_from_seed/libcrux", |b| {
        b.iter(|| {
            let kp = mlkem768::generate_key_pair(dk_seed);
            mlkem768::decapsulate(kp.private_key(), &lct)
        })
    });
    g.finish();
}

fn ml_dsa_65(c: &mut Criterion) {
    let mut g = c.benchmark_group("backends/ml_dsa_65");
    let scheme = MlDsa::MlDsa65(Signing::Hedged);
    let xi: [u8; 32] = seed(9);
    let sk = SignaturePrivateKey::from_slice(&xi);
    let pk = must(scheme.public_key(&sk));
    let msg = [0x42u8; 256];
    let sig = must(scheme.sign(&sk, &msg));

    g.bench_function("sign_from_seed/rustcrypto", |b| b.iter(|| must(scheme.sign(&sk, &msg))));
    g.bench_function("verify/rustcrypto", |b| b.iter(|| must(scheme.verify(&pk, &msg, &sig))));

    use libcrux_ml_dsa::ml_dsa_65;
    let kp = ml_dsa_65::generate_key_pair(xi);
    let lsig = must(ml_dsa_65::sign(&kp.signing_key, &msg, b"", seed(5)));
    g.bench_function("sign_from_seed/libcrux", |b| {
        b.iter(|| {
            let kp = ml_dsa_65::generate_key_pair(xi);
            must(ml_dsa_65::sign(&kp.signing_key, &msg, b"", seed(5)))
        })
    });
    g.bench_function("verify/libcrux", |b| {
        b.iter(|| must(ml_dsa_65::verify(&kp.verification_key, &msg, b"", &lsig)))
    });
    g.finish();
}

criterion_group!(benches, ml_kem_768, ml_dsa_65);
criterion_main!(benches);
