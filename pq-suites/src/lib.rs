//! Post-quantum and PQ/T hybrid cipher suites for mlsx
//! (draft-ietf-mls-pq-ciphersuites-06).
//!
//! The eleven suites TBD1–TBD11 are assembled from components and plugged
//! into the engine through its general [`ComposedSuite`] hook; nothing in
//! `mlsx-base` knows about them.
//!
//! | component | module | specification |
//! |---|---|---|
//! | ML-KEM-768 / ML-KEM-1024 as HPKE KEMs 0x0041 / 0x0042 | [`mlkem`] | draft-ietf-hpke-pq §3, FIPS 203 |
//! | X-Wing (MLKEM768-X25519) 0x647a, MLKEM768-P256 0x0050, MLKEM1024-P384 0x0051 | [`hybrid`] | draft-ietf-hpke-pq §4, draft-irtf-cfrg-concrete-hybrid-kems |
//! | ML-DSA-44 / 65 / 87 signatures 0x0904 / 0x0905 / 0x0906 | [`mldsa`] | draft-ietf-tls-mldsa, FIPS 204 |
//! | the suites, code-point tables and profiles | [`suites`] | draft-ietf-mls-pq-ciphersuites §2 |
//! | the implementation of ML-KEM and ML-DSA underneath: RustCrypto, or libcrux (feature `libcrux`) | [`backend`] | — |
//!
//! No code points are assigned yet, so the suite ↔ code point map is a
//! run-time table ([`CodePoints`]); the default uses the private-use range
//! (TBDn → 0xF000 + n). A [`Profile`] pairs a table with the KEM key
//! derivation, so that mlsx can also speak to implementations that follow
//! older texts (see [`Profile::openmls_compat`]).
//!
//! ```
//! use mlsx_base::crypto::{CryptoProvider, LabeledCrypto};
//! use mlsx_pq_suites::{PqProvider, PqSuite, Profile};
//!
//! let provider = PqProvider::new(Profile::draft());
//! let code_point = provider.code_point(PqSuite::Tbd1).ok_or(mlsx_pq_suites::Error::NotMapped(PqSuite::Tbd1))?;
//! assert_eq!(code_point.value(), 0xF001);
//! let cs = provider.cipher_suite_provider(code_point).ok_or(mlsx_pq_suites::Error::NotMapped(PqSuite::Tbd1))?;
//! let (sk, pk) = cs.kem_generate_key_pair()?;
//! assert_eq!(pk.len(), 1216); // X-Wing
//! let ct = cs.encrypt_with_label(&pk, b"example", b"context", b"secret")?;
//! assert_eq!(cs.decrypt_with_label(&sk, b"example", b"context", &ct)?.as_bytes(), b"secret");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A whole group in a PQ suite (X-Wing KEM, ML-DSA-44 signatures):
//!
//! ```
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
//! use mlsx_pq_suites::PqSuite;
//!
//! let cs = PqSuite::Tbd9.provider()?;
//! let bob_kp = Identity::basic(cs.as_ref(), b"bob")?.key_package(cs.as_ref())?;
//! let mut alice = Group::create(cs.clone(), Identity::basic(cs.as_ref(), b"alice")?, b"pq".to_vec(), GroupConfig::default())?;
//! let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()]))?;
//! alice.merge_pending_commit()?;
//! let mut bob = Group::join(cs.clone(), out.welcome_message()?, bob_kp, None, GroupConfig::default())?;
//! let msg = alice.encrypt_application(b"post-quantum hello", b"")?;
//! assert!(matches!(bob.process_message(&msg)?, Received::Application { data, .. } if data == b"post-quantum hello"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`ComposedSuite`]: mlsx_base::crypto::rustcrypto::ComposedSuite

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod hybrid;
#[cfg(feature = "libcrux")]
mod libcrux_backend;
pub mod mldsa;
pub mod mlkem;
mod shake;
pub mod suites;

pub use backend::Backend;
pub use hybrid::HybridKem;
pub use mldsa::{MlDsa, Signing};
pub use mlkem::{KeyDerivation, MlKem};
pub use shake::labeled_derive;
pub use suites::{CodePoints, PqKem, PqProvider, PqSignature, PqSuite, Profile};

use mlsx_base::codec::CipherSuite;

/// Errors of this crate: configuration of code points and profiles.
/// Cryptographic failures surface as [`mlsx_base::error::CryptoError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No code-point preset or profile has this name.
    #[error("unknown preset {0:?}")]
    UnknownPreset(String),
    /// Two suites were given the same code point.
    #[error("code point {0:?} is given to two suites")]
    DuplicateCodePoint(CipherSuite),
    /// One suite was given two code points.
    #[error("{0:?} is given two code points")]
    DuplicateSuite(PqSuite),
    /// The code point belongs to one of RFC 9420's own suites (0x0001–0x0007).
    #[error("code point {0:?} is an RFC 9420 suite")]
    ReservedCodePoint(CipherSuite),
    /// The backend exists but this build does not have it (the `libcrux`
    /// feature is off).
    #[error("backend {0:?} is not in this build (enable the `libcrux` feature)")]
    BackendNotBuilt(String),
    /// The suite has no code point in the table in use.
    #[error("{0:?} has no code point in this table")]
    NotMapped(PqSuite),
}
