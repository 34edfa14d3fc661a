//! SelfRemove (draft-ietf-mls-extensions §6.3) end to end, in groups of
//! three or more members: leaving through another member's commit or an
//! external joiner's, and a negative test for each MUST.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use mlsx_base::codec::{
    Commit, FramedContentBody, MlsMessage, MlsMessageBody, Proposal, ProposalOrRef, ProposalType, Remove, VLBytes, WireFormat,
};
use mlsx_base::group::{CommitOptions, ExternalJoinOptions, Group, GroupConfig, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{Error as BaseError, PeerError, ProposalListError};
use mlsx_extensions::{CodePoints, Component, Error, Extensions, GroupRequirements, MLS_RS_SELF_REMOVE};

fn requirements() -> GroupRequirements {
    GroupRequirements {
        components: vec![COUNTER, RECEIPTS],
        ..GroupRequirements::default()
    }
}

/// A client whose SelfRemove code point is `self_remove`, and who encrypts
/// its handshake messages when `encrypt`.
fn member_with(self_remove: ProposalType, encrypt: bool) -> Member {
    let mut ext = Extensions::new().with_code_points(CodePoints {
        self_remove,
        ..CodePoints::default()
    });
    let mut keys = BTreeMap::new();
    for c in [Arc::new(Counter) as Arc<dyn Component>, Arc::new(Receipts)] {
        let id = c.id();
        keys.insert(id, ext.register(c).unwrap());
    }
    let mut config = GroupConfig {
        encrypt_handshake: encrypt,
        ..GroupConfig::default()
    };
    ext.install(&mut config).unwrap();
    Member {
        ext,
        keys,
        config,
        log: Arc::default(),
        group: None,
    }
}

/// Delivers a proposal to every member but `from`.
fn deliver_proposal(members: &mut [Member], from: usize, msg: &MlsMessage) {
    for (i, m) in members.iter_mut().enumerate() {
        if i != from {
            let Received::Proposal(_) = m.g().process_message(msg).unwrap() else {
                panic!("not a proposal")
            };
        }
    }
}

fn refs(msg: &MlsMessage) -> Vec<ProposalOrRef> {
    let MlsMessageBody::PublicMessage(m) = &msg.body else {
        panic!("not public")
    };
    let FramedContentBody::Commit(Commit { proposals, .. }) = &m.content.body else {
        panic!("not a commit")
    };
    proposals.clone()
}

fn leave(m: &mut Member) -> Result<MlsMessage, Error> {
    let Member { ext, group, .. } = m;
    ext.leave(group.as_mut().unwrap())
}

fn is_ext(e: &BaseError, want: impl Fn(&Error) -> bool) -> bool {
    Error::of(e).is_some_and(want)
}

fn list_error(e: &BaseError) -> Option<ProposalListError> {
    match e {
        BaseError::Peer(PeerError::InvalidProposals(l)) => Some(*l),
        _ => None,
    }
}

#[test]
fn a_member_leaves_and_learns_that_it_has_left() {
    let cs = suite1();
    let mut m = group(&cs, 4, &requirements());
    assert!(m[2].ext.is_self_remove_capable(m[2].gr()));
    let leave = leave(&mut m[2]).unwrap();
    // §6.3: MUST be a PublicMessage, so that external joiners can use it.
    assert_eq!(leave.body.wire_format(), WireFormat::PUBLIC_MESSAGE);
    assert!(m[0].ext.is_self_remove_message(&leave));
    deliver_proposal(&mut m, 2, &leave);
    // Member 1 includes it (by reference) in its next commit.
    let commit = m[1].g().commit(CommitOptions::default()).unwrap().commit;
    // The commit needs an UpdatePath: one without is refused.
    let pathless = forge(&mut m[1], &commit, |c| {
        let FramedContentBody::Commit(c) = &mut c.body else { panic!() };
        c.path = None;
    });
    let err = stage(&mut m[0], &pathless).unwrap_err();
    assert!(matches!(err, BaseError::Peer(PeerError::MissingPath)), "{err:?}");
    m[1].g().merge_pending_commit().unwrap();
    assert!(matches!(refs(&commit).as_slice(), [ProposalOrRef::Reference(_)]));
    let leaver = stage(&mut m[2], &commit).unwrap();
    assert!(leaver.removes_self());
    assert_eq!(leaver.removed(), &[LeafIndex(2)]);
    for i in [0, 3] {
        let s = stage(&mut m[i], &commit).unwrap();
        assert!(!s.removes_self());
        m[i].g().merge_staged_commit(s).unwrap();
    }
    m.remove(2);
    assert_agree(&mut m);
    assert_eq!(m[0].gr().members().count(), 3);
    // The group goes on without it.
    let next = commit_with(&mut m[0], vec![]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &next);
    assert_agree(&mut m);
}

#[test]
fn self_remove_is_a_public_message_even_when_handshakes_are_encrypted() {
    let cs = suite1();
    let sr = CodePoints::default().self_remove;
    let mut m = group_of(&cs, (0..3).map(|_| member_with(sr, true)).collect(), &requirements());
    let update = m[1].g().propose_update().unwrap();
    assert_eq!(update.body.wire_format(), WireFormat::PRIVATE_MESSAGE);
    let leave = leave(&mut m[1]).unwrap();
    assert_eq!(leave.body.wire_format(), WireFormat::PUBLIC_MESSAGE);
}

#[test]
fn a_self_remove_in_a_private_message_is_refused() {
    let cs = suite1();
    let sr = CodePoints::default().self_remove;
    // Member 2 has another code point for SelfRemove, so it sends type
    // 0x000a as an unknown type, encrypted like its other handshakes.
    let members = vec![
        member_with(sr, false),
        member_with(sr, false),
        member_with(ProposalType(0xF0F0), true),
    ];
    let mut m = group_of(&cs, members, &requirements());
    let private = m[2]
        .g()
        .propose(Proposal::Custom(mlsx_base::codec::CustomProposal::new(sr, vec![])), &[])
        .unwrap();
    assert_eq!(private.body.wire_format(), WireFormat::PRIVATE_MESSAGE);
    let before = m[0].gr().pending_proposals().len();
    let err = m[0].g().process_message(&private).unwrap_err();
    assert!(matches!(err, BaseError::Peer(PeerError::InvalidWireFormatForContent)), "{err:?}");
    assert_eq!(m[0].gr().pending_proposals().len(), before);
    // That member does not support the type 0x000a: the group is not
    // self-remove-capable, and leave() says so.
    assert!(!m[0].ext.is_self_remove_capable(m[0].gr()));
    let err = leave(&mut m[0]).unwrap_err();
    assert!(matches!(err, Error::NotSelfRemoveCapable), "{err:?}");
}

#[test]
fn a_self_remove_by_value_is_refused() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    // The committer cannot put it by value (and could not remove itself).
    let self_remove = m[1].ext.self_remove();
    let err = commit_with(&mut m[1], vec![self_remove.clone()]).unwrap_err();
    assert_eq!(list_error(&err), Some(ProposalListError::ByReferenceOnly), "{err:?}");
    // A forged commit that does is refused by its receivers.
    let honest = commit_with(&mut m[1], vec![]).unwrap();
    m[1].g().clear_pending_commit();
    let forged = forge(&mut m[1], &honest, push_proposal(self_remove));
    let err = stage(&mut m[0], &forged).unwrap_err();
    assert_eq!(list_error(&err), Some(ProposalListError::ByReferenceOnly), "{err:?}");
    // A SelfRemove must have an empty body.
    let bad = Proposal::Custom(mlsx_base::codec::CustomProposal::new(CodePoints::default().self_remove, vec![1]));
    let err = m[2].g().propose(bad, &[]).unwrap_err();
    assert!(is_ext(&err, |e| matches!(e, Error::SelfRemoveBody)), "{err:?}");
}

#[test]
fn one_self_remove_per_client_and_epoch() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let first = leave(&mut m[2]).unwrap();
    // The sender refuses a second one in this epoch.
    let err = leave(&mut m[2]).unwrap_err();
    assert!(matches!(err, Error::SecondSelfRemove(2)), "{err:?}");
    // A receiver refuses a second one (another message: other AAD).
    let second = forge(&mut m[2], &first, |c| c.authenticated_data = VLBytes::new(b"again".to_vec()));
    assert!(matches!(m[0].g().process_message(&first).unwrap(), Received::Proposal(_)));
    let err = m[0].g().process_message(&second).unwrap_err();
    assert!(is_ext(&err, |e| matches!(e, Error::SecondSelfRemove(2))), "{err:?}");
    // Committed, it removes its sender once.
    let _ = m[1].g().process_message(&first).unwrap();
    let commit = commit_with(&mut m[0], vec![]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let s1 = stage(&mut m[1], &commit).unwrap();
    assert_eq!(s1.removed(), &[LeafIndex(2)]);
    assert!(stage(&mut m[2], &commit).unwrap().removes_self());
}

/// §6.3: "If there is a pending SelfRemove proposal for a specific leaf
/// node and a pending Remove proposal for the same leaf node, the Remove
/// proposal is invalid."
#[test]
fn a_remove_of_a_leaf_that_removes_itself_is_left_out() {
    let cs = suite1();
    let mut m = group(&cs, 4, &requirements());
    let leave = leave(&mut m[2]).unwrap();
    let remove = m[3].g().propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), &[]).unwrap();
    let mut remove_ref = None;
    for i in [0, 1] {
        let _ = m[i].g().process_message(&leave).unwrap();
        let Received::Proposal(p) = m[i].g().process_message(&remove).unwrap() else {
            panic!()
        };
        remove_ref = Some(p.reference);
    }
    // The committer leaves the Remove out and commits the SelfRemove.
    let commit = m[1].g().commit(CommitOptions::default()).unwrap().commit;
    let remove_ref = remove_ref.unwrap();
    let forged = forge(&mut m[1], &commit, |c| {
        let FramedContentBody::Commit(Commit { proposals, .. }) = &mut c.body else {
            panic!()
        };
        proposals.push(ProposalOrRef::Reference(remove_ref.clone()));
    });
    m[1].g().merge_pending_commit().unwrap();
    let listed = refs(&commit);
    assert_eq!(listed.len(), 1);
    assert!(!listed.contains(&ProposalOrRef::Reference(remove_ref)));
    let s0 = stage(&mut m[0], &commit).unwrap();
    assert_eq!(s0.removed(), &[LeafIndex(2)]);
    // A commit that names both is invalid (one change per leaf).
    let err = stage(&mut m[0], &forged).unwrap_err();
    assert_eq!(list_error(&err), Some(ProposalListError::MultipleChangesToLeaf), "{err:?}");
}

/// A member that asked to leave and then commits does not commit its own
/// SelfRemove (a committer cannot remove itself); it stays pending at the
/// others until the epoch ends.
#[test]
fn a_leaving_member_that_commits_leaves_its_self_remove_out() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let leave = leave(&mut m[2]).unwrap();
    deliver_proposal(&mut m, 2, &leave);
    let commit = commit_with(&mut m[2], vec![]).unwrap();
    assert!(refs(&commit).is_empty());
    m[2].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 2, &commit);
    assert_agree(&mut m);
    assert_eq!(m[0].gr().members().count(), 3);
}

/// §6.3: an external joiner MUST fetch pending SelfRemoves with the
/// GroupInfo, validate them (not the membership_tag) and include them by
/// reference.
#[test]
fn an_external_joiner_commits_pending_self_removes() {
    let cs = suite1();
    let mut m = group(&cs, 4, &requirements());
    let private = m[0].g().encrypt_application(b"hello", &[]).unwrap();
    let leave1 = leave(&mut m[1]).unwrap();
    let leave3 = leave(&mut m[3]).unwrap();
    for (i, member) in m.iter_mut().enumerate() {
        for (from, msg) in [(1, &leave1), (3, &leave3)] {
            if i != from {
                let _ = member.g().process_message(msg).unwrap();
            }
        }
    }
    let gi = m[0].g().group_info().unwrap();
    let joiner = Member::new(Some(b"secret"));
    let join = |by_reference: Vec<MlsMessage>, proposals: Vec<Proposal>| {
        Group::join_external_with(
            cs.clone(),
            &gi,
            None,
            joiner.identity(cs.as_ref(), "dave"),
            ExternalJoinOptions {
                proposals,
                proposals_by_reference: by_reference,
                ..ExternalJoinOptions::default()
            },
            joiner.config.clone(),
        )
    };
    // Negative: a tampered signature, another epoch, a PrivateMessage, a
    // Remove by reference, SelfRemove by value, the same one twice.
    let mut tampered = leave1.clone();
    if let MlsMessageBody::PublicMessage(pm) = &mut tampered.body {
        let mut sig = pm.auth.signature.as_slice().to_vec();
        sig[0] ^= 1;
        pm.auth.signature = sig.into();
    }
    let err = join(vec![tampered], vec![]).unwrap_err();
    assert!(matches!(err, BaseError::Crypto(_)), "{err:?}");
    let stale = forge(&mut m[1], &leave1, |c| c.epoch -= 1);
    let err = join(vec![stale], vec![]).unwrap_err();
    assert!(matches!(err, BaseError::Peer(PeerError::WrongEpoch { .. })), "{err:?}");
    let err = join(vec![private.clone()], vec![]).unwrap_err();
    assert!(matches!(err, BaseError::Peer(PeerError::UnexpectedWireFormat(_))), "{err:?}");
    let remove = m[0].g().propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), &[]).unwrap();
    let err = join(vec![remove], vec![]).unwrap_err();
    assert_eq!(list_error(&err), Some(ProposalListError::ExternalCommitByReference), "{err:?}");
    let err = join(vec![], vec![joiner.ext.self_remove()]).unwrap_err();
    assert_eq!(list_error(&err), Some(ProposalListError::NotAllowedInExternalCommit), "{err:?}");
    let err = join(vec![leave1.clone(), leave1.clone()], vec![]).unwrap_err();
    assert!(is_ext(&err, |e| matches!(e, Error::SecondSelfRemove(1))), "{err:?}");
    let _ = private;

    // Both SelfRemoves in one external commit.
    let (dave, commit) = join(vec![leave1, leave3], vec![]).unwrap();
    assert_eq!(refs(&commit).iter().filter(|p| matches!(p, ProposalOrRef::Reference(_))).count(), 2);
    for i in [1, 3] {
        assert!(stage(&mut m[i], &commit).unwrap().removes_self());
    }
    let mut stay: Vec<Member> = vec![];
    for (i, mut member) in m.into_iter().enumerate() {
        if i == 0 || i == 2 {
            let s = stage(&mut member, &commit).unwrap();
            assert_eq!(s.removed(), &[LeafIndex(1), LeafIndex(3)]);
            member.g().merge_staged_commit(s).unwrap();
            stay.push(member);
        }
    }
    let mut joiner = joiner;
    joiner.group = Some(dave);
    stay.push(joiner);
    assert_agree(&mut stay);
    assert_eq!(stay[0].gr().members().count(), 3);
}

/// mls-rs 0.57 numbers SelfRemove 0xF003 (private use), not 0x000a: with
/// that code point configured, mlsx speaks its dialect; with the default,
/// the two do not understand each other's SelfRemove.
#[test]
fn the_mls_rs_code_point_is_a_configuration() {
    let cs = suite1();
    let mut m = group_of(
        &cs,
        (0..3).map(|_| member_with(MLS_RS_SELF_REMOVE, false)).collect(),
        &requirements(),
    );
    let leave = leave(&mut m[1]).unwrap();
    let MlsMessageBody::PublicMessage(pm) = &leave.body else { panic!() };
    let FramedContentBody::Proposal(Proposal::Custom(c)) = &pm.content.body else {
        panic!()
    };
    assert_eq!(c.proposal_type, ProposalType(0xF003));
    deliver_proposal(&mut m, 1, &leave);
    let commit = commit_with(&mut m[0], vec![]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    assert!(stage(&mut m[1], &commit).unwrap().removes_self());
    assert_ne!(CodePoints::default().self_remove, MLS_RS_SELF_REMOVE);
}

/// §6.3 and the registry (§7.2, External: N): a SelfRemove from an
/// external sender, or from a would-be joiner, is refused by every member
/// with the sender rule's own error, and nothing is cached.
#[test]
fn a_self_remove_from_an_external_sender_is_refused() {
    use mlsx_base::codec::{Credential, Extension, ExtensionType, ExternalSender, FramedContent, GroupContextExtensions, Sender, encode};
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    // The members name an external sender (a delivery service).
    let (ds_sk, ds_pk) = cs.signature_generate_key_pair().unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds_pk.into(),
        credential: Credential::Basic(VLBytes::new(b"ds".to_vec())),
    }];
    let mut extensions = m[0].gr().context().extensions.clone();
    extensions.push(Extension::new(ExtensionType::EXTERNAL_SENDERS, encode(&senders).unwrap()));
    let gce = Proposal::GroupContextExtensions(GroupContextExtensions { extensions });
    let c = commit_with(&mut m[0], vec![gce]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    let self_remove = Proposal::Custom(mlsx_base::codec::CustomProposal::new(m[0].ext.code_points().self_remove, vec![]));
    for sender in [Sender::External(0), Sender::NewMemberProposal] {
        let g = m[0].gr();
        let content = FramedContent {
            group_id: g.context().group_id.clone(),
            epoch: g.epoch(),
            sender,
            authenticated_data: VLBytes::default(),
            body: FramedContentBody::Proposal(self_remove.clone()),
        };
        let msg = MlsMessage::new(MlsMessageBody::PublicMessage(
            mlsx_base::framing::protect_public(cs.as_ref(), &ds_sk, content, None, g.context(), None).unwrap(),
        ));
        for x in &mut m {
            let err = x.g().process_message(&msg).unwrap_err();
            assert!(
                matches!(err, BaseError::Peer(PeerError::ProposalSenderNotAllowed(0x000a))),
                "{sender:?}: {err:?}"
            );
            assert!(x.gr().pending_proposals().is_empty());
        }
    }
}
