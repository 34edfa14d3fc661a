//! Ratchet-tree wire structs (RFC 9420 §7).

use super::VLBytes;
use tls_codec::{Serialize, Size, TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{Capabilities, Credential, Extension, HpkePublicKey, Lifetime, SignaturePublicKey};
use crate::error::Error;
use crate::tree::math::LeafIndex;

/// `HPKECiphertext { opaque kem_output<V>; opaque ciphertext<V>; }` (RFC 9420 §5.1.3).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct HpkeCiphertext {
    /// The HPKE `enc` value.
    pub kem_output: VLBytes,
    /// The AEAD ciphertext.
    pub ciphertext: VLBytes,
}

/// `LeafNodeSource` and the field it selects (RFC 9420 §7.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum LeafNodeSource {
    /// `key_package(1)`: the leaf comes from a KeyPackage and has a lifetime.
    #[tls_codec(discriminant = 1)]
    KeyPackage(Lifetime),
    /// `update(2)`: the leaf comes from an Update proposal.
    #[tls_codec(discriminant = 2)]
    Update,
    /// `commit(3)`: the leaf comes from a commit's UpdatePath and carries
    /// a parent hash.
    #[tls_codec(discriminant = 3)]
    Commit(VLBytes),
}

/// `LeafNode` (RFC 9420 §7.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct LeafNode {
    /// The leaf's HPKE key.
    pub encryption_key: HpkePublicKey,
    /// The member's signature key.
    pub signature_key: SignaturePublicKey,
    /// The member's credential.
    pub credential: Credential,
    /// What the member supports.
    pub capabilities: Capabilities,
    /// Where this leaf came from.
    pub leaf_node_source: LeafNodeSource,
    /// Leaf extensions.
    pub extensions: Vec<Extension>,
    /// `SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)`.
    pub signature: VLBytes,
}

impl LeafNode {
    /// Serializes `LeafNodeTBS` (RFC 9420 §7.2): every field but the
    /// signature, followed by `group_id<V>` and `leaf_index` when the source
    /// is update or commit. `group` must be given for those sources.
    pub fn tbs(&self, group: Option<(&[u8], LeafIndex)>) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.tls_serialized_len());
        self.encryption_key.tls_serialize(&mut out)?;
        self.signature_key.tls_serialize(&mut out)?;
        self.credential.tls_serialize(&mut out)?;
        self.capabilities.tls_serialize(&mut out)?;
        self.leaf_node_source.tls_serialize(&mut out)?;
        self.extensions.tls_serialize(&mut out)?;
        match (&self.leaf_node_source, group) {
            (LeafNodeSource::KeyPackage(_), _) => {}
            (_, Some((group_id, leaf_index))) => {
                super::write_vl(&mut out, group_id)?;
                leaf_index.tls_serialize(&mut out)?;
            }
            (_, None) => return Err(crate::error::MisuseError::MissingGroupContext.into()),
        }
        Ok(out)
    }

    /// The parent hash carried by a `commit`-sourced leaf.
    pub fn parent_hash(&self) -> Option<&[u8]> {
        match &self.leaf_node_source {
            LeafNodeSource::Commit(h) => Some(h.as_slice()),
            _ => None,
        }
    }
}

/// `ParentNode` (RFC 9420 §7.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ParentNode {
    /// The node's HPKE key.
    pub encryption_key: HpkePublicKey,
    /// Hash of the parent (§7.9).
    pub parent_hash: VLBytes,
    /// Leaves added below this node since it was last updated.
    pub unmerged_leaves: Vec<LeafIndex>,
}

/// `Node` (RFC 9420 §12.4.3.3): a leaf or a parent.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
#[allow(clippy::large_enum_variant)]
///
/// Both kinds are boxed: a blank node is one byte on the wire, and a
/// decoded `optional<Node>` vector of them would otherwise take the size of
/// a whole LeafNode per byte of input (hostile input could make a 1 MiB
/// tree cost 300 MiB). Boxed, a blank node costs 16 bytes.
pub enum Node {
    /// `leaf(1)`.
    #[tls_codec(discriminant = 1)]
    Leaf(Box<LeafNode>),
    /// `parent(2)`.
    #[tls_codec(discriminant = 2)]
    Parent(Box<ParentNode>),
}

impl Node {
    /// A leaf node.
    pub fn leaf(leaf: LeafNode) -> Self {
        Self::Leaf(Box::new(leaf))
    }

    /// A parent node.
    pub fn parent(parent: ParentNode) -> Self {
        Self::Parent(Box::new(parent))
    }
}

/// The `ratchet_tree` extension body: `optional<Node> ratchet_tree<V>`
/// (RFC 9420 §12.4.3.3).
pub type RatchetTreeNodes = Vec<Option<Node>>;

/// `UpdatePathNode` (RFC 9420 §7.6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct UpdatePathNode {
    /// The node's new HPKE key.
    pub encryption_key: HpkePublicKey,
    /// The path secret, encrypted to each node of the copath child's resolution.
    pub encrypted_path_secret: Vec<HpkeCiphertext>,
}

/// `UpdatePath` (RFC 9420 §7.6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct UpdatePath {
    /// The committer's new leaf.
    pub leaf_node: LeafNode,
    /// One entry per node of the filtered direct path.
    pub nodes: Vec<UpdatePathNode>,
}
