//! The delivery service's fan-out: one member of a 101-member plain
//! RFC 9420 group (which the service follows) sends application messages;
//! the service checks the sender is a member, logs each message and queues
//! it for the 100 others, and every recipient fetches and acknowledges its
//! queue over HTTP. One iteration is one message delivered to all 100; the
//! service and the clients share this machine's two cores.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mlsx_app::ds::Limits;
use mlsx_app::remote::DsClient;
use mlsx_app::{Client, ClientConfig, GroupKind, MemoryStore, Outgoing, OutgoingKind};

const RECIPIENTS: usize = 100;

fn fan_out(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("mlsx-ds-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let limits = Limits {
        requests_per_second: 1_000_000,
        anonymous_requests_per_second: 1_000_000,
        key_package_fetches_per_hour: 1_000_000,
        ..Limits::default()
    };
    let url = format!("http://{}", mlsx_app::ds::spawn(&dir.join("ds.db"), limits).unwrap());
    // A real group of 101 members: the service follows it, and routes to
    // the members its observer holds.
    let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice")).unwrap();
    DsClient::new(&url, None).register(&mut alice).unwrap();
    let sender = mlsx_app::remote::connect(&mut alice).unwrap();
    let names: Vec<String> = (0..RECIPIENTS).map(|i| format!("member{i}")).collect();
    let readers: Vec<DsClient> = names
        .iter()
        .map(|n| {
            let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(n)).unwrap();
            DsClient::new(&url, None).register(&mut c).unwrap();
            let d = mlsx_app::remote::connect(&mut c).unwrap();
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
    // The message's bytes stand for any application message: the service
    // never looks inside.
    let message = alice.group(b"bench").unwrap().send(&[0x42; 100]).unwrap().message;
    let mut cursors = vec![0i64; RECIPIENTS];
    for (r, cursor) in readers.iter().zip(cursors.iter_mut()) {
        let batch = r.poll(0, 0).unwrap();
        *cursor = batch.last().map_or(0, |d| d.id);
        r.ack(*cursor).unwrap();
    }

    let mut group = c.benchmark_group("ds");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("fan_out_100", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let out = Outgoing {
                    group: b"bench".to_vec(),
                    epoch: 1,
                    kind: OutgoingKind::Message,
                    message: message.clone(),
                    recipients: names.clone(),
                    welcome: None,
                    welcome_to: vec![],
                    removed: vec![],
                };
                sender.post(&out).unwrap();
            }
            for (r, cursor) in readers.iter().zip(cursors.iter_mut()) {
                let mut got = 0;
                while got < iters {
                    let batch = r.poll(*cursor, 5).unwrap();
                    got += batch.len() as u64;
                    *cursor = batch.last().map_or(*cursor, |d| d.id);
                    r.ack(*cursor).unwrap();
                }
            }
            start.elapsed()
        });
    });
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

criterion_group!(benches, fan_out, stored_operations);
criterion_main!(benches);
