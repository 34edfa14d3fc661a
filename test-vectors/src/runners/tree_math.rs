//! `tree-math.json`: array-tree arithmetic (RFC 9420 Appendix C).

use mlsx_base::tree::math::{self, NodeIndex};
use serde::Deserialize;

use crate::Report;

#[derive(Deserialize)]
struct Case {
    n_leaves: u32,
    n_nodes: u32,
    root: u32,
    left: Vec<Option<u32>>,
    right: Vec<Option<u32>>,
    parent: Vec<Option<u32>>,
    sibling: Vec<Option<u32>>,
}

pub(crate) fn run(json: &str, report: &mut Report) -> Result<(), serde_json::Error> {
    let cases: Vec<Case> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        report.record(i, check(c));
    }
    Ok(())
}

fn check(c: &Case) -> Result<(), String> {
    let n = c.n_leaves;
    if math::node_width(n) != Some(c.n_nodes) {
        return Err(format!("n_nodes for {n} leaves"));
    }
    if math::root(n).map(|r| r.0) != Some(c.root) {
        return Err(format!("root for {n} leaves"));
    }
    for x in 0..c.n_nodes {
        let node = NodeIndex(x);
        let at = |v: &Vec<Option<u32>>| v.get(x as usize).copied().flatten();
        // Children exist only for parents inside the tree.
        let l = math::left(node).map(|v| v.0);
        let r = math::right(node).map(|v| v.0);
        if l != at(&c.left) || r != at(&c.right) {
            return Err(format!("children of node {x} (n_leaves {n})"));
        }
        if math::parent(node, n).map(|v| v.0) != at(&c.parent) {
            return Err(format!("parent of node {x} (n_leaves {n})"));
        }
        if math::sibling(node, n).map(|v| v.0) != at(&c.sibling) {
            return Err(format!("sibling of node {x} (n_leaves {n})"));
        }
    }
    Ok(())
}
