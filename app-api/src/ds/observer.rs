//! What the delivery service follows of each group: an observer of its
//! public handshakes ([`PublicGroup`] for plain and extended groups,
//! [`ApqObserver`] for hybrid sessions), so that it orders only commits
//! valid for the group's current state and knows the membership from the
//! group itself, not from what a poster says (RFC 9420 §14, §16.x; RFC
//! 9750 §5). `drafts/delivery-service.md` lists what it checks and what
//! it cannot.

use std::collections::BTreeSet;
use std::sync::Arc;

use mlsx_base::codec::{Credential, FramedContentBody, MlsMessage, MlsMessageBody, Proposal, Sender, decode};
use mlsx_base::crypto::CryptoProvider as _;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::group::{GroupConfig, Observed, PublicGroup};
use mlsx_base::tree::RatchetTree;
use mlsx_combiner::{ApqMessagePair, ApqObserver, ApqSetup, Mode};
use mlsx_pq_suites::{PqProvider, PqSuite};

/// Why the service refuses a message or GroupInfo for a group it follows.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not valid for the group's current state: bad signature, invalid
    /// proposals, wrong tree, … (for good).
    Invalid(String),
    /// For an epoch the group has left: another commit won.
    Stale(String),
}

fn invalid(e: impl std::fmt::Display) -> Refused {
    Refused::Invalid(e.to_string())
}

/// A group the service follows.
#[derive(Debug)]
pub(crate) enum Observer {
    /// A plain or extended group.
    Plain(Box<PublicGroup>),
    /// A hybrid session, with the suites and mode it was set up with.
    Hybrid(Box<ApqObserver>, HybridSuites),
}

/// The suites and mode of a hybrid session, stored beside its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HybridSuites {
    t: u16,
    pq: u16,
    mode: u8,
}

/// What an accepted handshake did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Whether it was a commit (the group moved to a new epoch).
    pub(crate) commit: bool,
    /// The members before (names), who receive it.
    pub(crate) before: BTreeSet<String>,
    /// The members after.
    pub(crate) after: BTreeSet<String>,
    /// The (name, suite, signature key) of every leaf it brought in or
    /// changed, for the service's directory to check.
    pub(crate) new_keys: BTreeSet<LeafKey>,
}

/// A leaf's name, suite (code point) and signature key.
pub(crate) type LeafKey = (String, u16, Vec<u8>);

/// The leaves of a group by name, suite and signature key (a leaf whose
/// credential is not a name is left out: [`names`] refuses it).
fn leaf_keys(group: &PublicGroup, out: &mut BTreeSet<LeafKey>) {
    let suite = group.cipher_suite().0;
    for (_, leaf) in group.members() {
        if let Some(name) = name_of(&leaf.credential) {
            out.insert((name, suite, leaf.signature_key.as_slice().to_vec()));
        }
    }
}

/// The name of a basic credential (the service's client names).
fn name_of(c: &Credential) -> Option<String> {
    match c {
        Credential::Basic(id) => String::from_utf8(id.as_slice().to_vec()).ok(),
        _ => None,
    }
}

/// The members of a tree by name; a leaf without a basic credential whose
/// identity is UTF-8, or a name in two leaves, is refused (the service
/// routes by name).
pub(crate) fn names(tree: &RatchetTree) -> Result<BTreeSet<String>, Refused> {
    let mut out = BTreeSet::new();
    for (_, leaf) in tree.leaves() {
        let name = name_of(&leaf.credential).ok_or_else(|| invalid("a member without a basic UTF-8 credential"))?;
        if !out.insert(name.clone()) {
            return Err(invalid(format!("{name} is in the group twice")));
        }
    }
    Ok(out)
}

/// The configuration of an observer of a plain or extended group: the
/// extensions' handlers the clients install (their default components),
/// so that their proposals and GroupContext extensions are checked too.
fn plain_config() -> Result<GroupConfig, Refused> {
    let mut config = GroupConfig::default();
    let mut ext = mlsx_extensions::Extensions::new();
    ext.register(Arc::new(mlsx_extensions::ContentMediaTypes)).map_err(invalid)?;
    ext.install(&mut config).map_err(invalid)?;
    Ok(config)
}

fn hybrid_setup(s: HybridSuites) -> Result<ApqSetup, Refused> {
    let t_cs = RustCryptoProvider::new()
        .cipher_suite_provider(mlsx_base::codec::CipherSuite(s.t))
        .ok_or_else(|| invalid(format!("unsupported suite {:#06x}", s.t)))?;
    let pq = PqSuite::from_number(s.pq).ok_or_else(|| invalid(format!("no PQ suite TBD{}", s.pq)))?;
    let pq_cs = pq.provider().map_err(invalid)?;
    let mode = match s.mode {
        0 => Mode::ConfidentialityOnly,
        1 => Mode::ConfidentialityAndAuthenticity,
        m => return Err(invalid(format!("no combiner mode {m}"))),
    };
    ApqSetup::new(t_cs, pq_cs, mode).map_err(invalid)
}

impl Observer {
    /// Starts following the group a GroupInfo (or an APQMessagePair of
    /// GroupInfos) describes, with the ratchet tree inside.
    pub(crate) fn start(group_info: &[u8]) -> Result<Self, Refused> {
        let msg: MlsMessage = decode(group_info).map_err(invalid)?;
        match &msg.body {
            MlsMessageBody::GroupInfo(gi) => {
                let cs = RustCryptoProvider::new()
                    .cipher_suite_provider(gi.group_context.cipher_suite)
                    .ok_or_else(|| invalid(format!("unsupported suite {:#06x}", gi.group_context.cipher_suite.0)))?;
                let observer = PublicGroup::from_group_info(cs, gi, None, plain_config()?).map_err(invalid)?;
                names(observer.tree())?;
                Ok(Self::Plain(Box::new(observer)))
            }
            MlsMessageBody::Custom(_) => {
                let pair = ApqMessagePair::from_message(&msg).map_err(invalid)?;
                let (MlsMessageBody::GroupInfo(t), MlsMessageBody::GroupInfo(pq)) = (&pair.t_message.body, &pair.pq_message.body) else {
                    return Err(invalid("not a pair of GroupInfos"));
                };
                let profile = PqProvider::default();
                let pq_suite = PqSuite::ALL
                    .into_iter()
                    .find(|s| profile.code_point(*s) == Some(pq.group_context.cipher_suite))
                    .ok_or_else(|| invalid(format!("unknown PQ suite {:#06x}", pq.group_context.cipher_suite.0)))?;
                // The mode is checked against APQInfo when the observer starts.
                let mut last = None;
                for mode in [0, 1] {
                    let suites = HybridSuites {
                        t: t.group_context.cipher_suite.0,
                        pq: pq_suite.number(),
                        mode,
                    };
                    match hybrid_setup(suites).and_then(|setup| ApqObserver::from_group_info(&setup, &msg).map_err(invalid)) {
                        Ok(o) => {
                            names(o.t_group().tree())?;
                            return Ok(Self::Hybrid(Box::new(o), suites));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(|| invalid("no mode fits")))
            }
            _ => Err(invalid("not a GroupInfo")),
        }
    }

    /// The group (the T group of a session).
    fn group(&self) -> &PublicGroup {
        match self {
            Self::Plain(g) => g,
            Self::Hybrid(o, _) => o.t_group(),
        }
    }

    /// The current epoch (of the T group of a session).
    pub(crate) fn epoch(&self) -> u64 {
        self.group().epoch()
    }

    /// Whether the group takes this message as far as external joins go
    /// ([`crate::client::EXTERNAL_JOINS`]: open, or a member's resync).
    pub(crate) fn external_join_allowed(&self, msg: &MlsMessage) -> bool {
        crate::client::external_join_allowed(msg, self.group().context(), self.group().tree())
    }

    /// Whether the group is open to external joins.
    pub(crate) fn open_to_external_joins(&self) -> bool {
        crate::client::external_joins_open(self.group().context())
    }

    /// Every leaf's name, suite and signature key (in both groups of a
    /// session).
    pub(crate) fn keys(&self) -> BTreeSet<LeafKey> {
        let mut out = BTreeSet::new();
        match self {
            Self::Plain(g) => leaf_keys(g, &mut out),
            Self::Hybrid(o, _) => {
                leaf_keys(o.t_group(), &mut out);
                leaf_keys(o.pq_group(), &mut out);
            }
        }
        out
    }

    /// The members by name.
    pub(crate) fn members(&self) -> Result<BTreeSet<String>, Refused> {
        names(self.group().tree())
    }

    /// The signature key of member `name`'s leaf (the T leaf in a session).
    pub(crate) fn signature_key_of(&self, name: &str) -> Option<Vec<u8>> {
        self.group()
            .members()
            .find(|(_, l)| name_of(&l.credential).as_deref() == Some(name))
            .map(|(_, l)| l.signature_key.as_slice().to_vec())
    }

    /// Who sent a handshake (the T message of a pair), by name: a member
    /// by its leaf, a new member by the leaf it brings. `None` for what
    /// the service cannot attribute (a PrivateMessage, an external sender).
    pub(crate) fn sender_of(&self, msg: &MlsMessage) -> Option<String> {
        let t;
        let msg = match &msg.body {
            MlsMessageBody::Custom(_) => {
                t = ApqMessagePair::from_message(msg).ok()?.t_message;
                &t
            }
            _ => msg,
        };
        let MlsMessageBody::PublicMessage(m) = &msg.body else { return None };
        let credential = match (&m.content.sender, &m.content.body) {
            (Sender::Member(l), _) => self.group().tree().leaf(*l)?.credential.clone(),
            (Sender::NewMemberCommit, FramedContentBody::Commit(c)) => c.path.as_ref()?.leaf_node.credential.clone(),
            (Sender::NewMemberProposal, FramedContentBody::Proposal(Proposal::Add(a))) => a.key_package.leaf_node.credential.clone(),
            _ => return None,
        };
        name_of(&credential)
    }

    /// Checks a handshake (a PublicMessage proposal or commit, or a pair of
    /// them) against the group's state and applies it.
    pub(crate) fn process(&mut self, msg: &MlsMessage) -> Result<Outcome, Refused> {
        let before = self.members()?;
        let keys_before = self.keys();
        let epoch = self.epoch();
        // For an epoch the group has left: another commit took it.
        let stale = |e: &mlsx_base::Error| match e {
            mlsx_base::Error::Peer(mlsx_base::PeerError::WrongEpoch { message, .. }) if *message < epoch => {
                Some(Refused::Stale(format!("epoch {message} already has a commit")))
            }
            _ => None,
        };
        let commit = match self {
            Self::Plain(g) => {
                let mut next = (**g).clone();
                let commit = match next.process_message(msg) {
                    Ok(Observed::Proposal(_)) => false,
                    Ok(Observed::Commit(staged)) => {
                        next.merge_staged_commit(staged).map_err(invalid)?;
                        true
                    }
                    Err(e) => return Err(stale(&e).unwrap_or_else(|| invalid(e))),
                };
                names(next.tree())?;
                **g = next;
                commit
            }
            Self::Hybrid(o, suites) => {
                let setup = hybrid_setup(*suites)?;
                let mut next = ApqObserver::load(&setup, &o.save().map_err(invalid)?).map_err(invalid)?;
                let kind = match next.process(msg) {
                    Ok(k) => k,
                    Err(mlsx_combiner::Error::Base(e)) => return Err(stale(&e).unwrap_or_else(|| invalid(e))),
                    Err(e) => return Err(invalid(e)),
                };
                names(next.t_group().tree())?;
                **o = next;
                matches!(kind, mlsx_combiner::ApqObserved::Full | mlsx_combiner::ApqObserved::Partial)
            }
        };
        Ok(Outcome {
            commit,
            before,
            after: self.members()?,
            new_keys: self.keys().difference(&keys_before).cloned().collect(),
        })
    }

    /// Checks that a GroupInfo (or pair) describes the current epoch.
    pub(crate) fn check_group_info(&self, group_info: &[u8]) -> Result<(), Refused> {
        let msg: MlsMessage = decode(group_info).map_err(invalid)?;
        match (self, &msg.body) {
            (Self::Plain(g), MlsMessageBody::GroupInfo(gi)) => g.check_group_info(gi).map_err(invalid),
            (Self::Hybrid(o, _), MlsMessageBody::Custom(_)) => o.check_group_info(&msg).map_err(invalid),
            _ => Err(invalid("not a GroupInfo of this kind of group")),
        }
    }

    /// The state to store: a kind (0 plain or extended, 1 hybrid), and
    /// the suites (2 bytes, or 2 + 2 + the mode byte) before the
    /// observer's own state.
    pub(crate) fn save(&self) -> Result<(i64, Vec<u8>), Refused> {
        match self {
            Self::Plain(g) => {
                let mut out = g.cipher_suite().0.to_be_bytes().to_vec();
                out.extend_from_slice(&g.save().map_err(invalid)?);
                Ok((0, out))
            }
            Self::Hybrid(o, s) => {
                let mut out = [s.t.to_be_bytes(), s.pq.to_be_bytes()].concat();
                out.push(s.mode);
                out.extend_from_slice(&o.save().map_err(invalid)?);
                Ok((1, out))
            }
        }
    }

    /// Restores what [`Self::save`] stored.
    pub(crate) fn load(kind: i64, bytes: &[u8]) -> Result<Self, Refused> {
        let corrupt = || invalid("corrupt group state");
        let u16_at = |i: usize| {
            bytes
                .get(i..i + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or_else(corrupt)
        };
        match kind {
            0 => {
                let suite = mlsx_base::codec::CipherSuite(u16_at(0)?);
                let cs = RustCryptoProvider::new()
                    .cipher_suite_provider(suite)
                    .ok_or_else(|| invalid(format!("unsupported suite {:#06x}", suite.0)))?;
                let g = PublicGroup::load(cs, bytes.get(2..).ok_or_else(corrupt)?, plain_config()?).map_err(invalid)?;
                Ok(Self::Plain(Box::new(g)))
            }
            1 => {
                let suites = HybridSuites {
                    t: u16_at(0)?,
                    pq: u16_at(2)?,
                    mode: *bytes.get(4).ok_or_else(corrupt)?,
                };
                let setup = hybrid_setup(suites)?;
                let o = ApqObserver::load(&setup, bytes.get(5..).ok_or_else(corrupt)?).map_err(invalid)?;
                Ok(Self::Hybrid(Box::new(o), suites))
            }
            k => Err(invalid(format!("no group kind {k}"))),
        }
    }
}
