//! The ratchet tree (RFC 9420 §4, §7).

pub mod math;
mod ratchet_tree;
pub mod treekem;

pub use ratchet_tree::{LEAF_NODE_TBS_LABEL, MAX_LEAVES, RatchetTree, verify_leaf_signature};
