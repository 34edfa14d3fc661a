//! Several `mlsx ds` processes on one PostgreSQL database, and their
//! faults: three processes, members each at a different one, moving to
//! another when theirs fails.
//! - Commits for one epoch from members at different processes, at once:
//!   exactly one is taken, every member converges.
//! - A process killed (SIGKILL) during a burst of messages: its clients
//!   move on, no accepted message is lost or delivered twice.
//! - The database stopped under load: every process answers 503 while it
//!   is down and serves again by itself when it is back; nothing
//!   acknowledged is lost.
//!
//! The cluster is a throwaway one (`mlsx_app::ds::cluster`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mlsx_app::ds::cluster::Cluster;
use mlsx_app::remote::{self, Answer, DsClient, Received};
use mlsx_app::{Client, ClientConfig, Event, GroupKind, MemoryStore, Outgoing};

const BIN: &str = env!("CARGO_BIN_EXE_mlsx");

/// A service process.
struct Ds {
    child: Child,
    url: String,
}

impl Drop for Ds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_ds(db: &str) -> Ds {
    let mut child = Command::new(BIN)
        .args(["ds", "--db", db, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("://").nth(1).unwrap().split(',').next().unwrap().to_owned();
    Ds {
        child,
        url: format!("http://{addr}"),
    }
}

fn processes(db: &str, n: usize) -> (Vec<Ds>, Vec<String>) {
    let procs: Vec<Ds> = (0..n).map(|_| start_ds(db)).collect();
    let urls = procs.iter().map(|p| p.url.clone()).collect();
    (procs, urls)
}

/// A failure the client answers by asking again, at another process: no
/// answer at all (the process is gone), or 503.
fn retryable(e: &mlsx_app::Error) -> bool {
    let m = e.to_string();
    m.contains("(HTTP 503)") || !m.contains("(HTTP ")
}

struct Member {
    name: String,
    client: Client,
    /// The same client at each process.
    ds: Vec<DsClient>,
    /// The process it talks to.
    at: usize,
}

impl Member {
    fn new(urls: &[String], name: &str, at: usize) -> Self {
        let mut client = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap();
        DsClient::new(&urls[at], None).register(&mut client).unwrap();
        let first = remote::connect(&mut client).unwrap();
        Self {
            name: name.into(),
            client,
            ds: urls.iter().map(|u| first.at(u)).collect(),
            at,
        }
    }

    /// `f` at the member's process; after a failure that may pass, again
    /// at the next process.
    fn with<T>(&mut self, mut f: impl FnMut(&mut Client, &DsClient) -> mlsx_app::Result<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match f(&mut self.client, &self.ds[self.at]) {
                Ok(t) => return t,
                Err(e) if retryable(&e) && Instant::now() < deadline => {
                    self.at = (self.at + 1) % self.ds.len();
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{}: {e}", self.name),
            }
        }
    }

    /// Posts `out` until a process takes it (the same bytes each time).
    fn post(&mut self, out: &Outgoing) -> i64 {
        match self.with(|_, ds| ds.post(out)) {
            Answer::Accepted(seq) => seq,
            other => panic!("{}: {other:?}", self.name),
        }
    }

    fn epoch(&mut self) -> (u64, String) {
        let info = self.client.group(b"g").unwrap().info().unwrap();
        (info.epoch, info.epoch_authenticator)
    }
}

/// alice (at process 0) makes group `g` of `kind` with bob (at 1) and
/// carol (at 2); all caught up.
fn group_of_three(urls: &[String], kind: GroupKind) -> Vec<Member> {
    let mut alice = Member::new(urls, "alice", 0);
    let mut others: Vec<Member> = ["bob", "carol"]
        .iter()
        .enumerate()
        .map(|(i, n)| Member::new(urls, n, (i + 1) % urls.len()))
        .collect();
    let mut offers = vec![];
    for m in &mut others {
        let kp = m.client.key_packages(kind, 1, false).unwrap();
        m.with(|_, ds| ds.publish(&kp));
        let name = m.name.clone();
        offers.push(alice.with(|_, ds| ds.key_package(&name, kind)));
    }
    let out = alice.client.create_group(b"g", kind).unwrap().add(&offers).unwrap();
    assert!(matches!(alice.with(|c, ds| remote::send(c, ds, &out)), Answer::Accepted(_)));
    for m in &mut others {
        m.with(|c, ds| remote::receive(c, ds, 0));
    }
    let mut all = vec![alice];
    all.extend(others);
    let first = all[0].epoch();
    for m in &mut all {
        assert_eq!(m.epoch(), first, "{}", m.name);
    }
    all
}

/// The texts of the application messages received.
fn texts(received: &[Received]) -> Vec<String> {
    let mut out = vec![];
    for r in received {
        let events = r.outcome.as_ref().unwrap_or_else(|e| panic!("refused by the receiver: {e}"));
        for e in events {
            if let Event::Message { data, .. } = e {
                out.push(String::from_utf8_lossy(data).into_owned());
            }
        }
    }
    out
}

#[test]
fn concurrent_commits_at_different_processes_one_wins() {
    let cluster = Cluster::shared().unwrap();
    for kind in [GroupKind::Plain, GroupKind::Hybrid] {
        let db = cluster.fresh_database("race").unwrap();
        let (_procs, urls) = processes(&db, 3);
        let mut members = group_of_three(&urls, kind);
        for round in 0..4 {
            let barrier = Barrier::new(members.len());
            let answers: Vec<Answer> = std::thread::scope(|s| {
                let handles: Vec<_> = members
                    .iter_mut()
                    .map(|m| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            let out = m.client.group(b"g").unwrap().update(false).unwrap();
                            barrier.wait();
                            m.with(|c, ds| remote::send(c, ds, &out))
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let won = answers.iter().filter(|a| matches!(a, Answer::Accepted(_))).count();
            let lost = answers.iter().filter(|a| matches!(a, Answer::Conflict(_))).count();
            assert_eq!((won, lost), (1, members.len() - 1), "{kind:?} round {round}: {answers:?}");
            for m in &mut members {
                m.with(|c, ds| remote::receive(c, ds, 0));
            }
            let first = members[0].epoch();
            for m in &mut members {
                assert_eq!(m.epoch(), first, "{kind:?} round {round}: {}", m.name);
            }
        }
        // The service is not left behind: the next commit is taken.
        let out = members[1].client.group(b"g").unwrap().update(false).unwrap();
        assert!(matches!(members[1].with(|c, ds| remote::send(c, ds, &out)), Answer::Accepted(_)));
    }
}

#[test]
fn a_process_killed_during_a_burst_loses_and_doubles_nothing() {
    let cluster = Cluster::shared().unwrap();
    let db = cluster.fresh_database("kill").unwrap();
    let (mut procs, urls) = processes(&db, 3);
    let mut members = group_of_three(&urls, GroupKind::Plain);
    let total = 150;
    let sent = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let mut alice = members.remove(0);
    let received: Vec<(String, Vec<String>)> = std::thread::scope(|s| {
        // bob and carol read as it comes, each through its own process
        // (bob's is the one killed).
        let readers: Vec<_> = members
            .iter_mut()
            .map(|m| {
                let done = &done;
                s.spawn(move || {
                    let mut got = vec![];
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while got.len() < total && Instant::now() < deadline {
                        let r = m.with(|c, ds| remote::receive(c, ds, 1));
                        got.extend(texts(&r));
                        if done.load(Ordering::Relaxed) && r.is_empty() && got.len() >= total {
                            break;
                        }
                    }
                    (m.name.clone(), got)
                })
            })
            .collect();
        // alice's burst, spread over the processes; process 1 is killed
        // in the middle of it.
        let killer = s.spawn(|| {
            while sent.load(Ordering::Relaxed) < total / 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = procs[1].child.kill();
            let _ = procs[1].child.wait();
        });
        for i in 0..total {
            let out = alice.client.group(b"g").unwrap().send(format!("m{i}").as_bytes()).unwrap();
            alice.at = i % urls.len();
            alice.post(&out);
            sent.store(i + 1, Ordering::Relaxed);
        }
        done.store(true, Ordering::Relaxed);
        killer.join().unwrap();
        readers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    for (name, got) in received {
        assert_eq!(got, expected, "{name}: every accepted message once, in order");
    }
    // The killed process's clients carry on elsewhere.
    let out = members[0].client.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(members[0].with(|c, ds| remote::send(c, ds, &out)), Answer::Accepted(_)));
    alice.with(|c, ds| remote::receive(c, ds, 0));
    members[1].with(|c, ds| remote::receive(c, ds, 0));
    let first = alice.epoch();
    assert_eq!(members[0].epoch(), first);
    assert_eq!(members[1].epoch(), first);
}

#[test]
fn a_database_restart_is_answered_503_and_recovered_from() {
    // A cluster of its own: it is stopped in the middle.
    let cluster = Cluster::start().unwrap();
    let db = cluster.create_database("restart").unwrap();
    let (_procs, urls) = processes(&db, 3);
    let mut members = group_of_three(&urls, GroupKind::Plain);
    let total = 120;
    let unavailable = Arc::new(AtomicUsize::new(0));
    let sent = AtomicUsize::new(0);
    let mut alice = members.remove(0);
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            for i in 0..total {
                let out = alice.client.group(b"g").unwrap().send(format!("m{i}").as_bytes()).unwrap();
                // Until it is taken: every refusal while the database is
                // down is a 503, never a loss or another error.
                loop {
                    match alice.ds[i % urls.len()].post(&out) {
                        Ok(Answer::Accepted(_)) => break,
                        Err(e) if e.to_string().contains("(HTTP 503)") => {
                            unavailable.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        other => panic!("message {i}: {other:?}"),
                    }
                }
                sent.store(i + 1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        while sent.load(Ordering::Relaxed) < total / 4 {
            std::thread::sleep(Duration::from_millis(10));
        }
        cluster.stop().unwrap();
        let stopped_at = sent.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(2));
        // Readers are answered 503 too.
        let e = members[0].ds[1].poll(0, 0).unwrap_err().to_string();
        assert!(e.contains("(HTTP 503)"), "{e}");
        assert!(
            sent.load(Ordering::Relaxed) <= stopped_at + 1,
            "nothing is taken while the database is down"
        );
        cluster.restart().unwrap();
        sender.join().unwrap();
    });
    assert!(unavailable.load(Ordering::Relaxed) > 0, "the stop was seen");
    let expected: Vec<String> = (0..total).map(|i| format!("m{i}")).collect();
    for m in &mut members {
        let mut got = vec![];
        while got.len() < total {
            let r = m.with(|c, ds| remote::receive(c, ds, 1));
            assert!(!r.is_empty(), "{}: {} of {total}", m.name, got.len());
            got.extend(texts(&r));
        }
        assert_eq!(got, expected, "{}", m.name);
    }
}

/// Processes started at once on a new database: the schema is made once
/// (they take turns under an advisory lock), and all of them serve. A
/// database whose schema is newer than this build's is refused, not used.
#[test]
fn processes_starting_at_once_migrate_once() {
    let cluster = Cluster::shared().unwrap();
    let db = cluster.fresh_database("migrate").unwrap();
    let mut children: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(BIN)
                .args(["ds", "--db", &db, "--listen", "127.0.0.1:0"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let procs: Vec<Ds> = children
        .drain(..)
        .map(|mut child| {
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            assert!(line.contains("listening on"), "{line:?}");
            let addr = line.split("://").nth(1).unwrap().split(',').next().unwrap().to_owned();
            Ds {
                child,
                url: format!("http://{addr}"),
            }
        })
        .collect();
    let urls: Vec<String> = procs.iter().map(|p| p.url.clone()).collect();
    let mut members = group_of_three(&urls, GroupKind::Plain);
    let out = members[2].client.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(members[2].with(|c, ds| remote::send(c, ds, &out)), Answer::Accepted(_)));
    let mut sql = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    let versions: Vec<i64> = sql
        .query("SELECT version FROM mlsx_schema", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, vec![1]);
    // A newer schema: no process of this build starts on it.
    sql.execute("UPDATE mlsx_schema SET version = 99", &[]).unwrap();
    let Err(e) = mlsx_app::ds::Database::Postgres(db.clone()).open() else {
        panic!("a newer schema was opened");
    };
    let e = e.to_string();
    assert!(e.contains("newer"), "{e}");
    let out = Command::new(BIN)
        .args(["ds", "--db", &db, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
