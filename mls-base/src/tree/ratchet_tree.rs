//! The ratchet tree: array representation, resolution, tree hashes, parent
//! hashes, and the structural operations of RFC 9420 §4 and §7.
//!
//! Tree hashes are cached per node and invalidated along the path to the
//! root when a node changes, so a commit in a group of n members re-hashes
//! O(log n) nodes, not O(n).

use std::sync::Arc;

use tls_codec::Serialize;

use super::math::{self, LeafIndex, NodeIndex};
use crate::codec::{LeafNode, Node, ParentNode, RatchetTreeNodes, UpdatePath, write_vl};
use crate::crypto::{CipherSuiteProvider, LabeledCrypto};
use crate::error::{Error, MisuseError, PeerError};

/// The label of leaf-node signatures (RFC 9420 §7.2).
pub const LEAF_NODE_TBS_LABEL: &[u8] = b"LeafNodeTBS";

/// The largest tree accepted from the network, in leaves (2^24 ≈ 16.7 M members).
pub const MAX_LEAVES: u32 = 1 << 24;

/// A ratchet tree with `n_leaves` a power of two (RFC 9420 §4.1, §7.7).
///
/// Nodes and cached hashes are shared (`Arc`) between copies: staging a
/// commit copies the tree in O(n) reference-count increments, not O(n)
/// deep copies, and only the nodes a commit changes are written anew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatchetTree {
    nodes: Vec<Option<Arc<Node>>>,
    /// Cached tree hash per node; `None` = not computed or invalidated.
    hashes: Vec<Option<Arc<[u8]>>>,
}

fn idx(x: NodeIndex) -> usize {
    x.0 as usize
}

impl RatchetTree {
    /// A one-member tree.
    pub fn new(leaf: LeafNode) -> Self {
        Self {
            nodes: vec![Some(Arc::new(Node::leaf(leaf)))],
            hashes: vec![None],
        }
    }

    /// Builds a tree from the `ratchet_tree` extension form (RFC 9420
    /// §12.4.3.3): checks that leaves and parents sit at even and odd
    /// positions and that the last node is non-blank, then extends the
    /// array with blanks to a full tree.
    pub fn from_nodes(nodes: RatchetTreeNodes) -> Result<Self, Error> {
        let Some(Some(_)) = nodes.last() else {
            return Err(PeerError::MalformedTree("empty or ends with a blank node").into());
        };
        let len = u32::try_from(nodes.len()).map_err(|_| PeerError::MalformedTree("too large"))?;
        let n_leaves = len.div_ceil(2).next_power_of_two();
        if n_leaves > MAX_LEAVES {
            return Err(PeerError::MalformedTree("too large").into());
        }
        for (i, n) in nodes.iter().enumerate() {
            match (i % 2, n) {
                (0, Some(Node::Parent(_))) => return Err(PeerError::MalformedTree("parent node at a leaf position").into()),
                (1, Some(Node::Leaf(_))) => return Err(PeerError::MalformedTree("leaf node at a parent position").into()),
                _ => {}
            }
        }
        let width = (2 * n_leaves - 1) as usize;
        let mut nodes: Vec<Option<Arc<Node>>> = nodes.into_iter().map(|n| n.map(Arc::new)).collect();
        nodes.resize(width, None);
        Ok(Self {
            hashes: vec![None; width],
            nodes,
        })
    }

    /// The `ratchet_tree` extension form: trailing blank nodes removed.
    pub fn to_nodes(&self) -> RatchetTreeNodes {
        let end = self.nodes.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        self.nodes[..end].iter().map(|n| n.as_deref().cloned()).collect()
    }

    /// Number of leaves (a power of two).
    pub fn n_leaves(&self) -> u32 {
        self.nodes.len().div_ceil(2) as u32
    }

    /// The node at `x`, if non-blank.
    pub fn node(&self, x: NodeIndex) -> Option<&Node> {
        self.nodes.get(idx(x)).and_then(Option::as_deref)
    }

    /// The leaf at `l`, if non-blank.
    pub fn leaf(&self, l: LeafIndex) -> Option<&LeafNode> {
        match self.node(l.node()?) {
            Some(Node::Leaf(n)) => Some(n),
            _ => None,
        }
    }

    /// The parent node at `x`, if non-blank.
    pub fn parent_node(&self, x: NodeIndex) -> Option<&ParentNode> {
        match self.node(x) {
            Some(Node::Parent(p)) => Some(p),
            _ => None,
        }
    }

    /// Non-blank leaves with their indices.
    pub fn leaves(&self) -> impl Iterator<Item = (LeafIndex, &LeafNode)> {
        self.nodes.iter().step_by(2).enumerate().filter_map(|(i, n)| match n.as_deref() {
            Some(Node::Leaf(l)) => Some((LeafIndex(i as u32), &**l)),
            _ => None,
        })
    }

    /// Every HPKE public key in the tree (leaves and parents), borrowed.
    pub fn encryption_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.nodes.iter().flatten().map(|n| match &**n {
            Node::Leaf(l) => l.encryption_key.as_slice(),
            Node::Parent(p) => p.encryption_key.as_slice(),
        })
    }

    /// Every parent node's HPKE public key, borrowed.
    pub fn parent_encryption_keys(&self) -> impl Iterator<Item = &[u8]> {
        self.nodes.iter().skip(1).step_by(2).flatten().filter_map(|n| match &**n {
            Node::Parent(p) => Some(p.encryption_key.as_slice()),
            Node::Leaf(_) => None,
        })
    }

    /// The root's index.
    pub fn root(&self) -> NodeIndex {
        math::root(self.n_leaves()).unwrap_or(NodeIndex(0))
    }

    fn set(&mut self, x: NodeIndex, node: Option<Node>) {
        if let Some(slot) = self.nodes.get_mut(idx(x)) {
            *slot = node.map(Arc::new);
        }
        self.invalidate(x);
    }

    /// Drops cached hashes of `x` and its ancestors.
    fn invalidate(&mut self, x: NodeIndex) {
        let n = self.n_leaves();
        let mut cur = Some(x);
        while let Some(c) = cur {
            if let Some(h) = self.hashes.get_mut(idx(c)) {
                *h = None;
            }
            cur = math::parent(c, n);
        }
    }

    /// The resolution of a node (RFC 9420 §4.1.1): the node itself plus its
    /// unmerged leaves if non-blank, else the resolutions of its children.
    pub fn resolution(&self, x: NodeIndex) -> Vec<NodeIndex> {
        let mut out = Vec::new();
        self.resolve_into(x, &mut out);
        out
    }

    fn resolve_into(&self, x: NodeIndex, out: &mut Vec<NodeIndex>) {
        match self.node(x) {
            Some(Node::Leaf(_)) => out.push(x),
            Some(Node::Parent(p)) => {
                out.push(x);
                out.extend(p.unmerged_leaves.iter().filter_map(|l| l.node()));
            }
            None => {
                if let (Some(l), Some(r)) = (math::left(x), math::right(x)) {
                    self.resolve_into(l, out);
                    self.resolve_into(r, out);
                }
            }
        }
    }

    /// The filtered direct path of a leaf (RFC 9420 §4.1.2): its direct path
    /// without the nodes whose copath child has an empty resolution.
    pub fn filtered_direct_path(&self, leaf: LeafIndex) -> Result<Vec<NodeIndex>, Error> {
        let n = self.n_leaves();
        let mut cur = leaf
            .node()
            .filter(|x| math::in_tree(*x, n))
            .ok_or(MisuseError::LeafOutOfRange(leaf.0))?;
        let mut out = Vec::new();
        while let (Some(p), Some(s)) = (math::parent(cur, n), math::sibling(cur, n)) {
            if !self.resolution(s).is_empty() {
                out.push(p);
            }
            cur = p;
        }
        Ok(out)
    }

    /// The copath child of each node of `path` for `leaf` (the child not on
    /// the leaf's direct path).
    pub fn copath_child(&self, leaf: LeafIndex, p: NodeIndex) -> Option<NodeIndex> {
        let (l, r) = (math::left(p)?, math::right(p)?);
        if math::is_leaf_under(leaf, l) {
            Some(r)
        } else if math::is_leaf_under(leaf, r) {
            Some(l)
        } else {
            None
        }
    }

    /// The tree hash of the whole tree (RFC 9420 §7.8).
    pub fn tree_hash(&mut self, cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<Vec<u8>, Error> {
        self.node_hash(cs, self.root())
    }

    /// The tree hash of the subtree under `x`, cached.
    pub fn node_hash(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), x: NodeIndex) -> Result<Vec<u8>, Error> {
        if let Some(Some(h)) = self.hashes.get(idx(x)) {
            return Ok(h.to_vec());
        }
        let input = match (math::left(x), math::right(x)) {
            (Some(l), Some(r)) => {
                let lh = self.node_hash(cs, l)?;
                let rh = self.node_hash(cs, r)?;
                parent_hash_input(self.parent_node(x), &lh, &rh)?
            }
            _ => leaf_hash_input(x, self.node(x))?,
        };
        let h = cs.hash(&input)?;
        if let Some(slot) = self.hashes.get_mut(idx(x)) {
            *slot = Some(Arc::from(h.as_slice()));
        }
        Ok(h)
    }

    /// The tree hash of `x` with the leaves in `removed` blanked and taken
    /// out of every `unmerged_leaves` list (the "original sibling tree hash"
    /// of RFC 9420 §7.9). Not cached.
    pub fn original_tree_hash(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        x: NodeIndex,
        removed: &[LeafIndex],
    ) -> Result<Vec<u8>, Error> {
        if !removed.iter().any(|l| math::is_leaf_under(*l, x)) {
            return self.node_hash(cs, x);
        }
        let input = match (math::left(x), math::right(x)) {
            (Some(l), Some(r)) => {
                let lh = self.original_tree_hash(cs, l, removed)?;
                let rh = self.original_tree_hash(cs, r, removed)?;
                let filtered = self.parent_node(x).map(|p| ParentNode {
                    encryption_key: p.encryption_key.clone(),
                    parent_hash: p.parent_hash.clone(),
                    unmerged_leaves: p.unmerged_leaves.iter().filter(|l| !removed.contains(l)).copied().collect(),
                });
                parent_hash_input(filtered.as_ref(), &lh, &rh)?
            }
            _ => leaf_hash_input(x, None)?,
        };
        Ok(cs.hash(&input)?)
    }

    /// The parent hash of `p` with copath child `s` (RFC 9420 §7.9):
    /// `Hash(ParentHashInput { p.encryption_key, p.parent_hash, original_sibling_tree_hash })`.
    pub fn parent_hash(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), p: NodeIndex, s: NodeIndex) -> Result<Vec<u8>, Error> {
        let parent = self
            .parent_node(p)
            .cloned()
            .ok_or(PeerError::MalformedTree("parent hash of a blank node"))?;
        let sibling_hash = self.original_tree_hash(cs, s, &parent.unmerged_leaves)?;
        parent_hash_of(cs, parent.encryption_key.as_slice(), parent.parent_hash.as_slice(), &sibling_hash)
    }

    /// Checks that every non-blank parent is parent-hash valid (RFC 9420
    /// §7.9.2, "top down"): exactly one descendant chains to it.
    pub fn verify_parent_hashes(&mut self, cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<(), Error> {
        for x in (1..self.nodes.len() as u32).step_by(2) {
            let p = NodeIndex(x);
            let Some(parent) = self.parent_node(p).cloned() else { continue };
            let (Some(l), Some(r)) = (math::left(p), math::right(p)) else {
                continue;
            };
            let mut valid = 0usize;
            for (c, s) in [(l, r), (r, l)] {
                let ph = self.parent_hash(cs, p, s)?;
                let res = self.resolution(c);
                let unmerged_under_c: Vec<NodeIndex> = parent
                    .unmerged_leaves
                    .iter()
                    .filter(|u| math::is_leaf_under(**u, c))
                    .filter_map(|u| u.node())
                    .collect();
                for d in &res {
                    let d_hash = match self.node(*d) {
                        Some(Node::Leaf(leaf)) => leaf.parent_hash(),
                        Some(Node::Parent(pn)) => Some(pn.parent_hash.as_slice()),
                        None => None,
                    };
                    if d_hash != Some(ph.as_slice()) {
                        continue;
                    }
                    let mut rest: Vec<NodeIndex> = res.iter().filter(|n| *n != d).copied().collect();
                    let mut want = unmerged_under_c.clone();
                    rest.sort();
                    want.sort();
                    if rest == want {
                        valid += 1;
                    }
                }
            }
            if valid != 1 {
                return Err(PeerError::InvalidParentHash(x).into());
            }
        }
        Ok(())
    }

    /// The structural checks a joiner makes on a tree besides hashes
    /// (RFC 9420 §12.4.3.1): every `unmerged_leaves` entry of a parent is a
    /// non-blank leaf below it, every non-blank node between that leaf and
    /// the parent lists it too, and no HPKE key appears in two nodes (leaf
    /// keys are also covered by the leaf checks of §7.3; parent keys only
    /// here).
    pub fn verify_structure(&self) -> Result<(), Error> {
        let mut seen = std::collections::HashMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let x = NodeIndex(i as u32);
            let node = node.as_deref();
            let key = match node {
                Some(Node::Leaf(l)) => &l.encryption_key,
                Some(Node::Parent(p)) => &p.encryption_key,
                None => continue,
            };
            if let Some(first) = seen.insert(key.as_slice(), x.0) {
                return Err(PeerError::DuplicateTreeKey { first, second: x.0 }.into());
            }
            let Some(Node::Parent(p)) = node else { continue };
            for &u in &p.unmerged_leaves {
                let bad = PeerError::InvalidUnmergedLeaf { parent: x.0, leaf: u.0 };
                if !math::is_leaf_under(u, x) || self.leaf(u).is_none() {
                    return Err(bad.into());
                }
                let ul = u.node().ok_or(bad.clone())?;
                for y in math::direct_path(ul, self.n_leaves()).into_iter().take_while(|y| *y != x) {
                    if let Some(mid) = self.parent_node(y)
                        && !mid.unmerged_leaves.contains(&u)
                    {
                        return Err(bad.into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Verifies the signature of every leaf (RFC 9420 §7.3), with `group_id`
    /// as context for leaves from updates and commits.
    pub fn verify_leaf_signatures(&self, cs: &(impl CipherSuiteProvider + ?Sized), group_id: &[u8]) -> Result<(), Error> {
        for (i, leaf) in self.leaves() {
            verify_leaf_signature(cs, leaf, group_id, i)?;
        }
        Ok(())
    }

    /// Adds a leaf at the leftmost blank position, extending the tree if it
    /// is full, and marks it unmerged at every non-blank ancestor (RFC 9420 §12.1.1).
    pub fn add_leaf(&mut self, leaf: LeafNode) -> Result<LeafIndex, Error> {
        let pos = self.nodes.iter().step_by(2).position(Option::is_none);
        let l = match pos {
            Some(i) => LeafIndex(i as u32),
            None => {
                let n = self.n_leaves();
                if n >= MAX_LEAVES {
                    return Err(MisuseError::TooLarge.into());
                }
                let width = (4 * n - 1) as usize;
                self.nodes.resize(width, None);
                self.hashes = vec![None; width];
                LeafIndex(n)
            }
        };
        let x = l.node().ok_or(MisuseError::TooLarge)?;
        self.set(x, Some(Node::leaf(leaf)));
        for p in math::direct_path(x, self.n_leaves()) {
            if let Some(Some(node)) = self.nodes.get_mut(idx(p))
                && let Node::Parent(pn) = Arc::make_mut(node)
            {
                pn.unmerged_leaves.push(l);
            }
        }
        Ok(l)
    }

    /// Replaces a member's leaf and blanks its direct path (RFC 9420 §12.1.2).
    pub fn update_leaf(&mut self, l: LeafIndex, leaf: LeafNode) -> Result<(), Error> {
        let x = self.existing_leaf(l)?;
        self.set(x, Some(Node::leaf(leaf)));
        self.blank_direct_path(x);
        Ok(())
    }

    /// Blanks a leaf and its direct path, then truncates the tree while its
    /// right half is blank (RFC 9420 §12.1.3, §7.7).
    pub fn remove_leaf(&mut self, l: LeafIndex) -> Result<(), Error> {
        let x = self.existing_leaf(l)?;
        self.set(x, None);
        self.blank_direct_path(x);
        while self.n_leaves() > 1 && self.nodes[self.nodes.len() / 2..].iter().all(Option::is_none) {
            let keep = self.nodes.len() / 2;
            self.nodes.truncate(keep);
            self.hashes.truncate(keep);
        }
        Ok(())
    }

    fn existing_leaf(&self, l: LeafIndex) -> Result<NodeIndex, Error> {
        match (l.node(), self.leaf(l)) {
            (Some(x), Some(_)) => Ok(x),
            _ => Err(PeerError::LeafOutOfRange(l.0).into()),
        }
    }

    fn blank_direct_path(&mut self, x: NodeIndex) {
        for p in math::direct_path(x, self.n_leaves()) {
            self.set(p, None);
        }
    }

    /// Merges a received UpdatePath from `sender` (RFC 9420 §7.5): checks
    /// that it has one node per filtered-direct-path node and that the
    /// leaf's parent hash matches the new path, then blanks the direct path,
    /// installs the new keys and the new leaf. On error the tree is unchanged.
    pub fn merge_update_path(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        sender: LeafIndex,
        path: &UpdatePath,
    ) -> Result<(), Error> {
        let x = self.existing_leaf(sender)?;
        let fdp = self.filtered_direct_path(sender)?;
        if fdp.len() != path.nodes.len() {
            return Err(PeerError::InvalidUpdatePath.into());
        }
        let keys: Vec<_> = path.nodes.iter().map(|n| n.encryption_key.clone()).collect();
        let (parents, leaf_parent_hash) = self.path_parent_hashes(cs, sender, &fdp, &keys)?;
        if path.leaf_node.parent_hash() != Some(leaf_parent_hash.as_slice()) {
            return Err(PeerError::LeafParentHashMismatch.into());
        }
        self.blank_direct_path(x);
        for (p, node) in fdp.iter().zip(parents) {
            self.set(*p, Some(Node::parent(node)));
        }
        self.set(x, Some(Node::leaf(path.leaf_node.clone())));
        Ok(())
    }

    /// The parent nodes a path with `keys` on `fdp` installs, with their
    /// parent hashes computed from the root down, and the parent hash the
    /// sender's leaf must carry (RFC 9420 §7.9).
    pub fn path_parent_hashes(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        sender: LeafIndex,
        fdp: &[NodeIndex],
        keys: &[crate::codec::HpkePublicKey],
    ) -> Result<(Vec<ParentNode>, Vec<u8>), Error> {
        let mut parents: Vec<ParentNode> = Vec::with_capacity(fdp.len());
        let mut above: Vec<u8> = Vec::new();
        // Walk from the root-most node of the filtered path down to the leaf.
        for (p, key) in fdp.iter().zip(keys).rev() {
            let s = self.copath_child(sender, *p).ok_or(PeerError::InvalidUpdatePath)?;
            // The new node has no unmerged leaves, so the original sibling
            // tree hash is the current tree hash of `s`.
            let sibling_hash = self.node_hash(cs, s)?;
            let node = ParentNode {
                encryption_key: key.clone(),
                parent_hash: above.clone().into(),
                unmerged_leaves: vec![],
            };
            above = parent_hash_of(cs, key.as_slice(), node.parent_hash.as_slice(), &sibling_hash)?;
            parents.push(node);
        }
        parents.reverse();
        Ok((parents, above))
    }
}

/// `Hash(ParentHashInput)` (RFC 9420 §7.9).
fn parent_hash_of(cs: &(impl CipherSuiteProvider + ?Sized), key: &[u8], parent_hash: &[u8], sibling_hash: &[u8]) -> Result<Vec<u8>, Error> {
    let mut input = Vec::with_capacity(key.len() + parent_hash.len() + sibling_hash.len() + 12);
    write_vl(&mut input, key)?;
    write_vl(&mut input, parent_hash)?;
    write_vl(&mut input, sibling_hash)?;
    Ok(cs.hash(&input)?)
}

/// `TreeHashInput` for a leaf position (RFC 9420 §7.8).
fn leaf_hash_input(x: NodeIndex, node: Option<&Node>) -> Result<Vec<u8>, Error> {
    let mut out = vec![1u8];
    out.extend_from_slice(&(x.0 / 2).to_be_bytes());
    match node {
        Some(Node::Leaf(leaf)) => {
            out.push(1);
            leaf.tls_serialize(&mut out)?;
        }
        _ => out.push(0),
    }
    Ok(out)
}

/// `TreeHashInput` for a parent position (RFC 9420 §7.8).
fn parent_hash_input(node: Option<&ParentNode>, left: &[u8], right: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![2u8];
    match node {
        Some(p) => {
            out.push(1);
            p.tls_serialize(&mut out)?;
        }
        None => out.push(0),
    }
    write_vl(&mut out, left)?;
    write_vl(&mut out, right)?;
    Ok(out)
}

/// Verifies a leaf's signature (RFC 9420 §7.2); `group_id` and `index` are
/// the context of update- and commit-sourced leaves.
pub fn verify_leaf_signature(
    cs: &(impl CipherSuiteProvider + ?Sized),
    leaf: &LeafNode,
    group_id: &[u8],
    index: LeafIndex,
) -> Result<(), Error> {
    let tbs = leaf.tbs(Some((group_id, index)))?;
    cs.verify_with_label(leaf.signature_key.as_slice(), LEAF_NODE_TBS_LABEL, &tbs, leaf.signature.as_slice())
        .map_err(|_| PeerError::InvalidLeafSignature(index.0).into())
}
