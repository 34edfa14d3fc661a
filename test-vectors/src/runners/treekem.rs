//! `treekem.json`: processing and creating UpdatePaths from every member's
//! point of view (RFC 9420 §7.4–§7.6, §7.9).

use mlsx_base::codec::{CipherSuite, GroupContext, LeafNodeSource, ProtocolVersion, RatchetTreeNodes, UpdatePath, VLBytes, encode};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, SignaturePrivateKey};
use mlsx_base::tree::math::{LeafIndex, NodeIndex};
use mlsx_base::tree::treekem::{TreePrivateKeys, decap, encap};
use mlsx_base::tree::{LEAF_NODE_TBS_LABEL, RatchetTree};
use serde::Deserialize;
use tls_codec::DeserializeBytes;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct PathSecretEntry {
    node: u32,
    path_secret: Hex,
}

#[derive(Deserialize)]
struct LeafPrivate {
    index: u32,
    encryption_priv: Hex,
    signature_priv: Hex,
    path_secrets: Vec<PathSecretEntry>,
}

#[derive(Deserialize)]
struct UpdatePathCase {
    sender: u32,
    update_path: Hex,
    path_secrets: Vec<Option<Hex>>,
    commit_secret: Hex,
    tree_hash_after: Hex,
}

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    group_id: Hex,
    epoch: u64,
    confirmed_transcript_hash: Hex,
    ratchet_tree: Hex,
    leaves_private: Vec<LeafPrivate>,
    update_paths: Vec<UpdatePathCase>,
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

fn context(c: &Case, tree_hash: &[u8]) -> Result<Vec<u8>, mlsx_base::Error> {
    encode(&GroupContext {
        version: ProtocolVersion::MLS10,
        cipher_suite: CipherSuite(c.cipher_suite),
        group_id: VLBytes::new(c.group_id.0.clone()),
        epoch: c.epoch,
        tree_hash: tree_hash.to_vec().into(),
        confirmed_transcript_hash: VLBytes::new(c.confirmed_transcript_hash.0.clone()),
        extensions: vec![],
    })
}

fn check_case(cs: &dyn CipherSuiteProvider, c: &Case) -> Result<(), String> {
    let nodes = RatchetTreeNodes::tls_deserialize_exact_bytes(&c.ratchet_tree).map_err(|e| format!("decode: {e:?}"))?;
    let tree = RatchetTree::from_nodes(nodes).map_err(ctx("tree"))?;

    let mut privates = Vec::new();
    for lp in &c.leaves_private {
        let mut keys = TreePrivateKeys::new(LeafIndex(lp.index), HpkePrivateKey::from_slice(&lp.encryption_priv));
        for ps in &lp.path_secrets {
            keys.insert_path_secret(cs, NodeIndex(ps.node), &ps.path_secret)
                .map_err(ctx("path secret"))?;
        }
        if !keys.is_consistent_with(cs, &tree).map_err(ctx("consistency"))? {
            return Err(format!("private state of leaf {} is inconsistent with the tree", lp.index));
        }
        privates.push(keys);
    }

    for (u_idx, u) in c.update_paths.iter().enumerate() {
        let at = |what: &str| format!("update_path {u_idx}: {what}");
        let sender = LeafIndex(u.sender);
        let path = UpdatePath::tls_deserialize_exact_bytes(&u.update_path).map_err(|e| at(&format!("decode: {e:?}")))?;
        let mut merged = tree.clone();
        merged
            .merge_update_path(cs, sender, &path)
            .map_err(|e| at(&format!("merge: {e}")))?;
        let tree_hash = merged.tree_hash(cs).map_err(ctx("hash"))?;
        check(&at("tree_hash_after"), &tree_hash, &u.tree_hash_after)?;
        let ctx_bytes = context(c, &tree_hash).map_err(ctx("context"))?;
        for keys in privates.iter().filter(|k| k.own_leaf != sender) {
            let j = keys.own_leaf.0 as usize;
            let out = decap(cs, &merged, keys, sender, &path, &[], &ctx_bytes).map_err(|e| at(&format!("leaf {j} decap: {e}")))?;
            let want = u
                .path_secrets
                .get(j)
                .cloned()
                .flatten()
                .ok_or_else(|| at(&format!("no path secret for leaf {j}")))?;
            check(&at(&format!("leaf {j} path secret")), out.path_secret.as_bytes(), &want)?;
            check(
                &at(&format!("leaf {j} commit secret")),
                out.commit_secret.as_bytes(),
                &u.commit_secret,
            )?;
        }

        // Create our own UpdatePath from the sender and have everyone process it.
        let sender_priv = c
            .leaves_private
            .iter()
            .find(|l| l.index == u.sender)
            .ok_or_else(|| at("no private state for sender"))?;
        let own = privates
            .iter()
            .find(|k| k.own_leaf == sender)
            .ok_or_else(|| at("no keys for sender"))?;
        let sig_sk = SignaturePrivateKey::from_slice(&sender_priv.signature_priv);
        let old_leaf = tree.leaf(sender).cloned().ok_or_else(|| at("sender leaf is blank"))?;
        let mut fresh = tree.clone();
        let created = encap(
            cs,
            &mut fresh,
            own,
            sender,
            &[],
            |encryption_key, parent_hash| {
                let mut leaf = old_leaf;
                leaf.encryption_key = encryption_key;
                leaf.leaf_node_source = LeafNodeSource::Commit(parent_hash.into());
                let tbs = leaf.tbs(Some((&c.group_id, sender)))?;
                leaf.signature = cs.sign_with_label(&sig_sk, LEAF_NODE_TBS_LABEL, &tbs)?.into();
                Ok(leaf)
            },
            |th| context(c, th),
        )
        .map_err(|e| at(&format!("encap: {e}")))?;
        let mut check_tree = tree.clone();
        check_tree
            .merge_update_path(cs, sender, &created.update_path)
            .map_err(|e| at(&format!("merge own: {e}")))?;
        let th = check_tree.tree_hash(cs).map_err(ctx("hash"))?;
        check(&at("own path tree hash"), &th, &fresh.tree_hash(cs).map_err(ctx("hash"))?)?;
        let ctx_bytes = context(c, &th).map_err(ctx("context"))?;
        for keys in privates.iter().filter(|k| k.own_leaf != sender) {
            let out = decap(cs, &check_tree, keys, sender, &created.update_path, &[], &ctx_bytes)
                .map_err(|e| at(&format!("leaf {} decap own: {e}", keys.own_leaf.0)))?;
            check(
                &at("own commit secret"),
                out.commit_secret.as_bytes(),
                created.commit_secret.as_bytes(),
            )?;
        }
        check_tree
            .verify_parent_hashes(cs)
            .map_err(|e| at(&format!("own path parent hashes: {e}")))?;
    }
    Ok(())
}
