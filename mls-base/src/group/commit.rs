//! Proposal-list validation and application (RFC 9420 §12.2, §12.3), and
//! creating and processing commits (§12.4.1, §12.4.2).

use std::collections::BTreeSet;

use subtle::ConstantTimeEq;

use super::PublicGroup;
use super::validation::{
    GroupParams, LeafContext, LeafError, MemberSummary, check_key_package_authenticity, validate_key_package, validate_key_package_fields,
    validate_leaf,
};
use std::collections::BTreeMap;

use super::hooks::{ExtensionContext, Hooks, ProposalItem, ProposalStage, ProposalState};
use super::{Group, KeyPackage};
use crate::codec::{
    AuthenticatedContent, Commit, Extension, ExtensionType, FramedContentAuthData, FramedContentBody, GroupContext, GroupInfo,
    HpkePublicKey, LeafNodeSource, MlsMessage, MlsMessageBody, PreSharedKeyId, Proposal, ProposalOrRef, ProposalType, ProtocolVersion, Psk,
    ReInit, RequiredCapabilities, ResumptionPskUsage, Sender, VLBytes, WireFormat, encode, find_extension,
};
use crate::crypto::{LabeledCrypto, Secret};
use crate::error::{Error, MisuseError, PeerError, ProposalListError};
use crate::framing::{self, seal_private, seal_public};
use crate::schedule::{
    EpochSecrets, SecretTree, StagedRatchet, confirmation_tag, confirmed_transcript_hash, interim_transcript_hash, joiner_secret,
    psk_secret,
};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::{self, TreePrivateKeys};

/// What to put in a commit.
#[derive(Clone, Debug)]
pub struct CommitOptions {
    /// Proposals to include by value.
    pub proposals: Vec<Proposal>,
    /// Include the proposals cached this epoch, by reference.
    pub include_pending: bool,
    /// Send an UpdatePath even when no proposal requires one (for post-compromise security).
    pub force_path: bool,
    /// The message's authenticated data.
    pub authenticated_data: Vec<u8>,
    /// Also return the new epoch's signed GroupInfo (for a Delivery Service
    /// that serves external joiners) when there is no Welcome. Signing it
    /// costs a signature and serializing the tree, so it is off by default;
    /// [`Group::group_info`] makes one later.
    pub group_info: bool,
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            proposals: vec![],
            include_pending: true,
            force_path: true,
            authenticated_data: vec![],
            group_info: false,
        }
    }
}

impl CommitOptions {
    /// Adds these KeyPackages (and commits pending proposals).
    pub fn add(key_packages: Vec<KeyPackage>) -> Self {
        Self {
            proposals: key_packages
                .into_iter()
                .map(|kp| Proposal::Add(crate::codec::Add::new(kp)))
                .collect(),
            ..Self::default()
        }
    }

    /// Removes these members (and commits pending proposals).
    pub fn remove(leaves: Vec<LeafIndex>) -> Self {
        Self {
            proposals: leaves
                .into_iter()
                .map(|l| Proposal::Remove(crate::codec::Remove { removed: l }))
                .collect(),
            ..Self::default()
        }
    }
}

/// A commit we created: the message, the Welcome for new members, and the new epoch's GroupInfo.
#[derive(Debug)]
pub struct CommitOutput {
    /// The commit message.
    pub commit: MlsMessage,
    /// The Welcome, if members were added.
    pub welcome: Option<MlsMessage>,
    /// The signed GroupInfo of the new epoch: present when the commit adds
    /// members (it is inside the Welcome) or [`CommitOptions::group_info`]
    /// asked for it.
    pub group_info: Option<GroupInfo>,
}

impl CommitOutput {
    /// The Welcome for the members this commit adds, or
    /// [`MisuseError::NoWelcome`] when it adds none.
    pub fn welcome_message(&self) -> Result<&MlsMessage, Error> {
        self.welcome.as_ref().ok_or(MisuseError::NoWelcome.into())
    }
}

/// A validated commit, ready to become the group's next epoch.
#[must_use = "a staged commit changes nothing until it is merged with Group::merge_staged_commit"]
#[derive(Debug)]
pub struct StagedCommit {
    pub(super) parent_epoch: u64,
    pub(super) context: GroupContext,
    pub(super) tree: RatchetTree,
    pub(super) keys: TreePrivateKeys,
    pub(super) secrets: EpochSecrets,
    pub(super) secret_tree: SecretTree,
    pub(super) interim_transcript_hash: Vec<u8>,
    pub(super) ratchet: Option<StagedRatchet>,
    pub(super) removed_self: bool,
    pub(super) reinit: Option<ReInit>,
    pub(super) added: Vec<LeafIndex>,
    pub(super) removed: Vec<LeafIndex>,
    pub(super) records: Vec<(ProposalType, Vec<u8>)>,
    pub(super) sender: Sender,
    pub(super) psks: Vec<PreSharedKeyId>,
    /// For a commit that changes only the committer's leaf: (old, new)
    /// leaf, to update the member summary in place when merged.
    pub(super) summary_change: Option<(crate::codec::LeafNode, crate::codec::LeafNode)>,
}

impl StagedCommit {
    /// The GroupContext of the new epoch.
    pub fn context(&self) -> &GroupContext {
        &self.context
    }

    /// The ratchet tree of the new epoch.
    pub fn tree(&self) -> &RatchetTree {
        &self.tree
    }

    /// What proposal handlers recorded while applying the commit
    /// ([`ProposalState::record`]), in order, with the proposal type.
    pub fn hook_records(&self) -> &[(ProposalType, Vec<u8>)] {
        &self.records
    }

    /// The epoch this commit starts.
    pub fn epoch(&self) -> u64 {
        self.context.epoch
    }

    /// Leaves added.
    pub fn added(&self) -> &[LeafIndex] {
        &self.added
    }

    /// Leaves removed.
    pub fn removed(&self) -> &[LeafIndex] {
        &self.removed
    }

    /// Who sent the commit: a member (by its leaf in the epoch the commit
    /// ends) or a new member joining by external commit.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The PSKs the commit injects (RFC 9420 §8.4), in commit order. Empty
    /// for a commit that removes us: a removed member computes no new epoch
    /// and resolves no PSK.
    pub fn psk_ids(&self) -> &[PreSharedKeyId] {
        &self.psks
    }

    /// Whether the commit removes us.
    pub fn removes_self(&self) -> bool {
        self.removed_self
    }

    /// The ReInit committed, if any (RFC 9420 §11.2).
    pub fn reinit(&self) -> Option<&ReInit> {
        self.reinit.as_ref()
    }

    /// The new epoch's exporter (usable before merging, e.g. by a combiner).
    pub fn export_secret(
        &self,
        cs: &(impl crate::crypto::CipherSuiteProvider + ?Sized),
        label: &[u8],
        context: &[u8],
        len: usize,
    ) -> Result<Secret, Error> {
        self.secrets.export(cs, label, context, len)
    }

    /// A secret of the new epoch registered through the key-schedule hook.
    pub fn extra_epoch_secret(&self, label: &[u8]) -> Option<&Secret> {
        self.secrets.extra(label)
    }

    /// Removes an extra secret from the new epoch (see
    /// [`EpochSecrets::take_extra`]); what is taken here stays taken once
    /// the commit is merged.
    pub fn take_extra_epoch_secret(&mut self, label: &[u8]) -> Option<Secret> {
        self.secrets.take_extra(label)
    }

    /// Puts a secret in an extra slot of the new epoch (see
    /// [`EpochSecrets::set_extra`]); it is the group's once merged.
    pub fn set_extra_epoch_secret(&mut self, label: &[u8], secret: Secret) {
        self.secrets.set_extra(label, secret);
    }
}

/// Which senders may send which proposals (RFC 9420 §12.1.8, §17.4
/// "External"; the handler's flags for other types).
pub(super) fn check_proposal_sender(hooks: &Hooks, sender: &Sender, p: &Proposal) -> Result<(), Error> {
    let flags = match p {
        Proposal::Custom(c) => Some(
            hooks
                .proposal(c.proposal_type)
                .ok_or(PeerError::UnsupportedProposalType(c.proposal_type.0))?
                .flags(),
        ),
        _ => None,
    };
    let ok = match sender {
        // §12.2: ExternalInit belongs to external commits only.
        Sender::Member(_) if matches!(p, Proposal::ExternalInit(_)) => {
            return Err(PeerError::InvalidProposals(ProposalListError::ExternalInitInRegularCommit).into());
        }
        Sender::Member(_) => true,
        Sender::External(_) => match flags {
            Some(f) => f.external_senders,
            None => matches!(
                p,
                Proposal::Add(_)
                    | Proposal::Remove(_)
                    | Proposal::PreSharedKey(_)
                    | Proposal::ReInit(_)
                    | Proposal::GroupContextExtensions(_)
            ),
        },
        Sender::NewMemberProposal => matches!(p, Proposal::Add(_)),
        Sender::NewMemberCommit => false,
    };
    if ok {
        Ok(())
    } else {
        Err(PeerError::ProposalSenderNotAllowed(p.proposal_type().0).into())
    }
}

/// A proposal in a commit's list, resolved.
#[derive(Clone, Debug)]
pub(super) struct Listed {
    pub(super) proposal: Proposal,
    pub(super) sender: Sender,
    pub(super) by_reference: bool,
}

/// Removes a leaf under the rules of Remove proposals (RFC 9420 §12.1.3, §12.2).
fn remove_checked(
    tree: &mut RatchetTree,
    touched: &mut BTreeSet<u32>,
    removed: &mut Vec<LeafIndex>,
    committer: Option<LeafIndex>,
    leaf: LeafIndex,
) -> Result<(), Error> {
    if Some(leaf) == committer {
        return Err(invalid(ProposalListError::RemoveOfCommitter));
    }
    if !touched.insert(leaf.0) {
        return Err(invalid(ProposalListError::MultipleChangesToLeaf));
    }
    if tree.leaf(leaf).is_none() {
        return Err(invalid(ProposalListError::RemoveOfBlankLeaf));
    }
    tree.remove_leaf(leaf)?;
    removed.push(leaf);
    Ok(())
}

/// The result of applying a proposal list to the current state (§12.3).
pub(super) struct Applied {
    pub(super) tree: RatchetTree,
    pub(super) extensions: Vec<Extension>,
    pub(super) added: Vec<(LeafIndex, KeyPackage)>,
    pub(super) removed: Vec<LeafIndex>,
    /// The leaf an external commit's own Remove replaces (a resync).
    pub(super) resync: Option<LeafIndex>,
    pub(super) updated: Vec<LeafIndex>,
    pub(super) psks: Vec<PreSharedKeyId>,
    pub(super) reinit: Option<ReInit>,
    pub(super) path_required: bool,
    pub(super) records: Vec<(ProposalType, Vec<u8>)>,
}

/// Mutable state threaded through the proposal handlers of one commit.
struct HandlerRun<'a> {
    /// `Sender::Member` of the committer, or `Sender::NewMemberCommit`.
    committer: Sender,
    tree: &'a mut RatchetTree,
    extensions: &'a mut Vec<Extension>,
    touched: &'a mut BTreeSet<u32>,
    removed: &'a mut Vec<LeafIndex>,
    path_required: &'a mut bool,
    records: &'a mut Vec<(ProposalType, Vec<u8>)>,
}

/// The HPKE exporter label of external initialization (RFC 9420 §8.3).
pub const EXTERNAL_INIT_LABEL: &[u8] = b"MLS 1.0 external init secret";

fn invalid(why: ProposalListError) -> Error {
    PeerError::InvalidProposals(why).into()
}

/// Checks a PreSharedKey proposal of a commit, regular or external, and
/// appends its id to `psks`: the nonce is `Nh` bytes (RFC 9420 §8.4), a
/// resumption PSK has usage `application` (§12.1.4: reinit and branch PSKs
/// only found groups), no PSK is named twice (§12.2), and the count stays
/// within `Limits::max_psks`, checked here so that the duplicate search
/// stays short.
fn push_psk(
    cs: &dyn crate::crypto::CipherSuiteProvider,
    limits: &super::Limits,
    psks: &mut Vec<PreSharedKeyId>,
    id: &PreSharedKeyId,
) -> Result<(), Error> {
    if id.psk_nonce.len() != cs.hash_len() {
        return Err(PeerError::InvalidPskNonce(id.psk_nonce.len()).into());
    }
    if let Psk::Resumption(r) = &id.psk
        && r.usage != ResumptionPskUsage::APPLICATION
    {
        return Err(invalid(ProposalListError::ResumptionPskUsageNotAllowed));
    }
    limits.check(super::Limit::Psks, psks.len() + 1)?;
    if psks.contains(id) {
        return Err(invalid(ProposalListError::DuplicatePsk));
    }
    psks.push(id.clone());
    Ok(())
}

impl PublicGroup {
    /// The cached proposals by reference, for `commit`'s by-reference
    /// entries (empty if it has none): a linear search per reference would
    /// be quadratic in the (bounded) counts.
    fn cached_by_reference(&self, commit: &Commit) -> std::collections::HashMap<&crate::codec::ProposalRef, &super::CachedProposal> {
        if commit.proposals.iter().any(|p| matches!(p, ProposalOrRef::Reference(_))) {
            self.pending.iter().map(|c| (&c.reference, c)).collect()
        } else {
            std::collections::HashMap::new()
        }
    }

    /// Validates (§12.2) and applies (§12.3) a regular commit's proposals.
    pub(super) fn apply_proposals(&self, committer: LeafIndex, list: &[Listed], receiving: bool) -> Result<Applied, Error> {
        // §7.3: lifetimes MUST be checked when sending, and are checked when receiving unless configured off.
        let check_lifetime = !receiving || self.config.check_received_lifetimes;
        let cs = self.cs.as_ref();
        let mut tree = self.tree.clone();
        let mut extensions = self.context.extensions.clone();
        let mut gce = 0;
        let mut touched: BTreeSet<u32> = BTreeSet::new();
        let mut psk_ids: Vec<PreSharedKeyId> = vec![];
        let mut reinit = None;
        let mut path_required = list.is_empty();
        let mut custom_types = BTreeSet::new();
        for Listed {
            proposal: p,
            sender,
            by_reference,
        } in list
        {
            check_proposal_sender(&self.config.hooks, sender, p)?;
            match p {
                Proposal::GroupContextExtensions(g) => {
                    gce += 1;
                    extensions = g.extensions.extensions_checked()?;
                    self.check_context_extensions(&self.context.extensions, &extensions, ProposalType::GROUP_CONTEXT_EXTENSIONS)?;
                    path_required = true;
                }
                Proposal::Custom(c) => {
                    let h = self
                        .config
                        .hooks
                        .proposal(c.proposal_type)
                        .ok_or(PeerError::UnsupportedProposalType(c.proposal_type.0))?;
                    let flags = h.flags();
                    if flags.by_reference_only && !by_reference {
                        return Err(invalid(ProposalListError::ByReferenceOnly));
                    }
                    path_required |= flags.requires_path;
                    h.validate(self, sender, &c.body)?;
                    custom_types.insert(c.proposal_type);
                }
                Proposal::ReInit(r) => {
                    if r.version < ProtocolVersion::MLS10 {
                        return Err(invalid(ProposalListError::ReInitToOlderVersion));
                    }
                    reinit = Some(r.clone());
                }
                Proposal::ExternalInit(_) => return Err(invalid(ProposalListError::ExternalInitInRegularCommit)),
                Proposal::Update(_) | Proposal::Remove(_) => path_required = true,
                _ => {}
            }
        }
        if gce > 1 {
            return Err(invalid(ProposalListError::MultipleGroupContextExtensions));
        }
        if reinit.is_some() && list.len() != 1 {
            return Err(invalid(ProposalListError::ReInitNotAlone));
        }
        let params_ext = extensions.clone();
        // Updates. Each is checked against the tree before the commit, and
        // the new keys against each other (§7.3: keys unique in the tree).
        let mut updated = vec![];
        let mut update_keys: BTreeSet<(bool, &[u8])> = BTreeSet::new();
        for Listed { proposal: p, sender, .. } in list {
            if let Proposal::Update(u) = p {
                let Sender::Member(l) = sender else {
                    return Err(invalid(ProposalListError::UpdateFromNonMember));
                };
                if *l == committer {
                    return Err(invalid(ProposalListError::UpdateFromCommitter));
                }
                if !touched.insert(l.0) {
                    return Err(invalid(ProposalListError::MultipleChangesToLeaf));
                }
                let summary = self.member_summary();
                let params = GroupParams {
                    cipher_suite: self.context.cipher_suite,
                    group_id: self.context.group_id.as_slice(),
                    extensions: &params_ext,
                    tree: &self.tree,
                    validator: self.config.validator.as_ref(),
                    summary,
                    check_lifetime,
                    hooks: &self.config.hooks,
                    limits: self.config.limits,
                    capabilities: self.config.leaf_capabilities,
                };
                validate_leaf(cs, &u.leaf_node, LeafContext::Update(*l), &params)?;
                if !update_keys.insert((false, u.leaf_node.signature_key.as_slice())) {
                    return Err(PeerError::InvalidLeaf(LeafError::DuplicateSignatureKey).into());
                }
                if !update_keys.insert((true, u.leaf_node.encryption_key.as_slice())) {
                    return Err(PeerError::InvalidLeaf(LeafError::DuplicateEncryptionKey).into());
                }
                if let Some(old) = self.tree.leaf(*l) {
                    self.config.validator.valid_successor(&old.credential, &u.leaf_node.credential)?;
                }
                tree.update_leaf(*l, (*u.leaf_node).clone())?;
                updated.push(*l);
            }
        }
        let mut removed = vec![];
        let mut records = vec![];
        let mut run = HandlerRun {
            committer: Sender::Member(committer),
            tree: &mut tree,
            extensions: &mut extensions,
            touched: &mut touched,
            removed: &mut removed,
            path_required: &mut path_required,
            records: &mut records,
        };
        // New proposal types applied between Updates and Removes.
        self.run_handlers(&mut run, list, |s| s == ProposalStage::AfterUpdates)?;
        // Removes.
        for Listed { proposal: p, .. } in list {
            if let Proposal::Remove(r) = p {
                remove_checked(&mut tree, &mut touched, &mut removed, Some(committer), r.removed)?;
            }
        }
        // Support of what the commit introduces is judged on the members
        // that stay: removed members are exempt, updated ones count with
        // their new leaves, added ones are checked through their KeyPackages.
        // §12.2, §13.4: a new proposal type must be supported by them.
        if !custom_types.is_empty()
            && !tree
                .leaves()
                .all(|(_, l)| custom_types.iter().all(|t| l.capabilities.proposals.contains(t)))
        {
            return Err(invalid(ProposalListError::ProposalTypeUnsupportedByMember));
        }
        // §12.1.7: so must new GroupContext extensions.
        if gce == 1 {
            check_members_support(&self.config.hooks, &tree, &params_ext)?;
        }
        // Adds, in order.
        let mut added = vec![];
        let mut add_summary: Option<MemberSummary> = None;
        // Signatures and credentials of the new members first, in parallel.
        let adds: Vec<&KeyPackage> = list
            .iter()
            .filter_map(|l| match &l.proposal {
                Proposal::Add(a) => Some(&*a.key_package),
                _ => None,
            })
            .collect();
        // The members after the commit bound its tree from below, unless a
        // new proposal type applied after the Adds removes members: refuse
        // an oversized commit before verifying its signatures.
        if !adds.is_empty() && custom_types.is_empty() {
            self.config.limits.check(super::Limit::Leaves, tree.leaves().count() + adds.len())?;
        }
        let suite = self.context.cipher_suite;
        let validator = self.config.validator.as_ref();
        // One at a time, not in an Ed25519 batch: every member must reach
        // the same verdict on a commit, and a batch's cofactored rule can
        // accept a signature that the one-at-a-time rule refuses.
        crate::par::try_map(&adds, |kp| check_key_package_authenticity(cs, kp, suite, validator))?;
        for Listed { proposal: p, .. } in list {
            if let Proposal::Add(a) = p {
                let summary = add_summary.get_or_insert_with(|| MemberSummary::of(&tree));
                let params = GroupParams {
                    cipher_suite: self.context.cipher_suite,
                    group_id: self.context.group_id.as_slice(),
                    extensions: &params_ext,
                    tree: &tree,
                    validator: self.config.validator.as_ref(),
                    summary,
                    check_lifetime,
                    hooks: &self.config.hooks,
                    limits: self.config.limits,
                    capabilities: self.config.leaf_capabilities,
                };
                validate_key_package_fields(&a.key_package, &params)?;
                summary.add(&a.key_package.leaf_node);
                let l = tree.add_leaf(a.key_package.leaf_node.clone())?;
                added.push((l, (*a.key_package).clone()));
            }
        }
        // PSKs, in order.
        for Listed { proposal: p, .. } in list {
            if let Proposal::PreSharedKey(psk) = p {
                push_psk(cs, &self.config.limits, &mut psk_ids, &psk.psk)?;
            }
        }
        // New proposal types applied after the RFC 9420 ones.
        let before = extensions.clone();
        let mut run = HandlerRun {
            committer: Sender::Member(committer),
            tree: &mut tree,
            extensions: &mut extensions,
            touched: &mut touched,
            removed: &mut removed,
            path_required: &mut path_required,
            records: &mut records,
        };
        self.run_handlers(&mut run, list, |s| matches!(s, ProposalStage::AfterDefault(_)))?;
        if extensions != before {
            check_members_support(&self.config.hooks, &tree, &extensions)?;
        }
        Ok(Applied {
            tree,
            extensions,
            added,
            removed,
            resync: None,
            updated,
            psks: psk_ids,
            reinit,
            path_required,
            records,
        })
    }

    /// Runs the handlers of the new proposal types in `list` whose stage
    /// passes `stage`, in stage order, each with all of its proposals in
    /// commit order (RFC 9420 §12.3 for the RFC types; the handler's
    /// [`ProposalStage`] for the others).
    fn run_handlers(&self, run: &mut HandlerRun<'_>, list: &[Listed], stage: impl Fn(ProposalStage) -> bool) -> Result<(), Error> {
        let mut by_type: BTreeMap<(ProposalStage, ProposalType), Vec<ProposalItem<'_>>> = BTreeMap::new();
        for l in list {
            if let Proposal::Custom(c) = &l.proposal {
                let h = self
                    .config
                    .hooks
                    .proposal(c.proposal_type)
                    .ok_or(PeerError::UnsupportedProposalType(c.proposal_type.0))?;
                if stage(h.stage()) {
                    by_type.entry((h.stage(), c.proposal_type)).or_default().push(ProposalItem {
                        sender: l.sender,
                        body: &c.body,
                        by_reference: l.by_reference,
                    });
                }
            }
        }
        for ((_, t), items) in by_type {
            let h = self.config.hooks.proposal(t).ok_or(PeerError::UnsupportedProposalType(t.0))?;
            let old = run.extensions.clone();
            let mut state = ProposalState {
                group: self,
                committer: run.committer,
                tree: run.tree,
                extensions: run.extensions,
                removals: vec![],
                path_required: false,
                records: run.records,
                proposal_type: t,
                extensions_changed: false,
            };
            h.apply(&mut state, &items)?;
            let ProposalState {
                removals,
                path_required,
                extensions_changed,
                ..
            } = state;
            *run.path_required |= path_required;
            if extensions_changed {
                let new = run.extensions.extensions_checked()?;
                self.check_context_extensions(&old, &new, t)?;
            }
            let committer = match run.committer {
                Sender::Member(l) => Some(l),
                _ => None,
            };
            for leaf in removals {
                remove_checked(run.tree, run.touched, run.removed, committer, leaf)?;
            }
        }
        Ok(())
    }

    /// The checks of an Add we send (RFC 9420 §7.3, §10.1) against the
    /// current members, with the lifetime checked.
    pub(super) fn check_key_package_to_send(&self, kp: &KeyPackage) -> Result<(), Error> {
        let cs = self.cs.as_ref();
        let params = GroupParams {
            cipher_suite: self.context.cipher_suite,
            group_id: self.context.group_id.as_slice(),
            extensions: &self.context.extensions,
            tree: &self.tree,
            validator: self.config.validator.as_ref(),
            summary: self.member_summary(),
            check_lifetime: true,
            hooks: &self.config.hooks,
            limits: self.config.limits,
            capabilities: self.config.leaf_capabilities,
        };
        validate_key_package(cs, kp, &params)
    }

    /// Validates a new GroupContext extension list with the extension
    /// handlers: each registered type in the new list, and each change of a
    /// registered type (RFC 9420 §12.1.7, §13.4).
    pub(super) fn check_context_extensions(&self, old: &[Extension], new: &[Extension], cause: ProposalType) -> Result<(), Error> {
        let hooks = &self.config.hooks;
        self.config.limits.check(super::Limit::Extensions, new.len())?;
        hooks.validate_extensions(ExtensionContext::GroupContext, new)?;
        let types: BTreeSet<ExtensionType> = old.iter().chain(new).map(|e| e.extension_type).collect();
        for t in types {
            let Some(h) = hooks.extension(t) else { continue };
            let o = find_extension(old, t).map(|e| e.extension_data.as_slice());
            let n = find_extension(new, t).map(|e| e.extension_data.as_slice());
            if o != n {
                h.validate_change(o, n, cause, self)?;
            }
        }
        Ok(())
    }

    fn provisional_context(&self, tree: &mut RatchetTree, extensions: &[Extension]) -> Result<GroupContext, Error> {
        Ok(GroupContext {
            version: self.context.version,
            cipher_suite: self.context.cipher_suite,
            group_id: self.context.group_id.clone(),
            epoch: self.context.epoch.checked_add(1).ok_or(MisuseError::TooLarge)?,
            tree_hash: tree.tree_hash(self.cs.as_ref())?.into(),
            confirmed_transcript_hash: self.context.confirmed_transcript_hash.clone(),
            extensions: extensions.to_vec(),
        })
    }

    /// The list of an external commit (RFC 9420 §12.2, §12.4.3.2), validated
    /// and applied with `leaf` as the joiner's leaf: by the members that
    /// receive it, and by the joiner on a group built from the GroupInfo,
    /// so that both run the same checks and reach the same GroupContext.
    /// Returns the joiner's leaf index, the result and the ExternalInit's
    /// `kem_output`.
    pub(super) fn apply_external_proposals(
        &self,
        proposals: &[ProposalOrRef],
        leaf: &crate::codec::LeafNode,
        cached: &std::collections::HashMap<&crate::codec::ProposalRef, &super::CachedProposal>,
    ) -> Result<(LeafIndex, Applied, VLBytes), Error> {
        let cs = self.cs.as_ref();
        let hooks = &self.config.hooks;
        let mut kem_output = None;
        let mut remove = None;
        let mut psks = vec![];
        let mut list: Vec<Listed> = vec![];
        for p in proposals {
            let (p, sender, by_reference) = match p {
                ProposalOrRef::Proposal(p) => (p, Sender::NewMemberCommit, false),
                ProposalOrRef::Reference(r) => {
                    let c = cached.get(r).ok_or(PeerError::UnknownProposalRef)?;
                    (&c.proposal, c.sender, true)
                }
            };
            match (p, by_reference) {
                (Proposal::ExternalInit(e), false) if kem_output.is_none() => kem_output = Some(e.kem_output.clone()),
                (Proposal::Remove(r), false) if remove.is_none() => remove = Some(r.removed),
                (Proposal::PreSharedKey(psk), false) => push_psk(cs, &self.config.limits, &mut psks, &psk.psk)?,
                (Proposal::Custom(c), _) => {
                    let h = hooks
                        .proposal(c.proposal_type)
                        .ok_or(PeerError::UnsupportedProposalType(c.proposal_type.0))?;
                    let f = h.flags();
                    let allowed = if by_reference {
                        f.by_reference_in_external_commit
                    } else {
                        f.in_external_commit && !f.by_reference_only
                    };
                    if !allowed {
                        return Err(invalid(ProposalListError::NotAllowedInExternalCommit));
                    }
                    if !self.tree.leaves().all(|(_, l)| l.capabilities.proposals.contains(&c.proposal_type)) {
                        return Err(invalid(ProposalListError::ProposalTypeUnsupportedByMember));
                    }
                    h.validate(self, &sender, &c.body)?;
                    list.push(Listed {
                        proposal: p.clone(),
                        sender,
                        by_reference,
                    });
                }
                (_, true) => return Err(invalid(ProposalListError::ExternalCommitByReference)),
                _ => return Err(invalid(ProposalListError::ExternalCommitProposalNotAllowed)),
            }
        }
        let kem_output = kem_output.ok_or(invalid(ProposalListError::ExternalCommitWithoutExternalInit))?;
        let mut tree = self.tree.clone();
        let mut extensions = self.context.extensions.clone();
        let mut touched = BTreeSet::new();
        let mut removed = vec![];
        let mut records = vec![];
        let mut path_required = true;
        let mut run = HandlerRun {
            committer: Sender::NewMemberCommit,
            tree: &mut tree,
            extensions: &mut extensions,
            touched: &mut touched,
            removed: &mut removed,
            path_required: &mut path_required,
            records: &mut records,
        };
        self.run_handlers(&mut run, &list, |s| s == ProposalStage::AfterUpdates)?;
        if let Some(r) = remove {
            remove_checked(&mut tree, &mut touched, &mut removed, None, r)?;
        }
        let committer = tree.add_leaf(leaf.clone())?;
        let before = extensions.clone();
        let mut run = HandlerRun {
            committer: Sender::NewMemberCommit,
            tree: &mut tree,
            extensions: &mut extensions,
            touched: &mut touched,
            removed: &mut removed,
            path_required: &mut path_required,
            records: &mut records,
        };
        self.run_handlers(&mut run, &list, |s| matches!(s, ProposalStage::AfterDefault(_)))?;
        if extensions != before {
            check_members_support(&self.config.hooks, &tree, &extensions)?;
        }
        let applied = Applied {
            tree,
            extensions,
            added: vec![],
            removed,
            resync: remove,
            updated: vec![],
            psks,
            reinit: None,
            path_required,
            records,
        };
        Ok((committer, applied, kem_output))
    }
}

impl Group {
    /// The secret of a PSK this member holds itself (§8.4): an external
    /// PSK registered with the group, or a resumption PSK of its own past.
    fn own_psk(&self, psk: &Psk) -> Option<Secret> {
        match psk {
            Psk::External(e) => self.external_psks.get(e.psk_id.as_slice()).map(Secret::duplicate),
            Psk::Resumption(r) if r.psk_group_id == self.public.context.group_id => {
                self.resumption_psks.get(&r.psk_epoch).map(Secret::duplicate)
            }
            _ => None,
        }
    }

    /// Looks up the secrets of PSKs (§8.4).
    pub(super) fn psk_values(&self, ids: &[PreSharedKeyId]) -> Result<Vec<Secret>, Error> {
        psk_values_from(&self.public.config.hooks, ids, |p| self.own_psk(p))
    }

    pub(super) fn psk_secret_of(&self, ids: &[PreSharedKeyId]) -> Result<Option<Secret>, Error> {
        psk_secret_from(self.public.cs.as_ref(), &self.public.config.hooks, ids, |p| self.own_psk(p))
    }

    /// Creates a commit (RFC 9420 §12.4.1). The new epoch is held as the
    /// pending commit until [`Group::merge_pending_commit`].
    pub fn commit(&mut self, options: CommitOptions) -> Result<CommitOutput, Error> {
        self.commit_with(options, None)
    }

    /// [`Group::commit`], plus for the founding commit of a reinitialized or
    /// branched group the resumption PSK that links it to its predecessor
    /// (RFC 9420 §11.2, §11.3). That PSK is not a proposal (a PreSharedKey
    /// proposal with usage reinit or branch is invalid); it enters the key
    /// schedule and the Welcome only.
    pub(super) fn commit_with(
        &mut self,
        options: CommitOptions,
        founding: Option<(PreSharedKeyId, Secret)>,
    ) -> Result<CommitOutput, Error> {
        self.ensure_active()?;
        let cs = self.public.cs.clone();
        let cs = cs.as_ref();
        let own = self.own_leaf();
        let mut refs: Vec<ProposalOrRef> = vec![];
        let mut list: Vec<Listed> = vec![];
        if options.include_pending {
            // Leaves that pending proposals of new types remove
            // (ProposalHandler::removed_leaf), first proposal per leaf.
            let mut custom_removals: BTreeSet<u32> = BTreeSet::new();
            let mut skip: BTreeSet<usize> = BTreeSet::new();
            for (i, c) in self.public.pending.iter().enumerate() {
                let Proposal::Custom(p) = &c.proposal else { continue };
                let Some(leaf) = self
                    .public
                    .config
                    .hooks
                    .proposal(p.proposal_type)
                    .and_then(|h| h.removed_leaf(&c.sender, &p.body))
                else {
                    continue;
                };
                // A committer cannot remove itself; a leaf goes once.
                if leaf == own || !custom_removals.insert(leaf.0) {
                    skip.insert(i);
                }
            }
            for (i, c) in self.public.pending.iter().enumerate() {
                // §12.2: the committer cannot commit its own Update.
                if c.sender == Sender::Member(own) && matches!(c.proposal, Proposal::Update(_)) {
                    continue;
                }
                // §12.2, one change per leaf: a leaf that a new type's
                // proposal removes is neither removed again nor updated.
                let superseded = match (&c.proposal, c.sender) {
                    (Proposal::Remove(r), _) => custom_removals.contains(&r.removed.0),
                    (Proposal::Update(_), Sender::Member(l)) => custom_removals.contains(&l.0),
                    _ => false,
                };
                if superseded || skip.contains(&i) {
                    continue;
                }
                refs.push(ProposalOrRef::Reference(c.reference.clone()));
                list.push(Listed {
                    proposal: c.proposal.clone(),
                    sender: c.sender,
                    by_reference: true,
                });
            }
        }
        for p in &options.proposals {
            refs.push(ProposalOrRef::Proposal(p.clone()));
            list.push(Listed {
                proposal: p.clone(),
                sender: Sender::Member(own),
                by_reference: false,
            });
        }
        let mut applied = self.public.apply_proposals(own, &list, false)?;
        let use_path = (options.force_path || applied.path_required) && applied.reinit.is_none();
        let excluded: Vec<LeafIndex> = applied.added.iter().map(|(l, _)| *l).collect();

        let (path, commit_secret, keys, path_secrets) = if use_path {
            let provisional_ext = applied.extensions.clone();
            let group_id = self.public.context.group_id.as_slice().to_vec();
            let identity = &self.identity;
            let mut leaf = applied.tree.leaf(own).cloned().ok_or(PeerError::UnknownSender)?;
            let ctx_base = self.public.provisional_context(&mut applied.tree, &provisional_ext)?;
            let mut keys = self.keys.duplicate();
            keys.prune(&applied.tree);
            let enc = treekem::encap(
                cs,
                &mut applied.tree,
                &keys,
                own,
                &excluded,
                |encryption_key: HpkePublicKey, parent_hash| {
                    leaf.encryption_key = encryption_key;
                    leaf.leaf_node_source = LeafNodeSource::Commit(parent_hash.into());
                    identity.sign_leaf(cs, &mut leaf, Some((&group_id, own)))?;
                    Ok(leaf)
                },
                |th| {
                    let mut c = ctx_base.clone();
                    c.tree_hash = th.to_vec().into();
                    encode(&c)
                },
            )?;
            (Some(enc.update_path), enc.commit_secret, enc.keys, enc.path_secrets)
        } else {
            let mut keys = self.keys.duplicate();
            keys.prune(&applied.tree);
            (None, Secret::new(vec![0u8; cs.hash_len()]), keys, vec![])
        };

        let mut psk_values = self.psk_values(&applied.psks)?;
        if let Some((id, secret)) = founding {
            if self.public.context.epoch != 0 {
                return Err(MisuseError::NotAFoundingCommit.into());
            }
            applied.psks.push(id);
            psk_values.push(secret);
        }
        let pairs: Vec<(&PreSharedKeyId, &[u8])> = applied.psks.iter().zip(psk_values.iter().map(Secret::as_bytes)).collect();
        let psk = psk_secret(cs, &pairs)?;
        let wire_format = if self.public.config.encrypt_handshake {
            WireFormat::PRIVATE_MESSAGE
        } else {
            WireFormat::PUBLIC_MESSAGE
        };
        let content = self.framed(
            FramedContentBody::Commit(Commit { proposals: refs, path }),
            &options.authenticated_data,
        )?;
        let signature = framing::sign_content(cs, &self.identity.signer, wire_format, &content, &self.public.context)?;
        let mut ac = AuthenticatedContent {
            wire_format,
            content,
            auth: FramedContentAuthData {
                signature: signature.into(),
                confirmation_tag: None,
            },
        };
        let confirmed = confirmed_transcript_hash(cs, &self.public.interim_transcript_hash, &ac)?;
        let mut new_context = self.public.provisional_context(&mut applied.tree, &applied.extensions)?;
        new_context.confirmed_transcript_hash = confirmed.clone().into();
        let joiner = joiner_secret(cs, self.secrets.init_secret.as_bytes(), commit_secret.as_bytes(), &new_context)?;
        let secrets = EpochSecrets::from_joiner_secret(
            cs,
            joiner.as_bytes(),
            psk.as_ref().map(Secret::as_bytes),
            &new_context,
            &self.public.config.epoch_secrets,
        )?;
        let tag = confirmation_tag(cs, secrets.confirmation_key.as_bytes(), &confirmed)?;
        let interim = interim_transcript_hash(cs, &confirmed, &tag)?;
        ac.auth.confirmation_tag = Some(tag.clone().into());

        let commit = if self.public.config.encrypt_handshake {
            let padding = self.padding_for(256);
            let m = seal_private(
                cs,
                ac.content,
                ac.auth,
                &mut self.secret_tree,
                self.secrets.sender_data_secret.as_bytes(),
                padding,
            )?;
            MlsMessage::new(MlsMessageBody::PrivateMessage(m))
        } else {
            let m = seal_public(
                cs,
                ac.content,
                ac.auth,
                &self.public.context,
                Some(self.secrets.membership_key.as_bytes()),
            )?;
            MlsMessage::new(MlsMessageBody::PublicMessage(m))
        };

        let group_info = if applied.added.is_empty() && !options.group_info {
            None
        } else {
            Some(self.sign_group_info(&new_context, &applied.tree, &secrets, tag)?)
        };
        let welcome = match (&group_info, applied.added.is_empty()) {
            (Some(gi), false) => Some(self.welcome(gi, &joiner, psk.as_ref(), &applied, &path_secrets)?),
            _ => None,
        };
        let secret_tree = SecretTree::new(
            secrets.encryption_secret.duplicate(),
            applied.tree.n_leaves(),
            self.public.config.secret_tree,
        )?;
        self.pending_commit = Some(StagedCommit {
            parent_epoch: self.public.context.epoch,
            context: new_context,
            tree: applied.tree,
            keys,
            secrets,
            secret_tree,
            interim_transcript_hash: interim,
            ratchet: None,
            removed_self: false,
            reinit: applied.reinit,
            added: excluded,
            removed: applied.removed,
            records: applied.records,
            sender: Sender::Member(own),
            psks: applied.psks,
            // Our own commits rebuild the summary when next needed.
            summary_change: None,
        });
        Ok(CommitOutput {
            commit,
            welcome: welcome.map(|w| MlsMessage::new(MlsMessageBody::Welcome(w))),
            group_info,
        })
    }

    /// A signed GroupInfo for a new epoch (RFC 9420 §12.4.3), with the
    /// `external_pub` extension and, if configured, `ratchet_tree`.
    pub(super) fn sign_group_info(
        &self,
        context: &GroupContext,
        tree: &RatchetTree,
        secrets: &EpochSecrets,
        tag: Vec<u8>,
    ) -> Result<GroupInfo, Error> {
        let cs = self.public.cs.as_ref();
        let mut extensions = vec![];
        if self.public.config.ratchet_tree_extension {
            extensions.push(Extension::new(ExtensionType::RATCHET_TREE, encode(&tree.to_nodes())?));
        }
        let (_, external_pub) = secrets.external_key_pair(cs)?;
        extensions.push(Extension::new(
            ExtensionType::EXTERNAL_PUB,
            encode(&crate::codec::ExternalPub {
                external_pub: external_pub.into(),
            })?,
        ));
        extensions.extend(self.public.config.group_info_extensions.iter().cloned());
        // RFC 9420 §13.5: GroupInfo.extensions may carry GREASE.
        if self.public.config.grease
            && let Some(e) = super::grease::extra_extension(cs, &extensions)?
        {
            extensions.push(e);
        }
        let mut gi = GroupInfo {
            group_context: context.clone(),
            extensions,
            confirmation_tag: tag.into(),
            signer: self.own_leaf(),
            signature: VLBytes::default(),
        };
        gi.signature = cs.sign_with_label(&self.identity.signer, b"GroupInfoTBS", &gi.tbs()?)?.into();
        Ok(gi)
    }

    /// Validates a received commit and computes the next epoch (RFC 9420
    /// §12.4.2): what a non-member can check ([`PublicGroup`]), then the
    /// UpdatePath's secrets, the PSKs, the key schedule and the
    /// confirmation tag.
    pub(super) fn stage_commit(
        &self,
        ac: &AuthenticatedContent,
        commit: &Commit,
        ratchet: Option<StagedRatchet>,
    ) -> Result<StagedCommit, Error> {
        let cs = self.public.cs.as_ref();
        let own = self.own_leaf();
        let PublicStage {
            committer,
            applied,
            kem_output,
            path_context,
            context: new_context,
            confirmed,
            received_tag,
            summary_change,
        } = self.public.stage_public(ac, commit, Some(own))?;
        // §8.3: an external commit's init_secret comes from its
        // ExternalInit and the group's external key pair.
        let init_secret = match &kem_output {
            None => self.secrets.init_secret.duplicate(),
            Some(kem_output) => {
                let (external_sk, _) = self.secrets.external_key_pair(cs)?;
                cs.hpke_export_receiver(kem_output.as_slice(), &external_sk, &[], EXTERNAL_INIT_LABEL, cs.hash_len())?
            }
        };
        let removed_self = applied.removed.contains(&own);
        let excluded: Vec<LeafIndex> = applied.added.iter().map(|(l, _)| *l).collect();
        let mut keys = self.keys.duplicate();
        if applied.updated.contains(&own) {
            let sk = self
                .pending_leaf_key
                .as_ref()
                .ok_or(PeerError::InvalidProposals(ProposalListError::UnknownUpdateForUs))?;
            if let Some(x) = own.node() {
                keys.insert(x, sk.duplicate());
            }
        }
        // Nodes the commit blanks lose their keys; nodes on the
        // committer's path get new ones from the path secrets below.
        keys.prune(&applied.tree);
        let commit_secret = match (&commit.path, &path_context) {
            (Some(_), _) if removed_self => None,
            (Some(path), Some(ctx)) => {
                let dec = treekem::decap(cs, &applied.tree, &keys, committer, path, &excluded, ctx)?;
                keys = dec.keys;
                Some(dec.commit_secret)
            }
            _ => Some(Secret::new(vec![0u8; cs.hash_len()])),
        };
        let Some(commit_secret) = commit_secret else {
            // Removed: we cannot follow the new epoch; keep our keys and mark the group inactive.
            return Ok(StagedCommit {
                parent_epoch: self.public.context.epoch,
                context: new_context,
                tree: applied.tree,
                keys,
                secrets: EpochSecrets::from_epoch_secret(
                    cs,
                    Secret::new(vec![]),
                    &Secret::new(cs.random_vec(cs.hash_len())?),
                    &self.public.config.epoch_secrets,
                )?,
                secret_tree: SecretTree::new(Secret::new(cs.random_vec(cs.hash_len())?), 1, self.public.config.secret_tree)?,
                interim_transcript_hash: vec![],
                ratchet,
                removed_self: true,
                reinit: None,
                added: excluded,
                removed: applied.removed,
                records: applied.records,
                sender: ac.content.sender,
                psks: vec![],
                summary_change: None,
            });
        };
        // A removed member (above) needs no PSK: it cannot compute the new
        // epoch anyway, and a PSK it does not hold must not hide its removal.
        let psk = self.psk_secret_of(&applied.psks)?;
        let joiner = joiner_secret(cs, init_secret.as_bytes(), commit_secret.as_bytes(), &new_context)?;
        let secrets = EpochSecrets::from_joiner_secret(
            cs,
            joiner.as_bytes(),
            psk.as_ref().map(Secret::as_bytes),
            &new_context,
            &self.public.config.epoch_secrets,
        )?;
        let tag = confirmation_tag(cs, secrets.confirmation_key.as_bytes(), &confirmed)?;
        if !bool::from(tag.ct_eq(received_tag.as_slice())) {
            return Err(PeerError::InvalidConfirmationTag.into());
        }
        let interim = interim_transcript_hash(cs, &confirmed, &tag)?;
        let secret_tree = SecretTree::new(
            secrets.encryption_secret.duplicate(),
            applied.tree.n_leaves(),
            self.public.config.secret_tree,
        )?;
        Ok(StagedCommit {
            parent_epoch: self.public.context.epoch,
            context: new_context,
            tree: applied.tree,
            keys,
            secrets,
            secret_tree,
            interim_transcript_hash: interim,
            ratchet,
            removed_self,
            reinit: applied.reinit,
            added: excluded,
            removed: applied.removed,
            records: applied.records,
            sender: ac.content.sender,
            psks: applied.psks,
            summary_change,
        })
    }
}

/// What a non-member can check and compute of a received commit (RFC 9420
/// §12.4.2 without the steps that need the epoch's secrets).
pub(super) struct PublicStage {
    /// The committer's leaf (an external joiner's new leaf).
    pub(super) committer: LeafIndex,
    /// The proposals applied, and the UpdatePath merged into the tree.
    pub(super) applied: Applied,
    /// An external commit's ExternalInit `kem_output`.
    pub(super) kem_output: Option<VLBytes>,
    /// The GroupContext the UpdatePath was encrypted to (§12.4.2: new tree
    /// hash, old transcript), encoded; `None` without a path.
    pub(super) path_context: Option<Vec<u8>>,
    /// The new epoch's GroupContext.
    pub(super) context: GroupContext,
    /// Its `confirmed_transcript_hash`.
    pub(super) confirmed: Vec<u8>,
    /// The `confirmation_tag` the commit carries (unchecked: it needs the
    /// new epoch's `confirmation_key`).
    pub(super) received_tag: Vec<u8>,
    /// For a commit that changes only the committer's leaf: (old, new)
    /// leaf, to update the member summary in place.
    pub(super) summary_change: Option<(crate::codec::LeafNode, crate::codec::LeafNode)>,
}

impl PublicGroup {
    /// The checks of a received commit that need no secret, and the new
    /// epoch's public state (RFC 9420 §12.4.2): the proposal list (§12.2,
    /// §12.3), the UpdatePath's leaf and keys (§7.3, §12.4.2), the parent
    /// hashes it sets (§7.9.2), the new tree hash and GroupContext and the
    /// confirmed transcript hash (§8.2). `own` is the receiving member's
    /// leaf, whose own commits are refused here.
    pub(super) fn stage_public(&self, ac: &AuthenticatedContent, commit: &Commit, own: Option<LeafIndex>) -> Result<PublicStage, Error> {
        let cs = self.cs.as_ref();
        let limits = &self.config.limits;
        limits.check(super::Limit::Proposals, commit.proposals.len())?;
        let external = ac.content.sender == Sender::NewMemberCommit;
        let (committer, mut applied, kem_output) = match ac.content.sender {
            Sender::Member(committer) => {
                if Some(committer) == own {
                    return Err(MisuseError::OwnCommit.into());
                }
                let mut list = Vec::with_capacity(commit.proposals.len());
                let cached = self.cached_by_reference(commit);
                for p in &commit.proposals {
                    match p {
                        ProposalOrRef::Proposal(p) => list.push(Listed {
                            proposal: p.clone(),
                            sender: Sender::Member(committer),
                            by_reference: false,
                        }),
                        ProposalOrRef::Reference(r) => {
                            let c = cached.get(r).ok_or(PeerError::UnknownProposalRef)?;
                            list.push(Listed {
                                proposal: c.proposal.clone(),
                                sender: c.sender,
                                by_reference: true,
                            });
                        }
                    }
                }
                (committer, self.apply_proposals(committer, &list, true)?, None)
            }
            Sender::NewMemberCommit => {
                let path = commit.path.as_ref().ok_or(PeerError::MissingPath)?;
                let cached = self.cached_by_reference(commit);
                let (committer, applied, kem_output) = self.apply_external_proposals(&commit.proposals, &path.leaf_node, &cached)?;
                (committer, applied, Some(kem_output))
            }
            _ => return Err(PeerError::InvalidSender.into()),
        };
        limits.check(super::Limit::Leaves, applied.tree.n_leaves() as usize)?;
        limits.check(super::Limit::Psks, applied.psks.len())?;
        if applied.path_required && commit.path.is_none() {
            return Err(PeerError::MissingPath.into());
        }
        // A commit with no proposals leaves every leaf but the committer's
        // as it is: the cached summary of the current tree applies.
        let path_only = commit.proposals.is_empty() && !external;
        if let Some(path) = &commit.path {
            let rebuilt;
            let summary = if path_only {
                self.member_summary()
            } else {
                rebuilt = MemberSummary::of(&applied.tree);
                &rebuilt
            };
            let params = GroupParams {
                cipher_suite: self.context.cipher_suite,
                group_id: self.context.group_id.as_slice(),
                extensions: &applied.extensions,
                tree: &applied.tree,
                summary,
                validator: self.config.validator.as_ref(),
                check_lifetime: self.config.check_received_lifetimes,
                hooks: &self.config.hooks,
                limits: self.config.limits,
                capabilities: self.config.leaf_capabilities,
            };
            validate_leaf(cs, &path.leaf_node, LeafContext::Commit(committer), &params)?;
            let new_key = &path.leaf_node.encryption_key;
            let old = applied.tree.leaf(committer).ok_or(PeerError::UnknownSender)?;
            if !external && old.encryption_key == *new_key {
                return Err(PeerError::InvalidLeaf(super::LeafError::EncryptionKeyNotChanged).into());
            }
            // §5.3.1: the committer's new credential succeeds its old
            // one; §12.2: a resync's new leaf must be acceptable for the
            // member it removes.
            let predecessor = if external { applied.resync } else { Some(committer) };
            if let Some(old) = predecessor.and_then(|l| self.tree.leaf(l)) {
                self.config.validator.valid_successor(&old.credential, &path.leaf_node.credential)?;
            }
            // §12.2: a resync's new leaf is held to the Update rules for
            // the leaf it replaces, so it cannot keep that leaf's key.
            if external
                && applied
                    .resync
                    .and_then(|r| self.tree.leaf(r))
                    .is_some_and(|l| l.encryption_key == *new_key)
            {
                return Err(PeerError::InvalidLeaf(super::LeafError::EncryptionKeyNotChanged).into());
            }
            // §12.4.2: no public key of the path (leaf included) may
            // already be in the tree, nor appear twice in the path.
            // The path's keys (a few) are sorted and each key of the
            // tree looked up among them, in one pass with no copies. An
            // external joiner's leaf is already in `applied.tree`, so
            // its key must be there exactly once.
            let mut path_keys: Vec<&[u8]> = Vec::with_capacity(path.nodes.len() + 1);
            path_keys.push(new_key.as_slice());
            for n in &path.nodes {
                // RFC 9420 §10 asks it of leaf keys; a malformed parent
                // key would break every later encryption to that node.
                let key = n.encryption_key.as_slice();
                cs.kem_validate_public_key(key).map_err(|_| PeerError::InvalidNodeKey)?;
                if path_keys.contains(&key) {
                    return Err(PeerError::KeyAlreadyInTree.into());
                }
                path_keys.push(key);
            }
            path_keys.sort_unstable();
            let mut own_key_seen = 0;
            for key in applied.tree.encryption_keys() {
                if path_keys.binary_search(&key).is_ok() {
                    if key != new_key.as_slice() {
                        return Err(PeerError::KeyAlreadyInTree.into());
                    }
                    own_key_seen += 1;
                }
            }
            if own_key_seen != usize::from(external) {
                return Err(PeerError::KeyAlreadyInTree.into());
            }
            applied.tree.merge_update_path(cs, committer, path)?;
            let added: Vec<LeafIndex> = applied.added.iter().map(|(l, _)| *l).collect();
            treekem::check_path_shape(&applied.tree, committer, path, &added)?;
        }
        let mut context = self.provisional_context(&mut applied.tree, &applied.extensions)?;
        let path_context = commit.path.as_ref().map(|_| encode(&context)).transpose()?;
        let confirmed = confirmed_transcript_hash(cs, &self.interim_transcript_hash, ac)?;
        context.confirmed_transcript_hash = confirmed.clone().into();
        let received_tag = ac
            .auth
            .confirmation_tag
            .as_ref()
            .ok_or(PeerError::MissingConfirmationTag)?
            .as_slice()
            .to_vec();
        let summary_change = match (&commit.path, path_only) {
            (Some(path), true) => self.tree.leaf(committer).map(|old| (old.clone(), path.leaf_node.clone())),
            _ => None,
        };
        Ok(PublicStage {
            committer,
            applied,
            kem_output,
            path_context,
            context,
            confirmed,
            received_tag,
            summary_change,
        })
    }
}

/// Every member supports every non-default GroupContext extension and the
/// required capabilities (RFC 9420 §11.1, §12.1.7).
fn check_members_support(hooks: &Hooks, tree: &RatchetTree, extensions: &[Extension]) -> Result<(), Error> {
    let required = match find_extension(extensions, ExtensionType::REQUIRED_CAPABILITIES) {
        Some(e) => Some(crate::codec::decode::<RequiredCapabilities>(e.extension_data.as_slice())?),
        None => None,
    };
    for (_, leaf) in tree.leaves() {
        let caps = &leaf.capabilities;
        let mut ok = extensions
            .iter()
            .all(|e| e.extension_type.is_default() || caps.extensions.contains(&e.extension_type));
        if let Some(rc) = &required {
            ok &= rc.extension_types.iter().all(|t| t.is_default() || caps.extensions.contains(t))
                && rc.proposal_types.iter().all(|t| t.is_default() || caps.proposals.contains(t))
                && rc.credential_types.iter().all(|t| caps.credentials.contains(t));
        }
        if !ok {
            return Err(invalid(ProposalListError::UnsupportedGroupContextExtensions));
        }
        hooks.check_member(extensions, leaf)?;
    }
    Ok(())
}

/// Checks an extension list has no duplicate types (RFC 9420 §13.4).
trait ExtensionsChecked {
    fn extensions_checked(&self) -> Result<Vec<Extension>, Error>;
}

impl ExtensionsChecked for Vec<Extension> {
    fn extensions_checked(&self) -> Result<Vec<Extension>, Error> {
        let mut seen = BTreeSet::new();
        for e in self {
            if !seen.insert(e.extension_type) {
                return Err(invalid(ProposalListError::DuplicateExtension));
            }
        }
        Ok(self.clone())
    }
}

/// Keeps our private keys in step with the tree.
impl TreePrivateKeys {
    /// Drops keys of nodes that are blank in `tree` or outside it.
    pub fn prune(&mut self, tree: &RatchetTree) {
        let stale: Vec<_> = self.nodes().filter(|x| tree.node(*x).is_none()).collect();
        for x in stale {
            self.remove(x);
        }
    }
}

/// The secrets of PSKs (RFC 9420 §8.4): those `own` knows, else from the
/// PSK store of `hooks`.
fn psk_values_from(hooks: &Hooks, ids: &[PreSharedKeyId], own: impl Fn(&Psk) -> Option<Secret>) -> Result<Vec<Secret>, Error> {
    let store = hooks.psk_store();
    ids.iter()
        .map(|id| own(&id.psk).or_else(|| store.and_then(|s| s.psk(&id.psk))))
        .map(|s| s.ok_or(PeerError::MissingPsk.into()))
        .collect()
}

/// `psk_secret` (RFC 9420 §8.4) of PSKs looked up as [`psk_values_from`] does.
pub(super) fn psk_secret_from(
    cs: &(impl crate::crypto::CipherSuiteProvider + ?Sized),
    hooks: &Hooks,
    ids: &[PreSharedKeyId],
    own: impl Fn(&Psk) -> Option<Secret>,
) -> Result<Option<Secret>, Error> {
    let values = psk_values_from(hooks, ids, own)?;
    let pairs: Vec<(&PreSharedKeyId, &[u8])> = ids.iter().zip(values.iter().map(Secret::as_bytes)).collect();
    psk_secret(cs, &pairs)
}
