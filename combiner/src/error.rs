//! The errors of `mlsx-combiner`.

use mlsx_base::codec::{CipherSuite, WireFormat};

/// What went wrong in a hybrid session. Each rule of the receiver checklist
/// (`drafts/combiner.md`) has its own variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the MLS engine in one of the two groups.
    #[error(transparent)]
    Base(mlsx_base::Error),
    /// An error of the extensions layer.
    #[error(transparent)]
    Extensions(mlsx_extensions::Error),
    /// A structure of the draft could not be decoded.
    #[error("decode: {0}")]
    Codec(tls_codec::Error),
    /// The traditional suite is not an RFC 9420 (classical) suite (§7).
    #[error("traditional suite {0:?} is not a classical RFC 9420 suite")]
    NotTraditional(CipherSuite),
    /// The PQ suite is unknown or its KEM is not a pure, standardized PQ
    /// KEM (ML-KEM-768 or ML-KEM-1024); hybrid KEMs are refused (§7.1).
    #[error("PQ suite {0:?} has no pure ML-KEM")]
    NotPurePq(CipherSuite),
    /// Mode 1 needs a PQ signature (ML-DSA) in the PQ suite (§7.2).
    #[error("mode 1 needs ML-DSA in the PQ suite {0:?}")]
    NoPqSignature(CipherSuite),
    /// The T suite's hash is longer than the PQ suite's: `apq_exporter`
    /// (Nh_PQ bytes) is too short a key for the T KDF's DeriveSecret.
    #[error("T suite {t:?} hashes longer than PQ suite {pq:?}: apq_psk cannot be derived")]
    ExportShorterThanTHash {
        /// The T suite.
        t: CipherSuite,
        /// The PQ suite.
        pq: CipherSuite,
    },
    /// The two identities of a client do not carry the same credential
    /// (how members of the two groups are matched, `drafts/combiner.md`).
    #[error("the T and PQ identities carry different credentials")]
    CredentialsDiffer,
    /// A message of wire format `apq_message_pair` was expected.
    #[error("not an APQMessagePair (wire format {0:?})")]
    NotAPair(WireFormat),
    /// An inner message's wire format differs from the pair's, or the pair
    /// names `apq_message_pair` itself (§6 MUST).
    #[error("APQMessagePair: inner wire formats do not match {0:?}, or it is apq_message_pair")]
    InnerWireFormat(WireFormat),
    /// A pair carries application data (§6 MUST NOT).
    #[error("APQMessagePair carries application content")]
    ApplicationInPair,
    /// A group's GroupContext does not list `apq_message_pair` in
    /// `required_wire_formats` (§6 MUST).
    #[error("the {0} group does not require the apq_message_pair wire format")]
    PairNotRequired(&'static str),
    /// A PARTIAL commit was asked for while the PQ group holds proposals
    /// (a pair of proposals, Fig. 1b), which only a FULL commit can take.
    #[error("a pair of proposals is pending: the next commit must be FULL")]
    FullCommitRequested,
    /// The two messages of a pair are not both commits, or not both
    /// proposals.
    #[error("APQMessagePair: the two messages are not of the same content type")]
    MixedPair,
    /// An inner message is for another group than the session's.
    #[error("message for group {got:?}, not the session's {expected:?}")]
    WrongGroup {
        /// The session's group id.
        expected: Vec<u8>,
        /// The message's group id.
        got: Vec<u8>,
    },
    /// The T commit of a pair does not inject the PSK exported from the new
    /// PQ epoch (§5.2 MUST).
    #[error("the T commit of a FULL commit lacks the apq_psk PreSharedKey proposal")]
    MissingApqPsk,
    /// A GroupContext lacks APQInfo where the session needs it.
    #[error("no APQInfo in the {0} group's GroupContext")]
    NoApqInfo(&'static str),
    /// The APQInfo of the two groups differ (§5.1.2 MUST).
    #[error("the APQInfo of the T and PQ groups differ")]
    ApqInfoMismatch,
    /// APQInfo names other group ids, another mode or other suites than
    /// the session's (§5.1.1: immutable; §7).
    #[error("APQInfo changes the session's group ids, mode or suites")]
    ApqInfoChanged,
    /// APQInfo's epochs are not the new epochs of the two groups (§5.1.1
    /// MUST).
    #[error("APQInfo epochs ({t}, {pq}) are not the new epochs ({t_new}, {pq_new})")]
    ApqInfoEpochs {
        /// APQInfo's t_epoch.
        t: u64,
        /// APQInfo's pq_epoch.
        pq: u64,
        /// The T group's new epoch.
        t_new: u64,
        /// The PQ group's new epoch.
        pq_new: u64,
    },
    /// The two groups would not have the same members (§3.2.1, §3.3 MUST).
    #[error("the T and PQ groups have different members")]
    MembershipDiffers,
    /// A PQ message outside a pair: the PQ group only moves in FULL commits
    /// (`drafts/combiner.md`).
    #[error("a PQ-group message outside an APQMessagePair")]
    LonePqMessage,
    /// A PARTIAL commit adds or removes members (§3 MUST be FULL).
    #[error("a PARTIAL commit changes the membership")]
    MembershipChangeInPartial,
    /// A PARTIAL commit touches APQInfo.
    #[error("a PARTIAL commit changes APQInfo")]
    ApqInfoInPartial,
    /// A proposal a session does not support (ReInit: a session ends and
    /// restarts as a whole; `drafts/combiner.md` gap 5).
    #[error("{0} is not supported in a hybrid session")]
    UnsupportedInSession(&'static str),
    /// The two proposals of a pair are not the same change: other proposal
    /// types, other senders, or Adds, Removes or Updates of different
    /// members (§3.2.1, §3.3: both groups keep the same members).
    #[error("the two proposals of the pair differ: {0}")]
    ProposalPairDiffers(&'static str),
    /// The two commits of a FULL commit are not by the same member
    /// (§3.1: one member commits in both groups).
    #[error("the two commits of the pair are by different members")]
    CommitPairDiffers,
    /// A proposal outside a FULL commit changes APQInfo or the required
    /// `apq_message_pair` wire format: only the FULL committer's own
    /// AppDataUpdate changes APQInfo (§5.1.1).
    #[error("a proposal changes APQInfo or the pair requirement")]
    ApqInfoInProposal,
    /// A [`FullCommitPolicy`](crate::FullCommitPolicy) that cannot keep
    /// the §3 inactivity rule, or is meaningless.
    #[error("FULL commit policy: {0}")]
    InvalidPolicy(&'static str),
    /// A PARTIAL commit was asked for by a member whose first commit since
    /// joining must be FULL (§3.2: it refreshes the joiner's PQ keys).
    #[error("a joiner's first commit must be FULL")]
    FirstCommitMustBeFull,
    /// A commit of ours is pending: confirm or discard it first.
    #[error("a commit of this session is pending")]
    PendingCommit,
    /// Nothing to confirm or discard.
    #[error("no pending commit")]
    NoPendingCommit,
    /// No member with this credential in both groups.
    #[error("no member with this credential in both groups")]
    UnknownMember,
    /// This member was removed from the session.
    #[error("this member is no longer in the session")]
    Removed,
}

impl From<mlsx_base::Error> for Error {
    fn from(e: mlsx_base::Error) -> Self {
        // Our own hooks (`PairHandler`) return our errors; the extensions
        // layer's hooks return its errors.
        let e = match e {
            mlsx_base::Error::Hook(inner) => match inner.downcast::<Error>() {
                Ok(ours) => return *ours,
                Err(other) => mlsx_base::Error::Hook(other),
            },
            e => e,
        };
        match e.hook_error::<mlsx_extensions::Error>() {
            Some(_) => Self::Extensions(mlsx_extensions::Error::from(e)),
            None => Self::Base(e),
        }
    }
}

impl From<mlsx_extensions::Error> for Error {
    fn from(e: mlsx_extensions::Error) -> Self {
        match e {
            mlsx_extensions::Error::Base(b) => Self::Base(b),
            e => Self::Extensions(e),
        }
    }
}

impl From<tls_codec::Error> for Error {
    /// Input nested past the engine's budget is the engine's
    /// [`NestingTooDeep`](mlsx_base::Error::NestingTooDeep), whoever decoded it.
    fn from(e: tls_codec::Error) -> Self {
        match mlsx_base::Error::from(e) {
            mlsx_base::Error::Codec(e) => Self::Codec(e),
            other => Self::Base(other),
        }
    }
}
