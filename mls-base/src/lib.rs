//! # mlsx-base
//!
//! The RFC 9420 Messaging Layer Security engine of mlsx: wire codec,
//! crypto provider boundary, key schedule, secret tree and framing, built
//! around extension hooks so that drafts plug in without changing it.
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
