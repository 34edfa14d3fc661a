//! The group state machine (RFC 9420 §11–§15).
//!
//! A [`Group`] is one member's state in one epoch. Incoming messages go
//! through [`Group::process_message`]: a rejected message leaves the group
//! exactly as it was (decryption keys are consumed only once the message is
//! accepted). An incoming commit becomes a [`StagedCommit`] that the caller
//! merges explicitly; a commit we create is held as a pending commit until
//! [`Group::merge_pending_commit`] or [`Group::clear_pending_commit`].
//!
//! ```
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::{CryptoProvider, rustcrypto::RustCryptoProvider};
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
//!
//! let provider = RustCryptoProvider::new();
//! let suite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;
//! let cs = provider.cipher_suite_provider(suite).ok_or(mlsx_base::Error::UnsupportedCipherSuite(suite))?;
//!
//! // Bob publishes a KeyPackage; Alice creates a group and adds him.
//! let bob_kp = Identity::basic(cs.as_ref(), b"bob")?.key_package(cs.as_ref())?;
//! let mut alice = Group::create(cs.clone(), Identity::basic(cs.as_ref(), b"alice")?, b"group".to_vec(), GroupConfig::default())?;
//! let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()]))?;
//! alice.merge_pending_commit()?;
//! let mut bob = Group::join(cs.clone(), out.welcome.as_ref().ok_or(mlsx_base::Error::Misuse(mlsx_base::MisuseError::NothingToMerge))?, bob_kp, None, GroupConfig::default())?;
//!
//! // Application data, both ways.
//! let msg = alice.encrypt_application(b"hi bob", b"")?;
//! assert!(matches!(bob.process_message(&msg)?, Received::Application { data, .. } if data == b"hi bob"));
//! assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
//! # Ok::<(), mlsx_base::Error>(())
//! ```

mod commit;
mod external;
pub mod grease;
pub mod hooks;
#[cfg(test)]
mod hygiene_tests;
mod limits;
#[cfg(test)]
mod private_tests;
mod public;
mod resumption;
#[cfg(test)]
mod resumption_tests;
mod state;
#[cfg(test)]
mod summary_tests;
mod validation;
mod welcome;
#[cfg(feature = "x509")]
mod x509;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub use commit::{CommitOptions, CommitOutput, StagedCommit};
pub use external::ExternalJoinOptions;
pub use hooks::Hooks;
pub use limits::{Limit, Limits};
pub use public::{Observed, PublicGroup, PublicStagedCommit};
pub use state::{GroupStorage, MemoryGroupStorage};
pub use validation::{
    BasicCredentialValidator, CredentialValidator, CredentialValidators, GroupParams, KEY_PACKAGE_TBS_LABEL, LeafContext, LeafError,
    MemberSummary, check_key_package_authenticity, check_leaf_authenticity, check_tree_leaves_authenticity, now, validate_key_package,
    validate_key_package_fields, validate_leaf, validate_leaf_fields,
};
pub use welcome::WELCOME_LABEL;
#[cfg(feature = "x509")]
pub use x509::X509CredentialValidator;

use crate::codec::{
    AuthenticatedContent, Capabilities, CipherSuite, ContentType, Credential, CredentialType, Extension, ExtensionType, FramedContent,
    FramedContentBody, GroupContext, KeyPackage, LeafNode, LeafNodeSource, Lifetime, MlsMessage, MlsMessageBody, Proposal, ProposalRef,
    ProtocolVersion, Sender, VLBytes, WireFormat,
};
use crate::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret, SignaturePrivateKey};
use crate::error::{Error, MisuseError, PeerError};
use crate::framing::{self, protect_private, protect_public, unprotect_private_from, verify_public};
use crate::schedule::{EpochSecretRegistry, EpochSecrets, SecretTree, SecretTreeConfig, confirmation_tag, interim_transcript_hash};
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreePrivateKeys;
use crate::tree::{LEAF_NODE_TBS_LABEL, RatchetTree};

/// A member's signing identity: credential, signature key pair, capabilities.
#[derive(Debug)]
pub struct Identity {
    /// The credential.
    pub credential: Credential,
    /// The public signature key.
    pub signature_key: Vec<u8>,
    /// The private signature key.
    pub signer: SignaturePrivateKey,
    /// What this client supports (RFC 9420 §7.2).
    pub capabilities: Capabilities,
    /// Lifetime of KeyPackages made from this identity, in seconds from now.
    pub key_package_lifetime: u64,
    /// Put GREASE values (RFC 9420 §13.5) in the capabilities of the leaves
    /// and KeyPackages made from this identity (see [`grease`]). On in
    /// [`Identity::basic`]; `capabilities` itself never holds GREASE values.
    pub grease: bool,
    /// Also put a GREASE extension in those leaves' and KeyPackages'
    /// `extensions`. Off in [`Identity::basic`]: OpenMLS 0.9 rejects every
    /// leaf and KeyPackage that carries one (`drafts/interop.md`).
    pub grease_extensions: bool,
    /// Extensions put in the leaves made from this identity (RFC 9420
    /// §7.2), before any GREASE extension; their types must be listed in
    /// `capabilities.extensions`. Leaves made later in a group (commits,
    /// Updates) keep the extensions of the member's current leaf.
    pub leaf_extensions: Vec<Extension>,
    /// Extensions put in the KeyPackages made from this identity (RFC 9420
    /// §10), before any GREASE extension.
    pub key_package_extensions: Vec<Extension>,
}

impl Identity {
    /// A basic credential with a fresh signature key, supporting the
    /// provider's suite and basic credentials.
    pub fn basic(cs: &(impl CipherSuiteProvider + ?Sized), name: &[u8]) -> Result<Self, Error> {
        let (signer, signature_key) = cs.signature_generate_key_pair()?;
        Ok(Self {
            credential: Credential::Basic(VLBytes::new(name.to_vec())),
            signature_key,
            signer,
            capabilities: Capabilities {
                versions: vec![ProtocolVersion::MLS10],
                cipher_suites: vec![cs.cipher_suite()],
                extensions: vec![],
                proposals: vec![],
                credentials: vec![CredentialType::BASIC],
            },
            key_package_lifetime: 90 * 24 * 3600,
            grease: true,
            grease_extensions: false,
            leaf_extensions: vec![],
            key_package_extensions: vec![],
        })
    }

    /// The same identity without GREASE values in what it sends.
    #[must_use]
    pub fn without_grease(mut self) -> Self {
        self.grease = false;
        self.grease_extensions = false;
        self
    }

    /// The same identity with GREASE extensions too, in its leaves' and
    /// KeyPackages' `extensions` (see [`Identity::grease_extensions`]).
    #[must_use]
    pub fn with_grease_extensions(mut self) -> Self {
        self.grease = true;
        self.grease_extensions = true;
        self
    }

    /// The capabilities and extensions of a new leaf made from this
    /// identity: `capabilities`, plus GREASE values and a GREASE leaf
    /// extension when `grease` is set. Also returns the GREASE extension
    /// type (for the KeyPackage's own GREASE extension).
    pub(crate) fn new_leaf_fields(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
    ) -> Result<(Capabilities, Vec<Extension>, Option<ExtensionType>), Error> {
        let mut extensions = self.leaf_extensions.clone();
        if !self.grease {
            return Ok((self.capabilities.clone(), extensions, None));
        }
        let (caps, t) = grease::advertised(cs, &self.capabilities)?;
        if !self.grease_extensions {
            return Ok((caps, extensions, None));
        }
        extensions.push(grease::extension(cs, t)?);
        Ok((caps, extensions, Some(t)))
    }

    /// An explicit copy (the private key is a secret).
    pub fn duplicate(&self) -> Self {
        Self {
            credential: self.credential.clone(),
            signature_key: self.signature_key.clone(),
            signer: self.signer.duplicate(),
            capabilities: self.capabilities.clone(),
            key_package_lifetime: self.key_package_lifetime,
            grease: self.grease,
            grease_extensions: self.grease_extensions,
            leaf_extensions: self.leaf_extensions.clone(),
            key_package_extensions: self.key_package_extensions.clone(),
        }
    }

    /// Signs a leaf (RFC 9420 §7.2).
    pub(crate) fn sign_leaf(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        leaf: &mut LeafNode,
        group: Option<(&[u8], LeafIndex)>,
    ) -> Result<(), Error> {
        leaf.signature = cs.sign_with_label(&self.signer, LEAF_NODE_TBS_LABEL, &leaf.tbs(group)?)?.into();
        Ok(())
    }

    /// A fresh KeyPackage with its private keys (RFC 9420 §10).
    pub fn key_package(&self, cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<KeyPackageBundle, Error> {
        let (init_key, init_pub) = cs.kem_generate_key_pair()?;
        let (leaf_key, leaf_pub) = cs.kem_generate_key_pair()?;
        let t = now();
        let (capabilities, leaf_extensions, grease_type) = self.new_leaf_fields(cs)?;
        let mut leaf = LeafNode {
            encryption_key: leaf_pub.into(),
            signature_key: self.signature_key.clone().into(),
            credential: self.credential.clone(),
            capabilities,
            leaf_node_source: LeafNodeSource::KeyPackage(Lifetime {
                not_before: t.saturating_sub(3600),
                not_after: t.saturating_add(self.key_package_lifetime),
            }),
            extensions: leaf_extensions,
            signature: VLBytes::default(),
        };
        self.sign_leaf(cs, &mut leaf, None)?;
        let mut key_package = KeyPackage {
            version: ProtocolVersion::MLS10,
            cipher_suite: cs.cipher_suite(),
            init_key: init_pub.into(),
            leaf_node: leaf,
            extensions: self
                .key_package_extensions
                .iter()
                .cloned()
                .chain(grease_type.map(|t| grease::extension(cs, t)).transpose()?)
                .collect(),
            signature: VLBytes::default(),
        };
        key_package.signature = cs.sign_with_label(&self.signer, KEY_PACKAGE_TBS_LABEL, &key_package.tbs()?)?.into();
        Ok(KeyPackageBundle {
            key_package,
            init_key,
            leaf_key,
            identity: self.duplicate(),
        })
    }
}

/// A KeyPackage and the private state needed to join with it.
#[derive(Debug)]
pub struct KeyPackageBundle {
    /// The public KeyPackage.
    pub key_package: KeyPackage,
    /// Private key of `init_key`.
    pub init_key: HpkePrivateKey,
    /// Private key of the leaf's `encryption_key`.
    pub leaf_key: HpkePrivateKey,
    /// The identity that signed it.
    pub identity: Identity,
}

impl KeyPackageBundle {
    /// An explicit copy (holds private keys).
    pub fn duplicate(&self) -> Self {
        Self {
            key_package: self.key_package.clone(),
            init_key: self.init_key.duplicate(),
            leaf_key: self.leaf_key.duplicate(),
            identity: self.identity.duplicate(),
        }
    }
}

/// Group policy.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// Out-of-order window and forward limit of the secret tree.
    pub secret_tree: SecretTreeConfig,
    /// PrivateMessage plaintexts are zero-padded to a multiple of this (RFC 9420 §6.3.1); 0 = no padding.
    pub padding_block: usize,
    /// Put the `ratchet_tree` extension in Welcome GroupInfos.
    pub ratchet_tree_extension: bool,
    /// Send handshake messages as PrivateMessage (else PublicMessage).
    pub encrypt_handshake: bool,
    /// How many past epochs keep keys for late application messages.
    pub max_past_epochs: usize,
    /// Extra epoch secrets (the key-schedule hook).
    pub epoch_secrets: EpochSecretRegistry,
    /// The Authentication Service.
    pub validator: Arc<dyn CredentialValidator>,
    /// Check the lifetime of KeyPackages received from others (RFC 9420
    /// §7.3 RECOMMENDED). Our own commits always check it (MUST).
    pub check_received_lifetimes: bool,
    /// Handlers for proposal types, extensions, wire formats, framing and
    /// PSKs beyond RFC 9420 (see [`hooks`]).
    pub hooks: Hooks,
    /// Resource limits on input from peers.
    pub limits: Limits,
    /// Whether a leaf must list the group's version and cipher suite in its
    /// capabilities ([`CapabilityPolicy`]; liberal by default).
    pub leaf_capabilities: CapabilityPolicy,
    /// Send GREASE values (RFC 9420 §13.5) in the capabilities and
    /// extensions of the leaves and KeyPackages this member makes (on by
    /// default; received GREASE is ignored either way).
    pub grease: bool,
    /// Extensions put in every GroupInfo this member signs (RFC 9420
    /// §12.4.3), after `ratchet_tree` and `external_pub` and before any
    /// GREASE extension.
    pub group_info_extensions: Vec<Extension>,
}

/// How a received LeafNode's `capabilities.versions` and
/// `capabilities.cipher_suites` are read (RFC 9420 §7.3: "compatible with
/// the group's parameters").
///
/// RFC 9420 makes listing required only for `required_capabilities`,
/// credential types and extensions; the version and suite of a leaf are
/// fixed by the group (its keys must be keys of the group's suite, and a
/// KeyPackage's own `version` and `cipher_suite` fields MUST match the
/// group, §10.1), and deployed implementations create groups whose leaves
/// omit the group's suite from the list. Refusing such leaves would lock
/// users out of groups other conforming implementations run, so the
/// default is [`CapabilityPolicy::Liberal`]; `drafts/interop.md` gives the
/// reasoning. The policy covers every leaf the group validates: in a
/// Welcome's tree, a commit's UpdatePath, an Update, an Add's KeyPackage
/// (received, or chosen by the application to add).
///
/// ```
/// use mlsx_base::group::{CapabilityPolicy, GroupConfig};
/// let strict = GroupConfig { leaf_capabilities: CapabilityPolicy::Strict, ..GroupConfig::default() };
/// assert_eq!(GroupConfig::default().leaf_capabilities, CapabilityPolicy::Liberal);
/// # let _ = strict;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapabilityPolicy {
    /// Every MUST of RFC 9420 §7.3 and §10.1 is checked; a leaf need not
    /// list the group's version or cipher suite.
    #[default]
    Liberal,
    /// As `Liberal`, and a leaf must also list the group's version and
    /// cipher suite (`LeafError::UnsupportedGroupParameters` otherwise).
    Strict,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            secret_tree: SecretTreeConfig::default(),
            padding_block: 32,
            ratchet_tree_extension: true,
            encrypt_handshake: false,
            max_past_epochs: 3,
            epoch_secrets: EpochSecretRegistry::new(),
            validator: Arc::new(BasicCredentialValidator),
            check_received_lifetimes: true,
            hooks: Hooks::new(),
            limits: Limits::default(),
            leaf_capabilities: CapabilityPolicy::Liberal,
            grease: true,
            group_info_extensions: vec![],
        }
    }
}

/// A proposal received (or sent) in the current epoch, kept for commits by reference.
#[derive(Clone, Debug)]
pub struct CachedProposal {
    /// `ProposalRef` (RFC 9420 §5.2).
    pub reference: ProposalRef,
    /// The proposal.
    pub proposal: Proposal,
    /// Who proposed it.
    pub sender: Sender,
}

/// Keys of a past epoch, kept for late application messages.
#[derive(Debug)]
struct PastEpoch {
    context: GroupContext,
    secret_tree: SecretTree,
    sender_data_secret: Secret,
    /// Signature keys and credentials of the members then, by leaf.
    members: BTreeMap<u32, PastMember>,
}

/// A member of a past epoch, as needed to verify its late messages.
#[derive(Clone, Debug)]
struct PastMember {
    signature_key: Vec<u8>,
    credential: Credential,
}

/// What [`Group::process_message`] accepted. A [`Received::Commit`] must be
/// merged ([`Group::merge_staged_commit`]) for the group to follow it.
#[must_use = "a received commit changes nothing until it is merged with Group::merge_staged_commit"]
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Received {
    /// Application data from a member.
    Application {
        /// The sender's leaf.
        sender: LeafIndex,
        /// The sender's credential (in the epoch the message was sent).
        sender_credential: Credential,
        /// The data.
        data: Vec<u8>,
        /// The message's authenticated data.
        authenticated_data: Vec<u8>,
        /// The epoch it was sent in.
        epoch: u64,
        /// Its generation in the sender's application ratchet of that
        /// epoch (RFC 9420 §9), what AppAck acknowledges
        /// (draft-ietf-mls-extensions §6.1).
        generation: u32,
    },
    /// A proposal, now cached for a later commit.
    Proposal(CachedProposal),
    /// A valid commit, to be merged with [`Group::merge_staged_commit`].
    Commit(StagedCommit),
    /// A message of a wire format handled by a [`hooks::WireFormatHandler`].
    Envelope {
        /// The wire format.
        wire_format: WireFormat,
        /// What the handler found.
        envelope: hooks::Envelope,
    },
}

/// One member's view of a group in one epoch.
#[derive(Debug)]
pub struct Group {
    /// What every member holds in common, and an observer too.
    public: PublicGroup,
    identity: Identity,
    keys: TreePrivateKeys,
    secrets: EpochSecrets,
    secret_tree: SecretTree,
    pending_commit: Option<StagedCommit>,
    past: VecDeque<(u64, PastEpoch)>,
    external_psks: BTreeMap<Vec<u8>, Secret>,
    resumption_psks: BTreeMap<u64, Secret>,
    /// The private key of the leaf in our own pending Update proposal.
    pending_leaf_key: Option<HpkePrivateKey>,
    /// The ReInit of the last commit, once merged (RFC 9420 §11.2).
    last_reinit: Option<crate::codec::ReInit>,
    active: bool,
}

impl Group {
    /// Creates a one-member group at epoch 0 (RFC 9420 §11).
    pub fn create(cs: Arc<dyn CipherSuiteProvider>, identity: Identity, group_id: Vec<u8>, config: GroupConfig) -> Result<Self, Error> {
        Self::create_with_extensions(cs, identity, group_id, vec![], config)
    }

    /// Creates a group with GroupContext extensions.
    pub fn create_with_extensions(
        cs: Arc<dyn CipherSuiteProvider>,
        identity: Identity,
        group_id: Vec<u8>,
        extensions: Vec<Extension>,
        config: GroupConfig,
    ) -> Result<Self, Error> {
        let c = cs.as_ref();
        config
            .hooks
            .validate_extensions(hooks::ExtensionContext::GroupContext, &extensions)?;
        let (leaf_key, leaf_pub) = c.kem_generate_key_pair()?;
        let (capabilities, leaf_extensions, _) = identity.new_leaf_fields(c)?;
        let mut leaf = LeafNode {
            encryption_key: leaf_pub.into(),
            signature_key: identity.signature_key.clone().into(),
            credential: identity.credential.clone(),
            capabilities,
            leaf_node_source: LeafNodeSource::KeyPackage(Lifetime {
                not_before: 0,
                not_after: u64::MAX,
            }),
            extensions: leaf_extensions,
            signature: VLBytes::default(),
        };
        identity.sign_leaf(c, &mut leaf, None)?;
        let mut tree = RatchetTree::new(leaf);
        let mut context = GroupContext {
            version: ProtocolVersion::MLS10,
            cipher_suite: c.cipher_suite(),
            group_id: group_id.into(),
            epoch: 0,
            tree_hash: VLBytes::default(),
            confirmed_transcript_hash: VLBytes::default(),
            extensions,
        };
        context.tree_hash = tree.tree_hash(c)?.into();
        // §11: a random epoch secret; the confirmation tag is over the empty transcript.
        let epoch_secret = Secret::new(c.random_vec(c.hash_len())?);
        let welcome = Secret::new(vec![]);
        let secrets = EpochSecrets::from_epoch_secret(c, welcome, &epoch_secret, &config.epoch_secrets)?;
        let tag = confirmation_tag(c, secrets.confirmation_key.as_bytes(), &[])?;
        let interim_transcript_hash = interim_transcript_hash(c, &[], &tag)?;
        let secret_tree = SecretTree::new(secrets.encryption_secret.duplicate(), 1, config.secret_tree)?;
        Ok(Self {
            keys: TreePrivateKeys::new(LeafIndex(0), leaf_key),
            public: PublicGroup::new(cs, config, context, tree, interim_transcript_hash),
            identity,
            secrets,
            secret_tree,
            pending_commit: None,
            past: VecDeque::new(),
            external_psks: BTreeMap::new(),
            resumption_psks: BTreeMap::new(),
            pending_leaf_key: None,
            last_reinit: None,
            active: true,
        })
    }

    /// The cipher suite provider.
    pub fn cipher_suite_provider(&self) -> &dyn CipherSuiteProvider {
        self.public.cs.as_ref()
    }

    /// A shared handle to the group's cipher-suite provider (for work that
    /// needs the provider while the group is borrowed mutably).
    pub fn cipher_suite_provider_handle(&self) -> Arc<dyn CipherSuiteProvider> {
        Arc::clone(&self.public.cs)
    }

    /// The current GroupContext.
    pub fn context(&self) -> &GroupContext {
        &self.public.context
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.public.context.epoch
    }

    /// The cipher suite.
    pub fn cipher_suite(&self) -> CipherSuite {
        self.public.context.cipher_suite
    }

    /// Our leaf.
    pub fn own_leaf(&self) -> LeafIndex {
        self.keys.own_leaf
    }

    /// The public ratchet tree.
    pub fn tree(&self) -> &RatchetTree {
        &self.public.tree
    }

    /// The group's public state: what every member of the epoch holds in
    /// common. A clone of it is an observer of the group
    /// ([`PublicGroup`]) that can follow its public handshakes.
    pub fn public(&self) -> &PublicGroup {
        &self.public
    }

    /// The leaf of the member whose credential is `credential` (the first,
    /// should an application allow one credential in several leaves).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use mlsx_base::codec::CipherSuite;
    /// # use mlsx_base::crypto::rustcrypto::rfc9420_suite;
    /// # use mlsx_base::group::{Group, GroupConfig, Identity};
    /// # use mlsx_base::tree::math::LeafIndex;
    /// let cs = Arc::new(rfc9420_suite(CipherSuite(1)).ok_or("suite")?);
    /// let alice = Identity::basic(cs.as_ref(), b"alice")?;
    /// let credential = alice.credential.clone();
    /// let group = Group::create(cs, alice, b"g".to_vec(), GroupConfig::default())?;
    /// assert_eq!(group.member_by_credential(&credential), Some(LeafIndex(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn member_by_credential(&self, credential: &Credential) -> Option<LeafIndex> {
        self.public.tree.leaves().find(|(_, l)| l.credential == *credential).map(|(i, _)| i)
    }

    /// The members: each leaf index with its LeafNode.
    pub fn members(&self) -> impl Iterator<Item = (LeafIndex, &LeafNode)> {
        self.public.tree.leaves()
    }

    /// Whether the group can still be used (not removed, no ReInit committed).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The parameters of the ReInit that the last merged commit carried
    /// (RFC 9420 §11.2, §12.3), or `None` if it had none. A group with a
    /// committed ReInit is inactive; its successor is created with
    /// [`Group::reinit`] or joined with [`Group::join_resumed`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use mlsx_base::crypto::rustcrypto::rfc9420_suite;
    /// # use mlsx_base::codec::{CipherSuite, Proposal, ProtocolVersion, ReInit};
    /// # use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
    /// let cs = Arc::new(rfc9420_suite(CipherSuite(1)).expect("suite 1 is built in"));
    /// let me = Identity::basic(cs.as_ref(), b"alice")?;
    /// let mut group = Group::create(cs.clone(), me, b"old".to_vec(), GroupConfig::default())?;
    /// assert!(group.pending_reinit().is_none());
    /// let reinit = ReInit {
    ///     group_id: b"new".to_vec().into(),
    ///     version: ProtocolVersion::MLS10,
    ///     cipher_suite: CipherSuite(1),
    ///     extensions: vec![],
    /// };
    /// group.commit(CommitOptions { proposals: vec![Proposal::ReInit(reinit.clone())], ..CommitOptions::default() })?;
    /// group.merge_pending_commit()?;
    /// assert_eq!(group.pending_reinit(), Some(&reinit));
    /// assert!(!group.is_active());
    /// # Ok::<(), mlsx_base::Error>(())
    /// ```
    pub fn pending_reinit(&self) -> Option<&crate::codec::ReInit> {
        self.last_reinit.as_ref()
    }

    /// Proposals cached in this epoch.
    pub fn pending_proposals(&self) -> &[CachedProposal] {
        &self.public.pending
    }

    /// Drops a cached proposal, so that our commits (which include the
    /// cached proposals by reference) leave it out: RFC 9420 §12.2 lets the
    /// committer choose. A commit from another member that names it by
    /// reference is then refused (`PeerError::UnknownProposalRef`). Returns
    /// whether it was cached.
    pub fn discard_pending_proposal(&mut self, reference: &crate::codec::ProposalRef) -> bool {
        let before = self.public.pending.len();
        self.public.pending.retain(|p| &p.reference != reference);
        self.public.pending.len() != before
    }

    /// `epoch_authenticator` (RFC 9420 §8.7).
    pub fn epoch_authenticator(&self) -> &[u8] {
        self.secrets.epoch_authenticator.as_bytes()
    }

    /// `MLS-Exporter(label, context, len)` (RFC 9420 §8.5).
    pub fn export_secret(&self, label: &[u8], context: &[u8], len: usize) -> Result<Secret, Error> {
        self.secrets.export(self.public.cs.as_ref(), label, context, len)
    }

    /// This epoch's `membership_key` (RFC 9420 §6.2, §8), for tools that
    /// build or check PublicMessages outside the engine (test-vector
    /// generators, a Delivery Service that is also a member). Treat it as a
    /// secret: anyone holding it can forge membership tags for this epoch.
    pub fn membership_key(&self) -> &Secret {
        &self.secrets.membership_key
    }

    /// A secret registered through the key-schedule hook, for this epoch.
    pub fn extra_epoch_secret(&self, label: &[u8]) -> Option<&Secret> {
        self.secrets.extra(label)
    }

    /// Removes an extra secret from this epoch (see
    /// [`EpochSecrets::take_extra`]): it is gone from saved state too.
    pub fn take_extra_epoch_secret(&mut self, label: &[u8]) -> Option<Secret> {
        self.secrets.take_extra(label)
    }

    /// Puts a secret in an extra slot of this epoch (see
    /// [`EpochSecrets::set_extra`]).
    pub fn set_extra_epoch_secret(&mut self, label: &[u8], secret: Secret) {
        self.secrets.set_extra(label, secret);
    }

    /// The group's configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.public.config
    }

    /// Our signing identity, with the private signature key (for
    /// extensions that sign with the member's leaf key).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The private key of our leaf's `encryption_key` (for extensions that
    /// decrypt what is sent to the member's leaf, RFC 9420 §5.1.3).
    pub fn own_leaf_private_key(&self) -> Option<&HpkePrivateKey> {
        self.own_leaf().node().and_then(|x| self.keys.key(x))
    }

    /// The private key of a tree node whose key this member holds: its own
    /// leaf and the parent nodes on its direct path that it learned (for
    /// extensions that decrypt to a subtree, RFC 9420 §4.1).
    pub fn node_private_key(&self, node: crate::tree::math::NodeIndex) -> Option<&HpkePrivateKey> {
        self.keys.key(node)
    }

    /// The group's external key pair of this epoch (RFC 9420 §8.3), private
    /// key and public key.
    pub fn external_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), Error> {
        self.secrets.external_key_pair(self.public.cs.as_ref())
    }

    /// Registers an external PSK (RFC 9420 §8.4).
    pub fn add_external_psk(&mut self, psk_id: Vec<u8>, psk: Secret) {
        self.external_psks.insert(psk_id, psk);
    }

    fn ensure_active(&self) -> Result<(), Error> {
        if self.active {
            Ok(())
        } else {
            Err(MisuseError::GroupInactive.into())
        }
    }

    /// Frames content we send; framing handlers shape `authenticated_data`.
    fn framed(&self, body: FramedContentBody, authenticated_data: &[u8]) -> Result<FramedContent, Error> {
        Ok(FramedContent {
            group_id: self.public.context.group_id.clone(),
            epoch: self.public.context.epoch,
            sender: Sender::Member(self.own_leaf()),
            authenticated_data: self.public.config.hooks.frame_aad(&self.public.context, authenticated_data)?.into(),
            body,
        })
    }

    fn padding_for(&self, len: usize) -> usize {
        match self.public.config.padding_block {
            0 => 0,
            b => (b - len % b) % b,
        }
    }

    /// Encrypts application data (RFC 9420 §15). Pending proposals must be
    /// committed first (§12.4: a member that has observed valid proposals
    /// in the epoch MUST send a Commit before sending application data).
    pub fn encrypt_application(&mut self, data: &[u8], authenticated_data: &[u8]) -> Result<MlsMessage, Error> {
        self.ensure_active()?;
        if !self.public.pending.is_empty() {
            return Err(MisuseError::PendingProposals.into());
        }
        let mut data = data.to_vec();
        for h in self.public.config.hooks.framing() {
            data = h.frame_application_data(&self.public.context, data)?;
        }
        // RFC 9420 §6.3.1: stay within the AEAD's limits. Each ratchet key
        // encrypts one message, so the limit that matters is the size of
        // one plaintext; `max_message_size` (128 MiB by default, far below
        // AES-GCM's 2^36 bytes) is also what receivers accept.
        if data.len() + authenticated_data.len() > self.public.config.limits.max_message_size {
            return Err(MisuseError::TooLarge.into());
        }
        let padding = self.padding_for(data.len());
        let content = self.framed(FramedContentBody::Application(data.into()), authenticated_data)?;
        let cs = self.public.cs.as_ref();
        let signature = framing::sign_content(
            cs,
            &self.identity.signer,
            WireFormat::PRIVATE_MESSAGE,
            &content,
            &self.public.context,
        )?;
        let auth = crate::codec::FramedContentAuthData {
            signature: signature.into(),
            confirmation_tag: None,
        };
        // Framing, signature, padding and tags add to the plaintext: a
        // message that receivers with the same limit would refuse is not
        // sent, and its ratchet key is not spent.
        let msg = framing::seal_private_within(
            cs,
            content,
            auth,
            &mut self.secret_tree,
            self.secrets.sender_data_secret.as_bytes(),
            padding,
            self.public.config.limits.max_message_size,
        )?;
        Ok(MlsMessage::new(MlsMessageBody::PrivateMessage(msg)))
    }

    /// Protects a handshake message in the configured wire format and
    /// returns it with its AuthenticatedContent.
    fn protect_handshake(
        &mut self,
        content: FramedContent,
        tag: Option<crate::codec::Mac>,
        public_only: bool,
    ) -> Result<(MlsMessage, AuthenticatedContent), Error> {
        let cs = self.public.cs.as_ref();
        if self.public.config.encrypt_handshake && !public_only {
            let signature = framing::sign_content(
                cs,
                &self.identity.signer,
                WireFormat::PRIVATE_MESSAGE,
                &content,
                &self.public.context,
            )?;
            let auth = crate::codec::FramedContentAuthData {
                signature: signature.into(),
                confirmation_tag: tag.clone(),
            };
            let ac = AuthenticatedContent {
                wire_format: WireFormat::PRIVATE_MESSAGE,
                content: content.clone(),
                auth,
            };
            let padding = self.padding_for(64);
            let msg = protect_private(
                cs,
                &self.identity.signer,
                content,
                tag,
                &self.public.context,
                &mut self.secret_tree,
                self.secrets.sender_data_secret.as_bytes(),
                padding,
            )?;
            // Signatures of Ed25519/Ed448 and RFC 6979 ECDSA are deterministic, so `ac` matches what was sent.
            Ok((MlsMessage::new(MlsMessageBody::PrivateMessage(msg)), ac))
        } else {
            let msg = protect_public(
                cs,
                &self.identity.signer,
                content,
                tag,
                &self.public.context,
                Some(self.secrets.membership_key.as_bytes()),
            )?;
            let ac = AuthenticatedContent {
                wire_format: WireFormat::PUBLIC_MESSAGE,
                content: msg.content.clone(),
                auth: msg.auth.clone(),
            };
            Ok((MlsMessage::new(MlsMessageBody::PublicMessage(msg)), ac))
        }
    }

    /// Sends a proposal (RFC 9420 §12.1) and caches it for our next commit.
    pub fn propose(&mut self, proposal: Proposal, authenticated_data: &[u8]) -> Result<MlsMessage, Error> {
        self.ensure_active()?;
        // RFC 9420 §7.3, §10.1: a KeyPackage we send in an Add is valid for
        // this group now, its lifetime included.
        if let Proposal::Add(a) = &proposal {
            self.public.check_key_package_to_send(&a.key_package)?;
        }
        // A new type's handler may require a PublicMessage (ProposalFlags::
        // public_message_only) and limit what may be pending.
        let mut public_only = false;
        if let Some((c, h)) = match &proposal {
            Proposal::Custom(c) => self.public.config.hooks.proposal(c.proposal_type).map(|h| (c, h.clone())),
            _ => None,
        } {
            let own = Sender::Member(self.own_leaf());
            h.validate(&self.public, &own, &c.body)?;
            h.check_pending(&self.public, &own, &c.body)?;
            public_only = h.flags().public_message_only;
        }
        let content = self.framed(FramedContentBody::Proposal(proposal.clone()), authenticated_data)?;
        let (msg, ac) = self.protect_handshake(content, None, public_only)?;
        let reference = self.public.proposal_ref(&ac)?;
        self.public.pending.push(CachedProposal {
            reference,
            proposal,
            sender: Sender::Member(self.own_leaf()),
        });
        Ok(msg)
    }

    /// The generation our next application message will have in this
    /// epoch (RFC 9420 §9: our application ratchet's current generation),
    /// for acknowledgement schemes such as AppAck
    /// (draft-ietf-mls-extensions §6.1).
    pub fn next_application_generation(&self) -> u32 {
        self.secret_tree
            .generation(self.own_leaf().0, crate::schedule::secret_tree::RatchetType::Application)
    }

    /// A signed update of our own leaf for an Update proposal (new encryption key).
    pub fn propose_update(&mut self) -> Result<MlsMessage, Error> {
        let cs = self.public.cs.as_ref();
        let own = self.own_leaf();
        let mut leaf = self.public.tree.leaf(own).cloned().ok_or(PeerError::UnknownSender)?;
        let (sk, pk) = cs.kem_generate_key_pair()?;
        leaf.encryption_key = pk.into();
        leaf.leaf_node_source = LeafNodeSource::Update;
        self.identity
            .sign_leaf(cs, &mut leaf, Some((self.public.context.group_id.as_slice(), own)))?;
        let msg = self.propose(Proposal::Update(crate::codec::Update::new(leaf)), &[])?;
        self.pending_update_keys_insert(sk);
        Ok(msg)
    }

    fn pending_update_keys_insert(&mut self, sk: HpkePrivateKey) {
        // The new leaf key takes effect if a commit includes our Update.
        self.pending_leaf_key = Some(sk);
    }

    /// Processes an incoming message (RFC 9420 §6, §12.4.2, §15). On any
    /// error the group is unchanged.
    pub fn process_message(&mut self, msg: &MlsMessage) -> Result<Received, Error> {
        self.public
            .config
            .limits
            .check(Limit::MessageSize, tls_codec::Size::tls_serialized_len(msg))?;
        if msg.version != ProtocolVersion::MLS10 {
            return Err(PeerError::UnsupportedVersion(msg.version.0).into());
        }
        match &msg.body {
            MlsMessageBody::PublicMessage(m) => {
                // RFC 9420 §6: the group first, then the epoch.
                if m.content.group_id != self.public.context.group_id {
                    return Err(PeerError::WrongGroupId.into());
                }
                if m.content.epoch != self.public.context.epoch {
                    return Err(self.public.wrong_epoch(m.content.epoch).into());
                }
                let key = self.public.sender_signature_key(&m.content.sender, &m.content.body)?;
                let ac = verify_public(
                    self.public.cs.as_ref(),
                    m,
                    &self.public.context,
                    Some(self.secrets.membership_key.as_bytes()),
                    &key,
                )?;
                self.accept(ac, None)
            }
            MlsMessageBody::PrivateMessage(m) => {
                if m.group_id != self.public.context.group_id {
                    return Err(PeerError::WrongGroupId.into());
                }
                if m.epoch != self.public.context.epoch {
                    return self.process_past_epoch(m);
                }
                let (dec, staged) = unprotect_private_from(
                    self.public.cs.as_ref(),
                    m,
                    &self.public.context,
                    &self.secret_tree,
                    self.secrets.sender_data_secret.as_bytes(),
                    &|l| self.public.tree.leaf(l).is_some(),
                )?;
                let leaf = dec.sender_leaf().ok_or(PeerError::UnknownSender)?;
                let key = self
                    .public
                    .tree
                    .leaf(leaf)
                    .map(|l| l.signature_key.as_slice().to_vec())
                    .ok_or(PeerError::UnknownSender)?;
                let generation = dec.generation();
                let ac = dec.verify(self.public.cs.as_ref(), &key, &self.public.context)?;
                self.accept(ac, Some((staged, generation)))
            }
            MlsMessageBody::Custom(c) => {
                let h = self
                    .public
                    .config
                    .hooks
                    .wire_format(c.wire_format)
                    .ok_or(PeerError::UnexpectedWireFormat(c.wire_format.0))?;
                let envelope = h.process(self, &c.body)?;
                Ok(Received::Envelope {
                    wire_format: c.wire_format,
                    envelope,
                })
            }
            other => Err(PeerError::UnexpectedWireFormat(other.wire_format().0).into()),
        }
    }

    /// `ratchet`: for a PrivateMessage, the staged ratchet step and the
    /// message's generation.
    fn accept(&mut self, ac: AuthenticatedContent, ratchet: Option<(crate::schedule::StagedRatchet, u32)>) -> Result<Received, Error> {
        let (staged, generation) = match ratchet {
            Some((s, g)) => (Some(s), g),
            None => (None, 0),
        };
        self.public
            .config
            .hooks
            .check_aad(&self.public.context, ac.content.authenticated_data.as_slice())?;
        let out = match &ac.content.body {
            FramedContentBody::Application(data) => {
                let Sender::Member(sender) = ac.content.sender else {
                    return Err(PeerError::InvalidSender.into());
                };
                if ac.wire_format != WireFormat::PRIVATE_MESSAGE {
                    return Err(PeerError::InvalidWireFormatForContent.into());
                }
                for h in self.public.config.hooks.framing() {
                    h.check_application_data(&self.public.context, data.as_slice())?;
                }
                let sender_credential = self.public.tree.leaf(sender).ok_or(PeerError::UnknownSender)?.credential.clone();
                Received::Application {
                    sender,
                    sender_credential,
                    data: data.as_slice().to_vec(),
                    authenticated_data: ac.content.authenticated_data.as_slice().to_vec(),
                    epoch: ac.content.epoch,
                    generation,
                }
            }
            FramedContentBody::Proposal(p) => {
                let own = self.own_leaf();
                Received::Proposal(self.public.cache_proposal(&ac, p, Some(own))?)
            }
            FramedContentBody::Commit(c) => {
                let staged_commit = self.stage_commit(&ac, c, staged)?;
                return Ok(Received::Commit(staged_commit));
            }
        };
        if let Some(s) = staged {
            self.secret_tree.apply(s);
        }
        Ok(out)
    }

    fn process_past_epoch(&mut self, m: &crate::codec::PrivateMessage) -> Result<Received, Error> {
        if m.content_type != ContentType::APPLICATION {
            return Err(self.public.wrong_epoch(m.epoch).into());
        }
        let cs = self.public.cs.clone();
        let past = self
            .past
            .iter_mut()
            .find(|(e, _)| *e == m.epoch)
            .map(|(_, p)| p)
            .ok_or(PeerError::WrongEpoch {
                message: m.epoch,
                group: self.public.context.epoch,
            })?;
        let (dec, staged) = unprotect_private_from(
            cs.as_ref(),
            m,
            &past.context,
            &past.secret_tree,
            past.sender_data_secret.as_bytes(),
            &|l| past.members.contains_key(&l.0),
        )?;
        let leaf = dec.sender_leaf().ok_or(PeerError::UnknownSender)?;
        let generation = dec.generation();
        let member = past.members.get(&leaf.0).ok_or(PeerError::UnknownSender)?.clone();
        let ac = dec.verify(cs.as_ref(), &member.signature_key, &past.context)?;
        let FramedContentBody::Application(data) = &ac.content.body else {
            return Err(PeerError::ContentTypeMismatch.into());
        };
        self.public
            .config
            .hooks
            .check_aad(&past.context, ac.content.authenticated_data.as_slice())?;
        for h in self.public.config.hooks.framing() {
            h.check_application_data(&past.context, data.as_slice())?;
        }
        past.secret_tree.apply(staged);
        Ok(Received::Application {
            sender: leaf,
            sender_credential: member.credential,
            data: data.as_slice().to_vec(),
            authenticated_data: ac.content.authenticated_data.as_slice().to_vec(),
            epoch: m.epoch,
            generation,
        })
    }

    /// Moves the group to the epoch of a staged commit.
    pub fn merge_staged_commit(&mut self, staged: StagedCommit) -> Result<(), Error> {
        if staged.parent_epoch != self.public.context.epoch || staged.context.group_id != self.public.context.group_id {
            return Err(MisuseError::StaleStagedCommit.into());
        }
        let mut staged = staged;
        if let Some(r) = staged.ratchet.take() {
            self.secret_tree.apply(r);
        }
        self.install(staged);
        Ok(())
    }

    /// Merges the commit we created last.
    pub fn merge_pending_commit(&mut self) -> Result<(), Error> {
        let staged = self.pending_commit.take().ok_or(MisuseError::NothingToMerge)?;
        self.install(staged);
        Ok(())
    }

    /// The commit we created last, not yet merged or cleared: its new
    /// epoch's secrets can be used before the Delivery Service confirms it
    /// (a combiner exports from it to build a second commit).
    pub fn pending_commit(&self) -> Option<&StagedCommit> {
        self.pending_commit.as_ref()
    }

    /// The commit we created last, mutable (to take or set its new epoch's
    /// extra secrets, see [`StagedCommit::take_extra_epoch_secret`]).
    pub fn pending_commit_mut(&mut self) -> Option<&mut StagedCommit> {
        self.pending_commit.as_mut()
    }

    /// Discards the commit we created last.
    pub fn clear_pending_commit(&mut self) {
        self.pending_commit = None;
    }

    fn install(&mut self, s: StagedCommit) {
        let members = if self.public.config.max_past_epochs > 0 {
            self.public
                .tree
                .leaves()
                .map(|(i, l)| {
                    (
                        i.0,
                        PastMember {
                            signature_key: l.signature_key.as_slice().to_vec(),
                            credential: l.credential.clone(),
                        },
                    )
                })
                .collect()
        } else {
            BTreeMap::new()
        };
        let old_tree = std::mem::replace(&mut self.secret_tree, s.secret_tree);
        let old_context = self.public.advance(s.context, s.tree, s.interim_transcript_hash, s.summary_change);
        let old_secrets = std::mem::replace(&mut self.secrets, s.secrets);
        self.resumption_psks
            .insert(old_context.epoch, old_secrets.resumption_psk.duplicate());
        let old_sds = old_secrets.sender_data_secret.duplicate();
        self.resumption_psks
            .insert(self.public.context.epoch, self.secrets.resumption_psk.duplicate());
        while self.resumption_psks.len() > self.public.config.max_past_epochs + 1 {
            self.resumption_psks.pop_first();
        }
        if self.public.config.max_past_epochs > 0 {
            self.past.push_back((
                old_context.epoch,
                PastEpoch {
                    context: old_context,
                    secret_tree: old_tree,
                    sender_data_secret: old_sds,
                    members,
                },
            ));
            while self.past.len() > self.public.config.max_past_epochs {
                self.past.pop_front();
            }
        }
        self.keys = s.keys;
        self.pending_commit = None;
        self.pending_leaf_key = None;
        if s.removed_self || s.reinit.is_some() {
            self.active = false;
        }
        self.last_reinit = s.reinit;
    }
}
