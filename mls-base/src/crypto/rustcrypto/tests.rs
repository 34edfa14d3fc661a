//! Provider tests: every suite, and the native HPKE against `hpke-rs`.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::crypto::{CipherSuiteProvider, LabeledCrypto, SignaturePrivateKey};

fn suites() -> Vec<ComposedSuite> {
    CipherSuite::RFC9420.iter().map(|s| rfc9420_suite(*s).unwrap()).collect()
}

#[test]
fn signatures_round_trip_and_reject_tampering() {
    for cs in suites() {
        let (sk, pk) = cs.signature_generate_key_pair().unwrap();
        assert_eq!(cs.signature_public_key(&sk).unwrap(), pk);
        let sig = cs.sign(&sk, b"message").unwrap();
        cs.verify(&pk, b"message", &sig).unwrap();
        assert!(
            matches!(cs.verify(&pk, b"messagf", &sig), Err(CryptoError::InvalidSignature)),
            "{:?}",
            cs.cipher_suite()
        );
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(cs.verify(&pk, b"message", &bad).is_err());
        // Malformed inputs are errors, not panics.
        assert!(cs.verify(&pk[1..], b"message", &sig).is_err());
        assert!(cs.verify(&pk, b"message", &sig[1..]).is_err());
        assert!(cs.verify(&[], b"message", &[]).is_err());
        assert!(cs.verify(&vec![0xff; pk.len()], b"message", &sig).is_err());
        assert!(cs.sign(&SignaturePrivateKey::new(vec![1, 2, 3]), b"m").is_err());
    }
}

#[test]
fn hpke_round_trip_and_export_agreement() {
    for cs in suites() {
        let (sk, pk) = cs.kem_generate_key_pair().unwrap();
        assert_eq!(cs.kem_public_key(&sk).unwrap(), pk);
        let (enc, ct) = cs.hpke_seal(&pk, b"info", b"aad", b"secret message").unwrap();
        assert_eq!(cs.hpke_open(&enc, &sk, b"info", b"aad", &ct).unwrap().as_bytes(), b"secret message");
        assert!(cs.hpke_open(&enc, &sk, b"infx", b"aad", &ct).is_err());
        assert!(cs.hpke_open(&enc[1..], &sk, b"info", b"aad", &ct).is_err());
        assert!(cs.hpke_open(&enc, &sk, b"info", b"aad", &ct[1..]).is_err());
        assert!(cs.hpke_seal(&pk[1..], b"info", b"", b"x").is_err());
        let (enc, s1) = cs.hpke_export_sender(&pk, b"info", b"ctx", 32).unwrap();
        let s2 = cs.hpke_export_receiver(&enc, &sk, b"info", b"ctx", 32).unwrap();
        assert_eq!(s1, s2);
    }
}

#[test]
fn derive_key_pair_is_deterministic() {
    for cs in suites() {
        let (sk1, pk1) = cs.kem_derive_key_pair(&[7u8; 32]).unwrap();
        let (sk2, pk2) = cs.kem_derive_key_pair(&[7u8; 32]).unwrap();
        assert_eq!((sk1.as_bytes(), &pk1), (sk2.as_bytes(), &pk2));
        assert_eq!(cs.kem_public_key(&sk1).unwrap(), pk1);
        assert_ne!(cs.kem_derive_key_pair(&[8u8; 32]).unwrap().1, pk1);
    }
}

/// The native RFC 9180 code and `hpke-rs` agree on the curves both have:
/// the same key pairs from the same input, and each opens what the other seals.
#[test]
fn native_hpke_matches_hpke_rs() {
    use hpke_rs::{Hpke, HpkePrivateKey as RsSk, HpkePublicKey as RsPk, Mode};
    use hpke_rs_crypto::types::{AeadAlgorithm as A, KdfAlgorithm as F, KemAlgorithm as K};
    use hpke_rs_rust_crypto::HpkeRustCrypto;

    for (suite, kem, kdf, aead) in [
        (1u16, K::DhKem25519, F::HkdfSha256, A::Aes128Gcm),
        (2, K::DhKemP256, F::HkdfSha256, A::Aes128Gcm),
        (3, K::DhKem25519, F::HkdfSha256, A::ChaCha20Poly1305),
        (7, K::DhKemP384, F::HkdfSha384, A::Aes256Gcm),
    ] {
        let native = rfc9420_suite(CipherSuite(suite)).unwrap();
        let mut rs = Hpke::<HpkeRustCrypto>::try_new(Mode::Base, kem, kdf, aead).unwrap();
        let ikm = [42u8; 48];
        let (sk, pk) = native.kem_derive_key_pair(&ikm).unwrap();
        let (rs_sk, rs_pk) = rs.derive_key_pair(&ikm).unwrap().into_keys();
        assert_eq!(sk.as_bytes(), rs_sk.as_slice(), "suite {suite}");
        assert_eq!(pk, rs_pk.as_slice());
        let (rs_sk, rs_pk) = (RsSk::new(sk.as_bytes().to_vec()), RsPk::new(pk.clone()));
        let (enc, ct) = native.hpke_seal(&pk, b"info", b"aad", b"pt").unwrap();
        assert_eq!(rs.open(&enc, &rs_sk, b"info", b"aad", &ct, None, None, None).unwrap(), b"pt");
        let (enc, ct) = rs.seal(&rs_pk, b"info", b"aad", b"pt", None, None, None).unwrap();
        assert_eq!(native.hpke_open(&enc, &sk, b"info", b"aad", &ct).unwrap().as_bytes(), b"pt");
        assert_eq!(
            native
                .hpke_open_with_public(&enc, &sk, &pk, b"info", b"aad", &ct)
                .unwrap()
                .as_bytes(),
            b"pt"
        );
        let (enc, s1) = rs.send_export(&rs_pk, b"i", None, None, None, b"c", 40).unwrap();
        assert_eq!(native.hpke_export_receiver(&enc, &sk, b"i", b"c", 40).unwrap().as_bytes(), &s1[..]);
        let (enc, s2) = native.hpke_export_sender(&pk, b"i", b"c", 40).unwrap();
        assert_eq!(
            rs.receiver_export(&enc, &rs_sk, b"i", None, None, None, b"c", 40).unwrap(),
            s2.as_bytes()
        );
    }
}

/// PSK mode (RFC 9180 §5.1.2) agrees with `hpke-rs` both ways; the AAD
/// built from `enc` is the one used; empty PSK inputs are refused.
#[test]
fn psk_mode_matches_hpke_rs() {
    use hpke_rs::{Hpke, HpkePrivateKey as RsSk, HpkePublicKey as RsPk, Mode};
    use hpke_rs_crypto::types::{AeadAlgorithm as A, KdfAlgorithm as F, KemAlgorithm as K};
    use hpke_rs_rust_crypto::HpkeRustCrypto;

    let (psk, psk_id) = (&[7u8; 32][..], &b"psk id"[..]);
    for (suite, kem, kdf, aead) in [
        (1u16, K::DhKem25519, F::HkdfSha256, A::Aes128Gcm),
        (3, K::DhKem25519, F::HkdfSha256, A::ChaCha20Poly1305),
        (7, K::DhKemP384, F::HkdfSha384, A::Aes256Gcm),
    ] {
        let native = rfc9420_suite(CipherSuite(suite)).unwrap();
        let mut rs = Hpke::<HpkeRustCrypto>::try_new(Mode::Psk, kem, kdf, aead).unwrap();
        let (sk, pk) = native.kem_generate_key_pair().unwrap();
        let (rs_sk, rs_pk) = (RsSk::new(sk.as_bytes().to_vec()), RsPk::new(pk.clone()));
        let aad_of = |enc: &[u8]| Ok([b"aad:".as_slice(), enc].concat());
        let (enc, ct) = native.hpke_seal_psk(&pk, b"info", psk, psk_id, &aad_of, b"pt").unwrap();
        let aad = [b"aad:".as_slice(), &enc].concat();
        assert_eq!(
            rs.open(&enc, &rs_sk, b"info", &aad, &ct, Some(psk), Some(psk_id), None).unwrap(),
            b"pt",
            "suite {suite}"
        );
        assert!(native.hpke_open_psk(&enc, &sk, b"info", b"other", &ct, psk, psk_id).is_err());
        assert!(native.hpke_open_psk(&enc, &sk, b"info", &aad, &ct, &[8u8; 32], psk_id).is_err());
        let (enc, ct) = rs.seal(&rs_pk, b"info", b"aad", b"pt", Some(psk), Some(psk_id), None).unwrap();
        assert_eq!(
            native
                .hpke_open_psk(&enc, &sk, b"info", b"aad", &ct, psk, psk_id)
                .unwrap()
                .as_bytes(),
            b"pt"
        );
        assert!(
            native.hpke_open(&enc, &sk, b"info", b"aad", &ct).is_err(),
            "base mode must not open PSK mode"
        );
        assert!(native.hpke_seal_psk(&pk, b"info", b"", psk_id, &aad_of, b"pt").is_err());
        assert!(native.hpke_seal_psk(&pk, b"info", psk, b"", &aad_of, b"pt").is_err());
    }
}

#[test]
fn labeled_encryption_round_trip() {
    for cs in suites() {
        let (sk, pk) = cs.kem_generate_key_pair().unwrap();
        let ct = cs.encrypt_with_label(&pk, b"UpdatePathNode", b"ctx", b"path secret").unwrap();
        assert_eq!(
            cs.decrypt_with_label(&sk, b"UpdatePathNode", b"ctx", &ct).unwrap().as_bytes(),
            b"path secret"
        );
        assert!(cs.decrypt_with_label(&sk, b"Welcome", b"ctx", &ct).is_err());
    }
}

#[test]
fn provider_maps_exactly_the_rfc_suites() {
    let p = RustCryptoProvider::new();
    for s in CipherSuite::RFC9420 {
        assert_eq!(p.cipher_suite_provider(s).unwrap().cipher_suite(), s);
    }
    assert!(p.cipher_suite_provider(CipherSuite(0)).is_none());
    assert!(p.cipher_suite_provider(CipherSuite(8)).is_none());
}

#[test]
fn batch_seal_opens_like_single_seals() {
    for cs in suites() {
        let (sk1, pk1) = cs.kem_generate_key_pair().unwrap();
        let (sk2, pk2) = cs.kem_generate_key_pair().unwrap();
        let out = cs
            .hpke_seal_batch(&[(&pk1, b"one"), (&pk2, b"two")], b"shared info", b"aad")
            .unwrap();
        assert_eq!(
            cs.hpke_open(&out[0].0, &sk1, b"shared info", b"aad", &out[0].1).unwrap().as_bytes(),
            b"one"
        );
        assert_eq!(
            cs.hpke_open(&out[1].0, &sk2, b"shared info", b"aad", &out[1].1).unwrap().as_bytes(),
            b"two"
        );
        assert!(cs.hpke_open(&out[1].0, &sk2, b"other info", b"aad", &out[1].1).is_err());
    }
}

/// Opening with the recipient's public key given agrees with plain opening
/// in every suite, and a wrong public key makes it fail.
#[test]
fn open_with_known_public_key() {
    for cs in suites() {
        let (sk, pk) = cs.kem_generate_key_pair().unwrap();
        let (_, other) = cs.kem_generate_key_pair().unwrap();
        let (enc, ct) = cs.hpke_seal(&pk, b"info", b"aad", b"pt").unwrap();
        assert_eq!(
            cs.hpke_open_with_public(&enc, &sk, &pk, b"info", b"aad", &ct).unwrap().as_bytes(),
            b"pt"
        );
        assert!(cs.hpke_open_with_public(&enc, &sk, &other, b"info", b"aad", &ct).is_err());
    }
}

#[test]
fn kem_public_keys_are_validated() {
    use crate::crypto::HpkeKem;
    for kem in [DhKem::X25519, DhKem::X448, DhKem::P256, DhKem::P384, DhKem::P521] {
        let (_, pk) = HpkeKem::generate_key_pair(&kem).unwrap();
        assert!(kem.validate_public_key(&pk).is_ok(), "{kem:?}");
        assert!(kem.validate_public_key(&pk[1..]).is_err(), "{kem:?}: short key");
        let mut longer = pk.clone();
        longer.push(0);
        assert!(kem.validate_public_key(&longer).is_err(), "{kem:?}: long key");
        if matches!(kem, DhKem::P256 | DhKem::P384 | DhKem::P521) {
            // Off the curve: change the y coordinate.
            let mut off = pk.clone();
            let last = off.len() - 1;
            off[last] ^= 1;
            assert!(kem.validate_public_key(&off).is_err(), "{kem:?}: point off the curve");
            // Compressed points are not HPKE's encoding.
            let mut compressed = vec![0x02 | (pk[pk.len() - 1] & 1)];
            compressed.extend_from_slice(&pk[1..1 + (pk.len() - 1) / 2]);
            assert!(kem.validate_public_key(&compressed).is_err(), "{kem:?}: compressed point");
        }
    }
}
