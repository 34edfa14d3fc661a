//! The backends against each other: for the same seeds and randomness,
//! RustCrypto and libcrux give the same keys, ciphertexts, shared secrets
//! and signatures, accept each other's outputs and refuse the same bad
//! inputs; and a group whose members run different backends works.
//! (Without the `libcrux` feature only RustCrypto is built and the
//! comparisons are of one backend with itself; `.ci/run` builds both.)

#![allow(clippy::unwrap_used, clippy::panic)]

use mlsx_base::crypto::{HpkeKem, SignaturePrivateKey, SignatureScheme};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_pq_suites::{Backend, HybridKem, KeyDerivation, MlDsa, MlKem, PqProvider, PqSuite, Profile, Signing};

/// A deterministic byte stream, so that failures reproduce.
fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(3))
        .collect()
}

fn pairs() -> Vec<(Backend, Backend)> {
    let all = Backend::available();
    all.iter().flat_map(|a| all.iter().map(move |b| (*a, *b))).collect()
}

#[test]
fn ml_kem_agrees_byte_for_byte() {
    for (a, b) in pairs() {
        for k in 0..2u8 {
            let (ka, kb) = match k {
                0 => (
                    MlKem::MlKem768(KeyDerivation::Labeled, a),
                    MlKem::MlKem768(KeyDerivation::Labeled, b),
                ),
                _ => (
                    MlKem::MlKem1024(KeyDerivation::Labeled, a),
                    MlKem::MlKem1024(KeyDerivation::Labeled, b),
                ),
            };
            for s in 0..8u8 {
                let seed = bytes(s, 64);
                let pk = ka.public_key_from_seed(&seed).unwrap();
                assert_eq!(pk, kb.public_key_from_seed(&seed).unwrap(), "{a} {b} pk");
                let m = bytes(s.wrapping_add(100), 32);
                let (ss, ct) = ka.encap_derand(&pk, &m).unwrap();
                let (ss_b, ct_b) = kb.encap_derand(&pk, &m).unwrap();
                assert_eq!((ss.as_bytes(), &ct), (ss_b.as_bytes(), &ct_b), "{a} {b} encap");
                assert_eq!(kb.decap_seed(&seed, &ct).unwrap(), ss, "{a} {b} decap");
                // Implicit rejection yields the same pseudo-random secret.
                let mut bad = ct.clone();
                bad[s as usize] ^= 0x40;
                assert_eq!(ka.decap_seed(&seed, &bad).unwrap(), kb.decap_seed(&seed, &bad).unwrap());
                assert_eq!(ka.expanded_key_from_seed(&seed).unwrap(), kb.expanded_key_from_seed(&seed).unwrap());
                // The same modulus check refuses the same key.
                let mut unreduced = pk.clone();
                unreduced[0] = 0xff;
                unreduced[1] |= 0x0f;
                assert!(ka.validate_public_key(&unreduced).is_err() && kb.validate_public_key(&unreduced).is_err());
                assert!(ka.encap_derand(&unreduced, &m).is_err() && kb.encap_derand(&unreduced, &m).is_err());
            }
        }
    }
}

#[test]
fn hybrids_agree_byte_for_byte() {
    for (a, b) in pairs() {
        let d = KeyDerivation::Labeled;
        for (ka, kb) in [
            (HybridKem::XWing(d, a), HybridKem::XWing(d, b)),
            (HybridKem::MlKem768P256(d, a), HybridKem::MlKem768P256(d, b)),
            (HybridKem::MlKem1024P384(d, a), HybridKem::MlKem1024P384(d, b)),
        ] {
            let (sk, pk) = ka.derive_key_pair(&bytes(1, 32)).unwrap();
            assert_eq!(kb.public_key(&sk).unwrap(), pk);
            let r = bytes(2, ka.encap_randomness_len());
            let (ss, ct) = ka.encap_derand(&pk, &r).unwrap();
            assert_eq!(kb.encap_derand(&pk, &r).unwrap().1, ct);
            assert_eq!(kb.decap(&ct, &sk).unwrap(), ss);
        }
    }
}

#[test]
fn ml_dsa_agrees_byte_for_byte() {
    for (a, b) in pairs() {
        for (sa, sb) in [
            (MlDsa::MlDsa44(Signing::Deterministic, a), MlDsa::MlDsa44(Signing::Deterministic, b)),
            (MlDsa::MlDsa65(Signing::Deterministic, a), MlDsa::MlDsa65(Signing::Deterministic, b)),
            (MlDsa::MlDsa87(Signing::Deterministic, a), MlDsa::MlDsa87(Signing::Deterministic, b)),
        ] {
            for s in 0..4u8 {
                let sk = SignaturePrivateKey::from_slice(&bytes(s, 32));
                let pk = sa.public_key(&sk).unwrap();
                assert_eq!(pk, sb.public_key(&sk).unwrap());
                let msg = bytes(s.wrapping_add(7), 100 + usize::from(s));
                let sig = sa.sign(&sk, &msg).unwrap();
                assert_eq!(sig, sb.sign(&sk, &msg).unwrap(), "{a} {b} deterministic signature");
                assert_eq!(
                    sa.sign_with_rnd(sk.as_bytes(), &msg, b"ctx", &[s; 32]).unwrap(),
                    sb.sign_with_rnd(sk.as_bytes(), &msg, b"ctx", &[s; 32]).unwrap()
                );
                sb.verify(&pk, &msg, &sig).unwrap();
                let mut bad = sig.clone();
                bad[10] ^= 1;
                assert!(sa.verify(&pk, &msg, &bad).is_err() && sb.verify(&pk, &msg, &bad).is_err());
                assert_eq!(
                    sa.expanded_key_from_seed(sk.as_bytes()).unwrap(),
                    sb.expanded_key_from_seed(sk.as_bytes()).unwrap()
                );
            }
            // A hedged signature of one verifies under the other.
            let hedged = MlDsa::MlDsa65(Signing::Hedged, a);
            let (sk, pk) = hedged.generate_key_pair().unwrap();
            let sig = hedged.sign(&sk, b"m").unwrap();
            MlDsa::MlDsa65(Signing::Hedged, b).verify(&pk, b"m", &sig).unwrap();
        }
    }
}

/// Alice on one backend, Bob on the other, in the ML-KEM-768 + ML-DSA-65
/// suite (TBD10): the Welcome, a commit each way and a message each way.
#[test]
fn members_on_different_backends_share_a_group() {
    for (a, b) in pairs() {
        let provider = |backend| {
            PqProvider::new(Profile {
                backend,
                ..Profile::draft()
            })
        };
        let cs_a = provider(a).suite_provider(PqSuite::Tbd10).unwrap();
        let cs_b = provider(b).suite_provider(PqSuite::Tbd10).unwrap();
        let bob_kp = Identity::basic(cs_b.as_ref(), b"bob").unwrap().key_package(cs_b.as_ref()).unwrap();
        let id_a = Identity::basic(cs_a.as_ref(), b"alice").unwrap();
        let mut alice = Group::create(cs_a.clone(), id_a, b"backends".to_vec(), GroupConfig::default()).unwrap();
        let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()])).unwrap();
        alice.merge_pending_commit().unwrap();
        let mut bob = Group::join(cs_b.clone(), out.welcome_message().unwrap(), bob_kp, None, GroupConfig::default()).unwrap();
        assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
        let update = bob.commit(CommitOptions::default()).unwrap();
        bob.merge_pending_commit().unwrap();
        match alice.process_message(&update.commit).unwrap() {
            Received::Commit(staged) => alice.merge_staged_commit(staged).unwrap(),
            _ => panic!("a commit"),
        }
        assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator(), "{a} {b}");
        let msg = alice.encrypt_application(b"across backends", b"").unwrap();
        assert!(matches!(bob.process_message(&msg).unwrap(), Received::Application { data, .. } if data == b"across backends"));
    }
}
