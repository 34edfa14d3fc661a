//! A seeded random scenario with members of all three implementations
//! (mlsx, mls-rs 0.57, OpenMLS 0.9): random committers add up to three
//! members of any kind, remove members, commit Update and Remove proposals
//! of other members by reference, or commit with a path; the group grows to
//! at least 20 members. After every epoch every member must agree on the
//! epoch authenticator, and one random member's application message must
//! decrypt everywhere. `MLSX_INTEROP_SEED` selects the seed (printed on
//! every run).

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Kind, Member, Op, deliver, founder, join, new_joiner, rs_peer};
use mls_rs::Client;
use mls_rs::client_builder::MlsConfig;

/// xorshift64*: a seeded generator for the scenario (no crypto use).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_scenario<C: MlsConfig>(
    suite: u16,
    seed: u64,
    epochs: usize,
    encrypt: bool,
    with_openmls: bool,
    make_rs: impl Fn(&str) -> Client<C>,
) {
    let mut rng = Rng(seed | 1);
    let mut counter = 0usize;
    let kinds: &[Kind] = if with_openmls {
        &[Kind::X, Kind::R, Kind::O]
    } else {
        &[Kind::X, Kind::R]
    };
    let mut members: Vec<Member<C>> = vec![founder(suite, encrypt)];
    let mut largest = 0;
    let mut seen = std::collections::BTreeSet::new();
    for epoch in 0..epochs {
        let what = format!("seed {seed}, suite {suite}, epoch {epoch}");
        let committer = rng.below(members.len());
        let mut ops = vec![];
        let mut joiners = vec![];
        let mut removed = vec![];
        let growing = epoch < epochs / 3;
        let action = rng.below(10);
        if members.len() < 4 || (action < if growing { 7 } else { 4 } && members.len() < 24) {
            for _ in 0..1 + rng.below(3) {
                counter += 1;
                let (j, kp) = new_joiner(kinds[rng.below(kinds.len())], suite, &format!("m{counter}"), &make_rs);
                joiners.push(j);
                ops.push(Op::Add(kp));
            }
        } else if action < 6 {
            let victim = loop {
                let v = rng.below(members.len());
                if v != committer {
                    break v;
                }
            };
            removed.push(members[victim].leaf());
            ops.push(Op::Remove(members[victim].leaf()));
        } else if action < 8 {
            // Another member proposes an Update or a Remove; the committer commits it by reference.
            let proposer = loop {
                let v = rng.below(members.len());
                if v != committer {
                    break v;
                }
            };
            let op = if rng.below(2) == 0 {
                Op::Update
            } else {
                let victim = (0..members.len()).find(|v| *v != committer && *v != proposer);
                match victim {
                    Some(v) => {
                        removed.push(members[v].leaf());
                        Op::Remove(members[v].leaf())
                    }
                    None => Op::Update,
                }
            };
            let m = members[proposer].propose(&op);
            deliver(&mut members, proposer, &m);
        }
        let (commit, welcome) = members[committer].commit(&ops);
        deliver(&mut members, committer, &commit);
        members.retain(|m| !removed.contains(&m.leaf()));
        for j in joiners {
            members.push(join(j, suite, welcome.as_deref().unwrap(), encrypt));
        }
        largest = largest.max(members.len());
        seen.extend(members.iter().map(Member::kind));
        common::assert_agree(&members, &what);
        let from = rng.below(members.len());
        common::assert_messages(&mut members, from, &what);
    }
    assert!(largest >= 20, "seed {seed}: the group only reached {largest} members");
    for k in kinds {
        assert!(seen.contains(k), "seed {seed}: no {k:?} member ever joined");
    }
}

#[test]
fn seeded_random_scenario_three_implementations() {
    let seed = std::env::var("MLSX_INTEROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    eprintln!("interop random scenario seed: {seed} (set MLSX_INTEROP_SEED to change)");
    random_scenario(1, seed, 300, false, true, |n| rs_peer(1, n, false));
    random_scenario(2, seed.wrapping_add(1), 60, true, true, |n| rs_peer(2, n, true));
    random_scenario(7, seed.wrapping_add(2), 60, false, false, |n| rs_peer(7, n, false));
}
