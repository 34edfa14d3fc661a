//! LeafNode and KeyPackage validation (RFC 9420 §7.3, §10.1) and the
//! credential-validation hook (§5.3.1).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
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

    /// Whether `successor` may replace `predecessor` as the same member's
    /// credential (RFC 9420 §5.3.1): asked when a member's leaf changes by
    /// an Update or a commit's path, and for the new leaf of a resync
    /// external commit, which must be acceptable for the member it
    /// removes (§12.2). The default keeps the credential type and, for
    /// basic credentials, the identity; other types are accepted when the
    /// type is unchanged (their validators decide what a successor is).
    /// Whether [`Self::check_members`] must run for this credential. The
    /// default is no, so that leaf validation stays independent of the
    /// group's size for ordinary credentials.
    fn needs_members(&self, credential: &Credential) -> bool {
        let _ = credential;
        false
    }

    /// For credentials that carry other credentials (multi-credentials,
    /// draft-ietf-mls-extensions §6.5): checks them against the
    /// capabilities of every member of the group, the leaf's own included.
    /// The engine itself checks only the credential's own type (RFC 9420
    /// §7.3).
    fn check_members(&self, credential: &Credential, members: &[&crate::codec::Capabilities]) -> Result<(), Error> {
        let _ = (credential, members);
        Ok(())
    }

    fn valid_successor(&self, predecessor: &Credential, successor: &Credential) -> Result<(), Error> {
        let same = match (predecessor, successor) {
            (Credential::Basic(a), Credential::Basic(b)) => a == b,
            (a, b) => a.credential_type() == b.credential_type(),
        };
        if same {
            Ok(())
        } else {
            Err(PeerError::InvalidLeaf(LeafError::InvalidSuccessor).into())
        }
    }
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

/// A credential validator per credential type (RFC 9420 §5.3.1): each
/// registered type goes to its validator, every other type to the
/// fallback. This is how new credential types plug in.
///
/// ```
/// use std::sync::Arc;
/// use mlsx_base::codec::{Credential, CredentialType, VLBytes};
/// use mlsx_base::group::{BasicCredentialValidator, CredentialValidator, CredentialValidators};
///
/// #[derive(Debug)]
/// struct AcceptTokens;
/// impl CredentialValidator for AcceptTokens {
///     fn validate(&self, _: &Credential, _: &[u8]) -> Result<(), mlsx_base::Error> {
///         Ok(())
///     }
/// }
/// let token = CredentialType(0xf001);
/// let v = CredentialValidators::new(Arc::new(BasicCredentialValidator)).with(token, Arc::new(AcceptTokens));
/// let cred = Credential::Other { credential_type: token, data: VLBytes::new(b"t".to_vec()) };
/// assert!(v.validate(&cred, b"key").is_ok());
/// assert!(v.validate(&Credential::Basic(VLBytes::new(b"a".to_vec())), b"key").is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct CredentialValidators {
    by_type: BTreeMap<CredentialType, Arc<dyn CredentialValidator>>,
    fallback: Arc<dyn CredentialValidator>,
}

impl CredentialValidators {
    /// Every type to `fallback` until others are registered.
    pub fn new(fallback: Arc<dyn CredentialValidator>) -> Self {
        Self {
            by_type: BTreeMap::new(),
            fallback,
        }
    }

    /// Routes one credential type to `validator`.
    pub fn with(mut self, credential_type: CredentialType, validator: Arc<dyn CredentialValidator>) -> Self {
        self.by_type.insert(credential_type, validator);
        self
    }
}

impl CredentialValidator for CredentialValidators {
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), Error> {
        self.by_type
            .get(&credential.credential_type())
            .unwrap_or(&self.fallback)
            .validate(credential, signature_key)
    }

    fn needs_members(&self, credential: &Credential) -> bool {
        self.by_type
            .get(&credential.credential_type())
            .unwrap_or(&self.fallback)
            .needs_members(credential)
    }

    fn check_members(&self, credential: &Credential, members: &[&crate::codec::Capabilities]) -> Result<(), Error> {
        self.by_type
            .get(&credential.credential_type())
            .unwrap_or(&self.fallback)
            .check_members(credential, members)
    }

    /// Asks the validator of the successor's type.
    fn valid_successor(&self, predecessor: &Credential, successor: &Credential) -> Result<(), Error> {
        self.by_type
            .get(&successor.credential_type())
            .unwrap_or(&self.fallback)
            .valid_successor(predecessor, successor)
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
    /// The group's cipher suite or version is not in the capabilities
    /// (only under `CapabilityPolicy::Strict`).
    #[error("leaf capabilities do not list the group's version or cipher suite (strict capability policy)")]
    UnsupportedGroupParameters,
    /// The signature key is already used by another member (RFC 9420 §7.3).
    #[error("signature key already used by another member")]
    DuplicateSignatureKey,
    /// The encryption key is already used by another member (RFC 9420 §7.3).
    #[error("encryption key already used by another member")]
    DuplicateEncryptionKey,
    /// An Update's leaf keeps the old encryption key (RFC 9420 §7.3).
    #[error("encryption key not changed")]
    EncryptionKeyNotChanged,
    /// A KeyPackage's init key equals its leaf's encryption key (RFC 9420 §10.1).
    #[error("init_key equals the leaf encryption key")]
    InitKeyReused,
    /// A KeyPackage is for another version or suite (RFC 9420 §10.1).
    #[error("KeyPackage version or cipher suite does not match the group")]
    KeyPackageMismatch,
    /// The Authentication Service rejected the credential (RFC 9420 §5.3.1).
    #[error("credential rejected: {0}")]
    CredentialRejected(&'static str),
    /// A KeyPackage signature does not verify (RFC 9420 §10.1).
    #[error("invalid KeyPackage signature")]
    InvalidKeyPackageSignature,
    /// The Authentication Service does not accept the new credential as a
    /// successor of the member's old one (RFC 9420 §5.3.1, §12.2).
    #[error("credential is not a valid successor of the member's credential")]
    InvalidSuccessor,
    /// A KeyPackage's `init_key` is not a public key of the suite's KEM
    /// (RFC 9420 §10).
    #[error("init_key is not a valid public key")]
    InvalidInitKey,
    /// A leaf's `encryption_key` is not a public key of the suite's KEM
    /// (RFC 9420 §10, §7.3).
    #[error("encryption_key is not a valid public key")]
    InvalidEncryptionKey,
    /// The signature of a KeyPackage's LeafNode does not verify (RFC 9420
    /// §7.3; leaves in a group report `PeerError::InvalidLeafSignature`).
    #[error("invalid signature on the KeyPackage's leaf")]
    InvalidKeyPackageLeafSignature,
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
    /// Already at this position of a tree we join or load (RFC 9420
    /// §12.4.3.1): any source; the lifetime of a KeyPackage leaf is not
    /// checked (it may have expired since it was added).
    InTree(LeafIndex),
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
    /// The members of `tree`, counted (see [`MemberSummary`]).
    pub summary: &'a MemberSummary,
    /// Check KeyPackage lifetimes against the clock (§7.3: MUST when
    /// sending, RECOMMENDED when receiving).
    pub check_lifetime: bool,
    /// The extension handlers (LeafNode and KeyPackage extensions of
    /// registered types are validated by them).
    pub hooks: &'a super::Hooks,
    /// The group's resource limits (extension list sizes are checked here).
    pub limits: super::Limits,
    /// Whether the leaf must list the group's version and suite.
    pub capabilities: super::CapabilityPolicy,
}

/// Validates a LeafNode (RFC 9420 §7.3): its authenticity
/// ([`check_leaf_authenticity`]) and its fields against the group
/// ([`validate_leaf_fields`]).
pub fn validate_leaf(
    cs: &(impl CipherSuiteProvider + ?Sized),
    leaf: &LeafNode,
    ctx: LeafContext,
    params: &GroupParams<'_>,
) -> Result<(), Error> {
    check_leaf_authenticity(cs, leaf, ctx, params.group_id, params.validator)?;
    validate_leaf_fields(leaf, ctx, params)
}

/// The checks of a LeafNode that do not depend on the rest of the group
/// (RFC 9420 §7.3): the Authentication Service accepts its credential, and
/// its signature verifies in its context. Independent per leaf, so callers
/// may run it for many leaves in parallel.
pub fn check_leaf_authenticity(
    cs: &(impl CipherSuiteProvider + ?Sized),
    leaf: &LeafNode,
    ctx: LeafContext,
    group_id: &[u8],
    validator: &dyn CredentialValidator,
) -> Result<(), Error> {
    let bad = |e: LeafError| -> Error { PeerError::InvalidLeaf(e).into() };
    validator.validate(&leaf.credential, leaf.signature_key.as_slice())?;
    match ctx {
        LeafContext::KeyPackage => {
            // The source decides the signed content: check it first, so that
            // a KeyPackage leaf with another source is reported as such.
            if !matches!(leaf.leaf_node_source, LeafNodeSource::KeyPackage(_)) {
                return Err(bad(LeafError::WrongSource));
            }
            let tbs = leaf.tbs(None)?;
            cs.verify_with_label(
                leaf.signature_key.as_slice(),
                crate::tree::LEAF_NODE_TBS_LABEL,
                &tbs,
                leaf.signature.as_slice(),
            )
            .map_err(|_| bad(LeafError::InvalidKeyPackageLeafSignature))?;
        }
        LeafContext::Update(i) | LeafContext::Commit(i) | LeafContext::InTree(i) => verify_leaf_signature(cs, leaf, group_id, i)?,
    }
    check_encryption_key(cs, leaf)
}

/// RFC 9420 §10: the leaf's encryption key is a key of the suite's KEM.
fn check_encryption_key(cs: &(impl CipherSuiteProvider + ?Sized), leaf: &LeafNode) -> Result<(), Error> {
    cs.kem_validate_public_key(leaf.encryption_key.as_slice())
        .map_err(|_| PeerError::InvalidLeaf(LeafError::InvalidEncryptionKey).into())
}

/// [`check_leaf_authenticity`] for every leaf of a tree being joined
/// (RFC 9420 §12.4.3.1), with the signatures verified in batches where the
/// suite's scheme has batch verification
/// ([`CipherSuiteProvider::verify_batch`]), one batch per worker. When
/// anything fails, the leaves are checked one at a time again, so that the
/// error is exactly the one [`check_leaf_authenticity`] gives for the first
/// bad leaf.
pub fn check_tree_leaves_authenticity(
    cs: &(impl CipherSuiteProvider + ?Sized),
    leaves: &[(LeafIndex, &LeafNode)],
    group_id: &[u8],
    validator: &dyn CredentialValidator,
) -> Result<(), Error> {
    let min = crate::par::CHEAP_ITEMS;
    let one_by_one = || {
        crate::par::try_map_from(min, leaves, |(i, leaf)| {
            check_leaf_authenticity(cs, leaf, LeafContext::InTree(*i), group_id, validator)
        })
        .map(|_| ())
    };
    let contents = match crate::par::try_map_from(min, leaves, |(i, leaf)| {
        crate::crypto::labeled::sign_content(crate::tree::LEAF_NODE_TBS_LABEL, &leaf.tbs(Some((group_id, *i)))?)
    }) {
        Ok(c) => c,
        Err(_) => return one_by_one(),
    };
    let checks: Vec<crate::crypto::SignatureCheck<'_>> = leaves
        .iter()
        .zip(&contents)
        .map(|((_, leaf), content)| (leaf.signature_key.as_slice(), content.as_slice(), leaf.signature.as_slice()))
        .collect();
    let signatures_ok = batch_signatures_ok(cs, &checks);
    let rest_ok = signatures_ok
        && crate::par::try_map_from(min, leaves, |(_, leaf)| -> Result<(), Error> {
            validator.validate(&leaf.credential, leaf.signature_key.as_slice())?;
            check_encryption_key(cs, leaf)
        })
        .is_ok();
    if rest_ok { Ok(()) } else { one_by_one() }
}

/// Whether every `(public key, signed content, signature)` verifies, in one
/// batch per worker ([`CipherSuiteProvider::verify_batch`]).
fn batch_signatures_ok(cs: &(impl CipherSuiteProvider + ?Sized), checks: &[crate::crypto::SignatureCheck<'_>]) -> bool {
    let size = checks.len().div_ceil(crate::par::pieces(checks.len())).max(1);
    let chunks: Vec<&[crate::crypto::SignatureCheck<'_>]> = checks.chunks(size).collect();
    crate::par::map(&chunks, |chunk| cs.verify_batch(chunk).is_ok())
        .into_iter()
        .all(|ok| ok)
}

/// The checks of a LeafNode against the group (RFC 9420 §7.3): source,
/// lifetime, capabilities, extensions, credential-type support, unique keys.
pub fn validate_leaf_fields(leaf: &LeafNode, ctx: LeafContext, params: &GroupParams<'_>) -> Result<(), Error> {
    let bad = |e: LeafError| -> Error { PeerError::InvalidLeaf(e).into() };
    // Source.
    let ok_source = matches!(
        (ctx, &leaf.leaf_node_source),
        (LeafContext::KeyPackage, LeafNodeSource::KeyPackage(_))
            | (LeafContext::Update(_), LeafNodeSource::Update)
            | (LeafContext::Commit(_), LeafNodeSource::Commit(_))
            | (LeafContext::InTree(_), _)
    );
    if !ok_source {
        return Err(bad(LeafError::WrongSource));
    }
    let check_lifetime = params.check_lifetime && !matches!(ctx, LeafContext::InTree(_));
    if let (LeafNodeSource::KeyPackage(lt), true) = (&leaf.leaf_node_source, check_lifetime) {
        let t = now();
        if t < lt.not_before || t > lt.not_after {
            return Err(bad(LeafError::Expired));
        }
    }
    let caps = &leaf.capabilities;
    // RFC 9420 §7.3 "compatible with the group's parameters": the leaf's
    // keys are checked against the group's suite elsewhere; whether the
    // lists must also name it is the group's policy (CapabilityPolicy).
    if params.capabilities == super::CapabilityPolicy::Strict
        && (!caps.versions.contains(&ProtocolVersion::MLS10) || !caps.cipher_suites.contains(&params.cipher_suite))
    {
        return Err(bad(LeafError::UnsupportedGroupParameters));
    }
    // Extensions must be listed (defaults are implicitly supported, §7.2),
    // and registered ones must satisfy their handlers (§13.4).
    params.limits.check(super::Limit::Extensions, leaf.extensions.len())?;
    params
        .hooks
        .validate_extensions(super::hooks::ExtensionContext::LeafNode, &leaf.extensions)?;
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
    // And what registered GroupContext extensions require of members.
    params.hooks.check_member(params.extensions, leaf)?;
    // Credential types: ours supported by all others, theirs supported by
    // us; keys unique (§7.3). Counted over the members other than the leaf
    // this one replaces.
    let replaced = match ctx {
        LeafContext::Update(i) | LeafContext::Commit(i) | LeafContext::InTree(i) => params.tree.leaf(i),
        LeafContext::KeyPackage => None,
    };
    if let (LeafContext::Update(_), Some(old)) = (ctx, replaced)
        && old.encryption_key == leaf.encryption_key
    {
        return Err(bad(LeafError::EncryptionKeyNotChanged));
    }
    let summary = params.summary;
    let minus = |count: u32, replaced_has: bool| count.saturating_sub(u32::from(replaced_has));
    let others = minus(summary.members, replaced.is_some());
    let own_type = leaf.credential.credential_type();
    let supporting = minus(
        summary.supports.get(&own_type).copied().unwrap_or(0),
        replaced.is_some_and(|r| r.capabilities.credentials.contains(&own_type)),
    );
    if supporting < others {
        return Err(bad(LeafError::UnsupportedCredential(own_type)));
    }
    for (t, n) in &summary.in_use {
        let used_by_others = minus(*n, replaced.is_some_and(|r| r.credential.credential_type() == *t));
        if used_by_others > 0 && !caps.credentials.contains(t) {
            return Err(bad(LeafError::MissingCredentialSupport(*t)));
        }
    }
    // Credentials that carry others: what they carry, against every member.
    if params.validator.needs_members(&leaf.credential) {
        let replaced_index = match ctx {
            LeafContext::Update(i) | LeafContext::Commit(i) | LeafContext::InTree(i) => Some(i),
            LeafContext::KeyPackage => None,
        };
        let members: Vec<&crate::codec::Capabilities> = params
            .tree
            .leaves()
            .filter(|(i, _)| Some(*i) != replaced_index)
            .map(|(_, l)| &l.capabilities)
            .chain(std::iter::once(caps))
            .collect();
        params.validator.check_members(&leaf.credential, &members)?;
    }
    let dup = |map: &HashMap<Vec<u8>, u32>, key: &[u8], replaced_key: Option<&[u8]>| {
        minus(map.get(key).copied().unwrap_or(0), replaced_key == Some(key)) > 0
    };
    if dup(
        &summary.signature_keys,
        leaf.signature_key.as_slice(),
        replaced.map(|r| r.signature_key.as_slice()),
    ) {
        return Err(bad(LeafError::DuplicateSignatureKey));
    }
    if dup(
        &summary.encryption_keys,
        leaf.encryption_key.as_slice(),
        replaced.map(|r| r.encryption_key.as_slice()),
    ) {
        return Err(bad(LeafError::DuplicateEncryptionKey));
    }
    Ok(())
}

/// What leaf validation needs to know about the members, counted once so
/// that validating k new leaves against n members costs O(k + n), not
/// O(k·n).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberSummary {
    members: u32,
    signature_keys: HashMap<Vec<u8>, u32>,
    encryption_keys: HashMap<Vec<u8>, u32>,
    /// Members supporting each credential type.
    supports: BTreeMap<CredentialType, u32>,
    /// Members using each credential type.
    in_use: BTreeMap<CredentialType, u32>,
}

impl MemberSummary {
    /// The summary of a tree's members.
    pub fn of(tree: &RatchetTree) -> Self {
        let mut s = Self::default();
        for (_, leaf) in tree.leaves() {
            s.add(leaf);
        }
        s
    }

    /// Counts one member less (`leaf` must have been added).
    pub fn remove(&mut self, leaf: &LeafNode) {
        self.members = self.members.saturating_sub(1);
        self.signature_keys.decrement(&leaf.signature_key.as_slice().to_vec());
        self.encryption_keys.decrement(&leaf.encryption_key.as_slice().to_vec());
        let mut seen = std::collections::BTreeSet::new();
        for t in &leaf.capabilities.credentials {
            if seen.insert(*t) {
                self.supports.decrement(t);
            }
        }
        self.in_use.decrement(&leaf.credential.credential_type());
    }

    /// Counts one more member.
    pub fn add(&mut self, leaf: &LeafNode) {
        self.members += 1;
        *self.signature_keys.entry(leaf.signature_key.as_slice().to_vec()).or_default() += 1;
        *self.encryption_keys.entry(leaf.encryption_key.as_slice().to_vec()).or_default() += 1;
        let mut seen = std::collections::BTreeSet::new();
        for t in &leaf.capabilities.credentials {
            if seen.insert(*t) {
                *self.supports.entry(*t).or_default() += 1;
            }
        }
        *self.in_use.entry(leaf.credential.credential_type()).or_default() += 1;
    }
}

/// Counting maps of [`MemberSummary`]: decrement, dropping zero entries.
trait CountMap<K> {
    fn decrement(&mut self, k: &K);
}

impl<K: std::hash::Hash + Eq> CountMap<K> for HashMap<K, u32> {
    fn decrement(&mut self, k: &K) {
        if let Some(n) = self.get_mut(k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.remove(k);
            }
        }
    }
}

impl<K: Ord> CountMap<K> for BTreeMap<K, u32> {
    fn decrement(&mut self, k: &K) {
        if let Some(n) = self.get_mut(k) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.remove(k);
            }
        }
    }
}

/// Validates a KeyPackage for a group (RFC 9420 §10.1):
/// [`check_key_package_authenticity`], then [`validate_key_package_fields`].
pub fn validate_key_package(cs: &(impl CipherSuiteProvider + ?Sized), kp: &KeyPackage, params: &GroupParams<'_>) -> Result<(), Error> {
    check_key_package_authenticity(cs, kp, params.cipher_suite, params.validator)?;
    validate_key_package_fields(kp, params)
}

/// The checks of a KeyPackage that do not depend on the group's members
/// (RFC 9420 §10.1): version and suite, its signature, and its leaf's
/// authenticity. Independent per KeyPackage (parallelizable).
pub fn check_key_package_authenticity(
    cs: &(impl CipherSuiteProvider + ?Sized),
    kp: &KeyPackage,
    cipher_suite: crate::codec::CipherSuite,
    validator: &dyn CredentialValidator,
) -> Result<(), Error> {
    let bad = |e: LeafError| -> Error { PeerError::InvalidLeaf(e).into() };
    if kp.version != ProtocolVersion::MLS10 || kp.cipher_suite != cipher_suite {
        return Err(bad(LeafError::KeyPackageMismatch));
    }
    cs.verify_with_label(
        kp.leaf_node.signature_key.as_slice(),
        KEY_PACKAGE_TBS_LABEL,
        &kp.tbs()?,
        kp.signature.as_slice(),
    )
    .map_err(|_| bad(LeafError::InvalidKeyPackageSignature))?;
    // RFC 9420 §10: init_key is a key of the suite's KEM.
    cs.kem_validate_public_key(kp.init_key.as_slice())
        .map_err(|_| bad(LeafError::InvalidInitKey))?;
    check_leaf_authenticity(cs, &kp.leaf_node, LeafContext::KeyPackage, &[], validator)
}

/// The checks of a KeyPackage against the group (RFC 9420 §10.1): distinct
/// init and encryption keys, extensions, and the leaf's fields.
pub fn validate_key_package_fields(kp: &KeyPackage, params: &GroupParams<'_>) -> Result<(), Error> {
    if kp.init_key == kp.leaf_node.encryption_key {
        return Err(PeerError::InvalidLeaf(LeafError::InitKeyReused).into());
    }
    // RFC 9420 §10: the creator MUST list KeyPackage extensions in the
    // leaf's capabilities, but §10.1's receiver checks do not include it,
    // and unknown extensions MUST be ignored (§13.4). A receiver check
    // would either depend on which handlers this client registered (so
    // that members could disagree on one Add) or refuse unknown types, so
    // there is none; mlsx's own KeyPackages list theirs. Registered types
    // are still validated by their handlers below.
    params.limits.check(super::Limit::Extensions, kp.extensions.len())?;
    params
        .hooks
        .validate_extensions(super::hooks::ExtensionContext::KeyPackage, &kp.extensions)?;
    validate_leaf_fields(&kp.leaf_node, LeafContext::KeyPackage, params)
}
