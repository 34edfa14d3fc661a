//! Hybrid sessions end to end: three members or more, FULL and PARTIAL
//! commits by several members, adds and removals, in both modes and two
//! suite pairs (T 0x0001 with PQ TBD6, T 0x0007 with PQ TBD11), and a
//! negative test for each item of the receiver checklist: each leaves
//! both groups as they were.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mlsx_base::codec::{MlsMessage, MlsMessageBody, Proposal, WireFormat};
use mlsx_base::group::CommitOptions;
use mlsx_combiner::{
    ApqClient, ApqInfoUpdate, ApqMessagePair, ApqReceived, ApqSession, ApqSetup, CommitKind, Error, FullCommitPolicy, Mode,
};
use mlsx_pq_suites::PqSuite;

use common::{assert_agree, classical, deliver, session, settle, setups};

fn epochs(s: &ApqSession) -> (u64, u64) {
    (s.t_group().epoch(), s.pq_group().epoch())
}

#[test]
fn full_and_partial_commits_adds_and_removals_in_both_modes() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        settle(&mut s);
        let info = s[0].info().unwrap();
        assert_eq!((info.t_epoch, info.pq_epoch), epochs(&s[0]));
        // PARTIAL commits by two members move the T group only.
        for from in [1, 2] {
            let before = epochs(&s[0]);
            let out = s[from].partial_commit(vec![]).unwrap();
            s[from].confirm().unwrap();
            assert!(
                deliver(&mut s, from, &out.message)
                    .into_iter()
                    .flatten()
                    .all(|r| matches!(r, ApqReceived::Partial))
            );
            assert_eq!(epochs(&s[0]), (before.0 + 1, before.1));
            assert_agree(&s);
        }
        // APQInfo keeps the epochs of the last FULL commit.
        assert_eq!(s[2].info().unwrap(), info);
        // A FULL commit by Bob moves both and updates APQInfo.
        let out = s[1].full_commit(vec![], vec![]).unwrap();
        s[1].confirm().unwrap();
        deliver(&mut s, 1, &out.message);
        assert_agree(&s);
        let info = s[0].info().unwrap();
        assert_eq!((info.t_epoch, info.pq_epoch), epochs(&s[0]));
        // Application messages travel in the T group.
        let m = s[2].encrypt_application(b"hybrid", b"").unwrap();
        for i in [0, 1] {
            let ApqReceived::Application { data, .. } = s[i].process(&m).unwrap() else {
                panic!()
            };
            assert_eq!(data, b"hybrid");
        }
        // Dave joins; then Carol removes Bob; Bob learns it.
        let dave = ApqClient::new(setup.clone(), b"dave").unwrap();
        let (kp, bundles) = dave.key_packages().unwrap();
        let out = s[2].add(vec![kp]).unwrap();
        s[2].confirm().unwrap();
        deliver(&mut s, 2, &out.message);
        s.push(dave.join(&out.welcome.unwrap(), bundles).unwrap());
        assert_agree(&s);
        // The joiner's first commit is FULL (§3.2 SHOULD).
        assert_eq!(s[3].next_kind(false), CommitKind::Full);
        let out = s[3].commit(vec![]).unwrap();
        assert_eq!(out.kind, CommitKind::Full);
        s[3].confirm().unwrap();
        deliver(&mut s, 3, &out.message);
        assert_agree(&s);
        let bob = s[1].t_group().identity().credential.clone();
        let out = s[2].remove(&[bob]).unwrap();
        s[2].confirm().unwrap();
        let got = deliver(&mut s, 2, &out.message);
        assert!(matches!(got[1], Some(ApqReceived::Full { removed_self: true })));
        assert!(!s[1].is_active());
        s.remove(1);
        assert_agree(&s);
        assert_eq!(s[0].t_group().members().count(), 3);
        assert_eq!(s[0].pq_group().members().count(), 3);
    }
}

#[test]
fn the_policy_picks_full_commits() {
    let mut setup = setups().remove(0);
    setup.policy = FullCommitPolicy {
        every: 3,
        max_age_seconds: None,
        inactive_after_seconds: None,
    };
    let mut s = session(&setup, 3);
    let kinds: Vec<CommitKind> = (0..6)
        .map(|_| {
            let out = s[0].commit(vec![]).unwrap();
            s[0].confirm().unwrap();
            deliver(&mut s, 0, &out.message);
            out.kind
        })
        .collect();
    use CommitKind::{Full, Partial};
    assert_eq!(kinds, [Partial, Partial, Full, Partial, Partial, Full]);
    assert_agree(&s);
    // A membership change is always FULL; a PARTIAL one is refused.
    let c = ApqClient::new(setup.clone(), b"x").unwrap();
    let (kp, _) = c.key_packages().unwrap();
    let add = Proposal::Add(mlsx_base::codec::Add::new(kp.t));
    assert_eq!(s[0].next_kind(true), Full);
    assert!(matches!(s[0].partial_commit(vec![add]), Err(Error::MembershipChangeInPartial)));
}

#[test]
fn a_refused_commit_is_discarded_in_both_groups() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    let before = epochs(&s[0]);
    let _lost = s[0].full_commit(vec![], vec![]).unwrap();
    assert!(matches!(s[0].full_commit(vec![], vec![]), Err(Error::PendingCommit)));
    s[0].discard();
    assert_eq!(epochs(&s[0]), before);
    // Bob's commit won the epoch; Alice follows it.
    let out = s[1].full_commit(vec![], vec![]).unwrap();
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    assert_agree(&s);
}

#[test]
fn suite_rules_are_enforced() {
    let pq6 = PqSuite::Tbd6.provider().unwrap();
    let err = ApqSetup::new(pq6.clone(), pq6.clone(), Mode::ConfidentialityOnly).unwrap_err();
    assert!(matches!(err, Error::NotTraditional(_)), "{err:?}");
    let err = ApqSetup::new(classical(1), classical(2), Mode::ConfidentialityOnly).unwrap_err();
    assert!(matches!(err, Error::NotPurePq(_)), "{err:?}");
    // Hybrid KEMs are refused (X-Wing).
    let err = ApqSetup::new(classical(1), PqSuite::Tbd1.provider().unwrap(), Mode::ConfidentialityOnly).unwrap_err();
    assert!(matches!(err, Error::NotPurePq(_)), "{err:?}");
    // A T hash longer than the PQ hash: apq_psk cannot be derived (T 0x0005
    // hashes with SHA-512, TBD8 with SHA-384).
    let err = ApqSetup::new(classical(5), PqSuite::Tbd8.provider().unwrap(), Mode::ConfidentialityOnly).unwrap_err();
    assert!(matches!(err, Error::ExportShorterThanTHash { .. }), "{err:?}");
    // Mode 1 needs ML-DSA.
    let err = ApqSetup::new(classical(1), pq6, Mode::ConfidentialityAndAuthenticity).unwrap_err();
    assert!(matches!(err, Error::NoPqSignature(_)), "{err:?}");
}

// ------------------------------------------------------ receiver checklist

/// Checks that `msg` is refused by Bob with an error `ok` accepts, and that
/// Bob's groups are unchanged.
fn refused(s: &mut [ApqSession], msg: &MlsMessage, ok: impl Fn(&Error) -> bool) {
    let before = epochs(&s[1]);
    let err = s[1].process(msg).unwrap_err();
    assert!(ok(&err), "{err:?}");
    assert_eq!(epochs(&s[1]), before);
    common::observer_agrees(&s[1], msg, &err);
}

fn pair(msg: &MlsMessage) -> ApqMessagePair {
    ApqMessagePair::from_message(msg).unwrap()
}

#[test]
fn receiver_checklist() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        let honest = s[0].full_commit(vec![], vec![]).unwrap();
        let p = pair(&honest.message);
        // 1. Inner wire formats: swapped field, or the pair's own format.
        let mut bad = p.clone();
        bad.wire_format = WireFormat::PRIVATE_MESSAGE;
        let msg = bad.to_message().unwrap();
        refused(&mut s, &msg, |e| matches!(e, Error::InnerWireFormat(_)));
        // 2. Group ids: the messages swapped.
        let swapped = ApqMessagePair {
            t_message: p.pq_message.clone(),
            pq_message: p.t_message.clone(),
            ..p.clone()
        };
        refused(&mut s, &swapped.to_message().unwrap(), |e| matches!(e, Error::WrongGroup { .. }));
        // A lone PQ commit.
        refused(&mut s, &p.pq_message, |e| matches!(e, Error::LonePqMessage));
        // The honest pair is still accepted afterwards.
        s[0].confirm().unwrap();
        deliver(&mut s, 0, &honest.message);
        assert_agree(&s);

        // 3. A T commit that does not inject apq_psk.
        let no_psk = pair_without_apq_psk(&mut s[0], WireFormat::PUBLIC_MESSAGE);
        refused(&mut s, &no_psk.to_message().unwrap(), |e| matches!(e, Error::MissingApqPsk));
        s[0].discard();

        // 4. Stale epochs in APQInfo, and a changed mode.
        let e0 = s_info_epochs(&s[0]);
        let stale = s[0]
            .full_commit_with_updates(
                vec![],
                vec![],
                Some(vec![ApqInfoUpdate::NewTEpoch(e0.0), ApqInfoUpdate::NewPqEpoch(e0.1)]),
            )
            .unwrap();
        refused(&mut s, &stale.message, |e| matches!(e, Error::ApqInfoEpochs { .. }));
        s[0].discard();
        let mut changed = s[0].info().unwrap();
        changed.mode = match changed.mode {
            Mode::ConfidentialityOnly => Mode::ConfidentialityAndAuthenticity,
            Mode::ConfidentialityAndAuthenticity => Mode::ConfidentialityOnly,
        };
        changed.t_epoch += 1;
        changed.pq_epoch += 1;
        // The committer's own component refuses to change the mode.
        let err = s[0]
            .full_commit_with_updates(vec![], vec![], Some(vec![ApqInfoUpdate::FullUpdate(changed)]))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Extensions(mlsx_extensions::Error::ComponentRejected { component: 0x0006, .. })
            ),
            "{err:?}"
        );

        // 5. Membership differing between the groups: an Add in T only.
        let c = ApqClient::new(setup.clone(), b"eve").unwrap();
        let (kp, _) = c.key_packages().unwrap();
        let add_t = Proposal::Add(mlsx_base::codec::Add::new(kp.t.clone()));
        // Refused by the sender's own checks...
        assert!(matches!(
            s[0].full_commit(vec![add_t.clone()], vec![]),
            Err(Error::MembershipDiffers)
        ));
        // ... and by receivers.
        let e0 = s_info_epochs(&s[0]);
        let add_t = Proposal::Add(mlsx_base::codec::Add::new(kp.t));
        let uneven = s[0]
            .full_commit_with_updates(
                vec![add_t],
                vec![],
                Some(vec![ApqInfoUpdate::NewTEpoch(e0.0 + 1), ApqInfoUpdate::NewPqEpoch(e0.1 + 1)]),
            )
            .unwrap();
        refused(&mut s, &uneven.message, |e| matches!(e, Error::MembershipDiffers));
        s[0].discard();

        // 7. PARTIAL commits that add a member or touch APQInfo.
        let (t, _) = s[0].raw_groups_mut();
        let c2 = ApqClient::new(setup.clone(), b"mallory").unwrap();
        let (kp2, _) = c2.key_packages().unwrap();
        let out = t.commit(CommitOptions::add(vec![kp2.t])).unwrap();
        refused(&mut s, &out.commit, |e| matches!(e, Error::MembershipChangeInPartial));
        s[0].raw_groups_mut().0.clear_pending_commit();
        let e0 = s_info_epochs(&s[0]);
        let upd = mlsx_extensions::Extensions::new()
            .app_data_update(0x0006, mlsx_base::codec::encode(&ApqInfoUpdate::NewTEpoch(e0.0 + 1)).unwrap())
            .unwrap();
        let upd2 = mlsx_extensions::Extensions::new()
            .app_data_update(0x0006, mlsx_base::codec::encode(&ApqInfoUpdate::NewPqEpoch(e0.1)).unwrap())
            .unwrap();
        let (t, _) = s[0].raw_groups_mut();
        let out = t
            .commit(CommitOptions {
                proposals: vec![upd, upd2],
                ..CommitOptions::default()
            })
            .unwrap();
        refused(&mut s, &out.commit, |e| matches!(e, Error::ApqInfoInPartial));
        s[0].raw_groups_mut().0.clear_pending_commit();

        // Application content in a pair of PrivateMessages is refused (§6).
        let (t, pq) = s[2].raw_groups_mut();
        let a = t.encrypt_application(b"x", b"").unwrap();
        let b = pq.encrypt_application(b"x", b"").unwrap();
        let app = ApqMessagePair {
            wire_format: WireFormat::PRIVATE_MESSAGE,
            t_message: a,
            pq_message: b,
        };
        refused(&mut s, &app.to_message().unwrap(), |e| matches!(e, Error::ApplicationInPair));

        // After all that, the session goes on.
        let out = s[2].full_commit(vec![], vec![]).unwrap();
        s[2].confirm().unwrap();
        deliver(&mut s, 2, &out.message);
        assert_agree(&s);
        let _ = MlsMessageBody::PublicMessage;
    }
}

fn s_info_epochs(s: &ApqSession) -> (u64, u64) {
    let i = s.info().unwrap();
    (i.t_epoch, i.pq_epoch)
}

#[test]
fn external_join_by_a_pair_of_external_commits() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        settle(&mut s);
        // A PARTIAL commit first: APQInfo's t_epoch lags the T group's.
        let out = s[1].partial_commit(vec![]).unwrap();
        s[1].confirm().unwrap();
        deliver(&mut s, 1, &out.message);
        let gi = s[2].group_info().unwrap();
        let erin = ApqClient::new(setup.clone(), b"erin").unwrap();
        let (joined, msg) = erin.join_external(&gi).unwrap();
        let got = deliver(&mut s, usize::MAX, &msg);
        assert!(got.iter().all(|r| matches!(r, Some(ApqReceived::Full { removed_self: false }))));
        s.push(joined);
        assert_agree(&s);
        let info = s[3].info().unwrap();
        assert_eq!((info.t_epoch, info.pq_epoch), epochs(&s[3]));
        // The joiner takes part.
        let out = s[3].partial_commit(vec![]).unwrap();
        s[3].confirm().unwrap();
        deliver(&mut s, 3, &out.message);
        let m = s[3].encrypt_application(b"hello from erin", b"").unwrap();
        let ApqReceived::Application { data, .. } = s[0].process(&m).unwrap() else {
            panic!()
        };
        assert_eq!(data, b"hello from erin");
        assert_agree(&s);
        // A GroupInfo pair whose halves come from two sessions is refused.
        let other = session(&setup, 1);
        let mixed = ApqMessagePair {
            pq_message: pair(&other[0].group_info().unwrap()).pq_message,
            ..pair(&s[0].group_info().unwrap())
        };
        let frank = ApqClient::new(setup.clone(), b"frank").unwrap();
        let err = frank.join_external(&mixed.to_message().unwrap()).unwrap_err();
        assert!(matches!(err, Error::ApqInfoMismatch | Error::ApqInfoChanged), "{err:?}");
    }
}

/// A member that crashes between staging a FULL commit and merging it comes
/// back with both groups at the old epochs; one that crashes after merging,
/// with both at the new ones. Saved state never holds one group ahead of
/// the other's FULL pairing.
#[test]
fn crash_between_staging_and_merging_leaves_both_groups_in_step() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        let snapshot = s[0].save().unwrap();
        let before = epochs(&s[0]);
        let out = s[0].full_commit(vec![], vec![]).unwrap();
        assert!(matches!(s[0].save(), Err(Error::PendingCommit)));
        // Killed here: the last saved state is the snapshot.
        let mut back = ApqSession::load(setup.clone(), &snapshot).unwrap();
        assert_eq!(epochs(&back), before);
        assert_eq!(back.info().unwrap(), s[1].info().unwrap());
        // The DS refused the lost pair (nobody saw it); the member goes on.
        let _ = out;
        let out = back.full_commit(vec![], vec![]).unwrap();
        back.confirm().unwrap();
        let after = back.save().unwrap();
        s[0] = back;
        deliver(&mut s, 0, &out.message);
        assert_agree(&s);
        // Killed after merging: both groups at the new epochs.
        let reloaded = ApqSession::load(setup.clone(), &after).unwrap();
        let _ = &reloaded;
        assert_eq!(epochs(&reloaded), epochs(&s[0]));
        // A state whose halves come from different pairings is refused.
        let other = after;
        let mut mixed = snapshot[..2].to_vec();
        let t_len = u64::from_be_bytes(snapshot[2..10].try_into().unwrap()) as usize;
        mixed.extend_from_slice(&snapshot[2..10 + t_len]);
        let o_t_len = u64::from_be_bytes(other[2..10].try_into().unwrap()) as usize;
        mixed.extend_from_slice(&other[10 + o_t_len..]);
        let err = ApqSession::load(setup.clone(), &mixed).unwrap_err();
        assert!(matches!(err, Error::ApqInfoMismatch), "{err:?}");
    }
}

/// Messages of the T group alone cannot change the membership or APQInfo,
/// not even as proposals cached for later (which would block every later
/// commit); and a joiner's first own commit stays FULL even after another
/// member's FULL commit.
#[test]
fn t_only_messages_cannot_change_membership_or_apqinfo() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    settle(&mut s);
    // The T half of an external-join pair, alone.
    let gi = s[0].group_info().unwrap();
    let (_, msg) = ApqClient::new(setup.clone(), b"eve").unwrap().join_external(&gi).unwrap();
    refused(&mut s, &pair(&msg).t_message, |e| matches!(e, Error::MembershipChangeInPartial));
    // A Remove proposal in the T group alone: refused, not cached.
    let target = s[2].t_group().own_leaf();
    let (t, _) = s[0].raw_groups_mut();
    let remove = t
        .propose(Proposal::Remove(mlsx_base::codec::Remove { removed: target }), b"")
        .unwrap();
    refused(&mut s, &remove, |e| matches!(e, Error::MembershipChangeInPartial));
    assert!(s[1].t_group().pending_proposals().is_empty());
    // An APQInfo update in the T group alone.
    let e = mlsx_extensions::Extensions::new();
    let upd = e
        .app_data_update(0x0006, mlsx_base::codec::encode(&ApqInfoUpdate::NewTEpoch(99)).unwrap())
        .unwrap();
    let (t, _) = s[0].raw_groups_mut();
    let proposal = t.propose(upd, b"").unwrap();
    refused(&mut s, &proposal, |e| matches!(e, Error::ApqInfoInPartial));
    // Bob's PARTIAL commit still goes through (nothing stuck in his cache).
    let out = s[1].partial_commit(vec![]).unwrap();
    s[1].confirm().unwrap();
    for i in [0, 2] {
        // Alice cached her own proposals; she drops them by following Bob.
        let r = s[i].process(&out.message);
        assert!(matches!(r, Ok(ApqReceived::Partial)), "{r:?}");
    }
    assert_agree(&s);
    // A joiner whose first commit has not been made yet.
    let dave = ApqClient::new(setup.clone(), b"dave").unwrap();
    let (kp, bundles) = dave.key_packages().unwrap();
    let out = s[0].add(vec![kp]).unwrap();
    s[0].confirm().unwrap();
    deliver(&mut s, 0, &out.message);
    s.push(dave.join(&out.welcome.unwrap(), bundles).unwrap());
    let out = s[1].full_commit(vec![], vec![]).unwrap();
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    assert_eq!(s[3].next_kind(false), CommitKind::Full);
    assert_agree(&s);
}

/// §3: a traditional group that has been running becomes a session: the
/// upgrading member creates the PQ group (APQInfo in its GroupContext),
/// Welcomes the others into it, and makes the first FULL commit.
#[test]
fn upgrade_of_a_running_traditional_group() {
    for setup in setups() {
        let mut alice = ApqClient::new(setup.clone(), b"alice")
            .unwrap()
            .create_upgradable(b"T".to_vec())
            .unwrap();
        let others: Vec<ApqClient> = ["bob", "carol"]
            .iter()
            .map(|n| ApqClient::new(setup.clone(), n.as_bytes()).unwrap())
            .collect();
        let bundles: Vec<_> = others.iter().map(|c| c.t_key_package().unwrap()).collect();
        let out = alice
            .t_group_mut()
            .commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))
            .unwrap();
        alice.t_group_mut().merge_pending_commit().unwrap();
        let welcome = out.welcome.unwrap();
        let mut members: Vec<_> = others
            .into_iter()
            .zip(bundles)
            .map(|(c, b)| c.join_upgradable(&welcome, b).unwrap())
            .collect();
        // Ordinary traditional traffic first.
        let out = members[0].t_group_mut().commit(CommitOptions::default()).unwrap();
        members[0].t_group_mut().merge_pending_commit().unwrap();
        for g in [alice.t_group_mut(), members[1].t_group_mut()] {
            let mlsx_base::group::Received::Commit(staged) = g.process_message(&out.commit).unwrap() else {
                panic!()
            };
            g.merge_staged_commit(staged).unwrap();
        }
        // The upgrade.
        let pq_bundles: Vec<_> = members.iter().map(|m| m.pq_key_package().unwrap()).collect();
        let (mut a, up) = alice
            .upgrade(b"PQ".to_vec(), pq_bundles.iter().map(|b| b.key_package.clone()).collect())
            .unwrap();
        let mut sessions: Vec<ApqSession> = members
            .into_iter()
            .zip(pq_bundles)
            .map(|(m, b)| m.accept_upgrade(&up.pq_welcome, b).unwrap())
            .collect();
        a.confirm().unwrap();
        for s in &mut sessions {
            assert!(matches!(
                s.process(&up.full_commit.message).unwrap(),
                ApqReceived::Full { removed_self: false }
            ));
        }
        sessions.insert(0, a);
        assert_agree(&sessions);
        let info = sessions[1].info().unwrap();
        assert_eq!((info.t_epoch, info.pq_epoch), epochs(&sessions[1]));
        // And it runs as any session.
        let out = sessions[2].partial_commit(vec![]).unwrap();
        sessions[2].confirm().unwrap();
        deliver(&mut sessions, 2, &out.message);
        let out = sessions[1].full_commit(vec![], vec![]).unwrap();
        sessions[1].confirm().unwrap();
        deliver(&mut sessions, 1, &out.message);
        assert_agree(&sessions);
    }
}

/// The last checklist items: a pair carrying application content, a pair
/// naming `apq_message_pair` itself, mixed content types, and APQInfo's
/// `bool mode` byte (0 or 1 only, gap 1).
#[test]
fn malformed_pairs_and_mode_bytes() {
    use mlsx_base::codec::{FramedContent, FramedContentAuthData, FramedContentBody, PublicMessage, Sender, VLBytes};
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    let honest = s[0].full_commit(vec![], vec![]).unwrap();
    let p = pair(&honest.message);
    // Application content in a PublicMessage pair (which RFC 9420 forbids
    // anyway): refused before either group sees it.
    let app = |group: &mlsx_base::group::Group| {
        MlsMessage::new(MlsMessageBody::PublicMessage(PublicMessage {
            content: FramedContent {
                group_id: group.context().group_id.clone(),
                epoch: group.epoch(),
                sender: Sender::Member(mlsx_base::tree::math::LeafIndex(0)),
                authenticated_data: VLBytes::default(),
                body: FramedContentBody::Application(VLBytes::new(b"secret".to_vec())),
            },
            auth: FramedContentAuthData {
                signature: VLBytes::new(vec![0; 64]),
                confirmation_tag: None,
            },
            membership_tag: Some(vec![0u8; 32].into()),
        }))
    };
    let bad = ApqMessagePair {
        wire_format: WireFormat::PUBLIC_MESSAGE,
        t_message: app(s[1].t_group()),
        pq_message: app(s[1].pq_group()),
    };
    // mls-base's codec already refuses to decode a PublicMessage of
    // application content; the session's own check is the second line.
    refused(&mut s, &bad.to_message().unwrap(), |e| {
        matches!(
            e,
            Error::ApplicationInPair | Error::Codec(_) | Error::Base(mlsx_base::Error::Codec(_))
        )
    });
    // A commit with a proposal.
    let (t, _) = s[2].raw_groups_mut();
    let proposal = t.propose_update().unwrap();
    let mixed = ApqMessagePair {
        t_message: proposal,
        ..p.clone()
    };
    refused(&mut s, &mixed.to_message().unwrap(), |e| matches!(e, Error::MixedPair));
    // A pair that names apq_message_pair as its inner format.
    let inner = p.to_message().unwrap();
    let nested = ApqMessagePair {
        wire_format: mlsx_combiner::APQ_MESSAGE_PAIR,
        t_message: inner.clone(),
        pq_message: inner,
    };
    refused(&mut s, &nested.to_message().unwrap(), |e| matches!(e, Error::InnerWireFormat(_)));
    // mode: one byte, 0 or 1.
    let info = s[1].info().unwrap();
    let mut bytes = mlsx_base::codec::encode(&info).unwrap();
    let at = 1 + info.t_session_group_id.as_slice().len() + 1 + info.pq_session_group_id.as_slice().len();
    assert!(bytes[at] <= 1);
    bytes[at] = 2;
    assert!(mlsx_base::codec::decode::<mlsx_combiner::ApqInfo>(&bytes).is_err());
    s[0].discard();
}

/// §3's inactivity rule: a member whose own last FULL commit is older than
/// the threshold is inactive and is removed by a FULL commit; the others
/// (and the committer) are not.
#[test]
fn inactive_members_are_removed() {
    let mut setup = setups().remove(0);
    setup.policy = FullCommitPolicy {
        every: 1,
        max_age_seconds: None,
        inactive_after_seconds: Some(1),
    };
    let mut s = session(&setup, 3);
    assert!(s[0].inactive_members().is_empty());
    std::thread::sleep(std::time::Duration::from_millis(2100));
    // Bob makes a FULL commit; Carol stays silent.
    let out = s[1].full_commit(vec![], vec![]).unwrap();
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    let carol = s[2].t_group().identity().credential.clone();
    assert_eq!(s[0].inactive_members(), vec![carol]);
    // The state survives a save and load.
    let saved = s[0].save().unwrap();
    s[0] = ApqSession::load(setup.clone(), &saved).unwrap();
    let out = s[0].remove_inactive().unwrap().unwrap();
    s[0].confirm().unwrap();
    let got = deliver(&mut s, 0, &out.message);
    assert!(matches!(got[2], Some(ApqReceived::Full { removed_self: true })));
    s.remove(2);
    assert_agree(&s);
    assert!(s[0].remove_inactive().unwrap().is_none());
}

/// Gap 5: ReInit (and SelfRemove, which has no handler in a session) is not
/// part of a hybrid session: refused when sending, refused alone in the T
/// group, refused inside a pair.
#[test]
fn reinit_and_self_remove_are_not_part_of_a_session() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    settle(&mut s);
    let reinit = |g: &mlsx_base::group::Group| {
        Proposal::ReInit(mlsx_base::codec::ReInit {
            group_id: mlsx_base::codec::VLBytes::new(b"new".to_vec()),
            version: mlsx_base::codec::ProtocolVersion::MLS10,
            cipher_suite: g.cipher_suite(),
            extensions: vec![],
        })
    };
    let r = reinit(s[0].t_group());
    assert!(matches!(
        s[0].partial_commit(vec![r.clone()]),
        Err(Error::UnsupportedInSession("ReInit"))
    ));
    assert!(matches!(
        s[0].full_commit(vec![r], vec![]),
        Err(Error::UnsupportedInSession("ReInit"))
    ));
    // A ReInit proposal in the T group alone is refused and not cached.
    let (t, _) = s[0].raw_groups_mut();
    let r = reinit(t);
    let proposal = t.propose(r, b"").unwrap();
    refused(&mut s, &proposal, |e| matches!(e, Error::UnsupportedInSession("ReInit")));
    assert!(s[1].t_group().pending_proposals().is_empty());
    // SelfRemove (0x000a) would remove a member from one group only: it is
    // refused when sending and, alone in the T group, when received (never
    // cached), so no commit of either kind can include it.
    let self_remove = Proposal::Custom(mlsx_base::codec::CustomProposal::new(
        mlsx_base::codec::ProposalType(0x000a),
        vec![],
    ));
    assert!(matches!(
        s[2].partial_commit(vec![self_remove.clone()]),
        Err(Error::UnsupportedInSession("SelfRemove"))
    ));
    assert!(matches!(
        s[2].full_commit(vec![self_remove.clone()], vec![]),
        Err(Error::UnsupportedInSession("SelfRemove"))
    ));
    let (t, _) = s[2].raw_groups_mut();
    let request = t.propose(self_remove, b"").unwrap();
    refused(&mut s, &request, |e| matches!(e, Error::UnsupportedInSession("SelfRemove")));
    assert!(s[1].t_group().pending_proposals().is_empty());
    let out = s[2].partial_commit(vec![]).unwrap();
    s[2].confirm().unwrap();
    for i in [0, 1] {
        assert!(matches!(s[i].process(&out.message), Ok(ApqReceived::Partial)));
    }
    assert_agree(&s);
}

/// A FULL-looking pair made by member `m` directly on its two groups: the
/// APQInfo updates of a FULL commit in both, but no apq_psk in the T
/// commit. Both commits stay pending in `m`'s groups.
fn pair_without_apq_psk(m: &mut ApqSession, wire_format: WireFormat) -> ApqMessagePair {
    let info = s_info_epochs(m);
    let e = mlsx_extensions::Extensions::new();
    let updates = [ApqInfoUpdate::NewTEpoch(info.0 + 1), ApqInfoUpdate::NewPqEpoch(info.1 + 1)];
    let mk = || -> Vec<Proposal> {
        updates
            .iter()
            .map(|u| e.app_data_update(0x0006, mlsx_base::codec::encode(u).unwrap()).unwrap())
            .collect()
    };
    let (t, pq_g) = m.raw_groups_mut();
    let commit = |g: &mut mlsx_base::group::Group| {
        g.commit(CommitOptions {
            proposals: mk(),
            ..CommitOptions::default()
        })
        .unwrap()
        .commit
    };
    let pq_message = commit(pq_g);
    ApqMessagePair {
        wire_format,
        t_message: commit(t),
        pq_message,
    }
}

/// A refusal that leaves member 1's whole saved state, ratchets included,
/// byte for byte as it was.
fn refused_unchanged(s: &mut [ApqSession], msg: &MlsMessage, ok: impl Fn(&Error) -> bool) {
    let before = s[1].save().unwrap();
    let err = s[1].process(msg).unwrap_err();
    assert!(ok(&err), "{err:?}");
    assert_eq!(*s[1].save().unwrap(), *before, "state changed by a refused message");
}

/// §6: the halves of a pair may be PrivateMessages. Members sending
/// encrypted handshakes and members sending PublicMessages follow each
/// other; refusals leave the state untouched although decrypting consumed
/// a key.
#[test]
fn pairs_of_private_messages() {
    for mut setup in setups() {
        setup.private_handshake = true;
        let mut s = session(&setup, 3);
        settle(&mut s);
        // A FULL commit by Bob is a pair of PrivateMessages.
        let out = s[1].full_commit(vec![], vec![]).unwrap();
        let p = pair(&out.message);
        assert_eq!(p.wire_format, WireFormat::PRIVATE_MESSAGE);
        assert!(matches!(p.t_message.body, MlsMessageBody::PrivateMessage(_)));
        assert!(matches!(p.pq_message.body, MlsMessageBody::PrivateMessage(_)));
        s[1].confirm().unwrap();
        deliver(&mut s, 1, &out.message);
        assert_agree(&s);
        // A PARTIAL commit by Carol is one PrivateMessage.
        let out = s[2].partial_commit(vec![]).unwrap();
        assert!(matches!(out.message.body, MlsMessageBody::PrivateMessage(_)));
        s[2].confirm().unwrap();
        assert!(
            deliver(&mut s, 2, &out.message)
                .into_iter()
                .flatten()
                .all(|r| matches!(r, ApqReceived::Partial))
        );
        assert_agree(&s);

        // Dave sends PublicMessages; he joins by a private pair's Welcome
        // and the others follow his public pairs.
        let mut public = setup.clone();
        public.private_handshake = false;
        let dave = ApqClient::new(public, b"dave").unwrap();
        let (kp, bundles) = dave.key_packages().unwrap();
        let out = s[0].add(vec![kp]).unwrap();
        s[0].confirm().unwrap();
        deliver(&mut s, 0, &out.message);
        s.push(dave.join(&out.welcome.unwrap(), bundles).unwrap());
        let out = s[3].full_commit(vec![], vec![]).unwrap();
        assert_eq!(pair(&out.message).wire_format, WireFormat::PUBLIC_MESSAGE);
        s[3].confirm().unwrap();
        deliver(&mut s, 3, &out.message);
        assert_agree(&s);

        // A private T commit without apq_psk, paired with a PQ commit:
        // found only once the T commit is decrypted and staged.
        let no_psk = pair_without_apq_psk(&mut s[0], WireFormat::PRIVATE_MESSAGE);
        refused_unchanged(&mut s, &no_psk.to_message().unwrap(), |e| matches!(e, Error::MissingApqPsk));
        let (t, pq_g) = s[0].raw_groups_mut();
        t.clear_pending_commit();
        pq_g.clear_pending_commit();

        // A private Remove proposal in the T group alone: refused after
        // decryption, and the consumed key is given back.
        let target = s[2].t_group().own_leaf();
        let (t, _) = s[0].raw_groups_mut();
        let remove = t
            .propose(Proposal::Remove(mlsx_base::codec::Remove { removed: target }), b"")
            .unwrap();
        assert!(matches!(remove.body, MlsMessageBody::PrivateMessage(_)));
        refused_unchanged(&mut s, &remove, |e| matches!(e, Error::MembershipChangeInPartial));
        let (t, _) = s[0].raw_groups_mut();
        let cached: Vec<_> = t.pending_proposals().iter().map(|c| c.reference.clone()).collect();
        for r in &cached {
            t.discard_pending_proposal(r);
        }

        // Alice removes Bob with a private pair; Bob learns it.
        let bob = s[1].t_group().identity().credential.clone();
        let out = s[0].remove(&[bob]).unwrap();
        s[0].confirm().unwrap();
        let got = deliver(&mut s, 0, &out.message);
        assert!(matches!(got[1], Some(ApqReceived::Full { removed_self: true })));
        s.remove(1);
        assert_agree(&s);
    }
}

/// Fig. 1b: Bob sends a pair of Update proposals; whoever commits next
/// makes a FULL commit taking both (a pair of proposals is mlsx's FULL
/// request, gap 4). A pair whose T half fails leaves the PQ group as it
/// was.
#[test]
fn a_pair_of_update_proposals_is_committed_by_a_full_commit() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        // Member 2 proposes.
        let bob_keys = |s: &ApqSession| {
            let t = s
                .t_group()
                .tree()
                .leaf(s.t_leaf_of(&s.t_group().identity().credential).unwrap())
                .unwrap()
                .encryption_key
                .clone();
            let pq_leaf = s.pq_group().member_by_credential(&s.t_group().identity().credential).unwrap();
            (t, s.pq_group().tree().leaf(pq_leaf).unwrap().encryption_key.clone())
        };
        let before = bob_keys(&s[2]);
        let proposals = s[2].propose_update_pair().unwrap();
        assert_eq!(pair(&proposals).wire_format, WireFormat::PUBLIC_MESSAGE);
        assert_eq!(s[2].next_kind(false), CommitKind::Full);
        for i in [0, 1] {
            assert!(matches!(s[i].process(&proposals).unwrap(), ApqReceived::Proposal));
            assert_eq!(s[i].next_kind(false), CommitKind::Full);
        }
        // Alice may not take the request with a PARTIAL commit.
        assert!(matches!(s[0].partial_commit(vec![]), Err(Error::FullCommitRequested)));
        let out = s[0].commit(vec![]).unwrap();
        assert_eq!(out.kind, CommitKind::Full);
        s[0].confirm().unwrap();
        deliver(&mut s, 0, &out.message);
        assert_agree(&s);
        let after = bob_keys(&s[2]);
        assert_ne!(after.0, before.0, "T leaf not updated");
        assert_ne!(after.1, before.1, "PQ leaf not updated");
        assert!(s[1].pq_group().pending_proposals().is_empty());
        assert_eq!(s[0].next_kind(false), setup.policy.decide(false, 0, 0, false));

        // Member 2's next pair goes stale in the T group only (a PARTIAL
        // commit by member 0, who never saw it, moves the T epoch); member 1
        // takes its PQ half, fails on the T half, and its PQ group is
        // restored.
        let stale = s[2].propose_update_pair().unwrap();
        let out = s[0].partial_commit(vec![]).unwrap();
        s[0].confirm().unwrap();
        deliver(&mut s, 0, &out.message);
        refused_unchanged(&mut s, &stale, |e| matches!(e, Error::Base(_)));
        assert!(s[1].pq_group().pending_proposals().is_empty());
    }
}

/// §6 MUST: both GroupContexts list apq_message_pair in
/// required_wire_formats. A FULL commit whose T half drops it is refused
/// by its sender and, forced out, by every receiver.
#[test]
fn the_pair_wire_format_stays_required() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    let cp = mlsx_extensions::Extensions::new().code_points();
    for g in [s[1].t_group(), s[1].pq_group()] {
        let required = g
            .context()
            .extensions
            .iter()
            .find(|e| e.extension_type == cp.required_wire_formats)
            .expect("required_wire_formats");
        let formats: mlsx_extensions::WireFormats = mlsx_base::codec::decode(required.extension_data.as_slice()).unwrap();
        assert!(formats.wire_formats.contains(&mlsx_combiner::APQ_MESSAGE_PAIR));
    }
    let kept: Vec<_> = s[0]
        .t_group()
        .context()
        .extensions
        .iter()
        .filter(|e| e.extension_type != cp.required_wire_formats)
        .cloned()
        .collect();
    let gce = Proposal::GroupContextExtensions(mlsx_base::codec::GroupContextExtensions { extensions: kept });
    assert!(matches!(
        s[0].full_commit(vec![gce.clone()], vec![]),
        Err(Error::PairNotRequired("T"))
    ));
    let (t, pq) = epochs(&s[0]);
    let updates = vec![ApqInfoUpdate::NewTEpoch(t + 1), ApqInfoUpdate::NewPqEpoch(pq + 1)];
    let forced = s[0].full_commit_with_updates(vec![gce.clone()], vec![], Some(updates)).unwrap();
    refused_unchanged(&mut s, &forced.message, |e| matches!(e, Error::PairNotRequired("T")));
    s[0].discard();
    // The same GroupContextExtensions in a PARTIAL commit.
    assert!(matches!(s[0].partial_commit(vec![gce.clone()]), Err(Error::PairNotRequired("T"))));
    let (t, _) = s[0].raw_groups_mut();
    let forced = t
        .commit(CommitOptions {
            proposals: vec![gce],
            ..CommitOptions::default()
        })
        .unwrap();
    t.clear_pending_commit();
    // Received, its GroupContextExtensions is refused before the commit is
    // staged (a T-only proposal may not change APQInfo or the pair rule).
    refused_unchanged(&mut s, &forced.commit, |e| matches!(e, Error::ApqInfoInPartial));
    let out = s[0].full_commit(vec![], vec![]).unwrap();
    s[0].confirm().unwrap();
    deliver(&mut s, 0, &out.message);
    assert_agree(&s);
}

/// §3.2.1: a joiner refuses a Welcome pair whose T Welcome does not name
/// apq_psk, and one whose halves come from two different sessions.
#[test]
fn a_joiner_refuses_bad_welcome_pairs() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 2);
    let dave = || ApqClient::new(setup.clone(), b"dave").unwrap();

    // Both Welcomes made directly by the groups, the T one without apq_psk.
    let (kp, bundles) = dave().key_packages().unwrap();
    let (t, pq) = s[0].raw_groups_mut();
    let pq_out = pq.commit(CommitOptions::add(vec![kp.pq])).unwrap();
    let t_out = t.commit(CommitOptions::add(vec![kp.t])).unwrap();
    t.clear_pending_commit();
    pq.clear_pending_commit();
    let no_psk = ApqMessagePair {
        wire_format: WireFormat::WELCOME,
        t_message: t_out.welcome.unwrap(),
        pq_message: pq_out.welcome.unwrap(),
    };
    let e = dave().join(&no_psk.to_message().unwrap(), bundles).unwrap_err();
    assert!(matches!(e, Error::MissingApqPsk), "{e:?}");

    // The T Welcome of this session with the PQ Welcome of another: the
    // apq_psk the joiner derives is not the one the T Welcome names.
    let other_alice = ApqClient::new(setup.clone(), b"member0").unwrap();
    let mut other = other_alice.create_session(b"other T".to_vec(), b"other PQ".to_vec()).unwrap();
    let client = dave();
    let (kp1, b1) = client.key_packages().unwrap();
    let (kp2, b2) = client.key_packages().unwrap();
    let w1 = s[0].add(vec![kp1]).unwrap().welcome.unwrap();
    s[0].discard();
    let w2 = other.add(vec![kp2]).unwrap().welcome.unwrap();
    let mixed = ApqMessagePair {
        wire_format: WireFormat::WELCOME,
        t_message: ApqMessagePair::from_message(&w1).unwrap().t_message,
        pq_message: ApqMessagePair::from_message(&w2).unwrap().pq_message,
    };
    let e = client
        .join(
            &mixed.to_message().unwrap(),
            mlsx_combiner::ApqKeyPackageBundles { t: b1.t, pq: b2.pq },
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::Base(mlsx_base::Error::Peer(mlsx_base::PeerError::MissingPsk))),
        "{e:?}"
    );
}

/// §6 through mls-base's wire-format hook: a session's group opens a pair
/// (`PairHandler`) into its two messages without changing; the session
/// then applies them to both groups.
#[test]
fn a_group_opens_a_pair_through_the_wire_format_hook() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    let out = s[0].full_commit(vec![], vec![]).unwrap();
    let p = pair(&out.message);
    let before = epochs(&s[1]);
    let (t, _) = s[1].raw_groups_mut();
    let mlsx_base::group::Received::Envelope { wire_format, envelope } = t.process_message(&out.message).unwrap() else {
        panic!("not an envelope")
    };
    assert_eq!(wire_format, mlsx_combiner::APQ_MESSAGE_PAIR);
    assert_eq!(envelope.inner, vec![p.t_message.clone(), p.pq_message.clone()]);
    assert_eq!(epochs(&s[1]), before);
    // A pair naming itself as inner format fails in the hook, with the
    // session's own error.
    let mut bad = p.clone();
    bad.wire_format = mlsx_combiner::APQ_MESSAGE_PAIR;
    let (t, _) = s[1].raw_groups_mut();
    let e = mlsx_combiner::Error::from(t.process_message(&bad.to_message().unwrap()).unwrap_err());
    assert!(matches!(e, Error::InnerWireFormat(_)), "{e:?}");
    s[0].confirm().unwrap();
    deliver(&mut s, 0, &out.message);
    assert_agree(&s);
}
