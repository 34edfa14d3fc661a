//! The errors of `mlsx-extensions`.

use mlsx_base::codec::WireFormat;

use crate::codec::ComponentId;

/// What went wrong in a draft-ietf-mls-extensions operation or check.
///
/// Handlers plugged into `mlsx-base` return these inside
/// [`mlsx_base::Error::Hook`]; [`Error::of`] finds them again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the MLS engine.
    #[error(transparent)]
    Base(mlsx_base::Error),
    /// A structure of the draft could not be decoded.
    #[error("decode: {0}")]
    Codec(tls_codec::Error),
    /// An `app_data_dictionary` whose entries are not sorted by component
    /// id, or name one twice (§4.6 MUST).
    #[error("app_data_dictionary entries unsorted or duplicated at component {0:#06x}")]
    UnsortedDictionary(ComponentId),
    /// An id no application component may take: 0 (reserved), the ids
    /// this crate handles itself (`app_components`, `safe_aad`) and the
    /// GREASE values.
    #[error("component id {0:#06x} is reserved")]
    ReservedComponent(ComponentId),
    /// Two components registered under one id.
    #[error("component {0:#06x} registered twice")]
    DuplicateComponent(ComponentId),
    /// A component id no registered component has (§4.7, §4.8: the
    /// proposal is invalid).
    #[error("unknown component {0:#06x}")]
    UnknownComponent(ComponentId),
    /// One commit both updates and removes a component's entry, or
    /// removes it twice (§4.7).
    #[error("AppDataUpdate: component {0:#06x} both updated and removed, or removed twice")]
    ConflictingAppDataUpdates(ComponentId),
    /// An AppDataUpdate removes an entry that does not exist (§4.7).
    #[error("AppDataUpdate: component {0:#06x} has no entry to remove")]
    RemoveOfAbsentEntry(ComponentId),
    /// A GroupContextExtensions proposal changes the `app_data_dictionary`
    /// of a group whose `required_capabilities` lists AppDataUpdate (§4.7
    /// MUST NOT).
    #[error("GroupContextExtensions may not change app_data_dictionary: AppDataUpdate is required")]
    DictionaryChangedByGroupContextExtensions,
    /// A component refused data given to it.
    #[error("component {component:#06x} rejected its data: {reason}")]
    ComponentRejected {
        /// The component.
        component: ComponentId,
        /// Its reason.
        reason: String,
    },
    /// `authenticated_data` is not one sorted `SafeAAD` although the group
    /// has the `safe_aad` component (§4.9).
    #[error("authenticated_data is not a sorted SafeAAD")]
    AadNotSafe,
    /// A leaf does not support a component the GroupContext requires in
    /// `app_components` or `safe_aad` (§5).
    #[error("leaf does not support required component {0:#06x}")]
    MissingRequiredComponent(ComponentId),
    /// A leaf does not support a wire format the GroupContext requires in
    /// `required_wire_formats` (§5).
    #[error("leaf does not support required wire format {0:?}")]
    MissingRequiredWireFormat(WireFormat),
    /// The component's secret of this epoch's Exporter Tree was exported
    /// already (§4.4: consumed and deleted).
    #[error("component {0:#06x} already exported its secret this epoch")]
    AlreadyExported(ComponentId),
    /// The group has no `application_export_secret`: the extensions were
    /// not installed in its configuration (`Extensions::install`).
    #[error("no application_export_secret in this epoch (extensions not installed)")]
    NoExporterTree,
    /// The node's private key is not held by this member.
    #[error("no private key for this node")]
    NoPrivateKey,
    /// A SelfRemove proposal's body is not empty (§6.3: `struct {}`).
    #[error("SelfRemove body is not empty")]
    SelfRemoveBody,
    /// A SelfRemove proposal does not come from a member of the group
    /// (§6.3; not an external-sender type, §7.2).
    #[error("SelfRemove from a non-member")]
    SelfRemoveFromNonMember,
    /// A second SelfRemove from one client in an epoch (§6.3: MUST NOT).
    #[error("second SelfRemove from leaf {0} in this epoch")]
    SecondSelfRemove(u32),
    /// A SelfRemove committed by value (§6.3: only by reference).
    #[error("SelfRemove committed by value")]
    SelfRemoveByValue,
    /// Not every member supports SelfRemove (§6.3: the group is not
    /// "self-remove-capable").
    #[error("not every member supports SelfRemove")]
    NotSelfRemoveCapable,
    /// A targeted message for another group.
    #[error("targeted message for another group")]
    TargetedWrongGroup,
    /// A targeted message of another epoch (only the current one is
    /// accepted).
    #[error("targeted message of epoch {message}, the group is at {group}")]
    TargetedWrongEpoch {
        /// The message's epoch.
        message: u64,
        /// The group's.
        group: u64,
    },
    /// A targeted message for another member.
    #[error("targeted message for leaf {0}, not for us")]
    TargetedNotForUs(u32),
    /// A targeted message to a leaf that is blank or outside the tree.
    #[error("no member at leaf {0} to send a targeted message to")]
    TargetedUnknownRecipient(u32),
    /// The sender data of a targeted message does not decrypt.
    #[error("targeted message sender data does not decrypt")]
    TargetedSenderData,
    /// A targeted message's sender is a blank leaf or outside the tree.
    #[error("targeted message from leaf {0}, which is not a member")]
    TargetedUnknownSender(u32),
    /// A targeted message's padding has a non-zero byte (malformed).
    #[error("targeted message padding is not all zero")]
    TargetedNonZeroPadding,
    /// A media type that does not parse, or a malformed
    /// `content_media_types` list (§6.2: never empty).
    #[error("invalid media type: {0}")]
    InvalidMediaType(String),
    /// Application data of a group with `content_media_types` that is not
    /// an `ApplicationFraming` (§6.2).
    #[error("application data is not an ApplicationFraming, which content_media_types requires")]
    UnframedApplicationData,
    /// A member, or a client about to be added, does not advertise a media
    /// type the group requires (§6.2: SHOULD NOT add it).
    #[error("a member does not support the required media type {0}")]
    MediaTypeUnsupported(String),
    /// The group has no `content_media_types`: its application data is not
    /// framed.
    #[error("the group has no content_media_types")]
    NoContentMediaTypes,
    /// A credential given as a multi-credential is of another type.
    #[error("not a multi-credential")]
    NotAMultiCredential,
    /// A multi-credential with no binding.
    #[error("a multi-credential without bindings")]
    EmptyMultiCredential,
    /// A binding whose credential is itself a multi-credential.
    #[error("a multi-credential inside a multi-credential")]
    NestedMultiCredential,
    /// A binding of a suite or credential type this client does not
    /// support, in a `multi` credential (every member must support every
    /// binding).
    #[error("credential binding of unsupported suite {0:#06x} or credential type")]
    BindingSuiteUnsupported(u16),
    /// A `weak-multi` credential none of whose bindings this client
    /// supports.
    #[error("no credential binding this client supports")]
    NoSupportedBinding,
    /// A member does not support what a multi-credential needs.
    #[error("a member does not support {0} of a multi-credential")]
    MultiCredentialUnsupportedByMember(&'static str),
    /// A member's new multi-credential does not bind the same credentials.
    #[error("a multi-credential's successor binds other credentials")]
    MultiCredentialChanged,
    /// A UserInfo VC credential that does not parse or lacks what
    /// draft-mls-addl-creds §3 requires.
    #[error("invalid UserInfo VC: {0}")]
    InvalidUserInfoVc(String),
    /// A UserInfo VC whose issuer the application does not trust.
    #[error("UserInfo VC issuer {0:?} is not trusted")]
    UntrustedIssuer(String),
    /// A UserInfo VC whose signature no key of its issuer verifies.
    #[error("UserInfo VC signature does not verify under the issuer's keys")]
    UserInfoVcSignature,
    /// A UserInfo VC outside its validity period (`exp`, `nbf`).
    #[error("UserInfo VC expired or not yet valid")]
    UserInfoVcExpired,
    /// The VC's subject key is not the LeafNode's signature key.
    #[error("UserInfo VC subject key is not the leaf's signature key")]
    UserInfoVcKeyMismatch,
    /// A member's new UserInfo VC names another subject.
    #[error("UserInfo VC successor names another subject")]
    UserInfoVcSubjectChanged,
}

impl From<mlsx_base::Error> for Error {
    fn from(e: mlsx_base::Error) -> Self {
        match e {
            mlsx_base::Error::Hook(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Self::Base(mlsx_base::Error::Hook(other)),
            },
            e => Self::Base(e),
        }
    }
}

impl From<Error> for mlsx_base::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Base(e) => e,
            Error::Codec(e) => mlsx_base::Error::from(e),
            e => mlsx_base::Error::Hook(Box::new(e)),
        }
    }
}

impl Error {
    /// This crate's error inside an engine error, if it is one.
    pub fn of(e: &mlsx_base::Error) -> Option<&Error> {
        e.hook_error::<Error>()
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
