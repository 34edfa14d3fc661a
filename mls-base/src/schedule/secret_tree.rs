//! The secret tree and its hash ratchets (RFC 9420 §9).
//!
//! Secrets are derived lazily and deleted as §9.2 requires: a node's
//! secret is dropped as soon as both children are derived, a leaf's once
//! its two ratchets exist, and a ratchet key once it has been used.
//! Decryption is transactional: [`SecretTree::decrypt_with`] derives on a
//! scratch copy of the affected state and writes it back only if the
//! caller's decryption succeeds, so a forged message changes nothing.

use std::collections::BTreeMap;

use crate::crypto::{CipherSuiteProvider, LabeledCrypto, Secret};
use crate::error::{Error, MisuseError, PeerError};

/// Which of a leaf's two ratchets (RFC 9420 §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RatchetType {
    /// Handshake messages (proposals, commits).
    Handshake,
    /// Application messages.
    Application,
}

/// Limits on out-of-order delivery (RFC 9420 §9.2 leaves them to the application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretTreeConfig {
    /// How many past generations' keys a ratchet keeps for late messages.
    pub out_of_order_tolerance: u32,
    /// How far ahead of the current generation a message may be.
    pub max_forward_distance: u32,
}

impl Default for SecretTreeConfig {
    fn default() -> Self {
        Self {
            out_of_order_tolerance: 16,
            max_forward_distance: 1000,
        }
    }
}

/// A key and nonce for one generation of a ratchet.
#[derive(Debug)]
pub struct RatchetKey {
    /// The generation.
    pub generation: u32,
    /// `AEAD.Nk` bytes.
    pub key: Secret,
    /// `AEAD.Nn` bytes.
    pub nonce: Secret,
}

#[derive(Debug)]
struct HashRatchet {
    /// `secret` at `generation`.
    secret: Secret,
    generation: u32,
    /// Keys of skipped generations kept for out-of-order messages.
    skipped: BTreeMap<u32, RatchetKey>,
}

impl HashRatchet {
    fn new(secret: Secret) -> Self {
        Self {
            secret,
            generation: 0,
            skipped: BTreeMap::new(),
        }
    }

    fn duplicate(&self) -> Self {
        Self {
            secret: self.secret.duplicate(),
            generation: self.generation,
            skipped: self
                .skipped
                .iter()
                .map(|(g, k)| {
                    (
                        *g,
                        RatchetKey {
                            generation: k.generation,
                            key: k.key.duplicate(),
                            nonce: k.nonce.duplicate(),
                        },
                    )
                })
                .collect(),
        }
    }

    /// The key at the current generation, then advance (§9.1).
    fn take_current(&mut self, cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<RatchetKey, Error> {
        let g = self.generation;
        let s = self.secret.as_bytes();
        let key = cs.derive_tree_secret(s, b"key", g, cs.aead_key_len())?;
        let nonce = cs.derive_tree_secret(s, b"nonce", g, cs.aead_nonce_len())?;
        let next = cs.derive_tree_secret(s, b"secret", g, cs.hash_len())?;
        self.generation = g.checked_add(1).ok_or(PeerError::GenerationExhausted(g))?;
        self.secret = next;
        Ok(RatchetKey { generation: g, key, nonce })
    }

    /// The key of generation `g`, consuming it (§9.2).
    fn take(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), g: u32, config: &SecretTreeConfig) -> Result<RatchetKey, Error> {
        if g < self.generation {
            return self.skipped.remove(&g).ok_or(PeerError::GenerationConsumed(g).into());
        }
        if g - self.generation > config.max_forward_distance {
            return Err(PeerError::GenerationTooFarAhead {
                generation: g,
                next: self.generation,
                max_forward: config.max_forward_distance,
            }
            .into());
        }
        while self.generation < g {
            let k = self.take_current(cs)?;
            self.skipped.insert(k.generation, k);
        }
        // Keep only the newest `out_of_order_tolerance` skipped keys.
        while self.skipped.len() > config.out_of_order_tolerance as usize {
            self.skipped.pop_first();
        }
        self.take_current(cs)
    }
}

#[derive(Debug)]
struct LeafRatchets {
    handshake: HashRatchet,
    application: HashRatchet,
}

impl LeafRatchets {
    fn get_mut(&mut self, t: RatchetType) -> &mut HashRatchet {
        match t {
            RatchetType::Handshake => &mut self.handshake,
            RatchetType::Application => &mut self.application,
        }
    }

    fn duplicate(&self) -> Self {
        Self {
            handshake: self.handshake.duplicate(),
            application: self.application.duplicate(),
        }
    }
}

/// The secret tree of one epoch (RFC 9420 §9).
#[derive(Debug)]
pub struct SecretTree {
    /// Number of leaves, a power of two (the ratchet tree's width).
    n_leaves: u32,
    /// Secrets of tree nodes not yet split, by node index.
    nodes: BTreeMap<u32, Secret>,
    /// Ratchets of leaves whose secret has been split.
    leaves: BTreeMap<u32, LeafRatchets>,
    config: SecretTreeConfig,
}

/// Node-index arithmetic for the secret tree (RFC 9420 Appendix C).
fn level(x: u32) -> u32 {
    x.trailing_ones()
}

impl SecretTree {
    /// A tree for `n_leaves` members rooted at `encryption_secret`
    /// (RFC 9420 §9). `n_leaves` is rounded up to a power of two, the
    /// width of the ratchet tree.
    pub fn new(encryption_secret: Secret, n_leaves: u32, config: SecretTreeConfig) -> Result<Self, Error> {
        let n_leaves = n_leaves.max(1).checked_next_power_of_two().ok_or(MisuseError::TooLarge)?;
        if n_leaves > 1 << 30 {
            return Err(MisuseError::TooLarge.into());
        }
        let root = n_leaves - 1;
        let mut nodes = BTreeMap::new();
        nodes.insert(root, encryption_secret);
        Ok(Self {
            n_leaves,
            nodes,
            leaves: BTreeMap::new(),
            config,
        })
    }

    /// The number of leaves.
    pub fn n_leaves(&self) -> u32 {
        self.n_leaves
    }

    /// Derives the ratchets of `leaf` without touching `self`: returns the
    /// ratchets and the node changes to apply when they are kept.
    fn stage_leaf(&self, cs: &(impl CipherSuiteProvider + ?Sized), leaf: u32) -> Result<(LeafRatchets, NodeChanges), Error> {
        if leaf >= self.n_leaves {
            return Err(PeerError::LeafOutOfRange(leaf).into());
        }
        if let Some(r) = self.leaves.get(&leaf) {
            return Ok((r.duplicate(), NodeChanges::default()));
        }
        let target = 2 * leaf;
        // Walk down from the root to the first node on the path that still has a secret.
        let mut x = self.n_leaves - 1;
        let mut changes = NodeChanges::default();
        let mut secret = loop {
            if let Some(s) = self.nodes.get(&x) {
                break s.duplicate();
            }
            let k = level(x);
            if k == 0 {
                // The leaf's ratchets were created and all its ancestors split; a
                // missing leaf here means the state is inconsistent.
                return Err(PeerError::LeafOutOfRange(leaf).into());
            }
            x = if target < x { x ^ (1 << (k - 1)) } else { x ^ (3 << (k - 1)) };
        };
        changes.removed.push(x);
        let nh = cs.hash_len();
        while level(x) > 0 {
            let k = level(x);
            let left = x ^ (1 << (k - 1));
            let right = x ^ (3 << (k - 1));
            let ls = cs.expand_with_label(secret.as_bytes(), b"tree", b"left", nh)?;
            let rs = cs.expand_with_label(secret.as_bytes(), b"tree", b"right", nh)?;
            if target < x {
                changes.added.push((right, rs));
                secret = ls;
                x = left;
            } else {
                changes.added.push((left, ls));
                secret = rs;
                x = right;
            }
        }
        let handshake = cs.expand_with_label(secret.as_bytes(), b"handshake", &[], nh)?;
        let application = cs.expand_with_label(secret.as_bytes(), b"application", &[], nh)?;
        Ok((
            LeafRatchets {
                handshake: HashRatchet::new(handshake),
                application: HashRatchet::new(application),
            },
            changes,
        ))
    }

    fn commit(&mut self, leaf: u32, ratchets: LeafRatchets, changes: NodeChanges) {
        for x in changes.removed {
            self.nodes.remove(&x);
        }
        for (x, s) in changes.added {
            self.nodes.insert(x, s);
        }
        self.leaves.insert(leaf, ratchets);
    }

    /// The key for the next message `leaf` sends on ratchet `t`; the key is
    /// consumed (RFC 9420 §9.2).
    pub fn next_key(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), leaf: u32, t: RatchetType) -> Result<RatchetKey, Error> {
        let (mut ratchets, changes) = self.stage_leaf(cs, leaf)?;
        let key = ratchets.get_mut(t).take_current(cs)?;
        self.commit(leaf, ratchets, changes);
        Ok(key)
    }

    /// Runs `seal` with the next key of `leaf`'s ratchet `t`. The key is
    /// consumed and the ratchet advanced only if `seal` succeeds; on any
    /// error the tree is left exactly as it was.
    pub fn next_key_with<T>(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        leaf: u32,
        t: RatchetType,
        seal: impl FnOnce(&RatchetKey) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (mut ratchets, changes) = self.stage_leaf(cs, leaf)?;
        let key = ratchets.get_mut(t).take_current(cs)?;
        let out = seal(&key)?;
        self.commit(leaf, ratchets, changes);
        Ok(out)
    }

    /// Runs `decrypt` with the key of `(leaf, t, generation)`. The key is
    /// consumed and the tree advanced only if `decrypt` succeeds; on any
    /// error the tree is left exactly as it was.
    pub fn decrypt_with<T>(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        leaf: u32,
        t: RatchetType,
        generation: u32,
        decrypt: impl FnOnce(&RatchetKey) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (out, staged) = self.decrypt_staged(cs, leaf, t, generation, decrypt)?;
        self.apply(staged);
        Ok(out)
    }

    /// Like [`Self::decrypt_with`] but leaves the tree untouched: the
    /// returned [`StagedRatchet`] consumes the key when given to
    /// [`Self::apply`], which the caller does once every later check of the
    /// message has passed.
    pub fn decrypt_staged<T>(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        leaf: u32,
        t: RatchetType,
        generation: u32,
        decrypt: impl FnOnce(&RatchetKey) -> Result<T, Error>,
    ) -> Result<(T, StagedRatchet), Error> {
        let (mut ratchets, changes) = self.stage_leaf(cs, leaf)?;
        let key = ratchets.get_mut(t).take(cs, generation, &self.config)?;
        let out = decrypt(&key)?;
        Ok((out, StagedRatchet { leaf, ratchets, changes }))
    }

    /// Applies a staged ratchet advance made on this tree.
    pub fn apply(&mut self, staged: StagedRatchet) {
        let StagedRatchet {
            leaf, ratchets, changes, ..
        } = staged;
        self.commit(leaf, ratchets, changes);
    }

    /// The key of `(leaf, t, generation)`, consuming it. For tests and
    /// vector checks; protocol code uses [`Self::decrypt_with`].
    pub fn key_for(
        &mut self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        leaf: u32,
        t: RatchetType,
        generation: u32,
    ) -> Result<RatchetKey, Error> {
        self.decrypt_with(cs, leaf, t, generation, |k| {
            Ok(RatchetKey {
                generation: k.generation,
                key: k.key.duplicate(),
                nonce: k.nonce.duplicate(),
            })
        })
    }

    /// The current generation of a ratchet (0 if not derived yet).
    pub fn generation(&self, leaf: u32, t: RatchetType) -> u32 {
        self.leaves.get(&leaf).map_or(0, |r| match t {
            RatchetType::Handshake => r.handshake.generation,
            RatchetType::Application => r.application.generation,
        })
    }
}

/// A ratchet advance computed by [`SecretTree::decrypt_staged`], not yet applied.
#[derive(Debug)]
pub struct StagedRatchet {
    leaf: u32,
    ratchets: LeafRatchets,
    changes: NodeChanges,
}

#[derive(Debug, Default)]
struct NodeChanges {
    removed: Vec<u32>,
    added: Vec<(u32, Secret)>,
}

/// Sender-data key and nonce (RFC 9420 §6.3.2):
/// `ExpandWithLabel(sender_data_secret, "key"/"nonce", ciphertext_sample, Nk/Nn)`,
/// where the sample is the first `KDF.Nh` bytes of the content ciphertext
/// (all of it if shorter).
pub fn sender_data_key_nonce(
    cs: &(impl CipherSuiteProvider + ?Sized),
    sender_data_secret: &[u8],
    ciphertext: &[u8],
) -> Result<(Secret, Secret), Error> {
    let sample = ciphertext.get(..cs.hash_len()).unwrap_or(ciphertext);
    Ok((
        cs.expand_with_label(sender_data_secret, b"key", sample, cs.aead_key_len())?,
        cs.expand_with_label(sender_data_secret, b"nonce", sample, cs.aead_nonce_len())?,
    ))
}

/// Serializable form of a secret tree, for persistence only. Zeroized on drop.
#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct SecretTreeState {
    n_leaves: u32,
    out_of_order_tolerance: u32,
    max_forward_distance: u32,
    nodes: Vec<NodeSecretState>,
    leaves: Vec<LeafState>,
}

#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize)]
struct NodeSecretState {
    node: u32,
    secret: Vec<u8>,
}

#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize)]
struct RatchetState {
    secret: Vec<u8>,
    generation: u32,
    skipped: Vec<SkippedState>,
}

#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize)]
struct SkippedState {
    generation: u32,
    key: Vec<u8>,
    nonce: Vec<u8>,
}

#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize)]
struct LeafState {
    leaf: u32,
    handshake: RatchetState,
    application: RatchetState,
}

impl RatchetState {
    fn of(r: &HashRatchet) -> Self {
        Self {
            secret: r.secret.as_bytes().to_vec(),
            generation: r.generation,
            skipped: r
                .skipped
                .values()
                .map(|k| SkippedState {
                    generation: k.generation,
                    key: k.key.as_bytes().to_vec(),
                    nonce: k.nonce.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn restore(&self) -> HashRatchet {
        HashRatchet {
            secret: Secret::from_slice(&self.secret),
            generation: self.generation,
            skipped: self
                .skipped
                .iter()
                .map(|k| {
                    (
                        k.generation,
                        RatchetKey {
                            generation: k.generation,
                            key: Secret::from_slice(&k.key),
                            nonce: Secret::from_slice(&k.nonce),
                        },
                    )
                })
                .collect(),
        }
    }
}

impl SecretTree {
    /// The tree's state for persistence.
    pub(crate) fn to_state(&self) -> SecretTreeState {
        SecretTreeState {
            n_leaves: self.n_leaves,
            out_of_order_tolerance: self.config.out_of_order_tolerance,
            max_forward_distance: self.config.max_forward_distance,
            nodes: self
                .nodes
                .iter()
                .map(|(n, s)| NodeSecretState {
                    node: *n,
                    secret: s.as_bytes().to_vec(),
                })
                .collect(),
            leaves: self
                .leaves
                .iter()
                .map(|(l, r)| LeafState {
                    leaf: *l,
                    handshake: RatchetState::of(&r.handshake),
                    application: RatchetState::of(&r.application),
                })
                .collect(),
        }
    }

    /// The same tree under another out-of-order policy (a reloaded group
    /// follows the configuration it is loaded with). Skipped keys beyond
    /// the new tolerance are dropped.
    pub(crate) fn with_config(mut self, config: SecretTreeConfig) -> Self {
        self.config = config;
        for r in self.leaves.values_mut() {
            for t in [RatchetType::Handshake, RatchetType::Application] {
                let ratchet = r.get_mut(t);
                while ratchet.skipped.len() > config.out_of_order_tolerance as usize {
                    ratchet.skipped.pop_first();
                }
            }
        }
        self
    }

    /// Restores a tree saved with [`Self::to_state`].
    pub(crate) fn from_state(state: &SecretTreeState) -> Result<Self, Error> {
        if !state.n_leaves.is_power_of_two() || state.n_leaves > 1 << 30 {
            return Err(MisuseError::TooLarge.into());
        }
        Ok(Self {
            n_leaves: state.n_leaves,
            config: SecretTreeConfig {
                out_of_order_tolerance: state.out_of_order_tolerance,
                max_forward_distance: state.max_forward_distance,
            },
            nodes: state.nodes.iter().map(|n| (n.node, Secret::from_slice(&n.secret))).collect(),
            leaves: state
                .leaves
                .iter()
                .map(|l| {
                    (
                        l.leaf,
                        LeafRatchets {
                            handshake: l.handshake.restore(),
                            application: l.application.restore(),
                        },
                    )
                })
                .collect(),
        })
    }
}

#[cfg(all(test, feature = "rustcrypto"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::codec::CipherSuite;
    use crate::crypto::CryptoProvider;
    use crate::crypto::rustcrypto::RustCryptoProvider;

    fn cs() -> std::sync::Arc<dyn CipherSuiteProvider> {
        RustCryptoProvider::new()
            .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
            .unwrap()
    }

    fn tree(config: SecretTreeConfig) -> SecretTree {
        SecretTree::new(Secret::new(vec![1; 32]), 4, config).unwrap()
    }

    #[test]
    fn sender_and_receiver_agree_and_keys_are_single_use() {
        let cs = cs();
        let mut sender = tree(SecretTreeConfig::default());
        let mut receiver = tree(SecretTreeConfig::default());
        let k0 = sender.next_key(cs.as_ref(), 2, RatchetType::Application).unwrap();
        let k1 = sender.next_key(cs.as_ref(), 2, RatchetType::Application).unwrap();
        assert_eq!((k0.generation, k1.generation), (0, 1));
        // Out of order: generation 1 first, then 0.
        assert_eq!(receiver.key_for(cs.as_ref(), 2, RatchetType::Application, 1).unwrap().key, k1.key);
        assert_eq!(receiver.key_for(cs.as_ref(), 2, RatchetType::Application, 0).unwrap().key, k0.key);
        // Each key works once (forward secrecy, §9.2).
        assert!(receiver.key_for(cs.as_ref(), 2, RatchetType::Application, 0).is_err());
        assert!(receiver.key_for(cs.as_ref(), 2, RatchetType::Application, 1).is_err());
        // Handshake ratchet is independent.
        assert_ne!(receiver.key_for(cs.as_ref(), 2, RatchetType::Handshake, 0).unwrap().key, k0.key);
    }

    #[test]
    fn node_secrets_are_deleted_once_split() {
        let cs = cs();
        let mut t = tree(SecretTreeConfig::default());
        t.next_key(cs.as_ref(), 0, RatchetType::Handshake).unwrap();
        // Root (3) and node 1 are split; leaf 0's secret became ratchets;
        // remaining: node 2 (leaf 1) and node 5 (right subtree).
        assert_eq!(t.nodes.keys().copied().collect::<Vec<_>>(), vec![2, 5]);
        for leaf in 0..4 {
            t.next_key(cs.as_ref(), leaf, RatchetType::Handshake).unwrap();
        }
        assert!(t.nodes.is_empty());
    }

    #[test]
    fn failed_decryption_changes_nothing() {
        let cs = cs();
        let mut t = tree(SecretTreeConfig::default());
        let r: Result<(), Error> = t.decrypt_with(cs.as_ref(), 3, RatchetType::Application, 5, |_| {
            Err(PeerError::NonZeroPadding.into())
        });
        assert!(r.is_err());
        assert_eq!(t.nodes.len(), 1);
        assert!(t.leaves.is_empty());
        // The same generation is still available afterwards.
        assert!(t.key_for(cs.as_ref(), 3, RatchetType::Application, 5).is_ok());
    }

    #[test]
    fn window_limits_are_enforced() {
        let cs = cs();
        let config = SecretTreeConfig {
            out_of_order_tolerance: 2,
            max_forward_distance: 10,
        };
        let mut t = tree(config);
        assert!(t.key_for(cs.as_ref(), 0, RatchetType::Application, 11).is_err());
        assert!(t.key_for(cs.as_ref(), 0, RatchetType::Application, 10).is_ok());
        // Only generations 8 and 9 are kept of the skipped 0..=9.
        assert!(t.key_for(cs.as_ref(), 0, RatchetType::Application, 7).is_err());
        assert!(t.key_for(cs.as_ref(), 0, RatchetType::Application, 8).is_ok());
        assert!(t.key_for(cs.as_ref(), 0, RatchetType::Application, 9).is_ok());
        assert!(t.key_for(cs.as_ref(), 4, RatchetType::Application, 0).is_err());
    }
}
