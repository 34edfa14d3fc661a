//! The application API over both stores: plain groups and hybrid sessions,
//! optimistic commits accepted and refused, persistence across reopening,
//! and secrets gone from the database file's bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::client::GroupOptions;
use mlsx_app::{Client, ClientConfig, Event, GroupKind, MemoryStore, SqliteStore};

fn memory(name: &str) -> Client {
    Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap()
}

fn messages(events: &[Event]) -> Vec<(String, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { sender, data, .. } => Some((sender.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

fn three(kind: GroupKind) -> (Client, Client, Client) {
    let (mut a, mut b, mut c) = (memory("alice"), memory("bob"), memory("carol"));
    let offers = [
        b.key_packages(kind, 1, false).unwrap().remove(0),
        c.key_packages(kind, 1, false).unwrap().remove(0),
    ];
    let mut g = a.create_group(b"g", kind).unwrap();
    let out = g.add(&offers).unwrap();
    assert_eq!(out.welcome_to, vec!["bob".to_string(), "carol".to_string()]);
    assert!(out.recipients.is_empty());
    let events = g.accepted().unwrap();
    assert!(events.contains(&Event::MemberAdded { name: "bob".into() }));
    let w = out.welcome.unwrap();
    b.join(&w).unwrap();
    c.join(&w).unwrap();
    assert_eq!(b.key_package_count().unwrap(), 0, "a used KeyPackage is deleted");
    (a, b, c)
}

fn deliver(to: &mut [&mut Client], message: &[u8]) -> Vec<Vec<Event>> {
    to.iter_mut().map(|c| c.group(b"g").unwrap().process(message).unwrap()).collect()
}

fn session(kind: GroupKind) {
    let (mut a, mut b, mut c) = three(kind);
    // Messages both ways.
    let m = a.group(b"g").unwrap().send(b"hi from alice").unwrap();
    assert_eq!(m.recipients, vec!["bob".to_string(), "carol".to_string()]);
    for ev in deliver(&mut [&mut b, &mut c], &m.message) {
        assert_eq!(messages(&ev), vec![("alice".to_string(), b"hi from alice".to_vec())]);
    }
    let m = c.group(b"g").unwrap().send(b"hi from carol").unwrap();
    assert_eq!(
        messages(&deliver(&mut [&mut a], &m.message)[0]),
        vec![("carol".to_string(), b"hi from carol".to_vec())]
    );
    b.group(b"g").unwrap().process(&m.message).unwrap();
    // Updates: FULL and PARTIAL in hybrid sessions.
    for full in [true, false] {
        let out = b.group(b"g").unwrap().update(full).unwrap();
        let ev = b.group(b"g").unwrap().accepted().unwrap();
        if kind == GroupKind::Hybrid {
            let want = if full { "FULL" } else { "PARTIAL" };
            assert!(matches!(&ev[0], Event::EpochChanged { kind, .. } if kind == want), "{ev:?}");
        }
        deliver(&mut [&mut a, &mut c], &out.message);
    }
    let epochs: Vec<u64> = [&mut a, &mut b, &mut c]
        .iter_mut()
        .map(|x| x.group(b"g").unwrap().epoch())
        .collect();
    assert!(epochs.iter().all(|e| *e == epochs[0]));
    let auth = a.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    assert_eq!(c.group(b"g").unwrap().info().unwrap().epoch_authenticator, auth);
    // Two members commit the same epoch: the DS takes alice's; carol's is
    // refused, she goes back and processes alice's.
    let winner = a.group(b"g").unwrap().update(false).unwrap();
    let loser = c.group(b"g").unwrap().update(false).unwrap();
    assert_eq!(winner.epoch, loser.epoch);
    a.group(b"g").unwrap().accepted().unwrap();
    assert!(matches!(c.group(b"g").unwrap().send(b"x"), Err(mlsx_app::Error::CommitPending(_))));
    c.group(b"g").unwrap().refused().unwrap();
    deliver(&mut [&mut b, &mut c], &winner.message);
    let auth = a.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    assert_eq!(c.group(b"g").unwrap().info().unwrap().epoch_authenticator, auth);
    // A removal: bob learns it, carol sees bob go.
    let out = a.group(b"g").unwrap().remove(&["bob".to_string()]).unwrap();
    assert_eq!(out.recipients, vec!["bob".to_string(), "carol".to_string()]);
    a.group(b"g").unwrap().accepted().unwrap();
    let ev = deliver(&mut [&mut b, &mut c], &out.message);
    assert!(ev[0].contains(&Event::RemovedSelf));
    assert!(b.groups().unwrap().is_empty());
    assert!(ev[1].contains(&Event::MemberRemoved { name: "bob".into() }));
    assert_eq!(c.group(b"g").unwrap().roster(), vec!["alice".to_string(), "carol".to_string()]);
    // Bad input leaves the group as it was: a truncated message, a replay.
    let before = c.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    let m = a.group(b"g").unwrap().send(b"once").unwrap();
    assert!(c.group(b"g").unwrap().process(&m.message[..m.message.len() / 2]).is_err());
    c.group(b"g").unwrap().process(&m.message).unwrap();
    assert!(c.group(b"g").unwrap().process(&m.message).is_err(), "a replay is refused");
    assert!(
        c.group(b"g").unwrap().process(&out.message).is_err(),
        "an old epoch's commit is refused"
    );
    assert_eq!(c.group(b"g").unwrap().info().unwrap().epoch_authenticator, before);
}

#[test]
fn plain_group_through_the_api() {
    session(GroupKind::Plain);
}

#[test]
fn extended_group_through_the_api() {
    session(GroupKind::Extended);
}

#[test]
fn safe_aad_and_self_remove_in_an_extended_group() {
    let (mut a, mut b, mut c) = three(GroupKind::Extended);
    let m = a
        .group(b"g")
        .unwrap()
        .send_with_aad(b"with aad", &[(0x8001, b"read:1".to_vec())])
        .unwrap();
    let ev = b.group(b"g").unwrap().process(&m.message).unwrap();
    assert_eq!(
        ev,
        vec![Event::Message {
            sender: "alice".into(),
            data: b"with aad".to_vec(),
            safe_aad: vec![(0x8001, b"read:1".to_vec())],
            media_type: None,
        }]
    );
    c.group(b"g").unwrap().process(&m.message).unwrap();
    // SafeAAD only where the group has it.
    let (mut p, _, _) = three(GroupKind::Plain);
    assert!(matches!(
        p.group(b"g").unwrap().send_with_aad(b"x", &[(1, vec![])]),
        Err(mlsx_app::Error::WrongKind(_))
    ));
    // carol leaves: her SelfRemove proposal, then alice's next commit.
    let leave = c.group(b"g").unwrap().leave().unwrap();
    assert_eq!(a.group(b"g").unwrap().process(&leave.message).unwrap(), vec![Event::Proposal]);
    b.group(b"g").unwrap().process(&leave.message).unwrap();
    let out = a.group(b"g").unwrap().update(false).unwrap();
    assert!(out.recipients.contains(&"carol".to_string()));
    a.group(b"g").unwrap().accepted().unwrap();
    let ev = deliver(&mut [&mut b, &mut c], &out.message);
    assert!(ev[0].contains(&Event::MemberRemoved { name: "carol".into() }));
    assert!(ev[1].contains(&Event::RemovedSelf));
    assert_eq!(a.group(b"g").unwrap().roster(), vec!["alice".to_string(), "bob".to_string()]);
    // Leaving needs the extension.
    let (mut h, _, _) = three(GroupKind::Hybrid);
    assert!(matches!(h.group(b"g").unwrap().leave(), Err(mlsx_app::Error::WrongKind(_))));
}

#[test]
fn media_types_in_an_extended_group() {
    let config = |n: &str, types: &[&str]| ClientConfig::new(n).media_types(types);
    let mut a = Client::create(
        Box::new(MemoryStore::new()),
        config("alice", &["text/plain; charset=utf-8", "image/png"]),
    )
    .unwrap();
    let mut b = Client::create(
        Box::new(MemoryStore::new()),
        config("bob", &["image/png", "text/plain;charset=UTF-8"]),
    )
    .unwrap();
    let mut c = Client::create(Box::new(MemoryStore::new()), config("carol", &["text/plain; charset=utf-8"])).unwrap();
    let options = GroupOptions::default().media_types(&["text/plain; charset=utf-8", "image/png"]);
    let mut g = a.create_group_with(b"m", GroupKind::Extended, &options).unwrap();
    // carol cannot read image/png: not added (§6.2 SHOULD NOT).
    let carol = c.key_packages(GroupKind::Extended, 1, false).unwrap();
    assert!(matches!(g.add(&carol), Err(mlsx_app::Error::Extensions(_))));
    assert!(g.pending().is_none());
    let bob = b.key_packages(GroupKind::Extended, 1, false).unwrap();
    let out = g.add(&bob).unwrap();
    g.accepted().unwrap();
    b.join(out.welcome.as_ref().unwrap()).unwrap();
    // Framed both ways: the group's first type by default, or one named.
    let m = a.group(b"m").unwrap().send(b"hi").unwrap();
    let png = a.group(b"m").unwrap().send_media(b"\x89PNG", Some("image/png"), &[]).unwrap();
    let ev = b.group(b"m").unwrap().process(&m.message).unwrap();
    assert!(
        matches!(&ev[0], Event::Message { data, media_type: Some(t), .. } if data == b"hi" && t.starts_with("text/plain")),
        "{ev:?}"
    );
    let ev = b.group(b"m").unwrap().process(&png.message).unwrap();
    assert!(
        matches!(&ev[0], Event::Message { media_type: Some(t), .. } if t == "image/png"),
        "{ev:?}"
    );
    // A type the group does not require is refused before anything is sent.
    assert!(a.group(b"m").unwrap().send_media(b"{}", Some("application/json"), &[]).is_err());
    // Media types need a group that frames content.
    let (mut p, _, _) = three(GroupKind::Extended);
    assert!(matches!(
        p.group(b"g").unwrap().send_media(b"x", Some("image/png"), &[]),
        Err(mlsx_app::Error::WrongKind(_))
    ));
}

#[test]
fn groups_in_other_suites_than_the_clients_defaults() {
    use mlsx_app::client::Suites;
    let (mut a, mut b) = (memory("alice"), memory("bob"));
    // A mode-1 session: T suite 0x0003, PQ TBD10 (ML-KEM-768, ML-DSA-65).
    let suites = Suites {
        t_suite: 3,
        pq_suite: 10,
        mode: 1,
    };
    let options = GroupOptions::default().suites(suites);
    let offer = b.key_packages_in(GroupKind::Hybrid, suites, 1, false).unwrap().remove(0);
    assert_eq!(offer.t.cipher_suite.0, 3);
    let mut g = a.create_group_with(b"s", GroupKind::Hybrid, &options).unwrap();
    let out = g.add(&[offer]).unwrap();
    g.accepted().unwrap();
    b.join(out.welcome.as_ref().unwrap()).unwrap();
    let info = b.group(b"s").unwrap().info().unwrap();
    assert_eq!((info.cipher_suite, info.pq_cipher_suite.is_some()), (3, true));
    // A plain group in the defaults beside it: each group keeps its suites.
    let (_, mut c, _) = three(GroupKind::Plain);
    let m = b.group(b"s").unwrap().send(b"in suite 3").unwrap();
    assert_eq!(
        messages(&a.group(b"s").unwrap().process(&m.message).unwrap()),
        vec![("bob".to_string(), b"in suite 3".to_vec())]
    );
    let out = b.group(b"s").unwrap().update(false).unwrap();
    b.group(b"s").unwrap().accepted().unwrap();
    a.group(b"s").unwrap().process(&out.message).unwrap();
    assert_eq!(c.group(b"g").unwrap().info().unwrap().cipher_suite, 1);
    // A pair made for mode 0 does not join a mode-1 session.
    let mut d = memory("dave");
    let mode0 = d
        .key_packages_in(GroupKind::Hybrid, Suites { mode: 0, ..suites }, 1, false)
        .unwrap();
    let out = a.group(b"s").unwrap().add(&mode0).unwrap();
    a.group(b"s").unwrap().accepted().unwrap();
    assert!(d.join(out.welcome.as_ref().unwrap()).is_err());
}

#[test]
fn hybrid_session_through_the_api() {
    session(GroupKind::Hybrid);
}

#[test]
fn proposals_are_committed_by_another_member() {
    for kind in [GroupKind::Plain, GroupKind::Extended] {
        let (mut a, mut b, mut c) = three(kind);
        let mut d = memory("dave");
        let offer = d.key_packages(kind, 1, false).unwrap().remove(0);
        // bob proposes removing carol and adding dave; alice commits both.
        let props = b.group(b"g").unwrap().propose(&[offer], &["carol".to_string()], false).unwrap();
        assert_eq!(props.len(), 2);
        for p in &props {
            assert_eq!(deliver(&mut [&mut a, &mut c], &p.message), vec![vec![Event::Proposal]; 2]);
        }
        let out = a.group(b"g").unwrap().update(false).unwrap();
        assert_eq!(
            out.welcome_to,
            vec!["dave".to_string()],
            "added by bob's proposal, welcomed by alice's commit"
        );
        a.group(b"g").unwrap().accepted().unwrap();
        d.join(out.welcome.as_ref().unwrap()).unwrap();
        let ev = deliver(&mut [&mut b, &mut c], &out.message);
        assert!(ev[0].contains(&Event::MemberAdded { name: "dave".into() }), "{ev:?}");
        assert!(ev[1].contains(&Event::RemovedSelf));
        assert_eq!(
            d.group(b"g").unwrap().roster(),
            vec!["alice".to_string(), "bob".to_string(), "dave".to_string()]
        );
    }
    // In a hybrid session an Update pair makes the next commit FULL.
    let (mut a, mut b, _c) = three(GroupKind::Hybrid);
    let out = b.group(b"g").unwrap().update(true).unwrap();
    b.group(b"g").unwrap().accepted().unwrap();
    a.group(b"g").unwrap().process(&out.message).unwrap();
    let p = b.group(b"g").unwrap().propose(&[], &[], true).unwrap();
    a.group(b"g").unwrap().process(&p[0].message).unwrap();
    a.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(&a.group(b"g").unwrap().accepted().unwrap()[0], Event::EpochChanged { kind, .. } if kind == "FULL"));
    assert!(matches!(
        a.group(b"g").unwrap().propose(&[], &["bob".to_string()], false),
        Err(mlsx_app::Error::WrongKind(_))
    ));
}

#[test]
fn last_resort_key_package_is_kept_after_a_join() {
    let (mut a, mut b) = (memory("alice"), memory("bob"));
    let offer = b.key_packages(GroupKind::Plain, 1, true).unwrap().remove(0);
    let mut g = a.create_group(b"g", GroupKind::Plain).unwrap();
    let out = g.add(&[offer]).unwrap();
    g.accepted().unwrap();
    b.join(out.welcome.as_ref().unwrap()).unwrap();
    assert_eq!(b.key_package_count().unwrap(), 1);
}

#[test]
fn a_welcome_for_someone_else_is_refused() {
    let (mut a, mut b, mut c) = (memory("alice"), memory("bob"), memory("carol"));
    let offer = b.key_packages(GroupKind::Hybrid, 1, false).unwrap().remove(0);
    c.key_packages(GroupKind::Hybrid, 1, false).unwrap();
    let mut g = a.create_group(b"g", GroupKind::Hybrid).unwrap();
    let out = g.add(&[offer]).unwrap();
    assert!(matches!(
        c.join(out.welcome.as_ref().unwrap()),
        Err(mlsx_app::Error::NoKeyPackageForWelcome)
    ));
    assert!(c.groups().unwrap().is_empty());
}

fn temp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("mlsx-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn state_survives_reopening_with_a_pending_commit() {
    let path = temp("reopen");
    let mut a = Client::create(Box::new(SqliteStore::open(&path).unwrap()), ClientConfig::new("alice")).unwrap();
    let mut b = memory("bob");
    let offer = b.key_packages(GroupKind::Hybrid, 1, false).unwrap().remove(0);
    let out = a.create_group(b"g", GroupKind::Hybrid).unwrap().add(&[offer]).unwrap();
    drop(a);
    // As after a crash: the pending commit is there, with the same bytes.
    let mut a = Client::open(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    assert_eq!(a.pending_commit(b"g").unwrap().as_ref(), Some(&out));
    a.group(b"g").unwrap().accepted().unwrap();
    b.join(out.welcome.as_ref().unwrap()).unwrap();
    drop(a);
    let mut a = Client::open(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    let m = a.group(b"g").unwrap().send(b"after restart").unwrap();
    assert_eq!(
        messages(&b.group(b"g").unwrap().process(&m.message).unwrap()),
        vec![("alice".to_string(), b"after restart".to_vec())]
    );
    // One writer per store.
    assert!(matches!(SqliteStore::open(&path), Err(mlsx_app::Error::StoreInUse(_))));
    drop(a);
    assert!(matches!(
        Client::create(Box::new(SqliteStore::open(&path).unwrap()), ClientConfig::new("x")),
        Err(mlsx_app::Error::ClientExists(_))
    ));
    std::fs::remove_file(&path).unwrap();
}

/// 32-byte windows of `old` (at every offset) found nowhere in `current`:
/// secrets of the old state that the current one no longer holds.
fn gone_windows(old: &[u8], current: &[&[u8]]) -> Vec<Vec<u8>> {
    let set: std::collections::HashSet<&[u8]> = current.iter().flat_map(|c| c.windows(32)).collect();
    old.windows(32)
        .step_by(4)
        .filter(|w| !set.contains(w) && w.iter().filter(|b| **b == 0).count() < 4)
        .map(<[u8]>::to_vec)
        .collect()
}

fn file_holds_any(path: &std::path::Path, windows: &[Vec<u8>]) -> usize {
    let file = std::fs::read(path).unwrap();
    let set: std::collections::HashSet<&[u8]> = file.windows(32).collect();
    windows.iter().filter(|w| set.contains(w.as_slice())).count()
}

fn run_epochs(path: &std::path::Path, secure: bool) -> (Vec<Vec<u8>>, usize) {
    let store = SqliteStore::open(path).unwrap();
    if !secure {
        store.insecure_delete_for_tests().unwrap();
    }
    let mut a = Client::create(Box::new(store), ClientConfig::new("alice")).unwrap();
    let mut b = memory("bob");
    let offer = b.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    let out = a.create_group(b"g", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    a.group(b"g").unwrap().accepted().unwrap();
    b.join(out.welcome.as_ref().unwrap()).unwrap();
    // The state after one sent message: its ratchet secrets, once used,
    // must not survive.
    a.group(b"g").unwrap().send(b"one").unwrap();
    let old = a.store().get(mlsx_app::Table::Group, b"g").unwrap().unwrap().to_vec();
    for i in 0..3 {
        a.group(b"g").unwrap().send(format!("more {i}").as_bytes()).unwrap();
        let out = a.group(b"g").unwrap().update(false).unwrap();
        a.group(b"g").unwrap().accepted().unwrap();
        b.group(b"g").unwrap().process(&out.message).unwrap();
    }
    let current = a.store().get(mlsx_app::Table::Group, b"g").unwrap().unwrap().to_vec();
    let keys: Vec<Vec<u8>> = a
        .store()
        .list(mlsx_app::Table::Identity)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v.to_vec())
        .collect();
    let mut keep: Vec<&[u8]> = vec![&current];
    keep.extend(keys.iter().map(Vec::as_slice));
    let gone = gone_windows(&old, &keep);
    drop(a);
    let found = file_holds_any(path, &gone);
    (gone, found)
}

#[test]
fn used_secrets_are_not_in_the_database_file() {
    let path = temp("secure");
    let (gone, found) = run_epochs(&path, true);
    assert!(gone.len() > 20, "the old state had secrets the new one lacks: {}", gone.len());
    assert_eq!(found, 0, "{found} of {} windows of old secrets are still in the file", gone.len());
    std::fs::remove_file(&path).unwrap();
    // The control: without secure_delete the same run leaves them in the
    // file, so the check above can fail.
    let path = temp("insecure");
    let (gone, found) = run_epochs(&path, false);
    assert!(found > 0, "control run found none of {} windows", gone.len());
    std::fs::remove_file(&path).unwrap();
}

/// External PSKs (RFC 9420 §8.4): a commit that injects one is followed by
/// the members holding it, refused with the state unchanged by one who
/// lacks it or holds another secret under its id, and followed once she
/// has the right one.
fn injected_psk(kind: GroupKind) {
    let (mut a, mut b, mut c) = three(kind);
    let secret = [0x5a; 32];
    a.add_psk(b"board", &secret).unwrap();
    b.add_psk(b"board", &secret).unwrap();
    assert!(matches!(
        a.group(b"g").unwrap().inject_psks(&[b"other".to_vec()]),
        Err(mlsx_app::Error::UnknownPsk(_))
    ));
    let out = a.group(b"g").unwrap().inject_psks(&[b"board".to_vec()]).unwrap();
    a.group(b"g").unwrap().accepted().unwrap();
    b.group(b"g").unwrap().process(&out.message).unwrap();
    let before = c.group(b"g").unwrap().info().unwrap();
    assert!(c.group(b"g").unwrap().process(&out.message).is_err(), "no PSK, no epoch");
    c.add_psk(b"board", &[0x5b; 32]).unwrap();
    assert!(c.group(b"g").unwrap().process(&out.message).is_err(), "a wrong PSK, no epoch");
    let unchanged = c.group(b"g").unwrap().info().unwrap();
    assert_eq!(
        (unchanged.epoch, unchanged.epoch_authenticator),
        (before.epoch, before.epoch_authenticator)
    );
    c.add_psk(b"board", &secret).unwrap();
    c.group(b"g").unwrap().process(&out.message).unwrap();
    let auth = a.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    for x in [&mut b, &mut c] {
        assert_eq!(x.group(b"g").unwrap().info().unwrap().epoch_authenticator, auth);
    }
    // The group goes on.
    let m = c.group(b"g").unwrap().send(b"after the PSK").unwrap();
    assert_eq!(
        messages(&a.group(b"g").unwrap().process(&m.message).unwrap()),
        vec![("carol".to_string(), b"after the PSK".to_vec())]
    );
}

#[test]
fn injected_psk_in_a_plain_group() {
    injected_psk(GroupKind::Plain);
}

#[test]
fn injected_psk_in_an_extended_group() {
    injected_psk(GroupKind::Extended);
}

#[test]
fn injected_psk_in_a_hybrid_session() {
    injected_psk(GroupKind::Hybrid);
}

#[test]
fn a_welcome_naming_a_psk_needs_it() {
    let (mut a, mut b, _c) = three(GroupKind::Plain);
    let mut d = memory("dave");
    let offer = d.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    // Bob proposes dave; alice's commit takes the Add by reference and
    // injects the PSK, so the Welcome names it.
    let p = b.group(b"g").unwrap().propose(&[offer], &[], false).unwrap().remove(0);
    a.group(b"g").unwrap().process(&p.message).unwrap();
    a.add_psk(b"k", &[1; 32]).unwrap();
    let out = a.group(b"g").unwrap().inject_psks(&[b"k".to_vec()]).unwrap();
    assert_eq!(out.welcome_to, vec!["dave".to_string()]);
    a.group(b"g").unwrap().accepted().unwrap();
    let w = out.welcome.unwrap();
    assert!(d.join(&w).is_err(), "dave lacks the PSK");
    assert_eq!(d.key_package_count().unwrap(), 1, "a refused Welcome consumes nothing");
    d.add_psk(b"k", &[1; 32]).unwrap();
    d.join(&w).unwrap();
    let auth = a.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    assert_eq!(d.group(b"g").unwrap().info().unwrap().epoch_authenticator, auth);
}

#[test]
fn psks_persist_and_a_removed_one_leaves_the_file() {
    let path = temp("psk");
    let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    {
        let mut a = Client::create(Box::new(SqliteStore::open(&path).unwrap()), ClientConfig::new("alice")).unwrap();
        a.add_psk(b"kept", &[3; 32]).unwrap();
        a.add_psk(b"dropped", &secret).unwrap();
        assert!(matches!(a.add_psk(b"", &[1]), Err(mlsx_app::Error::Config(_))));
    }
    let mut a = Client::open(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    assert_eq!(a.psk_ids().unwrap(), vec![b"dropped".to_vec(), b"kept".to_vec()]);
    assert!(
        file_holds_any(&path, std::slice::from_ref(&secret)) == 1,
        "control: the secret is in the file"
    );
    assert!(a.remove_psk(b"dropped").unwrap());
    assert!(!a.remove_psk(b"dropped").unwrap());
    drop(a);
    assert_eq!(file_holds_any(&path, &[secret]), 0, "a removed PSK is zeroed in the file");
    std::fs::remove_file(&path).unwrap();
}

/// A proposal call that fails part-way keeps nothing: the proposals it
/// made before the failure are not committed later by the same handle
/// (the others never received them, and would refuse the commit).
#[test]
fn a_failed_propose_leaves_no_proposal_behind() {
    let (mut a, mut b, mut c) = three(GroupKind::Plain);
    let mut d = memory("dave");
    let offer = d.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    let mut g = a.group(b"g").unwrap();
    assert!(matches!(
        g.propose(&[offer], &["nobody".to_string()], true),
        Err(mlsx_app::Error::UnknownMember(_))
    ));
    let out = g.update(false).unwrap();
    g.accepted().unwrap();
    assert!(out.welcome.is_none(), "the failed call's Add is not committed");
    deliver(&mut [&mut b, &mut c], &out.message);
    let auth = a.group(b"g").unwrap().info().unwrap().epoch_authenticator;
    assert_eq!(b.group(b"g").unwrap().info().unwrap().epoch_authenticator, auth);
}

#[test]
fn a_removed_member_is_told_the_epoch_that_removed_it() {
    for kind in [GroupKind::Plain, GroupKind::Extended, GroupKind::Hybrid] {
        let (mut a, mut b, _c) = three(kind);
        let mut g = a.group(b"g").unwrap();
        let out = g.remove(&["bob".into()]).unwrap();
        g.accepted().unwrap();
        let epoch = g.epoch();
        drop(g);
        let events = b.group(b"g").unwrap().process(&out.message).unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::EpochChanged { epoch: new, .. } if *new == epoch)),
            "{kind:?}: {events:?}"
        );
        assert!(events.contains(&Event::RemovedSelf));
    }
}
