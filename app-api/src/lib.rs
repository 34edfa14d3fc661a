//! # mlsx-app
//!
//! The application layer of mlsx: one [`Client`] and its [`Group`]
//! handles for plain RFC 9420 groups and hybrid PQ sessions, durable state
//! in SQLite ([`SqliteStore`]), the delivery service (`mlsx ds`) and the
//! `mlsx` command-line tool's logic.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod directory;
#[cfg(feature = "ds")]
pub mod ds;
pub mod error;
#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod store;
#[cfg(feature = "vectors")]
pub mod vectors;
pub mod wire;

pub use client::{
    AppChange, Client, ClientBuilder, ClientConfig, Event, Group, GroupInfo, GroupKind, GroupOptions, KeyPackageOffer, Outgoing,
    OutgoingKind, Recorder,
};
pub use error::{Error, Result};
/// The extensions draft's types a component is written with, so that an
/// application needs no other crate than this one.
pub use mlsx_base::crypto::Secret;
pub use mlsx_base::group::hooks::ExtensionContext;
pub use mlsx_extensions::{Component, ComponentId, ComponentKey, Origin, Rejection, safe_verify_with_label};
pub use store::{Batch, MemoryStore, SqliteGroupStorage, SqliteStore, Store, Table};
#[cfg(feature = "vectors")]
pub use vectors::{
    Totals, default_vector_folders, generate_combiner_vectors, generate_extension_vectors, generate_vectors, verify_vectors,
};
