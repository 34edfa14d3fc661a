//! An observer of a hybrid session (`ApqObserver`) follows FULL and
//! PARTIAL commits, proposal pairs, adds and removals in both modes, ending
//! each epoch at the members' two GroupContexts; it refuses what the
//! session's rules forbid and it can see. (`tests/session.rs` and
//! `tests/hostile.rs` run an observer beside the member in each of their
//! refusals.)

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{session, settle, setups};
use mlsx_base::codec::{MlsMessage, Proposal, WireFormat};
use mlsx_base::group::CommitOptions;
use mlsx_combiner::{ApqClient, ApqMessagePair, ApqObserved, ApqObserver, ApqSession, Error};

/// The observer is where every member is, and accepts their GroupInfos.
fn agree(observer: &ApqObserver, s: &[ApqSession]) {
    for m in s {
        assert_eq!(observer.t_group().context(), m.t_group().context());
        assert_eq!(observer.pq_group().context(), m.pq_group().context());
        assert_eq!(observer.t_group().tree().to_nodes(), m.t_group().tree().to_nodes());
        observer.check_group_info(&m.group_info().unwrap()).unwrap();
    }
    assert_eq!(observer.info().unwrap(), s[0].info().unwrap());
}

/// `msg` from member `from` goes to the observer (which must see `kind`)
/// and to the other members.
fn deliver(observer: &mut ApqObserver, s: &mut [ApqSession], from: usize, msg: &MlsMessage, kind: ApqObserved) {
    assert_eq!(observer.process(msg).unwrap(), kind);
    common::deliver(s, from, msg);
}

/// The observer refuses `msg` as `ok` says, unchanged.
fn refuses(observer: &mut ApqObserver, msg: &MlsMessage, ok: impl Fn(&Error) -> bool) {
    let before = (observer.t_group().save().unwrap(), observer.pq_group().save().unwrap());
    let err = observer.process(msg).unwrap_err();
    assert!(ok(&err), "{err:?}");
    assert!((observer.t_group().save().unwrap(), observer.pq_group().save().unwrap()) == before);
}

#[test]
fn an_observer_follows_a_session() {
    for setup in setups() {
        let mut s = session(&setup, 3);
        let mut observer = ApqObserver::from_group_info(&setup, &s[0].group_info().unwrap()).unwrap();
        agree(&observer, &s);
        // FULL commits by the joiners, then PARTIAL ones.
        for i in 1..3 {
            let out = s[i].full_commit(vec![], vec![]).unwrap();
            s[i].confirm().unwrap();
            deliver(&mut observer, &mut s, i, &out.message, ApqObserved::Full);
        }
        agree(&observer, &s);
        for i in 0..3 {
            let out = s[i].partial_commit(vec![]).unwrap();
            s[i].confirm().unwrap();
            deliver(&mut observer, &mut s, i, &out.message, ApqObserved::Partial);
            agree(&observer, &s);
        }
        // A pair of Update proposals, taken by the next (FULL) commit.
        let m = s[2].propose_update_pair().unwrap();
        deliver(&mut observer, &mut s, 2, &m, ApqObserved::ProposalPair);
        let out = s[0].commit(vec![]).unwrap();
        s[0].confirm().unwrap();
        deliver(&mut observer, &mut s, 0, &out.message, ApqObserved::Full);
        agree(&observer, &s);
        // An add, and a removal.
        let dave = ApqClient::new(setup.clone(), b"dave").unwrap();
        let (kp, bundles) = dave.key_packages().unwrap();
        let out = s[1].add(vec![kp]).unwrap();
        s[1].confirm().unwrap();
        deliver(&mut observer, &mut s, 1, &out.message, ApqObserved::Full);
        let joined = dave.join(out.welcome.as_ref().unwrap(), bundles).unwrap();
        let mut s: Vec<ApqSession> = s.into_iter().chain([joined]).collect();
        agree(&observer, &s);
        let carol = s[2].t_group().identity().credential.clone();
        let out = s[0].remove(&[carol]).unwrap();
        s[0].confirm().unwrap();
        deliver(&mut observer, &mut s, 0, &out.message, ApqObserved::Full);
        s.remove(2);
        agree(&observer, &s);
        assert_eq!(observer.t_group().members().count(), 3);
    }
}

#[test]
fn an_observer_refuses_what_breaks_the_session() {
    let setup = setups().remove(0);
    let mut s = session(&setup, 3);
    settle(&mut s);
    let mut observer = s[0].observer().unwrap();

    // A PARTIAL commit that adds a member (made on the raw T group).
    let dave = ApqClient::new(setup.clone(), b"dave").unwrap();
    let (kp, _) = dave.key_packages().unwrap();
    let (t, _) = s[1].raw_groups_mut();
    let add = t.commit(CommitOptions::add(vec![kp.t.clone()])).unwrap().commit;
    t.clear_pending_commit();
    refuses(&mut observer, &add, |e| matches!(e, Error::MembershipChangeInPartial));

    // A lone PQ commit.
    let (_, pq) = s[1].raw_groups_mut();
    let lone = pq.commit(CommitOptions::default()).unwrap().commit;
    pq.clear_pending_commit();
    refuses(&mut observer, &lone, |e| matches!(e, Error::LonePqMessage));

    // A pair of commits whose T half injects no apq_psk.
    let (t, pq) = s[1].raw_groups_mut();
    let t_commit = t.commit(CommitOptions::default()).unwrap().commit;
    t.clear_pending_commit();
    let pq_commit = pq.commit(CommitOptions::default()).unwrap().commit;
    pq.clear_pending_commit();
    let pair = |t: MlsMessage, pq: MlsMessage| {
        ApqMessagePair {
            wire_format: WireFormat::PUBLIC_MESSAGE,
            t_message: t,
            pq_message: pq,
        }
        .to_message()
        .unwrap()
    };
    refuses(&mut observer, &pair(t_commit.clone(), pq_commit.clone()), |e| {
        matches!(e, Error::MissingApqPsk)
    });

    // The halves of two members' FULL commits, mixed.
    let a = s[1].full_commit(vec![], vec![]).unwrap();
    s[1].discard();
    let b = s[2].full_commit(vec![], vec![]).unwrap();
    s[2].discard();
    let (a, b) = (
        ApqMessagePair::from_message(&a.message).unwrap(),
        ApqMessagePair::from_message(&b.message).unwrap(),
    );
    let mixed = pair(a.t_message.clone(), b.pq_message.clone());
    let err = s[0].process(&mixed).unwrap_err();
    common::observer_agrees(&s[0], &mixed, &err);

    // A T-only Remove proposal.
    let (t, _) = s[1].raw_groups_mut();
    let other = mlsx_base::tree::math::LeafIndex(2);
    let rm = t
        .propose(Proposal::Remove(mlsx_base::codec::Remove { removed: other }), &[])
        .unwrap();
    refuses(&mut observer, &rm, |e| matches!(e, Error::MembershipChangeInPartial));

    // After all that, the members' next commit is observed.
    let out = s[0].partial_commit(vec![]).unwrap();
    s[0].confirm().unwrap();
    assert_eq!(observer.process(&out.message).unwrap(), ApqObserved::Partial);
}
