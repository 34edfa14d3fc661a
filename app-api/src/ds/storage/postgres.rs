//! The service's state in PostgreSQL, for any number of service processes
//! on one database.
//!
//! What one process's memory decided with SQLite, the database decides
//! here, in each request's transaction (READ COMMITTED):
//! - **Commit ordering.** Every request that reads and changes a group's
//!   state holds the group's transaction-level advisory lock
//!   ([`Tx::lock_group`]), so that its observer is read and written by
//!   one request at a time, whichever process serves it; `commit_epoch`'s
//!   key `(group_id, epoch)` refuses a second commit for an epoch even
//!   without it.
//! - **Queue order.** Queue ids come from a sequence, which hands them
//!   out in the order transactions *ask*, not the order they commit: a
//!   client reading "after id N" could skip a smaller id committed late.
//!   So a transaction that queues for a client first locks that client's
//!   row ([`Tx::lock_queues`], in name order, so two cannot deadlock):
//!   the next transaction queueing for the same client waits until this
//!   one commits, and takes a larger id.
//! - **Garbage.** Acknowledging locks the log entries it may delete, so
//!   that of two recipients acknowledging the last two copies at once,
//!   the second sees the first's deletion.
//! - **Quotas** are rows (`usage`, kept by triggers; counts of stored
//!   KeyPackages, keys and groups), locked by the writes that change them.
//! - **Counts** of what one client has (keys, KeyPackages, groups) are
//!   read and changed under that client's row lock ([`Tx::lock_client`]).
//! - **Resends** are looked for again under the locks a first copy holds
//!   (the group's for handshakes, the recipients' queues for application
//!   messages), so that a copy another process is still taking is found.
//! - **Wake-ups** cross processes with `NOTIFY mlsx_queue` (sent just
//!   after commit, one line per client), which every process `LISTEN`s
//!   for. Not inside the transaction: a notifying transaction holds a
//!   database-wide lock while it commits.
//! - **Waits are bounded**: `lock_timeout` 10 s, `statement_timeout` 60 s
//!   (503 after either), TCP keepalives.
//!
//! A deadlock or serialization failure the database reports is a
//! [`StorageError::Retry`]: the service runs the request again. A lost
//! connection, a server that is down or refuses connections is
//! [`StorageError::Unavailable`] (503); the pool drops that connection
//! and makes a new one for the next request, so the service recovers by
//! itself when the server is back.
//!
//! Connections are in the clear: run it over loopback or a private
//! network (TLS to the database is not built yet).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{NoTls, Row, Statement};

use super::{LogEntry, QueuedMessage, R, Storage, StorageError, StoredOffer, Tx, WakeFn};

/// The schema, migration by migration (`mlsx_schema.version` counts those
/// applied). The first is the SQLite schema's eighth version, in
/// PostgreSQL's types.
const MIGRATIONS: &[&str] = &["CREATE TABLE client (name TEXT PRIMARY KEY, token_hash BYTEA NOT NULL UNIQUE, signature_key BYTEA NOT NULL, registered BIGINT NOT NULL);
     CREATE TABLE client_key (name TEXT NOT NULL, suite BIGINT NOT NULL, signature_key BYTEA NOT NULL, added BIGINT NOT NULL, current BOOLEAN NOT NULL,
                              PRIMARY KEY (name, suite, signature_key));
     CREATE UNIQUE INDEX client_key_current ON client_key (name, suite) WHERE current;
     CREATE TABLE key_package (id BIGSERIAL PRIMARY KEY, owner TEXT NOT NULL, kind BIGINT NOT NULL, last_resort BOOLEAN NOT NULL, body BYTEA NOT NULL,
                               t_suite BIGINT NOT NULL, pq_suite BIGINT NOT NULL);
     CREATE INDEX key_package_owner ON key_package (owner, kind, last_resort, id);
     CREATE TABLE log (seq BIGSERIAL PRIMARY KEY, group_id BYTEA NOT NULL, epoch BIGINT NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL,
                       digest BYTEA NOT NULL, body BYTEA NOT NULL, self_remove BOOLEAN NOT NULL);
     CREATE INDEX log_group ON log (group_id, seq);
     CREATE INDEX log_self_remove ON log (group_id, epoch) WHERE self_remove;
     CREATE INDEX log_digest ON log (group_id, digest);
     CREATE TABLE commit_epoch (group_id BYTEA NOT NULL, epoch BIGINT NOT NULL, digest BYTEA NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (group_id, epoch));
     CREATE TABLE queue (id BIGSERIAL PRIMARY KEY, recipient TEXT NOT NULL, seq BIGINT NOT NULL);
     CREATE INDEX queue_recipient ON queue (recipient, id);
     CREATE INDEX queue_seq ON queue (seq);
     CREATE TABLE group_info (group_id BYTEA PRIMARY KEY, epoch BIGINT NOT NULL, body BYTEA NOT NULL);
     CREATE TABLE group_member (group_id BYTEA NOT NULL, name TEXT NOT NULL, PRIMARY KEY (group_id, name));
     CREATE TABLE group_state (group_id BYTEA PRIMARY KEY, kind BIGINT NOT NULL, state BYTEA NOT NULL, introducer TEXT NOT NULL);
     CREATE INDEX group_state_introducer ON group_state (introducer);
     CREATE TABLE usage (name TEXT PRIMARY KEY, bytes BIGINT NOT NULL);
     CREATE FUNCTION mlsx_usage(who TEXT, delta BIGINT) RETURNS void LANGUAGE sql AS
       'INSERT INTO usage (name, bytes) VALUES (who, delta) ON CONFLICT (name) DO UPDATE SET bytes = usage.bytes + EXCLUDED.bytes';
     CREATE FUNCTION mlsx_usage_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP = 'INSERT' THEN PERFORM mlsx_usage(NEW.sender, length(NEW.body));
       ELSE PERFORM mlsx_usage(OLD.sender, -length(OLD.body)); END IF;
       RETURN NULL; END $$;
     CREATE TRIGGER usage_log AFTER INSERT OR DELETE ON log FOR EACH ROW EXECUTE FUNCTION mlsx_usage_log();
     CREATE FUNCTION mlsx_usage_kp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP = 'INSERT' THEN PERFORM mlsx_usage(NEW.owner, length(NEW.body));
       ELSE PERFORM mlsx_usage(OLD.owner, -length(OLD.body)); END IF;
       RETURN NULL; END $$;
     CREATE TRIGGER usage_kp AFTER INSERT OR DELETE ON key_package FOR EACH ROW EXECUTE FUNCTION mlsx_usage_kp();
     CREATE FUNCTION mlsx_usage_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
       IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM mlsx_usage(OLD.introducer, -length(OLD.state)); END IF;
       IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM mlsx_usage(NEW.introducer, length(NEW.state)); END IF;
       RETURN NULL; END $$;
     CREATE TRIGGER usage_state AFTER INSERT OR UPDATE OR DELETE ON group_state FOR EACH ROW EXECUTE FUNCTION mlsx_usage_state();
     CREATE FUNCTION mlsx_usage_info() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE who TEXT; BEGIN
       IF TG_OP IN ('UPDATE', 'DELETE') THEN
         SELECT introducer INTO who FROM group_state WHERE group_id = OLD.group_id;
         IF who IS NOT NULL THEN PERFORM mlsx_usage(who, -length(OLD.body)); END IF;
       END IF;
       IF TG_OP IN ('INSERT', 'UPDATE') THEN
         SELECT introducer INTO who FROM group_state WHERE group_id = NEW.group_id;
         IF who IS NOT NULL THEN PERFORM mlsx_usage(who, length(NEW.body)); END IF;
       END IF;
       RETURN NULL; END $$;
     CREATE TRIGGER usage_info AFTER INSERT OR UPDATE OR DELETE ON group_info FOR EACH ROW EXECUTE FUNCTION mlsx_usage_info();
     -- Tx::ack in one round trip (see there).
     CREATE FUNCTION mlsx_ack(who TEXT, upto BIGINT) RETURNS BIGINT LANGUAGE plpgsql AS $$
     DECLARE seqs BIGINT[]; n BIGINT;
     BEGIN
       SET LOCAL synchronous_commit = off;
       SELECT coalesce(array_agg(seq), '{}') INTO seqs FROM
         (SELECT seq FROM log WHERE seq IN (SELECT seq FROM queue WHERE recipient = who AND id <= upto) ORDER BY seq FOR UPDATE) l;
       -- The senders' byte counts the deletions change, in name order:
       -- two acknowledgments never take them in opposite orders.
       PERFORM 1 FROM usage WHERE name IN (SELECT sender FROM log WHERE seq = ANY(seqs)) ORDER BY name FOR UPDATE;
       DELETE FROM queue WHERE recipient = who AND id <= upto;
       GET DIAGNOSTICS n = ROW_COUNT;
       DELETE FROM log WHERE seq = ANY(seqs) AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.seq = log.seq)
         AND (NOT self_remove OR EXISTS (SELECT 1 FROM commit_epoch c WHERE c.group_id = log.group_id AND c.epoch >= log.epoch));
       RETURN n;
     END $$;"];

/// The advisory lock that orders schema migrations of processes starting
/// at once.
const MIGRATION_LOCK: i64 = 0x6d6c_7378_0000_0001;

/// The channel of wake-ups.
const CHANNEL: &str = "mlsx_queue";

/// Connections one service process opens at most.
const MAX_CONNECTIONS: usize = 16;

/// How long a request waits for a free connection before it is answered
/// 503.
const CONNECTION_WAIT: Duration = Duration::from_secs(10);

fn classify(e: &postgres::Error) -> StorageError {
    match e.code() {
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE => StorageError::Retry(e.to_string()),
        // Connection exceptions, an operator's intervention (shutdown,
        // starting up), too many connections, a lock or statement that
        // took too long (`lock_timeout`, `statement_timeout`).
        Some(c)
            if c.code().starts_with("08")
                || c.code().starts_with("57P")
                || c.code().starts_with("53")
                || *c == SqlState::LOCK_NOT_AVAILABLE
                || *c == SqlState::QUERY_CANCELED =>
        {
            StorageError::Unavailable(e.to_string())
        }
        Some(_) => StorageError::Failed(e.to_string()),
        // No server error: the connection (closed, refused, timed out), or
        // else a fault of ours (a row of the wrong type or count).
        None => {
            let io = std::error::Error::source(e).is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some());
            if e.is_closed() || io || e.to_string().contains("timeout") {
                StorageError::Unavailable(e.to_string())
            } else {
                StorageError::Failed(e.to_string())
            }
        }
    }
}

impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        classify(&e)
    }
}

/// A connection and the statements prepared on it.
struct Conn {
    client: postgres::Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    fn statement(&mut self, sql: &'static str) -> R<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }

    fn query(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> R<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.query(&s, params)?)
    }

    fn opt(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> R<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.client.query_opt(&s, params)?)
    }

    fn one(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> R<Row> {
        let s = self.statement(sql)?;
        Ok(self.client.query_one(&s, params)?)
    }

    fn exec(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> R<u64> {
        let s = self.statement(sql)?;
        Ok(self.client.execute(&s, params)?)
    }
}

/// The connections of one process: at most [`MAX_CONNECTIONS`].
struct Pool {
    config: postgres::Config,
    idle: Mutex<(Vec<Conn>, usize)>,
    freed: Condvar,
}

impl Pool {
    /// A connection, and whether it was idle in the pool (it may have
    /// died since).
    fn get(&self) -> R<(Conn, bool)> {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(c) = idle.0.pop() {
                return Ok((c, true));
            }
            if idle.1 < MAX_CONNECTIONS {
                idle.1 += 1;
                drop(idle);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok((
                        Conn {
                            client,
                            statements: HashMap::new(),
                        },
                        false,
                    )),
                    Err(e) => {
                        self.discard();
                        Err(classify(&e))
                    }
                };
            }
            let (guard, timeout) = self
                .freed
                .wait_timeout(idle, CONNECTION_WAIT)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            idle = guard;
            if timeout.timed_out() && idle.0.is_empty() && idle.1 >= MAX_CONNECTIONS {
                return Err(StorageError::Unavailable("every database connection is busy".into()));
            }
        }
    }

    fn put(&self, c: Conn) {
        if c.client.is_closed() {
            return self.discard();
        }
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0.push(c);
        self.freed.notify_one();
    }

    /// A connection is gone.
    fn discard(&self) {
        let mut idle = self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        idle.1 = idle.1.saturating_sub(1);
        drop(idle);
        self.freed.notify_one();
    }
}

/// The service's state in a PostgreSQL database.
pub struct Postgres {
    pool: Pool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the configuration: it holds the password.
        f.write_str("Postgres")
    }
}

impl Postgres {
    /// Connects to the database at `url` and migrates its schema (several
    /// processes starting at once take turns).
    pub fn open(url: &str) -> crate::Result<Self> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| crate::Error::Config(format!("the database address: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        // A request waits at most this long for a lock (a group's, while
        // another request of the group is checked) or a statement, then
        // is answered 503 and frees its connection; a silent network is
        // found by keepalives.
        let options = format!(
            "{} -c lock_timeout=10s -c statement_timeout=60s",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim());
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        config.application_name("mlsx ds");
        let store = Self {
            pool: Pool {
                config,
                idle: Mutex::new((vec![], 0)),
                freed: Condvar::new(),
            },
        };
        store.migrate().map_err(|e| crate::Error::Config(format!("the database: {e}")))?;
        Ok(store)
    }

    fn migrate(&self) -> R<()> {
        let (mut c, _) = self.pool.get()?;
        let done = (|| -> R<()> {
            let mut tx = c.client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS mlsx_schema (version BIGINT NOT NULL)")?;
            let found: i64 = match tx.query_opt("SELECT version FROM mlsx_schema", &[])? {
                Some(r) => r.try_get(0)?,
                None => {
                    tx.execute("INSERT INTO mlsx_schema (version) VALUES (0)", &[])?;
                    0
                }
            };
            let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
            if found > supported {
                return Err(StorageError::Failed(format!(
                    "its schema is version {found}, newer than this build's {supported}: run a newer mlsx"
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
                tx.batch_execute(sql)?;
                tx.execute("UPDATE mlsx_schema SET version = $1", &[&i64::try_from(i + 1).unwrap_or(i64::MAX)])?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.pool.put(c);
        done
    }
}

impl Storage for Postgres {
    fn read(&self) -> R<Box<dyn Tx + '_>> {
        let (c, _) = self.pool.get()?;
        // Each statement its own transaction: no BEGIN, no COMMIT.
        Ok(Box::new(PgTx {
            pool: &self.pool,
            conn: Some(c),
            autocommit: true,
            wake: vec![],
        }))
    }

    fn begin(&self) -> R<Box<dyn Tx + '_>> {
        let (mut c, pooled) = self.pool.get()?;
        match c.client.batch_execute("BEGIN") {
            Ok(()) => {}
            // A pooled connection the server closed since (it restarted):
            // once more on a new one.
            Err(_) if pooled => {
                self.pool.discard();
                return match self.pool.get() {
                    Ok((mut c, _)) => match c.client.batch_execute("BEGIN") {
                        Ok(()) => Ok(Box::new(PgTx {
                            pool: &self.pool,
                            conn: Some(c),
                            autocommit: false,
                            wake: vec![],
                        })),
                        Err(e) => {
                            self.pool.discard();
                            Err(classify(&e))
                        }
                    },
                    Err(e) => Err(e),
                };
            }
            Err(e) => {
                self.pool.discard();
                return Err(classify(&e));
            }
        }
        Ok(Box::new(PgTx {
            pool: &self.pool,
            conn: Some(c),
            autocommit: false,
            wake: vec![],
        }))
    }

    fn listen(&self, wake: WakeFn, alive: Arc<dyn Fn() -> bool + Send + Sync>) {
        let config = self.pool.config.clone();
        let spawned = std::thread::Builder::new().name("mlsx-ds-listen".into()).spawn(move || {
            while alive() {
                let Ok(mut client) = config.connect(NoTls) else {
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                };
                if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                }
                // Wake-ups sent while this process was not listening are
                // lost: every long-poll looks again.
                wake(None);
                while alive() {
                    let next = client.notifications().timeout_iter(Duration::from_secs(1)).next();
                    match next {
                        Ok(Some(n)) => n.payload().split('\n').for_each(|name| wake(Some(name))),
                        Ok(None) if !client.is_closed() => {}
                        _ => break,
                    }
                }
            }
        });
        // Without a listener, long-polls still end at their deadline.
        drop(spawned);
    }
}

struct PgTx<'a> {
    pool: &'a Pool,
    /// `None` once committed.
    conn: Option<Conn>,
    /// A read ([`Storage::read`]): no transaction to end.
    autocommit: bool,
    /// Wake-ups to send once committed ([`Tx::notify`]).
    wake: Vec<String>,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if let Some(mut c) = self.conn.take() {
            if self.autocommit {
                return self.pool.put(c);
            }
            match c.client.batch_execute("ROLLBACK") {
                Ok(()) => self.pool.put(c),
                Err(_) => self.pool.discard(),
            }
        }
    }
}

fn suite(s: u16) -> i64 {
    i64::from(s)
}

impl PgTx<'_> {
    fn c(&mut self) -> R<&mut Conn> {
        self.conn
            .as_mut()
            .ok_or_else(|| StorageError::Failed("the transaction is over".into()))
    }

    fn get<T: for<'r> postgres::types::FromSql<'r>>(row: &Row, i: usize) -> R<T> {
        Ok(row.try_get(i)?)
    }
}

impl Tx for PgTx<'_> {
    fn commit(mut self: Box<Self>) -> R<()> {
        let Some(mut c) = self.conn.take() else {
            return Err(StorageError::Failed("the transaction is over".into()));
        };
        if self.autocommit {
            self.pool.put(c);
            return Ok(());
        }
        match c.client.batch_execute("COMMIT") {
            Ok(()) => {
                // After the commit, each its own transaction: a notifying
                // transaction holds a lock of the whole database while it
                // commits, which would order every post's commit behind
                // every other's. A wake-up lost here costs a long-poll at
                // most its deadline.
                for p in std::mem::take(&mut self.wake) {
                    if c.exec("SELECT pg_notify($1, $2)", &[&CHANNEL, &p]).is_err() {
                        self.pool.discard();
                        return Ok(());
                    }
                }
                self.pool.put(c);
                Ok(())
            }
            Err(e) => {
                // Committed or not, the connection cannot say: a client
                // asking again gets the same answer (resends are
                // recognized), and nothing is acknowledged.
                self.pool.discard();
                Err(classify(&e))
            }
        }
    }

    fn lock_group(&mut self, group_id: &[u8]) -> R<()> {
        use sha2::Digest;
        let d = sha2::Sha256::new_with_prefix(b"mlsx ds group lock")
            .chain_update(group_id)
            .finalize();
        let mut k = [0u8; 8];
        k.copy_from_slice(&d[..8]);
        self.c()?.exec("SELECT pg_advisory_xact_lock($1)", &[&i64::from_be_bytes(k)])?;
        Ok(())
    }

    fn lock_client(&mut self, name: &str) -> R<()> {
        self.c()?.query("SELECT 1 FROM client WHERE name = $1 FOR UPDATE", &[&name])?;
        Ok(())
    }

    fn lock_queues(&mut self, names: &[&str]) -> R<Vec<Option<i64>>> {
        if names.is_empty() {
            return Ok(vec![]);
        }
        let c = self.c()?;
        let locked = c.query("SELECT name FROM client WHERE name = ANY($1) ORDER BY name FOR UPDATE", &[&names])?;
        let rows = c.query(
            "SELECT recipient, count(*) FROM queue WHERE recipient = ANY($1) GROUP BY recipient",
            &[&names],
        )?;
        let mut depth: HashMap<String, i64> = locked.iter().map(|r| Ok((Self::get(r, 0)?, 0))).collect::<R<_>>()?;
        for r in &rows {
            depth.insert(Self::get(r, 0)?, Self::get(r, 1)?);
        }
        Ok(names.iter().map(|n| depth.get(*n).copied()).collect())
    }

    fn client_of_token(&mut self, token_hash: &[u8]) -> R<Option<String>> {
        let row = self.c()?.opt("SELECT name FROM client WHERE token_hash = $1", &[&token_hash])?;
        row.map(|r| Self::get(&r, 0)).transpose()
    }

    fn insert_client(&mut self, name: &str, token_hash: &[u8], signature_key: &[u8], now: i64) -> R<bool> {
        let n = self.c()?.exec(
            "INSERT INTO client (name, token_hash, signature_key, registered) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&name, &token_hash, &signature_key, &now],
        )?;
        Ok(n == 1)
    }

    fn queue_depth(&mut self, name: &str) -> R<Option<i64>> {
        let r = self.c()?.one(
            "SELECT EXISTS(SELECT 1 FROM client WHERE name = $1), (SELECT count(*) FROM queue WHERE recipient = $1)",
            &[&name],
        )?;
        Self::get::<bool>(&r, 0)?.then(|| Self::get(&r, 1)).transpose()
    }

    fn bind_key(&mut self, name: &str, s: u16, key: &[u8], now: i64) -> R<()> {
        let c = self.c()?;
        c.exec(
            "UPDATE client_key SET current = false WHERE name = $1 AND suite = $2",
            &[&name, &suite(s)],
        )?;
        c.exec(
            "INSERT INTO client_key (name, suite, signature_key, added, current) VALUES ($1, $2, $3, $4, true)",
            &[&name, &suite(s), &key, &now],
        )?;
        Ok(())
    }

    fn key_is_bound(&mut self, name: &str, s: u16, key: &[u8], current: bool) -> R<bool> {
        let r = self.c()?.one(
            "SELECT EXISTS(SELECT 1 FROM client_key WHERE name = $1 AND (suite = $2 OR suite = 0) AND signature_key = $3 AND (current OR NOT $4))",
            &[&name, &suite(s), &key, &current],
        )?;
        Self::get(&r, 0)
    }

    fn current_key(&mut self, name: &str, s: u16) -> R<Option<Vec<u8>>> {
        let row = self.c()?.opt(
            "SELECT signature_key FROM client_key WHERE name = $1 AND suite = $2 AND current",
            &[&name, &suite(s)],
        )?;
        row.map(|r| Self::get(&r, 0)).transpose()
    }

    fn key_was_bound(&mut self, name: &str, s: u16, key: &[u8]) -> R<bool> {
        let r = self.c()?.one(
            "SELECT EXISTS(SELECT 1 FROM client_key WHERE name = $1 AND suite = $2 AND signature_key = $3)",
            &[&name, &suite(s), &key],
        )?;
        Self::get(&r, 0)
    }

    fn key_count(&mut self, name: &str) -> R<i64> {
        let r = self.c()?.one("SELECT count(*) FROM client_key WHERE name = $1", &[&name])?;
        Self::get(&r, 0)
    }

    fn keys(&mut self, name: &str) -> R<Vec<(u16, Vec<u8>, bool)>> {
        let rows = self.c()?.query(
            "SELECT suite, signature_key, current FROM client_key WHERE name = $1 ORDER BY suite, added",
            &[&name],
        )?;
        rows.iter()
            .map(|r| {
                let s: i64 = Self::get(r, 0)?;
                let s = u16::try_from(s).map_err(|_| StorageError::Failed(format!("stored suite {s}")))?;
                Ok((s, Self::get(r, 1)?, Self::get(r, 2)?))
            })
            .collect()
    }

    fn stored_bytes(&mut self, name: &str) -> R<i64> {
        let row = self.c()?.opt("SELECT bytes FROM usage WHERE name = $1", &[&name])?;
        Ok(row.map(|r| Self::get(&r, 0)).transpose()?.unwrap_or(0))
    }

    fn offer_count(&mut self, owner: &str) -> R<i64> {
        let r = self.c()?.one("SELECT count(*) FROM key_package WHERE owner = $1", &[&owner])?;
        Self::get(&r, 0)
    }

    fn insert_offer(&mut self, o: &StoredOffer<'_>) -> R<()> {
        self.c()?.exec(
            "INSERT INTO key_package (owner, kind, last_resort, body, t_suite, pq_suite) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&o.owner, &o.kind, &o.last_resort, &o.body, &suite(o.t_suite), &suite(o.pq_suite)],
        )?;
        Ok(())
    }

    fn take_offer(&mut self, owner: &str, kind: i64, t_suite: Option<u16>, pq_suite: Option<u16>) -> R<Option<Vec<u8>>> {
        let (t, pq) = (t_suite.map(suite), pq_suite.map(suite));
        let c = self.c()?;
        // The oldest ordinary one no other request is taking; else a
        // last-resort one, which stays.
        let taken = c.opt(
            "DELETE FROM key_package WHERE id = (
               SELECT id FROM key_package WHERE owner = $1 AND kind = $2 AND ($3::BIGINT IS NULL OR t_suite = $3)
               AND ($4::BIGINT IS NULL OR pq_suite = $4) AND NOT last_resort ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING body",
            &[&owner, &kind, &t, &pq],
        )?;
        let row = match taken {
            Some(r) => Some(r),
            None => c.opt(
                "SELECT body FROM key_package WHERE owner = $1 AND kind = $2 AND ($3::BIGINT IS NULL OR t_suite = $3)
                 AND ($4::BIGINT IS NULL OR pq_suite = $4) AND last_resort ORDER BY id LIMIT 1",
                &[&owner, &kind, &t, &pq],
            )?,
        };
        row.map(|r| Self::get(&r, 0)).transpose()
    }

    fn commit_seq(&mut self, group_id: &[u8], epoch: i64, digest: &[u8]) -> R<Option<i64>> {
        let row = self.c()?.opt(
            "SELECT seq FROM commit_epoch WHERE group_id = $1 AND epoch = $2 AND digest = $3",
            &[&group_id, &epoch, &digest],
        )?;
        row.map(|r| Self::get(&r, 0)).transpose()
    }

    fn logged(&mut self, group_id: &[u8], sender: &str, digest: &[u8]) -> R<Option<i64>> {
        let row = self.c()?.opt(
            "SELECT seq FROM log WHERE group_id = $1 AND digest = $2 AND sender = $3 AND kind = 'message' LIMIT 1",
            &[&group_id, &digest, &sender],
        )?;
        row.map(|r| Self::get(&r, 0)).transpose()
    }

    fn epoch_taken(&mut self, group_id: &[u8], epoch: i64) -> R<bool> {
        let r = self.c()?.one(
            "SELECT EXISTS(SELECT 1 FROM commit_epoch WHERE group_id = $1 AND epoch = $2)",
            &[&group_id, &epoch],
        )?;
        Self::get(&r, 0)
    }

    fn last_commit_epoch(&mut self, group_id: &[u8]) -> R<Option<i64>> {
        let r = self
            .c()?
            .one("SELECT max(epoch) FROM commit_epoch WHERE group_id = $1", &[&group_id])?;
        Self::get(&r, 0)
    }

    fn take_epoch(&mut self, group_id: &[u8], epoch: i64, digest: &[u8], seq: i64) -> R<bool> {
        let n = self.c()?.exec(
            "INSERT INTO commit_epoch (group_id, epoch, digest, seq) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&group_id, &epoch, &digest, &seq],
        )?;
        Ok(n == 1)
    }

    fn forget_commits(&mut self, group_id: &[u8], epoch: i64) -> R<()> {
        self.c()?
            .exec("DELETE FROM commit_epoch WHERE group_id = $1 AND epoch <= $2", &[&group_id, &epoch])?;
        Ok(())
    }

    fn append(&mut self, e: &LogEntry<'_>) -> R<i64> {
        let r = self.c()?.one(
            "INSERT INTO log (group_id, epoch, kind, sender, digest, body, self_remove) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
            &[&e.group_id, &e.epoch, &e.kind, &e.sender, &e.digest, &e.body, &e.self_remove],
        )?;
        Self::get(&r, 0)
    }

    fn delete_entry(&mut self, seq: i64) -> R<()> {
        self.c()?.exec("DELETE FROM log WHERE seq = $1", &[&seq])?;
        Ok(())
    }

    fn drop_self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<()> {
        self.c()?.exec(
            "DELETE FROM log WHERE group_id = $1 AND self_remove AND epoch <= $2 AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.seq = log.seq)",
            &[&group_id, &epoch],
        )?;
        Ok(())
    }

    fn self_removes(&mut self, group_id: &[u8], epoch: i64) -> R<Vec<Vec<u8>>> {
        let rows = self.c()?.query(
            "SELECT body FROM log WHERE group_id = $1 AND epoch = $2 AND self_remove ORDER BY seq",
            &[&group_id, &epoch],
        )?;
        rows.iter().map(|r| Self::get(r, 0)).collect()
    }

    fn membership(&mut self, group_id: &[u8], name: &str) -> R<(bool, bool)> {
        let r = self.c()?.one(
            "SELECT EXISTS(SELECT 1 FROM group_member WHERE group_id = $1),
                    EXISTS(SELECT 1 FROM group_member WHERE group_id = $1 AND name = $2)",
            &[&group_id, &name],
        )?;
        Ok((Self::get(&r, 0)?, Self::get(&r, 1)?))
    }

    fn members(&mut self, group_id: &[u8]) -> R<BTreeSet<String>> {
        let rows = self.c()?.query("SELECT name FROM group_member WHERE group_id = $1", &[&group_id])?;
        rows.iter().map(|r| Self::get(r, 0)).collect()
    }

    fn add_member(&mut self, group_id: &[u8], name: &str) -> R<()> {
        self.c()?.exec(
            "INSERT INTO group_member (group_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&group_id, &name],
        )?;
        Ok(())
    }

    fn remove_member(&mut self, group_id: &[u8], name: &str) -> R<()> {
        self.c()?
            .exec("DELETE FROM group_member WHERE group_id = $1 AND name = $2", &[&group_id, &name])?;
        Ok(())
    }

    fn set_members(&mut self, group_id: &[u8], names: &BTreeSet<String>) -> R<()> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let c = self.c()?;
        c.exec("DELETE FROM group_member WHERE group_id = $1", &[&group_id])?;
        c.exec(
            "INSERT INTO group_member (group_id, name) SELECT $1, unnest($2::TEXT[])",
            &[&group_id, &names],
        )?;
        Ok(())
    }

    fn observer(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>> {
        let row = self
            .c()?
            .opt("SELECT kind, state FROM group_state WHERE group_id = $1", &[&group_id])?;
        row.map(|r| Ok((Self::get(&r, 0)?, Self::get(&r, 1)?))).transpose()
    }

    fn followed(&mut self, group_id: &[u8]) -> R<bool> {
        let r = self
            .c()?
            .one("SELECT EXISTS(SELECT 1 FROM group_state WHERE group_id = $1)", &[&group_id])?;
        Self::get(&r, 0)
    }

    fn store_observer(&mut self, group_id: &[u8], kind: i64, state: &[u8], introducer: &str) -> R<()> {
        self.c()?.exec(
            "INSERT INTO group_state (group_id, kind, state, introducer) VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id) DO UPDATE SET kind = EXCLUDED.kind, state = EXCLUDED.state",
            &[&group_id, &kind, &state, &introducer],
        )?;
        Ok(())
    }

    fn groups_introduced(&mut self, name: &str) -> R<i64> {
        let r = self.c()?.one("SELECT count(*) FROM group_state WHERE introducer = $1", &[&name])?;
        Self::get(&r, 0)
    }

    fn put_group_info(&mut self, group_id: &[u8], epoch: i64, body: &[u8], forward_only: bool) -> R<()> {
        self.c()?.exec(
            "INSERT INTO group_info (group_id, epoch, body) VALUES ($1, $2, $3)
             ON CONFLICT (group_id) DO UPDATE SET epoch = EXCLUDED.epoch, body = EXCLUDED.body
             WHERE NOT $4 OR EXCLUDED.epoch >= group_info.epoch",
            &[&group_id, &epoch, &body, &forward_only],
        )?;
        Ok(())
    }

    fn group_info(&mut self, group_id: &[u8]) -> R<Option<(i64, Vec<u8>)>> {
        let row = self
            .c()?
            .opt("SELECT epoch, body FROM group_info WHERE group_id = $1", &[&group_id])?;
        row.map(|r| Ok((Self::get(&r, 0)?, Self::get(&r, 1)?))).transpose()
    }

    fn enqueue(&mut self, seq: i64, names: &[&str]) -> R<()> {
        if !names.is_empty() {
            self.c()?
                .exec("INSERT INTO queue (recipient, seq) SELECT unnest($1::TEXT[]), $2", &[&names, &seq])?;
        }
        Ok(())
    }

    fn deliveries(&mut self, name: &str, after: i64, limit: i64, max_bytes: usize) -> R<Vec<QueuedMessage>> {
        let max = i64::try_from(max_bytes).unwrap_or(i64::MAX);
        // At most `max` bytes of bodies, and always the first entry.
        let rows = self.c()?.query(
            "SELECT id, group_id, kind, sender, epoch, body FROM (
               SELECT q.id, l.group_id, l.kind, l.sender, l.epoch, l.body, length(l.body) AS size,
                      sum(length(l.body)) OVER (ORDER BY q.id) AS upto
               FROM queue q JOIN log l ON l.seq = q.seq WHERE q.recipient = $1 AND q.id > $2 ORDER BY q.id LIMIT $3) w
             WHERE upto <= $4 OR upto = size ORDER BY id",
            &[&name, &after, &limit, &max],
        )?;
        rows.iter()
            .map(|r| {
                Ok(QueuedMessage {
                    id: Self::get(r, 0)?,
                    group_id: Self::get(r, 1)?,
                    kind: Self::get(r, 2)?,
                    sender: Self::get(r, 3)?,
                    epoch: Self::get(r, 4)?,
                    body: Self::get(r, 5)?,
                })
            })
            .collect()
    }

    /// `mlsx_ack` (the schema), in one round trip: the log entries the
    /// acknowledgment may leave without a queue are locked first, in
    /// order, so that of two last recipients acknowledging at once the
    /// second waits and then sees the first's deletion. It does not wait
    /// for the disk (`synchronous_commit = off` for its transaction): an
    /// acknowledgment lost in a crash of the server delivers its entries
    /// again, which clients skip (they keep their queue position), and
    /// the client's next one covers them.
    fn ack(&mut self, name: &str, upto: i64) -> R<usize> {
        let r = self.c()?.one("SELECT mlsx_ack($1, $2)", &[&name, &upto])?;
        let count: i64 = Self::get(&r, 0)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    fn notify(&mut self, names: &[&str]) -> R<()> {
        // A payload is under 8,000 bytes; sent once committed.
        self.wake.extend(super::wake_payloads(names, 7900));
        Ok(())
    }
}
