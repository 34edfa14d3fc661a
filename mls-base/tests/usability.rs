//! What a first-time library user met (issue "mls-base in the real world"):
//! errors that say what happened, and the conveniences added for them.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, MlsMessage};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_base::{Error, MisuseError, PeerError, StateError};

fn cs(suite: u16) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(CipherSuite(suite)).unwrap()
}

/// Alice and Bob in a group of their own, named `id`.
fn pair(cs: &Arc<dyn CipherSuiteProvider>, id: &[u8], config: GroupConfig) -> (Group, Group) {
    let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        id.to_vec(),
        config.clone(),
    )
    .unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome_message().unwrap(), bob, None, config).unwrap();
    (alice, bob)
}

fn commit(from: &mut Group, to: &mut Group) {
    let m = from.commit(CommitOptions::default()).unwrap().commit;
    from.merge_pending_commit().unwrap();
    let Received::Commit(s) = to.process_message(&m).unwrap() else {
        panic!()
    };
    to.merge_staged_commit(s).unwrap();
}

#[test]
fn a_replayed_message_says_so() {
    let cs = cs(1);
    let (mut alice, mut bob) = pair(&cs, b"g", GroupConfig::default());
    let m = alice.encrypt_application(b"once", b"").unwrap();
    let Received::Application { data, .. } = bob.process_message(&m).unwrap() else {
        panic!()
    };
    assert_eq!(data, b"once");
    let e = bob.process_message(&m).unwrap_err();
    assert!(matches!(e, Error::Peer(PeerError::GenerationConsumed(0))), "{e:?}");
    assert!(e.to_string().contains("already used (replay?)"), "{e}");
}

#[test]
fn a_message_from_another_group_is_refused_for_its_group_first() {
    let cs = cs(1);
    let (mut alice, mut bob) = pair(&cs, b"one", GroupConfig::default());
    let (mut other_alice, mut other_bob) = pair(&cs, b"two", GroupConfig::default());
    // The other group is two epochs further on, so its epoch differs too.
    commit(&mut other_alice, &mut other_bob);
    commit(&mut other_alice, &mut other_bob);
    let private = other_alice.encrypt_application(b"x", b"").unwrap();
    let public: MlsMessage = other_alice.commit(CommitOptions::default()).unwrap().commit;
    for m in [&private, &public] {
        let e = bob.process_message(m).unwrap_err();
        assert!(matches!(e, Error::Peer(PeerError::WrongGroupId)), "{e:?}");
    }
    let _ = &mut alice;
}

#[test]
fn wrong_epoch_names_both_epochs() {
    let cs = cs(1);
    let config = GroupConfig {
        max_past_epochs: 0,
        ..GroupConfig::default()
    };
    let (mut alice, mut bob) = pair(&cs, b"g", config);
    let old = alice.encrypt_application(b"late", b"").unwrap();
    commit(&mut alice, &mut bob);
    commit(&mut alice, &mut bob);
    let e = bob.process_message(&old).unwrap_err();
    assert!(matches!(e, Error::Peer(PeerError::WrongEpoch { message: 1, group: 3 })), "{e:?}");
    assert_eq!(e.to_string(), "peer: message is for epoch 1, the group is at epoch 3");
}

#[test]
fn saved_state_errors_are_state_errors() {
    let cs1 = cs(1);
    let (alice, _) = pair(&cs1, b"g", GroupConfig::default());
    let saved = alice.save().unwrap();
    // Loading with another suite's provider names both suites.
    let e = Group::load(cs(3), &saved, GroupConfig::default()).unwrap_err();
    match &e {
        Error::State(StateError::CipherSuiteMismatch { saved, provider }) => {
            assert_eq!((*saved, *provider), (CipherSuite(1), CipherSuite(3)));
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("cipher suite"), "{e}");
    // Damaged storage is corrupt state, not a misuse of the API.
    let e = Group::load(cs1.clone(), &saved[..saved.len() / 2], GroupConfig::default()).unwrap_err();
    assert!(matches!(e, Error::State(StateError::Corrupt)), "{e:?}");
    let e = Group::load(cs1, b"not a state", GroupConfig::default()).unwrap_err();
    assert!(matches!(e, Error::State(_)), "{e:?}");
}

#[test]
fn welcome_of_a_commit_without_adds_is_an_error() {
    let cs = cs(1);
    let (mut alice, _) = pair(&cs, b"g", GroupConfig::default());
    let out = alice.commit(CommitOptions::default()).unwrap();
    assert!(matches!(out.welcome_message(), Err(Error::Misuse(MisuseError::NoWelcome))));
}

#[test]
fn application_messages_carry_the_senders_credential_also_from_past_epochs() {
    let cs = cs(1);
    let (mut alice, mut bob) = pair(&cs, b"g", GroupConfig::default());
    let late = bob.encrypt_application(b"late", b"").unwrap();
    commit(&mut bob, &mut alice);
    for m in [late, bob.encrypt_application(b"now", b"").unwrap()] {
        let Received::Application {
            sender, sender_credential, ..
        } = alice.process_message(&m).unwrap()
        else {
            panic!()
        };
        assert_eq!(alice.member_by_credential(&sender_credential), Some(sender));
        assert_eq!(sender_credential, bob.identity().credential);
    }
    // And across a save and load (the past epoch's members are saved).
    let late = bob.encrypt_application(b"late again", b"").unwrap();
    commit(&mut bob, &mut alice);
    let mut alice = Group::load(cs.clone(), &alice.save().unwrap(), GroupConfig::default()).unwrap();
    let Received::Application { sender_credential, .. } = alice.process_message(&late).unwrap() else {
        panic!()
    };
    assert_eq!(sender_credential, bob.identity().credential);
}
