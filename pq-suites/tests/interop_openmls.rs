//! Live interop with OpenMLS 0.9 (`draft-ietf-mls-pq-ciphersuites`) in
//! every PQ suite both implement: TBD1, 2, 6, 7, 8, 9, 10, 11 (OpenMLS has
//! no TBD3–TBD5).
//!
//! Under [`Profile::openmls_compat`] (OpenMLS's code points and the
//! unlabeled key derivation of hpke-rs 0.7) a group with members on both
//! sides agrees on every epoch and every message. Under the drafts'
//! derivation the two disagree on every TreeKEM node key, so even the
//! first Welcome after a path commit is refused, both ways;
//! `draft_derivation_disagrees_with_openmls` shows it.
//! Only serialized bytes cross between the two implementations.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{MlsMessage, decode, encode};
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_pq_suites::{CodePoints, PqProvider, PqSuite, Profile};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

/// The suites both implement, with OpenMLS's enum for each.
fn shared_suites() -> Vec<(PqSuite, Ciphersuite)> {
    use Ciphersuite as C;
    vec![
        (PqSuite::Tbd1, C::MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519),
        (PqSuite::Tbd2, C::MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519),
        (PqSuite::Tbd6, C::MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519),
        (PqSuite::Tbd7, C::MLS_128_MLKEM768_AES256GCM_SHA384_P256),
        (PqSuite::Tbd8, C::MLS_192_MLKEM1024_AES256GCM_SHA384_P384),
        (PqSuite::Tbd9, C::MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44),
        (PqSuite::Tbd10, C::MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65),
        (PqSuite::Tbd11, C::MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87),
    ]
}

struct Peer {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn peer(suite: Ciphersuite, name: &str) -> Peer {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(suite.signature_algorithm()).unwrap();
    signer.store(provider.storage()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    Peer {
        provider,
        signer,
        credential,
    }
}

fn to_ours(m: &MlsMessageOut) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn to_peer(m: &MlsMessage) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(encode(m).unwrap()).unwrap()
}

fn peer_process(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) -> Result<ProcessedMessageContent, String> {
    let msg = to_peer(m).try_into_protocol_message().unwrap();
    g.process_message(&p.provider, msg)
        .map(|m| m.into_content())
        .map_err(|e| format!("{e:?}"))
}

fn peer_merge(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) {
    match peer_process(p, g, m).unwrap() {
        ProcessedMessageContent::StagedCommitMessage(staged) => g.merge_staged_commit(&p.provider, *staged).unwrap(),
        _ => panic!("not a commit"),
    }
}

fn our_merge(g: &mut Group, m: &MlsMessage) {
    let Received::Commit(staged) = g.process_message(m).unwrap() else {
        panic!("not a commit")
    };
    g.merge_staged_commit(staged).unwrap();
}

fn config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

fn suite_provider(profile: &Profile, suite: PqSuite) -> Arc<dyn CipherSuiteProvider> {
    let provider = PqProvider::new(profile.clone());
    provider.cipher_suite_provider(provider.code_point(suite).unwrap()).unwrap()
}

/// OpenMLS's Alice creates a group and adds mlsx's Bob with a path
/// commit (not yet merged): Alice, her group, the Welcome, Bob's bundle.
fn openmls_adds_bob(
    cs: &Arc<dyn CipherSuiteProvider>,
    theirs: Ciphersuite,
) -> (Peer, MlsGroup, MlsMessageOut, mlsx_base::group::KeyPackageBundle) {
    let alice = peer(theirs, "alice");
    let create = MlsGroupCreateConfig::builder()
        .ciphersuite(theirs)
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build();
    let mut a = MlsGroup::new(&alice.provider, &alice.signer, &create, alice.credential.clone()).unwrap();
    let bob_kp = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let kp = KeyPackageIn::tls_deserialize_exact(encode(&bob_kp.key_package).unwrap())
        .unwrap()
        .validate(alice.provider.crypto(), ProtocolVersion::Mls10)
        .unwrap();
    let (_, welcome, _) = a.add_members(&alice.provider, &alice.signer, &[kp]).unwrap();
    (alice, a, welcome, bob_kp)
}

/// OpenMLS's Alice creates the group and adds mlsx's Bob; Bob adds
/// OpenMLS's Carol; each commits a path; messages flow every way.
fn three_party(profile: &Profile, suite: PqSuite, theirs: Ciphersuite) {
    let what = format!("{suite:?} at {:#06x}", u16::from(theirs));
    let cs = suite_provider(profile, suite);
    assert_eq!(cs.cipher_suite().value(), u16::from(theirs), "{what}: code point");

    let (alice, mut a, welcome, bob_kp) = openmls_adds_bob(&cs, theirs);
    a.merge_pending_commit(&alice.provider).unwrap();
    let mut b = Group::join(cs.clone(), &to_ours(&welcome), bob_kp, None, GroupConfig::default()).unwrap();
    assert_eq!(b.epoch_authenticator(), a.epoch_authenticator().as_slice(), "{what}: Bob joins");

    // Bob (mlsx) adds Carol (OpenMLS).
    let carol = peer(theirs, "carol");
    let carol_kp = KeyPackage::builder()
        .build(theirs, &carol.provider, &carol.signer, carol.credential.clone())
        .unwrap();
    let carol_kp: mlsx_base::codec::KeyPackage = decode(&carol_kp.key_package().tls_serialize_detached().unwrap()).unwrap();
    let out = b.commit(CommitOptions::add(vec![carol_kp])).unwrap();
    b.merge_pending_commit().unwrap();
    peer_merge(&alice, &mut a, &out.commit);
    let welcome = to_peer(&out.welcome.unwrap());
    let MlsMessageBodyIn::Welcome(welcome) = welcome.extract() else {
        panic!("not a Welcome")
    };
    let mut c = StagedWelcome::new_from_welcome(&carol.provider, config().join_config(), welcome, None)
        .unwrap()
        .into_group(&carol.provider)
        .unwrap();
    let agree = |a: &MlsGroup, b: &Group, c: &MlsGroup, step: &str| {
        assert_eq!(
            b.epoch_authenticator(),
            a.epoch_authenticator().as_slice(),
            "{what}: {step} (Alice)"
        );
        assert_eq!(
            b.epoch_authenticator(),
            c.epoch_authenticator().as_slice(),
            "{what}: {step} (Carol)"
        );
    };
    agree(&a, &b, &c, "Carol joins");

    // Alice (OpenMLS) commits a path: its node keys come from DeriveKeyPair.
    let bundle = a.self_update(&alice.provider, &alice.signer, Default::default()).unwrap();
    a.merge_pending_commit(&alice.provider).unwrap();
    let commit = to_ours(bundle.commit());
    our_merge(&mut b, &commit);
    peer_merge(&carol, &mut c, &commit);
    agree(&a, &b, &c, "Alice's update");

    // Bob (mlsx) commits a path.
    let out = b.commit(CommitOptions::default()).unwrap();
    b.merge_pending_commit().unwrap();
    peer_merge(&alice, &mut a, &out.commit);
    peer_merge(&carol, &mut c, &out.commit);
    agree(&a, &b, &c, "Bob's update");

    // Application messages from each side.
    let m = b.encrypt_application(b"from mlsx", b"").unwrap();
    for (p, g) in [(&alice, &mut a), (&carol, &mut c)] {
        match peer_process(p, g, &m).unwrap() {
            ProcessedMessageContent::ApplicationMessage(x) => assert_eq!(x.into_bytes(), b"from mlsx", "{what}"),
            _ => panic!("{what}: not an application message"),
        }
    }
    let m = c.create_message(&carol.provider, &carol.signer, b"from openmls").unwrap();
    match b.process_message(&to_ours(&m)).unwrap() {
        Received::Application { data, .. } => assert_eq!(data, b"from openmls", "{what}"),
        other => panic!("{what}: {other:?}"),
    }
}

#[test]
fn openmls_compat_profile_interoperates_in_every_shared_suite() {
    let profile = Profile::openmls_compat();
    for (suite, theirs) in shared_suites() {
        three_party(&profile, suite, theirs);
    }
}

/// With OpenMLS's code points but the drafts' labeled `DeriveKeyPair`, the
/// two derive different TreeKEM node keys from the same path secret. The
/// first place this shows is a Welcome whose commit had a path: the joiner
/// derives the key pair of its lowest common ancestor from the `path_secret`
/// in the GroupSecrets and must find the same public key in the tree
/// (RFC 9420 §12.4.3.1). mlsx refuses OpenMLS's Welcome with
/// `PathKeyMismatch`, and OpenMLS refuses mlsx's.
#[test]
fn draft_derivation_disagrees_with_openmls() {
    let profile = Profile {
        code_points: CodePoints::openmls(),
        ..Profile::draft()
    };
    for (suite, theirs) in shared_suites() {
        let cs = suite_provider(&profile, suite);

        // OpenMLS's Alice adds mlsx's Bob with a path commit.
        let (_alice, _a, welcome, bob_kp) = openmls_adds_bob(&cs, theirs);
        let err = Group::join(cs.clone(), &to_ours(&welcome), bob_kp, None, GroupConfig::default()).unwrap_err();
        assert!(
            matches!(err, mlsx_base::Error::Peer(mlsx_base::PeerError::PathKeyMismatch)),
            "{suite:?}: {err:?}"
        );

        // mlsx's Bob adds OpenMLS's Carol with a path commit.
        let mut b = Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"bob").unwrap(),
            b"g".to_vec(),
            GroupConfig::default(),
        )
        .unwrap();
        let carol = peer(theirs, "carol");
        let carol_kp = KeyPackage::builder()
            .build(theirs, &carol.provider, &carol.signer, carol.credential.clone())
            .unwrap();
        let carol_kp: mlsx_base::codec::KeyPackage = decode(&carol_kp.key_package().tls_serialize_detached().unwrap()).unwrap();
        let out = b.commit(CommitOptions::add(vec![carol_kp])).unwrap();
        let MlsMessageBodyIn::Welcome(welcome) = to_peer(&out.welcome.unwrap()).extract() else {
            panic!("not a Welcome")
        };
        let joined =
            StagedWelcome::new_from_welcome(&carol.provider, config().join_config(), welcome, None).map(|w| w.into_group(&carol.provider));
        assert!(!matches!(joined, Ok(Ok(_))), "{suite:?}: OpenMLS joined despite the key mismatch");
    }
}
