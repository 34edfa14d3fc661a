//! Soak: honest clients in a plain, an extended and a hybrid group commit,
//! send, add and remove members on a service over loopback, while attacker
//! threads hammer the same service with what `hostile_clients.rs` tries one
//! at a time. At the end every honest message reached every member of its
//! epoch exactly once, every group's members agree, the service still
//! answers, and its database is small.
//!
//! `MLSX_SOAK_SECONDS` sets the honest clients' time (default 20; the
//! figures in BENCHMARKS.md are of a longer run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mlsx_app::ds::Limits;
use mlsx_app::remote::{self, Answer, DsClient};
use mlsx_app::{Client, ClientConfig, Event, GroupKind, MemoryStore, Outgoing, OutgoingKind};

struct Member {
    name: String,
    client: Client,
    ds: DsClient,
}

fn member(url: &str, name: &str) -> Member {
    let mut client = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap();
    DsClient::new(url, None).register(&mut client).unwrap();
    let ds = mlsx_app::remote::connect(&mut client).unwrap();
    Member {
        name: name.to_owned(),
        client,
        ds,
    }
}

/// What one group's honest members did and saw.
#[derive(Default)]
struct Tally {
    sent: usize,
    commits: usize,
    joins: usize,
    removals: usize,
    /// (sender, payload) → the members that must receive it.
    expected: BTreeMap<(String, String), BTreeSet<String>>,
    /// (receiver, sender, payload) → how many times received.
    got: BTreeMap<(String, String, String), usize>,
}

fn receive_all(m: &mut Member, tally: &mut Tally) {
    for r in remote::receive(&mut m.client, &m.ds, 0).unwrap() {
        let events = r
            .outcome
            .unwrap_or_else(|e| panic!("{} refused an entry from {}: {e}", m.name, r.sender));
        for e in events {
            if let Event::Message { sender, data, .. } = e {
                *tally
                    .got
                    .entry((m.name.clone(), sender, String::from_utf8(data).unwrap()))
                    .or_default() += 1;
            }
        }
    }
}

/// Sends and settles an honest commit; every member receives.
fn commit(members: &mut [Member], from: usize, out: &Outgoing, tally: &mut Tally) {
    let m = &mut members[from];
    match remote::send(&mut m.client, &m.ds, out).unwrap() {
        Answer::Accepted(_) => {}
        other => panic!("{}'s commit: {other:?}", m.name),
    }
    tally.commits += 1;
}

/// One group's honest life for `seconds`: messages, updates, adds and
/// removals, in a fixed pseudo-random order.
fn run_group(url: &str, kind: GroupKind, prefix: &str, seconds: u64, ready: &std::sync::Barrier) -> Tally {
    let mut tally = Tally::default();
    let mut members: Vec<Member> = (0..3).map(|i| member(url, &format!("{prefix}{i}"))).collect();
    // Users register once, before the attacks start: registrations are
    // metered per source address, and here everyone is 127.0.0.1.
    let mut newcomers: Vec<Member> = (3..12).map(|i| member(url, &format!("{prefix}{i}"))).collect();
    newcomers.reverse();
    ready.wait();
    let group = prefix.as_bytes().to_vec();
    // The creator adds the others.
    let mut offers = vec![];
    // Each user keeps a few KeyPackages and a last-resort one, so that an
    // attacker who takes them (as `attack` does) cannot lock it out.
    for m in members[1..].iter_mut().chain(newcomers.iter_mut()) {
        m.ds.publish(&m.client.key_packages(kind, 2, false).unwrap()).unwrap();
        m.ds.publish(&m.client.key_packages(kind, 1, true).unwrap()).unwrap();
    }
    for m in &members[1..] {
        offers.push(members[0].ds.key_package(&m.name, kind).unwrap());
    }
    let out = members[0].client.create_group(&group, kind).unwrap().add(&offers).unwrap();
    commit(&mut members, 0, &out, &mut tally);
    for m in &mut members[1..] {
        receive_all(m, &mut tally);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut step = 0u64;
    while Instant::now() < deadline {
        step += 1;
        let n = members.len();
        let from = (step as usize * 7) % n;
        let roster: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
        match step % 10 {
            // A newcomer joins by Welcome (the group stays at most 6).
            3 if n < 6 && !newcomers.is_empty() => {
                let mut newcomer = newcomers.pop().unwrap();
                let offer = members[from].ds.key_package(&newcomer.name, kind).unwrap();
                let out = members[from].client.group(&group).unwrap().add(&[offer]).unwrap();
                commit(&mut members, from, &out, &mut tally);
                receive_all(&mut newcomer, &mut tally);
                members.push(newcomer);
                tally.joins += 1;
            }
            // The oldest other member is removed (the group stays at least 3).
            7 if n > 3 => {
                let victim = (from + 1) % n;
                let name = members[victim].name.clone();
                let out = members[from].client.group(&group).unwrap().remove(&[name]).unwrap();
                commit(&mut members, from, &out, &mut tally);
                let mut gone = members.remove(victim);
                receive_all(&mut gone, &mut tally);
                tally.removals += 1;
            }
            5 | 9 => {
                let full = step % 20 == 9;
                let from = from.min(members.len() - 1);
                let out = members[from].client.group(&group).unwrap().update(full).unwrap();
                commit(&mut members, from, &out, &mut tally);
            }
            _ => {
                let from = from.min(members.len() - 1);
                let payload = format!("{prefix}-{step}");
                let m = &mut members[from];
                let out = m.client.group(&group).unwrap().send(payload.as_bytes()).unwrap();
                assert!(matches!(remote::send(&mut m.client, &m.ds, &out).unwrap(), Answer::Accepted(_)));
                let mut to = roster.clone();
                to.remove(&m.name);
                tally.expected.insert((m.name.clone(), payload), to);
                tally.sent += 1;
            }
        }
        for m in &mut members {
            receive_all(m, &mut tally);
        }
    }
    // Every member agrees on the epoch.
    let auth: BTreeSet<String> = members
        .iter_mut()
        .map(|m| m.client.group(&group).unwrap().info().unwrap().epoch_authenticator)
        .collect();
    assert_eq!(auth.len(), 1, "{prefix}: the members disagree");
    tally
}

/// Attacks run in a loop until `stop`, each counted; one that gets what it
/// must not (an accepted bogus commit, a closed group's GroupInfo) fails
/// the test, and one that reaches an honest member fails it at the end.
fn attack(url: &str, who: usize, stop: &AtomicBool, requests: &AtomicU64, ready: &std::sync::Barrier) {
    let mut mallory = member(url, &format!("mallory{who}"));
    ready.wait();
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        step += 1;
        let r: Result<(), String> = match step % 6 {
            // Bogus commits for the honest groups' early epochs.
            0 => {
                let out = Outgoing {
                    group: [b"plain".as_slice(), b"ext", b"hyb"][(step / 6 % 3) as usize].to_vec(),
                    epoch: step % 5,
                    kind: OutgoingKind::Commit,
                    message: vec![0, 1, 0, 1, 0, 5, b'p', b'l', b'a', b'i', b'n'],
                    recipients: vec![],
                    welcome: None,
                    welcome_to: vec![],
                    removed: vec![],
                };
                match mallory.ds.post(&out) {
                    Ok(Answer::Accepted(_)) => Err("a bogus commit was accepted".into()),
                    _ => Ok(()),
                }
            }
            // GroupInfos of closed groups.
            1 => match mallory.ds.group_info(b"plain") {
                Ok(_) => Err("a stranger got a GroupInfo".into()),
                Err(_) => Ok(()),
            },
            // Draining an honest member's KeyPackages.
            2 => {
                let _ = mallory.ds.key_package("plain1", GroupKind::Plain);
                Ok(())
            }
            // Registrations and wrong tokens.
            3 => {
                let _ = DsClient::new(url, None).register_name(&format!("flood{step}"));
                let _ = DsClient::new(url, Some("00".repeat(32))).poll(0, 0);
                Ok(())
            }
            // Half a header, left open.
            4 => {
                use std::io::Write;
                let addr = url.trim_start_matches("http://");
                if let Ok(mut s) = std::net::TcpStream::connect(addr) {
                    let _ = s.write_all(b"GET /v1/queue HTTP/1.1\r\n");
                    std::mem::forget(s);
                }
                Ok(())
            }
            // Its own group, messages to others.
            _ => {
                let g = format!("m{who}-{step}");
                if mallory.client.create_group(g.as_bytes(), GroupKind::Plain).is_ok() {
                    let mut out = mallory.client.group(g.as_bytes()).unwrap().send(b"spam").unwrap();
                    out.recipients = vec!["plain0".into(), "ext0".into()];
                    let _ = remote::send(&mut mallory.client, &mallory.ds, &out);
                }
                Ok(())
            }
        };
        requests.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = r {
            panic!("attack {step}: {e}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn soak_honest_groups_under_attack() {
    let seconds: u64 = std::env::var("MLSX_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let dir = std::env::temp_dir().join(format!("mlsx-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("ds.db");
    let limits = Limits {
        header_timeout: Duration::from_secs(2),
        max_groups: 200,
        ..Limits::default()
    };
    let url = format!("http://{}", mlsx_app::ds::spawn(&db, limits).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(std::sync::Barrier::new(5));
    let attackers: Vec<_> = (0..2)
        .map(|i| {
            let (url, stop, requests, ready) = (url.clone(), stop.clone(), requests.clone(), ready.clone());
            std::thread::spawn(move || attack(&url, i, &stop, &requests, &ready))
        })
        .collect();
    let start = Instant::now();
    let groups: Vec<_> = [
        (GroupKind::Plain, "plain"),
        (GroupKind::Extended, "ext"),
        (GroupKind::Hybrid, "hyb"),
    ]
    .into_iter()
    .map(|(kind, prefix)| {
        let (url, ready) = (url.clone(), ready.clone());
        std::thread::spawn(move || run_group(&url, kind, prefix, seconds, &ready))
    })
    .collect();
    let tallies: Vec<Tally> = groups.into_iter().map(|t| t.join().unwrap()).collect();
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    let (mut sent, mut delivered, mut commits, mut joins, mut removals) = (0, 0, 0, 0, 0);
    for t in &tallies {
        for ((sender, payload), to) in &t.expected {
            for r in to {
                let n = t.got.get(&(r.clone(), sender.clone(), payload.clone())).copied().unwrap_or(0);
                assert_eq!(n, 1, "{r} received {sender}'s {payload} {n} times");
                delivered += 1;
            }
        }
        let extra = t
            .got
            .keys()
            .filter(|(r, s, p)| !t.expected.get(&(s.clone(), p.clone())).is_some_and(|to| to.contains(r)))
            .count();
        assert_eq!(extra, 0, "a message reached someone it was not for");
        sent += t.sent;
        commits += t.commits;
        joins += t.joins;
        removals += t.removals;
    }
    // The service still answers (once the attackers' address bucket has
    // refilled).
    std::thread::sleep(Duration::from_secs(1));
    DsClient::new(&url, None).register_name("after").unwrap();
    let db_bytes = std::fs::metadata(&db).unwrap().len() + std::fs::metadata(dir.join("ds.db-wal")).map_or(0, |m| m.len());
    println!(
        "soak: {:.0} s, {sent} messages ({delivered} deliveries, {:.0}/s), {commits} commits, {joins} joins, {removals} removals; {} attack requests (none took an epoch, read a closed group or reached an honest member); database {} KiB",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64(),
        requests.load(Ordering::Relaxed),
        db_bytes / 1024
    );
    assert!(sent > 0 && commits > 3);
    assert!(db_bytes < 64 << 20, "the database grew to {db_bytes} bytes");
}
