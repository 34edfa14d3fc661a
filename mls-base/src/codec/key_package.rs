//! KeyPackages (RFC 9420 §10).

use super::VLBytes;
use tls_codec::{Serialize, Size, TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{CipherSuite, Extension, HpkePublicKey, LeafNode, ProtocolVersion};
use crate::error::Error;

/// `KeyPackage` (RFC 9420 §10).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct KeyPackage {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// Cipher suite of the group the client may join with it.
    pub cipher_suite: CipherSuite,
    /// HPKE key the Welcome is encrypted to.
    pub init_key: HpkePublicKey,
    /// The leaf the client will occupy.
    pub leaf_node: LeafNode,
    /// KeyPackage extensions.
    pub extensions: Vec<Extension>,
    /// `SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)`.
    pub signature: VLBytes,
}

impl KeyPackage {
    /// Serializes `KeyPackageTBS`: every field but the signature (RFC 9420 §10).
    pub fn tbs(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.tls_serialized_len());
        self.version.tls_serialize(&mut out)?;
        self.cipher_suite.tls_serialize(&mut out)?;
        self.init_key.tls_serialize(&mut out)?;
        self.leaf_node.tls_serialize(&mut out)?;
        self.extensions.tls_serialize(&mut out)?;
        Ok(out)
    }
}
