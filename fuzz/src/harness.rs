//! The checks behind mlsx's fuzz targets, shared with the regression tests
//! that replay what the fuzzers found (`mls-base/tests/fuzz_regressions.rs`
//! includes this file). It depends only on `mlsx-base` and `tls_codec`.
//!
//! A check panics when mlsx breaks a property; anything else (an input that
//! does not decode, a message the engine rejects) is a normal outcome.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use mlsx_base::codec::{
    CipherSuite, ContentType, FramedContentAuthData, FramedContentBody, MlsMessage, MlsMessageBody, Proposal, RatchetTreeNodes,
};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Received};
use mlsx_base::tree::math::LeafIndex;
use tls_codec::{DeserializeBytes, Serialize};

/// Decode → encode → decode: a value that decodes re-encodes to exactly the
/// bytes it was read from (MLS encodings are canonical: minimal varints,
/// 0/1 option flags), and those bytes decode to the same value.
pub fn round_trip<T: DeserializeBytes + Serialize + PartialEq + Debug>(data: &[u8]) {
    let Ok((value, rest)) = T::tls_deserialize_bytes(data) else {
        return;
    };
    let consumed = &data[..data.len() - rest.len()];
    let encoded = value.tls_serialize_detached().expect("a decoded value encodes");
    assert_eq!(encoded, consumed, "re-encoding differs from the bytes decoded");
    let again = T::tls_deserialize_exact_bytes(&encoded).expect("re-encoded bytes decode");
    assert_eq!(again, value, "decoding the re-encoding gives another value");
}

/// `PrivateMessageContent` (RFC 9420 §6.3.1), whose layout depends on the
/// content type: the first byte picks it, the rest is the plaintext.
pub fn private_content(data: &[u8]) {
    let Some((&t, bytes)) = data.split_first() else {
        return;
    };
    let content_type = ContentType(t % 3 + 1);
    let Ok((body, rest)) = FramedContentBody::deserialize_untagged(content_type, bytes) else {
        return;
    };
    let Ok((auth, padding)) = FramedContentAuthData::deserialize_for(content_type, rest) else {
        return;
    };
    let mut encoded = Vec::new();
    body.serialize_untagged(&mut encoded).expect("a decoded body encodes");
    auth.tls_serialize(&mut encoded).expect("decoded auth data encodes");
    let consumed = bytes.len() - padding.len();
    assert_eq!(encoded, &bytes[..consumed], "re-encoding differs from the bytes decoded");
}

/// A three-member group (Alice at leaf 0, Bob 1, Carol 2), saved at one
/// epoch, and valid messages of that epoch to mutate. [`Scenario::get`] is
/// suite 0x0001; [`Scenario::build`] takes any suite (the PQ fuzz target
/// and tests use it).
pub struct Scenario {
    cs: Arc<dyn CipherSuiteProvider>,
    config: GroupConfig,
    alice: Vec<u8>,
    bob: Vec<u8>,
    carol: Vec<u8>,
    dave: KeyPackageBundle,
    /// The epoch authenticator after Alice's commit that adds Dave.
    dave_epoch_authenticator: Vec<u8>,
    /// Valid messages for Bob at the saved epoch.
    pub messages: Vec<MlsMessage>,
}

impl Scenario {
    /// The shared scenario in suite 0x0001, built once per process.
    pub fn get() -> &'static Scenario {
        static SCENARIO: OnceLock<Scenario> = OnceLock::new();
        SCENARIO.get_or_init(|| {
            Scenario::build(Arc::new(
                mlsx_base::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).expect("suite 1"),
            ))
        })
    }

    /// The scenario in suite `cs`.
    pub fn build(cs: Arc<dyn CipherSuiteProvider>) -> Scenario {
        let c = cs.as_ref();
        // Handshake messages in the clear, so that mutations reach the
        // signature, membership tag and content checks, not only the AEAD.
        let config = GroupConfig {
            encrypt_handshake: false,
            ..GroupConfig::default()
        };
        let alice = Identity::basic(c, b"alice").unwrap();
        let mut a = Group::create(cs.clone(), alice, b"fuzz group".to_vec(), config.clone()).unwrap();
        let bob = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
        let carol = Identity::basic(c, b"carol").unwrap().key_package(c).unwrap();
        let out = a
            .commit(CommitOptions::add(vec![bob.key_package.clone(), carol.key_package.clone()]))
            .unwrap();
        a.merge_pending_commit().unwrap();
        let welcome = out.welcome.unwrap();
        let mut b = Group::join(cs.clone(), &welcome, bob, None, config.clone()).unwrap();
        let mut cg = Group::join(cs.clone(), &welcome, carol, None, config.clone()).unwrap();
        // One more epoch so that Bob has a past epoch and used keys.
        let m = cg.encrypt_application(b"hello", b"").unwrap();
        let _ = b.process_message(&m).unwrap();
        let commit = b.commit(CommitOptions::default()).unwrap().commit;
        b.merge_pending_commit().unwrap();
        for g in [&mut a, &mut cg] {
            let Received::Commit(staged) = g.process_message(&commit).unwrap() else {
                panic!("not a commit");
            };
            g.merge_staged_commit(staged).unwrap();
        }
        assert_eq!(a.epoch_authenticator(), b.epoch_authenticator());
        let (alice_state, bob_state, carol_state) = (a.save().unwrap().to_vec(), b.save().unwrap().to_vec(), cg.save().unwrap().to_vec());

        let load = |bytes: &[u8]| Group::load(cs.clone(), bytes, config.clone()).unwrap();
        let mut messages = Vec::new();
        // A commit with a path (Alice), an Update and a Remove proposal, an
        // application message, a commit with a path from Carol.
        let mut g = load(&alice_state);
        messages.push(g.commit(CommitOptions::default()).unwrap().commit);
        let mut g = load(&alice_state);
        messages.push(g.propose_update().unwrap());
        let mut g = load(&alice_state);
        messages.push(
            g.propose(Proposal::Remove(mlsx_base::codec::Remove { removed: LeafIndex(2) }), b"ad")
                .unwrap(),
        );
        let mut g = load(&alice_state);
        messages.push(g.encrypt_application(b"application data", b"authenticated").unwrap());
        let mut g = load(&carol_state);
        messages.push(g.commit(CommitOptions::default()).unwrap().commit);
        // Alice adds Dave: the commit, its Welcome and the KeyPackage.
        let dave = Identity::basic(c, b"dave").unwrap().key_package(c).unwrap();
        let mut g = load(&alice_state);
        let out = g.commit(CommitOptions::add(vec![dave.key_package.clone()])).unwrap();
        g.merge_pending_commit().unwrap();
        let dave_epoch_authenticator = g.epoch_authenticator().to_vec();
        messages.push(out.commit);
        messages.push(out.welcome.unwrap());
        messages.push(MlsMessage::new(MlsMessageBody::GroupInfo(g.group_info().unwrap())));
        messages.push(MlsMessage::new(MlsMessageBody::KeyPackage(dave.key_package.clone())));

        let s = Scenario {
            cs,
            config,
            alice: alice_state,
            bob: bob_state,
            carol: carol_state,
            dave,
            dave_epoch_authenticator,
            messages,
        };
        // Saving is deterministic, which the byte-identical check relies on.
        assert_eq!(s.load(&s.bob).save().unwrap().to_vec(), s.bob);
        s
    }

    fn load(&self, bytes: &[u8]) -> Group {
        Group::load(self.cs.clone(), bytes, self.config.clone()).unwrap()
    }

    /// The saved states of Alice, Bob and Carol, for seed corpora.
    pub fn saved_states(&self) -> [&[u8]; 3] {
        [&self.alice, &self.bob, &self.carol]
    }

    /// Encoded valid messages, for seed corpora.
    pub fn encoded_messages(&self) -> Vec<Vec<u8>> {
        self.messages.iter().map(|m| m.tls_serialize_detached().unwrap()).collect()
    }

    /// Feeds `bytes` to the group and checks the properties:
    /// - nothing panics;
    /// - a message Bob rejects leaves his saved state byte-identical;
    /// - a commit Bob accepts is accepted by a third member too, and both
    ///   reach the same epoch authenticator;
    /// - a Welcome Dave accepts puts him in the epoch Alice's add commit made.
    pub fn feed(&self, bytes: &[u8]) -> Outcome {
        let Ok(msg) = MlsMessage::tls_deserialize_exact_bytes(bytes) else {
            return Outcome::Undecodable;
        };
        match &msg.body {
            MlsMessageBody::Welcome(_) => match Group::join(self.cs.clone(), &msg, self.dave.duplicate(), None, self.config.clone()) {
                Ok(dave) => {
                    assert_eq!(
                        dave.epoch_authenticator(),
                        self.dave_epoch_authenticator,
                        "a modified Welcome was accepted into another epoch"
                    );
                    Outcome::Accepted
                }
                Err(_) => Outcome::Rejected,
            },
            // An application unwraps the GroupInfo itself; the version
            // check on the wrapper is its part (join_external takes the
            // GroupInfo).
            MlsMessageBody::GroupInfo(_) if msg.version != mlsx_base::codec::ProtocolVersion::MLS10 => Outcome::Rejected,
            MlsMessageBody::GroupInfo(gi) => {
                let carl = Identity::basic(self.cs.as_ref(), b"carl").unwrap();
                match Group::join_external(self.cs.clone(), gi, None, carl, None, self.config.clone()) {
                    Ok(_) => Outcome::Accepted,
                    Err(_) => Outcome::Rejected,
                }
            }
            MlsMessageBody::KeyPackage(_) => Outcome::Rejected,
            _ => self.member_receives(&msg),
        }
    }

    fn member_receives(&self, msg: &MlsMessage) -> Outcome {
        let mut bob = self.load(&self.bob);
        match bob.process_message(msg) {
            Err(_) => {
                let after = bob.save().unwrap();
                assert!(after.as_slice() == self.bob.as_slice(), "a rejected message changed Bob's state");
                Outcome::Rejected
            }
            Ok(Received::Commit(staged)) => {
                let sender_is_carol = matches!(&msg.body, MlsMessageBody::PublicMessage(p)
                    if p.content.sender == mlsx_base::codec::Sender::Member(LeafIndex(2)));
                bob.merge_staged_commit(staged).expect("merging an accepted commit");
                let mut other = self.load(if sender_is_carol { &self.alice } else { &self.carol });
                let staged = match other.process_message(msg) {
                    Ok(Received::Commit(staged)) => staged,
                    other => panic!("Bob accepted a commit another member did not: {:?}", other.map(|_| ())),
                };
                other.merge_staged_commit(staged).expect("merging an accepted commit");
                assert_eq!(
                    bob.epoch_authenticator(),
                    other.epoch_authenticator(),
                    "members disagree after a commit"
                );
                Outcome::Accepted
            }
            Ok(_) => Outcome::Accepted,
        }
    }

    /// Mutates valid message `data[0]` with the edits in `data[1..]` (each
    /// three bytes: position, operation, value) and feeds the result.
    pub fn mutate_and_feed(&self, data: &[u8]) {
        let Some((&pick, edits)) = data.split_first() else {
            return;
        };
        let encoded = self.encoded_messages();
        let mut bytes = encoded[usize::from(pick) % encoded.len()].clone();
        edit(&mut bytes, edits);
        self.feed(&bytes);
    }
}

/// Saved state (the storage boundary), raw or as an edited copy of a
/// member's: loading must not panic, and a state that loads must be usable
/// without panicking: it saves, reloads to the same bytes, and can process
/// the scenario's messages, encrypt and commit. Returns whether it loaded.
pub fn group_state(data: &[u8]) -> bool {
    let s = Scenario::get();
    let bytes = match data.split_first() {
        Some((m, rest)) if m % 2 == 0 => rest.to_vec(),
        Some((_, rest)) => {
            let Some((&pick, edits)) = rest.split_first() else {
                return false;
            };
            let mut bytes = [&s.alice, &s.bob, &s.carol][usize::from(pick) % 3].clone();
            edit(&mut bytes, edits);
            bytes
        }
        None => return false,
    };
    let Ok(mut g) = Group::load(s.cs.clone(), &bytes, s.config.clone()) else {
        return false;
    };
    let saved = g.save().expect("a loaded state saves");
    let again = Group::load(s.cs.clone(), &saved, s.config.clone()).expect("a saved state loads");
    assert!(
        again.save().expect("saves").as_slice() == saved.as_slice(),
        "save, load, save is not stable"
    );
    let _ = (g.epoch(), g.epoch_authenticator().len(), g.members().count(), g.own_leaf());
    for m in &s.messages {
        let mut h = Group::load(s.cs.clone(), &saved, s.config.clone()).expect("a saved state loads");
        if let Ok(Received::Commit(staged)) = h.process_message(m) {
            let _ = h.merge_staged_commit(staged);
        }
    }
    let _ = g.encrypt_application(b"data", b"");
    if g.commit(CommitOptions::default()).is_ok() {
        let _ = g.merge_pending_commit();
    }
    true
}

/// Applies `edits` (each three bytes: position, operation, value) to
/// `bytes`: flip, set, insert or remove one byte.
pub fn edit(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(3) {
        if bytes.is_empty() {
            break;
        }
        let pos = (usize::from(e[0]) * 7919 + usize::from(e[2])) % bytes.len();
        match e[1] % 4 {
            0 => bytes[pos] ^= e[2] | 1,
            1 => bytes[pos] = e[2],
            2 => bytes.insert(pos, e[2]),
            _ => {
                bytes.remove(pos);
            }
        }
    }
}

/// What became of a fed input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not an MLSMessage.
    Undecodable,
    /// Rejected (state unchanged, checked).
    Rejected,
    /// Accepted (agreement checked for commits and Welcomes).
    Accepted,
}

/// The stateful target (suite 0x0001): see [`Scenario::run`].
pub fn stateful(data: &[u8]) {
    Scenario::get().run(data);
}

impl Scenario {
    /// One fuzz input: the first byte picks raw input (even) or a mutated
    /// valid message (odd).
    pub fn run(&self, data: &[u8]) {
        match data.split_first() {
            Some((m, rest)) if m % 2 == 0 => {
                self.feed(rest);
            }
            Some((_, rest)) => self.mutate_and_feed(rest),
            None => {}
        }
    }
}

/// The ratchet tree decoder plus the tree's own validity checks on it.
pub fn ratchet_tree(data: &[u8]) {
    round_trip::<RatchetTreeNodes>(data);
    if let Ok(nodes) = RatchetTreeNodes::tls_deserialize_exact_bytes(data)
        && let Ok(mut tree) = mlsx_base::tree::RatchetTree::from_nodes(nodes)
    {
        let s = Scenario::get();
        let _ = tree.tree_hash(s.cs.as_ref());
        let _ = tree.verify_parent_hashes(s.cs.as_ref());
    }
}
