//! Resource limits: how much a peer or a Delivery Service can make a group
//! hold or process. Decoding never allocates more than its input (lengths
//! are checked against the bytes present); these limits bound what
//! well-formed input can still ask for.

use crate::error::{Error, PeerError};

/// What a [`Limits`] field bounds, reported by [`PeerError::LimitExceeded`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// The encoded size of a message, Welcome or GroupInfo, in bytes.
    MessageSize,
    /// The number of leaves of a ratchet tree.
    Leaves,
    /// The proposals in one commit, or cached in one epoch.
    Proposals,
    /// The extensions in one list (GroupContext, GroupInfo, LeafNode,
    /// KeyPackage).
    Extensions,
    /// The PSKs named by one commit or Welcome.
    Psks,
}

/// Resource limits of a group (part of `GroupConfig`). Past-epoch
/// retention and the out-of-order window are `GroupConfig::max_past_epochs`
/// and `GroupConfig::secret_tree`.
///
/// ```
/// use mlsx_base::group::{GroupConfig, Limits};
/// let config = GroupConfig {
///     limits: Limits { max_leaves: 1_000, ..Limits::default() },
///     ..GroupConfig::default()
/// };
/// assert_eq!(config.limits.max_extensions, 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest encoded MLSMessage, Welcome or GroupInfo (with its tree)
    /// accepted, in bytes. Default 128 MiB: a Welcome with the ratchet
    /// tree of 10,000 members is 3.3 MB in suite 0x0001, 26 MB with
    /// ML-KEM-768 and 78 MB with ML-KEM-768 and ML-DSA-65 (TBD10), the
    /// heaviest signatures (ML-DSA-87, TBD11) about 110 MB
    /// (`BENCHMARKS.md`, "PQ MLS at scale").
    pub max_message_size: usize,
    /// Largest tree, in leaves, that a join or a commit may produce.
    /// Default 2^20.
    pub max_leaves: u32,
    /// Most proposals in one commit, and most proposals cached in one
    /// epoch. Default 100,000 (adding 10,000 members in one commit is
    /// 10,000 proposals).
    pub max_proposals: usize,
    /// Most extensions in one extension list. Default 64.
    pub max_extensions: usize,
    /// Most PSKs in one commit or Welcome. Default 32.
    pub max_psks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 128 << 20,
            max_leaves: 1 << 20,
            max_proposals: 100_000,
            max_extensions: 64,
            max_psks: 32,
        }
    }
}

impl Limits {
    /// `Ok` when `value` is within the limit for `limit`.
    pub fn check(&self, limit: Limit, value: usize) -> Result<(), Error> {
        let max = match limit {
            Limit::MessageSize => self.max_message_size,
            Limit::Leaves => self.max_leaves as usize,
            Limit::Proposals => self.max_proposals,
            Limit::Extensions => self.max_extensions,
            Limit::Psks => self.max_psks,
        };
        if value > max {
            return Err(PeerError::LimitExceeded { limit, value, max }.into());
        }
        Ok(())
    }
}
