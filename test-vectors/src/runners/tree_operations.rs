//! `tree-operations.json`: Add, Update and Remove applied to a tree (RFC 9420 §12.1, §7.7).

use mlsx_base::codec::{Proposal, RatchetTreeNodes};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::tree::RatchetTree;
use mlsx_base::tree::math::LeafIndex;
use serde::Deserialize;
use tls_codec::{DeserializeBytes, Serialize};

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    tree_before: Hex,
    proposal: Hex,
    proposal_sender: u32,
    tree_hash_before: Hex,
    tree_after: Hex,
    tree_hash_after: Hex,
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
    let nodes = RatchetTreeNodes::tls_deserialize_exact_bytes(&c.tree_before).map_err(|e| format!("decode: {e:?}"))?;
    let mut tree = RatchetTree::from_nodes(nodes).map_err(ctx("tree"))?;
    check("tree_hash_before", &tree.tree_hash(cs).map_err(ctx("hash"))?, &c.tree_hash_before)?;
    let proposal = Proposal::tls_deserialize_exact_bytes(&c.proposal).map_err(|e| format!("decode proposal: {e:?}"))?;
    match proposal {
        Proposal::Add(add) => tree.add_leaf(add.key_package.leaf_node).map(|_| ()),
        Proposal::Update(u) => tree.update_leaf(LeafIndex(c.proposal_sender), *u.leaf_node),
        Proposal::Remove(r) => tree.remove_leaf(r.removed),
        other => return Err(format!("unexpected proposal {:?}", other.proposal_type())),
    }
    .map_err(ctx("apply"))?;
    let after = tree.to_nodes().tls_serialize_detached().map_err(|e| format!("encode: {e:?}"))?;
    check("tree_after", &after, &c.tree_after)?;
    check("tree_hash_after", &tree.tree_hash(cs).map_err(ctx("hash"))?, &c.tree_hash_after)
}
