//! LeafNode and KeyPackage validation (RFC 9420 §7.3, §10.1) and the
//! credential-validation hook (§5.3.1).

use std::time::{SystemTime, UNIX_EPOCH};

use tls_codec::DeserializeBytes;

use crate::codec::{
    Credential, CredentialType, ExtensionType, KeyPackage, LeafNode, LeafNodeSource, ProtocolVersion, RequiredCapabilities, find_extension,
};
use crate::crypto::{CipherSuiteProvider, LabeledCrypto};
use crate::error::{Error, PeerError};
use crate::tree::math::LeafIndex;
use crate::tree::{RatchetTree, verify_leaf_signature};

/// The label of KeyPackage signatures (RFC 9420 §10).
pub const KEY_PACKAGE_TBS_LABEL: &[u8] = b"KeyPackageTBS";

/// The application's Authentication Service (RFC 9420 §5.3.1): called for
/// every credential that enters or changes in a group. It must check that
/// the credential is acceptable and binds `signature_key`.
pub trait CredentialValidator: Send + Sync + std::fmt::Debug {
    /// Accepts or rejects a credential.
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), Error>;
}

/// Accepts every basic credential and rejects all other types. Basic
/// credentials carry no proof of identity: the application must still
/// authenticate members out of band (RFC 9420 §5.3.1).
#[derive(Clone, Copy, Debug, Default)]
pub struct BasicCredentialValidator;

impl CredentialValidator for BasicCredentialValidator {
    fn validate(&self, credential: &Credential, _signature_key: &[u8]) -> Result<(), Error> {
        match credential {
            Credential::Basic(_) => Ok(()),
            other => Err(PeerError::InvalidLeaf(LeafError::UnsupportedCredential(other.credential_type())).into()),
        }
    }
}

/// Why a leaf node is invalid (RFC 9420 §7.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeafError {
    /// The credential type is rejected by the validator or unsupported by a member.
    #[error("credential type {0:?} not acceptable")]
    UnsupportedCredential(CredentialType),
    /// The leaf does not support a credential type used in the group.
    #[error("leaf does not support credential type {0:?} used in the group")]
    MissingCredentialSupport(CredentialType),
    /// `leaf_node_source` is wrong for where the leaf appears.
    #[error("wrong leaf_node_source")]
    WrongSource,
    /// The lifetime does not cover now (RFC 9420 §7.3).
    #[error("lifetime does not cover the current time")]
    Expired,
    /// An extension is not listed in the leaf's capabilities.
    #[error("extension {0:?} not listed in capabilities")]
    UnlistedExtension(ExtensionType),
    /// A required capability is missing (RFC 9420 §11.1).
    #[error("required capabilities not supported")]
    MissingRequiredCapability,
    /// The group's cipher suite or version is not in the capabilities.
    #[error("group version or cipher suite not supported")]
    UnsupportedGroupParameters,
    /// The signature or encryption key is already used in the tree.
    #[error("duplicate signature or encryption key")]
    DuplicateKey,
    /// An Update's leaf keeps the old encryption key (RFC 9420 §7.3).
    #[error("encryption key not changed")]
    EncryptionKeyNotChanged,
    /// A KeyPackage's init key equals its leaf's encryption key (RFC 9420 §10.1).
    #[error("init_key equals the leaf encryption key")]
    InitKeyReused,
    /// A KeyPackage is for another version or suite (RFC 9420 §10.1).
    #[error("KeyPackage version or cipher suite does not match the group")]
    KeyPackageMismatch,
    /// A KeyPackage signature does not verify (RFC 9420 §10.1).
    #[error("invalid KeyPackage signature")]
    InvalidKeyPackageSignature,
}

/// Where a leaf appears, which fixes its expected source and signature context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafContext {
    /// In a KeyPackage.
    KeyPackage,
    /// In an Update proposal for this leaf.
    Update(LeafIndex),
    /// In a commit's UpdatePath for this leaf.
    Commit(LeafIndex),
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The parameters a leaf is validated against.
#[derive(Debug)]
pub struct GroupParams<'a> {
    /// The group's suite and version.
    pub cipher_suite: crate::codec::CipherSuite,
    /// The group id (signature context of update/commit leaves).
    pub group_id: &'a [u8],
    /// The (new) GroupContext extensions.
    pub extensions: &'a [crate::codec::Extension],
    /// The tree the leaf enters (without the leaf, for uniqueness checks).
    pub tree: &'a RatchetTree,
    /// The Authentication Service.
    pub validator: &'a dyn CredentialValidator,
    /// Check KeyPackage lifetimes against the clock (§7.3: MUST when
    /// sending, RECOMMENDED when receiving).
    pub check_lifetime: bool,
}

/// Validates a LeafNode (RFC 9420 §7.3).
pub fn validate_leaf(
    cs: &(impl CipherSuiteProvider + ?Sized),
    leaf: &LeafNode,
    ctx: LeafContext,
    params: &GroupParams<'_>,
) -> Result<(), Error> {
    let bad = |e: LeafError| -> Error { PeerError::InvalidLeaf(e).into() };
    params.validator.validate(&leaf.credential, leaf.signature_key.as_slice())?;
    // Signature.
    match ctx {
        LeafContext::KeyPackage => {
            let tbs = leaf.tbs(None)?;
            cs.verify_with_label(
                leaf.signature_key.as_slice(),
                crate::tree::LEAF_NODE_TBS_LABEL,
                &tbs,
                leaf.signature.as_slice(),
            )
            .map_err(|_| bad(LeafError::InvalidKeyPackageSignature))?;
        }
        LeafContext::Update(i) | LeafContext::Commit(i) => verify_leaf_signature(cs, leaf, params.group_id, i)?,
    }
    // Source.
    let ok_source = matches!(
        (ctx, &leaf.leaf_node_source),
        (LeafContext::KeyPackage, LeafNodeSource::KeyPackage(_))
            | (LeafContext::Update(_), LeafNodeSource::Update)
            | (LeafContext::Commit(_), LeafNodeSource::Commit(_))
    );
    if !ok_source {
        return Err(bad(LeafError::WrongSource));
    }
    if let (LeafNodeSource::KeyPackage(lt), true) = (&leaf.leaf_node_source, params.check_lifetime) {
        let t = now();
        if t < lt.not_before || t > lt.not_after {
            return Err(bad(LeafError::Expired));
        }
    }
    let caps = &leaf.capabilities;
    if !caps.versions.contains(&ProtocolVersion::MLS10) || !caps.cipher_suites.contains(&params.cipher_suite) {
        return Err(bad(LeafError::UnsupportedGroupParameters));
    }
    // Extensions must be listed (defaults are implicitly supported, §7.2).
    for e in &leaf.extensions {
        if !e.extension_type.is_default() && !caps.extensions.contains(&e.extension_type) {
            return Err(bad(LeafError::UnlistedExtension(e.extension_type)));
        }
    }
    // Required capabilities (§11.1).
    if let Some(ext) = find_extension(params.extensions, ExtensionType::REQUIRED_CAPABILITIES) {
        let rc = RequiredCapabilities::tls_deserialize_exact_bytes(ext.extension_data.as_slice())?;
        let ok = rc.extension_types.iter().all(|t| t.is_default() || caps.extensions.contains(t))
            && rc.proposal_types.iter().all(|t| t.is_default() || caps.proposals.contains(t))
            && rc.credential_types.iter().all(|t| caps.credentials.contains(t));
        if !ok {
            return Err(bad(LeafError::MissingRequiredCapability));
        }
    }
    // Every GroupContext extension must be supported.
    for e in params.extensions {
        if !e.extension_type.is_default() && !caps.extensions.contains(&e.extension_type) {
            return Err(bad(LeafError::MissingRequiredCapability));
        }
    }
    // Credential types: ours supported by all, theirs supported by us.
    let own_type = leaf.credential.credential_type();
    let replaced = match ctx {
        LeafContext::Update(i) | LeafContext::Commit(i) => Some(i),
        LeafContext::KeyPackage => None,
    };
    for (i, member) in params.tree.leaves() {
        if Some(i) == replaced {
            if let LeafContext::Update(_) = ctx
                && member.encryption_key == leaf.encryption_key
            {
                return Err(bad(LeafError::EncryptionKeyNotChanged));
            }
            continue;
        }
        if !member.capabilities.credentials.contains(&own_type) {
            return Err(bad(LeafError::UnsupportedCredential(own_type)));
        }
        let theirs = member.credential.credential_type();
        if !caps.credentials.contains(&theirs) {
            return Err(bad(LeafError::MissingCredentialSupport(theirs)));
        }
        if member.signature_key == leaf.signature_key || member.encryption_key == leaf.encryption_key {
            return Err(bad(LeafError::DuplicateKey));
        }
    }
    Ok(())
}

/// Validates a KeyPackage for a group (RFC 9420 §10.1).
pub fn validate_key_package(cs: &(impl CipherSuiteProvider + ?Sized), kp: &KeyPackage, params: &GroupParams<'_>) -> Result<(), Error> {
    let bad = |e: LeafError| -> Error { PeerError::InvalidLeaf(e).into() };
    if kp.version != ProtocolVersion::MLS10 || kp.cipher_suite != params.cipher_suite {
        return Err(bad(LeafError::KeyPackageMismatch));
    }
    cs.verify_with_label(
        kp.leaf_node.signature_key.as_slice(),
        KEY_PACKAGE_TBS_LABEL,
        &kp.tbs()?,
        kp.signature.as_slice(),
    )
    .map_err(|_| bad(LeafError::InvalidKeyPackageSignature))?;
    if kp.init_key == kp.leaf_node.encryption_key {
        return Err(bad(LeafError::InitKeyReused));
    }
    validate_leaf(cs, &kp.leaf_node, LeafContext::KeyPackage, params)
}
