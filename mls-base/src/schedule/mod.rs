//! Key schedule (RFC 9420 §8), PSKs (§8.4), transcript hashes (§8.2) and
//! the secret tree (§9).

mod key_schedule;
mod psk;
pub mod secret_tree;
mod transcript;

pub use key_schedule::*;
pub(crate) use key_schedule::{EpochSecretsState, LabeledSecret};
pub use psk::*;
pub use secret_tree::{RatchetType, SecretTree, SecretTreeConfig, StagedRatchet};
pub use transcript::*;
