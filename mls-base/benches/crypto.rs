//! Labeled operations (RFC 9420 §5, §8) against the raw primitives they
//! wrap, per cipher suite, so later layers can measure their overhead.
//!
//! Names follow `op/param/suite`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CryptoProvider, LabeledCrypto};

fn bench_suite(c: &mut Criterion, suite: CipherSuite) {
    let provider = RustCryptoProvider::new();
    let Some(cs) = provider.cipher_suite_provider(suite) else {
        return;
    };
    let cs = cs.as_ref();
    let id = format!("{:#06x}", suite.value());
    let nh = cs.hash_len();
    let secret = vec![7u8; nh];
    let data = vec![1u8; 100];

    c.bench_function(&format!("kdf_expand/raw/{id}"), |b| {
        b.iter(|| cs.kdf_expand(black_box(&secret), b"info", nh))
    });
    c.bench_function(&format!("expand_with_label/nh/{id}"), |b| {
        b.iter(|| cs.expand_with_label(black_box(&secret), b"joiner", b"context", nh))
    });
    c.bench_function(&format!("derive_secret/nh/{id}"), |b| {
        b.iter(|| cs.derive_secret(black_box(&secret), b"epoch"))
    });
    c.bench_function(&format!("derive_tree_secret/key/{id}"), |b| {
        b.iter(|| cs.derive_tree_secret(black_box(&secret), b"key", 7, cs.aead_key_len()))
    });
    c.bench_function(&format!("ref_hash/100B/{id}"), |b| {
        b.iter(|| cs.ref_hash(b"MLS 1.0 Proposal Reference", black_box(&data)))
    });
    c.bench_function(&format!("mls_exporter/32/{id}"), |b| {
        b.iter(|| cs.mls_exporter(black_box(&secret), b"label", b"ctx", 32))
    });

    let Ok((sig_sk, sig_pk)) = cs.signature_generate_key_pair() else {
        return;
    };
    c.bench_function(&format!("sign/raw_100B/{id}"), |b| b.iter(|| cs.sign(&sig_sk, black_box(&data))));
    c.bench_function(&format!("sign_with_label/100B/{id}"), |b| {
        b.iter(|| cs.sign_with_label(&sig_sk, b"FramedContentTBS", black_box(&data)))
    });
    if let Ok(sig) = cs.sign_with_label(&sig_sk, b"FramedContentTBS", &data) {
        c.bench_function(&format!("verify_with_label/100B/{id}"), |b| {
            b.iter(|| cs.verify_with_label(&sig_pk, b"FramedContentTBS", black_box(&data), &sig))
        });
    }

    let Ok((kem_sk, kem_pk)) = cs.kem_generate_key_pair() else {
        return;
    };
    c.bench_function(&format!("hpke_seal/raw_100B/{id}"), |b| {
        b.iter(|| cs.hpke_seal(&kem_pk, b"info", b"", black_box(&data)))
    });
    c.bench_function(&format!("encrypt_with_label/100B/{id}"), |b| {
        b.iter(|| cs.encrypt_with_label(&kem_pk, b"UpdatePathNode", b"context", black_box(&data)))
    });
    if let Ok(ct) = cs.encrypt_with_label(&kem_pk, b"UpdatePathNode", b"context", &data) {
        c.bench_function(&format!("decrypt_with_label/100B/{id}"), |b| {
            b.iter(|| cs.decrypt_with_label(&kem_sk, b"UpdatePathNode", b"context", black_box(&ct)))
        });
    }
    c.bench_function(&format!("kem_derive_key_pair/nh/{id}"), |b| {
        b.iter_batched(|| secret.clone(), |s| cs.kem_derive_key_pair(&s), BatchSize::SmallInput)
    });
}

fn labeled(c: &mut Criterion) {
    for suite in CipherSuite::RFC9420 {
        bench_suite(c, suite);
    }
}

criterion_group!(benches, labeled);
criterion_main!(benches);
