//! Every proposal type a member can send (Add, Update, Remove, PreSharedKey,
//! GroupContextExtensions), committed by value and by reference by each
//! implementation (mlsx, mls-rs 0.57, OpenMLS 0.9) and processed by the
//! others, with PublicMessage and PrivateMessage handshakes, in suites 1, 2
//! and 3 (and 7 with mlsx and mls-rs). After every commit all members agree
//! on the epoch authenticator and an application message from each
//! implementation decrypts everywhere. (ReInit and ExternalInit are covered
//! in `interop_mls_rs.rs`.)

#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{Kind, Member, Op, assert_agree, assert_messages, deliver, founder, join, new_joiner, rs_peer};
use mls_rs::Client;
use mls_rs::client_builder::MlsConfig;

fn name(k: Kind) -> &'static str {
    match k {
        Kind::X => "mlsx",
        Kind::R => "mls-rs",
        Kind::O => "OpenMLS",
    }
}

struct Scenario<C: MlsConfig, F: Fn(&str) -> Client<C>> {
    suite: u16,
    encrypt: bool,
    members: Vec<Member<C>>,
    make_rs: F,
    counter: usize,
}

impl<C: MlsConfig, F: Fn(&str) -> Client<C>> Scenario<C, F> {
    fn what(&self, step: &str) -> String {
        format!(
            "suite {} {} handshakes: {step}",
            self.suite,
            if self.encrypt { "private" } else { "public" }
        )
    }

    fn joiner(&mut self, kind: Kind) -> (common::Joiner<C>, Vec<u8>) {
        self.counter += 1;
        new_joiner(kind, self.suite, &format!("joiner {}", self.counter), &self.make_rs)
    }

    /// `from` proposes each op; they are delivered to everyone else.
    fn propose(&mut self, from: usize, ops: &[Op]) {
        for op in ops {
            let m = self.members[from].propose(op);
            deliver(&mut self.members, from, &m);
        }
    }

    /// `by` commits `ops` plus everything pending; the others process it;
    /// `joiner` joins; members at `removed` leave. Then everyone agrees and
    /// messages flow from one member of each implementation.
    fn commit(&mut self, by: usize, ops: &[Op], joiner: Option<common::Joiner<C>>, removed: Option<u32>, step: &str) {
        let what = self.what(step);
        let (commit, welcome) = self.members[by].commit(ops);
        deliver(&mut self.members, by, &commit);
        if let Some(r) = removed {
            self.members.retain(|m| m.leaf() != r);
        }
        if let Some(j) = joiner {
            let m = join(j, self.suite, welcome.as_deref().unwrap(), self.encrypt);
            self.members.push(m);
        }
        assert_agree(&self.members, &what);
        for k in [Kind::X, Kind::R, Kind::O] {
            if let Some(i) = self.members.iter().position(|m| m.kind() == k) {
                assert_messages(&mut self.members, i, &what);
            }
        }
    }

    /// Every proposal type committed by `c`, by value, and by reference
    /// from `q`.
    fn round(&mut self, c: usize, q: usize, joiner_kind: Kind) {
        let (cn, qn) = (name(self.members[c].kind()), name(self.members[q].kind()));
        // Add and Remove by value.
        let (j, kp) = self.joiner(joiner_kind);
        self.commit(c, &[Op::Add(kp)], Some(j), None, &format!("{cn} commits Add by value"));
        let leaf = self.members.last().unwrap().leaf();
        self.commit(c, &[Op::Remove(leaf)], None, Some(leaf), &format!("{cn} commits Remove by value"));
        // Add and Remove by reference.
        let (j, kp) = self.joiner(joiner_kind);
        self.propose(q, &[Op::Add(kp)]);
        self.commit(c, &[], Some(j), None, &format!("{cn} commits {qn}'s Add by reference"));
        let leaf = self.members.last().unwrap().leaf();
        self.propose(q, &[Op::Remove(leaf)]);
        self.commit(c, &[], None, Some(leaf), &format!("{cn} commits {qn}'s Remove by reference"));
        // Update by reference.
        self.propose(q, &[Op::Update]);
        self.commit(c, &[], None, None, &format!("{cn} commits {qn}'s Update by reference"));
        // PSK by value and by reference.
        self.commit(c, &[Op::Psk], None, None, &format!("{cn} commits PreSharedKey by value"));
        self.propose(q, &[Op::Psk]);
        self.commit(c, &[], None, None, &format!("{cn} commits {qn}'s PreSharedKey by reference"));
        // GroupContextExtensions by value and by reference.
        self.commit(
            c,
            &[Op::Gce(true)],
            None,
            None,
            &format!("{cn} commits GroupContextExtensions by value"),
        );
        self.propose(q, &[Op::Gce(false)]);
        self.commit(
            c,
            &[],
            None,
            None,
            &format!("{cn} commits {qn}'s GroupContextExtensions by reference"),
        );
        // Several proposals from two proposers in one commit.
        let (j, kp) = self.joiner(joiner_kind);
        self.propose(q, &[Op::Update, Op::Psk]);
        let other = (0..self.members.len()).find(|i| *i != c && *i != q).unwrap_or(q);
        self.propose(other, &[Op::Add(kp)]);
        // (Not a PSK by value here: OpenMLS orders by-value PSKs before
        // by-reference ones in the key schedule; see the deviation test.)
        self.commit(c, &[Op::Gce(true)], Some(j), None, &format!("{cn} commits a mixed list"));
    }
}

fn run<C: MlsConfig>(suite: u16, encrypt: bool, kinds: &[Kind], make_rs: impl Fn(&str) -> Client<C>) {
    let mut s = Scenario {
        suite,
        encrypt,
        members: vec![founder(suite, encrypt)],
        make_rs,
        counter: 0,
    };
    // The founder (mlsx) adds one member of each other implementation.
    for k in kinds.iter().skip(1) {
        let (j, kp) = s.joiner(*k);
        s.commit(0, &[Op::Add(kp)], Some(j), None, &format!("mlsx adds {}", name(*k)));
    }
    let n = kinds.len();
    for c in 0..n {
        let q = (c + 1) % n;
        s.round(c, q, kinds[(c + 2) % n]);
    }
}

#[test]
fn every_proposal_type_by_every_implementation() {
    for suite in [1u16, 2, 3] {
        for encrypt in [false, true] {
            run(suite, encrypt, &[Kind::X, Kind::R, Kind::O], |n| rs_peer(suite, n, encrypt));
        }
    }
}

#[test]
fn every_proposal_type_mlsx_and_mls_rs_suite_7() {
    for encrypt in [false, true] {
        run(7, encrypt, &[Kind::X, Kind::R], |n| rs_peer(7, n, encrypt));
    }
}

/// OpenMLS 0.9 deviation (RFC 9420 §8.4, §12.4.2: the PSKs enter the key
/// schedule in the order of the PreSharedKey proposals in the commit). When
/// an OpenMLS commit has a PSK by reference and one by value, its list puts
/// the referenced proposal first, but its key schedule takes the by-value
/// PSK first. mlsx and mls-rs both reject the commit (wrong confirmation
/// tag); with only one of the two kinds, all three agree (tested above).
#[test]
fn openmls_orders_by_value_psks_first() {
    let suite = 1;
    let make = |n: &str| rs_peer(suite, n, false);
    let mut members = vec![founder(suite, false)];
    for k in [Kind::R, Kind::O] {
        let (j, kp) = new_joiner(k, suite, name(k), &make);
        let (c, w) = members[0].commit(&[Op::Add(kp)]);
        deliver(&mut members, 0, &c);
        members.push(join(j, suite, &w.unwrap(), false));
    }
    let m = members[0].propose(&Op::Psk);
    deliver(&mut members, 0, &m);
    let (commit, _) = members[2].commit(&[Op::Psk]);
    let Member::X(x) = &mut members[0] else { panic!() };
    let err = x.process_message(&mlsx_base::codec::decode(&commit).unwrap()).unwrap_err();
    assert!(
        matches!(err, mlsx_base::Error::Peer(mlsx_base::PeerError::InvalidConfirmationTag)),
        "{err:?}"
    );
    let Member::R(r) = &mut members[1] else { panic!() };
    assert!(
        r.process_incoming_message(mls_rs::MlsMessage::from_bytes(&commit).unwrap())
            .is_err()
    );
}
