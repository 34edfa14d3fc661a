//! The delivery service's test suite runs on both databases: each test is
//! a function of the [`Backend`], and `on_both_databases!` makes a test of
//! it for each (`sqlite::name`, `postgres::name`). The PostgreSQL tests
//! start a throwaway cluster of their own (`mlsx_app::ds::cluster`), one
//! per test process, a database per service; they fail, with how to
//! install the server, if its binaries are missing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::ds::{Database, Limits};

/// Which database a test's service keeps its state in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A new, empty database for a service named `name`.
pub fn database(backend: Backend, name: &str) -> Database {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("mlsx-ds-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Database::Sqlite(dir.join("ds.db"))
        }
        Backend::Postgres => {
            let cluster = mlsx_app::ds::cluster::Cluster::shared().unwrap_or_else(|e| panic!("{e}"));
            Database::Postgres(cluster.fresh_database(name).unwrap())
        }
    }
}

/// A service on a thread over a new database: its URL and database.
pub fn service_at(backend: Backend, name: &str, limits: Limits) -> (String, Database) {
    let db = database(backend, name);
    let addr = mlsx_app::ds::spawn_on(&db, limits, None).unwrap();
    (format!("http://{addr}"), db)
}

/// A service on a thread over a new database: its URL.
pub fn service(backend: Backend, name: &str, limits: Limits) -> String {
    service_at(backend, name, limits).0
}

/// The rows of `sql` (`?1` is `arg`), each a text, on either database.
pub fn query_texts(db: &Database, sql: &str, arg: &str) -> Vec<String> {
    match db {
        Database::Sqlite(path) => {
            let c = rusqlite::Connection::open(path).unwrap();
            let mut st = c.prepare(sql).unwrap();
            let n = st.parameter_count();
            let value = |r: &rusqlite::Row<'_>| r.get::<_, rusqlite::types::Value>(0);
            let rows: Vec<_> = if n == 0 {
                st.query_map([], value).unwrap().collect()
            } else {
                st.query_map([arg], value).unwrap().collect()
            };
            rows.into_iter()
                .map(|v| match v.unwrap() {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Null => "NULL".into(),
                    other => panic!("{other:?}"),
                })
                .collect()
        }
        Database::Postgres(url) => {
            let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
            let sql = sql.replace("?1", "$1");
            // The one column as text, whatever its type.
            let sql = format!("SELECT c::TEXT FROM ({sql}) AS q(c)");
            let rows = if sql.contains("$1") {
                c.query(&sql, &[&arg]).unwrap()
            } else {
                c.query(&sql, &[]).unwrap()
            };
            rows.iter().map(|r| r.get::<_, String>(0)).collect()
        }
    }
}

/// The one integer `sql` answers (`?1` is `arg`).
pub fn query_i64(db: &Database, sql: &str, arg: &str) -> i64 {
    let rows = query_texts(db, sql, arg);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0].parse().unwrap_or_else(|_| panic!("{sql}: {rows:?}"))
}

/// Makes a `#[test]` of each listed test function for each database.
#[macro_export]
macro_rules! on_both_databases {
    ($($t:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $t() { super::$t(super::common::Backend::Sqlite) } )*
        }
        mod postgres {
            $( #[test] fn $t() { super::$t(super::common::Backend::Postgres) } )*
        }
    };
}
