//! Welcome messages: creating them for new members and joining with one
//! (RFC 9420 §12.4.3.1).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::PublicGroup;
use super::commit::Applied;
use super::validation::{GroupParams, LeafContext, MemberSummary, check_tree_leaves_authenticity, validate_leaf_fields};
use super::{Group, GroupConfig, KeyPackageBundle};
use crate::codec::{
    EncryptedGroupSecrets, ExtensionType, GroupInfo, GroupSecrets, MlsMessage, MlsMessageBody, Node, PathSecret, ProtocolVersion,
    RatchetTreeNodes, Welcome, decode, encode, find_extension,
};
use crate::crypto::labeled::KEY_PACKAGE_REF_LABEL;
use crate::crypto::{CipherSuiteProvider, LabeledCrypto, Secret};
use crate::error::{Error, PeerError};
use crate::schedule::{
    EpochSecrets, SecretTree, interim_transcript_hash, psk_secret, verify_confirmation_tag, welcome_key_nonce, welcome_secret,
};
use crate::tree::RatchetTree;
use crate::tree::math::{self, LeafIndex, NodeIndex};
use crate::tree::treekem::{TreePrivateKeys, next_path_secret, node_key_pair};

/// The label of Welcome encryption (RFC 9420 §12.4.3.1).
pub const WELCOME_LABEL: &[u8] = b"Welcome";

impl Group {
    /// Builds the Welcome for the members a commit adds (RFC 9420 §12.4.3.1).
    pub(super) fn welcome(
        &self,
        group_info: &GroupInfo,
        joiner: &Secret,
        psk: Option<&Secret>,
        applied: &Applied,
        path_secrets: &[(NodeIndex, Secret)],
    ) -> Result<Welcome, Error> {
        let cs = self.public.cs.as_ref();
        let ws = welcome_secret(cs, joiner.as_bytes(), psk.map(Secret::as_bytes))?;
        let (key, nonce) = welcome_key_nonce(cs, ws.as_bytes())?;
        let encrypted_group_info = cs.aead_seal(key.as_bytes(), nonce.as_bytes(), &[], &encode(group_info)?)?;
        let own = self.own_leaf().node().ok_or(PeerError::UnknownSender)?;
        let mut secrets = Vec::with_capacity(applied.added.len());
        let mut plains = Vec::with_capacity(applied.added.len());
        for (leaf, _) in &applied.added {
            let x = leaf.node().ok_or(PeerError::UnknownSender)?;
            let lca = math::common_ancestor(own, x);
            let path_secret = path_secrets.iter().find(|(n, _)| *n == lca).map(|(_, s)| PathSecret {
                path_secret: s.as_bytes().to_vec().into(),
            });
            let gs = GroupSecrets {
                joiner_secret: joiner.as_bytes().to_vec().into(),
                path_secret,
                psks: applied.psks.clone(),
            };
            plains.push(zeroize::Zeroizing::new(encode(&gs)?));
        }
        // One batch: the encrypted GroupInfo is the HPKE info of every
        // entry, and with the ratchet tree inside it is large.
        let recipients: Vec<(&[u8], &[u8])> = applied
            .added
            .iter()
            .zip(&plains)
            .map(|((_, kp), p)| (kp.init_key.as_slice(), p.as_slice()))
            .collect();
        let cts = cs.encrypt_with_label_batch(&recipients, WELCOME_LABEL, &encrypted_group_info)?;
        for ((_, kp), ct) in applied.added.iter().zip(cts) {
            secrets.push(EncryptedGroupSecrets {
                new_member: cs.ref_hash(KEY_PACKAGE_REF_LABEL, &encode(kp)?)?.into(),
                encrypted_group_secrets: ct,
            });
        }
        Ok(Welcome {
            cipher_suite: self.public.context.cipher_suite,
            secrets,
            encrypted_group_info: encrypted_group_info.into(),
        })
    }

    /// Joins a group with a Welcome (RFC 9420 §12.4.3.1). `tree` is the
    /// ratchet tree when the GroupInfo has no `ratchet_tree` extension.
    pub fn join(
        cs: Arc<dyn CipherSuiteProvider>,
        welcome: &MlsMessage,
        bundle: KeyPackageBundle,
        tree: Option<RatchetTreeNodes>,
        config: GroupConfig,
    ) -> Result<Self, Error> {
        Self::join_with_psks(cs, welcome, bundle, tree, config, BTreeMap::new())
    }

    /// [`Group::join`] with external PSKs the Welcome may name.
    pub fn join_with_psks(
        cs: Arc<dyn CipherSuiteProvider>,
        welcome: &MlsMessage,
        bundle: KeyPackageBundle,
        tree: Option<RatchetTreeNodes>,
        config: GroupConfig,
        external_psks: BTreeMap<Vec<u8>, Secret>,
    ) -> Result<Self, Error> {
        Self::join_inner(cs, welcome, bundle, tree, config, external_psks, None)
    }

    pub(super) fn join_inner(
        cs: Arc<dyn CipherSuiteProvider>,
        welcome: &MlsMessage,
        bundle: KeyPackageBundle,
        tree: Option<RatchetTreeNodes>,
        config: GroupConfig,
        external_psks: BTreeMap<Vec<u8>, Secret>,
        prior: Option<&Group>,
    ) -> Result<Self, Error> {
        let c = cs.as_ref();
        config
            .limits
            .check(super::Limit::MessageSize, tls_codec::Size::tls_serialized_len(welcome))?;
        // RFC 9420 §6: the MLSMessage's version is that of the group.
        if welcome.version != ProtocolVersion::MLS10 {
            return Err(PeerError::UnsupportedVersion(welcome.version.0).into());
        }
        let MlsMessageBody::Welcome(welcome) = &welcome.body else {
            return Err(PeerError::UnexpectedWireFormat(welcome.body.wire_format().0).into());
        };
        let kp = &bundle.key_package;
        if welcome.cipher_suite != kp.cipher_suite || welcome.cipher_suite != c.cipher_suite() {
            return Err(PeerError::InvalidGroupInfo("cipher suite differs from the KeyPackage").into());
        }
        let kp_ref = c.ref_hash(KEY_PACKAGE_REF_LABEL, &encode(kp)?)?;
        let entry = welcome
            .secrets
            .iter()
            .find(|s| s.new_member.as_slice() == kp_ref)
            .ok_or(PeerError::WelcomeNotForUs)?;
        let plain = c.decrypt_with_label_known(
            &bundle.init_key,
            kp.init_key.as_slice(),
            WELCOME_LABEL,
            welcome.encrypted_group_info.as_slice(),
            &entry.encrypted_group_secrets,
        )?;
        let gs: GroupSecrets = decode(plain.as_bytes())?;
        config.limits.check(super::Limit::Psks, gs.psks.len())?;
        super::resumption::check_single_founding_psk(&gs.psks)?;

        // PSKs (§12.4.3.1): the given external PSKs, the predecessor's
        // resumption PSKs, then the PSK store.
        let mut values = vec![];
        for id in &gs.psks {
            if id.psk_nonce.len() != c.hash_len() {
                return Err(PeerError::InvalidPskNonce(id.psk_nonce.len()).into());
            }
            let own = match (&id.psk, prior) {
                (crate::codec::Psk::External(e), _) => external_psks.get(e.psk_id.as_slice()).map(Secret::duplicate),
                (crate::codec::Psk::Resumption(r), Some(p)) if r.psk_group_id == p.public.context.group_id => {
                    p.resumption_psks.get(&r.psk_epoch).map(Secret::duplicate)
                }
                _ => None,
            };
            let v = own.or_else(|| config.hooks.psk_store().and_then(|s| s.psk(&id.psk)));
            values.push(v.ok_or(PeerError::MissingPsk)?);
        }
        let pairs: Vec<_> = gs.psks.iter().zip(values.iter().map(Secret::as_bytes)).collect();
        let psk = psk_secret(c, &pairs)?;

        let ws = welcome_secret(c, gs.joiner_secret.as_slice(), psk.as_ref().map(Secret::as_bytes))?;
        let (key, nonce) = welcome_key_nonce(c, ws.as_bytes())?;
        let gi_bytes = c.aead_open(key.as_bytes(), nonce.as_bytes(), &[], welcome.encrypted_group_info.as_slice())?;
        let gi: GroupInfo = decode(gi_bytes.as_bytes())?;
        let context = gi.group_context.clone();
        if context.cipher_suite != welcome.cipher_suite || context.version != kp.version {
            return Err(PeerError::InvalidGroupInfo("version or cipher suite").into());
        }

        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupContext, &context.extensions)?;
        config
            .hooks
            .validate_extensions(super::hooks::ExtensionContext::GroupInfo, &gi.extensions)?;
        let tree = verified_tree(c, &gi, tree, &config)?;
        // Our leaf: the one carrying our KeyPackage's leaf node.
        let own = tree
            .leaves()
            .find(|(_, l)| **l == kp.leaf_node)
            .map(|(i, _)| i)
            .ok_or(PeerError::InvalidGroupInfo("our leaf is not in the tree"))?;
        let mut keys = TreePrivateKeys::new(own, bundle.leaf_key.duplicate());
        if let Some(ps) = &gs.path_secret {
            install_path_secret(c, &tree, &mut keys, own, gi.signer, ps.path_secret.as_slice())?;
        }
        // §12.4.3.1: a Welcome with a reinit or branch PSK must start epoch 1
        // of a group that matches its predecessor.
        super::resumption::check_resumption_join(&gs.psks, &context, &tree, prior)?;

        let secrets = EpochSecrets::from_joiner_secret(
            c,
            gs.joiner_secret.as_slice(),
            psk.as_ref().map(Secret::as_bytes),
            &context,
            &config.epoch_secrets,
        )?;
        verify_confirmation_tag(
            c,
            secrets.confirmation_key.as_bytes(),
            context.confirmed_transcript_hash.as_slice(),
            gi.confirmation_tag.as_slice(),
        )?;
        let interim = interim_transcript_hash(c, context.confirmed_transcript_hash.as_slice(), gi.confirmation_tag.as_slice())?;
        let secret_tree = SecretTree::new(secrets.encryption_secret.duplicate(), tree.n_leaves(), config.secret_tree)?;
        let mut resumption_psks = BTreeMap::new();
        resumption_psks.insert(context.epoch, secrets.resumption_psk.duplicate());
        Ok(Self {
            public: PublicGroup::new(cs, config, context, tree, interim),
            identity: bundle.identity,
            keys,
            secrets,
            secret_tree,
            pending_commit: None,
            past: VecDeque::new(),
            external_psks,
            resumption_psks,
            pending_leaf_key: None,
            last_reinit: None,
            active: true,
        })
    }
}

/// The ratchet tree of a GroupInfo we join with (from its `ratchet_tree`
/// extension, else `tree`), checked as RFC 9420 §12.4.3.1 requires: the
/// GroupInfo signature by its signer, the tree hash, parent hashes, leaves.
pub(super) fn verified_tree(
    c: &(impl CipherSuiteProvider + ?Sized),
    gi: &GroupInfo,
    tree: Option<RatchetTreeNodes>,
    config: &GroupConfig,
) -> Result<RatchetTree, Error> {
    let context = &gi.group_context;
    let nodes = match (find_extension(&gi.extensions, ExtensionType::RATCHET_TREE), tree) {
        (Some(ext), _) => decode::<RatchetTreeNodes>(ext.extension_data.as_slice())?,
        (None, Some(t)) => t,
        (None, None) => return Err(PeerError::InvalidGroupInfo("no ratchet tree").into()),
    };
    let limits = &config.limits;
    limits.check(super::Limit::Extensions, gi.extensions.len())?;
    limits.check(super::Limit::Extensions, context.extensions.len())?;
    let mut tree = RatchetTree::from_nodes(nodes)?;
    limits.check(super::Limit::Leaves, tree.n_leaves() as usize)?;
    let signer = tree.leaf(gi.signer).ok_or(PeerError::InvalidGroupInfo("signer is not a member"))?;
    let signer_key = signer.signature_key.as_slice().to_vec();
    // Three independent pieces of work run side by side: the GroupInfo's
    // signature (over the whole tree: 78 MB for 10,000 members in TBD10),
    // the leaves' signatures and credentials (most of the work), and the
    // tree and parent hashes, which work on a copy of the tree (its nodes
    // are shared, not copied). Their results are judged in that order, so
    // a bad signature is reported as such.
    let checked = tree.clone();
    let leaves: Vec<(LeafIndex, &crate::codec::LeafNode)> = checked.leaves().collect();
    let group_id = context.group_id.as_slice();
    let validator = config.validator.as_ref();
    let worth_it = leaves.len() >= crate::par::CHEAP_ITEMS;
    let (signed, (authentic, structure)) = crate::par::join_if(
        worth_it,
        || -> Result<(), Error> {
            c.verify_with_label(&signer_key, b"GroupInfoTBS", &gi.tbs()?, gi.signature.as_slice())
                .map_err(|_| PeerError::InvalidGroupInfo("signature").into())
        },
        || {
            crate::par::join_if(
                worth_it,
                || check_tree_leaves_authenticity(c, &leaves, group_id, validator),
                || -> Result<RatchetTree, Error> {
                    tree.verify_structure()?;
                    for key in tree.parent_encryption_keys() {
                        c.kem_validate_public_key(key).map_err(|_| PeerError::InvalidNodeKey)?;
                    }
                    if tree.tree_hash(c)? != context.tree_hash.as_slice() {
                        return Err(PeerError::InvalidGroupInfo("tree hash").into());
                    }
                    tree.verify_parent_hashes(c)?;
                    validate_tree_leaves(&tree, context, config)?;
                    Ok(tree)
                },
            )
        },
    );
    signed?;
    authentic?;
    structure
}

/// Validates every leaf of a tree we join against the group (RFC 9420
/// §7.3, §12.4.3.1); their authenticity is checked by the caller.
fn validate_tree_leaves(tree: &RatchetTree, context: &crate::codec::GroupContext, config: &GroupConfig) -> Result<(), Error> {
    let summary = MemberSummary::of(tree);
    let params = GroupParams {
        summary: &summary,
        cipher_suite: context.cipher_suite,
        group_id: context.group_id.as_slice(),
        extensions: &context.extensions,
        tree,
        validator: config.validator.as_ref(),
        check_lifetime: config.check_received_lifetimes,
        hooks: &config.hooks,
        limits: config.limits,
        capabilities: config.leaf_capabilities,
    };
    for (i, leaf) in tree.leaves() {
        validate_leaf_fields(leaf, LeafContext::InTree(i), &params)?;
    }
    Ok(())
}

/// Installs the path secret of our common ancestor with the committer and
/// derives the keys above it on the committer's filtered direct path
/// (RFC 9420 §12.4.3.1), checking each against the tree.
fn install_path_secret(
    cs: &(impl CipherSuiteProvider + ?Sized),
    tree: &RatchetTree,
    keys: &mut TreePrivateKeys,
    own: LeafIndex,
    committer: LeafIndex,
    path_secret: &[u8],
) -> Result<(), Error> {
    let (Some(a), Some(b)) = (own.node(), committer.node()) else {
        return Err(PeerError::InvalidGroupInfo("leaf index").into());
    };
    let lca = math::common_ancestor(a, b);
    let fdp = tree.filtered_direct_path(committer)?;
    let start = fdp
        .iter()
        .position(|x| *x == lca)
        .ok_or(PeerError::InvalidGroupInfo("path secret for a node off the committer's path"))?;
    let mut secret = Secret::from_slice(path_secret);
    for x in fdp.iter().skip(start) {
        let (sk, pk) = node_key_pair(cs, secret.as_bytes())?;
        match tree.node(*x) {
            Some(Node::Parent(p)) if p.encryption_key.as_slice() == pk => keys.insert(*x, sk),
            _ => return Err(PeerError::PathKeyMismatch.into()),
        }
        secret = next_path_secret(cs, secret.as_bytes())?;
    }
    Ok(())
}
