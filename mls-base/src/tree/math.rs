//! Array-based tree math (RFC 9420 §4.1, Appendix C).
//!
//! Nodes of a complete binary tree with `n_leaves` (a power of two) leaves
//! are numbered left to right: leaf `i` is node `2i`, parents are odd.
//! Every function is total: it returns `None` rather than panicking or
//! overflowing when a node has no such relative or lies outside the tree.

use serde::{Deserialize, Serialize};
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

/// A leaf's index (`uint32` on the wire).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, TlsSerialize, TlsDeserializeBytes, TlsSize, Serialize, Deserialize,
)]
pub struct LeafIndex(pub u32);

/// A node's index in the array representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct NodeIndex(pub u32);

impl LeafIndex {
    /// The node index of this leaf (`2i`), if it fits in a `u32`.
    pub fn node(self) -> Option<NodeIndex> {
        self.0.checked_mul(2).map(NodeIndex)
    }
}

impl NodeIndex {
    /// The leaf index if this node is a leaf.
    pub fn leaf(self) -> Option<LeafIndex> {
        self.is_leaf().then_some(LeafIndex(self.0 / 2))
    }

    /// Whether this is a leaf (even index).
    pub fn is_leaf(self) -> bool {
        self.0.is_multiple_of(2)
    }

    /// The level: 0 for leaves, `k` for a parent whose subtree has `2^k` leaves.
    pub fn level(self) -> u32 {
        self.0.trailing_ones()
    }
}

/// `node_width(n) = 2n - 1` (0 for an empty tree).
pub fn node_width(n_leaves: u32) -> Option<u32> {
    if n_leaves == 0 {
        Some(0)
    } else {
        n_leaves.checked_mul(2).map(|w| w - 1)
    }
}

/// The root of a tree with `n_leaves` leaves (`n_leaves` a power of two).
pub fn root(n_leaves: u32) -> Option<NodeIndex> {
    if n_leaves == 0 || !n_leaves.is_power_of_two() {
        return None;
    }
    node_width(n_leaves).map(|w| NodeIndex((1u32 << (31 - w.leading_zeros())) - 1))
}

/// The left child of a parent node.
pub fn left(x: NodeIndex) -> Option<NodeIndex> {
    let k = x.level();
    (k > 0 && k < 32).then(|| NodeIndex(x.0 ^ (1 << (k - 1))))
}

/// The right child of a parent node.
pub fn right(x: NodeIndex) -> Option<NodeIndex> {
    let k = x.level();
    (k > 0 && k < 31).then(|| NodeIndex(x.0 ^ (3 << (k - 1))))
}

/// Whether `x` is a node of a tree with `n_leaves` leaves.
pub fn in_tree(x: NodeIndex, n_leaves: u32) -> bool {
    node_width(n_leaves).is_some_and(|w| x.0 < w)
}

/// The parent of a node, `None` for the root or a node outside the tree.
pub fn parent(x: NodeIndex, n_leaves: u32) -> Option<NodeIndex> {
    if !in_tree(x, n_leaves) || Some(x) == root(n_leaves) {
        return None;
    }
    let k = x.level();
    if k >= 30 {
        return None;
    }
    let b = (x.0 >> (k + 1)) & 1;
    Some(NodeIndex((x.0 | (1 << k)) ^ (b << (k + 1))))
}

/// The other child of the node's parent.
pub fn sibling(x: NodeIndex, n_leaves: u32) -> Option<NodeIndex> {
    let p = parent(x, n_leaves)?;
    if x.0 < p.0 { right(p) } else { left(p) }
}

/// The direct path of a node: its ancestors from its parent to the root.
pub fn direct_path(x: NodeIndex, n_leaves: u32) -> Vec<NodeIndex> {
    let mut out = Vec::new();
    let mut cur = x;
    while let Some(p) = parent(cur, n_leaves) {
        out.push(p);
        cur = p;
    }
    out
}

/// The copath of a node: the siblings of the node and of its direct path
/// (excluding the root), from the leaf side up.
pub fn copath(x: NodeIndex, n_leaves: u32) -> Vec<NodeIndex> {
    let mut out = Vec::new();
    let mut cur = x;
    while let Some(s) = sibling(cur, n_leaves) {
        out.push(s);
        match parent(cur, n_leaves) {
            Some(p) => cur = p,
            None => break,
        }
    }
    out
}

/// The lowest common ancestor of two nodes (RFC 9420 Appendix C).
pub fn common_ancestor(x: NodeIndex, y: NodeIndex) -> NodeIndex {
    let (x, y) = (u64::from(x.0), u64::from(y.0));
    let lx = u64::from((x as u32).trailing_ones()) + 1;
    let ly = u64::from((y as u32).trailing_ones()) + 1;
    if lx <= ly && x >> ly == y >> ly {
        return NodeIndex(y as u32);
    }
    if ly <= lx && x >> lx == y >> lx {
        return NodeIndex(x as u32);
    }
    let (mut a, mut b, mut k) = (x, y, 0u64);
    while a != b {
        a >>= 1;
        b >>= 1;
        k += 1;
    }
    // k >= 1 here since x != y; the result fits in u32 as it lies between x and y.
    NodeIndex(((a << k) + (1u64 << (k - 1)) - 1) as u32)
}

/// The leaves below a node (the node itself if it is a leaf), as a range of leaf indices.
pub fn leaves_under(x: NodeIndex) -> std::ops::Range<u32> {
    let k = u64::from(x.level());
    let start = (u64::from(x.0) >> (k + 1)) << k;
    let end = start + (1u64 << k);
    (start.min(u64::from(u32::MAX)) as u32)..(end.min(u64::from(u32::MAX)) as u32)
}

/// Whether leaf `leaf` lies below node `x`.
pub fn is_leaf_under(leaf: LeafIndex, x: NodeIndex) -> bool {
    leaves_under(x).contains(&leaf.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn small_tree() {
        // 4 leaves: nodes 0..7, root 3.
        assert_eq!(root(4), Some(NodeIndex(3)));
        assert_eq!(root(1), Some(NodeIndex(0)));
        assert_eq!(root(3), None);
        assert_eq!(left(NodeIndex(3)), Some(NodeIndex(1)));
        assert_eq!(right(NodeIndex(3)), Some(NodeIndex(5)));
        assert_eq!(left(NodeIndex(2)), None);
        assert_eq!(parent(NodeIndex(4), 4), Some(NodeIndex(5)));
        assert_eq!(parent(NodeIndex(3), 4), None);
        assert_eq!(parent(NodeIndex(7), 4), None);
        assert_eq!(sibling(NodeIndex(0), 4), Some(NodeIndex(2)));
        assert_eq!(sibling(NodeIndex(5), 4), Some(NodeIndex(1)));
        assert_eq!(direct_path(NodeIndex(0), 4), vec![NodeIndex(1), NodeIndex(3)]);
        assert_eq!(copath(NodeIndex(0), 4), vec![NodeIndex(2), NodeIndex(5)]);
        assert_eq!(leaves_under(NodeIndex(5)), 2..4);
        assert_eq!(leaves_under(NodeIndex(3)), 0..4);
        assert_eq!(leaves_under(NodeIndex(6)), 3..4);
    }

    #[test]
    fn common_ancestors() {
        assert_eq!(common_ancestor(NodeIndex(0), NodeIndex(2)), NodeIndex(1));
        assert_eq!(common_ancestor(NodeIndex(0), NodeIndex(6)), NodeIndex(3));
        assert_eq!(common_ancestor(NodeIndex(4), NodeIndex(6)), NodeIndex(5));
        assert_eq!(common_ancestor(NodeIndex(1), NodeIndex(2)), NodeIndex(1));
        assert_eq!(common_ancestor(NodeIndex(8), NodeIndex(14)), NodeIndex(11));
        assert_eq!(common_ancestor(NodeIndex(2), NodeIndex(2)), NodeIndex(2));
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        for x in [0, 1, u32::MAX, u32::MAX - 1, 1 << 31, (1 << 31) - 1] {
            let x = NodeIndex(x);
            let _ = (
                left(x),
                right(x),
                parent(x, 1 << 30),
                sibling(x, 1 << 30),
                x.leaf(),
                leaves_under(x),
            );
            let _ = direct_path(x, 1 << 30);
            let _ = copath(x, 4);
            let _ = common_ancestor(x, NodeIndex(0));
        }
        assert_eq!(LeafIndex(u32::MAX).node(), None);
        assert_eq!(node_width(u32::MAX), None);
    }
}
