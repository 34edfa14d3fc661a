//! `tree-validation.json`: resolutions, tree hashes, parent hashes and leaf
//! signatures of 14 tree shapes (RFC 9420 §4.1.1, §7.8, §7.9.2, §7.3).

use mlsx_base::codec::RatchetTreeNodes;
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::tree::RatchetTree;
use mlsx_base::tree::math::NodeIndex;
use serde::Deserialize;
use tls_codec::DeserializeBytes;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    tree: Hex,
    group_id: Hex,
    resolutions: Vec<Vec<u32>>,
    tree_hashes: Vec<Hex>,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &Case| c.cipher_suite,
        |cs, c| check_case(cs.as_ref(), c),
    )
}

fn check_case(cs: &dyn CipherSuiteProvider, c: &Case) -> Result<(), String> {
    let nodes = RatchetTreeNodes::tls_deserialize_exact_bytes(&c.tree).map_err(|e| format!("decode: {e:?}"))?;
    let mut tree = RatchetTree::from_nodes(nodes).map_err(ctx("tree"))?;
    if c.resolutions.len() != c.tree_hashes.len() {
        return Err("vector has different numbers of resolutions and hashes".into());
    }
    for (x, (want_res, want_hash)) in (0u32..).zip(c.resolutions.iter().zip(&c.tree_hashes)) {
        let res: Vec<u32> = tree.resolution(NodeIndex(x)).iter().map(|n| n.0).collect();
        if &res != want_res {
            return Err(format!("resolution of node {x}: got {res:?}, want {want_res:?}"));
        }
        check(
            &format!("tree hash of node {x}"),
            &tree.node_hash(cs, NodeIndex(x)).map_err(ctx("hash"))?,
            want_hash,
        )?;
    }
    tree.verify_parent_hashes(cs).map_err(ctx("parent hashes"))?;
    tree.verify_leaf_signatures(cs, &c.group_id).map_err(ctx("leaf signatures"))
}
