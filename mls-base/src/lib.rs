//! # mlsx-base
//!
//! The RFC 9420 Messaging Layer Security engine of mlsx: wire codec,
//! crypto provider boundary, key schedule, secret tree and framing, built
//! around extension hooks so that drafts plug in without changing it.
//!
//! ## Using it
//!
//! A member is an [`Identity`](group::Identity) (credential and signature
//! key) and, per group, a [`Group`](group::Group). Everything that goes on
//! the wire is an [`MlsMessage`](codec::MlsMessage); encode it with
//! [`codec::encode`] and decode it with [`codec::decode`]. Three members,
//! a commit, messages and saved state:
//!
//! ```
//! use mlsx_base::codec::{CipherSuite, decode, encode, MlsMessage};
//! use mlsx_base::crypto::{CryptoProvider, rustcrypto::RustCryptoProvider};
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
//!
//! let cs = RustCryptoProvider::new()
//!     .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
//!     .ok_or("suite not supported")?;
//!
//! // Bob and Carol publish KeyPackages; Alice creates the group, adds them.
//! let bob_kp = Identity::basic(cs.as_ref(), b"bob")?.key_package(cs.as_ref())?;
//! let carol_kp = Identity::basic(cs.as_ref(), b"carol")?.key_package(cs.as_ref())?;
//! let mut alice = Group::create(cs.clone(), Identity::basic(cs.as_ref(), b"alice")?, b"team".to_vec(), GroupConfig::default())?;
//! let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone(), carol_kp.key_package.clone()]))?;
//! alice.merge_pending_commit()?; // after the delivery service accepted the commit
//! let welcome: MlsMessage = decode(&encode(out.welcome_message()?)?)?; // over the wire
//! let mut bob = Group::join(cs.clone(), &welcome, bob_kp, None, GroupConfig::default())?;
//! let mut carol = Group::join(cs.clone(), &welcome, carol_kp, None, GroupConfig::default())?;
//!
//! // Bob updates his keys; the others follow his commit.
//! let commit = bob.commit(CommitOptions::default())?.commit;
//! bob.merge_pending_commit()?;
//! for member in [&mut alice, &mut carol] {
//!     let Received::Commit(staged) = member.process_message(&commit)? else { unreachable!() };
//!     member.merge_staged_commit(staged)?;
//! }
//!
//! // Application messages carry the sender's credential.
//! let msg = carol.encrypt_application(b"hello", b"")?;
//! if let Received::Application { data, sender_credential, .. } = alice.process_message(&msg)? {
//!     assert_eq!(data, b"hello");
//!     assert_eq!(alice.member_by_credential(&sender_credential), Some(carol.own_leaf()));
//! }
//!
//! // State survives a restart.
//! let saved = alice.save()?;
//! let alice = Group::load(cs.clone(), &saved, GroupConfig::default())?;
//! assert_eq!(alice.epoch_authenticator(), bob.epoch_authenticator());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The post-quantum suites are in the `mlsx-pq-suites` crate: a provider
//! from `mlsx_pq_suites::PqSuite::Tbd9.provider()?` (X-Wing with ML-DSA-44,
//! say) goes wherever `cs` goes above; its crate documentation has the
//! same example in a PQ suite.
//!
//! **Debug builds of your application:** the PQ suites (and to a lesser
//! degree P-521 and X448) are 30–75× slower unoptimised. Add this to your
//! `Cargo.toml` to optimise dependencies even in debug builds:
//!
//! ```toml
//! [profile.dev.package."*"]
//! opt-level = 2
//! ```
//!
//! Policies live in [`GroupConfig`](group::GroupConfig) (handshake
//! encryption, padding, past epochs kept, limits, the capability policy,
//! GREASE); extensions plug in through [`group::hooks`].
#![forbid(unsafe_code)]

pub mod codec;
pub mod crypto;
pub mod error;
pub mod framing;
pub mod group;
mod par;
pub mod schedule;
pub mod tree;

pub use error::{CryptoError, Error, MisuseError, PeerError, ProposalListError, Result, StateError};
