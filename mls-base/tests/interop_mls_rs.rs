//! Live interop with mls-rs 0.57 (RustCrypto provider): groups created by
//! each implementation with members of the other, commits from both sides,
//! application messages both ways, in suites 1, 2, 3 and 7. Every member
//! must report the same epoch authenticator after every epoch.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mls_rs::client_builder::MlsConfig;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList};
use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;
use mlsx_base::codec::{CipherSuite, MlsMessage, MlsMessageBody, decode, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};

const SUITES: [u16; 4] = [1, 2, 3, 7];

fn peer(suite: u16, name: &str) -> Client<impl MlsConfig + use<>> {
    let crypto = MlsRsCrypto::default();
    let cs = crypto.cipher_suite_provider(mls_rs::CipherSuite::from(suite)).unwrap();
    let (secret, public) = cs.signature_key_generate().unwrap();
    let identity = SigningIdentity::new(BasicCredential::new(name.as_bytes().to_vec()).into_credential(), public);
    Client::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .signing_identity(identity, secret, suite.into())
        .build()
}

fn ours(suite: u16) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(CipherSuite(suite)).unwrap()
}

fn to_ours(m: &mls_rs::MlsMessage) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn to_peer(m: &MlsMessage) -> mls_rs::MlsMessage {
    mls_rs::MlsMessage::from_bytes(&encode(m).unwrap()).unwrap()
}

fn peer_auth<C: MlsConfig>(g: &mls_rs::Group<C>) -> Vec<u8> {
    g.epoch_authenticator().unwrap().to_vec()
}

fn app_both_ways<C: MlsConfig>(mine: &mut Group, theirs: &mut mls_rs::Group<C>) {
    let m = theirs.encrypt_application_message(b"from mls-rs", vec![]).unwrap();
    match mine.process_message(&to_ours(&m)).unwrap() {
        Received::Application { data, .. } => assert_eq!(data, b"from mls-rs"),
        other => panic!("{other:?}"),
    }
    let m = mine.encrypt_application(b"from mlsx", b"").unwrap();
    match theirs.process_incoming_message(to_peer(&m)).unwrap() {
        ReceivedMessage::ApplicationMessage(d) => assert_eq!(d.data(), b"from mlsx"),
        _ => panic!("not an application message"),
    }
}

#[test]
fn mls_rs_creates_and_adds_mlsx() {
    for suite in SUITES {
        let cs = ours(suite);
        let alice = peer(suite, "alice");
        let mut group = alice
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let kp = to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(bob.key_package.clone())));
        let out = group.commit_builder().add_member(kp).unwrap().build().unwrap();
        group.apply_pending_commit().unwrap();
        let welcome = to_ours(&out.welcome_messages[0]);
        // mls-rs puts the ratchet tree in the Welcome by default; also pass it out of band.
        let tree = decode(&group.export_tree().to_bytes().unwrap()).unwrap();
        let mut mine = Group::join(cs.clone(), &welcome, bob, Some(tree), GroupConfig::default()).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&group), "suite {suite}");
        app_both_ways(&mut mine, &mut group);

        // mls-rs commits (empty commit with a path); mlsx follows.
        let out = group.commit_builder().build().unwrap();
        group.apply_pending_commit().unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(&out.commit_message)).unwrap() else {
            panic!()
        };
        mine.merge_staged_commit(staged).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&group), "suite {suite} after mls-rs commit");

        // mlsx commits; mls-rs follows.
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        group.process_incoming_message(to_peer(&out.commit)).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&group), "suite {suite} after mlsx commit");
        app_both_ways(&mut mine, &mut group);
    }
}

#[test]
fn mlsx_creates_and_adds_mls_rs() {
    for suite in SUITES {
        for encrypt_handshake in [false, true] {
            let cs = ours(suite);
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
            let carol = peer(suite, "carol");
            let kps: Vec<_> = [&bob, &carol]
                .iter()
                .map(|c| {
                    let m = to_ours(
                        &c.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
                            .unwrap(),
                    );
                    let MlsMessageBody::KeyPackage(kp) = m.body else { panic!() };
                    kp
                })
                .collect();
            let out = mine.commit(CommitOptions::add(kps)).unwrap();
            mine.merge_pending_commit().unwrap();
            let welcome = to_peer(out.welcome.as_ref().unwrap());
            let (mut bob_g, _) = bob.join_group(None, &welcome, None).unwrap();
            let (mut carol_g, _) = carol.join_group(None, &welcome, None).unwrap();
            assert_eq!(mine.epoch_authenticator(), peer_auth(&bob_g), "suite {suite}");
            assert_eq!(mine.epoch_authenticator(), peer_auth(&carol_g));
            app_both_ways(&mut mine, &mut bob_g);
            carol_g
                .process_incoming_message(to_peer(&mine.encrypt_application(b"to all", b"").unwrap()))
                .unwrap();

            // Bob (mls-rs) removes Carol; mlsx and Carol follow.
            let out = bob_g.commit_builder().remove_member(2).unwrap().build().unwrap();
            bob_g.apply_pending_commit().unwrap();
            let Received::Commit(staged) = mine.process_message(&to_ours(&out.commit_message)).unwrap() else {
                panic!()
            };
            mine.merge_staged_commit(staged).unwrap();
            carol_g.process_incoming_message(out.commit_message.clone()).unwrap();
            assert_eq!(mine.epoch_authenticator(), peer_auth(&bob_g), "suite {suite} after remove");
            assert_eq!(mine.members().count(), 2);

            // mlsx proposes an update, mls-rs commits it by reference.
            let p = mine.propose_update().unwrap();
            bob_g.process_incoming_message(to_peer(&p)).unwrap();
            let out = bob_g.commit_builder().build().unwrap();
            bob_g.apply_pending_commit().unwrap();
            let Received::Commit(staged) = mine.process_message(&to_ours(&out.commit_message)).unwrap() else {
                panic!()
            };
            mine.merge_staged_commit(staged).unwrap();
            assert_eq!(
                mine.epoch_authenticator(),
                peer_auth(&bob_g),
                "suite {suite} after update by reference"
            );
            app_both_ways(&mut mine, &mut bob_g);
        }
    }
}

#[test]
fn external_join_both_ways() {
    for suite in SUITES {
        let cs = ours(suite);
        // mlsx joins an mls-rs group externally.
        let alice = peer(suite, "alice");
        let mut group = alice
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let gi = group.group_info_message_allowing_ext_commit(true).unwrap();
        let MlsMessageBody::GroupInfo(gi) = to_ours(&gi).body else {
            panic!()
        };
        let (mut mine, commit) = Group::join_external(
            cs.clone(),
            &gi,
            None,
            Identity::basic(cs.as_ref(), b"x").unwrap(),
            None,
            GroupConfig::default(),
        )
        .unwrap();
        group.process_incoming_message(to_peer(&commit)).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&group), "suite {suite}");
        app_both_ways(&mut mine, &mut group);

        // mls-rs joins an mlsx group externally.
        let gi = to_peer(&MlsMessage::new(MlsMessageBody::GroupInfo(mine.group_info().unwrap())));
        let dave = peer(suite, "dave");
        let (mut dave_g, commit) = dave.external_commit_builder().unwrap().build(gi).unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(&commit)).unwrap() else {
            panic!()
        };
        mine.merge_staged_commit(staged).unwrap();
        group.process_incoming_message(commit).unwrap();
        assert_eq!(
            mine.epoch_authenticator(),
            peer_auth(&dave_g),
            "suite {suite} after mls-rs external join"
        );
        app_both_ways(&mut mine, &mut dave_g);
    }
}

#[test]
fn group_context_extensions_and_reinit_from_mlsx() {
    use mlsx_base::codec::{Extension, ExtensionType, GroupContextExtensions, Proposal, ProtocolVersion, ReInit, VLBytes};
    for suite in SUITES {
        let cs = ours(suite);
        let mut mine = Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"alice").unwrap(),
            b"gce".to_vec(),
            GroupConfig::default(),
        )
        .unwrap();
        let bob = peer(suite, "bob");
        let m = to_ours(
            &bob.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
                .unwrap(),
        );
        let MlsMessageBody::KeyPackage(kp) = m.body else { panic!() };
        let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
        mine.merge_pending_commit().unwrap();
        let (mut theirs, _) = bob.join_group(None, &to_peer(out.welcome.as_ref().unwrap()), None).unwrap();

        // GroupContextExtensions: an empty required_capabilities extension.
        let gce = Proposal::GroupContextExtensions(GroupContextExtensions {
            extensions: vec![Extension::new(ExtensionType::REQUIRED_CAPABILITIES, vec![0, 0, 0])],
        });
        let out = mine
            .commit(CommitOptions {
                proposals: vec![gce],
                ..CommitOptions::default()
            })
            .unwrap();
        mine.merge_pending_commit().unwrap();
        theirs.process_incoming_message(to_peer(&out.commit)).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&theirs), "suite {suite} after GCE");

        // ReInit: both sides stop using the group.
        let reinit = Proposal::ReInit(ReInit {
            group_id: VLBytes::new(b"gce-2".to_vec()),
            version: ProtocolVersion::MLS10,
            cipher_suite: CipherSuite(suite),
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
        theirs.process_incoming_message(to_peer(&out.commit)).unwrap();
        assert_eq!(mine.epoch_authenticator(), peer_auth(&theirs), "suite {suite} after ReInit");
        assert!(!mine.is_active());
        assert!(mine.encrypt_application(b"x", b"").is_err());
        // Observed deviation (drafts/interop.md): mls-rs 0.57 still encrypts
        // application messages after a ReInit commit, where RFC 9420 §12.4.2
        // says the client MUST NOT use the group to send messages.
        assert!(theirs.encrypt_application_message(b"x", vec![]).is_ok());
    }
}

/// A two-member group, mlsx (alice) and mls-rs (bob).
fn pair<C: MlsConfig>(suite: u16, bob: &Client<C>, alice: &Identity) -> (Group, mls_rs::Group<C>) {
    let cs = ours(suite);
    let mut mine = Group::create(cs, alice.duplicate(), b"resume".to_vec(), GroupConfig::default()).unwrap();
    let m = to_ours(
        &bob.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap(),
    );
    let MlsMessageBody::KeyPackage(kp) = m.body else { panic!() };
    let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
    mine.merge_pending_commit().unwrap();
    let (theirs, _) = bob.join_group(None, &to_peer(out.welcome.as_ref().unwrap()), None).unwrap();
    (mine, theirs)
}

fn kp_of(m: &mls_rs::MlsMessage) -> mlsx_base::codec::KeyPackage {
    let MlsMessageBody::KeyPackage(kp) = to_ours(m).body else {
        panic!()
    };
    kp
}

/// Resumption (RFC 9420 §11.2, §11.3) across implementations: a group
/// reinitialized by one side and joined by the other, and branches created
/// by each side and joined by the other. The resumption PSK links the new
/// group to the old one, so equal epoch authenticators show both derived it.
#[test]
fn reinit_and_branch_with_mls_rs() {
    use mlsx_base::codec::{Proposal, ProtocolVersion, ReInit, VLBytes};
    for suite in SUITES {
        let cs = ours(suite);
        let alice = Identity::basic(cs.as_ref(), b"alice").unwrap();

        // mlsx commits a ReInit and creates the new group; mls-rs joins it.
        let bob = peer(suite, "bob");
        let (mut mine, mut theirs) = pair(suite, &bob, &alice);
        let reinit = Proposal::ReInit(ReInit {
            group_id: VLBytes::new(b"resume-reinit".to_vec()),
            version: ProtocolVersion::MLS10,
            cipher_suite: CipherSuite(suite),
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
        theirs.process_incoming_message(to_peer(&out.commit)).unwrap();
        let rc = theirs.get_reinit_client(None, None).unwrap();
        let bob_kp = kp_of(&rc.generate_key_package(None).unwrap());
        let (mut new_mine, out) = mine
            .reinit(cs.clone(), alice.duplicate(), vec![bob_kp], GroupConfig::default())
            .unwrap();
        let (mut new_theirs, _) = rc.join(&to_peer(out.welcome.as_ref().unwrap()), None, None).unwrap();
        assert_eq!(new_mine.epoch_authenticator(), peer_auth(&new_theirs), "suite {suite}: mlsx reinit");
        app_both_ways(&mut new_mine, &mut new_theirs);

        // mls-rs commits a ReInit and creates the new group; mlsx joins it.
        let bob = peer(suite, "bob");
        let (mut mine, mut theirs) = pair(suite, &bob, &alice);
        let out = theirs
            .commit_builder()
            .reinit(
                Some(b"resume-reinit-2".to_vec()),
                mls_rs::ProtocolVersion::MLS_10,
                mls_rs::CipherSuite::from(suite),
                ExtensionList::default(),
            )
            .unwrap()
            .build()
            .unwrap();
        theirs.apply_pending_commit().unwrap();
        let Received::Commit(staged) = mine.process_message(&to_ours(&out.commit_message)).unwrap() else {
            panic!()
        };
        assert!(staged.reinit().is_some());
        mine.merge_staged_commit(staged).unwrap();
        let alice_kp = alice.key_package(cs.as_ref()).unwrap();
        let rc = theirs.get_reinit_client(None, None).unwrap();
        let (mut new_theirs, welcomes) = rc
            .commit(
                vec![to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(alice_kp.key_package.clone())))],
                ExtensionList::default(),
                None,
            )
            .unwrap();
        let mut new_mine = Group::join_resumed(cs.clone(), &to_ours(&welcomes[0]), alice_kp, None, GroupConfig::default(), &mine).unwrap();
        assert_eq!(
            new_mine.epoch_authenticator(),
            peer_auth(&new_theirs),
            "suite {suite}: mls-rs reinit"
        );
        app_both_ways(&mut new_mine, &mut new_theirs);

        // mlsx branches; mls-rs joins the subgroup.
        let bob = peer(suite, "bob");
        let (mine, theirs) = pair(suite, &bob, &alice);
        let bob_kp = kp_of(
            &bob.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
                .unwrap(),
        );
        let (mut sub_mine, out) = mine.branch(b"sub-1".to_vec(), vec![bob_kp], GroupConfig::default()).unwrap();
        let (mut sub_theirs, _) = theirs.join_subgroup(&to_peer(out.welcome.as_ref().unwrap()), None, None).unwrap();
        assert_eq!(sub_mine.epoch_authenticator(), peer_auth(&sub_theirs), "suite {suite}: mlsx branch");
        app_both_ways(&mut sub_mine, &mut sub_theirs);

        // mls-rs branches; mlsx joins the subgroup.
        let alice_kp = alice.key_package(cs.as_ref()).unwrap();
        let (mut sub_theirs, welcomes) = theirs
            .branch(
                b"sub-2".to_vec(),
                vec![to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(alice_kp.key_package.clone())))],
                None,
            )
            .unwrap();
        let mut sub_mine = Group::join_resumed(cs.clone(), &to_ours(&welcomes[0]), alice_kp, None, GroupConfig::default(), &mine).unwrap();
        assert_eq!(
            sub_mine.epoch_authenticator(),
            peer_auth(&sub_theirs),
            "suite {suite}: mls-rs branch"
        );
        app_both_ways(&mut sub_mine, &mut sub_theirs);
    }
}

/// An mlsx observer (`PublicGroup`) follows a group that mls-rs creates and
/// runs with PublicMessage handshakes (mls-rs's default): it starts from
/// mls-rs's GroupInfo with the tree inside, takes mls-rs's and mlsx's
/// commits, an mls-rs Update by reference and a Remove by reference, and
/// after each commit holds mls-rs's GroupContext byte for byte.
#[test]
fn an_mlsx_observer_follows_an_mls_rs_group() {
    use mls_rs::mls_rs_codec::MlsEncode;
    use mlsx_base::group::{Observed, PublicGroup};
    for suite in SUITES {
        let cs = ours(suite);
        let alice = peer(suite, "alice");
        let mut group = alice
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let gi = to_ours(&group.group_info_message(true).unwrap());
        let MlsMessageBody::GroupInfo(gi) = gi.body else { panic!() };
        let mut observer = PublicGroup::from_group_info(cs.clone(), &gi, None, GroupConfig::default()).unwrap();
        let same_as_mls_rs = |observer: &PublicGroup, group: &mls_rs::Group<_>, step: &str| {
            assert_eq!(
                encode(observer.context()).unwrap(),
                group.context().mls_encode_to_vec().unwrap(),
                "suite {suite}: {step}"
            );
        };
        let observe = |observer: &mut PublicGroup, m: &MlsMessage| match observer.process_message(m).unwrap() {
            Observed::Commit(staged) => observer.merge_staged_commit(staged).unwrap(),
            Observed::Proposal(_) => {}
        };
        same_as_mls_rs(&observer, &group, "start");

        // mls-rs adds mlsx's Bob and mls-rs's Carol.
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let kp = to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(bob.key_package.clone())));
        let carol = peer(suite, "carol");
        let carol_kp = carol
            .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let out = group
            .commit_builder()
            .add_member(kp)
            .unwrap()
            .add_member(carol_kp)
            .unwrap()
            .build()
            .unwrap();
        group.apply_pending_commit().unwrap();
        observe(&mut observer, &to_ours(&out.commit_message));
        same_as_mls_rs(&observer, &group, "adds");
        let mut mine = Group::join(cs.clone(), &to_ours(&out.welcome_messages[0]), bob, None, GroupConfig::default()).unwrap();

        // An mls-rs Update and a Remove of Carol by reference, committed by mlsx.
        for p in [group.propose_update(vec![]).unwrap(), group.propose_remove(2, vec![]).unwrap()] {
            let p = to_ours(&p);
            observe(&mut observer, &p);
            let _ = mine.process_message(&p).unwrap();
        }
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        observe(&mut observer, &out.commit);
        group.process_incoming_message(to_peer(&out.commit)).unwrap();
        same_as_mls_rs(&observer, &group, "update and remove by reference");
        assert_eq!(observer.members().count(), 2);

        // mls-rs's path commit.
        let out = group.commit_builder().build().unwrap();
        group.apply_pending_commit().unwrap();
        observe(&mut observer, &to_ours(&out.commit_message));
        same_as_mls_rs(&observer, &group, "path commit");
    }
}
