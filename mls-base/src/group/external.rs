//! Joining by external commit (RFC 9420 §12.4.3.2).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::PublicGroup;
use super::commit::EXTERNAL_INIT_LABEL;
use super::welcome::verified_tree;
use super::{Group, GroupConfig, Identity};
use crate::codec::{
    AuthenticatedContent, Commit, ExtensionType, ExternalInit, ExternalPub, FramedContent, FramedContentAuthData, FramedContentBody,
    GroupInfo, LeafNode, LeafNodeSource, MlsMessage, MlsMessageBody, Proposal, ProposalOrRef, RatchetTreeNodes, Remove, Sender, VLBytes,
    WireFormat, decode, encode, find_extension,
};
use crate::crypto::{CipherSuiteProvider, Secret};
use crate::error::{Error, PeerError};
use crate::framing::{self, seal_public};
use crate::schedule::{EpochSecrets, SecretTree, confirmation_tag, confirmed_transcript_hash, interim_transcript_hash, joiner_secret};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::{self, TreePrivateKeys};

/// What an external commit carries beside the ExternalInit
/// ([`Group::join_external_with`]).
#[derive(Clone, Debug, Default)]
pub struct ExternalJoinOptions {
    /// Remove this old leaf of ours in the same commit (resync, RFC 9420
    /// §12.4.3.2).
    pub resync: Option<LeafIndex>,
    /// Proposals by value: PreSharedKey, and new types whose handler
    /// allows external commits.
    pub proposals: Vec<Proposal>,
    /// Proposals by reference: members' PublicMessage proposals of the
    /// GroupInfo's epoch whose handler allows them by reference in external
    /// commits (such as SelfRemove, draft-ietf-mls-extensions §6.3, which a
    /// joiner MUST fetch with the GroupInfo and include). Each is checked
    /// as a non-member can: group, epoch, a member sender in the tree and
    /// its signature, not the `membership_tag`.
    pub proposals_by_reference: Vec<MlsMessage>,
    /// The commit's authenticated data (framing handlers apply).
    pub authenticated_data: Vec<u8>,
}

/// The proposals an external joiner commits by reference, verified as a
/// non-member can (draft-ietf-mls-extensions §6.3) against the GroupInfo's
/// context and tree, with their references (RFC 9420 §5.2).
fn by_reference(
    cs: &dyn CipherSuiteProvider,
    context: &crate::codec::GroupContext,
    tree: &RatchetTree,
    messages: &[MlsMessage],
) -> Result<Vec<super::CachedProposal>, Error> {
    messages
        .iter()
        .map(|m| {
            let MlsMessageBody::PublicMessage(msg) = &m.body else {
                return Err(PeerError::UnexpectedWireFormat(m.body.wire_format().0).into());
            };
            let Sender::Member(l) = msg.content.sender else {
                return Err(PeerError::InvalidSender.into());
            };
            let leaf = tree.leaf(l).ok_or(PeerError::UnknownSender)?;
            let ac = framing::verify_public_proposal_as_non_member(cs, msg, context, leaf.signature_key.as_slice())?;
            let FramedContentBody::Proposal(proposal) = &ac.content.body else {
                return Err(PeerError::NotAProposal.into());
            };
            Ok(super::CachedProposal {
                reference: crate::crypto::LabeledCrypto::ref_hash(cs, crate::crypto::labeled::PROPOSAL_REF_LABEL, &encode(&ac)?)?.into(),
                proposal: proposal.clone(),
                sender: ac.content.sender,
            })
        })
        .collect()
}

impl Group {
    /// Joins a group by external commit from its GroupInfo (RFC 9420
    /// §12.4.3.2). `resync` removes an old leaf of ours in the same commit.
    /// Returns the group at the new epoch and the commit to send to the
    /// members.
    pub fn join_external(
        cs: Arc<dyn CipherSuiteProvider>,
        group_info: &GroupInfo,
        tree: Option<RatchetTreeNodes>,
        identity: Identity,
        resync: Option<LeafIndex>,
        config: GroupConfig,
    ) -> Result<(Self, MlsMessage), Error> {
        let options = ExternalJoinOptions {
            resync,
            ..ExternalJoinOptions::default()
        };
        Self::join_external_with(cs, group_info, tree, identity, options, config)
    }

    /// [`Group::join_external`] with more in the commit: proposals by value
    /// beside the ExternalInit (RFC 9420 §12.4.3.2: PreSharedKey, and new
    /// types whose handler allows external commits) and authenticated data.
    /// The joiner validates and applies the list with the same code as the
    /// members that receive it, on the group as the GroupInfo describes it,
    /// so both reach the same GroupContext.
    pub fn join_external_with(
        cs: Arc<dyn CipherSuiteProvider>,
        group_info: &GroupInfo,
        tree: Option<RatchetTreeNodes>,
        identity: Identity,
        options: ExternalJoinOptions,
        config: GroupConfig,
    ) -> Result<(Self, MlsMessage), Error> {
        let c = cs.as_ref();
        let size = tls_codec::Size::tls_serialized_len(group_info) + tree.as_ref().map_or(0, tls_codec::Size::tls_serialized_len);
        config.limits.check(super::Limit::MessageSize, size)?;
        let old_context = group_info.group_context.clone();
        if old_context.cipher_suite != c.cipher_suite() {
            return Err(PeerError::InvalidGroupInfo("cipher suite").into());
        }
        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupContext, &old_context.extensions)?;
        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupInfo, &group_info.extensions)?;
        let tree = verified_tree(c, group_info, tree, &config)?;
        let ext =
            find_extension(&group_info.extensions, ExtensionType::EXTERNAL_PUB).ok_or(PeerError::InvalidGroupInfo("no external_pub"))?;
        let external_pub: ExternalPub = decode(ext.extension_data.as_slice())?;
        let (kem_output, init_secret) =
            c.hpke_export_sender(external_pub.external_pub.as_slice(), &[], EXTERNAL_INIT_LABEL, c.hash_len())?;

        let mut proposals = vec![ProposalOrRef::Proposal(Proposal::ExternalInit(ExternalInit {
            kem_output: kem_output.into(),
        }))];
        if let Some(r) = options.resync {
            proposals.push(ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: r })));
        }
        proposals.extend(options.proposals.into_iter().map(ProposalOrRef::Proposal));
        let cached = by_reference(c, &old_context, &tree, &options.proposals_by_reference)?;
        proposals.extend(cached.iter().map(|p| ProposalOrRef::Reference(p.reference.clone())));
        // Our leaf goes to the leftmost blank position; UpdatePath replaces it.
        let (leaf_sk, leaf_pk) = c.kem_generate_key_pair()?;
        let (capabilities, leaf_extensions, _) = identity.new_leaf_fields(c)?;
        let placeholder = LeafNode {
            encryption_key: leaf_pk.into(),
            signature_key: identity.signature_key.clone().into(),
            credential: identity.credential.clone(),
            capabilities,
            leaf_node_source: LeafNodeSource::Commit(VLBytes::default()),
            extensions: leaf_extensions,
            signature: VLBytes::default(),
        };
        // The list, validated and applied as the members will: on the group
        // the GroupInfo describes (its secrets are not needed for that).
        let interim_before = interim_transcript_hash(
            c,
            old_context.confirmed_transcript_hash.as_slice(),
            group_info.confirmation_tag.as_slice(),
        )?;
        let before = PublicGroup::new(cs.clone(), config.clone(), old_context.clone(), tree, interim_before.clone());
        let map = cached.iter().map(|p| (&p.reference, p)).collect();
        let (own, applied, _) = before.apply_external_proposals(&proposals, &placeholder, &map)?;
        // A joiner holds no PSK of the group: only the PSK store can help.
        let psk_secret = super::commit::psk_secret_from(c, &config.hooks, &applied.psks, |_| None)?;
        let mut tree = applied.tree;
        let keys = TreePrivateKeys::new(own, leaf_sk);
        let group_id = old_context.group_id.as_slice().to_vec();
        let mut provisional = old_context.clone();
        provisional.epoch = old_context.epoch.checked_add(1).ok_or(crate::error::MisuseError::TooLarge)?;
        provisional.extensions = applied.extensions;
        let enc = treekem::encap(
            c,
            &mut tree,
            &keys,
            own,
            &[],
            |encryption_key, parent_hash| {
                let mut leaf = placeholder;
                leaf.encryption_key = encryption_key;
                leaf.leaf_node_source = LeafNodeSource::Commit(parent_hash.into());
                identity.sign_leaf(c, &mut leaf, Some((&group_id, own)))?;
                Ok(leaf)
            },
            |th| {
                let mut p = provisional.clone();
                p.tree_hash = th.to_vec().into();
                encode(&p)
            },
        )?;

        let content = FramedContent {
            group_id: old_context.group_id.clone(),
            epoch: old_context.epoch,
            sender: Sender::NewMemberCommit,
            // Framing handlers shape the authenticated data of every message we send.
            authenticated_data: config.hooks.frame_aad(&old_context, &options.authenticated_data)?.into(),
            body: FramedContentBody::Commit(Commit {
                proposals,
                path: Some(enc.update_path),
            }),
        };
        let signature = framing::sign_content(c, &identity.signer, WireFormat::PUBLIC_MESSAGE, &content, &old_context)?;
        let mut ac = AuthenticatedContent {
            wire_format: WireFormat::PUBLIC_MESSAGE,
            content,
            auth: FramedContentAuthData {
                signature: signature.into(),
                confirmation_tag: None,
            },
        };
        let confirmed = confirmed_transcript_hash(c, &interim_before, &ac)?;
        let mut context = provisional;
        context.tree_hash = tree.tree_hash(c)?.into();
        context.confirmed_transcript_hash = confirmed.clone().into();
        let joiner = joiner_secret(c, init_secret.as_bytes(), enc.commit_secret.as_bytes(), &context)?;
        let secrets = EpochSecrets::from_joiner_secret(
            c,
            joiner.as_bytes(),
            psk_secret.as_ref().map(Secret::as_bytes),
            &context,
            &config.epoch_secrets,
        )?;
        let tag = confirmation_tag(c, secrets.confirmation_key.as_bytes(), &confirmed)?;
        let interim = interim_transcript_hash(c, &confirmed, &tag)?;
        ac.auth.confirmation_tag = Some(tag.into());
        let msg = seal_public(c, ac.content, ac.auth, &old_context, None)?;
        let secret_tree = SecretTree::new(secrets.encryption_secret.duplicate(), tree.n_leaves(), config.secret_tree)?;
        let mut resumption_psks: BTreeMap<u64, Secret> = BTreeMap::new();
        resumption_psks.insert(context.epoch, secrets.resumption_psk.duplicate());
        let group = Self {
            public: PublicGroup::new(cs, config, context, tree, interim),
            identity,
            keys: enc.keys,
            secrets,
            secret_tree,
            pending_commit: None,
            past: VecDeque::new(),
            external_psks: BTreeMap::new(),
            resumption_psks,
            pending_leaf_key: None,
            last_reinit: None,
            active: true,
        };
        Ok((group, MlsMessage::new(MlsMessageBody::PublicMessage(msg))))
    }

    /// The current epoch's signed GroupInfo, for external joiners or
    /// out-of-band distribution (RFC 9420 §12.4.3).
    pub fn group_info(&self) -> Result<GroupInfo, Error> {
        let tag = confirmation_tag(
            self.public.cs.as_ref(),
            self.secrets.confirmation_key.as_bytes(),
            self.public.context.confirmed_transcript_hash.as_slice(),
        )?;
        self.sign_group_info(&self.public.context, &self.public.tree, &self.secrets, tag)
    }
}
