//! GroupContext, GroupInfo and Welcome (RFC 9420 §8.1, §12.4.3).

use super::VLBytes;
use tls_codec::{Serialize, Size, TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{CipherSuite, Extension, HpkeCiphertext, KeyPackageRef, Mac, PreSharedKeyId, ProtocolVersion};
use crate::error::Error;
use crate::tree::math::LeafIndex;

/// `GroupContext` (RFC 9420 §8.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct GroupContext {
    /// Protocol version.
    pub version: ProtocolVersion,
    /// The group's suite.
    pub cipher_suite: CipherSuite,
    /// The group id.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// Tree hash of the ratchet tree's root (§7.8).
    pub tree_hash: VLBytes,
    /// Confirmed transcript hash (§8.2).
    pub confirmed_transcript_hash: VLBytes,
    /// GroupContext extensions.
    pub extensions: Vec<Extension>,
}

/// `GroupInfo` (RFC 9420 §12.4.3).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct GroupInfo {
    /// The group's context in the new epoch.
    pub group_context: GroupContext,
    /// GroupInfo extensions (`ratchet_tree`, `external_pub`, …).
    pub extensions: Vec<Extension>,
    /// The epoch's confirmation tag.
    pub confirmation_tag: Mac,
    /// The signer's leaf.
    pub signer: LeafIndex,
    /// `SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)`.
    pub signature: VLBytes,
}

impl GroupInfo {
    /// Serializes `GroupInfoTBS`: every field but the signature (RFC 9420 §12.4.3).
    pub fn tbs(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.tls_serialized_len());
        self.group_context.tls_serialize(&mut out)?;
        self.extensions.tls_serialize(&mut out)?;
        self.confirmation_tag.tls_serialize(&mut out)?;
        self.signer.tls_serialize(&mut out)?;
        Ok(out)
    }
}

/// `PathSecret { opaque path_secret<V>; }` (RFC 9420 §12.4.3.1).
#[derive(Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PathSecret {
    /// The secret.
    pub path_secret: VLBytes,
}

impl std::fmt::Debug for PathSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PathSecret(..)")
    }
}

/// `GroupSecrets` (RFC 9420 §12.4.3.1). Holds secrets: `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct GroupSecrets {
    /// The epoch's joiner secret.
    pub joiner_secret: VLBytes,
    /// The path secret of the joiner's lowest common ancestor with the committer.
    pub path_secret: Option<PathSecret>,
    /// The PSKs of the epoch, in order.
    pub psks: Vec<PreSharedKeyId>,
}

impl std::fmt::Debug for GroupSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSecrets")
            .field("joiner_secret", &"..")
            .field("path_secret", &self.path_secret.as_ref().map(|_| ".."))
            .field("psks", &self.psks)
            .finish()
    }
}

impl Drop for GroupSecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.joiner_secret.zeroize();
        if let Some(p) = &mut self.path_secret {
            p.path_secret.zeroize();
        }
    }
}

/// `EncryptedGroupSecrets` (RFC 9420 §12.4.3.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct EncryptedGroupSecrets {
    /// The KeyPackage this entry is for.
    pub new_member: KeyPackageRef,
    /// `EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets)`.
    pub encrypted_group_secrets: HpkeCiphertext,
}

/// `Welcome` (RFC 9420 §12.4.3.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Welcome {
    /// The group's suite.
    pub cipher_suite: CipherSuite,
    /// One entry per new member.
    pub secrets: Vec<EncryptedGroupSecrets>,
    /// The GroupInfo, encrypted with the welcome key and nonce.
    pub encrypted_group_info: VLBytes,
}
