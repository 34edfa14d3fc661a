//! The service's state in one SQLite file, for one service process: one
//! connection, one transaction at a time (so every lock of [`Tx`] is
//! already held).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};

use super::{LogEntry, QueuedMessage, R, Storage, StorageError, StoredOffer, Tx, WakeFn};

/// The schema, migration by migration (`PRAGMA user_version` counts those
/// applied).
pub(crate) const MIGRATIONS: &[&str] = &["CREATE TABLE client (name TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, signature_key BLOB NOT NULL, registered INTEGER NOT NULL);
     CREATE TABLE key_package (id INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, kind INTEGER NOT NULL, last_resort INTEGER NOT NULL, body BLOB NOT NULL);
     CREATE INDEX key_package_owner ON key_package (owner, kind, last_resort, id);
     CREATE TABLE log (seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id BLOB NOT NULL, epoch INTEGER NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL, digest BLOB NOT NULL, body BLOB NOT NULL);
     CREATE INDEX log_group ON log (group_id, seq);
     CREATE TABLE commit_epoch (group_id BLOB NOT NULL, epoch INTEGER NOT NULL, digest BLOB NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (group_id, epoch));
     CREATE TABLE queue (id INTEGER PRIMARY KEY AUTOINCREMENT, recipient TEXT NOT NULL, seq INTEGER NOT NULL);
     CREATE INDEX queue_recipient ON queue (recipient, id);",
    // 2: GroupInfos for external joiners, and which logged messages are
    // SelfRemove proposals (draft-ietf-mls-extensions §6.3: the DS hands
    // those of the GroupInfo's epoch out with it).
    "CREATE TABLE group_info (group_id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, body BLOB NOT NULL);
     ALTER TABLE log ADD COLUMN self_remove INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX log_self_remove ON log (group_id, epoch) WHERE self_remove = 1;",
    // 3: who may post to a group: its creator (first poster), those its
    // accepted commits welcomed, and external joiners whose commit won.
    "CREATE TABLE group_member (group_id BLOB NOT NULL, name TEXT NOT NULL, PRIMARY KEY (group_id, name)) WITHOUT ROWID;",
    // 4: the suites of each offer, to hand out one a group can use
    // (0: not recorded).
    "ALTER TABLE key_package ADD COLUMN t_suite INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE key_package ADD COLUMN pq_suite INTEGER NOT NULL DEFAULT 0;",
    // 5: acknowledged entries leave the log; finding whether any queue
    // still holds one needs this index.
    "CREATE INDEX queue_seq ON queue (seq);",
    // 6: the public state of each group the service follows (an observer
    // of its handshakes): kind 0 plain or extended, 1 hybrid.
    "CREATE TABLE group_state (group_id BLOB PRIMARY KEY, kind INTEGER NOT NULL, state BLOB NOT NULL, introducer TEXT NOT NULL);
     CREATE INDEX group_state_introducer ON group_state (introducer);",
    // 7: the directory (the authentication service): the signature keys
    // bound to each name, per suite; `current` is the suite's key for new
    // KeyPackages, the others were rotated out. A key registered before
    // keys had suites is kept as suite 0 (any suite).
    "CREATE TABLE client_key (name TEXT NOT NULL, suite INTEGER NOT NULL, signature_key BLOB NOT NULL, added INTEGER NOT NULL, current INTEGER NOT NULL,
                              PRIMARY KEY (name, suite, signature_key)) WITHOUT ROWID;
     INSERT INTO client_key SELECT name, 0, signature_key, registered, 1 FROM client;",
    // 8: bytes stored per client (the quota of `Limits::max_stored_bytes`),
    // kept by triggers so that every path that stores or deletes counts:
    // log rows by sender, KeyPackages by owner, GroupInfos and observer
    // states by the group's introducer.
    "CREATE TABLE usage (name TEXT PRIMARY KEY, bytes INTEGER NOT NULL) WITHOUT ROWID;
     INSERT INTO usage (name, bytes) SELECT name,
         (SELECT coalesce(sum(length(body)), 0) FROM log WHERE sender = client.name)
       + (SELECT coalesce(sum(length(body)), 0) FROM key_package WHERE owner = client.name)
       + (SELECT coalesce(sum(length(g.body)), 0) FROM group_info g JOIN group_state s USING (group_id) WHERE s.introducer = client.name)
       + (SELECT coalesce(sum(length(state)), 0) FROM group_state WHERE introducer = client.name)
       FROM client;
     CREATE TRIGGER usage_log_in AFTER INSERT ON log BEGIN
       INSERT INTO usage (name, bytes) VALUES (NEW.sender, length(NEW.body)) ON CONFLICT(name) DO UPDATE SET bytes = bytes + excluded.bytes; END;
     CREATE TRIGGER usage_log_out AFTER DELETE ON log BEGIN
       UPDATE usage SET bytes = bytes - length(OLD.body) WHERE name = OLD.sender; END;
     CREATE TRIGGER usage_kp_in AFTER INSERT ON key_package BEGIN
       INSERT INTO usage (name, bytes) VALUES (NEW.owner, length(NEW.body)) ON CONFLICT(name) DO UPDATE SET bytes = bytes + excluded.bytes; END;
     CREATE TRIGGER usage_kp_out AFTER DELETE ON key_package BEGIN
       UPDATE usage SET bytes = bytes - length(OLD.body) WHERE name = OLD.owner; END;
     CREATE TRIGGER usage_state_in AFTER INSERT ON group_state BEGIN
       INSERT INTO usage (name, bytes) VALUES (NEW.introducer, length(NEW.state)) ON CONFLICT(name) DO UPDATE SET bytes = bytes + excluded.bytes; END;
     CREATE TRIGGER usage_state_change AFTER UPDATE OF state ON group_state BEGIN
       UPDATE usage SET bytes = bytes + length(NEW.state) - length(OLD.state) WHERE name = NEW.introducer; END;
     CREATE TRIGGER usage_state_out AFTER DELETE ON group_state BEGIN
       UPDATE usage SET bytes = bytes - length(OLD.state) WHERE name = OLD.introducer; END;
     CREATE TRIGGER usage_info_in AFTER INSERT ON group_info BEGIN
       UPDATE usage SET bytes = bytes + length(NEW.body) WHERE name = (SELECT introducer FROM group_state WHERE group_id = NEW.group_id); END;
     CREATE TRIGGER usage_info_change AFTER UPDATE OF body ON group_info BEGIN
       UPDATE usage SET bytes = bytes + length(NEW.body) - length(OLD.body) WHERE name = (SELECT introducer FROM group_state WHERE group_id = NEW.group_id); END;
     CREATE TRIGGER usage_info_out AFTER DELETE ON group_info BEGIN
       UPDATE usage SET bytes = bytes - length(OLD.body) WHERE name = (SELECT introducer FROM group_state WHERE group_id = OLD.group_id); END;",
    // 9: a message sent again (its sender lost the answer) is found by
    // its digest while the log holds it.
    "CREATE INDEX log_digest ON log (group_id, digest);",
    // 10: one current key per name and suite, whatever happens.
    "CREATE UNIQUE INDEX client_key_current ON client_key (name, suite) WHERE current = 1;",
];

/// The service's state in an SQLite file.
pub struct Sqlite {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sqlite")
    }
}

impl Sqlite {
    /// Opens (or creates) the file, migrated to the current schema.
    pub fn open(path: &Path) -> crate::Result<Self> {
        // Registration token hashes and the group log: the owner's only.
        let mut conn = crate::store::open_private(path)?;
        crate::store::prepare(&mut conn, MIGRATIONS)?;
        // The service holds ciphertext only: a write-ahead log (appends,
        // one sync per transaction, still durable before we answer)
        // instead of the clients' zeroing rollback journal.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Ok(Self { conn: Mutex::new(conn) })
    }
}

fn failed(e: rusqlite::Error) -> StorageError {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => StorageError::Unavailable(e.to_string()),
        e => StorageError::Failed(e.to_string()),
    }
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        failed(e)
    }
}

impl Storage for Sqlite {
    fn begin(&self) -> R<Box<dyn Tx + '_>> {
        // A panic under the lock cannot leave a transaction half done
        // (it is rolled back when dropped): go on.
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute_batch("BEGIN")?;
        Ok(Box::new(SqliteTx { conn, open: true }))
    }

    fn listen(&self, _wake: WakeFn, _alive: Arc<dyn Fn() -> bool + Send + Sync>) {}
}

struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    open: bool,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

impl SqliteTx<'_> {
    fn exists(&self, sql: &str, p: impl rusqlite::Params) -> R<bool> {
        Ok(self.conn.prepare_cached(sql)?.query_row(p, |r| r.get(0))?)
    }
}

impl Tx for SqliteTx<'_> {
    fn commit(mut self: Box<Self>) -> R<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }

    // One connection, one transaction at a time: every lock is held.
    fn lock_group(&mut self, _: &[u8]) -> R<()> {
        Ok(())
    }

    fn lock_client(&mut self, _: &str) -> R<()> {
        Ok(())
    }

    fn lock_queues(&mut self, names: &[&str]) -> R<Vec<Option<i64>>> {
        names.iter().map(|n| self.queue_depth(n)).collect()
    }

    fn client_of_token(&mut self, token_hash: &[u8]) -> R<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT name FROM client WHERE token_hash = ?1")?
            .query_row(params![token_hash], |r| r.get(0))
            .optional()?)
    }

    fn insert_client(&mut self, name: &str, token_hash: &[u8], signature_key: &[u8], now: i64) -> R<bool> {
        let n = self.conn.execute(
            "INSERT INTO client (name, token_hash, signature_key, registered) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![name, token_hash, signature_key, now],
        )?;
        Ok(n == 1)
    }

    fn queue_depth(&mut self, name: &str) -> R<Option<i64>> {
        let (known, depth): (bool, i64) = self
            .conn
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM client WHERE name = ?1), (SELECT count(*) FROM queue WHERE recipient = ?1)")?
            .query_row(params![name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(known.then_some(depth))
    }

    fn bind_key(&mut self, name: &str, suite: u16, key: &[u8], now: i64) -> R<()> {
        self.conn.execute(
            "UPDATE client_key SET current = 0 WHERE name = ?1 AND suite = ?2",
            params![name, suite],
        )?;
        self.conn.execute(
            "INSERT INTO client_key (name, suite, signature_key, added, current) VALUES (?1, ?2, ?3, ?4, 1)",
            params![name, suite, key, now],
        )?;
        Ok(())
    }

    fn key_is_bound(&mut self, name: &str, suite: u16, key: &[u8], current: bool) -> R<bool> {
        self.exists(
            "SELECT EXISTS(SELECT 1 FROM client_key WHERE name = ?1 AND (suite = ?2 OR suite = 0) AND signature_key = ?3 AND current >= ?4)",
            params![name, suite, key, current],
        )
    }

    fn current_key(&mut self, name: &str, suite: u16) -> R<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT signature_key FROM client_key WHERE name = ?1 AND suite = ?2 AND current = 1")?
            .query_row(params![name, suite], |r| r.get(0))
            .optional()?)
    }

    fn key_was_bound(&mut self, name: &str, suite: u16, key: &[u8]) -> R<bool> {
        self.exists(
            "SELECT EXISTS(SELECT 1 FROM client_key WHERE name = ?1 AND suite = ?2 AND signature_key = ?3)",
            params![name, suite, key],
        )
    }

    fn key_count(&mut self, name: &str) -> R<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM client_key WHERE name = ?1")?
            .query_row(params![name], |r| r.get(0))?)
    }

    fn keys(&mut self, name: &str) -> R<Vec<(u16, Vec<u8>, bool)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT suite, signature_key, current FROM client_key WHERE name = ?1 ORDER BY suite, added")?;
        let rows = stmt.query_map(params![name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn stored_bytes(&mut self, name: &str) -> R<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT bytes FROM usage WHERE name = ?1")?
            .query_row(params![name], |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn offer_count(&mut self, owner: &str) -> R<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM key_package WHERE owner = ?1")?
            .query_row(params![owner], |r| r.get(0))?)
    }

    fn insert_offer(&mut self, o: &StoredOffer<'_>) -> R<()> {
        self.conn
            .prepare_cached("INSERT INTO key_package (owner, kind, last_resort, body, t_suite, pq_suite) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![o.owner, o.kind, o.last_resort, o.body, o.t_suite, o.pq_suite])?;
        Ok(())
    }

    fn take_offer(&mut self, owner: &str, kind: i64, t_suite: Option<u16>, pq_suite: Option<u16>) -> R<Option<Vec<u8>>> {
        // Ordinary ones first, oldest first; a last-resort one only when
        // none is left, and it stays.
        let row = self
            .conn
            .prepare_cached(
                "SELECT id, last_resort, body FROM key_package WHERE owner = ?1 AND kind = ?2
                 AND (?3 IS NULL OR t_suite = ?3) AND (?4 IS NULL OR pq_suite = ?4) ORDER BY last_resort, id LIMIT 1",
            )?
            .query_row(params![owner, kind, t_suite, pq_suite], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?, r.get::<_, Vec<u8>>(2)?))
            })
            .optional()?;
        let Some((id, last_resort, body)) = row else {
            return Ok(None);
        };
        if !last_resort {
            self.conn.execute("DELETE FROM key_package WHERE id = ?1", params![id])?;
        }
        Ok(Some(body))
    }

    fn commit_seq(&mut self, group_id: &[u8], epoch: i64, digest: &[u8]) -> R<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM commit_epoch WHERE group_id = ?1 AND epoch = ?2 AND digest = ?3")?
            .query_row(params![group_id, epoch, digest], |r| r.get(0))
            .optional()?)
    }

    fn logged(&mut self, group_id: &[u8], sender: &str, digest: &[u8]) -> R<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM log WHERE group_id = ?1 AND digest = ?2 AND sender = ?3 AND kind = 'message' LIMIT 1")?
            .query_row(params![group_id, digest, sender], |r| r.get(0))
            .optional()?)
    }

    fn epoch_taken(&mut self, group_id: &[u8], epoch: i64) -> R<bool> {
        self.exists(
            "SELECT EXISTS(SELECT 1 FROM commit_epoch WHERE group_id = ?1 AND epoch = ?2)",
            params![group_id, epoch],
        )
    }

    fn last_commit_epoch(&mut self, group_id: &[u8]) -> R<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT max(epoch) FROM commit_epoch WHERE group_id = ?1")?
            .query_row(params![group_id], |r| r.get(0))?)
    }

    fn take_epoch(&mut self, group_id: &[u8], epoch: i64, digest: &[u8], seq: i64) -> R<bool> {
        let n = self.conn.execute(
            "INSERT INTO commit_epoch (group_id, epoch, digest, seq) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![group_id, epoch, digest, seq],
        )?;
        Ok(n == 1)
    }

    fn forget_commits(&mut self, group_id: &[u8], epoch: i64) -> R<()> {
        self.conn.execute(
            "DELETE FROM commit_epoch WHERE group_id = ?1 AND epoch <= ?2",
            params![group_id, epoch],
        )?;
        Ok(())
    }

    fn append(&mut self, e: &LogEntry<'_>) -> R<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO log (group_id, epoch, kind, sender, digest, body, self_remove) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![e.group_id, e.epoch, e.kind, e.sender, e.digest, e.body, e.self_remove])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn delete_entry(&mut self, seq: i64) -> R<()> {
        self.conn.execute("DELETE FROM log WHERE seq = ?1", params![seq])?;
        Ok(())
    }

    fn drop_self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<()> {
        self.conn.execute(
            "DELETE FROM log WHERE group_id = ?1 AND self_remove = 1 AND epoch <= ?2 AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.seq = log.seq)",
            params![group_id, epoch],
        )?;
        Ok(())
    }

    fn self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<Vec<Vec<u8>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM log WHERE group_id = ?1 AND epoch = ?2 AND self_remove = 1 ORDER BY seq")?;
        let rows = stmt.query_map(params![group_id, epoch], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn membership(&mut self, group_id: &[u8], name: &str) -> R<(bool, bool)> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM group_member WHERE group_id = ?1),
                        EXISTS(SELECT 1 FROM group_member WHERE group_id = ?1 AND name = ?2)",
            )?
            .query_row(params![group_id, name], |r| Ok((r.get(0)?, r.get(1)?)))?)
    }

    fn members(&mut self, group_id: &[u8]) -> R<BTreeSet<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT name FROM group_member WHERE group_id = ?1")?;
        let rows = stmt.query_map(params![group_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_member(&mut self, group_id: &[u8], name: &str) -> R<()> {
        self.conn
            .prepare_cached("INSERT INTO group_member (group_id, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![group_id, name])?;
        Ok(())
    }

    fn remove_member(&mut self, group_id: &[u8], name: &str) -> R<()> {
        self.conn
            .prepare_cached("DELETE FROM group_member WHERE group_id = ?1 AND name = ?2")?
            .execute(params![group_id, name])?;
        Ok(())
    }

    fn set_members(&mut self, group_id: &[u8], names: &BTreeSet<String>) -> R<()> {
        self.conn
            .execute("DELETE FROM group_member WHERE group_id = ?1", params![group_id])?;
        let mut add = self
            .conn
            .prepare_cached("INSERT INTO group_member (group_id, name) VALUES (?1, ?2)")?;
        for n in names {
            add.execute(params![group_id, n])?;
        }
        Ok(())
    }

    fn observer(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT kind, state FROM group_state WHERE group_id = ?1")?
            .query_row(params![group_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn followed(&mut self, group_id: &[u8]) -> R<bool> {
        self.exists("SELECT EXISTS(SELECT 1 FROM group_state WHERE group_id = ?1)", params![group_id])
    }

    fn store_observer(&mut self, group_id: &[u8], kind: i64, state: &[u8], introducer: &str) -> R<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO group_state (group_id, kind, state, introducer) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(group_id) DO UPDATE SET kind = excluded.kind, state = excluded.state",
            )?
            .execute(params![group_id, kind, state, introducer])?;
        Ok(())
    }

    fn groups_introduced(&mut self, name: &str) -> R<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM group_state WHERE introducer = ?1")?
            .query_row(params![name], |r| r.get(0))?)
    }

    fn put_group_info(&mut self, group_id: &[u8], epoch: i64, body: &[u8], forward_only: bool) -> R<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO group_info (group_id, epoch, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(group_id) DO UPDATE SET epoch = excluded.epoch, body = excluded.body
                 WHERE NOT ?4 OR excluded.epoch >= group_info.epoch",
            )?
            .execute(params![group_id, epoch, body, forward_only])?;
        Ok(())
    }

    fn group_info(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>> {
        Ok(self
            .conn
            .prepare_cached("SELECT epoch, body FROM group_info WHERE group_id = ?1")?
            .query_row(params![group_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn enqueue(&mut self, seq: i64, names: &[&str]) -> R<()> {
        let mut q = self.conn.prepare_cached("INSERT INTO queue (recipient, seq) VALUES (?1, ?2)")?;
        for n in names {
            q.execute(params![n, seq])?;
        }
        Ok(())
    }

    fn deliveries(&mut self, name: &str, after: i64, limit: i64, max_bytes: usize) -> R<Vec<QueuedMessage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT queue.id, log.group_id, log.kind, log.sender, log.epoch, log.body FROM queue JOIN log ON log.seq = queue.seq
             WHERE queue.recipient = ?1 AND queue.id > ?2 ORDER BY queue.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![name, after, limit], |r| {
            Ok(QueuedMessage {
                id: r.get(0)?,
                group_id: r.get(1)?,
                kind: r.get(2)?,
                sender: r.get(3)?,
                epoch: r.get(4)?,
                body: r.get(5)?,
            })
        })?;
        let mut out = vec![];
        let mut bytes = 0usize;
        for row in rows {
            let row = row?;
            bytes = bytes.saturating_add(row.body.len());
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(row);
        }
        Ok(out)
    }

    fn ack(&mut self, name: &str, upto: i64) -> R<usize> {
        let seqs: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT DISTINCT seq FROM queue WHERE recipient = ?1 AND id <= ?2")?;
            let rows = stmt.query_map(params![name, upto], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let count = self
            .conn
            .execute("DELETE FROM queue WHERE recipient = ?1 AND id <= ?2", params![name, upto])?;
        let mut prune = self.conn.prepare_cached(
            "DELETE FROM log WHERE seq = ?1 AND NOT EXISTS (SELECT 1 FROM queue WHERE seq = ?1)
             AND (self_remove = 0 OR EXISTS (SELECT 1 FROM commit_epoch c WHERE c.group_id = log.group_id AND c.epoch >= log.epoch))",
        )?;
        for seq in seqs {
            prune.execute(params![seq])?;
        }
        Ok(count)
    }

    // One process: the service wakes its own long-polls.
    fn notify(&mut self, _: &[&str]) -> R<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_apply() {
        let c = rusqlite::Connection::open_in_memory();
        assert!(c.is_ok());
        if let Ok(mut c) = c {
            assert!(crate::store::prepare(&mut c, super::MIGRATIONS).is_ok());
        }
    }
}
