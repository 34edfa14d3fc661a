//! Durable state: the [`Store`] trait, its SQLite backend and an in-memory
//! backend for tests.
//!
//! A store is a set of tables of byte records; every change the client
//! makes is one [`Batch`], written in one transaction, so that an epoch
//! transition (a group's new state, the KeyPackage a Welcome consumed, the
//! queue position of the message that caused it) is on disk entirely or
//! not at all. A hybrid session's two groups are one record
//! ([`mlsx_combiner::ApqSession::save`]), so a FULL commit moves both in
//! the same write.
//!
//! The SQLite backend runs with `secure_delete` on and a rollback journal
//! (not WAL, whose log would keep old pages beside the file): a record
//! that is replaced or deleted is overwritten with zeros in the database
//! file, so the secrets of past epochs and used KeyPackages are gone from
//! its bytes once the transaction commits, not merely unreachable. The
//! journal holds the pages a transaction changes until it commits and is
//! then deleted, not overwritten: like any deleted file, its blocks may
//! survive on the disk until reused (full-disk encryption covers that).

use std::collections::BTreeMap;
use std::path::Path;

use mlsx_base::group::GroupStorage;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The tables of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    /// The client's settings (name, suites, delivery service).
    Meta,
    /// Signature keys and credentials, by suite.
    Identity,
    /// Our KeyPackages with their private keys, by KeyPackageRef.
    KeyPackage,
    /// Group states, by group id: the current epoch, and while a commit of
    /// ours waits for the delivery service, the state it leads to.
    Group,
    /// External PSKs (RFC 9420 §8.4) shared out of band, by PSK id.
    Psk,
    /// What received messages produced and nobody was shown yet, by queue
    /// position: written with the group state and the queue cursor in one
    /// transaction, deleted once shown ([`crate::remote::forget_inbox`]).
    Inbox,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 6] = [
        Table::Meta,
        Table::Identity,
        Table::KeyPackage,
        Table::Group,
        Table::Psk,
        Table::Inbox,
    ];

    fn sql_name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Identity => "identity",
            Table::KeyPackage => "key_package",
            Table::Group => "group_state",
            Table::Psk => "psk",
            Table::Inbox => "inbox",
        }
    }
}

/// Records of a table: `(key, value)`.
pub type Records = Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>;

/// One change in a [`Batch`]. `Debug` shows tables and keys, never values
/// (they hold secrets).
pub enum Write {
    /// Sets a record.
    Put(Table, Vec<u8>, Zeroizing<Vec<u8>>),
    /// Removes a record (a no-op if absent).
    Delete(Table, Vec<u8>),
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Write::Put(t, k, v) => write!(f, "Put({t:?}, {}, <{} bytes>)", hex::encode(k), v.len()),
            Write::Delete(t, k) => write!(f, "Delete({t:?}, {})", hex::encode(k)),
        }
    }
}

/// Changes applied together or not at all.
#[derive(Debug, Default)]
pub struct Batch(pub Vec<Write>);

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record write.
    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.0.push(Write::Put(table, key.into(), Zeroizing::new(value.into())));
        self
    }

    /// Adds a record removal.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.0.push(Write::Delete(table, key.into()));
        self
    }
}

/// Where a client keeps its state.
pub trait Store: Send + std::fmt::Debug {
    /// One record.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// Every record of a table, by key.
    fn list(&self, table: Table) -> Result<Records>;
    /// Applies a batch atomically.
    fn apply(&mut self, batch: Batch) -> Result<()>;
}

/// A store in memory, for tests and short-lived processes.
#[derive(Default)]
pub struct MemoryStore {
    tables: BTreeMap<(Table, Vec<u8>), Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.tables.len())
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        Ok(self.tables.get(&(table, key.to_vec())).map(|v| Zeroizing::new(v.to_vec())))
    }

    fn list(&self, table: Table) -> Result<Records> {
        Ok(self
            .tables
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), Zeroizing::new(v.to_vec())))
            .collect())
    }

    fn apply(&mut self, batch: Batch) -> Result<()> {
        for w in batch.0 {
            match w {
                Write::Put(t, k, v) => {
                    self.tables.insert((t, k), v);
                }
                Write::Delete(t, k) => {
                    self.tables.remove(&(t, k));
                }
            }
        }
        Ok(())
    }
}

/// Schema migrations, in order: migration `i` takes the schema from
/// version `i` to `i + 1` (`PRAGMA user_version`).
const MIGRATIONS: &[&str] = &[
    // 1: one key/value table per `Table`.
    "CREATE TABLE meta (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE identity (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE key_package (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE group_state (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
    // 2: when each record was last written (for operators; the client
    // does not read it).
    "ALTER TABLE meta ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE identity ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE key_package ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE group_state ADD COLUMN updated INTEGER NOT NULL DEFAULT 0;",
    // 3: external PSKs.
    "CREATE TABLE psk (k BLOB PRIMARY KEY, v BLOB NOT NULL, updated INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    // 4: engine group states saved through mls-base's `GroupStorage`
    // (`SqliteGroupStorage`), apart from the client's records.
    "CREATE TABLE engine_group (k BLOB PRIMARY KEY, v BLOB NOT NULL, updated INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    // 5: received messages not yet shown.
    "CREATE TABLE inbox (k BLOB PRIMARY KEY, v BLOB NOT NULL, updated INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens `conn` the way every mlsx database is used: zeroed deletes, a
/// rollback journal, full syncs, and the schema migrated to
/// [`SCHEMA_VERSION`] (each migration in its own transaction).
pub(crate) fn prepare(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "journal_mode", "DELETE")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if found > supported {
        return Err(Error::SchemaTooNew { found, supported });
    }
    for (i, sql) in migrations.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
        tx.commit()?;
    }
    Ok(())
}

/// Opens the database file at `path`, creating it readable and writable
/// by its owner only (0600 on Unix) if it does not exist. SQLite gives its
/// rollback journal and write-ahead log the permissions of the database
/// file, so they are private too. A file that exists is opened as it is:
/// [`wider_than_private`] tells the caller whether others can read it.
pub(crate) fn open_private(path: &Path) -> Result<Connection> {
    // A symbolic link (say one planted in a shared folder) would make
    // SQLite create the file it points to with the process's umask.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Config(format!(
            "{} is a symbolic link; give the database file itself",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Connection::open(path)?)
}

/// Takes the lock that makes a store's holder its only writer: an
/// exclusive advisory lock on `<path>.lock`, without waiting.
fn hold(path: &Path) -> Result<std::fs::File> {
    // The lock beside the file the path resolves to (symbolic links and
    // `..` resolved), so that two paths to one database share it. A hard
    // link is another name of the file that is not resolved: do not make
    // them of a store.
    let resolved = std::fs::canonicalize(path).or_else(|_| {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| std::io::Error::other("no file name"))?;
        std::fs::canonicalize(parent).map(|p| p.join(name))
    });
    let path = resolved.as_deref().unwrap_or(path);
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    if std::fs::symlink_metadata(&lock_path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Config(format!("{} is a symbolic link", lock_path.display())));
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::StoreInUse(path.display().to_string())),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The permission bits of `path` beyond its owner's (group and others),
/// when there are any: a store holding private keys should have none.
/// `None` on other systems than Unix and for paths that do not exist.
pub fn wider_than_private(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// A client database at `path` (in memory if `None`), prepared and
/// migrated.
fn connect(path: Option<&Path>) -> Result<Connection> {
    let mut conn = match path {
        Some(p) => open_private(p)?,
        None => Connection::open_in_memory()?,
    };
    prepare(&mut conn, MIGRATIONS)?;
    Ok(conn)
}

/// A store in an SQLite file (or in memory, with [`SqliteStore::in_memory`]).
///
/// One writer per file: while a `SqliteStore` holds a file, opening it
/// again, in this process or another, by the same path or another that
/// resolves to it (symbolic links, `..`), is refused with
/// [`Error::StoreInUse`]. Two handles would each load a group, change it,
/// and the second write would drop the first's epoch. The hold is an
/// advisory lock on `<file>.lock` beside the database, released when the
/// store is dropped or its process ends (also by a crash). Keep the folder
/// private: whoever can write there can hold the lock (and the database).
#[derive(Debug)]
pub struct SqliteStore {
    // Dropped before the lock (fields drop in order).
    conn: Connection,
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens or creates the database at `path`, migrating its schema.
    /// Refused with [`Error::StoreInUse`] while another `SqliteStore`
    /// holds it.
    pub fn open(path: &Path) -> Result<Self> {
        let lock = hold(path)?;
        Ok(Self {
            conn: connect(Some(path))?,
            _lock: Some(lock),
        })
    }

    /// A database in memory.
    pub fn in_memory() -> Result<Self> {
        Ok(Self {
            conn: connect(None)?,
            _lock: None,
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Turns `secure_delete` off: for the test that shows the secure
    /// setting is what removes old secrets from the file.
    #[doc(hidden)]
    pub fn insecure_delete_for_tests(&self) -> Result<()> {
        self.conn.pragma_update(None, "secure_delete", "OFF")?;
        Ok(())
    }
}

/// mls-base's [`GroupStorage`] in an SQLite file, for applications that
/// drive [`mlsx_base::group::Group`] themselves rather than through a
/// [`Client`](crate::Client): each [`GroupStorage::store`] replaces a
/// group's saved state in one transaction, with the same settings as
/// [`SqliteStore`] (`secure_delete`, so the previous epoch's bytes are
/// zeroed in the file; full syncs; the same schema and migrations). The
/// states are kept in their own table, so one database file can serve
/// both this and a [`SqliteStore`].
///
/// ```
/// use mlsx_app::SqliteGroupStorage;
/// use mlsx_base::group::GroupStorage;
/// use zeroize::Zeroizing;
///
/// let mut storage = SqliteGroupStorage::in_memory()?;
/// storage.store(b"team", Zeroizing::new(b"a saved state".to_vec()))?;
/// assert_eq!(storage.load(b"team")?.as_deref().map(Vec::as_slice), Some(&b"a saved state"[..]));
/// storage.delete(b"team")?;
/// assert!(storage.load(b"team")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SqliteGroupStorage {
    // `GroupStorage` is `Sync`; a connection is not.
    conn: std::sync::Mutex<Connection>,
}

impl SqliteGroupStorage {
    /// Opens or creates the database at `path`, migrating its schema.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            conn: std::sync::Mutex::new(connect(Some(path))?),
        })
    }

    /// A database in memory.
    pub fn in_memory() -> Result<Self> {
        Ok(Self {
            conn: std::sync::Mutex::new(connect(None)?),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, mlsx_base::Error> {
        // A panic while the lock was held cannot leave a transaction half
        // done (SQLite rolls it back), so a poisoned lock is still usable.
        let mut conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut conn).map_err(|e| mlsx_base::Error::Storage(Box::new(e)))
    }
}

impl GroupStorage for SqliteGroupStorage {
    fn store(&mut self, group_id: &[u8], state: Zeroizing<Vec<u8>>) -> Result<(), mlsx_base::Error> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO engine_group (k, v, updated) VALUES (?1, ?2, ?3) ON CONFLICT(k) DO UPDATE SET v = excluded.v, updated = excluded.updated",
                params![group_id, &state[..], now()],
            )
            .map(drop)
        })
    }

    fn load(&self, group_id: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, mlsx_base::Error> {
        self.with(|conn| {
            conn.query_row("SELECT v FROM engine_group WHERE k = ?1", params![group_id], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional()
            .map(|v| v.map(Zeroizing::new))
        })
    }

    fn delete(&mut self, group_id: &[u8]) -> Result<(), mlsx_base::Error> {
        self.with(|conn| conn.execute("DELETE FROM engine_group WHERE k = ?1", params![group_id]).map(drop))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Store for SqliteStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let sql = format!("SELECT v FROM {} WHERE k = ?1", table.sql_name());
        Ok(self
            .conn
            .query_row(&sql, params![key], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
            .map(Zeroizing::new))
    }

    fn list(&self, table: Table) -> Result<Records> {
        let sql = format!("SELECT k, v FROM {} ORDER BY k", table.sql_name());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, Zeroizing::new(r.get::<_, Vec<u8>>(1)?))))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn apply(&mut self, batch: Batch) -> Result<()> {
        let t = now();
        let tx = self.conn.transaction()?;
        for w in &batch.0 {
            match w {
                Write::Put(table, k, v) => {
                    let sql = format!(
                        "INSERT INTO {} (k, v, updated) VALUES (?1, ?2, ?3) ON CONFLICT(k) DO UPDATE SET v = excluded.v, updated = excluded.updated",
                        table.sql_name()
                    );
                    tx.execute(&sql, params![k, &v[..], t])?;
                }
                Write::Delete(table, k) => {
                    tx.execute(&format!("DELETE FROM {} WHERE k = ?1", table.sql_name()), params![k])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exercise(store: &mut dyn Store) {
        let mut b = Batch::new();
        b.put(Table::Group, b"g".to_vec(), b"state1".to_vec())
            .put(Table::Meta, b"name".to_vec(), b"alice".to_vec());
        store.apply(b).unwrap();
        assert_eq!(store.get(Table::Group, b"g").unwrap().unwrap().as_slice(), b"state1");
        assert!(store.get(Table::KeyPackage, b"g").unwrap().is_none());
        let mut b = Batch::new();
        b.put(Table::Group, b"g".to_vec(), b"state2".to_vec())
            .delete(Table::Meta, b"name".to_vec());
        store.apply(b).unwrap();
        assert_eq!(store.get(Table::Group, b"g").unwrap().unwrap().as_slice(), b"state2");
        assert!(store.get(Table::Meta, b"name").unwrap().is_none());
        assert_eq!(store.list(Table::Group).unwrap().len(), 1);
        for t in Table::ALL {
            let _ = store.list(t).unwrap();
        }
    }

    #[test]
    fn both_backends_behave_alike() {
        exercise(&mut MemoryStore::new());
        exercise(&mut SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn schema_is_migrated_from_every_older_version() {
        let dir = std::env::temp_dir().join(format!("mlsx-migrate-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        {
            // A database left at version 1 with a record in it.
            let mut conn = Connection::open(&dir).unwrap();
            prepare(&mut conn, &MIGRATIONS[..1]).unwrap();
            conn.execute(
                "INSERT INTO meta (k, v) VALUES (?1, ?2)",
                params![b"name".to_vec(), b"bob".to_vec()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&dir).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.get(Table::Meta, b"name").unwrap().unwrap().as_slice(), b"bob");
        drop(store);
        // A file from a newer build is refused, not misread.
        let conn = Connection::open(&dir).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        assert!(matches!(SqliteStore::open(&dir), Err(Error::SchemaTooNew { .. })));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn engine_states_through_group_storage() {
        let path = std::env::temp_dir().join(format!("mlsx-engine-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let old: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29).wrapping_add(3)).collect();
        {
            let mut storage = SqliteGroupStorage::open(&path).unwrap();
            storage.store(b"g", Zeroizing::new(old.clone())).unwrap();
            assert_eq!(storage.load(b"g").unwrap().unwrap().as_slice(), &old[..]);
            assert!(storage.load(b"h").unwrap().is_none());
        }
        // The client's tables in the same file are untouched by it.
        let client = SqliteStore::open(&path).unwrap();
        assert!(client.get(Table::Group, b"g").unwrap().is_none());
        drop(client);
        let mut storage = SqliteGroupStorage::open(&path).unwrap();
        storage.store(b"g", Zeroizing::new(vec![0xee; 64])).unwrap();
        drop(storage);
        let file = std::fs::read(&path).unwrap();
        assert!(!file.windows(old.len()).any(|w| w == &old[..]), "the replaced state is zeroed");
        let mut storage = SqliteGroupStorage::open(&path).unwrap();
        storage.delete(b"g").unwrap();
        assert!(storage.load(b"g").unwrap().is_none());
        drop(storage);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_failed_batch_changes_nothing() {
        let mut store = SqliteStore::in_memory().unwrap();
        let mut b = Batch::new();
        b.put(Table::Group, b"g".to_vec(), b"old".to_vec());
        store.apply(b).unwrap();
        // Make the second write fail inside the transaction.
        store
            .conn
            .execute_batch("CREATE TRIGGER no_meta BEFORE INSERT ON meta BEGIN SELECT RAISE(ABORT, 'refused'); END;")
            .unwrap();
        let mut b = Batch::new();
        b.put(Table::Group, b"g".to_vec(), b"new".to_vec())
            .put(Table::Meta, b"x".to_vec(), b"y".to_vec());
        assert!(store.apply(b).is_err());
        assert_eq!(store.get(Table::Group, b"g").unwrap().unwrap().as_slice(), b"old");
    }
}
