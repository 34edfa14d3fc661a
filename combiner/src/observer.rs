//! An observer of a hybrid session (§3): a non-member, such as a delivery
//! service, that follows the session's public handshakes and checks what
//! the members check and it can: each half of an APQMessagePair against an
//! observer of its group ([`PublicGroup`]), and between the halves the
//! session's rules (the same code as [`ApqSession`](crate::ApqSession)):
//! the same membership change in both, APQInfo kept and naming both new
//! epochs, a FULL commit's T half injecting an `apq_psk` (its id is derived
//! from the PQ group's secrets, so only its presence can be checked), no
//! membership change or APQInfo update in a PARTIAL commit, no lone PQ
//! message.
//!
//! What it cannot check is what an observer of a single group cannot
//! either (see [`mlsx_base::group::PublicGroup`]): confirmation tags, path
//! secrets, and here also the value of `apq_psk`. PrivateMessage
//! handshakes cannot be observed at all.

use mlsx_base::codec::{ContentType, MlsMessage, MlsMessageBody, Psk};
use mlsx_base::group::{GroupConfig, Observed, PublicGroup};

use crate::Error;
use crate::codec::{APQ_MESSAGE_PAIR, ApqInfo, ApqMessagePair};
use crate::session::{ApqSetup, Half, Rules, group_id_of, handshake_of, open_pair, same_members};
use mlsx_extensions::APQ_MLS_INFO;

/// What [`ApqObserver::process`] accepted (and applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApqObserved {
    /// A pair of proposals, cached in both groups for a FULL commit.
    ProposalPair,
    /// A proposal in the T group alone, cached for its next commit.
    Proposal,
    /// A FULL commit: both groups moved to their next epoch.
    Full,
    /// A PARTIAL commit: the T group moved to its next epoch.
    Partial,
}

/// An observer of a hybrid session's two groups (see the [module](self)
/// docs).
///
/// ```
/// # use std::sync::Arc;
/// # use mlsx_base::codec::CipherSuite;
/// # use mlsx_base::crypto::rustcrypto::rfc9420_suite;
/// use mlsx_combiner::{ApqClient, ApqObserved, ApqObserver, ApqSetup, Mode};
/// use mlsx_pq_suites::PqSuite;
/// # let t = Arc::new(rfc9420_suite(CipherSuite(1)).ok_or("suite")?);
/// let setup = ApqSetup::new(t, PqSuite::Tbd6.provider()?, Mode::ConfidentialityOnly)?;
/// let mut alice = ApqClient::new(setup.clone(), b"alice")?.create_session(b"t".to_vec(), b"pq".to_vec())?;
/// let mut observer = ApqObserver::from_group_info(&setup, &alice.group_info()?)?;
/// let out = alice.full_commit(vec![], vec![])?;
/// alice.confirm()?;
/// assert_eq!(observer.process(&out.message)?, ApqObserved::Full);
/// assert_eq!(observer.t_group().context(), alice.t_group().context());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ApqObserver {
    setup: ApqSetup,
    t: Half,
    pq: Half,
    t_group: PublicGroup,
    pq_group: PublicGroup,
}

impl ApqObserver {
    fn halves(setup: &ApqSetup) -> Result<(Half, Half), Error> {
        Ok((
            Half::new(setup.t_cs.clone(), &setup.t_config, setup.private_handshake)?,
            Half::new(setup.pq_cs.clone(), &setup.pq_config, setup.private_handshake)?,
        ))
    }

    /// An observer of the session whose two GroupInfos `group_info` carries
    /// as an APQMessagePair ([`ApqSession::group_info`](crate::ApqSession::group_info)):
    /// each checked as [`PublicGroup::from_group_info`] does, with the
    /// session's hooks, and together as a session's pair of epochs (APQInfo
    /// in both, naming both, the same members).
    pub fn from_group_info(setup: &ApqSetup, group_info: &MlsMessage) -> Result<Self, Error> {
        let (t, pq) = Self::halves(setup)?;
        let pair = open_pair(group_info)?;
        let (MlsMessageBody::GroupInfo(t_gi), MlsMessageBody::GroupInfo(pq_gi)) = (&pair.t_message.body, &pair.pq_message.body) else {
            return Err(Error::NotAPair(pair.wire_format));
        };
        let config = |h: &Half| -> GroupConfig { h.config.clone() };
        let t_group = PublicGroup::from_group_info(setup.t_cs.clone(), t_gi, None, config(&t))?;
        let pq_group = PublicGroup::from_group_info(setup.pq_cs.clone(), pq_gi, None, config(&pq))?;
        let observer = Self {
            setup: setup.clone(),
            t,
            pq,
            t_group,
            pq_group,
        };
        observer
            .rules()
            .check_pair_state(observer.t_group.context(), observer.pq_group.context())?;
        same_members(observer.t_group.tree(), observer.pq_group.tree())?;
        Ok(observer)
    }

    /// An observer at a session's current public state.
    pub(crate) fn of_groups(setup: &ApqSetup, t_group: PublicGroup, pq_group: PublicGroup) -> Result<Self, Error> {
        let (t, pq) = Self::halves(setup)?;
        Ok(Self {
            setup: setup.clone(),
            t,
            pq,
            t_group,
            pq_group,
        })
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            mode: self.setup.mode,
            t: &self.t,
            pq: &self.pq,
            t_group: &self.t_group,
            pq_group: &self.pq_group,
        }
    }

    /// The observer's state as bytes (nothing in it is secret); the setup
    /// is not included: [`Self::load`] takes it.
    pub fn save(&self) -> Result<Vec<u8>, Error> {
        let t = self.t_group.save()?;
        let pq = self.pq_group.save()?;
        let mut out = Vec::with_capacity(t.len() + pq.len() + 8);
        out.extend_from_slice(&u64::try_from(t.len()).unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(&t);
        out.extend_from_slice(&pq);
        Ok(out)
    }

    /// Restores an observer saved with [`Self::save`] under `setup`.
    pub fn load(setup: &ApqSetup, bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = || Error::Base(mlsx_base::StateError::Corrupt.into());
        let (len, rest) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| corrupt())?;
        let (t, pq) = (rest.get(..len).ok_or_else(corrupt)?, rest.get(len..).ok_or_else(corrupt)?);
        let (th, pqh) = Self::halves(setup)?;
        let t_group = PublicGroup::load(setup.t_cs.clone(), t, th.config.clone())?;
        let pq_group = PublicGroup::load(setup.pq_cs.clone(), pq, pqh.config.clone())?;
        Ok(Self {
            setup: setup.clone(),
            t: th,
            pq: pqh,
            t_group,
            pq_group,
        })
    }

    /// The T group's public state.
    pub fn t_group(&self) -> &PublicGroup {
        &self.t_group
    }

    /// The PQ group's public state.
    pub fn pq_group(&self) -> &PublicGroup {
        &self.pq_group
    }

    /// The APQInfo of the current epochs (that of the last FULL commit).
    pub fn info(&self) -> Result<ApqInfo, Error> {
        self.t.info_of(self.t_group.context(), "T")
    }

    /// Checks that an APQMessagePair of GroupInfos describes the current
    /// epochs of both groups ([`PublicGroup::check_group_info`] for each).
    pub fn check_group_info(&self, group_info: &MlsMessage) -> Result<(), Error> {
        let pair = open_pair(group_info)?;
        let (MlsMessageBody::GroupInfo(t_gi), MlsMessageBody::GroupInfo(pq_gi)) = (&pair.t_message.body, &pair.pq_message.body) else {
            return Err(Error::NotAPair(pair.wire_format));
        };
        self.t_group.check_group_info(t_gi)?;
        self.pq_group.check_group_info(pq_gi)?;
        Ok(())
    }

    /// Checks a session message as a non-member can and applies it: an
    /// APQMessagePair of commits (FULL) or of proposals, or a T-group
    /// proposal or commit (PARTIAL). On any error both groups are as they
    /// were.
    pub fn process(&mut self, msg: &MlsMessage) -> Result<ApqObserved, Error> {
        if msg.body.wire_format() == APQ_MESSAGE_PAIR {
            return self.process_pair(&open_pair(msg)?);
        }
        if group_id_of(msg).is_some_and(|g| g == self.pq_group.group_id()) {
            return Err(Error::LonePqMessage);
        }
        self.rules().check_t_only_message(msg)?;
        // PublicGroup::process_message changes nothing on error, and only
        // caches a proposal otherwise.
        match self.t_group.process_message(msg)? {
            Observed::Proposal(_) => Ok(ApqObserved::Proposal),
            Observed::Commit(staged) => {
                self.rules()
                    .check_partial(staged.added(), staged.removed(), staged.tree(), staged.context())?;
                self.t_group.merge_staged_commit(staged)?;
                Ok(ApqObserved::Partial)
            }
        }
    }

    fn process_pair(&mut self, pair: &ApqMessagePair) -> Result<ApqObserved, Error> {
        let (Some((t_id, t_type)), Some((pq_id, pq_type))) = (handshake_of(&pair.t_message), handshake_of(&pair.pq_message)) else {
            return Err(Error::InnerWireFormat(pair.wire_format));
        };
        for (id, group) in [(t_id, &self.t_group), (pq_id, &self.pq_group)] {
            if id != group.group_id() {
                return Err(Error::WrongGroup {
                    expected: group.group_id().to_vec(),
                    got: id.to_vec(),
                });
            }
        }
        match (t_type, pq_type) {
            (ContentType::COMMIT, ContentType::COMMIT) => self.full(pair),
            (ContentType::PROPOSAL, ContentType::PROPOSAL) => {
                // Both or neither, checked as the FULL commit that must
                // take them would check them.
                let (mut t_group, mut pq_group) = (self.t_group.clone(), self.pq_group.clone());
                let (Observed::Proposal(pq), Observed::Proposal(t)) = (
                    pq_group.process_message(&pair.pq_message)?,
                    t_group.process_message(&pair.t_message)?,
                ) else {
                    return Err(Error::MixedPair);
                };
                Rules {
                    t_group: &t_group,
                    pq_group: &pq_group,
                    ..self.rules()
                }
                .check_proposal_pair(&t, &pq)?;
                (self.t_group, self.pq_group) = (t_group, pq_group);
                Ok(ApqObserved::ProposalPair)
            }
            (ContentType::APPLICATION, _) | (_, ContentType::APPLICATION) => Err(Error::ApplicationInPair),
            _ => Err(Error::MixedPair),
        }
    }

    /// A FULL commit (§3.1): both halves staged, the T half injecting an
    /// `apq_psk`, APQInfo and membership checked on both new epochs, both
    /// merged.
    fn full(&mut self, pair: &ApqMessagePair) -> Result<ApqObserved, Error> {
        let Observed::Commit(pq) = self.pq_group.clone().process_message(&pair.pq_message)? else {
            return Err(Error::MixedPair);
        };
        let Observed::Commit(t) = self.t_group.clone().process_message(&pair.t_message)? else {
            return Err(Error::MixedPair);
        };
        if t.reinit().is_some() || pq.reinit().is_some() {
            return Err(Error::UnsupportedInSession("ReInit"));
        }
        let apq_psk = |id: &mlsx_base::codec::PreSharedKeyId| matches!(&id.psk, Psk::Application(a) if a.component_id == APQ_MLS_INFO);
        if !t.psk_ids().iter().any(apq_psk) {
            return Err(Error::MissingApqPsk);
        }
        Rules::same_committer((t.sender(), t.tree()), (pq.sender(), pq.tree()))?;
        self.rules().check_pair_state(t.context(), pq.context())?;
        same_members(t.tree(), pq.tree())?;
        self.pq_group.merge_staged_commit(pq)?;
        self.t_group.merge_staged_commit(t)?;
        Ok(ApqObserved::Full)
    }
}
