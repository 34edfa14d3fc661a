//! AppAck (draft-ietf-mls-extensions §6.1) end to end in a group of three:
//! acknowledgements travel as AppEphemeral data of component `app_ack` in
//! proposals and commits, and each member's tracker tells which messages
//! the delivery service dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::needless_range_loop)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use mlsx_base::codec::{MlsMessage, encode};
use mlsx_base::group::{CommitOptions, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_extensions::{APP_ACK, AckTracker, AppAck, AppAckComponent, Error, GroupRequirements, Losses, MessageRange};

fn requirements() -> GroupRequirements {
    GroupRequirements {
        components: vec![COUNTER, RECEIPTS, APP_ACK],
        ..GroupRequirements::default()
    }
}

fn members(n: usize) -> Vec<Member> {
    let cs = suite1();
    let m = (0..n)
        .map(|_| Member::with(Some(b"secret"), vec![Arc::new(AppAckComponent)]))
        .collect();
    group_of(&cs, m, &requirements())
}

fn receive(m: &mut Member, t: &mut AckTracker, msg: &MlsMessage) {
    let r = m.g().process_message(msg).unwrap();
    assert!(matches!(r, Received::Application { .. }));
    t.record_received(&r);
}

#[test]
fn app_acks_show_what_the_delivery_service_dropped() {
    let mut m = members(3);
    let mut t: Vec<AckTracker> = (0..3).map(|_| AckTracker::new()).collect();
    // Member 0 sends generations 0, 1, 2; the DS drops 1 on its way to
    // member 2.
    for g in 0..3u32 {
        let msg = t[0].encrypt(m[0].g(), format!("m{g}").as_bytes(), b"").unwrap();
        receive(&mut m[1], &mut t[1], &msg);
        if g != 1 {
            receive(&mut m[2], &mut t[2], &msg);
        }
    }
    // Member 1 sends one message; both others get it.
    let msg = t[1].encrypt(m[1].g(), b"hi", b"").unwrap();
    receive(&mut m[0], &mut t[0], &msg);
    receive(&mut m[2], &mut t[2], &msg);
    // Member 2 sees the gap itself.
    assert_eq!(t[2].losses(LeafIndex(2)).missing, BTreeMap::from([(LeafIndex(0), vec![1])]));
    assert_eq!(
        t[2].ack().received_ranges,
        vec![
            MessageRange {
                sender: 0,
                first_generation: 0,
                last_generation: 0
            },
            MessageRange {
                sender: 0,
                first_generation: 2,
                last_generation: 2
            },
            MessageRange {
                sender: 1,
                first_generation: 0,
                last_generation: 0
            },
        ]
    );
    // Member 0 sends generation 3, which the DS drops for everyone.
    let _dropped = t[0].encrypt(m[0].g(), b"m3", b"").unwrap();
    // Members 1 and 2 send AppAcks of what is new as proposals.
    for i in [1, 2] {
        let ack = t[i].take_ack().unwrap();
        assert!(t[i].take_ack().is_none(), "nothing new since");
        let p = AckTracker::proposal(&m[i].ext, &ack).unwrap();
        let msg = m[i].g().propose(p, b"").unwrap();
        for j in 0..3 {
            if j != i {
                assert!(matches!(m[j].g().process_message(&msg).unwrap(), Received::Proposal(_)));
            }
        }
    }
    // Member 0 commits the AppAcks with its own (by value).
    let own = AckTracker::proposal(&m[0].ext, &t[0].ack()).unwrap();
    let commit = commit_with(&mut m[0], vec![own]).unwrap();
    let epoch = m[0].gr().epoch();
    let staged = m[0].gr().pending_commit().unwrap();
    t[0].record_commit(&m[0].ext, epoch, staged, LeafIndex(0)).unwrap();
    assert_eq!(
        t[0].losses(LeafIndex(0)),
        Losses {
            unacknowledged: BTreeMap::from([(LeafIndex(1), vec![3]), (LeafIndex(2), vec![1, 3])]),
            missing: BTreeMap::new(),
        }
    );
    m[0].g().merge_pending_commit().unwrap();
    for i in [1, 2] {
        let staged = stage(&mut m[i], &commit).unwrap();
        let acks: Vec<_> = m[i].ext.app_ephemeral_with_senders(&staged).unwrap();
        assert_eq!(acks.len(), 3);
        assert!(acks.iter().all(|(_, e)| e.component_id == APP_ACK));
        t[i].record_commit(&m[i].ext, epoch, &staged, LeafIndex(i as u32)).unwrap();
        m[i].g().merge_staged_commit(staged).unwrap();
    }
    // Member 1 lost nothing and everyone got its message; member 2 knows
    // it missed generation 1 of member 0 (member 1 acknowledged it).
    assert!(t[1].losses(LeafIndex(1)).is_empty(), "{:?}", t[1].losses(LeafIndex(1)));
    assert_eq!(
        t[2].losses(LeafIndex(2)),
        Losses {
            unacknowledged: BTreeMap::new(),
            missing: BTreeMap::from([(LeafIndex(0), vec![1])]),
        }
    );
    // A new epoch starts a new record: generations restart at 0.
    let msg = t[2].encrypt(m[2].g(), b"new epoch", b"").unwrap();
    receive(&mut m[0], &mut t[0], &msg);
    assert_eq!(t[0].epoch(), epoch + 1);
    assert_eq!(
        t[0].ack().received_ranges,
        vec![MessageRange {
            sender: 2,
            first_generation: 0,
            last_generation: 0
        }]
    );
}

#[test]
fn malformed_app_acks_are_refused() {
    let mut m = members(3);
    let backwards = AppAck {
        received_ranges: vec![MessageRange {
            sender: 1,
            first_generation: 5,
            last_generation: 2,
        }],
    };
    for data in [encode(&backwards).unwrap(), vec![0xff]] {
        let p = m[0].ext.app_ephemeral(APP_ACK, data).unwrap();
        // The sender refuses it.
        let err = commit_with(&mut m[0], vec![p.clone()]).unwrap_err();
        assert!(
            matches!(ext_error(&err), Error::ComponentRejected { component: APP_ACK, .. }),
            "{err:?}"
        );
        // A receiver refuses a commit that carries it.
        let honest = commit_with(&mut m[0], vec![]).unwrap();
        m[0].g().clear_pending_commit();
        let forged = forge(&mut m[0], &honest, push_proposal(p));
        let err = stage(&mut m[1], &forged).unwrap_err();
        assert!(
            matches!(ext_error(&err), Error::ComponentRejected { component: APP_ACK, .. }),
            "{err:?}"
        );
    }
    // A well-formed one passes.
    let p = AckTracker::proposal(&m[0].ext, &AppAck::default()).unwrap();
    let c = m[0]
        .g()
        .commit(CommitOptions {
            proposals: vec![p],
            ..CommitOptions::default()
        })
        .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c.commit);
    assert_agree(&mut m);
}
