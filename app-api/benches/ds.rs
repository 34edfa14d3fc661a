//! The delivery service's throughput, on each of its databases:
//! SQLite with one `mlsx ds` process, and PostgreSQL (a throwaway cluster,
//! fsync on) with one, two and three processes on the same database. The
//! clients share this machine's two cores with the service and the
//! database.
//!
//! - `ds/fan_out_100/<db>`: one member of a 101-member plain RFC 9420
//!   group (which the service follows) sends application messages; the
//!   service checks the sender is a member, logs each message and queues
//!   it for the 100 others, and every recipient fetches and acknowledges
//!   its queue over HTTP. One iteration is one message delivered to all
//!   100.
//! - `ds/groups_20x5/<db>`: 20 groups of 5 members (100 clients), one
//!   thread per group; in one iteration every member of every group sends
//!   one message (100 posts, 400 deliveries) and reads and acknowledges
//!   its queue, the clients spread over the processes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mlsx_app::ds::cluster::Cluster;
use mlsx_app::remote::DsClient;
use mlsx_app::{Client, ClientConfig, GroupKind, MemoryStore, Outgoing, OutgoingKind};

const RECIPIENTS: usize = 100;

/// `mlsx ds` processes on one database, without rate limits in the way.
struct Service {
    procs: Vec<Child>,
    urls: Vec<String>,
}

impl Drop for Service {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn service(db: &str, processes: usize) -> Service {
    let mut procs = vec![];
    let mut urls = vec![];
    for _ in 0..processes {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mlsx"))
            .args([
                "ds",
                "--db",
                db,
                "--listen",
                "127.0.0.1:0",
                "--rate",
                "1000000",
                "--anonymous-rate",
                "1000000",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.split("://").nth(1).unwrap().split(',').next().unwrap().to_owned();
        urls.push(format!("http://{addr}"));
        procs.push(child);
    }
    Service { procs, urls }
}

/// The databases measured: a name, and how to make a fresh one.
fn databases(cluster: &Cluster, dir: &std::path::Path) -> Vec<(String, String, usize)> {
    let mut out = vec![("sqlite".to_owned(), dir.join("ds.db").display().to_string(), 1)];
    for n in 1..=3 {
        out.push((format!("postgres_{n}p"), cluster.fresh_database("bench").unwrap(), n));
    }
    out
}

/// A registered client at `url`: its client and connection.
fn member(url: &str, name: &str) -> (Client, DsClient) {
    let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap();
    DsClient::new(url, None).register(&mut c).unwrap();
    let d = mlsx_app::remote::connect(&mut c).unwrap();
    (c, d)
}

/// `readers` fetch and acknowledge until each has `want` more entries.
fn drain(readers: &[DsClient], cursors: &mut [i64], want: u64) {
    for (r, cursor) in readers.iter().zip(cursors.iter_mut()) {
        let mut got = 0;
        while got < want {
            let batch = r.poll(*cursor, 5).unwrap();
            got += batch.len() as u64;
            *cursor = batch.last().map_or(*cursor, |d| d.id);
            r.ack(*cursor).unwrap();
        }
    }
}

fn fan_out(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mlsx-ds-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = Cluster::start().unwrap();
    let mut group = c.benchmark_group("ds");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (label, db, processes) in databases(&cluster, &dir) {
        let svc = service(&db, processes);
        // A real group of 101 members: the service follows it, and routes
        // to the members its observer holds. Members at every process.
        let url = |i: usize| svc.urls[i % svc.urls.len()].clone();
        let (mut alice, sender) = member(&url(0), "alice");
        let names: Vec<String> = (0..RECIPIENTS).map(|i| format!("member{i}")).collect();
        let readers: Vec<DsClient> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (mut c, d) = member(&url(i + 1), n);
                d.publish(&c.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
                d
            })
            .collect();
        let offers: Vec<_> = names.iter().map(|n| sender.key_package(n, GroupKind::Plain).unwrap()).collect();
        let add = alice.create_group(b"bench", GroupKind::Plain).unwrap().add(&offers).unwrap();
        assert!(matches!(
            mlsx_app::remote::send(&mut alice, &sender, &add).unwrap(),
            mlsx_app::remote::Answer::Accepted(_)
        ));
        let mut cursors = vec![0i64; RECIPIENTS];
        drain(&readers, &mut cursors, 1);
        let mut n = 0u32;
        group.bench_function(format!("fan_out_100/{label}"), |b| {
            b.iter_custom(|iters| {
                // Fresh ciphertexts (the service takes a repeated one as a
                // resend), made before the clock starts.
                let messages: Vec<Vec<u8>> = (0..iters)
                    .map(|_| {
                        n += 1;
                        alice.group(b"bench").unwrap().send(&n.to_be_bytes()).unwrap().message
                    })
                    .collect();
                let start = Instant::now();
                for message in messages {
                    let out = Outgoing {
                        group: b"bench".to_vec(),
                        epoch: 1,
                        kind: OutgoingKind::Message,
                        message,
                        recipients: names.clone(),
                        welcome: None,
                        welcome_to: vec![],
                        removed: vec![],
                    };
                    sender.post(&out).unwrap();
                }
                drain(&readers, &mut cursors, iters);
                start.elapsed()
            });
        });
        drop(svc);
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

const GROUPS: usize = 20;
const GROUP_SIZE: usize = 5;

/// One group of the multi-group load: its members' clients and
/// connections (each at a process of its own choosing).
struct LoadGroup {
    id: Vec<u8>,
    members: Vec<(Client, DsClient, i64)>,
}

impl LoadGroup {
    fn new(urls: &[String], g: usize) -> Self {
        let id = format!("group{g}").into_bytes();
        let mut members: Vec<(Client, DsClient, i64)> = (0..GROUP_SIZE)
            .map(|m| {
                let (c, d) = member(&urls[(g * GROUP_SIZE + m) % urls.len()], &format!("g{g}m{m}"));
                (c, d, 0)
            })
            .collect();
        let mut offers = vec![];
        for m in 1..GROUP_SIZE {
            let (c, d, _) = &mut members[m];
            d.publish(&c.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
            offers.push(members[0].1.key_package(&format!("g{g}m{m}"), GroupKind::Plain).unwrap());
        }
        let (creator, ds, _) = &mut members[0];
        let add = creator.create_group(&id, GroupKind::Plain).unwrap().add(&offers).unwrap();
        mlsx_app::remote::send(creator, ds, &add).unwrap();
        for (c, d, _) in &mut members[1..] {
            mlsx_app::remote::receive(c, d, 0).unwrap();
        }
        Self { id, members }
    }

    /// Every member sends one message, then every member reads the
    /// others' (each member's queue position is its own).
    fn round(&mut self) {
        let posts: Vec<(usize, Outgoing)> = self
            .members
            .iter_mut()
            .enumerate()
            .map(|(i, (c, _, _))| (i, c.group(&self.id).unwrap().send(b"load").unwrap()))
            .collect();
        for (i, out) in &posts {
            self.members[*i].1.post(out).unwrap();
        }
        let others = (GROUP_SIZE - 1) as u64;
        for (_, d, cursor) in &mut self.members {
            let mut got = 0;
            while got < others {
                let batch = d.poll(*cursor, 5).unwrap();
                got += batch.len() as u64;
                *cursor = batch.last().map_or(*cursor, |e| e.id);
                d.ack(*cursor).unwrap();
            }
        }
    }
}

fn many_groups(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mlsx-ds-bench-groups-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = Cluster::start().unwrap();
    let mut group = c.benchmark_group("ds");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (label, db, processes) in databases(&cluster, &dir) {
        let svc = service(&db, processes);
        let mut groups: Vec<LoadGroup> = (0..GROUPS).map(|g| LoadGroup::new(&svc.urls, g)).collect();
        group.bench_function(format!("groups_20x5/{label}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for g in &mut groups {
                        s.spawn(move || {
                            for _ in 0..iters {
                                g.round();
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
        drop(svc);
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// What durable state costs a member: an update commit (stored twice:
/// pending, then accepted) and a sent message (the ratchet stored), with
/// SQLite on disk (full syncs) and in memory.
fn stored_operations(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mlsx-store-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    for backend in ["memory", "sqlite"] {
        let store: Box<dyn mlsx_app::Store> = match backend {
            "memory" => Box::new(MemoryStore::new()),
            _ => Box::new(mlsx_app::SqliteStore::open(&dir.join("alice.db")).unwrap()),
        };
        let mut alice = Client::create(store, ClientConfig::new("alice")).unwrap();
        let mut bob = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("bob")).unwrap();
        let offer = bob.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
        let mut g = alice.create_group(b"g", GroupKind::Plain).unwrap();
        g.add(&[offer]).unwrap();
        g.accepted().unwrap();
        group.bench_function(format!("commit_update_{backend}"), |b| {
            b.iter(|| {
                let mut g = alice.group(b"g").unwrap();
                g.update(false).unwrap();
                g.accepted().unwrap();
            });
        });
        group.bench_function(format!("send_100B_{backend}"), |b| {
            b.iter(|| alice.group(b"g").unwrap().send(&[0x42; 100]).unwrap());
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, fan_out, many_groups, stored_operations);
criterion_main!(benches);
