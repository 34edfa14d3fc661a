//! The one error type of the application API.

/// Everything that can go wrong in `mlsx-app`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The MLS engine refused (a message, a proposal, a state).
    #[error("mls: {0}")]
    Mls(#[from] mlsx_base::Error),
    /// The extensions layer refused.
    #[error("extensions: {0}")]
    Extensions(#[from] mlsx_extensions::Error),
    /// The hybrid combiner refused.
    #[error("hybrid session: {0}")]
    Combiner(#[from] mlsx_combiner::Error),
    /// A PQ suite could not be set up.
    #[error("pq suite: {0}")]
    PqSuite(#[from] mlsx_pq_suites::Error),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Another handle holds the store: one writer per store
    /// ([`crate::SqliteStore`]).
    #[error("storage: {0} is held by another handle (one writer per store)")]
    StoreInUse(String),
    /// A stored record does not decode.
    #[error("storage: corrupt record in {0}")]
    Corrupt(&'static str),
    /// The database was written by a newer mlsx.
    #[error("storage: schema version {found} is newer than this build's {supported}")]
    SchemaTooNew {
        /// In the file.
        found: i64,
        /// What this build knows.
        supported: i64,
    },
    /// Encoding or decoding a wire structure failed.
    #[error("codec: {0}")]
    Codec(String),
    /// Input that does not decode as what it should be (a message, a
    /// Welcome, a GroupInfo, a KeyPackage offer): garbage, truncated, or
    /// with bytes after its end. Not a peer's protocol violation: nothing
    /// was authenticated or processed, and the state is unchanged.
    #[error("malformed {what}: at byte {offset}, expected {expected}{}", found.as_ref().map(|f| format!(", found {f}")).unwrap_or_default())]
    Malformed {
        /// What the input should have been.
        what: &'static str,
        /// Where in the input decoding stopped.
        offset: usize,
        /// What was expected there.
        expected: String,
        /// What was there instead, when it says more than the offset.
        found: Option<String>,
    },
    /// A message for another epoch than its group's, and not for a past
    /// epoch whose keys are kept (RFC 9420 §6). In a hybrid session the
    /// epoch is that of the group named in `group` ("T" or "PQ"), while
    /// `visible` is the session's epoch as [`crate::Group::epoch`] shows
    /// it (the T group's).
    #[error("message is for epoch {message} of the {group} group, which is at epoch {current} (the group's epoch is {visible})")]
    WrongEpoch {
        /// "T", "PQ" (the two groups of a hybrid session), or "MLS" (a
        /// plain or extended group).
        group: &'static str,
        /// The message's epoch.
        message: u64,
        /// That group's current epoch.
        current: u64,
        /// The epoch [`crate::Group::epoch`] shows.
        visible: u64,
    },
    /// No such group in the store.
    #[error("no group {0} in this store")]
    UnknownGroup(String),
    /// The store holds no client ([`crate::Client::create`] makes one).
    #[error("no client in this store")]
    NoClient,
    /// The store already holds a client.
    #[error("this store already holds client {0}")]
    ClientExists(String),
    /// A Welcome names none of our KeyPackages.
    #[error("the Welcome is for none of our KeyPackages")]
    NoKeyPackageForWelcome,
    /// A member named in a command is not in the group.
    #[error("no member {0} in the group")]
    UnknownMember(String),
    /// An external PSK named in a command is not in the store.
    #[error("no PSK {0} in this store")]
    UnknownPsk(String),
    /// The store's client advertised components that are not registered
    /// now ([`crate::ClientBuilder`]): its groups may need them.
    #[error("the client in this store advertised components {0:04x?}, which are not registered")]
    MissingComponents(Vec<u16>),
    /// A component named in a call is not registered with this client.
    #[error("no component {0:#06x} is registered with this client")]
    UnknownComponent(u16),
    /// The message is for another group.
    #[error("the message is for group {found}, not {expected}")]
    WrongGroup {
        /// The group the message names.
        found: String,
        /// This group.
        expected: String,
    },
    /// An input of the wrong kind: a Welcome or GroupInfo that is not
    /// one, a hybrid Welcome for a plain KeyPackage, a message in a wire
    /// format the group does not use.
    #[error("{0}")]
    WrongInput(&'static str),
    /// The operation needs the other kind of group.
    #[error("{0}")]
    WrongKind(&'static str),
    /// An external commit to a group whose members have not opened it to
    /// external joins ([`crate::client::EXTERNAL_JOINS`]), and that is not
    /// the resync of a member's own leaf.
    #[error("this group is closed to external joins")]
    ExternalJoinsClosed,
    /// A commit that would put one name in two leaves of a group: names
    /// are how members know each other, so each is in a group once.
    #[error("the commit puts a name in the group twice")]
    DuplicateName,
    /// A commit of ours waits for the delivery service's answer.
    #[error("group {0} has a commit waiting for the delivery service's answer")]
    CommitPending(String),
    /// A group of ours whose stored state cannot be loaded: receipt stops
    /// before its messages, which stay queued (nothing of it is
    /// acknowledged).
    #[error("group {group} cannot be loaded ({reason}): its messages stay queued at the delivery service")]
    GroupUnavailable {
        /// The group.
        group: String,
        /// Why.
        reason: String,
    },
    /// The delivery service refused or failed.
    #[error("delivery service: {0}")]
    Ds(String),
    /// Reading or writing a file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration value is not usable.
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether the error refuses the input (a message, a Welcome, an
    /// offer), as opposed to a failure of storage, I/O or the service,
    /// after which the same input should be tried again.
    pub fn is_refusal(&self) -> bool {
        !matches!(self.family(), ErrorFamily::Storage | ErrorFamily::Service) && !matches!(self, Error::NoClient)
    }
}

/// What kind of failure an [`Error`] is, for applications and bindings
/// that handle errors by family (the table in the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorFamily {
    /// An input (a message, a Welcome, an offer, a commit of a peer) was
    /// refused: malformed, for another group or epoch, or against a rule
    /// of the protocol. The state is unchanged; drop the input.
    Protocol,
    /// The call cannot be done as asked (a pending commit, an unknown name,
    /// the wrong kind of group, a bad setting). The state is unchanged.
    Usage,
    /// The store failed or holds what cannot be read, or another handle
    /// holds it. Try again, or restore the store.
    Storage,
    /// The delivery service refused or failed.
    Service,
}

impl Error {
    /// The variant's name ("Malformed", "WrongEpoch", …), stable across
    /// versions, for logs and bindings.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Mls(_) => "Mls",
            Error::Extensions(_) => "Extensions",
            Error::Combiner(_) => "Combiner",
            Error::PqSuite(_) => "PqSuite",
            Error::Storage(_) => "Storage",
            Error::StoreInUse(_) => "StoreInUse",
            Error::Corrupt(_) => "Corrupt",
            Error::SchemaTooNew { .. } => "SchemaTooNew",
            Error::Codec(_) => "Codec",
            Error::Malformed { .. } => "Malformed",
            Error::WrongEpoch { .. } => "WrongEpoch",
            Error::UnknownGroup(_) => "UnknownGroup",
            Error::NoClient => "NoClient",
            Error::ClientExists(_) => "ClientExists",
            Error::NoKeyPackageForWelcome => "NoKeyPackageForWelcome",
            Error::UnknownMember(_) => "UnknownMember",
            Error::UnknownPsk(_) => "UnknownPsk",
            Error::MissingComponents(_) => "MissingComponents",
            Error::UnknownComponent(_) => "UnknownComponent",
            Error::WrongGroup { .. } => "WrongGroup",
            Error::WrongKind(_) => "WrongKind",
            Error::WrongInput(_) => "WrongInput",
            Error::ExternalJoinsClosed => "ExternalJoinsClosed",
            Error::DuplicateName => "DuplicateName",
            Error::CommitPending(_) => "CommitPending",
            Error::GroupUnavailable { .. } => "GroupUnavailable",
            Error::Ds(_) => "Ds",
            Error::Io(_) => "Io",
            Error::Config(_) => "Config",
        }
    }

    /// The error's family.
    pub fn family(&self) -> ErrorFamily {
        match self {
            Error::Mls(e) | Error::Extensions(mlsx_extensions::Error::Base(e)) | Error::Combiner(mlsx_combiner::Error::Base(e)) => {
                engine_family(e)
            }
            Error::Extensions(e) => match e {
                mlsx_extensions::Error::AlreadyExported(_)
                | mlsx_extensions::Error::ReservedComponent(_)
                | mlsx_extensions::Error::DuplicateComponent(_)
                | mlsx_extensions::Error::UnknownComponent(_)
                | mlsx_extensions::Error::NoExporterTree
                | mlsx_extensions::Error::NoPrivateKey => ErrorFamily::Usage,
                _ => ErrorFamily::Protocol,
            },
            Error::Combiner(_)
            | Error::Malformed { .. }
            | Error::WrongInput(_)
            | Error::WrongEpoch { .. }
            | Error::WrongGroup { .. }
            | Error::NoKeyPackageForWelcome
            | Error::ExternalJoinsClosed
            | Error::DuplicateName => ErrorFamily::Protocol,
            Error::Storage(_)
            | Error::StoreInUse(_)
            | Error::Corrupt(_)
            | Error::SchemaTooNew { .. }
            | Error::GroupUnavailable { .. }
            | Error::Io(_) => ErrorFamily::Storage,
            Error::Ds(_) => ErrorFamily::Service,
            Error::PqSuite(_)
            | Error::Codec(_)
            | Error::UnknownGroup(_)
            | Error::NoClient
            | Error::ClientExists(_)
            | Error::UnknownMember(_)
            | Error::UnknownPsk(_)
            | Error::MissingComponents(_)
            | Error::UnknownComponent(_)
            | Error::WrongKind(_)
            | Error::CommitPending(_)
            | Error::Config(_) => ErrorFamily::Usage,
        }
    }

    /// What the command-line tool adds to the error for its user: the
    /// command that gets past it. Library users act on the variant.
    pub fn cli_hint(&self) -> Option<&'static str> {
        Some(match self {
            Error::NoClient => "run `mlsx init` first",
            Error::UnknownPsk(_) => "add it with `mlsx psk add`",
            Error::ExternalJoinsClosed => "its members open it with `mlsx group external-joins … open`",
            Error::CommitPending(_) => "run `mlsx receive` first",
            _ => return None,
        })
    }
}

/// The family of an engine error: a peer's input refused, a wrong call, or
/// saved state that cannot be used.
fn engine_family(e: &mlsx_base::Error) -> ErrorFamily {
    match e {
        mlsx_base::Error::Misuse(_) | mlsx_base::Error::UnsupportedCipherSuite(_) => ErrorFamily::Usage,
        mlsx_base::Error::State(_) | mlsx_base::Error::Storage(_) => ErrorFamily::Storage,
        _ => ErrorFamily::Protocol,
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
