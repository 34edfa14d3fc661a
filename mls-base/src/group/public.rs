//! The public state of a group, and an observer that follows it without
//! being a member (RFC 9420 §8.1, §12.4.2; RFC 9750 §5: a Delivery Service
//! that sees public handshakes can check what it orders).
//!
//! A [`PublicGroup`] holds what all members of an epoch have in common and
//! nothing secret: the GroupContext, the ratchet tree, the interim
//! transcript hash and the proposals received in the epoch. Every
//! [`Group`](super::Group) is built around one; on its own it is an
//! observer. An observer starts from a GroupInfo and its ratchet tree,
//! checked as a joiner checks them (§12.4.3.1, minus the secrets), and then
//! takes each handshake the members send as a PublicMessage. It runs the
//! same validation code as the members, so it accepts exactly the proposals
//! and commits they accept, up to what needs the epoch's secrets:
//!
//! - it checks a message's group, epoch, sender and signature (§6.1), but
//!   not its `membership_tag` (§6.2, keyed with the membership key): a
//!   member's message must carry one;
//! - it checks every rule of §12.2–§12.3 on a commit's proposals, the
//!   UpdatePath's leaf and keys (§7.3, §12.4.2) and the parent hashes it
//!   sets, and computes the new tree hash, GroupContext and transcript
//!   hashes (§8.2);
//! - it cannot check the commit's `confirmation_tag` (keyed with the new
//!   epoch's confirmation key) nor decrypt the UpdatePath: a member can
//!   send a commit the observer accepts and the other members refuse (a
//!   wrong tag or path secret). It then cannot tell that the group did not
//!   follow; the members can, and their next commit for that epoch fails
//!   at the observer as stale.
//!
//! PrivateMessages cannot be observed at all
//! ([`MisuseError::EncryptedForObserver`]). Proposal types and extensions
//! beyond RFC 9420 plug in through the same [`hooks`](super::hooks) as in
//! groups: their handlers receive the `PublicGroup`.
//!
//! ```
//! use std::sync::Arc;
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::rustcrypto::rfc9420_suite;
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Observed, PublicGroup};
//!
//! let cs = Arc::new(rfc9420_suite(CipherSuite(1)).ok_or("suite")?);
//! let mut alice = Group::create(cs.clone(), Identity::basic(cs.as_ref(), b"alice")?, b"g".to_vec(), GroupConfig::default())?;
//! // The observer starts from a GroupInfo with the ratchet tree in it.
//! let mut observer = PublicGroup::from_group_info(cs.clone(), &alice.group_info()?, None, GroupConfig::default())?;
//!
//! let bob = Identity::basic(cs.as_ref(), b"bob")?.key_package(cs.as_ref())?;
//! let out = alice.commit(CommitOptions::add(vec![bob.key_package]))?;
//! alice.merge_pending_commit()?;
//! let Observed::Commit(staged) = observer.process_message(&out.commit)? else { return Err("a commit".into()) };
//! observer.merge_staged_commit(staged)?;
//! assert_eq!(observer.context(), alice.context());
//! assert_eq!(observer.members().count(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::commit::PublicStage;
use super::limits::Limit;
use super::{CachedProposal, GroupConfig, MemberSummary, commit};
use crate::codec::{
    AuthenticatedContent, CipherSuite, Credential, ExtensionType, ExternalSender, FramedContentBody, GroupContext, GroupInfo, LeafNode,
    MlsMessage, MlsMessageBody, PreSharedKeyId, Proposal, ProposalRef, ProposalType, ProtocolVersion, RatchetTreeNodes, ReInit, Sender,
    WireFormat, decode, encode, find_extension,
};
use crate::crypto::labeled::PROPOSAL_REF_LABEL;
use crate::crypto::{CipherSuiteProvider, LabeledCrypto};
use crate::error::{Error, MisuseError, PeerError, StateError};
use crate::framing;
use crate::schedule::interim_transcript_hash;
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;

/// The public state of a group in one epoch: what its members hold in
/// common, and what an observer follows (see the [module](self) docs).
#[derive(Clone, Debug)]
pub struct PublicGroup {
    pub(super) cs: Arc<dyn CipherSuiteProvider>,
    pub(super) config: GroupConfig,
    pub(super) context: GroupContext,
    pub(super) tree: RatchetTree,
    pub(super) interim_transcript_hash: Vec<u8>,
    pub(super) pending: Vec<CachedProposal>,
    /// The members of `tree`, counted for leaf validation; built on first
    /// use and kept up to date across commits that only change the
    /// committer's leaf (the common update commit), so that processing one
    /// does not rebuild it in O(n).
    pub(super) summary: OnceLock<MemberSummary>,
}

/// What [`PublicGroup::process_message`] accepted.
#[must_use = "an observed commit changes nothing until it is merged with PublicGroup::merge_staged_commit"]
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Observed {
    /// A proposal, now cached for a later commit.
    Proposal(CachedProposal),
    /// A commit valid as far as a non-member can tell, to be merged with
    /// [`PublicGroup::merge_staged_commit`].
    Commit(PublicStagedCommit),
}

/// A commit an observer accepted: the next epoch's public state.
#[must_use = "a staged commit changes nothing until it is merged with PublicGroup::merge_staged_commit"]
#[derive(Debug)]
pub struct PublicStagedCommit {
    parent_epoch: u64,
    context: GroupContext,
    tree: RatchetTree,
    interim_transcript_hash: Vec<u8>,
    sender: Sender,
    committer: LeafIndex,
    added: Vec<LeafIndex>,
    removed: Vec<LeafIndex>,
    records: Vec<(ProposalType, Vec<u8>)>,
    psks: Vec<PreSharedKeyId>,
    reinit: Option<ReInit>,
    summary_change: Option<(LeafNode, LeafNode)>,
}

impl PublicStagedCommit {
    /// The GroupContext of the new epoch.
    pub fn context(&self) -> &GroupContext {
        &self.context
    }

    /// The ratchet tree of the new epoch.
    pub fn tree(&self) -> &RatchetTree {
        &self.tree
    }

    /// The epoch this commit starts.
    pub fn epoch(&self) -> u64 {
        self.context.epoch
    }

    /// Who sent it: a member, or a new member joining by external commit.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The committer's leaf in the new epoch (an external joiner's new leaf).
    pub fn committer(&self) -> LeafIndex {
        self.committer
    }

    /// Leaves added by Add proposals (they join by Welcome).
    pub fn added(&self) -> &[LeafIndex] {
        &self.added
    }

    /// Leaves removed (by Remove proposals, new types' handlers, or the
    /// old leaf of an external commit's resync).
    pub fn removed(&self) -> &[LeafIndex] {
        &self.removed
    }

    /// What proposal handlers recorded while applying the commit.
    pub fn hook_records(&self) -> &[(ProposalType, Vec<u8>)] {
        &self.records
    }

    /// The PSKs the commit injects, in commit order.
    pub fn psk_ids(&self) -> &[PreSharedKeyId] {
        &self.psks
    }

    /// The ReInit committed, if any (RFC 9420 §11.2).
    pub fn reinit(&self) -> Option<&ReInit> {
        self.reinit.as_ref()
    }
}

/// Saved state of a [`PublicGroup`] (nothing in it is secret).
#[derive(Serialize, Deserialize)]
struct PublicState {
    version: u16,
    context: Vec<u8>,
    tree: Vec<u8>,
    interim_transcript_hash: Vec<u8>,
    pending: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

/// Format version of a saved [`PublicGroup`].
const PUBLIC_STATE_VERSION: u16 = 1;

impl PublicGroup {
    pub(super) fn new(
        cs: Arc<dyn CipherSuiteProvider>,
        config: GroupConfig,
        context: GroupContext,
        tree: RatchetTree,
        interim_transcript_hash: Vec<u8>,
    ) -> Self {
        Self {
            cs,
            config,
            context,
            tree,
            interim_transcript_hash,
            pending: vec![],
            summary: OnceLock::new(),
        }
    }

    /// An observer of the group a GroupInfo describes, with its ratchet
    /// tree from the `ratchet_tree` extension or else `tree`. Checked as a
    /// joiner checks them (RFC 9420 §12.4.3.1): the GroupInfo's signature by
    /// a member, the tree's hash against the GroupContext, its parent
    /// hashes, every leaf (signature, credential through
    /// [`GroupConfig::validator`], fields), the extensions through the
    /// hooks. The confirmation tag cannot be checked without the epoch's
    /// secrets; it is signed by the GroupInfo's signer.
    pub fn from_group_info(
        cs: Arc<dyn CipherSuiteProvider>,
        group_info: &GroupInfo,
        tree: Option<RatchetTreeNodes>,
        config: GroupConfig,
    ) -> Result<Self, Error> {
        let c = cs.as_ref();
        let size = tls_codec::Size::tls_serialized_len(group_info) + tree.as_ref().map_or(0, tls_codec::Size::tls_serialized_len);
        config.limits.check(Limit::MessageSize, size)?;
        let context = &group_info.group_context;
        if context.cipher_suite != c.cipher_suite() {
            return Err(PeerError::InvalidGroupInfo("cipher suite").into());
        }
        if context.version != ProtocolVersion::MLS10 {
            return Err(PeerError::UnsupportedVersion(context.version.0).into());
        }
        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupContext, &context.extensions)?;
        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupInfo, &group_info.extensions)?;
        let tree = super::welcome::verified_tree(c, group_info, tree, &config)?;
        let interim = interim_transcript_hash(
            c,
            context.confirmed_transcript_hash.as_slice(),
            group_info.confirmation_tag.as_slice(),
        )?;
        Ok(Self::new(cs, config, context.clone(), tree, interim))
    }

    /// Checks that a GroupInfo describes this epoch: the same
    /// GroupContext, the same confirmation tag (through the interim
    /// transcript hash), a signature by a member's leaf, and, if it carries
    /// a `ratchet_tree`, this tree. For a service that hands GroupInfos to
    /// joiners and must not hand out a forged or stale one.
    pub fn check_group_info(&self, group_info: &GroupInfo) -> Result<(), Error> {
        let c = self.cs.as_ref();
        if group_info.group_context != self.context {
            return Err(PeerError::InvalidGroupInfo("not this epoch's GroupContext").into());
        }
        let interim = interim_transcript_hash(
            c,
            self.context.confirmed_transcript_hash.as_slice(),
            group_info.confirmation_tag.as_slice(),
        )?;
        if interim != self.interim_transcript_hash {
            return Err(PeerError::InvalidGroupInfo("not this epoch's confirmation tag").into());
        }
        self.config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupInfo, &group_info.extensions)?;
        if let Some(e) = find_extension(&group_info.extensions, ExtensionType::RATCHET_TREE)
            && decode::<RatchetTreeNodes>(e.extension_data.as_slice())? != self.tree.to_nodes()
        {
            return Err(PeerError::InvalidGroupInfo("not this epoch's ratchet tree").into());
        }
        let signer = self
            .tree
            .leaf(group_info.signer)
            .ok_or(PeerError::InvalidGroupInfo("signer is not a member"))?;
        c.verify_with_label(
            signer.signature_key.as_slice(),
            b"GroupInfoTBS",
            &group_info.tbs()?,
            group_info.signature.as_slice(),
        )
        .map_err(|_| PeerError::InvalidGroupInfo("signature"))?;
        Ok(())
    }

    /// The cipher suite provider.
    pub fn cipher_suite_provider(&self) -> &dyn CipherSuiteProvider {
        self.cs.as_ref()
    }

    /// The current GroupContext.
    pub fn context(&self) -> &GroupContext {
        &self.context
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.context.epoch
    }

    /// The group id.
    pub fn group_id(&self) -> &[u8] {
        self.context.group_id.as_slice()
    }

    /// The cipher suite.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.context.cipher_suite
    }

    /// The public ratchet tree.
    pub fn tree(&self) -> &RatchetTree {
        &self.tree
    }

    /// The members: each leaf index with its LeafNode.
    pub fn members(&self) -> impl Iterator<Item = (LeafIndex, &LeafNode)> {
        self.tree.leaves()
    }

    /// The leaf of the member whose credential is `credential` (the first,
    /// should an application allow one credential in several leaves).
    pub fn member_by_credential(&self, credential: &Credential) -> Option<LeafIndex> {
        self.tree.leaves().find(|(_, l)| l.credential == *credential).map(|(i, _)| i)
    }

    /// Proposals cached in this epoch.
    pub fn pending_proposals(&self) -> &[CachedProposal] {
        &self.pending
    }

    /// The interim transcript hash of this epoch (RFC 9420 §8.2).
    pub fn interim_transcript_hash(&self) -> &[u8] {
        &self.interim_transcript_hash
    }

    /// The configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The members of the current tree, counted (built on first use).
    pub(crate) fn member_summary(&self) -> &MemberSummary {
        self.summary.get_or_init(|| MemberSummary::of(&self.tree))
    }

    /// `ProposalRef` of a proposal message (RFC 9420 §5.2).
    pub(super) fn proposal_ref(&self, ac: &AuthenticatedContent) -> Result<ProposalRef, Error> {
        Ok(self.cs.ref_hash(PROPOSAL_REF_LABEL, &encode(ac)?)?.into())
    }

    pub(super) fn wrong_epoch(&self, message: u64) -> PeerError {
        PeerError::WrongEpoch {
            message,
            group: self.context.epoch,
        }
    }

    /// The signature key of a handshake's sender (RFC 9420 §6.1): its
    /// leaf, an external sender of the GroupContext, or the new member's
    /// own key in its Add or external commit.
    pub(super) fn sender_signature_key(&self, sender: &Sender, body: &FramedContentBody) -> Result<Vec<u8>, Error> {
        // RFC 9420 §6.1: which sender types may send which content types
        // does not depend on the group; check it before looking up keys.
        framing::check_sender_content(sender, body.content_type())?;
        match (sender, body) {
            (Sender::Member(l), _) => self
                .tree
                .leaf(*l)
                .map(|n| n.signature_key.as_slice().to_vec())
                .ok_or(PeerError::UnknownSender.into()),
            (Sender::External(i), _) => {
                let ext = find_extension(&self.context.extensions, ExtensionType::EXTERNAL_SENDERS).ok_or(PeerError::UnknownSender)?;
                let senders: Vec<ExternalSender> = decode(ext.extension_data.as_slice())?;
                let s = senders.get(*i as usize).ok_or(PeerError::UnknownSender)?;
                Ok(s.signature_key.as_slice().to_vec())
            }
            (Sender::NewMemberProposal, FramedContentBody::Proposal(Proposal::Add(add))) => {
                Ok(add.key_package.leaf_node.signature_key.as_slice().to_vec())
            }
            // RFC 9420 §6.1: a new member may only propose its own Add.
            (Sender::NewMemberProposal, FramedContentBody::Proposal(p)) => {
                Err(PeerError::ProposalSenderNotAllowed(p.proposal_type().0).into())
            }
            (Sender::NewMemberCommit, FramedContentBody::Commit(c)) => c
                .path
                .as_ref()
                .map(|p| p.leaf_node.signature_key.as_slice().to_vec())
                .ok_or(PeerError::MissingPath.into()),
            _ => Err(PeerError::InvalidSender.into()),
        }
    }

    /// Checks a received proposal (RFC 9420 §12.1, and its handler for a
    /// new type) and caches it for a commit by reference. `own` is the
    /// receiving member's leaf: its own proposals come back only as
    /// replays.
    pub(super) fn cache_proposal(
        &mut self,
        ac: &AuthenticatedContent,
        p: &Proposal,
        own: Option<LeafIndex>,
    ) -> Result<CachedProposal, Error> {
        commit::check_proposal_sender(&self.config.hooks, &ac.content.sender, p)?;
        if let Proposal::Custom(c) = p {
            let h = self
                .config
                .hooks
                .proposal(c.proposal_type)
                .ok_or(PeerError::UnsupportedProposalType(c.proposal_type.0))?;
            if h.flags().public_message_only && ac.wire_format != WireFormat::PUBLIC_MESSAGE {
                return Err(PeerError::InvalidWireFormatForContent.into());
            }
            h.validate(self, &ac.content.sender, &c.body)?;
            h.check_pending(self, &ac.content.sender, &c.body)?;
        }
        if own.is_some_and(|l| ac.content.sender == Sender::Member(l)) {
            return Err(PeerError::OwnProposal.into());
        }
        self.config.limits.check(Limit::Proposals, self.pending.len() + 1)?;
        let cached = CachedProposal {
            reference: self.proposal_ref(ac)?,
            proposal: p.clone(),
            sender: ac.content.sender,
        };
        if self.pending.iter().any(|q| q.reference == cached.reference) {
            return Err(PeerError::ReplayedProposal.into());
        }
        self.pending.push(cached.clone());
        Ok(cached)
    }

    /// Checks a handshake message as a non-member can (see the
    /// [module](self) docs). A proposal is cached for the epoch's commit; a
    /// commit is staged, to be merged with
    /// [`PublicGroup::merge_staged_commit`]. On any error the observer is
    /// unchanged.
    pub fn process_message(&mut self, msg: &MlsMessage) -> Result<Observed, Error> {
        self.config
            .limits
            .check(Limit::MessageSize, tls_codec::Size::tls_serialized_len(msg))?;
        if msg.version != ProtocolVersion::MLS10 {
            return Err(PeerError::UnsupportedVersion(msg.version.0).into());
        }
        let m = match &msg.body {
            MlsMessageBody::PublicMessage(m) => m,
            MlsMessageBody::PrivateMessage(_) => return Err(MisuseError::EncryptedForObserver.into()),
            other => return Err(PeerError::UnexpectedWireFormat(other.wire_format().0).into()),
        };
        // RFC 9420 §6: the group first, then the epoch.
        if m.content.group_id != self.context.group_id {
            return Err(PeerError::WrongGroupId.into());
        }
        if m.content.epoch != self.context.epoch {
            return Err(self.wrong_epoch(m.content.epoch).into());
        }
        let key = self.sender_signature_key(&m.content.sender, &m.content.body)?;
        let ac = framing::verify_public_unkeyed(self.cs.as_ref(), m, &self.context, &key)?;
        self.config
            .hooks
            .check_aad(&self.context, ac.content.authenticated_data.as_slice())?;
        match &ac.content.body {
            FramedContentBody::Proposal(p) => Ok(Observed::Proposal(self.cache_proposal(&ac, p, None)?)),
            FramedContentBody::Commit(c) => {
                let stage = self.stage_public(&ac, c, None)?;
                Ok(Observed::Commit(self.staged(stage, ac.content.sender)?))
            }
            // verify_public_unkeyed refuses application data in a PublicMessage.
            FramedContentBody::Application(_) => Err(PeerError::InvalidWireFormatForContent.into()),
        }
    }

    fn staged(&self, stage: PublicStage, sender: Sender) -> Result<PublicStagedCommit, Error> {
        let PublicStage {
            committer,
            applied,
            context,
            confirmed,
            received_tag,
            summary_change,
            ..
        } = stage;
        let interim = interim_transcript_hash(self.cs.as_ref(), &confirmed, &received_tag)?;
        Ok(PublicStagedCommit {
            parent_epoch: self.context.epoch,
            context,
            tree: applied.tree,
            interim_transcript_hash: interim,
            sender,
            committer,
            added: applied.added.iter().map(|(l, _)| *l).collect(),
            removed: applied.removed,
            records: applied.records,
            psks: applied.psks,
            reinit: applied.reinit,
            summary_change,
        })
    }

    /// Moves the observer to the epoch of a staged commit.
    pub fn merge_staged_commit(&mut self, staged: PublicStagedCommit) -> Result<(), Error> {
        if staged.parent_epoch != self.context.epoch || staged.context.group_id != self.context.group_id {
            return Err(MisuseError::StaleStagedCommit.into());
        }
        self.advance(staged.context, staged.tree, staged.interim_transcript_hash, staged.summary_change);
        Ok(())
    }

    /// Installs the next epoch's public state and returns the old
    /// GroupContext; the epoch's proposals are dropped.
    pub(super) fn advance(
        &mut self,
        context: GroupContext,
        tree: RatchetTree,
        interim_transcript_hash: Vec<u8>,
        summary_change: Option<(LeafNode, LeafNode)>,
    ) -> GroupContext {
        let old = std::mem::replace(&mut self.context, context);
        self.tree = tree;
        match (summary_change, self.summary.get_mut()) {
            (Some((old, new)), Some(summary)) => {
                summary.remove(&old);
                summary.add(&new);
            }
            _ => self.summary = OnceLock::new(),
        }
        self.interim_transcript_hash = interim_transcript_hash;
        self.pending.clear();
        old
    }

    /// The observer's state as bytes (nothing in it is secret).
    pub fn save(&self) -> Result<Vec<u8>, Error> {
        let state = PublicState {
            version: PUBLIC_STATE_VERSION,
            context: encode(&self.context)?,
            tree: encode(&self.tree.to_nodes())?,
            interim_transcript_hash: self.interim_transcript_hash.clone(),
            pending: self
                .pending
                .iter()
                .map(|p| Ok((p.reference.as_slice().to_vec(), encode(&p.proposal)?, encode(&p.sender)?)))
                .collect::<Result<_, Error>>()?,
        };
        postcard::to_allocvec(&state).map_err(|e| Error::Storage(Box::new(e)))
    }

    /// Restores an observer saved with [`PublicGroup::save`]. The state is
    /// trusted as the caller's own storage (it is not checked again).
    pub fn load(cs: Arc<dyn CipherSuiteProvider>, bytes: &[u8], config: GroupConfig) -> Result<Self, Error> {
        let state: PublicState = postcard::from_bytes(bytes).map_err(|_| StateError::Corrupt)?;
        if state.version != PUBLIC_STATE_VERSION {
            return Err(StateError::FormatVersion {
                found: state.version,
                expected: PUBLIC_STATE_VERSION,
            }
            .into());
        }
        let context: GroupContext = decode(&state.context)?;
        if context.cipher_suite != cs.cipher_suite() {
            return Err(StateError::CipherSuiteMismatch {
                saved: context.cipher_suite,
                provider: cs.cipher_suite(),
            }
            .into());
        }
        let tree = RatchetTree::from_nodes(decode::<RatchetTreeNodes>(&state.tree)?)?;
        let mut group = Self::new(cs, config, context, tree, state.interim_transcript_hash);
        group.pending = state
            .pending
            .iter()
            .map(|(r, p, s)| {
                Ok(CachedProposal {
                    reference: r.clone().into(),
                    proposal: decode(p)?,
                    sender: decode(s)?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(group)
    }
}
