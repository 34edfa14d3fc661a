//! The delivery service's state, behind one boundary: the service's
//! checks live in [`crate::ds`], what it keeps lives behind [`Storage`]
//! and its transactions ([`Tx`]).
//!
//! Two implementations, with the same behaviour (one test suite runs
//! against both, `app-api/tests/ds.rs` and `hostile_clients.rs`):
//! - [`sqlite`]: one file, one process, the embedded default
//!   (`mlsx ds --db ds.db`);
//! - [`postgres`]: any number of service processes on one PostgreSQL
//!   database (`mlsx ds --db postgres://…`). The database decides what
//!   one process's memory decided before: which commit takes an epoch (a
//!   per-group lock and the `commit_epoch` key), the order of each
//!   client's queue (a per-recipient lock, so that queue ids grow in the
//!   order transactions commit), and the quotas. Long-polls are woken
//!   across processes by `LISTEN/NOTIFY`.
//!
//! Every request is one transaction ([`Storage::begin`], [`Tx::commit`]);
//! a transaction dropped without commit is rolled back.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

pub mod postgres;
pub mod sqlite;

/// What a storage failure means for the request that met it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database cannot be reached (down, restarting, out of
    /// connections): the service answers 503 and the client tries again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The transaction lost a race the database detected (a deadlock, a
    /// serialization failure): the service runs the request again.
    #[error("storage conflict: {0}")]
    Retry(String),
    /// Anything else: a bug or a damaged database (500).
    #[error("storage: {0}")]
    Failed(String),
}

/// A result of the storage.
pub type R<T> = Result<T, StorageError>;

/// Where the service keeps its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file, for one service process.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://user@host:port/db`),
    /// for one or more service processes.
    Postgres(String),
}

impl Database {
    /// `postgres://…` or `postgresql://…` is a PostgreSQL database; any
    /// other text is the path of an SQLite file.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Self::Postgres(s.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(s))
        }
    }

    /// Opens it, creating or migrating its schema.
    pub fn open(&self) -> crate::Result<Arc<dyn Storage>> {
        Ok(match self {
            Self::Sqlite(path) => Arc::new(sqlite::Sqlite::open(path)?),
            Self::Postgres(url) => Arc::new(postgres::Postgres::open(url)?),
        })
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "{}", p.display()),
            // Never the password.
            Self::Postgres(url) => match url.parse::<::postgres::Config>() {
                Ok(c) => write!(
                    f,
                    "PostgreSQL database {} as {}",
                    c.get_dbname().unwrap_or("(default)"),
                    c.get_user().unwrap_or("(default user)")
                ),
                Err(_) => write!(f, "a PostgreSQL database"),
            },
        }
    }
}

/// A wake-up callback: `Some(name)` wakes that client's long-polls, `None`
/// every long-poll of this process (after a missed stretch of wake-ups).
pub type WakeFn = Arc<dyn Fn(Option<&str>) + Send + Sync>;

/// The service's state.
pub trait Storage: Send + Sync {
    /// Starts a transaction.
    fn begin(&self) -> R<Box<dyn Tx + '_>>;
    /// Starts a read of one statement, which needs no transaction of its
    /// own (a token's client, a queue's entries): fewer round trips to a
    /// database server. It must not write.
    fn read(&self) -> R<Box<dyn Tx + '_>> {
        self.begin()
    }
    /// Delivers the wake-ups other service processes send ([`Tx::notify`])
    /// to `wake`, until `alive` says to stop. A single-process storage
    /// has none to deliver.
    fn listen(&self, wake: WakeFn, alive: Arc<dyn Fn() -> bool + Send + Sync>);
}

/// A message kept in a group's log.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// The group.
    pub group_id: &'a [u8],
    /// The epoch it was sent in.
    pub epoch: i64,
    /// `commit`, `message` or `welcome`.
    pub kind: &'a str,
    /// Its poster.
    pub sender: &'a str,
    /// SHA-256 of `body`.
    pub digest: &'a [u8],
    /// The message.
    pub body: &'a [u8],
    /// A SelfRemove proposal (kept for the external joiners of its epoch).
    pub self_remove: bool,
}

/// A KeyPackage offer as stored.
#[derive(Debug)]
pub struct StoredOffer<'a> {
    /// Its owner.
    pub owner: &'a str,
    /// Its kind byte ([`crate::client::kind_byte`]).
    pub kind: i64,
    /// A last-resort KeyPackage: kept when handed out.
    pub last_resort: bool,
    /// The offer's bytes.
    pub body: &'a [u8],
    /// Its traditional suite.
    pub t_suite: u16,
    /// Its PQ suite (0: none).
    pub pq_suite: u16,
}

/// A queue entry with its log entry.
#[derive(Debug)]
pub struct QueuedMessage {
    /// The queue id (a client reads after it and acknowledges up to it).
    pub id: i64,
    /// The group.
    pub group_id: Vec<u8>,
    /// `commit`, `message` or `welcome`.
    pub kind: String,
    /// Its poster.
    pub sender: String,
    /// Its epoch.
    pub epoch: i64,
    /// The message.
    pub body: Vec<u8>,
}

/// One transaction on the service's state. Dropped without
/// [`Tx::commit`], it is rolled back.
pub trait Tx {
    /// Makes the transaction's writes durable, or fails and keeps none.
    fn commit(self: Box<Self>) -> R<()>;

    /// Holds the group's lock until the transaction ends: requests on one
    /// group are ordered, whichever process serves them.
    fn lock_group(&mut self, group_id: &[u8]) -> R<()>;
    /// Holds `name`'s lock until the transaction ends: the counts of what
    /// it has (keys, KeyPackages, groups) are read and changed by one
    /// request at a time. Taken after a group's lock, never before.
    fn lock_client(&mut self, name: &str) -> R<()>;
    /// Holds the queue locks of these clients until the transaction ends,
    /// so that their queue ids grow in commit order, and answers the
    /// length of each one's queue (`None`: no such client), in order.
    /// Called once per transaction, before [`Tx::enqueue`].
    fn lock_queues(&mut self, names: &[&str]) -> R<Vec<Option<i64>>>;

    // Clients and the directory of their keys.

    /// The client whose token has this SHA-256.
    fn client_of_token(&mut self, token_hash: &[u8]) -> R<Option<String>>;
    /// Registers a client; `false` if the name is taken.
    fn insert_client(&mut self, name: &str, token_hash: &[u8], signature_key: &[u8], now: i64) -> R<bool>;
    /// The length of a client's queue, `None` if there is no such client.
    fn queue_depth(&mut self, name: &str) -> R<Option<i64>>;
    /// Binds `key` to `name` for `suite` as its current key (any other
    /// key of that suite is rotated out).
    fn bind_key(&mut self, name: &str, suite: u16, key: &[u8], now: i64) -> R<()>;
    /// Whether `key` is bound to `name` for `suite` (or for every suite,
    /// a key from before keys had suites), as a current key if `current`.
    fn key_is_bound(&mut self, name: &str, suite: u16, key: &[u8], current: bool) -> R<bool>;
    /// `name`'s current key for exactly `suite`.
    fn current_key(&mut self, name: &str, suite: u16) -> R<Option<Vec<u8>>>;
    /// Whether `key` was ever bound to `name` for exactly `suite`.
    fn key_was_bound(&mut self, name: &str, suite: u16, key: &[u8]) -> R<bool>;
    /// The number of keys ever bound to `name`.
    fn key_count(&mut self, name: &str) -> R<i64>;
    /// `name`'s keys: suite, key and whether it is current, by suite and
    /// age.
    fn keys(&mut self, name: &str) -> R<Vec<(u16, Vec<u8>, bool)>>;
    /// The bytes `name` has stored (the quota).
    fn stored_bytes(&mut self, name: &str) -> R<i64>;

    // The KeyPackage directory.

    /// The number of offers `owner` has stored.
    fn offer_count(&mut self, owner: &str) -> R<i64>;
    /// Stores an offer.
    fn insert_offer(&mut self, offer: &StoredOffer<'_>) -> R<()>;
    /// Takes one of `owner`'s offers of `kind` (in these suites): the
    /// oldest ordinary one, deleted; else a last-resort one, kept.
    fn take_offer(&mut self, owner: &str, kind: i64, t_suite: Option<u16>, pq_suite: Option<u16>) -> R<Option<Vec<u8>>>;

    // Group logs and commit ordering.

    /// The log position of the commit with this digest, if it took the
    /// epoch.
    fn commit_seq(&mut self, group_id: &[u8], epoch: i64, digest: &[u8]) -> R<Option<i64>>;
    /// The log position of the message (not a commit) `sender` posted
    /// with this digest, while the log holds it.
    fn logged(&mut self, group_id: &[u8], sender: &str, digest: &[u8]) -> R<Option<i64>>;
    /// Whether a commit took the epoch.
    fn epoch_taken(&mut self, group_id: &[u8], epoch: i64) -> R<bool>;
    /// The last epoch a commit took.
    fn last_commit_epoch(&mut self, group_id: &[u8]) -> R<Option<i64>>;
    /// Records the commit that took the epoch; `false` if another did.
    fn take_epoch(&mut self, group_id: &[u8], epoch: i64, digest: &[u8], seq: i64) -> R<bool>;
    /// Forgets the commits of epochs up to `epoch`.
    fn forget_commits(&mut self, group_id: &[u8], epoch: i64) -> R<()>;
    /// Appends to the log: the entry's position.
    fn append(&mut self, entry: &LogEntry<'_>) -> R<i64>;
    /// Deletes a log entry.
    fn delete_entry(&mut self, seq: i64) -> R<()>;
    /// Deletes the SelfRemoves of epochs up to `epoch` no queue holds.
    fn drop_self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<()>;
    /// The SelfRemoves of an epoch, in order.
    fn self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<Vec<Vec<u8>>>;

    // Membership: who may post.

    /// Whether the group has members, and whether `name` is one.
    fn membership(&mut self, group_id: &[u8], name: &str) -> R<(bool, bool)>;
    /// The group's members.
    fn members(&mut self, group_id: &[u8]) -> R<BTreeSet<String>>;
    /// Adds a member (no change if it is one).
    fn add_member(&mut self, group_id: &[u8], name: &str) -> R<()>;
    /// Removes a member.
    fn remove_member(&mut self, group_id: &[u8], name: &str) -> R<()>;
    /// Replaces the group's members.
    fn set_members(&mut self, group_id: &[u8], names: &BTreeSet<String>) -> R<()>;

    // Observers of the groups the service follows.

    /// A group's observer: its kind and state.
    fn observer(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>>;
    /// Whether the service follows the group.
    fn followed(&mut self, group_id: &[u8]) -> R<bool>;
    /// Stores a group's observer (its introducer is kept from the first
    /// time).
    fn store_observer(&mut self, group_id: &[u8], kind: i64, state: &[u8], introducer: &str) -> R<()>;
    /// The number of groups `name` introduced.
    fn groups_introduced(&mut self, name: &str) -> R<i64>;

    // GroupInfos.

    /// Stores a group's GroupInfo; if `forward_only`, not over one of a
    /// later epoch.
    fn put_group_info(&mut self, group_id: &[u8], epoch: i64, body: &[u8], forward_only: bool) -> R<()>;
    /// A group's GroupInfo and its epoch.
    fn group_info(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>>;

    // Queues.

    /// Queues the log entry `seq` for each of `names`.
    fn enqueue(&mut self, seq: i64, names: &[&str]) -> R<()>;
    /// `name`'s queue after `after`: at most `limit` entries, and no more
    /// than `max_bytes` of bodies once there is one.
    fn deliveries(&mut self, name: &str, after: i64, limit: i64, max_bytes: usize) -> R<Vec<QueuedMessage>>;
    /// Acknowledges `name`'s queue up to `upto`: the number of entries,
    /// and the log entries no queue holds any more leave the log (but a
    /// SelfRemove of an epoch that has no commit yet).
    fn ack(&mut self, name: &str, upto: i64) -> R<usize>;
    /// Wakes these clients' long-polls in the other service processes
    /// once the transaction commits.
    fn notify(&mut self, names: &[&str]) -> R<()>;
}

/// Splits names into payloads of at most `max` bytes, one name per line
/// (names hold no control characters: [`crate::directory::MAX_NAME`]).
pub(crate) fn wake_payloads(names: &[&str], max: usize) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for n in names {
        match out.last_mut() {
            Some(p) if p.len() + 1 + n.len() <= max => {
                p.push('\n');
                p.push_str(n);
            }
            _ => out.push((*n).to_owned()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Database;

    #[test]
    fn a_database_is_a_url_or_a_path_and_its_password_is_not_shown() {
        let pg = Database::parse("postgres://mlsx:s3cret@db.example:5432/service");
        assert_eq!(pg, Database::Postgres("postgres://mlsx:s3cret@db.example:5432/service".into()));
        let shown = pg.to_string();
        assert!(
            !shown.contains("s3cret") && shown.contains("service") && shown.contains("mlsx"),
            "{shown}"
        );
        assert!(matches!(Database::parse("postgresql://h/d"), Database::Postgres(_)));
        // A file whose name merely starts like a scheme is a file.
        assert_eq!(Database::parse("postgres.db"), Database::Sqlite("postgres.db".into()));
        assert_eq!(Database::parse("./ds.db").to_string(), "./ds.db");
    }

    #[test]
    fn wake_payloads_split_at_the_limit() {
        let names = ["a", "bb", "ccc", "dddd"];
        assert_eq!(super::wake_payloads(&names, 6), vec!["a\nbb", "ccc", "dddd"]);
        assert_eq!(super::wake_payloads(&names, 100), vec!["a\nbb\nccc\ndddd"]);
        assert!(super::wake_payloads(&[], 10).is_empty());
    }
}
