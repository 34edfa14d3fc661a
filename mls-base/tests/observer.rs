//! The observer (`PublicGroup`): a non-member that follows a group's public
//! handshakes (RFC 9420 §12.4.2 without the secrets) ends every epoch at the
//! members' GroupContext and tree, and refuses what a member would refuse
//! and it can check, unchanged. `tests/negative.rs` runs an observer beside
//! the member in each of its cases; this file follows whole groups and
//! tries the attacks a delivery service meets.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{
    CipherSuite, Commit, Extension, ExtensionType, ExternalPsk, ExternalSender, FramedContent, FramedContentAuthData, FramedContentBody,
    GroupContextExtensions, GroupInfo, MlsMessage, MlsMessageBody, PreSharedKeyId, PreSharedKeyProposal, Proposal, Psk, PublicMessage,
    Remove, Sender, VLBytes, WireFormat, encode,
};
use mlsx_base::crypto::rustcrypto::rfc9420_suite;
use mlsx_base::crypto::{CipherSuiteProvider, Secret};
use mlsx_base::group::{CommitOptions, ExternalJoinOptions, Group, GroupConfig, Identity, Observed, PublicGroup, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{Error, MisuseError, PeerError};

fn suite(n: u16) -> Arc<dyn CipherSuiteProvider> {
    Arc::new(rfc9420_suite(CipherSuite(n)).unwrap())
}

/// An external PSK the group of `an_observer_follows_every_kind_of_commit` uses.
const PSK_ID: &[u8] = b"shared psk";

fn config() -> GroupConfig {
    GroupConfig::default()
}

/// The members (`None` once removed) and an observer that started from the
/// creator's GroupInfo.
struct World {
    cs: Arc<dyn CipherSuiteProvider>,
    members: Vec<Option<Group>>,
    observer: PublicGroup,
    epochs: usize,
}

impl World {
    fn new(cs: Arc<dyn CipherSuiteProvider>, extensions: Vec<Extension>) -> Self {
        let alice = Group::create_with_extensions(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"alice").unwrap(),
            b"observed".to_vec(),
            extensions,
            config(),
        )
        .unwrap();
        let observer = PublicGroup::from_group_info(cs.clone(), &alice.group_info().unwrap(), None, config()).unwrap();
        let w = World {
            cs,
            members: vec![Some(alice)],
            observer,
            epochs: 0,
        };
        w.agree();
        w
    }

    fn member(&mut self, i: usize) -> &mut Group {
        self.members[i].as_mut().unwrap()
    }

    /// Every active member and the observer are at the same public state,
    /// and the observer accepts each member's GroupInfo of the epoch.
    fn agree(&self) {
        for g in self.members.iter().flatten() {
            assert_eq!(g.context(), self.observer.context());
            assert_eq!(g.tree().to_nodes(), self.observer.tree().to_nodes());
            self.observer.check_group_info(&g.group_info().unwrap()).unwrap();
        }
    }

    /// `msg` from member `from` (or from outside) goes to the observer and
    /// every other member; commits are merged everywhere.
    fn deliver(&mut self, from: Option<usize>, msg: &MlsMessage) {
        match self.observer.process_message(msg).unwrap() {
            Observed::Commit(staged) => {
                self.observer.merge_staged_commit(staged).unwrap();
                self.epochs += 1;
            }
            Observed::Proposal(_) => {}
        }
        for (i, slot) in self.members.iter_mut().enumerate() {
            if Some(i) == from {
                continue;
            }
            let Some(g) = slot.as_mut() else { continue };
            if let Received::Commit(staged) = g.process_message(msg).unwrap() {
                let removed = staged.removes_self();
                g.merge_staged_commit(staged).unwrap();
                if removed {
                    *slot = None;
                }
            }
        }
    }

    /// Member `from` commits `options`; joiners come in by Welcome.
    fn commit(&mut self, from: usize, options: CommitOptions, joiners: Vec<mlsx_base::group::KeyPackageBundle>) {
        let out = self.member(from).commit(options).unwrap();
        self.member(from).merge_pending_commit().unwrap();
        self.deliver(Some(from), &out.commit);
        for b in joiners {
            // Every joiner knows the PSK the group uses (see below).
            let psks = [(PSK_ID.to_vec(), Secret::new(vec![7; 32]))].into_iter().collect();
            let g = Group::join_with_psks(self.cs.clone(), out.welcome.as_ref().unwrap(), b, None, config(), psks).unwrap();
            self.members.push(Some(g));
        }
        self.agree();
    }

    fn propose(&mut self, from: usize, proposal: Proposal) {
        let m = self.member(from).propose(proposal, b"").unwrap();
        self.deliver(Some(from), &m);
    }

    fn bundle(&self, name: &str) -> mlsx_base::group::KeyPackageBundle {
        Identity::basic(self.cs.as_ref(), name.as_bytes())
            .unwrap()
            .key_package(self.cs.as_ref())
            .unwrap()
    }
}

/// The observer refuses `m` with `expected`, and is unchanged.
fn refuses(observer: &mut PublicGroup, m: &MlsMessage) -> Error {
    let before = observer.save().unwrap();
    let err = match observer.process_message(m) {
        Ok(_) => panic!("the observer accepted the message"),
        Err(e) => e,
    };
    assert!(observer.save().unwrap() == before, "a refused message changed the observer");
    err
}

/// A group through every kind of commit, in suites 1 and 2: the observer
/// ends each epoch where the members do.
#[test]
fn an_observer_follows_every_kind_of_commit() {
    for n in [1, 2] {
        let cs = suite(n);
        let ds = Identity::basic(cs.as_ref(), b"ds").unwrap();
        let senders = vec![ExternalSender {
            signature_key: ds.signature_key.clone().into(),
            credential: ds.credential.clone(),
        }];
        let mut w = World::new(
            cs.clone(),
            vec![Extension::new(ExtensionType::EXTERNAL_SENDERS, encode(&senders).unwrap())],
        );
        // Adds by value: Bob (1), Carol (2), Dave (3).
        let joiners = vec![w.bundle("bob"), w.bundle("carol"), w.bundle("dave")];
        let kps = joiners.iter().map(|b| b.key_package.clone()).collect();
        w.commit(0, CommitOptions::add(kps), joiners);
        // Path-only commit by Bob.
        w.commit(1, CommitOptions::default(), vec![]);
        // Update by reference from Carol, committed by Alice.
        let m = w.member(2).propose_update().unwrap();
        w.deliver(Some(2), &m);
        w.commit(0, CommitOptions::default(), vec![]);
        // An Add by reference from Dave, a Remove by reference from Bob, a
        // PSK by value, committed together by Carol.
        let erin = w.bundle("erin");
        w.propose(3, Proposal::Add(mlsx_base::codec::Add::new(erin.key_package.clone())));
        w.propose(1, Proposal::Remove(Remove { removed: LeafIndex(0) }));
        for g in w.members.iter_mut().flatten() {
            g.add_external_psk(PSK_ID.to_vec(), Secret::new(vec![7; 32]));
        }
        let psk = PreSharedKeyId {
            psk: Psk::External(ExternalPsk {
                psk_id: PSK_ID.to_vec().into(),
            }),
            psk_nonce: VLBytes::new(cs.random_vec(cs.hash_len()).unwrap()),
        };
        let options = CommitOptions {
            proposals: vec![Proposal::PreSharedKey(PreSharedKeyProposal { psk })],
            ..CommitOptions::default()
        };
        w.commit(2, options, vec![erin]);
        assert_eq!(w.observer.members().count(), 4);
        // GroupContextExtensions by value: drop the external senders.
        let gce = Proposal::GroupContextExtensions(GroupContextExtensions { extensions: vec![] });
        w.commit(
            1,
            CommitOptions {
                proposals: vec![gce],
                ..CommitOptions::default()
            },
            vec![],
        );
        // The observer saves and loads mid-way.
        w.observer = PublicGroup::load(cs.clone(), &w.observer.save().unwrap(), config()).unwrap();
        // Frank joins by external commit from a GroupInfo; Carol resyncs.
        let gi = w.member(1).group_info().unwrap();
        let frank = Identity::basic(cs.as_ref(), b"frank").unwrap();
        let (g, m) = Group::join_external(cs.clone(), &gi, None, frank, None, config()).unwrap();
        w.deliver(None, &m);
        w.members.push(Some(g));
        w.agree();
        let gi = w.member(1).group_info().unwrap();
        let carol_leaf = w.member(2).own_leaf();
        let carol = w.member(2).identity().duplicate();
        let options = ExternalJoinOptions {
            resync: Some(carol_leaf),
            ..ExternalJoinOptions::default()
        };
        let (g, m) = Group::join_external_with(cs.clone(), &gi, None, carol, options, config()).unwrap();
        w.members[2] = None;
        w.deliver(None, &m);
        w.members[2] = Some(g);
        w.agree();
        // A Remove by value.
        let frank_leaf = w.members.last().unwrap().as_ref().unwrap().own_leaf();
        w.commit(1, CommitOptions::remove(vec![frank_leaf]), vec![]);
        w.members.retain(Option::is_some);
        assert_eq!(w.epochs, 8, "suite {n}");
        assert_eq!(w.observer.members().count(), 4);
    }
}

/// A two-member world: Alice (0) and Bob (1).
fn pair() -> World {
    let mut w = World::new(suite(1), vec![]);
    let bob = w.bundle("bob");
    w.commit(0, CommitOptions::add(vec![bob.key_package.clone()]), vec![bob]);
    w
}

/// What a delivery service meets from strangers: a short unsigned
/// "commit" for the current epoch from a claimed new member, a commit with
/// a bad signature, one for another group, one from a leaf that is not in
/// the tree, one without a membership tag: each refused, the observer
/// unchanged, and the members' next commit still accepted.
#[test]
fn forged_commits_do_not_take_the_epoch() {
    let mut w = pair();
    let epoch = w.observer.epoch();
    let gid = w.observer.group_id().to_vec();
    // 1. A bare "commit" claiming to be an external joiner's.
    let bare = MlsMessage::new(MlsMessageBody::PublicMessage(PublicMessage {
        content: FramedContent {
            group_id: gid.clone().into(),
            epoch,
            sender: Sender::NewMemberCommit,
            authenticated_data: VLBytes::default(),
            body: FramedContentBody::Commit(Commit {
                proposals: vec![],
                path: None,
            }),
        },
        auth: FramedContentAuthData {
            signature: VLBytes::new(vec![0; 4]),
            confirmation_tag: Some(vec![0; 4].into()),
        },
        membership_tag: None,
    }));
    assert!(encode(&bare).unwrap().len() < 40);
    assert!(matches!(refuses(&mut w.observer, &bare), Error::Peer(PeerError::MissingPath)));

    // 2. Alice's real commit with one bit of its signature flipped.
    let real = w.member(0).commit(CommitOptions::default()).unwrap().commit;
    w.member(0).clear_pending_commit();
    let mut bad_sig = real.clone();
    if let MlsMessageBody::PublicMessage(p) = &mut bad_sig.body {
        let mut s = p.auth.signature.as_slice().to_vec();
        s[0] ^= 1;
        p.auth.signature = s.into();
    }
    assert!(matches!(refuses(&mut w.observer, &bad_sig), Error::Crypto(_)));

    // 3. The same commit claiming another sender leaf, one that is not in the tree.
    let mut stranger = real.clone();
    if let MlsMessageBody::PublicMessage(p) = &mut stranger.body {
        p.content.sender = Sender::Member(LeafIndex(7));
    }
    assert!(matches!(refuses(&mut w.observer, &stranger), Error::Peer(PeerError::UnknownSender)));

    // 4. Another group's id.
    let mut other = real.clone();
    if let MlsMessageBody::PublicMessage(p) = &mut other.body {
        p.content.group_id = b"another group".to_vec().into();
    }
    assert!(matches!(refuses(&mut w.observer, &other), Error::Peer(PeerError::WrongGroupId)));

    // 5. No membership tag on a member's message.
    let mut untagged = real.clone();
    if let MlsMessageBody::PublicMessage(p) = &mut untagged.body {
        p.membership_tag = None;
    }
    assert!(matches!(
        refuses(&mut w.observer, &untagged),
        Error::Peer(PeerError::MissingMembershipTag)
    ));

    // 6. A PrivateMessage cannot be observed.
    let private = w.member(1).encrypt_application(b"hello", b"").unwrap();
    assert!(matches!(
        refuses(&mut w.observer, &private),
        Error::Misuse(MisuseError::EncryptedForObserver)
    ));

    // The members' real commit still takes the epoch.
    w.commit(0, CommitOptions::default(), vec![]);
    assert_eq!(w.observer.epoch(), epoch + 1);
}

/// Once a commit for an epoch is merged, a second commit for that epoch
/// (the other member's, made concurrently) is stale.
#[test]
fn a_second_commit_for_an_epoch_is_stale() {
    let mut w = pair();
    let epoch = w.observer.epoch();
    let first = w.member(0).commit(CommitOptions::default()).unwrap().commit;
    let second = w.member(1).commit(CommitOptions::default()).unwrap().commit;
    w.member(1).clear_pending_commit();
    w.member(0).merge_pending_commit().unwrap();
    w.deliver(Some(0), &first);
    let err = refuses(&mut w.observer, &second);
    assert!(
        matches!(err, Error::Peer(PeerError::WrongEpoch { message, group }) if message == epoch && group == epoch + 1),
        "{err:?}"
    );
    // And a replay of the first is stale too.
    refuses(&mut w.observer, &first);
    w.agree();
}

/// Invalid proposal lists signed by a real member are refused with the
/// members' reason: a Remove of the committer, and of a blank leaf.
#[test]
fn invalid_proposal_lists_are_refused() {
    let mut w = pair();
    for removed in [LeafIndex(0), LeafIndex(5)] {
        let m = w.member(0).commit(CommitOptions::default()).unwrap().commit;
        w.member(0).clear_pending_commit();
        let MlsMessageBody::PublicMessage(p) = &m.body else {
            unreachable!()
        };
        let mut content = p.content.clone();
        let FramedContentBody::Commit(c) = &mut content.body else {
            unreachable!()
        };
        c.proposals = vec![mlsx_base::codec::ProposalOrRef::Proposal(Proposal::Remove(Remove { removed }))];
        let alice = w.members[0].as_ref().unwrap();
        let cs = w.cs.clone();
        let sig = mlsx_base::framing::sign_content(
            cs.as_ref(),
            &alice.identity().signer,
            WireFormat::PUBLIC_MESSAGE,
            &content,
            alice.context(),
        )
        .unwrap();
        let forged = mlsx_base::framing::seal_public(
            cs.as_ref(),
            content,
            FramedContentAuthData {
                signature: sig.into(),
                confirmation_tag: p.auth.confirmation_tag.clone(),
            },
            alice.context(),
            Some(alice.membership_key().as_bytes()),
        )
        .unwrap();
        let forged = MlsMessage::new(MlsMessageBody::PublicMessage(forged));
        let err = refuses(&mut w.observer, &forged);
        let member_err = w.member(1).process_message(&forged).unwrap_err();
        assert_eq!(format!("{err:?}"), format!("{member_err:?}"));
    }
}

/// What an observer cannot see: a member's commit with a wrong
/// confirmation tag is accepted by the observer and refused by the other
/// members (documented in `mlsx_base::group::PublicGroup`).
#[test]
fn a_wrong_confirmation_tag_is_beyond_an_observer() {
    let mut w = pair();
    let mut m = w.member(0).commit(CommitOptions::default()).unwrap().commit;
    w.member(0).clear_pending_commit();
    let alice = w.members[0].as_ref().unwrap();
    if let MlsMessageBody::PublicMessage(p) = &mut m.body {
        let mut tag = p.auth.confirmation_tag.clone().unwrap().as_slice().to_vec();
        tag[0] ^= 1;
        p.auth.confirmation_tag = Some(tag.into());
        // The membership tag covers the confirmation tag: recompute it.
        let resealed = mlsx_base::framing::seal_public(
            w.cs.as_ref(),
            p.content.clone(),
            p.auth.clone(),
            alice.context(),
            Some(alice.membership_key().as_bytes()),
        )
        .unwrap();
        *p = resealed;
    }
    assert!(matches!(w.observer.clone().process_message(&m), Ok(Observed::Commit(_))));
    assert!(matches!(
        w.member(1).process_message(&m),
        Err(Error::Peer(PeerError::InvalidConfirmationTag))
    ));
}

/// GroupInfos: a forged one does not start an observer, and one of
/// another epoch, or with another tag, tree or signature, does not pass
/// `check_group_info`.
#[test]
fn group_infos_are_checked() {
    let mut w = pair();
    let good = w.member(1).group_info().unwrap();
    w.observer.check_group_info(&good).unwrap();
    let edit = |f: &dyn Fn(&mut GroupInfo)| {
        let mut gi = good.clone();
        f(&mut gi);
        gi
    };
    let bad_sig = edit(&|gi| {
        let mut s = gi.signature.as_slice().to_vec();
        s[1] ^= 1;
        gi.signature = s.into();
    });
    let bad_tag = edit(&|gi| {
        let mut t = gi.confirmation_tag.as_slice().to_vec();
        t[1] ^= 1;
        gi.confirmation_tag = t.into();
    });
    let bad_signer = edit(&|gi| gi.signer = LeafIndex(3));
    for gi in [&bad_sig, &bad_tag, &bad_signer] {
        assert!(matches!(
            w.observer.check_group_info(gi),
            Err(Error::Peer(PeerError::InvalidGroupInfo(_)))
        ));
    }
    for gi in [&bad_sig, &bad_signer] {
        assert!(PublicGroup::from_group_info(w.cs.clone(), gi, None, config()).is_err());
    }
    // Last epoch's GroupInfo, after a commit.
    w.commit(1, CommitOptions::default(), vec![]);
    assert!(matches!(
        w.observer.check_group_info(&good),
        Err(Error::Peer(PeerError::InvalidGroupInfo("not this epoch's GroupContext")))
    ));
}
