//! Live interop with OpenMLS 0.9 (openmls_rust_crypto): Welcome both ways,
//! commits both ways, application messages both ways, suites 1, 2, 3.
//! Only serialized bytes cross between the two (they use different
//! generations of the RustCrypto and tls_codec crates).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, MlsMessage, decode, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const SUITES: [(u16, Ciphersuite); 3] = [
    (1, Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519),
    (2, Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256),
    (3, Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519),
];

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

fn ours(suite: u16) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(CipherSuite(suite)).unwrap()
}

fn to_ours(m: &MlsMessageOut) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn to_peer(m: &MlsMessage) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(encode(m).unwrap()).unwrap()
}

fn process(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) -> ProcessedMessageContent {
    let msg = to_peer(m).try_into_protocol_message().unwrap();
    g.process_message(&p.provider, msg).unwrap().into_content()
}

fn app_both_ways(mine: &mut Group, p: &Peer, theirs: &mut MlsGroup) {
    let m = theirs.create_message(&p.provider, &p.signer, b"from openmls").unwrap();
    match mine.process_message(&to_ours(&m)).unwrap() {
        Received::Application { data, .. } => assert_eq!(data, b"from openmls"),
        other => panic!("{other:?}"),
    }
    let m = mine.encrypt_application(b"from mlsx", b"").unwrap();
    match process(p, theirs, &m) {
        ProcessedMessageContent::ApplicationMessage(a) => assert_eq!(a.into_bytes(), b"from mlsx"),
        _ => panic!("not an application message"),
    }
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

#[test]
fn openmls_creates_and_adds_mlsx() {
    for (id, suite) in SUITES {
        let cs = ours(id);
        let alice = peer(suite, "alice");
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(suite)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let mut group = MlsGroup::new(&alice.provider, &alice.signer, &config, alice.credential.clone()).unwrap();
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let kp_in = KeyPackageIn::tls_deserialize_exact(encode(&bob.key_package).unwrap()).unwrap();
        let kp = kp_in.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap();
        let (_, welcome, _) = group.add_members(&alice.provider, &alice.signer, &[kp]).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        let mut mine = Group::join(cs.clone(), &to_ours(&welcome), bob, None, GroupConfig::default()).unwrap();
        assert_eq!(mine.epoch_authenticator(), group.epoch_authenticator().as_slice(), "suite {id}");
        app_both_ways(&mut mine, &alice, &mut group);

        // OpenMLS self-update; mlsx follows.
        let bundle = group.self_update(&alice.provider, &alice.signer, Default::default()).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(bundle.commit())).unwrap() else {
            panic!()
        };
        mine.merge_staged_commit(staged).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            group.epoch_authenticator().as_slice(),
            "suite {id} after OpenMLS commit"
        );

        // mlsx commits; OpenMLS follows.
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = process(&alice, &mut group, &out.commit) else {
            panic!()
        };
        group.merge_staged_commit(&alice.provider, *staged).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            group.epoch_authenticator().as_slice(),
            "suite {id} after mlsx commit"
        );
        app_both_ways(&mut mine, &alice, &mut group);
    }
}

#[test]
fn mlsx_creates_and_adds_openmls() {
    for (id, suite) in SUITES {
        for encrypt_handshake in [false, true] {
            let cs = ours(id);
            let config = GroupConfig {
                encrypt_handshake,
                ..GroupConfig::default()
            };
            let mut mine = Group::create(
                cs.clone(),
                Identity::basic(cs.as_ref(), b"alice").unwrap(),
                b"interop".to_vec(),
                config,
            )
            .unwrap();
            let bob = peer(suite, "bob");
            let bundle = KeyPackage::builder()
                .build(suite, &bob.provider, &bob.signer, bob.credential.clone())
                .unwrap();
            let kp = decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap();
            let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
            mine.merge_pending_commit().unwrap();
            let MlsMessageBodyIn::Welcome(welcome) = to_peer(out.welcome.as_ref().unwrap()).extract() else {
                panic!()
            };
            let mut theirs = StagedWelcome::new_from_welcome(&bob.provider, &join_config(), welcome, None)
                .unwrap()
                .into_group(&bob.provider)
                .unwrap();
            assert_eq!(mine.epoch_authenticator(), theirs.epoch_authenticator().as_slice(), "suite {id}");
            app_both_ways(&mut mine, &bob, &mut theirs);

            // OpenMLS commits; mlsx follows; then mlsx commits.
            let b = theirs.self_update(&bob.provider, &bob.signer, Default::default()).unwrap();
            theirs.merge_pending_commit(&bob.provider).unwrap();
            let Received::Commit(staged) = mine.process_message(&to_ours(b.commit())).unwrap() else {
                panic!()
            };
            mine.merge_staged_commit(staged).unwrap();
            let out = mine.commit(CommitOptions::default()).unwrap();
            mine.merge_pending_commit().unwrap();
            let ProcessedMessageContent::StagedCommitMessage(staged) = process(&bob, &mut theirs, &out.commit) else {
                panic!()
            };
            theirs.merge_staged_commit(&bob.provider, *staged).unwrap();
            assert_eq!(
                mine.epoch_authenticator(),
                theirs.epoch_authenticator().as_slice(),
                "suite {id} after commits"
            );
            app_both_ways(&mut mine, &bob, &mut theirs);
        }
    }
}

/// External joins (RFC 9420 §12.4.3.2) both ways: OpenMLS joins an mlsx
/// group from mlsx's GroupInfo, and mlsx joins an OpenMLS group from
/// OpenMLS's GroupInfo (tree in the GroupInfo and out of band).
#[test]
fn external_joins_both_ways() {
    for (id, suite) in SUITES {
        let cs = ours(id);
        // OpenMLS joins an mlsx group.
        let mut mine = Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"alice").unwrap(),
            b"external".to_vec(),
            GroupConfig::default(),
        )
        .unwrap();
        let bob = peer(suite, "bob");
        let MlsMessageBodyIn::GroupInfo(gi) = to_peer(&MlsMessage::new(mlsx_base::codec::MlsMessageBody::GroupInfo(
            mine.group_info().unwrap(),
        )))
        .extract() else {
            panic!()
        };
        let (mut theirs, bundle) = MlsGroup::external_commit_builder()
            .with_config(join_config())
            .build_group(&bob.provider, gi, bob.credential.clone())
            .unwrap()
            .load_psks(bob.provider.storage())
            .unwrap()
            .build(bob.provider.rand(), bob.provider.crypto(), &bob.signer, |_| true)
            .unwrap()
            .finalize(&bob.provider)
            .unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(bundle.commit())).unwrap() else {
            panic!()
        };
        mine.merge_staged_commit(staged).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            theirs.epoch_authenticator().as_slice(),
            "suite {id}: OpenMLS joins"
        );
        app_both_ways(&mut mine, &bob, &mut theirs);

        // mlsx joins an OpenMLS group, with the tree out of band.
        let carol = peer(suite, "carol");
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(suite)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let mut group = MlsGroup::new(&carol.provider, &carol.signer, &config, carol.credential.clone()).unwrap();
        let gi = group.export_group_info(carol.provider.crypto(), &carol.signer, false).unwrap();
        let mlsx_base::codec::MlsMessageBody::GroupInfo(gi) = to_ours(&gi).body else {
            panic!()
        };
        let tree = decode(&group.export_ratchet_tree().tls_serialize_detached().unwrap()).unwrap();
        let (mut mine, commit) = Group::join_external(
            cs.clone(),
            &gi,
            Some(tree),
            Identity::basic(cs.as_ref(), b"dave").unwrap(),
            None,
            GroupConfig::default(),
        )
        .unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = process(&carol, &mut group, &commit) else {
            panic!()
        };
        group.merge_staged_commit(&carol.provider, *staged).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            group.epoch_authenticator().as_slice(),
            "suite {id}: mlsx joins"
        );
        app_both_ways(&mut mine, &carol, &mut group);
        // And the OpenMLS member can commit in the new epoch.
        let b = group.self_update(&carol.provider, &carol.signer, Default::default()).unwrap();
        group.merge_pending_commit(&carol.provider).unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(b.commit())).unwrap() else {
            panic!()
        };
        mine.merge_staged_commit(staged).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            group.epoch_authenticator().as_slice(),
            "suite {id}: after commit"
        );
    }
}

/// OpenMLS 0.9 has no API to propose a ReInit or to branch (resumption,
/// RFC 9420 §11.2-§11.3), so resumption cannot be tested with it. It does
/// process a ReInit committed by mlsx: both sides reach the same epoch.
/// It then keeps sending, which RFC 9420 §12.4.2 forbids.
#[test]
fn openmls_processes_a_reinit_from_mlsx() {
    use mlsx_base::codec::{Proposal, ProtocolVersion, ReInit, VLBytes};
    for (id, suite) in SUITES {
        let cs = ours(id);
        let mut mine = Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"alice").unwrap(),
            b"reinit".to_vec(),
            GroupConfig::default(),
        )
        .unwrap();
        let bob = peer(suite, "bob");
        let bundle = KeyPackage::builder()
            .build(suite, &bob.provider, &bob.signer, bob.credential.clone())
            .unwrap();
        let kp = decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap();
        let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
        mine.merge_pending_commit().unwrap();
        let MlsMessageBodyIn::Welcome(welcome) = to_peer(out.welcome.as_ref().unwrap()).extract() else {
            panic!()
        };
        let mut theirs = StagedWelcome::new_from_welcome(&bob.provider, &join_config(), welcome, None)
            .unwrap()
            .into_group(&bob.provider)
            .unwrap();
        let reinit = Proposal::ReInit(ReInit {
            group_id: VLBytes::new(b"reinit-2".to_vec()),
            version: ProtocolVersion::MLS10,
            cipher_suite: CipherSuite(id),
            extensions: vec![],
        });
        let out = mine
            .commit(CommitOptions {
                proposals: vec![reinit],
                force_path: false,
                ..CommitOptions::default()
            })
            .unwrap();
        mine.merge_pending_commit().unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = process(&bob, &mut theirs, &out.commit) else {
            panic!()
        };
        theirs.merge_staged_commit(&bob.provider, *staged).unwrap();
        assert_eq!(mine.epoch_authenticator(), theirs.epoch_authenticator().as_slice(), "suite {id}");
        assert!(!mine.is_active());
        assert!(mine.encrypt_application(b"x", b"").is_err());
        // Observed deviation (drafts/interop.md), as with mls-rs: OpenMLS 0.9
        // still encrypts application messages after a ReInit commit, where
        // RFC 9420 §12.4.2 says the group MUST NOT be used to send messages.
        assert!(theirs.create_message(&bob.provider, &bob.signer, b"x").is_ok());
    }
}

/// An mlsx observer (`PublicGroup`) follows a group that OpenMLS creates
/// and runs with PublicMessage handshakes: it starts from OpenMLS's
/// GroupInfo and ratchet tree, takes OpenMLS's and mlsx's commits and an
/// OpenMLS Update by reference, and after each commit holds OpenMLS's
/// GroupContext byte for byte.
#[test]
fn an_mlsx_observer_follows_an_openmls_group() {
    use mlsx_base::group::{Observed, PublicGroup};
    for (id, suite) in SUITES {
        let cs = ours(id);
        let alice = peer(suite, "alice");
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(suite)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let mut group = MlsGroup::new(&alice.provider, &alice.signer, &config, alice.credential.clone()).unwrap();
        let gi = group.export_group_info(alice.provider.crypto(), &alice.signer, true).unwrap();
        let mlsx_base::codec::MlsMessageBody::GroupInfo(gi) = to_ours(&gi).body else {
            panic!()
        };
        let mut observer = PublicGroup::from_group_info(cs.clone(), &gi, None, GroupConfig::default()).unwrap();
        let same_as_openmls = |observer: &PublicGroup, group: &MlsGroup, step: &str| {
            assert_eq!(
                encode(observer.context()).unwrap(),
                group.public_group().group_context().tls_serialize_detached().unwrap(),
                "suite {id}: {step}"
            );
        };
        let observe = |observer: &mut PublicGroup, m: &MlsMessage| match observer.process_message(m).unwrap() {
            Observed::Commit(staged) => observer.merge_staged_commit(staged).unwrap(),
            Observed::Proposal(_) => {}
        };
        same_as_openmls(&observer, &group, "start");

        // OpenMLS adds mlsx's Bob.
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let kp_in = KeyPackageIn::tls_deserialize_exact(encode(&bob.key_package).unwrap()).unwrap();
        let kp = kp_in.validate(alice.provider.crypto(), ProtocolVersion::Mls10).unwrap();
        let (commit, welcome, _) = group.add_members(&alice.provider, &alice.signer, &[kp]).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        observe(&mut observer, &to_ours(&commit));
        same_as_openmls(&observer, &group, "add");
        let mut mine = Group::join(cs.clone(), &to_ours(&welcome), bob, None, GroupConfig::default()).unwrap();
        assert_eq!(observer.tree().to_nodes(), mine.tree().to_nodes());

        // An OpenMLS Update by reference, committed by mlsx.
        let (proposal, _) = group
            .propose_self_update(&alice.provider, &alice.signer, LeafNodeParameters::default())
            .unwrap();
        let proposal = to_ours(&proposal);
        observe(&mut observer, &proposal);
        let _ = mine.process_message(&proposal).unwrap();
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        observe(&mut observer, &out.commit);
        let ProcessedMessageContent::StagedCommitMessage(staged) = process(&alice, &mut group, &out.commit) else {
            panic!()
        };
        group.merge_staged_commit(&alice.provider, *staged).unwrap();
        same_as_openmls(&observer, &group, "update by reference, mlsx commit");

        // An OpenMLS self-update, then OpenMLS removes Bob.
        let bundle = group.self_update(&alice.provider, &alice.signer, Default::default()).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        observe(&mut observer, &to_ours(bundle.commit()));
        same_as_openmls(&observer, &group, "self-update");
        let (commit, _, _) = group
            .remove_members(&alice.provider, &alice.signer, &[LeafNodeIndex::new(1)])
            .unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        observe(&mut observer, &to_ours(&commit));
        same_as_openmls(&observer, &group, "remove");
        assert_eq!(observer.members().count(), 1);
    }
}
