//! # mlsx-app
//!
//! The application layer of mlsx: one [`Client`] and its [`Group`]
//! handles for plain RFC 9420 groups, extended groups
//! (draft-ietf-mls-extensions, with the application's own
//! [`Component`]s) and hybrid PQ sessions (draft-ietf-mls-combiner), with
//! durable state in SQLite ([`SqliteStore`]) or memory ([`MemoryStore`]).
//! With its default features it also holds the delivery service (`ds`),
//! its client (`remote`), the simulator and the `mlsx` tool's logic.
//!
//! ## A hybrid session on SQLite
//!
//! Every call that changes a group writes it to the client's store in one
//! transaction before it returns. A commit is applied optimistically and
//! kept with the state before it until the delivery service takes it
//! ([`Group::accepted`]) or refuses it ([`Group::refused`]).
//!
//! ```
//! use mlsx_app::{Client, ClientConfig, Event, GroupKind, SqliteStore};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let dir = std::env::temp_dir().join(format!("mlsx-example-{}", std::process::id()));
//!     std::fs::create_dir_all(&dir)?;
//!     let store = |name: &str| SqliteStore::open(&dir.join(format!("{name}.db")));
//!
//!     // Two clients, each with its keys and state in its own file.
//!     let mut alice = Client::create(Box::new(store("alice")?), ClientConfig::new("alice"))?;
//!     let mut bob = Client::create(Box::new(store("bob")?), ClientConfig::new("bob"))?;
//!     // Bob's KeyPackage pair, as the delivery service would hand it out.
//!     let bob_offer = bob.key_packages(GroupKind::Hybrid, 1, false)?.remove(0);
//!
//!     // A hybrid session: a traditional group keyed also by a PQ group.
//!     let mut group = alice.create_group(b"team", GroupKind::Hybrid)?;
//!     let add = group.add(&[bob_offer])?; // a FULL commit and a Welcome pair
//!     group.accepted()?; // the delivery service took the commit
//!     let (id, _) = bob.join(add.welcome.as_deref().ok_or("no Welcome")?)?;
//!
//!     // An update (PARTIAL or FULL, as the session's policy says), then a message.
//!     let update = group.update(false)?;
//!     group.accepted()?;
//!     let hello = group.send(b"hello")?;
//!     drop(group);
//!
//!     let mut at_bob = bob.group(&id)?;
//!     let events = at_bob.process(&update.message)?;
//!     assert!(matches!(&events[0], Event::EpochChanged { kind, .. } if kind == "PARTIAL" || kind == "FULL"));
//!     let events = at_bob.process(&hello.message)?;
//!     assert!(matches!(&events[0], Event::Message { sender, data, .. } if sender == "alice" && data == b"hello"));
//!     drop(at_bob);
//!
//!     // Garbage is refused and changes nothing.
//!     assert!(matches!(bob.group(&id)?.process(b"garbage"), Err(mlsx_app::Error::Malformed { .. })));
//!
//!     // After a restart, Bob's state comes back from his file.
//!     drop(bob);
//!     let mut bob = Client::open(Box::new(store("bob")?))?;
//!     assert_eq!(bob.group(&id)?.info()?.epoch_authenticator, alice.group(b"team")?.info()?.epoch_authenticator);
//!
//!     drop((alice, bob));
//!     std::fs::remove_dir_all(&dir)?;
//!     Ok(())
//! }
//! ```
//!
//! ## An extended group with the application's own component
//!
//! A [`Component`] (draft-ietf-mls-extensions §4.1) is registered once
//! with a [`ClientBuilder`], which installs it in every group of the
//! client and returns its [`ComponentKey`]. Through [`Group`] it keeps
//! GroupContext data (AppDataUpdate, [`Group::update_app_data`]), sends
//! data with a commit (AppEphemeral, [`Group::send_app_ephemeral`]),
//! authenticates items with messages (SafeAAD, [`Group::send_with_aad`])
//! and derives its own secret ([`Group::safe_export_secret`]). What the
//! component refuses on receipt it also refuses on send, with the same
//! error, before anything leaves.
//!
//! ```
//! use std::sync::Arc;
//! use mlsx_app::client::GroupOptions;
//! use mlsx_app::{ClientBuilder, ClientConfig, Component, Event, GroupKind, MemoryStore, Origin, Rejection};
//!
//! const COUNTER: u16 = 0x8001; // a private-use component id
//!
//! /// A counter every member keeps in the group's app data dictionary, read
//! /// receipts as AppEphemeral data, and a SafeAAD tag of at most 8 bytes.
//! #[derive(Debug)]
//! struct Counter;
//!
//! impl Component for Counter {
//!     fn id(&self) -> u16 {
//!         COUNTER
//!     }
//!     fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
//!         let mut n = current.and_then(|c| c.first().copied()).unwrap_or(0);
//!         for (update, _) in updates {
//!             let [d] = update else { return Err(Rejection::new("an update is one byte")) };
//!             n = n.checked_add(*d).ok_or(Rejection::new("overflow"))?;
//!         }
//!         Ok(vec![n])
//!     }
//!     fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
//!         if data.starts_with(b"read:") { Ok(()) } else { Err(Rejection::new("not a receipt")) }
//!     }
//!     fn uses_safe_aad(&self) -> bool {
//!         true
//!     }
//!     fn check_aad_item(&self, item: &[u8]) -> Result<(), Rejection> {
//!         if item.len() <= 8 { Ok(()) } else { Err(Rejection::new("a tag is at most 8 bytes")) }
//!     }
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Each client installs the component once; its key is the only one.
//!     let client = |name: &str| -> mlsx_app::Result<_> {
//!         let mut builder = ClientBuilder::new();
//!         let key = builder.component(Arc::new(Counter))?;
//!         Ok((builder.create(Box::new(MemoryStore::new()), ClientConfig::new(name))?, key))
//!     };
//!     let (mut alice, alice_key) = client("alice")?;
//!     let (mut bob, bob_key) = client("bob")?;
//!
//!     // Every member must support the component, and its SafeAAD items.
//!     let options = GroupOptions::default().require_components(&[COUNTER]).require_safe_aad(&[COUNTER]);
//!     let mut group = alice.create_group_with(b"team", GroupKind::Extended, &options)?;
//!     let add = group.add(&[bob.key_packages(GroupKind::Extended, 1, false)?.remove(0)])?;
//!     group.accepted()?;
//!     bob.join(add.welcome.as_deref().ok_or("no Welcome")?)?;
//!
//!     // AppDataUpdate: each member's component computes the new entry.
//!     let bump = group.update_app_data(COUNTER, &[5])?;
//!     group.accepted()?;
//!     // AppEphemeral: data for one commit.
//!     let receipt = group.send_app_ephemeral(COUNTER, b"read:42")?;
//!     group.accepted()?;
//!     // SafeAAD: our own component checks the item before it is sent.
//!     assert!(group.send_with_aad(b"hi", &[(COUNTER, b"far too long".to_vec())]).is_err());
//!     let hi = group.send_with_aad(b"hi", &[(COUNTER, b"tag".to_vec())])?;
//!     // SafeExportSecret: once per epoch, for this component only.
//!     let secret = group.safe_export_secret(&alice_key)?;
//!     drop(group);
//!
//!     let mut at_bob = bob.group(b"team")?;
//!     assert!(at_bob.process(&bump.message)?.contains(&Event::AppDataChanged { component: COUNTER }));
//!     assert_eq!(at_bob.app_data(COUNTER)?, Some(vec![5]));
//!     let events = at_bob.process(&receipt.message)?;
//!     assert!(events.iter().any(|e| matches!(e, Event::AppEphemeral { data, .. } if data == b"read:42")));
//!     let events = at_bob.process(&hi.message)?;
//!     assert!(matches!(&events[0], Event::Message { safe_aad, .. } if safe_aad[..] == [(COUNTER, b"tag".to_vec())]));
//!     assert_eq!(at_bob.safe_export_secret(&bob_key)?, secret);
//!     Ok(())
//! }
//! ```
//!
//! ## Errors
//!
//! One type, [`Error`]. A refused input or call never changes the
//! client's state: the group stays as it was, in memory and in the store
//! ([`Error::is_refusal`] tells a refusal from a failure to try again).
//! [`Error::family`] sorts the kinds into [`ErrorFamily::Protocol`] (an
//! input refused), [`ErrorFamily::Usage`] (a call that cannot be done),
//! [`ErrorFamily::Storage`] and [`ErrorFamily::Service`];
//! [`Error::kind`] names the variant.
//!
//! | Kind | What it means | State changed | What to do |
//! |---|---|---|---|
//! | [`Error::Malformed`] | The input does not decode as what it should be (garbage, truncated, bytes after its end); `offset` says where, `expected` what. Nothing was authenticated. | no | Drop it. |
//! | [`Error::WrongInput`] | An input of the wrong kind: not a Welcome or GroupInfo, a hybrid Welcome for a plain KeyPackage, a wire format the group does not use. | no | Drop it. |
//! | [`Error::WrongGroup`] | A message for another group; `found` and `expected` name both. | no | Route it to the group it names. |
//! | [`Error::WrongEpoch`] | A message of an epoch this group is not at and keeps no keys for; in a hybrid session `group` says "T" or "PQ", and `visible` is the epoch [`Group::epoch`] shows. | no | A later epoch: process the commits before it first. An earlier one: drop it. |
//! | [`Error::Mls`] | The engine refused: a peer broke a rule of RFC 9420 ([`mlsx_base::PeerError`]), a call was wrong ([`mlsx_base::MisuseError`]), or saved state cannot be used ([`mlsx_base::StateError`], family Storage). | no | Drop the message; report the sender if it persists. |
//! | [`Error::Extensions`] | A component or a rule of draft-ietf-mls-extensions refused (on receipt, or the same check on send). | no | Drop the message, or fix the data before sending. |
//! | [`Error::Combiner`] | The hybrid session refused (a pair that does not match, a lone PQ message, …). | no | Drop the message. |
//! | [`Error::CommitPending`] | A commit of ours waits for the delivery service's answer. | no | Call [`Group::accepted`] or [`Group::refused`] first. |
//! | [`Error::WrongKind`] | The call needs another kind of group (plain, extended, hybrid). | no | Use a group of that kind. |
//! | [`Error::UnknownGroup`], [`Error::UnknownMember`], [`Error::UnknownPsk`], [`Error::UnknownComponent`] | The group, member, PSK or component named is not there. | no | Check the name. |
//! | [`Error::NoKeyPackageForWelcome`] | The Welcome names none of our KeyPackages. | no | It is for someone else, or the KeyPackage was used. |
//! | [`Error::ExternalJoinsClosed`], [`Error::DuplicateName`] | A commit the group's rules refuse (an external join to a closed group, a name in two leaves). | no | Drop it. |
//! | [`Error::NoClient`], [`Error::ClientExists`], [`Error::MissingComponents`] | The store holds no client, already holds one, or its client advertised components not registered now. | no | [`Client::create`], [`Client::open`], or register the components with [`ClientBuilder`]. |
//! | [`Error::StoreInUse`] | Another handle holds the store (one writer per store). | no | Close the other handle, or wait for it. |
//! | [`Error::Storage`], [`Error::Io`] | Writing or reading the store failed. | no (the write is one transaction; the group goes back to what the store holds) | Try again. |
//! | [`Error::Corrupt`], [`Error::SchemaTooNew`], [`Error::GroupUnavailable`] | Stored data that cannot be read (damaged, or from a newer mlsx). | no | Restore the store, or use a newer mlsx. |
//! | [`Error::Config`], [`Error::PqSuite`], [`Error::Codec`] | A setting or argument that cannot be used; a structure of ours that does not encode. | no | Fix the call. |
//! | [`Error::Ds`] | The delivery service refused or failed (`remote`). | no | See its message; try again if it failed. |
//!
//! The tests make them through the library alone: `tests/errors.rs`
//! (malformed input, wrong group and epoch, engine refusals, closed
//! groups, misuse, one writer per store), `tests/components.rs` (component
//! refusals on send and receipt, missing and unknown components) and the
//! stores' own tests (a newer schema). The command-line tool adds its own
//! hints ([`Error::cli_hint`]).
//!
//! ## Cargo features
//!
//! | Feature | What it adds |
//! |---|---|
//! | `libcrux` (default) | The PQ suites on libcrux as well as RustCrypto. |
//! | `ds` | The delivery service (axum, tokio, hyper, rustls, PostgreSQL). |
//! | `remote` | The delivery service's client (ureq). |
//! | `simulate` | The simulator (rayon, plotters). |
//! | `vectors` | The vector runners. |
//! | `cli` (default) | All of the above and the `mlsx` tool (clap). |
//!
//! A library user takes `default-features = false` (and `libcrux` if
//! wanted): `Client`, `Group`, the stores and the components, with no HTTP
//! server or client, async runtime, command-line parser or vector runner.
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
mod input;
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
pub use error::{Error, ErrorFamily, Result};
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

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    /// The README's example of this crate is the first example of these
    /// docs, which runs as a doc test: the README's code cannot rot.
    #[test]
    fn the_readme_example_is_the_crate_docs_example() {
        let readme = include_str!("../../README.md");
        let start = readme.find("<!-- mlsx-app example -->").expect("the README marks its example");
        let code = readme[start..]
            .split("```rust\n")
            .nth(1)
            .and_then(|r| r.split("\n```").next())
            .expect("a rust block");
        let docs: String = include_str!("lib.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .map(|l| l.strip_prefix(' ').unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            docs.contains(code),
            "README.md's mlsx-app example differs from the crate docs' first example"
        );
    }
}
