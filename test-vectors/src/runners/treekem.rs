//! `treekem.json`: processing and creating UpdatePaths from every member's
//! point of view (RFC 9420 §7.4–§7.6, §7.9).

use mlsx_base::codec::{CipherSuite, GroupContext, LeafNodeSource, ProtocolVersion, RatchetTreeNodes, UpdatePath, VLBytes, encode};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, SignaturePrivateKey};
use mlsx_base::tree::math::{LeafIndex, NodeIndex};
use mlsx_base::tree::treekem::{self, TreePrivateKeys, decap, encap};
use mlsx_base::tree::{LEAF_NODE_TBS_LABEL, RatchetTree};
use serde::{Deserialize, Serialize};
use tls_codec::DeserializeBytes;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct PathSecretEntry {
    node: u32,
    path_secret: Hex,
}

#[derive(Deserialize, Serialize)]
struct LeafPrivate {
    index: u32,
    encryption_priv: Hex,
    signature_priv: Hex,
    path_secrets: Vec<PathSecretEntry>,
}

#[derive(Deserialize, Serialize)]
struct UpdatePathCase {
    sender: u32,
    update_path: Hex,
    path_secrets: Vec<Option<Hex>>,
    commit_secret: Hex,
    tree_hash_after: Hex,
}

#[derive(Deserialize, Serialize)]
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

/// A path created on a copy of the tree: the merged tree, what the sender
/// created, and each other member's decryption (by position in `members`).
type SentPath = (RatchetTree, treekem::PathEncryption, Vec<(usize, treekem::PathDecryption)>);

/// One member of the generator's tree: its keys and the path secrets it
/// knows, by node.
struct GenMember {
    leaf: LeafIndex,
    encryption: HpkePrivateKey,
    signer: SignaturePrivateKey,
    secrets: std::collections::BTreeMap<u32, mlsx_base::crypto::Secret>,
}

impl GenMember {
    fn keys(&self, cs: &dyn CipherSuiteProvider) -> Result<TreePrivateKeys, String> {
        let mut keys = TreePrivateKeys::new(self.leaf, self.encryption.duplicate());
        for (x, s) in &self.secrets {
            keys.insert_path_secret(cs, NodeIndex(*x), s.as_bytes())
                .map_err(ctx("path secret"))?;
        }
        Ok(keys)
    }

    /// Drops what the member knew about the direct path of `leaf`, which a
    /// commit from or a removal of that leaf has overwritten or blanked.
    fn forget_path_of(&mut self, leaf: LeafIndex) {
        self.secrets
            .retain(|x, _| !mlsx_base::tree::math::is_leaf_under(leaf, NodeIndex(*x)));
    }
}

/// The generator's evolving tree: built with the tree operations of
/// RFC 9420 §12.1 and UpdatePaths (§7.4–§7.6), so that it ends up with blank
/// leaves, blank parents and unmerged leaves, and every member knows the path
/// secrets a real member would.
struct GenTree<'a> {
    cs: &'a dyn CipherSuiteProvider,
    case: Case,
    tree: RatchetTree,
    members: Vec<GenMember>,
    next_name: u32,
}

impl<'a> GenTree<'a> {
    fn new_leaf(&mut self) -> Result<(mlsx_base::codec::LeafNode, HpkePrivateKey, SignaturePrivateKey), String> {
        let name = format!("member {}", self.next_name);
        self.next_name += 1;
        let kp = mlsx_base::group::Identity::basic(self.cs, name.as_bytes())
            .and_then(|id| id.key_package(self.cs))
            .map_err(ctx("key package"))?;
        Ok((
            kp.key_package.leaf_node.clone(),
            kp.leaf_key.duplicate(),
            kp.identity.signer.duplicate(),
        ))
    }

    fn add(&mut self) -> Result<(), String> {
        let (leaf_node, encryption, signer) = self.new_leaf()?;
        let leaf = self.tree.add_leaf(leaf_node).map_err(ctx("add"))?;
        self.members.push(GenMember {
            leaf,
            encryption,
            signer,
            secrets: Default::default(),
        });
        Ok(())
    }

    fn remove(&mut self, leaf: u32) -> Result<(), String> {
        let leaf = LeafIndex(leaf);
        self.tree.remove_leaf(leaf).map_err(ctx("remove"))?;
        self.members.retain(|m| m.leaf != leaf);
        for m in &mut self.members {
            m.forget_path_of(leaf);
        }
        Ok(())
    }

    /// `sender` creates an UpdatePath on a copy of the tree; returns the
    /// merged tree, what it created, and each other member's decryption.
    fn path_from(&self, sender: LeafIndex) -> Result<SentPath, String> {
        let cs = self.cs;
        let pos = self.members.iter().position(|m| m.leaf == sender).ok_or("no such sender")?;
        let me = self.members.get(pos).ok_or("no such sender")?;
        let own = me.keys(cs)?;
        let old_leaf = self.tree.leaf(sender).cloned().ok_or("sender leaf is blank")?;
        let group_id = self.case.group_id.0.clone();
        let mut tree = self.tree.clone();
        let created = encap(
            cs,
            &mut tree,
            &own,
            sender,
            &[],
            |encryption_key, parent_hash| {
                let mut leaf = old_leaf;
                leaf.encryption_key = encryption_key;
                leaf.leaf_node_source = LeafNodeSource::Commit(parent_hash.into());
                let tbs = leaf.tbs(Some((&group_id, sender)))?;
                leaf.signature = cs.sign_with_label(&me.signer, LEAF_NODE_TBS_LABEL, &tbs)?.into();
                Ok(leaf)
            },
            |th| context(&self.case, th),
        )
        .map_err(ctx("encap"))?;
        let ctx_bytes = context(&self.case, &tree.tree_hash(cs).map_err(ctx("hash"))?).map_err(ctx("context"))?;
        let mut decrypted = Vec::new();
        for (i, m) in self.members.iter().enumerate().filter(|(_, m)| m.leaf != sender) {
            let out = decap(cs, &tree, &m.keys(cs)?, sender, &created.update_path, &[], &ctx_bytes).map_err(ctx("decap"))?;
            decrypted.push((i, out));
        }
        Ok((tree, created, decrypted))
    }

    /// A commit with a path from `sender`, applied: every member learns the
    /// path secrets a real member would.
    fn commit(&mut self, sender: u32) -> Result<(), String> {
        let sender = LeafIndex(sender);
        let (tree, created, decrypted) = self.path_from(sender)?;
        let fdp = tree.filtered_direct_path(sender).map_err(ctx("path"))?;
        for (i, out) in decrypted {
            let m = self.members.get_mut(i).ok_or("member")?;
            m.forget_path_of(sender);
            let start = fdp.iter().position(|x| *x == out.node).ok_or("decrypted node is off the path")?;
            let mut secret = out.path_secret;
            for x in fdp.iter().skip(start) {
                let next = treekem::next_path_secret(self.cs, secret.as_bytes()).map_err(ctx("derive"))?;
                m.secrets.insert(x.0, secret);
                secret = next;
            }
        }
        let me = self.members.iter_mut().find(|m| m.leaf == sender).ok_or("sender")?;
        me.forget_path_of(sender);
        me.encryption = sender
            .node()
            .and_then(|x| created.keys.key(x))
            .map(HpkePrivateKey::duplicate)
            .ok_or("no new leaf key")?;
        for (x, s) in created.path_secrets {
            me.secrets.insert(x.0, s);
        }
        self.tree = tree;
        Ok(())
    }
}

/// A `treekem.json` case for one suite (the generator behind
/// `mlsx vectors generate`): a tree of 9 leaves over 16 with two blank
/// leaves, blank and unmerged-leaf parent nodes, the private state of every
/// member, and UpdatePaths from three senders with what each member
/// decrypts.
pub(crate) fn generate(cs: &dyn CipherSuiteProvider, rng: &mut super::generate::Inputs) -> Result<serde_json::Value, String> {
    let nh = cs.hash_len();
    let case = Case {
        cipher_suite: cs.cipher_suite().value(),
        group_id: rng.bytes(16).into(),
        epoch: u64::from(rng.u32()),
        confirmed_transcript_hash: rng.bytes(nh).into(),
        ratchet_tree: Vec::new().into(),
        leaves_private: vec![],
        update_paths: vec![],
    };
    // Creator, then seven joiners; two commits fill the parent nodes.
    let kp = mlsx_base::group::Identity::basic(cs, b"member 0")
        .and_then(|id| id.key_package(cs))
        .map_err(ctx("key package"))?;
    let mut g = GenTree {
        cs,
        case,
        tree: RatchetTree::new(kp.key_package.leaf_node.clone()),
        members: vec![GenMember {
            leaf: LeafIndex(0),
            encryption: kp.leaf_key.duplicate(),
            signer: kp.identity.signer.duplicate(),
            secrets: Default::default(),
        }],
        next_name: 1,
    };
    for _ in 1..8 {
        g.add()?;
    }
    g.commit(0)?;
    g.commit(5)?;
    // Two removals blank leaves and paths; three additions refill them and
    // grow the tree to 16 leaves, leaving unmerged leaves; one more commit,
    // then an addition that stays unmerged and a removal that stays blank.
    g.remove(2)?;
    g.remove(6)?;
    g.add()?;
    g.add()?;
    g.add()?;
    g.commit(3)?;
    g.add()?;
    g.remove(7)?;

    g.case.ratchet_tree = encode(&g.tree.to_nodes()).map_err(ctx("encode"))?.into();
    for m in &g.members {
        if !m.keys(cs)?.is_consistent_with(cs, &g.tree).map_err(ctx("consistency"))? {
            return Err(format!("generated private state of leaf {} is inconsistent", m.leaf.0));
        }
        g.case.leaves_private.push(LeafPrivate {
            index: m.leaf.0,
            encryption_priv: m.encryption.as_bytes().into(),
            signature_priv: m.signer.as_bytes().into(),
            path_secrets: m
                .secrets
                .iter()
                .map(|(x, s)| PathSecretEntry {
                    node: *x,
                    path_secret: s.as_bytes().into(),
                })
                .collect(),
        });
    }
    let n_leaves = g.tree.n_leaves() as usize;
    for sender in [0u32, 4, 8] {
        let (mut tree, created, decrypted) = g.path_from(LeafIndex(sender))?;
        let mut path_secrets = vec![None; n_leaves];
        for (i, out) in decrypted {
            let leaf = g.members.get(i).ok_or("member")?.leaf.0 as usize;
            if let Some(slot) = path_secrets.get_mut(leaf) {
                *slot = Some(out.path_secret.as_bytes().into());
            }
        }
        g.case.update_paths.push(UpdatePathCase {
            sender,
            update_path: encode(&created.update_path).map_err(ctx("encode"))?.into(),
            path_secrets,
            commit_secret: created.commit_secret.as_bytes().into(),
            tree_hash_after: tree.tree_hash(cs).map_err(ctx("hash"))?.into(),
        });
    }
    serde_json::to_value(&g.case).map_err(|e| e.to_string())
}
