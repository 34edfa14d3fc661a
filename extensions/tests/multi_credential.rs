//! Multi-credentials (draft-ietf-mls-extensions §6.5, draft-mls-addl-creds
//! §4) in groups of three: bindings under the group's suite and under an
//! ML-DSA suite, the strong and weak support rules, and a negative test for
//! each MUST.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::panic_in_result_fn,
    clippy::needless_range_loop
)]

use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, Credential, CredentialType, VLBytes};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, CryptoProviders};
use mlsx_base::group::{
    BasicCredentialValidator, CommitOptions, CredentialValidator, CredentialValidators, Group, GroupConfig, Identity, KeyPackageBundle,
    Received,
};
use mlsx_extensions::Error;
use mlsx_extensions::multi::{CredentialBinding, MultiCredential, MultiCredentialTypes, MultiCredentialValidator, bind};
use mlsx_pq_suites::PqSuite;

const TYPES: MultiCredentialTypes = MultiCredentialTypes::EXTENSIONS;

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
        .unwrap()
}

/// An ML-DSA-65 suite for bindings.
fn mldsa() -> Arc<dyn CipherSuiteProvider> {
    PqSuite::Tbd10.provider().unwrap()
}

fn config() -> GroupConfig {
    let providers: Arc<dyn CryptoProvider> = Arc::new(
        CryptoProviders::new()
            .with(Arc::new(RustCryptoProvider::new()))
            .with(Arc::new(mlsx_pq_suites::PqProvider::default())),
    );
    let basic: Arc<dyn CredentialValidator> = Arc::new(BasicCredentialValidator);
    let multi = Arc::new(MultiCredentialValidator::new(basic.clone(), providers, vec![CredentialType::BASIC]));
    GroupConfig {
        validator: Arc::new(
            CredentialValidators::new(basic)
                .with(TYPES.multi, multi.clone())
                .with(TYPES.weak_multi, multi),
        ),
        ..GroupConfig::default()
    }
}

/// A basic identity that supports both kinds of multi-credential and, if
/// `pq`, the ML-DSA suite.
fn plain(name: &str, pq: bool) -> Identity {
    let cs = suite1();
    let mut id = Identity::basic(cs.as_ref(), name.as_bytes()).unwrap();
    id.capabilities.credentials = vec![CredentialType::BASIC, TYPES.multi, TYPES.weak_multi];
    if pq {
        id.capabilities.cipher_suites.push(mldsa().cipher_suite());
    }
    id
}

/// A binding of a basic credential `name` under `cs`, signed by its own
/// key over `signature_key`.
fn binding(cs: &dyn CipherSuiteProvider, name: &str, signature_key: &[u8]) -> CredentialBinding {
    let (sk, pk) = cs.signature_generate_key_pair().unwrap();
    bind(
        cs,
        Credential::Basic(VLBytes::new(name.as_bytes().to_vec())),
        &pk,
        &sk,
        signature_key,
    )
    .unwrap()
}

/// Alice, whose credential binds "alice@corp" (suite 1) and
/// "alice@service" (ML-DSA-65).
fn alice(weak: bool) -> Identity {
    let mut id = plain("alice", true);
    let bindings = vec![
        binding(suite1().as_ref(), "alice@corp", &id.signature_key),
        binding(mldsa().as_ref(), "alice@service", &id.signature_key),
    ];
    id.credential = MultiCredential { weak, bindings }.to_credential(TYPES).unwrap();
    id
}

fn kp(id: Identity) -> KeyPackageBundle {
    id.key_package(suite1().as_ref()).unwrap()
}

/// Bob creates a group with Carol (`carol_pq`: whether she supports the
/// ML-DSA suite).
fn group(carol_pq: bool) -> Vec<Group> {
    let cs = suite1();
    let mut bob = Group::create(cs.clone(), plain("bob", true), b"multi".to_vec(), config()).unwrap();
    let carol = kp(plain("carol", carol_pq));
    let out = bob.commit(CommitOptions::add(vec![carol.key_package.clone()])).unwrap();
    bob.merge_pending_commit().unwrap();
    let carol = Group::join(cs, out.welcome_message().unwrap(), carol, None, config()).unwrap();
    vec![bob, carol]
}

/// Bob adds `who`; Carol follows; `who` joins.
fn add(g: &mut Vec<Group>, who: KeyPackageBundle) -> Result<(), mlsx_base::Error> {
    let out = g[0].commit(CommitOptions::add(vec![who.key_package.clone()]))?;
    g[0].merge_pending_commit()?;
    let Received::Commit(s) = g[1].process_message(&out.commit)? else {
        panic!()
    };
    g[1].merge_staged_commit(s)?;
    let joined = Group::join(suite1(), out.welcome_message()?, who, None, config())?;
    g.push(joined);
    Ok(())
}

fn ext(e: &mlsx_base::Error) -> &Error {
    Error::of(e).unwrap_or_else(|| panic!("not an extensions error: {e:?}"))
}

#[test]
fn a_multi_credential_binds_identities_under_two_suites() {
    let mut g = group(true);
    add(&mut g, kp(alice(false))).unwrap();
    assert_eq!(g[0].epoch_authenticator(), g[2].epoch_authenticator());
    let leaf = g[1].tree().leaf(mlsx_base::tree::math::LeafIndex(2)).unwrap();
    let m = MultiCredential::from_credential(&leaf.credential, TYPES).unwrap().unwrap();
    assert!(!m.weak);
    assert_eq!(m.bindings.len(), 2);
    assert_eq!(m.bindings[1].cipher_suite, mldsa().cipher_suite());
    // Alice commits (an UpdatePath with her multi-credential leaf).
    let out = g[2].commit(CommitOptions::default()).unwrap();
    g[2].merge_pending_commit().unwrap();
    for i in 0..2 {
        let Received::Commit(s) = g[i].process_message(&out.commit).unwrap() else {
            panic!()
        };
        g[i].merge_staged_commit(s).unwrap();
    }
    assert_eq!(g[0].epoch_authenticator(), g[2].epoch_authenticator());
}

#[test]
fn every_binding_must_be_valid() {
    let cs = suite1();
    let with = |bindings: Vec<CredentialBinding>| {
        let mut id = plain("mallory", true);
        id.credential = MultiCredential { weak: false, bindings }.to_credential(TYPES).unwrap();
        id
    };
    // Signed by a key that is not the binding's credential_key.
    let mut id = plain("mallory", true);
    let mut b = binding(cs.as_ref(), "mallory@corp", &id.signature_key);
    let (_, other_pk) = cs.signature_generate_key_pair().unwrap();
    b.credential_key = other_pk.into();
    id.credential = MultiCredential {
        weak: false,
        bindings: vec![b],
    }
    .to_credential(TYPES)
    .unwrap();
    let err = add(&mut group(true), kp(id)).unwrap_err();
    assert!(matches!(err, mlsx_base::Error::Crypto(_)), "{err:?}");
    // A binding over another leaf's signature key.
    let (_, someone_else) = cs.signature_generate_key_pair().unwrap();
    let err = add(&mut group(true), kp(with(vec![binding(cs.as_ref(), "x", &someone_else)]))).unwrap_err();
    assert!(matches!(err, mlsx_base::Error::Crypto(_)), "{err:?}");
    // A multi-credential inside a multi-credential.
    let inner = MultiCredential {
        weak: false,
        bindings: vec![],
    }
    .to_credential(TYPES)
    .unwrap();
    let mut id = plain("mallory", true);
    let (sk, pk) = cs.signature_generate_key_pair().unwrap();
    let nested = bind(cs.as_ref(), inner, &pk, &sk, &id.signature_key).unwrap();
    id.credential = MultiCredential {
        weak: false,
        bindings: vec![nested],
    }
    .to_credential(TYPES)
    .unwrap();
    let err = add(&mut group(true), kp(id)).unwrap_err();
    assert!(matches!(ext(&err), Error::NestedMultiCredential), "{err:?}");
    // No bindings at all.
    let err = add(&mut group(true), kp(with(vec![]))).unwrap_err();
    assert!(matches!(ext(&err), Error::EmptyMultiCredential), "{err:?}");
}

#[test]
fn every_member_must_support_every_binding_of_a_multi_credential() {
    // Carol does not support the ML-DSA suite of Alice's second binding.
    let err = add(&mut group(false), kp(alice(false))).unwrap_err();
    assert!(matches!(ext(&err), Error::MultiCredentialUnsupportedByMember(_)), "{err:?}");
    // Carol does not support the credential type at all.
    let mut g = group(true);
    let cs = suite1();
    let mut dave = Identity::basic(cs.as_ref(), b"dave").unwrap();
    dave.capabilities.cipher_suites.push(mldsa().cipher_suite());
    add(&mut g, kp(dave)).unwrap();
    let err = add(&mut g, kp(alice(false))).unwrap_err();
    assert!(matches!(err, mlsx_base::Error::Peer(_)), "{err:?}");
}

#[test]
fn weak_multi_needs_one_supported_binding_per_member() {
    // Carol supports only the suite-1 binding: enough for weak-multi.
    let mut g = group(false);
    add(&mut g, kp(alice(true))).unwrap();
    assert_eq!(g[1].epoch_authenticator(), g[2].epoch_authenticator());
    // A weak-multi whose only binding is ML-DSA: Carol supports none.
    let mut id = plain("erin", true);
    let b = binding(mldsa().as_ref(), "erin@service", &id.signature_key);
    id.credential = MultiCredential {
        weak: true,
        bindings: vec![b],
    }
    .to_credential(TYPES)
    .unwrap();
    let err = add(&mut group(false), kp(id)).unwrap_err();
    assert!(matches!(ext(&err), Error::MultiCredentialUnsupportedByMember(_)), "{err:?}");
}

/// weak-multi: "Every binding that this client supports is valid"; one it
/// does not support (a suite unknown here) is not checked.
#[test]
fn weak_multi_checks_only_the_bindings_this_client_supports() {
    let cs = suite1();
    let mut id = plain("frank", true);
    let unknown = CredentialBinding {
        cipher_suite: CipherSuite(0xf0f0),
        credential: Credential::Basic(VLBytes::new(b"frank@elsewhere".to_vec())),
        credential_key: VLBytes::new(vec![1; 32]),
        signature: VLBytes::new(vec![2; 64]),
    };
    let good = binding(cs.as_ref(), "frank@corp", &id.signature_key);
    id.credential = MultiCredential {
        weak: true,
        bindings: vec![good.clone(), unknown.clone()],
    }
    .to_credential(TYPES)
    .unwrap();
    add(&mut group(true), kp(id)).unwrap();
    // The same unknown binding in a strong multi-credential is refused.
    let mut id = plain("frank", true);
    let good = binding(cs.as_ref(), "frank@corp", &id.signature_key);
    id.credential = MultiCredential {
        weak: false,
        bindings: vec![good, unknown],
    }
    .to_credential(TYPES)
    .unwrap();
    assert!(add(&mut group(true), kp(id)).is_err());
    // A supported binding with a bad signature is refused in weak-multi too.
    let mut id = plain("frank", true);
    let mut bad = binding(cs.as_ref(), "frank@corp", &id.signature_key);
    let mut sig = bad.signature.as_slice().to_vec();
    sig[0] ^= 1;
    bad.signature = sig.into();
    id.credential = MultiCredential {
        weak: true,
        bindings: vec![bad],
    }
    .to_credential(TYPES)
    .unwrap();
    assert!(add(&mut group(true), kp(id)).is_err());
}

/// The two drafts number the types differently (REQUIREMENTS §1.6):
/// the extensions draft's 0x0003/0x0004 by default, addl-creds's
/// 0x0004/0x0005 on request. A credential written with one numbering and
/// read with the other changes meaning, so both ends must agree.
#[test]
fn the_two_drafts_code_points() {
    let id = plain("gina", false);
    let b = binding(suite1().as_ref(), "gina@corp", &id.signature_key);
    let m = MultiCredential {
        weak: false,
        bindings: vec![b],
    };
    let ours = m.to_credential(MultiCredentialTypes::EXTENSIONS).unwrap();
    assert_eq!(ours.credential_type(), CredentialType(0x0003));
    let theirs = m.to_credential(MultiCredentialTypes::ADDL_CREDS).unwrap();
    assert_eq!(theirs.credential_type(), CredentialType(0x0004));
    let read = MultiCredential::from_credential(&theirs, MultiCredentialTypes::EXTENSIONS)
        .unwrap()
        .unwrap();
    assert!(read.weak, "0x0004 is weak-multi in the extensions draft");
    assert_eq!(
        MultiCredential::from_credential(&theirs, MultiCredentialTypes::ADDL_CREDS)
            .unwrap()
            .unwrap(),
        m
    );
}
