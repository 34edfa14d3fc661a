//! The amortized PQ MLS combiner (draft-ietf-mls-combiner, editor's copy):
//! a traditional (T) MLS group whose key schedule is fed, on every FULL
//! commit, from a post-quantum (PQ) MLS group with the same members, so that
//! the T group gets PQ confidentiality (and, in mode 1, PQ authenticity of
//! its key schedule) while PQ costs are paid only on FULL commits.
//!
//! Built on `mlsx-extensions`: APQInfo is component 0x0006 of both groups'
//! `app_data_dictionary`, changed through AppDataUpdate; `apq_psk` comes
//! from `SafeExportSecret(0x0006)` and enters the T group as an application
//! PSK; the two commits travel as one `APQMessagePair` (wire format 0x0007,
//! required in both groups through `required_wire_formats`).

#![deny(missing_docs)]

pub mod codec;
mod component;
mod error;
pub mod policy;
mod session;

pub use codec::{APQ_MESSAGE_PAIR, ApqInfo, ApqInfoUpdate, ApqMessagePair, Mode};
pub use error::Error;
pub use policy::{CommitKind, FullCommitPolicy, check_suites};
pub use session::{ApqClient, ApqCommitOutput, ApqIdentity, ApqKeyPackageBundles, ApqKeyPackages, ApqReceived, ApqSession, ApqSetup};
