//! Proposal-list validation and application (RFC 9420 §12.2, §12.3), and
//! creating and processing commits (§12.4.1, §12.4.2).

use std::collections::BTreeSet;

use subtle::ConstantTimeEq;

use super::validation::{GroupParams, LeafContext, MemberSummary, validate_key_package, validate_leaf};
use super::{Group, KeyPackage};
use crate::codec::{
    AuthenticatedContent, Commit, Extension, ExtensionType, FramedContentAuthData, FramedContentBody, GroupContext, GroupInfo,
    HpkePublicKey, LeafNodeSource, MlsMessage, MlsMessageBody, PreSharedKeyId, Proposal, ProposalOrRef, ProtocolVersion, Psk, ReInit,
    RequiredCapabilities, ResumptionPskUsage, Sender, VLBytes, WireFormat, encode, find_extension,
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
}

impl Default for CommitOptions {
    fn default() -> Self {
        Self {
            proposals: vec![],
            include_pending: true,
            force_path: true,
            authenticated_data: vec![],
        }
    }
}

impl CommitOptions {
    /// Adds these KeyPackages (and commits pending proposals).
    pub fn add(key_packages: Vec<KeyPackage>) -> Self {
        Self {
            proposals: key_packages
                .into_iter()
                .map(|kp| Proposal::Add(crate::codec::Add { key_package: kp }))
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
    /// The signed GroupInfo of the new epoch.
    pub group_info: GroupInfo,
}

/// A validated commit, ready to become the group's next epoch.
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
}

impl StagedCommit {
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
}

/// Which senders may send which proposals (RFC 9420 §12.1.8, §17.4 "External").
pub(super) fn check_proposal_sender(sender: &Sender, p: &Proposal) -> Result<(), Error> {
    let ok = match sender {
        Sender::Member(_) => !matches!(p, Proposal::ExternalInit(_)),
        Sender::External(_) => matches!(
            p,
            Proposal::Add(_) | Proposal::Remove(_) | Proposal::PreSharedKey(_) | Proposal::ReInit(_) | Proposal::GroupContextExtensions(_)
        ),
        Sender::NewMemberProposal => matches!(p, Proposal::Add(_)),
        Sender::NewMemberCommit => false,
    };
    if ok { Ok(()) } else { Err(PeerError::InvalidSender.into()) }
}

/// The result of applying a proposal list to the current state (§12.3).
pub(super) struct Applied {
    pub(super) tree: RatchetTree,
    pub(super) extensions: Vec<Extension>,
    pub(super) added: Vec<(LeafIndex, KeyPackage)>,
    pub(super) removed: Vec<LeafIndex>,
    pub(super) updated: Vec<LeafIndex>,
    pub(super) psks: Vec<PreSharedKeyId>,
    pub(super) reinit: Option<ReInit>,
    pub(super) path_required: bool,
}

/// The HPKE exporter label of external initialization (RFC 9420 §8.3).
pub const EXTERNAL_INIT_LABEL: &[u8] = b"MLS 1.0 external init secret";

fn invalid(why: ProposalListError) -> Error {
    PeerError::InvalidProposals(why).into()
}

impl Group {
    /// Validates (§12.2) and applies (§12.3) a regular commit's proposals.
    pub(super) fn apply_proposals(&self, committer: LeafIndex, list: &[(Proposal, Sender)], receiving: bool) -> Result<Applied, Error> {
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
        for (p, sender) in list {
            check_proposal_sender(sender, p)?;
            match p {
                Proposal::GroupContextExtensions(g) => {
                    gce += 1;
                    extensions = g.extensions.extensions_checked()?;
                    path_required = true;
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
        // GroupContextExtensions: every member must support the new extensions (§12.1.7).
        if gce == 1 {
            check_members_support(&tree, &extensions)?;
        }
        let params_ext = extensions.clone();
        // Updates.
        let mut updated = vec![];
        let mut update_summary: Option<MemberSummary> = None;
        for (p, sender) in list {
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
                let summary = update_summary.get_or_insert_with(|| MemberSummary::of(&self.tree));
                let params = GroupParams {
                    cipher_suite: self.context.cipher_suite,
                    group_id: self.context.group_id.as_slice(),
                    extensions: &params_ext,
                    tree: &self.tree,
                    validator: self.config.validator.as_ref(),
                    summary,
                    check_lifetime,
                };
                validate_leaf(cs, &u.leaf_node, LeafContext::Update(*l), &params)?;
                tree.update_leaf(*l, u.leaf_node.clone())?;
                updated.push(*l);
            }
        }
        // Removes.
        let mut removed = vec![];
        for (p, _) in list {
            if let Proposal::Remove(r) = p {
                if r.removed == committer {
                    return Err(invalid(ProposalListError::RemoveOfCommitter));
                }
                if !touched.insert(r.removed.0) {
                    return Err(invalid(ProposalListError::MultipleChangesToLeaf));
                }
                if tree.leaf(r.removed).is_none() {
                    return Err(invalid(ProposalListError::RemoveOfBlankLeaf));
                }
                tree.remove_leaf(r.removed)?;
                removed.push(r.removed);
            }
        }
        // Adds, in order.
        let mut added = vec![];
        let mut add_summary: Option<MemberSummary> = None;
        for (p, _) in list {
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
                };
                validate_key_package(cs, &a.key_package, &params)?;
                summary.add(&a.key_package.leaf_node);
                let l = tree.add_leaf(a.key_package.leaf_node.clone())?;
                added.push((l, a.key_package.clone()));
            }
        }
        // PSKs, in order.
        for (p, _) in list {
            if let Proposal::PreSharedKey(psk) = p {
                let id = &psk.psk;
                if id.psk_nonce.len() != cs.hash_len() {
                    return Err(PeerError::InvalidPskNonce(id.psk_nonce.len()).into());
                }
                if let Psk::Resumption(r) = &id.psk
                    && r.usage != ResumptionPskUsage::APPLICATION
                {
                    return Err(invalid(ProposalListError::ResumptionPskUsageNotAllowed));
                }
                if psk_ids.contains(id) {
                    return Err(invalid(ProposalListError::DuplicatePsk));
                }
                psk_ids.push(id.clone());
            }
        }
        Ok(Applied {
            tree,
            extensions,
            added,
            removed,
            updated,
            psks: psk_ids,
            reinit,
            path_required,
        })
    }

    /// Looks up the secrets of PSKs (§8.4).
    pub(super) fn psk_values(&self, ids: &[PreSharedKeyId]) -> Result<Vec<Secret>, Error> {
        ids.iter()
            .map(|id| match &id.psk {
                Psk::External(e) => self.external_psks.get(e.psk_id.as_slice()).map(Secret::duplicate),
                Psk::Resumption(r) if r.psk_group_id == self.context.group_id => {
                    self.resumption_psks.get(&r.psk_epoch).map(Secret::duplicate)
                }
                _ => None,
            })
            .map(|s| s.ok_or(PeerError::MissingPsk.into()))
            .collect()
    }

    fn psk_secret_of(&self, ids: &[PreSharedKeyId]) -> Result<Option<Secret>, Error> {
        let values = self.psk_values(ids)?;
        let pairs: Vec<(&PreSharedKeyId, &[u8])> = ids.iter().zip(values.iter().map(Secret::as_bytes)).collect();
        psk_secret(self.cs.as_ref(), &pairs)
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
        let cs = self.cs.clone();
        let cs = cs.as_ref();
        let own = self.own_leaf();
        let mut refs: Vec<ProposalOrRef> = vec![];
        let mut list: Vec<(Proposal, Sender)> = vec![];
        if options.include_pending {
            for c in &self.pending {
                // §12.2: the committer cannot commit its own Update.
                if c.sender == Sender::Member(own) && matches!(c.proposal, Proposal::Update(_)) {
                    continue;
                }
                refs.push(ProposalOrRef::Reference(c.reference.clone()));
                list.push((c.proposal.clone(), c.sender));
            }
        }
        for p in &options.proposals {
            refs.push(ProposalOrRef::Proposal(p.clone()));
            list.push((p.clone(), Sender::Member(own)));
        }
        let mut applied = self.apply_proposals(own, &list, false)?;
        let use_path = (options.force_path || applied.path_required) && applied.reinit.is_none();
        let excluded: Vec<LeafIndex> = applied.added.iter().map(|(l, _)| *l).collect();

        let (path, commit_secret, keys, path_secrets) = if use_path {
            let provisional_ext = applied.extensions.clone();
            let group_id = self.context.group_id.as_slice().to_vec();
            let identity = &self.identity;
            let mut leaf = applied.tree.leaf(own).cloned().ok_or(PeerError::UnknownSender)?;
            let ctx_base = self.provisional_context(&mut applied.tree, &provisional_ext)?;
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
            if self.context.epoch != 0 {
                return Err(MisuseError::NotAFoundingCommit.into());
            }
            applied.psks.push(id);
            psk_values.push(secret);
        }
        let pairs: Vec<(&PreSharedKeyId, &[u8])> = applied.psks.iter().zip(psk_values.iter().map(Secret::as_bytes)).collect();
        let psk = psk_secret(cs, &pairs)?;
        let wire_format = if self.config.encrypt_handshake {
            WireFormat::PRIVATE_MESSAGE
        } else {
            WireFormat::PUBLIC_MESSAGE
        };
        let content = self.framed(
            FramedContentBody::Commit(Commit { proposals: refs, path }),
            &options.authenticated_data,
        );
        let signature = framing::sign_content(cs, &self.identity.signer, wire_format, &content, &self.context)?;
        let mut ac = AuthenticatedContent {
            wire_format,
            content,
            auth: FramedContentAuthData {
                signature: signature.into(),
                confirmation_tag: None,
            },
        };
        let confirmed = confirmed_transcript_hash(cs, &self.interim_transcript_hash, &ac)?;
        let mut new_context = self.provisional_context(&mut applied.tree, &applied.extensions)?;
        new_context.confirmed_transcript_hash = confirmed.clone().into();
        let joiner = joiner_secret(cs, self.secrets.init_secret.as_bytes(), commit_secret.as_bytes(), &new_context)?;
        let secrets = EpochSecrets::from_joiner_secret(
            cs,
            joiner.as_bytes(),
            psk.as_ref().map(Secret::as_bytes),
            &new_context,
            &self.config.epoch_secrets,
        )?;
        let tag = confirmation_tag(cs, secrets.confirmation_key.as_bytes(), &confirmed)?;
        let interim = interim_transcript_hash(cs, &confirmed, &tag)?;
        ac.auth.confirmation_tag = Some(tag.clone().into());

        let commit = if self.config.encrypt_handshake {
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
            let m = seal_public(cs, ac.content, ac.auth, &self.context, Some(self.secrets.membership_key.as_bytes()))?;
            MlsMessage::new(MlsMessageBody::PublicMessage(m))
        };

        let group_info = self.sign_group_info(&new_context, &applied.tree, &secrets, tag)?;
        let welcome = if applied.added.is_empty() {
            None
        } else {
            Some(self.welcome(&group_info, &joiner, psk.as_ref(), &applied, &path_secrets)?)
        };
        let secret_tree = SecretTree::new(
            secrets.encryption_secret.duplicate(),
            applied.tree.n_leaves(),
            self.config.secret_tree,
        )?;
        self.pending_commit = Some(StagedCommit {
            parent_epoch: self.context.epoch,
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
        let cs = self.cs.as_ref();
        let mut extensions = vec![];
        if self.config.ratchet_tree_extension {
            extensions.push(Extension::new(ExtensionType::RATCHET_TREE, encode(&tree.to_nodes())?));
        }
        let (_, external_pub) = secrets.external_key_pair(cs)?;
        extensions.push(Extension::new(
            ExtensionType::EXTERNAL_PUB,
            encode(&crate::codec::ExternalPub {
                external_pub: external_pub.into(),
            })?,
        ));
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

    /// Validates an external commit's proposal list (RFC 9420 §12.2, §12.4.3.2)
    /// and applies it: an optional Remove (resync), the joiner's leaf in the
    /// leftmost blank position, PSKs; and derives `init_secret` from the
    /// ExternalInit with the group's external key pair (§8.3).
    fn apply_external_commit(&self, commit: &Commit) -> Result<(LeafIndex, Applied, Secret), Error> {
        let cs = self.cs.as_ref();
        let path = commit.path.as_ref().ok_or(PeerError::MissingPath)?;
        let mut kem_output = None;
        let mut remove = None;
        let mut psks = vec![];
        for p in &commit.proposals {
            let ProposalOrRef::Proposal(p) = p else {
                return Err(invalid(ProposalListError::ExternalCommitByReference));
            };
            match p {
                Proposal::ExternalInit(e) if kem_output.is_none() => kem_output = Some(e.kem_output.clone()),
                Proposal::Remove(r) if remove.is_none() => remove = Some(r.removed),
                Proposal::PreSharedKey(psk) => {
                    if psk.psk.psk_nonce.len() != cs.hash_len() {
                        return Err(PeerError::InvalidPskNonce(psk.psk.psk_nonce.len()).into());
                    }
                    if psks.contains(&psk.psk) {
                        return Err(invalid(ProposalListError::DuplicatePsk));
                    }
                    psks.push(psk.psk.clone());
                }
                _ => return Err(invalid(ProposalListError::ExternalCommitProposalNotAllowed)),
            }
        }
        let kem_output = kem_output.ok_or(invalid(ProposalListError::ExternalCommitWithoutExternalInit))?;
        let mut tree = self.tree.clone();
        let mut removed = vec![];
        if let Some(r) = remove {
            if tree.leaf(r).is_none() {
                return Err(invalid(ProposalListError::RemoveOfBlankLeaf));
            }
            tree.remove_leaf(r)?;
            removed.push(r);
        }
        let committer = tree.add_leaf(path.leaf_node.clone())?;
        let (external_sk, _) = self.secrets.external_key_pair(cs)?;
        let init_secret = cs.hpke_export_receiver(kem_output.as_slice(), &external_sk, &[], EXTERNAL_INIT_LABEL, cs.hash_len())?;
        let applied = Applied {
            tree,
            extensions: self.context.extensions.clone(),
            added: vec![],
            removed,
            updated: vec![],
            psks,
            reinit: None,
            path_required: true,
        };
        Ok((committer, applied, init_secret))
    }

    /// Validates a received commit and computes the next epoch (RFC 9420 §12.4.2).
    pub(super) fn stage_commit(
        &self,
        ac: &AuthenticatedContent,
        commit: &Commit,
        ratchet: Option<StagedRatchet>,
    ) -> Result<StagedCommit, Error> {
        let cs = self.cs.as_ref();
        let external = ac.content.sender == Sender::NewMemberCommit;
        let (committer, mut applied, init_secret) = match ac.content.sender {
            Sender::Member(committer) => {
                if committer == self.own_leaf() {
                    return Err(MisuseError::OwnCommit.into());
                }
                let mut list = Vec::with_capacity(commit.proposals.len());
                for p in &commit.proposals {
                    match p {
                        ProposalOrRef::Proposal(p) => list.push((p.clone(), Sender::Member(committer))),
                        ProposalOrRef::Reference(r) => {
                            let c = self
                                .pending
                                .iter()
                                .find(|c| &c.reference == r)
                                .ok_or(PeerError::UnknownProposalRef)?;
                            list.push((c.proposal.clone(), c.sender));
                        }
                    }
                }
                (
                    committer,
                    self.apply_proposals(committer, &list, true)?,
                    self.secrets.init_secret.duplicate(),
                )
            }
            Sender::NewMemberCommit => self.apply_external_commit(commit)?,
            _ => return Err(PeerError::InvalidSender.into()),
        };
        if applied.path_required && commit.path.is_none() {
            return Err(PeerError::MissingPath.into());
        }
        let own = self.own_leaf();
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
        keys.prune(&applied.tree);
        let commit_secret = match &commit.path {
            Some(path) => {
                let summary = MemberSummary::of(&applied.tree);
                let params = GroupParams {
                    cipher_suite: self.context.cipher_suite,
                    group_id: self.context.group_id.as_slice(),
                    extensions: &applied.extensions,
                    tree: &applied.tree,
                    summary: &summary,
                    validator: self.config.validator.as_ref(),
                    check_lifetime: self.config.check_received_lifetimes,
                };
                validate_leaf(cs, &path.leaf_node, LeafContext::Commit(committer), &params)?;
                let old = applied.tree.leaf(committer).ok_or(PeerError::UnknownSender)?;
                if !external && old.encryption_key == path.leaf_node.encryption_key {
                    return Err(PeerError::InvalidLeaf(super::LeafError::EncryptionKeyNotChanged).into());
                }
                // §12.4.2: no public key of the path may already be in the tree.
                let existing = applied.tree.all_encryption_keys();
                if path.nodes.iter().any(|n| existing.contains(&n.encryption_key))
                    || (!external && existing.contains(&path.leaf_node.encryption_key))
                {
                    return Err(PeerError::InvalidUpdatePath.into());
                }
                applied.tree.merge_update_path(cs, committer, path)?;
                if removed_self {
                    None
                } else {
                    let ctx = encode(&self.provisional_context(&mut applied.tree, &applied.extensions)?)?;
                    let dec = treekem::decap(cs, &applied.tree, &keys, committer, path, &excluded, &ctx)?;
                    keys = dec.keys;
                    Some(dec.commit_secret)
                }
            }
            None => Some(Secret::new(vec![0u8; cs.hash_len()])),
        };
        let psk = self.psk_secret_of(&applied.psks)?;
        let confirmed = confirmed_transcript_hash(cs, &self.interim_transcript_hash, ac)?;
        let mut new_context = self.provisional_context(&mut applied.tree, &applied.extensions)?;
        new_context.confirmed_transcript_hash = confirmed.clone().into();
        let received_tag = ac.auth.confirmation_tag.as_ref().ok_or(PeerError::MissingConfirmationTag)?;
        let Some(commit_secret) = commit_secret else {
            // Removed: we cannot follow the new epoch; keep our keys and mark the group inactive.
            return Ok(StagedCommit {
                parent_epoch: self.context.epoch,
                context: new_context,
                tree: applied.tree,
                keys,
                secrets: EpochSecrets::from_epoch_secret(
                    cs,
                    Secret::new(vec![]),
                    &Secret::new(cs.random_vec(cs.hash_len())?),
                    &self.config.epoch_secrets,
                )?,
                secret_tree: SecretTree::new(Secret::new(cs.random_vec(cs.hash_len())?), 1, self.config.secret_tree)?,
                interim_transcript_hash: vec![],
                ratchet,
                removed_self: true,
                reinit: None,
                added: excluded,
                removed: applied.removed,
            });
        };
        let joiner = joiner_secret(cs, init_secret.as_bytes(), commit_secret.as_bytes(), &new_context)?;
        let secrets = EpochSecrets::from_joiner_secret(
            cs,
            joiner.as_bytes(),
            psk.as_ref().map(Secret::as_bytes),
            &new_context,
            &self.config.epoch_secrets,
        )?;
        let tag = confirmation_tag(cs, secrets.confirmation_key.as_bytes(), &confirmed)?;
        if !bool::from(tag.ct_eq(received_tag.as_slice())) {
            return Err(PeerError::InvalidConfirmationTag.into());
        }
        let interim = interim_transcript_hash(cs, &confirmed, &tag)?;
        let secret_tree = SecretTree::new(
            secrets.encryption_secret.duplicate(),
            applied.tree.n_leaves(),
            self.config.secret_tree,
        )?;
        Ok(StagedCommit {
            parent_epoch: self.context.epoch,
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
        })
    }
}

/// Every member supports every non-default GroupContext extension and the
/// required capabilities (RFC 9420 §11.1, §12.1.7).
fn check_members_support(tree: &RatchetTree, extensions: &[Extension]) -> Result<(), Error> {
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
