//! Hostile input to hybrid sessions: nested pairs (a megabyte of pairs in
//! pairs, decoded on a 256 KiB stack), pairs of proposals that a FULL
//! commit could not take (each refused with both groups unchanged, and
//! followed by a FULL commit that succeeds), the policy's own checks and
//! the joiner's first-commit rule.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use mlsx_base::codec::{
    CipherSuite, DeserializeBytes, MlsMessage, MlsMessageBody, Proposal, ProtocolVersion, ReInit, Remove, TlsSerializeTrait, VLBytes,
    WireFormat, decode,
};
use mlsx_base::crypto::CryptoProvider;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_combiner::{ApqClient, ApqMessagePair, ApqReceived, ApqSession, ApqSetup, CommitKind, Error, FullCommitPolicy, Mode};
use mlsx_extensions::{APQ_MLS_INFO, Extensions};
use mlsx_pq_suites::PqSuite;

fn setup() -> ApqSetup {
    let t = RustCryptoProvider::new().cipher_suite_provider(CipherSuite(1)).unwrap();
    ApqSetup::new(t, PqSuite::Tbd6.provider().unwrap(), Mode::ConfidentialityOnly).unwrap()
}

/// Alice creates a session and adds `n - 1` others; everyone then makes
/// one FULL commit so that nobody is a fresh joiner.
fn session(setup: &ApqSetup, n: usize) -> Vec<ApqSession> {
    let alice = ApqClient::new(setup.clone(), b"member0").unwrap();
    let mut a = alice.create_session(b"T group".to_vec(), b"PQ group".to_vec()).unwrap();
    let clients: Vec<ApqClient> = (1..n)
        .map(|i| ApqClient::new(setup.clone(), format!("member{i}").as_bytes()).unwrap())
        .collect();
    let kps: Vec<_> = clients.iter().map(|c| c.key_packages().unwrap()).collect();
    let out = a.add(kps.iter().map(|(p, _)| p.clone()).collect()).unwrap();
    a.confirm().unwrap();
    let welcome = out.welcome.unwrap();
    let mut all = vec![a];
    for (c, (_, b)) in clients.into_iter().zip(kps) {
        all.push(c.join(&welcome, b).unwrap());
    }
    all
}

fn deliver(s: &mut [ApqSession], from: usize, msg: &MlsMessage) {
    for (i, x) in s.iter_mut().enumerate() {
        if i != from {
            x.process(msg).unwrap_or_else(|e| panic!("member {i} from {from}: {e:?}"));
        }
    }
}

fn assert_agree(s: &[ApqSession]) {
    for x in s {
        assert_eq!(x.t_group().epoch_authenticator(), s[0].t_group().epoch_authenticator());
        assert_eq!(x.pq_group().epoch_authenticator(), s[0].pq_group().epoch_authenticator());
    }
}

/// A FULL commit by `from`, confirmed and processed by all.
fn full(s: &mut [ApqSession], from: usize) {
    let out = s[from].full_commit(vec![], vec![]).unwrap();
    assert_eq!(out.kind, CommitKind::Full);
    s[from].confirm().unwrap();
    deliver(s, from, &out.message);
    assert_agree(s);
}

fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().unwrap()
}

/// `MLSMessage { mls10, apq_message_pair, APQMessagePair { wire_format, t, pq } }`
/// nested a megabyte deep in its T half.
fn nested_pairs(inner_format: u16) -> Vec<u8> {
    let level = [&[0u8, 1, 0, 7][..], &inner_format.to_be_bytes()].concat();
    let mut out = level.repeat((1 << 20) / level.len());
    out.extend_from_slice(&[0, 1, 0, 5]);
    out
}

#[test]
fn a_megabyte_of_nested_pairs_is_refused_on_a_small_stack() {
    mlsx_combiner::register_syntax();
    let mut s = session(&setup(), 2).remove(1);
    let errors = on_small_stack(move || {
        // As the pair's own format (the attack), and as a base
        // format with a pair inside (refused before it is decoded).
        let mut errors = vec![];
        for format in [0x0007u16, 0x0001] {
            let bytes = nested_pairs(format);
            errors.push(format!("{:?}", decode::<MlsMessage>(&bytes).unwrap_err()));
            errors.push(format!("{:?}", MlsMessage::tls_deserialize_bytes(&bytes).unwrap_err()));
            errors.push(format!("{:?}", ApqMessagePair::tls_deserialize_bytes(&bytes[4..]).unwrap_err()));
        }
        // A pair whose halves are pairs, built by hand and handed to the
        // session and to a group's wire-format hook: refused, no abort.
        let inner = MlsMessage::new(MlsMessageBody::Custom(mlsx_base::codec::CustomBody {
            wire_format: mlsx_combiner::APQ_MESSAGE_PAIR,
            body: vec![0; 8],
        }));
        let outer = ApqMessagePair {
            wire_format: mlsx_combiner::APQ_MESSAGE_PAIR,
            t_message: inner.clone(),
            pq_message: inner,
        };
        let msg = MlsMessage::new(MlsMessageBody::Custom(mlsx_base::codec::CustomBody {
            wire_format: mlsx_combiner::APQ_MESSAGE_PAIR,
            body: outer.tls_serialize_detached().unwrap(),
        }));
        errors.push(format!("{:?}", s.process(&msg).unwrap_err()));
        errors.push(format!("{:?}", s.raw_groups_mut().0.process_message(&msg).unwrap_err()));
        errors
    });
    assert!(errors[0].contains("inner wire format"), "{errors:?}");
    assert!(errors.iter().all(|e| !e.is_empty()));
}

#[test]
fn pairs_do_not_hold_pairs() {
    mlsx_combiner::register_syntax();
    let mut s = session(&setup(), 3);
    let honest = s[0].full_commit(vec![], vec![]).unwrap();
    let MlsMessageBody::Custom(c) = &honest.message.body else {
        panic!()
    };
    // The honest pair decodes; the same pair with its inner format field
    // or either message's format changed to the pair's own is refused
    // while decoding.
    ApqMessagePair::tls_deserialize_exact_bytes(&c.body).unwrap();
    // Every truncation of it is refused, and so is any trailing byte.
    for n in 0..c.body.len() {
        assert!(
            ApqMessagePair::tls_deserialize_exact_bytes(&c.body[..n]).is_err(),
            "prefix of {n} bytes"
        );
    }
    assert!(ApqMessagePair::tls_deserialize_exact_bytes(&[c.body.as_slice(), &[0]].concat()).is_err());
    let mut field = c.body.clone();
    field[..2].copy_from_slice(&[0, 7]);
    assert!(ApqMessagePair::tls_deserialize_exact_bytes(&field).is_err());
    let mut inner = c.body.clone();
    inner[4..6].copy_from_slice(&[0, 7]);
    assert!(ApqMessagePair::tls_deserialize_exact_bytes(&inner).is_err());
    s[0].discard();
}

/// An AppDataUpdate proposal (`update`) for `component`.
fn app_data_update(component: u16, data: &[u8]) -> Proposal {
    Extensions::new().app_data_update(component, data.to_vec()).unwrap()
}

/// Member 2 sends the pair `(t, pq)` of proposals; member 1 refuses it
/// with the expected error and both of its groups stay byte-identical;
/// then member 1 makes a FULL commit that every member takes.
fn refused_pair(s: &mut [ApqSession], t: Proposal, pq: Proposal, ok: impl Fn(&Error) -> bool) {
    let (tg, pqg) = s[2].raw_groups_mut();
    let t_msg = tg.propose(t, &[]).unwrap();
    let pq_msg = pqg.propose(pq, &[]).unwrap();
    let pair = ApqMessagePair {
        wire_format: WireFormat::PUBLIC_MESSAGE,
        t_message: t_msg,
        pq_message: pq_msg,
    }
    .to_message()
    .unwrap();
    let before = s[1].save().unwrap();
    let err = s[1].process(&pair).unwrap_err();
    assert!(ok(&err), "{err:?}");
    assert_eq!(*s[1].save().unwrap(), *before, "state changed by a refused pair");
    common::observer_agrees(&s[1], &pair, &err);
    assert!(s[1].pq_group().pending_proposals().is_empty());
    assert_eq!(s[1].next_kind(false), CommitKind::Partial, "the refused pair forces nothing");
    full(s, 1);
}

/// Member `i`'s leaf in member 2's T (or PQ) group.
fn leaf(s: &[ApqSession], i: usize, pq: bool) -> mlsx_base::tree::math::LeafIndex {
    let who = s[i].t_group().identity().credential.clone();
    let g = if pq { s[2].pq_group() } else { s[2].t_group() };
    g.member_by_credential(&who).unwrap()
}

#[test]
fn proposal_pairs_are_checked_like_full_commits() {
    let setup = setup();
    let mut s = session(&setup, 4);
    full(&mut s, 1);
    full(&mut s, 2);
    let reinit = |g: &mlsx_base::group::Group| {
        Proposal::ReInit(ReInit {
            group_id: VLBytes::new(b"next".to_vec()),
            version: ProtocolVersion::MLS10,
            cipher_suite: g.cipher_suite(),
            extensions: vec![],
        })
    };
    let (r_t, r_pq) = (reinit(s[2].t_group()), reinit(s[2].pq_group()));
    refused_pair(&mut s, r_t, r_pq, |e| matches!(e, Error::UnsupportedInSession("ReInit")));
    // An APQInfo update outside a FULL commit.
    let info = app_data_update(APQ_MLS_INFO, &[1, 2, 3]);
    refused_pair(&mut s, info.clone(), info, |e| matches!(e, Error::ApqInfoInProposal));
    // Adds of two different clients.
    let x = ApqClient::new(setup.clone(), b"x").unwrap().key_packages().unwrap().0;
    let y = ApqClient::new(setup.clone(), b"y").unwrap().key_packages().unwrap().0;
    refused_pair(
        &mut s,
        Proposal::Add(mlsx_base::codec::Add::new(x.t.clone())),
        Proposal::Add(mlsx_base::codec::Add::new(y.pq)),
        |e| matches!(e, Error::ProposalPairDiffers("added members")),
    );
    // Removes of two different members.
    let (t0, pq3) = (leaf(&s, 0, false), leaf(&s, 3, true));
    refused_pair(
        &mut s,
        Proposal::Remove(Remove { removed: t0 }),
        Proposal::Remove(Remove { removed: pq3 }),
        |e| matches!(e, Error::ProposalPairDiffers("removed members")),
    );
    // Different proposal types.
    let pq0 = leaf(&s, 0, true);
    refused_pair(
        &mut s,
        Proposal::Add(mlsx_base::codec::Add::new(x.t)),
        Proposal::Remove(Remove { removed: pq0 }),
        |e| matches!(e, Error::ProposalPairDiffers("proposal types")),
    );
    // SelfRemove: refused in sessions (it would remove a member from one
    // group only).
    let self_remove = Proposal::Custom(mlsx_base::codec::CustomProposal {
        proposal_type: Extensions::new().code_points().self_remove,
        body: vec![],
    });
    refused_pair(&mut s, self_remove.clone(), self_remove, |e| {
        matches!(e, Error::UnsupportedInSession("SelfRemove")) || matches!(e, Error::Base(_) | Error::Extensions(_))
    });
    // The matching pair of Removes is accepted and committed by a FULL
    // commit that every remaining member takes.
    let (t3, pq3) = (leaf(&s, 3, false), leaf(&s, 3, true));
    let (tg, pqg) = s[2].raw_groups_mut();
    let pair = ApqMessagePair {
        wire_format: WireFormat::PUBLIC_MESSAGE,
        t_message: tg.propose(Proposal::Remove(Remove { removed: t3 }), &[]).unwrap(),
        pq_message: pqg.propose(Proposal::Remove(Remove { removed: pq3 }), &[]).unwrap(),
    }
    .to_message()
    .unwrap();
    for i in [0, 1, 3] {
        assert!(matches!(s[i].process(&pair).unwrap(), ApqReceived::Proposal));
    }
    let out = s[1].commit(vec![]).unwrap();
    assert_eq!(out.kind, CommitKind::Full);
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    assert!(!s[3].is_active());
    s.truncate(3);
    assert_agree(&s);
    assert_eq!(s[0].t_group().members().count(), 3);
}

#[test]
fn the_policy_is_checked_when_built_and_used() {
    let bad = [
        (0, None, None),
        (10, Some(0), None),
        (10, None, Some(3600)),
        (10, Some(3600), Some(3600)),
        (10, Some(7200), Some(3600)),
        (10, Some(10), Some(0)),
    ];
    for (every, age, inactive) in bad {
        let e = FullCommitPolicy::new(every, age, inactive).unwrap_err();
        assert!(matches!(e, Error::InvalidPolicy(_)), "{every} {age:?} {inactive:?}: {e:?}");
        // Set by hand, it is refused by every session that would use it.
        let mut setup = setup();
        setup.policy = FullCommitPolicy {
            every,
            max_age_seconds: age,
            inactive_after_seconds: inactive,
        };
        assert!(matches!(ApqClient::new(setup, b"a"), Err(Error::InvalidPolicy(_))));
    }
    for (every, age, inactive) in [
        (1, None, Some(60)),
        (10, Some(60), Some(3600)),
        (10, None, None),
        (3, Some(1), None),
    ] {
        FullCommitPolicy::new(every, age, inactive).unwrap();
    }
}

#[test]
fn a_joiners_first_commit_is_full() {
    let mut s = session(&setup(), 3);
    // Member 2 joined by a Welcome: PARTIAL is refused until its first
    // FULL commit, which commit() picks.
    assert!(matches!(s[2].partial_commit(vec![]), Err(Error::FirstCommitMustBeFull)));
    assert_eq!(s[2].next_kind(false), CommitKind::Full);
    let out = s[2].commit(vec![]).unwrap();
    assert_eq!(out.kind, CommitKind::Full);
    s[2].confirm().unwrap();
    deliver(&mut s, 2, &out.message);
    let out = s[2].partial_commit(vec![]).unwrap();
    assert_eq!(out.kind, CommitKind::Partial);
    s[2].confirm().unwrap();
    deliver(&mut s, 2, &out.message);
    assert_agree(&s);
}

/// Member 2's pair of proposals `(t, pq)`, as sent.
fn pair_of(s: &mut [ApqSession], from: usize, t: Proposal, pq: Proposal) -> MlsMessage {
    let (tg, pqg) = s[from].raw_groups_mut();
    ApqMessagePair {
        wire_format: WireFormat::PUBLIC_MESSAGE,
        t_message: tg.propose(t, &[]).unwrap(),
        pq_message: pqg.propose(pq, &[]).unwrap(),
    }
    .to_message()
    .unwrap()
}

/// Pairs that pass the receipt checks but cannot all be committed
/// together (the same member removed by two members, the committer
/// removed) never block the next commit: the committer drops them (RFC
/// 9420 §12.2) and its FULL commit goes through; a replayed pair is
/// refused on receipt.
#[test]
fn cached_pairs_never_block_the_next_commit() {
    let setup = setup();
    let mut s = session(&setup, 4);
    for i in 1..4 {
        full(&mut s, i);
    }
    // Members 2 and 3 each propose removing member 0: both pairs are
    // valid alone, not together.
    let (t0, pq0) = (leaf(&s, 0, false), leaf(&s, 0, true));
    let by_2 = pair_of(
        &mut s,
        2,
        Proposal::Remove(Remove { removed: t0 }),
        Proposal::Remove(Remove { removed: pq0 }),
    );
    let by_3 = pair_of(
        &mut s,
        3,
        Proposal::Remove(Remove { removed: t0 }),
        Proposal::Remove(Remove { removed: pq0 }),
    );
    for p in [&by_2, &by_3] {
        assert!(matches!(s[1].process(p).unwrap(), ApqReceived::Proposal));
    }
    // The same pair again: a replay, refused with the state unchanged.
    let before = s[1].save().unwrap();
    let e = s[1].process(&by_2).unwrap_err();
    assert!(
        matches!(e, Error::Base(mlsx_base::Error::Peer(mlsx_base::PeerError::ReplayedProposal))),
        "{e:?}"
    );
    assert_eq!(*s[1].save().unwrap(), *before);
    // Member 1's next commit drops both and is taken by everyone else.
    assert_eq!(s[1].next_kind(false), CommitKind::Full);
    let out = s[1].commit(vec![]).unwrap();
    assert_eq!(out.kind, CommitKind::Full);
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    assert_agree(&s);
    assert_eq!(s[0].t_group().members().count(), 4);

    // A pair removing the committer itself: dropped by it when it commits.
    let (t1, pq1) = (leaf(&s, 1, false), leaf(&s, 1, true));
    let bad = pair_of(
        &mut s,
        2,
        Proposal::Remove(Remove { removed: t1 }),
        Proposal::Remove(Remove { removed: pq1 }),
    );
    assert!(matches!(s[1].process(&bad).unwrap(), ApqReceived::Proposal));
    full(&mut s, 1);
    assert_eq!(s[0].t_group().members().count(), 4);
}

/// A T-only GroupContextExtensions proposal that drops APQInfo (or the
/// pair requirement) is refused on receipt: cached, it would make every
/// later commit of the session fail.
#[test]
fn t_only_context_changes_keep_apqinfo() {
    let mut s = session(&setup(), 3);
    full(&mut s, 1);
    full(&mut s, 2);
    let dictionary = s[2].t_group().context().extensions.clone();
    let dropped: Vec<_> = dictionary
        .iter()
        .filter(|e| e.extension_type != Extensions::new().code_points().app_data_dictionary)
        .cloned()
        .collect();
    assert!(dropped.len() < dictionary.len());
    let (tg, _) = s[2].raw_groups_mut();
    let msg = tg
        .propose(
            Proposal::GroupContextExtensions(mlsx_base::codec::GroupContextExtensions { extensions: dropped }),
            &[],
        )
        .unwrap();
    let before = s[1].save().unwrap();
    let e = s[1].process(&msg).unwrap_err();
    assert!(matches!(e, Error::ApqInfoInPartial), "{e:?}");
    assert_eq!(*s[1].save().unwrap(), *before);
    let out = s[1].partial_commit(vec![]).unwrap();
    s[1].confirm().unwrap();
    deliver(&mut s, 1, &out.message);
    assert_agree(&s);
}
