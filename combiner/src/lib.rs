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
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::{CryptoProvider, rustcrypto::RustCryptoProvider};
//! use mlsx_combiner::{ApqClient, ApqReceived, ApqSetup, CommitKind, Mode};
//! use mlsx_pq_suites::PqSuite;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let t_cs = RustCryptoProvider::new().cipher_suite_provider(CipherSuite(1)).ok_or("suite 1")?;
//! let pq_cs = PqSuite::Tbd6.provider()?;                 // ML-KEM-768, Ed25519
//! let setup = ApqSetup::new(t_cs, pq_cs, Mode::ConfidentialityOnly)?;
//!
//! // Alice creates the session (PQ group, T group, first FULL commit) and
//! // adds Bob in both groups with one FULL commit.
//! let mut alice = ApqClient::new(setup.clone(), b"alice")?.create_session(b"T".to_vec(), b"PQ".to_vec())?;
//! let bob_client = ApqClient::new(setup.clone(), b"bob")?;
//! let (bob_kps, bob_secrets) = bob_client.key_packages()?;
//! let out = alice.add(vec![bob_kps])?;
//! alice.confirm()?;                                      // the DS took the pair
//! let mut bob = bob_client.join(&out.welcome.ok_or("welcome")?, bob_secrets)?;
//!
//! // Bob's first commit is FULL (§3.2: a joiner refreshes its PQ keys);
//! // then cheap PARTIAL commits (T group only).
//! let out = bob.full_commit(vec![], vec![])?;
//! assert_eq!(out.kind, CommitKind::Full);
//! bob.confirm()?;
//! assert!(matches!(alice.process(&out.message)?, ApqReceived::Full { .. }));
//! let out = alice.partial_commit(vec![])?;
//! alice.confirm()?;
//! assert!(matches!(bob.process(&out.message)?, ApqReceived::Partial));
//!
//! // Application messages travel in the T group, keyed from the PQ group.
//! let msg = alice.encrypt_application(b"hello", b"")?;
//! let ApqReceived::Application { data, .. } = bob.process(&msg)? else { unreachable!() };
//! assert_eq!(data, b"hello");
//! assert_eq!(alice.t_group().epoch_authenticator(), bob.t_group().epoch_authenticator());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod codec;
mod component;
mod error;
mod observer;
pub mod policy;
mod session;

pub use codec::{APQ_MESSAGE_PAIR, ApqInfo, ApqInfoUpdate, ApqMessagePair, Mode};
pub use error::Error;
pub use observer::{ApqObserved, ApqObserver};
pub use policy::{CommitKind, FullCommitPolicy, check_suites};
pub use session::register_syntax;
pub use session::{
    ApqClient, ApqCommitOutput, ApqIdentity, ApqKeyPackageBundles, ApqKeyPackages, ApqReceived, ApqSession, ApqSetup, PairHandler,
    UpgradableGroup, UpgradeOutput,
};
