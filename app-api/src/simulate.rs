//! `mlsx simulate`: what a hybrid deployment costs at a given group size.
//!
//! Three deployments of the same members under the same workload: a
//! traditional group only, a PQ group only, and hybrid sessions
//! (draft-ietf-mls-combiner) with a FULL commit every K commits (and for
//! every membership change, §3.2–3.3).
//!
//! **Sampled members.** The group is made for real: every member's
//! KeyPackage is generated and signed, one commit adds them all, and the
//! Welcome is encrypted to each of them. After that only the *sample* keeps
//! a client: the creator and K receivers, who join from that Welcome. Each
//! epoch one of the sample commits, and every other member of the sample
//! processes the commit and the epoch's application messages for real; the
//! rest of the group exists only as its public state in those clients'
//! trees. So:
//! - wire bytes are exact: every commit, Welcome and message is made;
//! - CPU per receiver is measured on the sample (mean, min, max) and the
//!   epoch's CPU for the whole group is estimated as the committer's, the
//!   senders' and the joiner's, plus the mean receiver's times the other
//!   members;
//! - with K = members − 1 (the default up to 64 members) every member is a
//!   client and the figures are measured, not estimated.
//!
//! The sample is spread evenly over the tree (a receiver's cost depends on
//! where it sits relative to the committer). Committers are members of the
//! sample, in turn, so the tree stays as the bulk add left it apart from
//! their paths (see `BENCHMARKS.md`, "PQ MLS at
//! scale", on what that means for the first epochs of a large group).
//!
//! **Workloads** (each epoch):
//! - `updates`: one commit with an UpdatePath;
//! - `churn`: one commit that adds a new member (its Welcome and its join
//!   are counted) and removes one that is not in the sample;
//! - `messages`: one UpdatePath commit and `messages` application messages;
//! - `mixed`: `messages` application messages, and the commit alternates
//!   between an update and a churn commit.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, Credential, MlsMessage, Proposal, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Received};
use mlsx_combiner::{ApqClient, ApqKeyPackageBundles, ApqKeyPackages, ApqReceived, ApqSession, ApqSetup, FullCommitPolicy, Mode};
use mlsx_pq_suites::PqSuite;
use rayon::prelude::*;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A figure of an epoch, for the plot.
type Measure = dyn Fn(&EpochCost) -> f64;

/// What each epoch does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Workload {
    /// One UpdatePath commit.
    #[default]
    Updates,
    /// One commit adding a member and removing another.
    Churn,
    /// One UpdatePath commit and application messages.
    Messages,
    /// Application messages; commits alternate update and churn.
    Mixed,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 4] = [Self::Updates, Self::Churn, Self::Messages, Self::Mixed];

    /// `updates`, `churn`, `messages` or `mixed`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Updates => "updates",
            Self::Churn => "churn",
            Self::Messages => "messages",
            Self::Mixed => "mixed",
        }
    }

    /// The workload of a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.name() == name)
    }

    fn churns(self, epoch: usize) -> bool {
        match self {
            Self::Churn => true,
            Self::Mixed => epoch % 2 == 1,
            Self::Updates | Self::Messages => false,
        }
    }

    fn messages(self, per_epoch: usize) -> usize {
        match self {
            Self::Messages | Self::Mixed => per_epoch,
            Self::Updates | Self::Churn => 0,
        }
    }
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// Members of every group.
    pub members: usize,
    /// Epochs measured (one commit each), after setup.
    pub epochs: usize,
    /// FULL commit periods; the first is the chosen one, the others a sweep.
    pub full_every: Vec<u32>,
    /// The traditional suite (RFC 9420 code point).
    pub t_suite: u16,
    /// The PQ suite.
    pub pq_suite: PqSuite,
    /// The combiner's mode.
    pub mode: Mode,
    /// What each epoch does.
    pub workload: Workload,
    /// Application messages per epoch (workloads `messages` and `mixed`).
    pub messages: usize,
    /// Receivers that process every epoch for real; `None`: [`default_sample`].
    /// At `members - 1` or more every member is a client.
    pub sample: Option<usize>,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            members: 10,
            epochs: 50,
            full_every: vec![10, 1, 5, 50],
            t_suite: 1,
            pq_suite: PqSuite::Tbd6,
            mode: Mode::ConfidentialityOnly,
            workload: Workload::Updates,
            messages: 10,
            sample: None,
        }
    }
}

/// The receivers sampled by default: every member up to 64, then 16 up to
/// 1,000 members, then 8.
pub fn default_sample(members: usize) -> usize {
    match members {
        0..=64 => members.saturating_sub(1),
        65..=1000 => 16,
        _ => 8,
    }
}

impl SimulateOptions {
    /// The receivers that process for real.
    pub fn receivers(&self) -> usize {
        self.sample
            .unwrap_or_else(|| default_sample(self.members))
            .clamp(1, self.members.saturating_sub(1).max(1))
    }
}

/// The cost of one epoch.
#[derive(Clone, Debug, Default)]
pub struct EpochCost {
    /// "T", "PQ", "FULL" or "PARTIAL".
    pub kind: &'static str,
    /// "update", "add+remove" or "add" (when no member outside the sample
    /// is left to remove).
    pub commit: &'static str,
    /// Every byte sent this epoch, once each: the commit, the Welcome and
    /// the application messages.
    pub wire_bytes: usize,
    /// The commit (an APQMessagePair for FULL commits).
    pub commit_bytes: usize,
    /// The Welcome (a pair for FULL commits), if the commit added someone.
    pub welcome_bytes: usize,
    /// The application messages.
    pub message_bytes: usize,
    /// CPU seconds of the commit.
    pub committer_cpu: f64,
    /// CPU seconds of encrypting the application messages (all senders).
    pub sender_cpu: f64,
    /// CPU seconds of each sampled receiver: the commit and the messages.
    pub receiver_cpu: Vec<f64>,
    /// CPU seconds of the joiner's Welcome.
    pub joiner_cpu: f64,
    /// CPU seconds of the whole group: measured for the committer, the
    /// senders and the joiner, the mean receiver's for every other member.
    pub cpu_seconds: f64,
}

impl EpochCost {
    fn mean_receiver(&self) -> f64 {
        mean(&self.receiver_cpu)
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// One scenario's epochs.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// "T only", "PQ only" or "hybrid K=…".
    pub name: String,
    /// Bytes of the Welcome that brought every member in.
    pub setup_welcome_bytes: usize,
    /// CPU seconds of each sampled member's join from that Welcome.
    pub join_cpu: Vec<f64>,
    /// Per epoch.
    pub epochs: Vec<EpochCost>,
}

impl Scenario {
    /// Total bytes.
    pub fn wire_bytes(&self) -> usize {
        self.epochs.iter().map(|e| e.wire_bytes).sum()
    }

    /// Total CPU seconds (of the whole group).
    pub fn cpu_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.cpu_seconds).sum()
    }

    /// Mean, min and max over every sampled receiver and epoch of a
    /// receiver's CPU seconds per epoch.
    pub fn receiver_spread(&self) -> (f64, f64, f64) {
        let all: Vec<f64> = self.epochs.iter().flat_map(|e| e.receiver_cpu.iter().copied()).collect();
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let max = all.iter().copied().fold(0.0, f64::max);
        (mean(&all), if min.is_finite() { min } else { 0.0 }, max)
    }

    fn json(&self) -> serde_json::Value {
        let (rmean, rmin, rmax) = self.receiver_spread();
        serde_json::json!({
            "name": self.name,
            "wire_bytes": self.wire_bytes(),
            "cpu_seconds": self.cpu_seconds(),
            "full_commits": self.epochs.iter().filter(|e| e.kind == "FULL").count(),
            "setup_welcome_bytes": self.setup_welcome_bytes,
            "join_cpu_seconds": mean(&self.join_cpu),
            "receiver_cpu_seconds": { "mean": rmean, "min": rmin, "max": rmax },
            "epochs": self.epochs.iter().map(|e| serde_json::json!({
                "kind": e.kind, "commit": e.commit, "wire_bytes": e.wire_bytes,
                "commit_bytes": e.commit_bytes, "welcome_bytes": e.welcome_bytes, "message_bytes": e.message_bytes,
                "committer_cpu_seconds": e.committer_cpu, "sender_cpu_seconds": e.sender_cpu,
                "receiver_cpu_seconds": e.mean_receiver(), "joiner_cpu_seconds": e.joiner_cpu,
                "cpu_seconds": e.cpu_seconds
            })).collect::<Vec<_>>(),
        })
    }
}

/// The results of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was run.
    pub options: SimulateOptions,
    /// The backend of the PQ primitives.
    pub backend: mlsx_pq_suites::Backend,
    /// The traditional group alone.
    pub t_only: Scenario,
    /// The PQ group alone.
    pub pq_only: Scenario,
    /// Hybrid sessions, one per FULL period (the chosen one first).
    pub hybrid: Vec<(u32, Scenario)>,
}

/// CPU time of this process so far, all threads: `clock_gettime` of the
/// process CPU clock (nanoseconds, brought up to date by the call itself;
/// the per-thread counters in `/proc` lag by a scheduler tick). Elsewhere
/// than Unix, the wall clock since `start`.
fn cpu_now(start: std::time::Instant) -> f64 {
    #[cfg(unix)]
    {
        let _ = start;
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }
    #[cfg(not(unix))]
    start.elapsed().as_secs_f64()
}

/// Times `f` in CPU seconds of the whole process.
fn cpu<T>(clock: std::time::Instant, f: impl FnOnce() -> Res<T>) -> Res<(T, f64)> {
    let before = cpu_now(clock);
    let out = f()?;
    Ok((out, (cpu_now(clock) - before).max(0.0)))
}

/// What one commit sent.
struct Sent {
    kind: &'static str,
    message: MlsMessage,
    welcome: Option<MlsMessage>,
}

/// A member that is a client: a plain group or a hybrid session.
enum Member {
    Plain(Box<Group>),
    Hybrid(Box<ApqSession>),
}

/// A joiner's private side.
enum Joining {
    Plain(Box<KeyPackageBundle>),
    Hybrid(Box<ApqClient>, Box<ApqKeyPackageBundles>),
}

/// A joiner's public side.
#[derive(Clone)]
enum Offer {
    Plain(Box<mlsx_base::codec::KeyPackage>),
    Hybrid(Box<ApqKeyPackages>),
}

/// How members of one scenario are made.
enum Kind {
    Plain(Arc<dyn CipherSuiteProvider>),
    Hybrid(Box<ApqSetup>),
}

fn name(i: usize) -> Vec<u8> {
    format!("member{i}").into_bytes()
}

fn basic(name: &[u8]) -> Credential {
    Credential::Basic(name.to_vec().into())
}

impl Kind {
    fn offer(&self, name: &[u8]) -> Res<(Offer, Joining)> {
        Ok(match self {
            Kind::Plain(cs) => {
                let b = Identity::basic(cs.as_ref(), name)?.key_package(cs.as_ref())?;
                (Offer::Plain(Box::new(b.key_package.clone())), Joining::Plain(Box::new(b)))
            }
            Kind::Hybrid(setup) => {
                let c = ApqClient::new(setup.as_ref().clone(), name)?;
                let (p, b) = c.key_packages()?;
                (Offer::Hybrid(Box::new(p)), Joining::Hybrid(Box::new(c), Box::new(b)))
            }
        })
    }

    fn create(&self) -> Res<Member> {
        Ok(match self {
            Kind::Plain(cs) => Member::Plain(Box::new(Group::create(
                cs.clone(),
                Identity::basic(cs.as_ref(), &name(0))?,
                b"simulated".to_vec(),
                GroupConfig::default(),
            )?)),
            Kind::Hybrid(setup) => Member::Hybrid(Box::new(
                ApqClient::new(setup.as_ref().clone(), &name(0))?.create_session(b"T".to_vec(), b"PQ".to_vec())?,
            )),
        })
    }

    fn join(&self, welcome: &MlsMessage, joining: Joining) -> Res<Member> {
        Ok(match (self, joining) {
            (Kind::Plain(cs), Joining::Plain(b)) => {
                Member::Plain(Box::new(Group::join(cs.clone(), welcome, *b, None, GroupConfig::default())?))
            }
            (Kind::Hybrid(_), Joining::Hybrid(c, b)) => Member::Hybrid(Box::new(c.join(welcome, *b)?)),
            _ => return Err("joiner of another kind".into()),
        })
    }
}

impl Member {
    /// A commit: adding `add`, removing the member named `remove`, with an
    /// UpdatePath; the caller confirms it.
    fn commit(&mut self, add: Vec<Offer>, remove: Option<&[u8]>) -> Res<Sent> {
        match self {
            Member::Plain(g) => {
                let mut proposals = vec![];
                for o in add {
                    let Offer::Plain(kp) = o else {
                        return Err("a hybrid KeyPackage".into());
                    };
                    proposals.push(Proposal::Add(mlsx_base::codec::Add::new(*kp)));
                }
                if let Some(n) = remove {
                    let removed = g.member_by_credential(&basic(n)).ok_or("no such member")?;
                    proposals.push(Proposal::Remove(mlsx_base::codec::Remove { removed }));
                }
                let label = match g.cipher_suite().value() {
                    1..=7 => "T",
                    _ => "PQ",
                };
                let out = g.commit(CommitOptions {
                    proposals,
                    ..CommitOptions::default()
                })?;
                g.merge_pending_commit()?;
                Ok(Sent {
                    kind: label,
                    welcome: out.welcome,
                    message: out.commit,
                })
            }
            Member::Hybrid(s) => {
                let out = if add.is_empty() && remove.is_none() {
                    s.commit(vec![])?
                } else {
                    let (mut t, mut pq) = (vec![], vec![]);
                    for o in add {
                        let Offer::Hybrid(k) = o else {
                            return Err("a plain KeyPackage".into());
                        };
                        t.push(Proposal::Add(mlsx_base::codec::Add::new(k.t)));
                        pq.push(Proposal::Add(mlsx_base::codec::Add::new(k.pq)));
                    }
                    if let Some(n) = remove {
                        let c = basic(n);
                        let tl = s.t_group().member_by_credential(&c).ok_or("no such member")?;
                        let pl = s.pq_group().member_by_credential(&c).ok_or("no such member")?;
                        t.push(Proposal::Remove(mlsx_base::codec::Remove { removed: tl }));
                        pq.push(Proposal::Remove(mlsx_base::codec::Remove { removed: pl }));
                    }
                    s.full_commit(t, pq)?
                };
                s.confirm()?;
                Ok(Sent {
                    kind: match out.kind {
                        mlsx_combiner::CommitKind::Full => "FULL",
                        mlsx_combiner::CommitKind::Partial => "PARTIAL",
                    },
                    message: out.message,
                    welcome: out.welcome,
                })
            }
        }
    }

    fn process(&mut self, msg: &MlsMessage) -> Res<()> {
        match self {
            Member::Plain(g) => match g.process_message(msg)? {
                Received::Commit(staged) => Ok(g.merge_staged_commit(staged)?),
                Received::Application { .. } => Ok(()),
                _ => Err("unexpected message".into()),
            },
            Member::Hybrid(s) => match s.process(msg)? {
                ApqReceived::Full { removed_self: true } => Err("a sampled member was removed".into()),
                _ => Ok(()),
            },
        }
    }

    fn send(&mut self, data: &[u8]) -> Res<MlsMessage> {
        Ok(match self {
            Member::Plain(g) => g.encrypt_application(data, b"")?,
            Member::Hybrid(s) => s.encrypt_application(data, b"")?,
        })
    }

    fn authenticator(&self) -> Vec<u8> {
        match self {
            Member::Plain(g) => g.epoch_authenticator().to_vec(),
            Member::Hybrid(s) => s.t_group().epoch_authenticator().to_vec(),
        }
    }
}

/// One scenario: the group of `o.members` made by one commit, the sample
/// joined, then `o.epochs` epochs of the workload.
fn scenario(kind: &Kind, name_of: String, o: &SimulateOptions, tick: &dyn Fn()) -> Res<Scenario> {
    let clock = std::time::Instant::now();
    let receivers = o.receivers();
    let sampled = sample_positions(o.members, receivers);
    // Every member's KeyPackage, made and signed for real (in parallel);
    // the private side is kept for the sample only.
    let made: Vec<(Offer, Option<Joining>)> = (1..o.members)
        .into_par_iter()
        .map(|i| {
            let (offer, joining) = kind.offer(&name(i))?;
            Ok((offer, sampled.contains(&i).then_some(joining)))
        })
        .collect::<Res<Vec<_>>>()?;
    let mut creator = kind.create()?;
    let (offers, joinings): (Vec<Offer>, Vec<Option<Joining>>) = made.into_iter().unzip();
    let sent = creator.commit(offers, None)?;
    let welcome = sent.welcome.ok_or("no Welcome")?;
    let setup_welcome_bytes = encode(&welcome)?.len();
    let mut sample = vec![creator];
    let mut join_cpu = vec![];
    for j in joinings.into_iter().flatten() {
        let (m, t) = cpu(clock, || kind.join(&welcome, j))?;
        join_cpu.push(t);
        sample.push(m);
    }
    drop(welcome);
    // No setup commits: a joiner's first commit is FULL (draft-ietf-mls-
    // combiner §3.2) when its turn comes, and is counted like any other, so
    // that a sampled run and a full one start from the same group.
    // Members who may be removed: not in the sample, oldest first.
    let mut others: VecDeque<Vec<u8>> = (1..o.members).filter(|i| !sampled.contains(i)).map(name).collect();
    let mut next_name = o.members;
    let mut epochs = vec![];
    let payload = [0x5au8; 100];
    // Committers: the creator and up to 16 members of the sample, spread
    // evenly, in turn; the same members whatever the sample's size, so that
    // a sampled run and a full one send the same commits.
    let committers: Vec<usize> = std::iter::once(0)
        .chain(sample_positions(sample.len(), COMMITTERS.min(sample.len() - 1)))
        .collect();
    for e in 0..o.epochs {
        let from = committers[e % committers.len()];
        let churn = o.workload.churns(e);
        let mut cost = EpochCost {
            commit: if churn { "add+remove" } else { "update" },
            receiver_cpu: vec![0.0; sample.len() - 1],
            ..EpochCost::default()
        };
        // Application messages of the epoch, from the sample in turn.
        for m in 0..o.workload.messages(o.messages) {
            let sender = (from + 1 + m) % sample.len();
            let (msg, t) = cpu(clock, || sample[sender].send(&payload))?;
            cost.sender_cpu += t;
            cost.message_bytes += encode(&msg)?.len();
            // Everyone but the sender reads it; the committer's share is
            // counted with its commit.
            for i in (0..sample.len()).filter(|i| *i != sender) {
                let ((), t) = cpu(clock, || sample[i].process(&msg))?;
                match receiver_slot(from, i) {
                    Some(slot) => cost.receiver_cpu[slot] += t,
                    None => cost.committer_cpu += t,
                }
            }
        }
        // The commit.
        let (joiner, remove) = if churn {
            let joiner = kind.offer(&name(next_name))?;
            next_name += 1;
            (Some(joiner), others.pop_front())
        } else {
            (None, None)
        };
        let offers = joiner.iter().map(|(o, _)| o.clone()).collect();
        if remove.is_none() && churn {
            cost.commit = "add";
        }
        let (sent, t) = cpu(clock, || sample[from].commit(offers, remove.as_deref()))?;
        cost.committer_cpu += t;
        cost.kind = sent.kind;
        cost.commit_bytes = encode(&sent.message)?.len();
        for i in (0..sample.len()).filter(|i| *i != from) {
            let ((), t) = cpu(clock, || sample[i].process(&sent.message))?;
            if let Some(slot) = receiver_slot(from, i) {
                cost.receiver_cpu[slot] += t;
            }
        }
        if let (Some((_, joining)), Some(welcome)) = (joiner, &sent.welcome) {
            cost.welcome_bytes = encode(welcome)?.len();
            // The joiner joins for real, then leaves the sample: it stays
            // in the group as public state, and may be removed later.
            let (_, t) = cpu(clock, || kind.join(welcome, joining))?;
            cost.joiner_cpu = t;
            others.push_back(name(next_name - 1));
        }
        let auth = sample[0].authenticator();
        if sample.iter().any(|m| m.authenticator() != auth) {
            return Err(format!("{name_of}: the sample disagrees after epoch {}", e + 1).into());
        }
        cost.wire_bytes = cost.commit_bytes + cost.welcome_bytes + cost.message_bytes;
        let group = o.members.saturating_sub(1) as f64;
        cost.cpu_seconds = cost.committer_cpu + cost.sender_cpu + cost.joiner_cpu + cost.mean_receiver() * group;
        epochs.push(cost);
        tick();
    }
    Ok(Scenario {
        name: name_of,
        setup_welcome_bytes,
        join_cpu,
        epochs,
    })
}

/// How many members of the sample take turns to commit, besides the creator.
const COMMITTERS: usize = 16;

/// The members (by position, 1 to `members - 1`; the creator is 0) who
/// are clients: `k` of them spread evenly over the tree. Where a receiver
/// sits relative to the committer decides how much of the path it derives
/// (RFC 9420 §12.4.2: every node above the lowest common ancestor), so
/// neighbours of the committer alone would overstate a receiver's cost.
fn sample_positions(members: usize, k: usize) -> std::collections::BTreeSet<usize> {
    let others = members.saturating_sub(1);
    let k = k.min(others).max(1);
    (1..=k).map(|j| (j * others).div_ceil(k)).collect()
}

/// Member `i`'s place among the receivers of an epoch committed by `from`.
fn receiver_slot(from: usize, i: usize) -> Option<usize> {
    match i.cmp(&from) {
        std::cmp::Ordering::Less => Some(i),
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Greater => Some(i - 1),
    }
}

/// Runs the scenarios; `tick` is called after every simulated epoch.
pub fn run(o: &SimulateOptions, tick: &dyn Fn()) -> Result<Report, Box<dyn std::error::Error>> {
    run_inner(o, tick).map_err(|e| e as Box<dyn std::error::Error>)
}

fn run_inner(o: &SimulateOptions, tick: &dyn Fn()) -> Res<Report> {
    if o.members < 2 || o.epochs == 0 || o.full_every.is_empty() || o.full_every.contains(&0) {
        return Err("need at least 2 members, 1 epoch and FULL periods of at least 1".into());
    }
    let t_cs = RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite(o.t_suite))
        .ok_or_else(|| format!("unknown T suite {:#06x}", o.t_suite))?;
    let pq_cs = o.pq_suite.provider()?;
    let setup = ApqSetup::new(t_cs.clone(), pq_cs.clone(), o.mode)?;
    let t_only = scenario(&Kind::Plain(t_cs), "T only".into(), o, tick)?;
    let pq_only = scenario(&Kind::Plain(pq_cs), "PQ only".into(), o, tick)?;
    let hybrid = o
        .full_every
        .iter()
        .map(|&k| {
            let mut setup = setup.clone();
            setup.policy = FullCommitPolicy {
                every: k,
                max_age_seconds: None,
                inactive_after_seconds: None,
            };
            Ok((k, scenario(&Kind::Hybrid(Box::new(setup)), format!("hybrid K={k}"), o, tick)?))
        })
        .collect::<Res<Vec<_>>>()?;
    Ok(Report {
        options: o.clone(),
        backend: mlsx_pq_suites::Backend::default(),
        t_only,
        pq_only,
        hybrid,
    })
}

impl Report {
    /// The hybrid session at the chosen FULL period.
    pub fn chosen(&self) -> Option<&Scenario> {
        self.hybrid.first().map(|(_, s)| s)
    }

    fn scenarios(&self) -> impl Iterator<Item = &Scenario> {
        [&self.t_only, &self.pq_only].into_iter().chain(self.hybrid.iter().map(|(_, s)| s))
    }

    /// One JSON object: `t_only`, `pq_only` and `hybrid` (the chosen K),
    /// each with `wire_bytes` and `cpu_seconds` (and per-epoch figures),
    /// and `sweep`, one entry per FULL period.
    pub fn to_json(&self) -> serde_json::Value {
        let o = &self.options;
        serde_json::json!({
            "members": o.members,
            "epochs": o.epochs,
            "t_suite": o.t_suite,
            "pq_suite": format!("{:?}", o.pq_suite),
            "mode": o.mode as u8,
            "workload": o.workload.name(),
            "messages_per_epoch": o.workload.messages(o.messages),
            "sampled_receivers": o.receivers(),
            "backend": self.backend.name(),
            "full_every": o.full_every.first(),
            "t_only": self.t_only.json(),
            "pq_only": self.pq_only.json(),
            "hybrid": self.chosen().map(Scenario::json),
            "sweep": self.hybrid.iter().map(|(k, s)| serde_json::json!({
                "full_every": k, "wire_bytes": s.wire_bytes(), "cpu_seconds": s.cpu_seconds()
            })).collect::<Vec<_>>(),
        })
    }

    /// The human-readable report: per-epoch figures for T only, PQ only
    /// and the chosen hybrid period, then totals for every scenario.
    pub fn write_text(&self, out: &mut dyn Write) -> Res<()> {
        let o = &self.options;
        writeln!(
            out,
            "{} members ({} receivers sampled), {} epochs of {}, T suite {:#06x}, PQ suite {:?} on {}, mode {}",
            o.members,
            o.receivers(),
            o.epochs,
            o.workload.name(),
            o.t_suite,
            o.pq_suite,
            self.backend,
            o.mode as u8
        )?;
        if let Some(h) = self.chosen() {
            writeln!(out, "\nepoch   T bytes  T ms   PQ bytes  PQ ms   {:>7} bytes  ms", h.name)?;
            for (i, ((t, pq), hy)) in self.t_only.epochs.iter().zip(&self.pq_only.epochs).zip(&h.epochs).enumerate() {
                writeln!(
                    out,
                    "{:>5} {:>9} {:>5.1} {:>10} {:>6.1}   {:>7} {:>9} {:>5.1}",
                    i + 1,
                    t.wire_bytes,
                    t.cpu_seconds * 1e3,
                    pq.wire_bytes,
                    pq.cpu_seconds * 1e3,
                    hy.kind,
                    hy.wire_bytes,
                    hy.cpu_seconds * 1e3
                )?;
            }
        }
        writeln!(
            out,
            "\ntotals                 wire bytes   CPU s   FULL commits   Welcome bytes   join ms   receiver ms/epoch (min-max)"
        )?;
        for s in self.scenarios() {
            let (rmean, rmin, rmax) = s.receiver_spread();
            writeln!(
                out,
                "{:<20} {:>12} {:>7.3} {:>8} {:>20} {:>9.1} {:>10.2} ({:.2}-{:.2})",
                s.name,
                s.wire_bytes(),
                s.cpu_seconds(),
                s.epochs.iter().filter(|e| e.kind == "FULL").count(),
                s.setup_welcome_bytes,
                mean(&s.join_cpu) * 1e3,
                rmean * 1e3,
                rmin * 1e3,
                rmax * 1e3
            )?;
        }
        Ok(())
    }

    /// One CSV row per scenario and epoch.
    pub fn write_csv(&self, path: &Path) -> Res<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(
            f,
            "scenario,epoch,kind,commit,wire_bytes,commit_bytes,welcome_bytes,message_bytes,committer_cpu,sender_cpu,receiver_cpu_mean,joiner_cpu,cpu_seconds"
        )?;
        for s in self.scenarios() {
            for (i, e) in s.epochs.iter().enumerate() {
                writeln!(
                    f,
                    "{},{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6}",
                    s.name,
                    i + 1,
                    e.kind,
                    e.commit,
                    e.wire_bytes,
                    e.commit_bytes,
                    e.welcome_bytes,
                    e.message_bytes,
                    e.committer_cpu,
                    e.sender_cpu,
                    e.mean_receiver(),
                    e.joiner_cpu,
                    e.cpu_seconds
                )?;
            }
        }
        Ok(())
    }

    /// An SVG plot: cumulative wire bytes and CPU time per epoch, one line
    /// per scenario.
    pub fn write_svg(&self, path: &Path) -> Res<()> {
        use plotters::prelude::*;
        let scenarios: Vec<&Scenario> = self.scenarios().collect();
        let cumulative = |s: &Scenario, f: &Measure| -> Vec<(f64, f64)> {
            let mut acc = 0.0;
            s.epochs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    acc += f(e);
                    (i as f64 + 1.0, acc)
                })
                .collect()
        };
        let root = SVGBackend::new(path, (900, 800)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((2, 1));
        let measures: [(&str, &Measure); 2] = [
            ("cumulative wire KiB", &|e: &EpochCost| e.wire_bytes as f64 / 1024.0),
            ("cumulative CPU seconds (whole group)", &|e: &EpochCost| e.cpu_seconds),
        ];
        let colors = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
        for (panel, (title, f)) in panels.iter().zip(measures) {
            let lines: Vec<Vec<(f64, f64)>> = scenarios.iter().map(|s| cumulative(s, f)).collect();
            let y_max = lines.iter().flatten().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9) * 1.05;
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..self.options.epochs as f64, 0f64..y_max)?;
            chart.configure_mesh().x_desc("epoch").draw()?;
            for (i, (s, line)) in scenarios.iter().zip(lines).enumerate() {
                let color = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    }
}

/// One size of a sweep: the mean per epoch of each scenario.
#[derive(Clone, Debug)]
pub struct SweepPoint {
    /// Members.
    pub members: usize,
    /// (scenario name, mean wire bytes per epoch, mean CPU seconds per epoch).
    pub scenarios: Vec<(String, f64, f64)>,
}

/// Runs `o` at every size of `sizes` (only the chosen FULL period).
pub fn sweep(o: &SimulateOptions, sizes: &[usize], tick: &dyn Fn()) -> Result<(Vec<Report>, Vec<SweepPoint>), Box<dyn std::error::Error>> {
    let mut reports = vec![];
    let mut points = vec![];
    for &members in sizes {
        let mut one = o.clone();
        one.members = members;
        one.full_every.truncate(1);
        let r = run(&one, tick)?;
        let epochs = one.epochs.max(1) as f64;
        points.push(SweepPoint {
            members,
            scenarios: r
                .scenarios()
                .map(|s| (s.name.clone(), s.wire_bytes() as f64 / epochs, s.cpu_seconds() / epochs))
                .collect(),
        });
        reports.push(r);
    }
    Ok((reports, points))
}

/// The sweep's JSON: one object per size.
pub fn sweep_json(o: &SimulateOptions, points: &[SweepPoint]) -> serde_json::Value {
    serde_json::json!({
        "workload": o.workload.name(),
        "epochs": o.epochs,
        "t_suite": o.t_suite,
        "pq_suite": format!("{:?}", o.pq_suite),
        "full_every": o.full_every.first(),
        "backend": mlsx_pq_suites::Backend::default().name(),
        "sizes": points.iter().map(|p| serde_json::json!({
            "members": p.members,
            "scenarios": p.scenarios.iter().map(|(n, b, c)| serde_json::json!({
                "name": n, "wire_bytes_per_epoch": b, "cpu_seconds_per_epoch": c
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The sweep as text: one row per size.
pub fn write_sweep_text(o: &SimulateOptions, points: &[SweepPoint], out: &mut dyn Write) -> Res<()> {
    writeln!(
        out,
        "{} workload, {} epochs per size, PQ suite {:?} on {}; per epoch, whole group:",
        o.workload.name(),
        o.epochs,
        o.pq_suite,
        mlsx_pq_suites::Backend::default()
    )?;
    let names: Vec<&str> = points
        .first()
        .map(|p| p.scenarios.iter().map(|s| s.0.as_str()).collect())
        .unwrap_or_default();
    write!(out, "{:>8}", "members")?;
    for n in &names {
        write!(out, " {:>13} {:>9}", format!("{n} KiB"), "CPU s")?;
    }
    writeln!(out)?;
    for p in points {
        write!(out, "{:>8}", p.members)?;
        for (_, b, c) in &p.scenarios {
            write!(out, " {:>13.1} {:>9.4}", b / 1024.0, c)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The sweep's plot: CPU seconds and KiB per epoch against group size, log
/// axes, one line per scenario.
pub fn write_sweep_svg(points: &[SweepPoint], path: &Path) -> Res<()> {
    use plotters::prelude::*;
    let names: Vec<String> = points
        .first()
        .map(|p| p.scenarios.iter().map(|s| s.0.clone()).collect())
        .unwrap_or_default();
    let root = SVGBackend::new(path, (900, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((2, 1));
    let x_max = points.iter().map(|p| p.members).max().unwrap_or(10) as f64 * 1.5;
    let x_min = points.iter().map(|p| p.members).min().unwrap_or(2) as f64 / 1.5;
    let colors = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
    type Pick = fn(&(String, f64, f64)) -> f64;
    let pick: [(&str, Pick); 2] = [
        ("CPU seconds per epoch (whole group)", |s| s.2),
        ("wire KiB per epoch", |s| s.1 / 1024.0),
    ];
    for (panel, (title, f)) in panels.iter().zip(pick) {
        let ys: Vec<f64> = points.iter().flat_map(|p| p.scenarios.iter().map(f)).filter(|y| *y > 0.0).collect();
        let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min).min(1.0) / 2.0;
        let y_max = ys.iter().copied().fold(0.0, f64::max).max(1e-6) * 2.0;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d((x_min..x_max).log_scale(), (y_min.max(1e-9)..y_max).log_scale())?;
        chart.configure_mesh().x_desc("members").draw()?;
        for (i, n) in names.iter().enumerate() {
            let color = colors[i % colors.len()];
            let line: Vec<(f64, f64)> = points
                .iter()
                .filter_map(|p| p.scenarios.get(i).map(|s| (p.members as f64, f(s).max(1e-9))))
                .collect();
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
                .label(n.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
    }
    root.present()?;
    Ok(())
}
