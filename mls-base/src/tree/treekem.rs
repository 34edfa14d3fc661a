//! TreeKEM: creating and processing UpdatePaths (RFC 9420 §7.4–§7.6).

use std::collections::BTreeMap;

use super::RatchetTree;
use super::math::{self, LeafIndex, NodeIndex};
use crate::codec::{HpkePublicKey, LeafNode, UpdatePath, UpdatePathNode};
use crate::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret};
use crate::error::{Error, PeerError};

/// The label of path-secret encryption (RFC 9420 §7.6).
pub const UPDATE_PATH_NODE_LABEL: &[u8] = b"UpdatePathNode";

/// `node_priv, node_pub = KEM.DeriveKeyPair(DeriveSecret(path_secret, "node"))` (RFC 9420 §7.4).
pub fn node_key_pair(cs: &(impl CipherSuiteProvider + ?Sized), path_secret: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), Error> {
    let node_secret = cs.derive_secret(path_secret, b"node")?;
    Ok(cs.kem_derive_key_pair(node_secret.as_bytes())?)
}

/// `path_secret[n+1] = DeriveSecret(path_secret[n], "path")`; the same step
/// gives the commit secret from the last path secret (RFC 9420 §7.4, §8).
pub fn next_path_secret(cs: &(impl CipherSuiteProvider + ?Sized), path_secret: &[u8]) -> Result<Secret, Error> {
    cs.derive_secret(path_secret, b"path")
}

/// A member's private view of the tree: the HPKE private keys it holds,
/// by node (its leaf and some of its direct path), per the tree invariant.
#[derive(Debug)]
pub struct TreePrivateKeys {
    /// The member's leaf.
    pub own_leaf: LeafIndex,
    keys: BTreeMap<u32, HpkePrivateKey>,
}

impl TreePrivateKeys {
    /// The keys of a member holding only its leaf key.
    pub fn new(own_leaf: LeafIndex, leaf_key: HpkePrivateKey) -> Self {
        let mut keys = BTreeMap::new();
        if let Some(x) = own_leaf.node() {
            keys.insert(x.0, leaf_key);
        }
        Self { own_leaf, keys }
    }

    /// The private key of node `x`, if held.
    pub fn key(&self, x: NodeIndex) -> Option<&HpkePrivateKey> {
        self.keys.get(&x.0)
    }

    /// Sets the key of node `x`.
    pub fn insert(&mut self, x: NodeIndex, key: HpkePrivateKey) {
        self.keys.insert(x.0, key);
    }

    /// Derives and stores the key of node `x` from its path secret.
    pub fn insert_path_secret(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), x: NodeIndex, path_secret: &[u8]) -> Result<(), Error> {
        let (sk, _) = node_key_pair(cs, path_secret)?;
        self.insert(x, sk);
        Ok(())
    }

    /// Drops the key of node `x`.
    pub fn remove(&mut self, x: NodeIndex) {
        self.keys.remove(&x.0);
    }

    /// Nodes with a key.
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.keys.keys().map(|x| NodeIndex(*x))
    }

    /// Checks the keys against the public tree: each node is non-blank and
    /// holds the matching public key.
    pub fn is_consistent_with(&self, cs: &(impl CipherSuiteProvider + ?Sized), tree: &RatchetTree) -> Result<bool, Error> {
        for (x, sk) in &self.keys {
            let want = match tree.node(NodeIndex(*x)) {
                Some(crate::codec::Node::Leaf(l)) => &l.encryption_key,
                Some(crate::codec::Node::Parent(p)) => &p.encryption_key,
                None => return Ok(false),
            };
            if cs.kem_public_key(sk)? != want.as_slice() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Drops the keys of nodes on `leaf`'s direct path (they are replaced by
    /// a new path; RFC 9420 §7.5 deletion).
    fn forget_direct_path(&mut self, leaf: LeafIndex, n_leaves: u32) {
        if let Some(x) = leaf.node() {
            for p in math::direct_path(x, n_leaves) {
                self.keys.remove(&p.0);
            }
        }
    }

    /// An explicit copy (keys are secrets, so this type is not `Clone`).
    pub fn duplicate(&self) -> Self {
        Self {
            own_leaf: self.own_leaf,
            keys: self.keys.iter().map(|(k, v)| (*k, v.duplicate())).collect(),
        }
    }
}

/// The resolution of `c` without the leaves added by the current commit
/// (RFC 9420 §7.6).
fn resolution_excluding(tree: &RatchetTree, c: NodeIndex, excluded: &[LeafIndex]) -> Vec<NodeIndex> {
    if excluded.is_empty() {
        return tree.resolution(c);
    }
    let excluded: std::collections::HashSet<NodeIndex> = excluded.iter().filter_map(|l| l.node()).collect();
    tree.resolution(c).into_iter().filter(|x| !excluded.contains(x)).collect()
}

/// Checks the shape of an UpdatePath merged into `tree` (RFC 9420 §12.4.2),
/// as anyone holding the public tree can: one node per node of the
/// sender's filtered direct path, and for each one ciphertext per node in
/// the resolution of its copath child, leaves added by the commit
/// (`excluded`) left out.
pub fn check_path_shape(tree: &RatchetTree, sender: LeafIndex, path: &UpdatePath, excluded: &[LeafIndex]) -> Result<(), Error> {
    let fdp = tree.filtered_direct_path(sender)?;
    if fdp.len() != path.nodes.len() {
        return Err(PeerError::InvalidUpdatePath.into());
    }
    for (p, node) in fdp.iter().zip(&path.nodes) {
        let c = tree.copath_child(sender, *p).ok_or(PeerError::InvalidUpdatePath)?;
        if resolution_excluding(tree, c, excluded).len() != node.encrypted_path_secret.len() {
            return Err(PeerError::InvalidUpdatePath.into());
        }
    }
    Ok(())
}

/// What processing an UpdatePath yields.
#[derive(Debug)]
pub struct PathDecryption {
    /// The path secret we decrypted, and the node it belongs to.
    pub path_secret: Secret,
    /// The node of that path secret.
    pub node: NodeIndex,
    /// `commit_secret` (RFC 9420 §8).
    pub commit_secret: Secret,
    /// Our private keys after the path (obsolete ones dropped, new ones added).
    pub keys: TreePrivateKeys,
}

/// Processes an UpdatePath that has already been merged into `tree`
/// (RFC 9420 §7.5): finds the copath node we are under, decrypts its path
/// secret with a key we hold, derives the secrets of the nodes above, checks
/// every derived public key against the path, and computes the commit
/// secret. `context` is the serialized provisional GroupContext.
pub fn decap(
    cs: &(impl CipherSuiteProvider + ?Sized),
    tree: &RatchetTree,
    own: &TreePrivateKeys,
    sender: LeafIndex,
    path: &UpdatePath,
    excluded: &[LeafIndex],
    context: &[u8],
) -> Result<PathDecryption, Error> {
    let fdp = tree.filtered_direct_path(sender)?;
    if fdp.len() != path.nodes.len() {
        return Err(PeerError::InvalidUpdatePath.into());
    }
    let mut found: Option<(usize, Secret)> = None;
    for (i, (p, node)) in fdp.iter().zip(&path.nodes).enumerate() {
        let c = tree.copath_child(sender, *p).ok_or(PeerError::InvalidUpdatePath)?;
        let res = resolution_excluding(tree, c, excluded);
        if res.len() != node.encrypted_path_secret.len() {
            return Err(PeerError::InvalidUpdatePath.into());
        }
        if found.is_some() || !math::is_leaf_under(own.own_leaf, c) {
            continue;
        }
        let (x, sk) = res
            .iter()
            .find_map(|x| own.key(*x).map(|k| (x, k)))
            .ok_or(PeerError::NoPathSecretForUs)?;
        let pos = res.iter().position(|r| r == x).ok_or(PeerError::NoPathSecretForUs)?;
        let ct = node.encrypted_path_secret.get(pos).ok_or(PeerError::InvalidUpdatePath)?;
        // The node's public key is in the tree: the provider need not
        // recompute it from the private key.
        let secret = match tree.node(*x).map(node_encryption_key) {
            Some(pk) => cs.decrypt_with_label_known(sk, pk, UPDATE_PATH_NODE_LABEL, context, ct)?,
            None => cs.decrypt_with_label(sk, UPDATE_PATH_NODE_LABEL, context, ct)?,
        };
        found = Some((i, secret));
    }
    let (start, first) = found.ok_or(PeerError::NoPathSecretForUs)?;
    let mut keys = own.duplicate();
    keys.forget_direct_path(sender, tree.n_leaves());
    let mut secret = first.duplicate();
    for (p, node) in fdp.iter().zip(&path.nodes).skip(start) {
        let (sk, pk) = node_key_pair(cs, secret.as_bytes())?;
        if pk != node.encryption_key.as_slice() {
            return Err(PeerError::PathKeyMismatch.into());
        }
        keys.insert(*p, sk);
        secret = next_path_secret(cs, secret.as_bytes())?;
    }
    let node = fdp.get(start).copied().ok_or(PeerError::InvalidUpdatePath)?;
    Ok(PathDecryption {
        path_secret: first,
        node,
        commit_secret: secret,
        keys,
    })
}

/// What creating an UpdatePath yields.
#[derive(Debug)]
pub struct PathEncryption {
    /// The UpdatePath to send.
    pub update_path: UpdatePath,
    /// `commit_secret` (RFC 9420 §8).
    pub commit_secret: Secret,
    /// The path secret of each node of the filtered direct path (for Welcome
    /// messages: a joiner gets the one of its common ancestor with us).
    pub path_secrets: Vec<(NodeIndex, Secret)>,
    /// Our private keys after the path.
    pub keys: TreePrivateKeys,
}

/// Creates an UpdatePath for `sender` and merges it into `tree` (RFC 9420
/// §7.4–§7.6).
///
/// `make_leaf(encryption_key, parent_hash)` returns the committer's new,
/// signed, `commit`-sourced LeafNode. `context(tree_hash)` returns the
/// serialized provisional GroupContext for the tree after the path.
/// `excluded` are the leaves added by this commit, which get no ciphertexts.
pub fn encap(
    cs: &(impl CipherSuiteProvider + ?Sized),
    tree: &mut RatchetTree,
    own: &TreePrivateKeys,
    sender: LeafIndex,
    excluded: &[LeafIndex],
    make_leaf: impl FnOnce(HpkePublicKey, Vec<u8>) -> Result<LeafNode, Error>,
    context: impl FnOnce(&[u8]) -> Result<Vec<u8>, Error>,
) -> Result<PathEncryption, Error> {
    let fdp = tree.filtered_direct_path(sender)?;
    let leaf_secret = Secret::new(cs.random_vec(cs.hash_len())?);
    let (leaf_sk, leaf_pk) = node_key_pair(cs, leaf_secret.as_bytes())?;
    let mut secrets = Vec::with_capacity(fdp.len());
    let mut keys = own.duplicate();
    keys.forget_direct_path(sender, tree.n_leaves());
    if let Some(x) = sender.node() {
        keys.insert(x, leaf_sk);
    }
    let mut public = Vec::with_capacity(fdp.len());
    let mut secret = next_path_secret(cs, leaf_secret.as_bytes())?;
    for p in &fdp {
        let (sk, pk) = node_key_pair(cs, secret.as_bytes())?;
        keys.insert(*p, sk);
        public.push(HpkePublicKey::from(pk));
        let next = next_path_secret(cs, secret.as_bytes())?;
        secrets.push((*p, secret));
        secret = next;
    }
    let commit_secret = secret;

    let (_, leaf_parent_hash) = tree.path_parent_hashes(cs, sender, &fdp, &public)?;
    let leaf_node = make_leaf(HpkePublicKey::from(leaf_pk), leaf_parent_hash)?;
    let mut update_path = UpdatePath {
        leaf_node,
        nodes: public
            .into_iter()
            .map(|k| UpdatePathNode {
                encryption_key: k,
                encrypted_path_secret: vec![],
            })
            .collect(),
    };
    let mut merged = tree.clone();
    merged.merge_update_path(cs, sender, &update_path)?;
    let ctx = context(&merged.tree_hash(cs)?)?;
    // Every (resolution node, path secret) pair is encrypted under the same
    // context: one batch, which the provider may spread over the cores.
    let mut owners = vec![];
    let mut recipients: Vec<(Vec<u8>, &[u8])> = vec![];
    for (i, (p, ps)) in secrets.iter().enumerate() {
        let c = merged.copath_child(sender, *p).ok_or(PeerError::InvalidUpdatePath)?;
        for x in resolution_excluding(&merged, c, excluded) {
            let pk = match merged.node(x) {
                Some(crate::codec::Node::Leaf(l)) => l.encryption_key.as_slice().to_vec(),
                Some(crate::codec::Node::Parent(pn)) => pn.encryption_key.as_slice().to_vec(),
                None => return Err(PeerError::InvalidUpdatePath.into()),
            };
            owners.push(i);
            recipients.push((pk, ps.as_bytes()));
        }
    }
    let batch: Vec<(&[u8], &[u8])> = recipients.iter().map(|(pk, ps)| (pk.as_slice(), *ps)).collect();
    let cts = cs.encrypt_with_label_batch(&batch, UPDATE_PATH_NODE_LABEL, &ctx)?;
    for (i, ct) in owners.into_iter().zip(cts) {
        if let Some(n) = update_path.nodes.get_mut(i) {
            n.encrypted_path_secret.push(ct);
        }
    }
    *tree = merged;
    Ok(PathEncryption {
        update_path,
        commit_secret,
        path_secrets: secrets,
        keys,
    })
}

/// The HPKE public key of a node.
fn node_encryption_key(node: &crate::codec::Node) -> &[u8] {
    match node {
        crate::codec::Node::Leaf(l) => l.encryption_key.as_slice(),
        crate::codec::Node::Parent(p) => p.encryption_key.as_slice(),
    }
}
