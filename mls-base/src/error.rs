//! The one error type of `mlsx-base`.

use crate::codec::CipherSuite;

/// Errors from a [`crate::crypto::CipherSuiteProvider`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The provider does not implement this cipher suite.
    #[error("unsupported cipher suite {0:?}")]
    UnsupportedCipherSuite(CipherSuite),
    /// A key had the wrong length or was not a valid point / scalar.
    #[error("invalid key material")]
    InvalidKey,
    /// A requested output length is not allowed by the primitive.
    #[error("invalid output length {0}")]
    InvalidLength(usize),
    /// AEAD or HPKE decryption failed (wrong key, tampered ciphertext).
    #[error("decryption failed")]
    DecryptionFailed,
    /// AEAD or HPKE encryption failed.
    #[error("encryption failed")]
    EncryptionFailed,
    /// A signature did not verify.
    #[error("signature verification failed")]
    InvalidSignature,
    /// Signature creation failed.
    #[error("signing failed")]
    SigningFailed,
    /// The random number generator failed.
    #[error("randomness unavailable")]
    Rng,
    /// Any other failure inside the provider, with its cause.
    #[error("provider: {0}")]
    Provider(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Errors of the MLS engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input could not be decoded (truncated, trailing bytes,
    /// non-minimal varint, unknown enum value; RFC 9420 §2.1).
    #[error("decode: {0}")]
    Codec(tls_codec::Error),
    /// The input nests registered structures (a message inside a message
    /// body, …) deeper than
    /// [`MAX_NESTING`](crate::codec::syntax::MAX_NESTING) levels.
    #[error("decode: structures nested deeper than {} levels", crate::codec::syntax::MAX_NESTING)]
    NestingTooDeep,
    /// A cryptographic operation failed.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// No provider is registered for this cipher suite.
    #[error("unsupported cipher suite {0:?}")]
    UnsupportedCipherSuite(CipherSuite),
    /// A peer sent something the protocol forbids.
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// Saving or loading state failed.
    #[error("storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The caller asked for something that cannot be done.
    #[error("misuse: {0}")]
    Misuse(#[from] MisuseError),
    /// Saved state cannot be restored: corrupt, from another format
    /// version, or for other parameters than the caller's.
    #[error("saved state: {0}")]
    State(#[from] StateError),
    /// A hook (an extension's handler, `group::hooks`) refused, with the
    /// extension's own error; see [`Error::hook_error`].
    #[error("{0}")]
    Hook(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<tls_codec::Error> for Error {
    fn from(e: tls_codec::Error) -> Self {
        match &e {
            tls_codec::Error::DecodingError(s) if s == crate::codec::syntax::NESTING_TOO_DEEP => Self::NestingTooDeep,
            _ => Self::Codec(e),
        }
    }
}

impl Error {
    /// The error a hook returned, if this is one of type `E`.
    pub fn hook_error<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Self::Hook(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }
}

/// Why saved group state cannot be loaded (`Group::load`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The bytes are not a saved state of this format: damaged or
    /// truncated storage, or not a state at all.
    #[error("corrupt saved state")]
    Corrupt,
    /// The state was saved by another version of the state format.
    #[error("saved state has format version {found}, this build reads version {expected}")]
    FormatVersion {
        /// The version in the state.
        found: u16,
        /// The version this build writes and reads.
        expected: u16,
    },
    /// The state is of a group in another cipher suite than the provider
    /// given to load it.
    #[error("saved group uses cipher suite {saved:?}, but the provider given is for {provider:?}")]
    CipherSuiteMismatch {
        /// The group's suite.
        saved: CipherSuite,
        /// The provider's suite.
        provider: CipherSuite,
    },
}

/// Protocol violations by the sender of a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The message is for another group (RFC 9420 §6).
    #[error("group id does not match")]
    WrongGroupId,
    /// The message is for another epoch than the group's (RFC 9420 §6),
    /// and not for a past epoch whose keys are kept.
    #[error("message is for epoch {message}, the group is at epoch {group}")]
    WrongEpoch {
        /// The message's epoch.
        message: u64,
        /// The group's current epoch.
        group: u64,
    },
    /// The membership tag is wrong (RFC 9420 §6.2).
    #[error("invalid membership tag")]
    InvalidMembershipTag,
    /// A member-sent PublicMessage lacks its membership tag (RFC 9420 §6.2).
    #[error("missing membership tag")]
    MissingMembershipTag,
    /// A PublicMessage from a non-member carries a membership tag (RFC 9420 §6.2).
    #[error("unexpected membership tag")]
    UnexpectedMembershipTag,
    /// A commit lacks its confirmation tag (RFC 9420 §6.1).
    #[error("missing confirmation tag")]
    MissingConfirmationTag,
    /// The confirmation tag does not match (RFC 9420 §8.1).
    #[error("invalid confirmation tag")]
    InvalidConfirmationTag,
    /// The PrivateMessage padding has a non-zero byte (RFC 9420 §6.3.1: MUST be zero).
    #[error("non-zero padding")]
    NonZeroPadding,
    /// Sender data names a generation whose key was already used (a replay)
    /// or deleted because it fell out of the out-of-order window (RFC 9420
    /// §9.2).
    #[error("generation {0} already used (replay?) or outside the out-of-order window")]
    GenerationConsumed(u32),
    /// Sender data names a generation further ahead of the next expected one
    /// than the group's forward limit (`SecretTreeConfig::max_forward_distance`).
    #[error("generation {generation} is more than {max_forward} ahead of the next expected generation {next}")]
    GenerationTooFarAhead {
        /// The generation named.
        generation: u32,
        /// The next generation the ratchet expects.
        next: u32,
        /// The forward limit.
        max_forward: u32,
    },
    /// The ratchet of a sender has no generation left (2^32 used).
    #[error("generation {0} is the ratchet's last")]
    GenerationExhausted(u32),
    /// The leaf index is outside the tree (RFC 9420 §6.3.2).
    #[error("leaf {0} is out of range")]
    LeafOutOfRange(u32),
    /// Content type and sender type cannot go together (RFC 9420 §6).
    #[error("sender type not allowed for this content")]
    InvalidSender,
    /// Application data or a member's message is not in the form the RFC
    /// requires (application data MUST be a PrivateMessage, RFC 9420 §6).
    #[error("content type not allowed in this wire format")]
    InvalidWireFormatForContent,
    /// The content type of the ciphertext does not match the header.
    #[error("content type mismatch")]
    ContentTypeMismatch,
    /// A message handed over as a proposal (for an external commit to
    /// include by reference) carries another content type.
    #[error("not a proposal")]
    NotAProposal,
    /// The protocol version is not MLS 1.0.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
    /// The wire format does not carry the expected message.
    #[error("unexpected wire format {0}")]
    UnexpectedWireFormat(u16),
    /// A PSK's nonce has the wrong length (RFC 9420 §8.4: MUST be KDF.Nh).
    #[error("PSK nonce length {0} does not match the hash length")]
    InvalidPskNonce(usize),
    /// The Welcome has no secrets for this KeyPackage.
    #[error("welcome has no entry for our KeyPackage")]
    WelcomeNotForUs,
    /// A ratchet tree is malformed (RFC 9420 §12.4.3.3: node types at the
    /// wrong positions, a trailing blank, a size that is too large).
    #[error("malformed ratchet tree: {0}")]
    MalformedTree(&'static str),
    /// A non-blank parent is not parent-hash valid (RFC 9420 §7.9.2).
    #[error("parent hash of node {0} is not valid")]
    InvalidParentHash(u32),
    /// A parent lists as unmerged a leaf that is blank or not below it, or
    /// a node between that leaf and the parent does not list it (RFC 9420
    /// §12.4.3.1).
    #[error("node {parent} lists leaf {leaf} as unmerged wrongly")]
    InvalidUnmergedLeaf {
        /// The parent node.
        parent: u32,
        /// The leaf.
        leaf: u32,
    },
    /// Two nodes of a tree share an HPKE public key (RFC 9420 §12.4.3.1).
    #[error("nodes {first} and {second} have the same encryption key")]
    DuplicateTreeKey {
        /// The first node.
        first: u32,
        /// The second node.
        second: u32,
    },
    /// A proposal of this type may not come from this kind of sender
    /// (RFC 9420 §6.1, §12.1.8): e.g. an Update from an external sender, or
    /// anything but an Add from a new member.
    #[error("proposal type {0:#06x} not allowed from this sender")]
    ProposalSenderNotAllowed(u16),
    /// A proposal that claims to come from our own leaf (a Delivery
    /// Service echo, or a forgery): we only cache proposals we sent
    /// ourselves when we send them.
    #[error("a received proposal claims to be our own")]
    OwnProposal,
    /// A proposal already cached in this epoch (the same ProposalRef): a
    /// replay, which would make any commit of the cached proposals change
    /// the same thing twice.
    #[error("a proposal already received in this epoch")]
    ReplayedProposal,
    /// Input over one of the group's resource limits (`GroupConfig::limits`).
    #[error("{limit:?} limit exceeded: {value} > {max}")]
    LimitExceeded {
        /// Which limit.
        limit: crate::group::Limit,
        /// The value found.
        value: usize,
        /// The limit.
        max: usize,
    },
    /// A parent-node key (in an UpdatePath or a tree we join) is not a
    /// public key of the suite's KEM.
    #[error("a parent-node key is not a valid public key")]
    InvalidNodeKey,
    /// A public key of a commit's UpdatePath is already in the tree, or
    /// appears twice in the path (RFC 9420 §12.4.2).
    #[error("an UpdatePath key is already in the tree")]
    KeyAlreadyInTree,
    /// A Welcome names more than one resumption PSK of usage reinit or
    /// branch (RFC 9420 §12.4.3.1).
    #[error("more than one reinit or branch PSK in a Welcome")]
    MultipleResumptionPsks,
    /// A leaf's signature does not verify (RFC 9420 §7.3).
    #[error("leaf {0} has an invalid signature")]
    InvalidLeafSignature(u32),
    /// An UpdatePath does not match the sender's filtered direct path
    /// (RFC 9420 §7.6: one node per filtered-direct-path node, one
    /// ciphertext per resolution node).
    #[error("UpdatePath does not fit the tree")]
    InvalidUpdatePath,
    /// A public key derived from a decrypted path secret differs from the
    /// one in the UpdatePath (RFC 9420 §7.5).
    #[error("UpdatePath public key does not match its path secret")]
    PathKeyMismatch,
    /// The committer's leaf parent hash does not match the path (RFC 9420 §7.9.2).
    #[error("committer's leaf parent hash does not match")]
    LeafParentHashMismatch,
    /// A leaf node or KeyPackage is invalid (RFC 9420 §7.3, §10.1).
    #[error("invalid leaf: {0}")]
    InvalidLeaf(crate::group::LeafError),
    /// The committed proposal list is invalid (RFC 9420 §12.2).
    #[error("invalid proposal list: {0}")]
    InvalidProposals(ProposalListError),
    /// A proposal referenced by a commit is unknown (RFC 9420 §12.4).
    #[error("unknown proposal reference")]
    UnknownProposalRef,
    /// The commit needs an UpdatePath (RFC 9420 §12.4).
    #[error("commit requires a path")]
    MissingPath,
    /// A PSK named by a proposal or Welcome is not available (RFC 9420 §12.4.2).
    #[error("PSK not available")]
    MissingPsk,
    /// A GroupInfo's signature or tree hash is invalid (RFC 9420 §12.4.3.1).
    #[error("invalid GroupInfo: {0}")]
    InvalidGroupInfo(&'static str),
    /// The sender is not a member (blank leaf) or not allowed to send this.
    #[error("unknown sender")]
    UnknownSender,
    /// No node of the UpdatePath is encrypted to a key we hold (RFC 9420 §7.5).
    #[error("no path secret in the UpdatePath is encrypted to us")]
    NoPathSecretForUs,
    /// A proposal of a type the group has no handler for (RFC 9420 §12.2:
    /// unsupported proposal types make a proposal invalid).
    #[error("unsupported proposal type {0:#06x}")]
    UnsupportedProposalType(u16),
    /// A registered extension outside the contexts it is allowed in (RFC 9420 §13.3).
    #[error("extension {extension_type:#06x} not allowed in {context:?}")]
    ExtensionNotAllowed {
        /// The extension type.
        extension_type: u16,
        /// Where it appeared.
        context: crate::group::hooks::ExtensionContext,
    },
    /// An extension handler rejected an extension's data or a change of it.
    #[error("extension {extension_type:#06x} rejected: {reason}")]
    ExtensionRejected {
        /// The extension type.
        extension_type: u16,
        /// Why.
        reason: String,
    },
    /// A proposal handler rejected a proposal.
    #[error("proposal of type {proposal_type:#06x} rejected: {reason}")]
    ProposalRejected {
        /// The proposal type.
        proposal_type: u16,
        /// Why.
        reason: String,
    },
    /// A framing handler rejected a message's `authenticated_data` (RFC 9420 §6).
    #[error("authenticated data rejected: {0}")]
    AuthenticatedDataRejected(String),
    /// A framing handler rejected a message's `application_data`.
    #[error("application data rejected: {0}")]
    ApplicationDataRejected(String),
    /// A wire-format handler rejected a message.
    #[error("message of wire format {wire_format:#06x} rejected: {reason}")]
    WireFormatRejected {
        /// The wire format.
        wire_format: u16,
        /// Why.
        reason: String,
    },
}

/// API misuse by the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MisuseError {
    /// A secret has the wrong length for the cipher suite.
    #[error("secret of length {got} where {expected} was expected")]
    SecretLength {
        /// Expected length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// Too many PSKs (a PSKLabel counts them in a uint16).
    #[error("too many PSKs")]
    TooManyPsks,
    /// A value does not fit its wire-format field.
    #[error("value too large for its field")]
    TooLarge,
    /// The requested leaf is outside the tree.
    #[error("leaf {0} is out of range")]
    LeafOutOfRange(u32),
    /// A signed structure needs the group context (group id, leaf index,
    /// or GroupContext) that was not given.
    #[error("group context required")]
    MissingGroupContext,
    /// The label belongs to RFC 9420's own key schedule.
    #[error("label reserved by RFC 9420")]
    ReservedLabel,
    /// Application data MUST be sent as a PrivateMessage (RFC 9420 §6).
    #[error("application data cannot be sent in a PublicMessage")]
    ApplicationDataInPublicMessage,
    /// The sender type cannot send this content or wire format (RFC 9420 §6).
    #[error("sender cannot send this content")]
    InvalidSender,
    /// A commit needs a confirmation tag and nothing else may have one (RFC 9420 §6.1).
    #[error("confirmation tag must be present exactly for commits")]
    ConfirmationTag,
    /// A member-sent PublicMessage needs the membership key (RFC 9420 §6.2).
    #[error("membership key required")]
    MissingMembershipKey,
    /// The group was left, or a ReInit was committed (RFC 9420 §11.2).
    #[error("group is no longer active")]
    GroupInactive,
    /// Proposals must be committed before sending application data (RFC 9420 §12.4).
    #[error("pending proposals must be committed first")]
    PendingProposals,
    /// There is no pending commit.
    #[error("nothing to merge")]
    NothingToMerge,
    /// The staged commit is for another epoch or group.
    #[error("staged commit does not apply to this state")]
    StaleStagedCommit,
    /// A PrivateMessage was given to an observer
    /// ([`PublicGroup`](crate::group::PublicGroup)), which holds no key to
    /// open it.
    #[error("an observer cannot open a PrivateMessage")]
    EncryptedForObserver,
    /// Our own commit came back: merge the pending commit instead.
    #[error("own commit: use merge_pending_commit")]
    OwnCommit,
    /// A pending commit must be merged or cleared first.
    #[error("a pending commit must be merged or cleared first")]
    PendingCommit,
    /// A reinit/branch PSK can only go into the first commit of a new group.
    #[error("resumption PSK outside a founding commit")]
    NotAFoundingCommit,
    /// No ReInit has been committed in this group.
    #[error("no ReInit was committed")]
    NoReInit,
    /// A Welcome was asked of a commit that adds no member.
    #[error("the commit adds no member, so it has no Welcome")]
    NoWelcome,
    /// A parameter does not match (suite of a provider, ReInit parameters).
    #[error("parameters do not match")]
    ParameterMismatch,
}

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a committed proposal list is invalid: one variant per rule of
/// RFC 9420 §12.2 (and the per-proposal rules it refers to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalListError {
    /// An ExternalInit in a member's commit (RFC 9420 §12.2).
    #[error("an ExternalInit in a member's commit")]
    ExternalInitInRegularCommit,
    /// A GroupContextExtensions that some member does not support (RFC 9420 §12.1.7).
    #[error("a GroupContextExtensions that some member does not support")]
    UnsupportedGroupContextExtensions,
    /// A ReInit to an older protocol version (RFC 9420 §12.1.5).
    #[error("a ReInit to an older protocol version")]
    ReInitToOlderVersion,
    /// A ReInit together with other proposals (RFC 9420 §12.2).
    #[error("a ReInit together with other proposals")]
    ReInitNotAlone,
    /// A Remove of a blank leaf (RFC 9420 §12.1.3).
    #[error("a Remove of a blank leaf")]
    RemoveOfBlankLeaf,
    /// A Remove of the committer (RFC 9420 §12.2).
    #[error("a Remove of the committer")]
    RemoveOfCommitter,
    /// An Update not sent by a member (RFC 9420 §12.1.2).
    #[error("an Update not sent by a member")]
    UpdateFromNonMember,
    /// An Update from the committer (RFC 9420 §12.2).
    #[error("an Update from the committer")]
    UpdateFromCommitter,
    /// Two PreSharedKey proposals with the same PreSharedKeyID (RFC 9420 §12.2).
    #[error("two PreSharedKey proposals with the same PreSharedKeyID")]
    DuplicatePsk,
    /// Two extensions of one type in a list (RFC 9420 §13.4).
    #[error("two extensions of one type in a list")]
    DuplicateExtension,
    /// An external commit with a proposal other than one ExternalInit, one Remove and PSKs (RFC 9420 §12.2).
    #[error("an external commit with a proposal other than one ExternalInit, one Remove and PSKs")]
    ExternalCommitProposalNotAllowed,
    /// An external commit with a proposal by reference (RFC 9420 §12.4.3.2).
    #[error("an external commit with a proposal by reference")]
    ExternalCommitByReference,
    /// An external commit without ExternalInit (RFC 9420 §12.2).
    #[error("an external commit without ExternalInit")]
    ExternalCommitWithoutExternalInit,
    /// More than one GroupContextExtensions (RFC 9420 §12.2).
    #[error("more than one GroupContextExtensions")]
    MultipleGroupContextExtensions,
    /// A PreSharedKey proposal with usage reinit or branch (RFC 9420 §11.2, §11.3, §12.1.4).
    #[error("a PreSharedKey proposal with usage reinit or branch")]
    ResumptionPskUsageNotAllowed,
    /// Several Update/Remove proposals for one leaf (RFC 9420 §12.2).
    #[error("several Update/Remove proposals for one leaf")]
    MultipleChangesToLeaf,
    /// An Update for our leaf that we did not propose in this epoch (RFC 9420 §12.1.2).
    #[error("an Update for our leaf that we did not propose in this epoch")]
    UnknownUpdateForUs,
    /// A proposal of a type that not every member supports (RFC 9420 §12.2, §13.4).
    #[error("a proposal type not supported by every member")]
    ProposalTypeUnsupportedByMember,
    /// A proposal committed by value whose type allows only references.
    #[error("a proposal committed by value whose type allows only references")]
    ByReferenceOnly,
    /// A proposal type that may not appear in an external commit (RFC 9420 §12.2).
    #[error("a proposal type not allowed in an external commit")]
    NotAllowedInExternalCommit,
}
