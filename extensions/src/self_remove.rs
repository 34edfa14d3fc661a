//! The SelfRemove proposal (draft-ietf-mls-extensions §6.3): a member asks
//! to be removed, and the next commit, by a member or by an external
//! joiner, removes it.
//!
//! The rules, and where each is enforced:
//! - empty body (`struct {} SelfRemove`): the registered syntax and
//!   [`SelfRemoveHandler::validate`];
//! - only from members, never from external senders: the flags
//!   (`external_senders: false`) and `validate`;
//! - MUST be a PublicMessage: the flag `public_message_only` (the engine
//!   sends it so and refuses a PrivateMessage one);
//! - only by reference, also in external commits; path required: flags;
//! - at most one per client and epoch: [`SelfRemoveHandler::check_pending`]
//!   (on receipt, and before we send one) and `apply` (within a commit);
//! - processed after Updates and before Removes, a Remove of the same leaf
//!   invalid: stage [`ProposalStage::AfterUpdates`] and the engine's
//!   one-change-per-leaf rule; our own commits leave such a Remove out
//!   ([`SelfRemoveHandler::removed_leaf`]);
//! - the group must be self-remove-capable (every member supports the
//!   type): the engine for commits, [`crate::Extensions::leave`] before
//!   sending.

use std::collections::BTreeSet;
use std::sync::Arc;

use mlsx_base::codec::{Proposal, ProposalType, Sender};
use mlsx_base::group::PublicGroup;
use mlsx_base::group::hooks::{ProposalFlags, ProposalHandler, ProposalItem, ProposalStage, ProposalState};
use mlsx_base::tree::math::LeafIndex;

use crate::Error;
use crate::handlers::Shared;

/// The SelfRemove handler.
#[derive(Debug)]
pub(crate) struct SelfRemoveHandler(pub(crate) Arc<Shared>);

impl SelfRemoveHandler {
    fn is_self_remove(&self, p: &Proposal) -> bool {
        matches!(p, Proposal::Custom(c) if c.proposal_type == self.0.code_points.self_remove)
    }
}

/// The member leaf of a SelfRemove's sender.
fn member(sender: &Sender) -> Result<LeafIndex, Error> {
    match sender {
        Sender::Member(l) => Ok(*l),
        _ => Err(Error::SelfRemoveFromNonMember),
    }
}

impl ProposalHandler for SelfRemoveHandler {
    fn proposal_type(&self) -> ProposalType {
        self.0.code_points.self_remove
    }

    /// §6.3 and §7.2 (registry: External N, Path Required Y): by reference
    /// only, allowed in external commits (by reference), PublicMessage.
    fn flags(&self) -> ProposalFlags {
        ProposalFlags {
            external_senders: false,
            requires_path: true,
            in_external_commit: false,
            by_reference_in_external_commit: true,
            by_reference_only: true,
            public_message_only: true,
        }
    }

    /// §6.3: "processed after Update proposals and before Remove
    /// proposals".
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterUpdates
    }

    fn validate(&self, group: &PublicGroup, sender: &Sender, body: &[u8]) -> Result<(), mlsx_base::Error> {
        if !body.is_empty() {
            return Err(Error::SelfRemoveBody.into());
        }
        let leaf = member(sender)?;
        if group.tree().leaf(leaf).is_none() {
            return Err(Error::SelfRemoveFromNonMember.into());
        }
        Ok(())
    }

    /// §6.3: "A client MUST NOT issue more than one SelfRemove proposal per
    /// epoch."
    fn check_pending(&self, group: &PublicGroup, sender: &Sender, _: &[u8]) -> Result<(), mlsx_base::Error> {
        let leaf = member(sender)?;
        if group
            .pending_proposals()
            .iter()
            .any(|p| p.sender == *sender && self.is_self_remove(&p.proposal))
        {
            return Err(Error::SecondSelfRemove(leaf.0).into());
        }
        Ok(())
    }

    fn removed_leaf(&self, sender: &Sender, _: &[u8]) -> Option<LeafIndex> {
        member(sender).ok()
    }

    /// Each SelfRemove removes its sender's leaf, as a Remove would (§6.3),
    /// with the engine's checks (not the committer, one change per leaf).
    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), mlsx_base::Error> {
        let mut senders = BTreeSet::new();
        for item in items {
            if !item.by_reference {
                return Err(Error::SelfRemoveByValue.into());
            }
            let leaf = member(&item.sender)?;
            if !senders.insert(leaf.0) {
                return Err(Error::SecondSelfRemove(leaf.0).into());
            }
            state.remove_member(leaf);
        }
        Ok(())
    }
}
