//! Reinitialization and subgroup branching (RFC 9420 §11.2, §11.3).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{CommitOptions, CommitOutput, Group, GroupConfig, Identity, KeyPackageBundle};
use crate::codec::{
    Credential, GroupContext, KeyPackage, MlsMessage, PreSharedKeyId, Psk, RatchetTreeNodes, ResumptionPsk, ResumptionPskUsage,
};
use crate::crypto::{CipherSuiteProvider, Secret};
use crate::error::{Error, MisuseError, PeerError};
use crate::tree::RatchetTree;

impl Group {
    /// The resumption PSK of this group's current epoch, with a fresh nonce
    /// (RFC 9420 §8.6).
    fn resumption_psk_id(&self, usage: ResumptionPskUsage) -> Result<(PreSharedKeyId, Secret), Error> {
        let id = PreSharedKeyId {
            psk: Psk::Resumption(ResumptionPsk {
                usage,
                psk_group_id: self.public.context.group_id.clone(),
                psk_epoch: self.public.context.epoch,
            }),
            psk_nonce: self.public.cs.random_vec(self.public.cs.hash_len())?.into(),
        };
        Ok((id, self.secrets.resumption_psk.duplicate()))
    }

    /// Branches a subgroup (RFC 9420 §11.3): a new group with the same
    /// version, suite and GroupContext extensions, holding us and the
    /// members behind `key_packages`, linked to this epoch by a resumption
    /// PSK with usage `branch`. Returns the new group (at epoch 1) and the
    /// commit whose Welcome the subgroup members join with
    /// [`Group::join_resumed`].
    pub fn branch(
        &self,
        new_group_id: Vec<u8>,
        key_packages: Vec<KeyPackage>,
        config: GroupConfig,
    ) -> Result<(Group, CommitOutput), Error> {
        self.ensure_active()?;
        let founding = self.resumption_psk_id(ResumptionPskUsage::BRANCH)?;
        let mut new = Group::create_with_extensions(
            self.public.cs.clone(),
            self.identity.duplicate(),
            new_group_id,
            self.public.context.extensions.clone(),
            config,
        )?;
        let out = new.commit_with(CommitOptions::add(key_packages), Some(founding))?;
        new.merge_pending_commit()?;
        Ok((new, out))
    }

    /// Creates the successor of a reinitialized group (RFC 9420 §11.2),
    /// after a commit with a ReInit has been merged here: a group with the
    /// ReInit's id, version, suite and extensions, holding us (as
    /// `identity`, which may use the new suite's signature scheme) and the
    /// members behind `key_packages`, linked by a resumption PSK with usage
    /// `reinit` to the epoch the ReInit commit started.
    pub fn reinit(
        &self,
        cs: Arc<dyn CipherSuiteProvider>,
        identity: Identity,
        key_packages: Vec<KeyPackage>,
        config: GroupConfig,
    ) -> Result<(Group, CommitOutput), Error> {
        let reinit = self.last_reinit.as_ref().ok_or(MisuseError::NoReInit)?;
        if cs.cipher_suite() != reinit.cipher_suite {
            return Err(MisuseError::ParameterMismatch.into());
        }
        let founding = self.resumption_psk_id(ResumptionPskUsage::REINIT)?;
        let mut new = Group::create_with_extensions(cs, identity, reinit.group_id.as_slice().to_vec(), reinit.extensions.clone(), config)?;
        let out = new.commit_with(CommitOptions::add(key_packages), Some(founding))?;
        new.merge_pending_commit()?;
        Ok((new, out))
    }

    /// Joins a reinitialized or branched group (RFC 9420 §12.4.3.1) whose
    /// Welcome names a resumption PSK of `prior`, our state in the old group.
    pub fn join_resumed(
        cs: Arc<dyn CipherSuiteProvider>,
        welcome: &MlsMessage,
        bundle: KeyPackageBundle,
        tree: Option<RatchetTreeNodes>,
        config: GroupConfig,
        prior: &Group,
    ) -> Result<Self, Error> {
        Self::join_inner(cs, welcome, bundle, tree, config, BTreeMap::new(), Some(prior))
    }
}

fn identities(tree: &RatchetTree) -> Vec<&Credential> {
    tree.leaves().map(|(_, l)| &l.credential).collect()
}

/// RFC 9420 §12.4.3.1: a Welcome names at most one reinit or branch PSK.
pub(super) fn check_single_founding_psk(psks: &[PreSharedKeyId]) -> Result<(), Error> {
    let founding = psks
        .iter()
        .filter(
            |id| matches!(&id.psk, Psk::Resumption(r) if r.usage == ResumptionPskUsage::REINIT || r.usage == ResumptionPskUsage::BRANCH),
        )
        .count();
    if founding > 1 {
        return Err(PeerError::MultipleResumptionPsks.into());
    }
    Ok(())
}

/// The checks of RFC 9420 §12.4.3.1 for a Welcome with a reinit or branch
/// PSK. Members "match" when their credentials are equal.
pub(super) fn check_resumption_join(
    psks: &[PreSharedKeyId],
    context: &GroupContext,
    tree: &RatchetTree,
    prior: Option<&Group>,
) -> Result<(), Error> {
    for id in psks {
        let Psk::Resumption(r) = &id.psk else { continue };
        if r.usage != ResumptionPskUsage::REINIT && r.usage != ResumptionPskUsage::BRANCH {
            continue;
        }
        if context.epoch != 1 {
            return Err(PeerError::InvalidGroupInfo("a reinit/branch Welcome must start epoch 1").into());
        }
        let old = prior.ok_or(PeerError::MissingPsk)?;
        let new_ids = identities(tree);
        let old_ids = identities(&old.public.tree);
        if r.usage == ResumptionPskUsage::REINIT {
            let ri = old
                .last_reinit
                .as_ref()
                .ok_or(PeerError::InvalidGroupInfo("the old group committed no ReInit"))?;
            if ri.group_id != context.group_id
                || ri.version != context.version
                || ri.cipher_suite != context.cipher_suite
                || ri.extensions != context.extensions
            {
                return Err(PeerError::InvalidGroupInfo("group does not match the ReInit").into());
            }
            if !old_ids.iter().all(|c| new_ids.contains(c)) {
                return Err(PeerError::InvalidGroupInfo("a member of the old group is missing").into());
            }
        } else {
            if old.public.context.version != context.version || old.public.context.cipher_suite != context.cipher_suite {
                return Err(PeerError::InvalidGroupInfo("branch changes version or suite").into());
            }
            if !new_ids.iter().all(|c| old_ids.contains(c)) {
                return Err(PeerError::InvalidGroupInfo("a branch member is not in the old group").into());
            }
        }
    }
    Ok(())
}
