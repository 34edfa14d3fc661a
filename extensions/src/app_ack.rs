//! AppAck (§6.1): acknowledging the application messages received in an
//! epoch, as AppEphemeral data of component `app_ack` (0x0005), so that a
//! delivery service that drops messages is noticed.
//!
//! - [`AppAckComponent`] registers the component: AppEphemeral proposals
//!   with its id are accepted when their data is a well-formed [`AppAck`];
//! - [`AckTracker`] records what we send and receive in the current epoch,
//!   builds AppAcks ([`AckTracker::ack`], or [`AckTracker::take_ack`] for
//!   what is new since the last one), collects other members' AppAcks from
//!   commits ([`AckTracker::record_commit`]) and reports which messages
//!   were lost ([`AckTracker::losses`]).
//!
//! When to send AppAcks is the application's choice (§8: with every
//! commit, with every application message, or on a timer).

use std::collections::{BTreeMap, BTreeSet};

use mlsx_base::codec::{MlsMessage, Proposal, Sender, decode, encode};
use mlsx_base::group::{Group, Received, StagedCommit};
use mlsx_base::tree::math::LeafIndex;

use crate::codec::{AppAck, MessageRange};
use crate::component::{Component, Origin, Rejection};
use crate::{APP_ACK, ComponentId, Error, Extensions};

/// The `app_ack` component: checks that AppEphemeral data of its id is an
/// [`AppAck`] whose every range runs forwards. Register it with
/// [`Extensions::register`] to send or accept AppAcks.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppAckComponent;

impl Component for AppAckComponent {
    fn id(&self) -> ComponentId {
        APP_ACK
    }

    fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
        let ack: AppAck = decode(data).map_err(|_| Rejection::new("not an AppAck"))?;
        if ack.received_ranges.iter().any(|r| r.first_generation > r.last_generation) {
            return Err(Rejection::new("a MessageRange runs backwards"));
        }
        Ok(())
    }
}

/// Turns sets of generations into ranges of consecutive ones.
fn ranges(of: &BTreeMap<u32, BTreeSet<u32>>) -> Vec<MessageRange> {
    let mut out = vec![];
    for (&sender, generations) in of {
        let mut run: Option<(u32, u32)> = None;
        for &g in generations {
            run = match run {
                Some((first, last)) if last.checked_add(1) == Some(g) => Some((first, g)),
                Some((first, last)) => {
                    out.push(MessageRange {
                        sender,
                        first_generation: first,
                        last_generation: last,
                    });
                    Some((g, g))
                }
                None => Some((g, g)),
            };
        }
        if let Some((first, last)) = run {
            out.push(MessageRange {
                sender,
                first_generation: first,
                last_generation: last,
            });
        }
    }
    out
}

impl AppAck {
    /// The AppAck of a set of received messages, `(sender, generation)`:
    /// one range per run of consecutive generations of a sender, senders
    /// and generations in increasing order.
    pub fn of_messages(messages: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut by_sender: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (sender, generation) in messages {
            by_sender.entry(sender).or_default().insert(generation);
        }
        Self {
            received_ranges: ranges(&by_sender),
        }
    }
}

/// Which messages were lost, as far as the AppAcks of the epoch show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Generations of our own messages that a member who sent AppAcks in
    /// this epoch did not acknowledge, by member. Only messages sent before
    /// that member's last AppAck count: later ones may still arrive.
    pub unacknowledged: BTreeMap<LeafIndex, Vec<u32>>,
    /// Messages we did not receive, by sender: gaps below a generation we
    /// did receive, and generations another member acknowledged.
    pub missing: BTreeMap<LeafIndex, Vec<u32>>,
}

impl Losses {
    /// Whether nothing was lost.
    pub fn is_empty(&self) -> bool {
        self.unacknowledged.is_empty() && self.missing.is_empty()
    }
}

/// Records the application messages of the current epoch: those we sent,
/// those we received, and what the others acknowledged. A new epoch starts
/// a new record (generations restart at 0 in every epoch, RFC 9420 §9).
#[derive(Clone, Debug, Default)]
pub struct AckTracker {
    epoch: u64,
    sent: BTreeSet<u32>,
    /// Our own sent generations when each member's last AppAck arrived.
    sent_at_ack: BTreeMap<u32, u32>,
    received: BTreeMap<u32, BTreeSet<u32>>,
    acked: BTreeMap<u32, BTreeSet<u32>>,
    /// What each other member acknowledged, by sender.
    acks: BTreeMap<u32, BTreeMap<u32, BTreeSet<u32>>>,
}

impl AckTracker {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves to `epoch` if it is newer (forgetting the old record); returns
    /// whether records of `epoch` are kept.
    fn at(&mut self, epoch: u64) -> bool {
        if epoch > self.epoch {
            *self = Self { epoch, ..Self::default() };
        }
        epoch == self.epoch
    }

    /// The epoch recorded.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Encrypts an application message and records its generation.
    pub fn encrypt(&mut self, group: &mut Group, data: &[u8], authenticated_data: &[u8]) -> Result<MlsMessage, Error> {
        let generation = group.next_application_generation();
        let msg = group.encrypt_application(data, authenticated_data)?;
        self.record_sent(group.epoch(), generation);
        Ok(msg)
    }

    /// Records that we sent the application message of `generation` in
    /// `epoch` ([`Group::next_application_generation`] before sending).
    pub fn record_sent(&mut self, epoch: u64, generation: u32) {
        if self.at(epoch) {
            self.sent.insert(generation);
        }
    }

    /// Records a received application message; other results are ignored.
    /// Messages of past epochs are not acknowledged (§6.1: "the current
    /// epoch").
    pub fn record_received(&mut self, received: &Received) {
        if let Received::Application {
            sender, epoch, generation, ..
        } = received
            && self.at(*epoch)
        {
            self.received.entry(sender.0).or_default().insert(*generation);
        }
    }

    /// The AppAck of everything received in the epoch.
    pub fn ack(&self) -> AppAck {
        AppAck {
            received_ranges: ranges(&self.received),
        }
    }

    /// The AppAck of what was received since the last `take_ack` (the
    /// schedule "whenever an application message is sent, covering all
    /// messages received since its last AppAck"), or `None` if nothing is
    /// new.
    pub fn take_ack(&mut self) -> Option<AppAck> {
        let mut new: BTreeMap<u32, BTreeSet<u32>> = BTreeMap::new();
        for (sender, generations) in &self.received {
            let done = self.acked.entry(*sender).or_default();
            for g in generations {
                if done.insert(*g) {
                    new.entry(*sender).or_default().insert(*g);
                }
            }
        }
        (!new.is_empty()).then(|| AppAck {
            received_ranges: ranges(&new),
        })
    }

    /// The AppEphemeral proposal carrying an AppAck.
    pub fn proposal(ext: &Extensions, ack: &AppAck) -> Result<Proposal, Error> {
        ext.app_ephemeral(APP_ACK, encode(ack)?)
    }

    /// Records the AppAcks in a commit of this epoch (before it is merged:
    /// they acknowledge messages of the epoch it ends). AppAcks from
    /// senders that are not members are ignored.
    pub fn record_commit(&mut self, ext: &Extensions, parent_epoch: u64, staged: &StagedCommit, own_leaf: LeafIndex) -> Result<(), Error> {
        if !self.at(parent_epoch) {
            return Ok(());
        }
        for (sender, e) in ext.app_ephemeral_with_senders(staged)? {
            if e.component_id != APP_ACK {
                continue;
            }
            let Sender::Member(by) = sender else { continue };
            if by == own_leaf {
                continue;
            }
            let ack: AppAck = decode(e.data.as_slice())?;
            let theirs = self.acks.entry(by.0).or_default();
            for r in &ack.received_ranges {
                let set = theirs.entry(r.sender).or_default();
                set.extend(r.first_generation..=r.last_generation);
            }
            let sent_so_far = self.sent.last().map_or(0, |g| g + 1);
            self.sent_at_ack.insert(by.0, sent_so_far);
        }
        Ok(())
    }

    /// What was lost as far as this epoch's record shows (§6.1, §8).
    pub fn losses(&self, own_leaf: LeafIndex) -> Losses {
        let mut out = Losses::default();
        for (by, theirs) in &self.acks {
            let upto = self.sent_at_ack.get(by).copied().unwrap_or(0);
            let got = theirs.get(&own_leaf.0);
            let lost: Vec<u32> = self
                .sent
                .iter()
                .copied()
                .filter(|g| *g < upto && !got.is_some_and(|s| s.contains(g)))
                .collect();
            if !lost.is_empty() {
                out.unacknowledged.insert(LeafIndex(*by), lost);
            }
        }
        let mut senders: BTreeSet<u32> = self.received.keys().copied().collect();
        for theirs in self.acks.values() {
            senders.extend(theirs.keys().copied().filter(|s| *s != own_leaf.0));
        }
        for sender in senders {
            let mine = self.received.get(&sender);
            let mut expected: BTreeSet<u32> = mine.and_then(|s| s.last()).map_or(BTreeSet::new(), |max| (0..*max).collect());
            for theirs in self.acks.values() {
                if let Some(s) = theirs.get(&sender) {
                    expected.extend(s.iter().copied());
                }
            }
            let missing: Vec<u32> = expected.into_iter().filter(|g| !mine.is_some_and(|s| s.contains(g))).collect();
            if !missing.is_empty() {
                out.missing.insert(LeafIndex(sender), missing);
            }
        }
        out
    }
}
