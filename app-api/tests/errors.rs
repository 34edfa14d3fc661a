//! Each error kind of the crate's error table (`mlsx_app::error`), made
//! through the library alone: what a library user sees, and that a refused
//! input leaves the group as it was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::client::GroupOptions;
use mlsx_app::{Client, ClientConfig, Error, ErrorFamily, Event, GroupKind, MemoryStore, SqliteStore};

fn memory(name: &str) -> Client {
    Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap()
}

/// Alice and Bob in group `id` of `kind`.
fn pair(kind: GroupKind, id: &[u8]) -> (Client, Client) {
    let (mut a, mut b) = (memory("alice"), memory("bob"));
    let offer = b.key_packages(kind, 1, false).unwrap().remove(0);
    let mut g = a.create_group(id, kind).unwrap();
    let out = g.add(&[offer]).unwrap();
    g.accepted().unwrap();
    b.join(out.welcome.as_deref().unwrap()).unwrap();
    (a, b)
}

/// Bob still reads Alice's next message: nothing moved.
fn still_usable(a: &mut Client, b: &mut Client, id: &[u8]) {
    let m = a.group(id).unwrap().send(b"still here").unwrap();
    let events = b.group(id).unwrap().process(&m.message).unwrap();
    assert!(matches!(&events[0], Event::Message { data, .. } if data == b"still here"));
}

#[test]
fn garbage_is_malformed_with_where_and_what() {
    for kind in [GroupKind::Plain, GroupKind::Hybrid] {
        let (mut a, mut b) = pair(kind, b"g");
        let good = a.group(b"g").unwrap().send(b"x").unwrap().message;
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"??");
        let cases: Vec<(Vec<u8>, usize, &str)> = vec![
            (b"hello, world".to_vec(), 0, "protocol version"),
            (vec![], 0, "protocol version"),
            (vec![0, 1, b't', b'h', 1, 2, 3], 2, "wire format"),
            (good[..good.len() - 5].to_vec(), good.len() - 5, "truncated"),
            (trailing, good.len(), "the end of the message"),
        ];
        let epoch = b.group(b"g").unwrap().epoch();
        for (bytes, at, expected_text) in cases {
            let e = b.group(b"g").unwrap().process(&bytes).unwrap_err();
            match &e {
                Error::Malformed { offset, expected, .. } => {
                    assert_eq!(*offset, at, "{e}");
                    assert!(expected.contains(expected_text), "{e}");
                }
                other => panic!("{kind:?}: {other}"),
            }
            assert!(e.is_refusal());
            assert_eq!((e.kind(), e.family()), ("Malformed", ErrorFamily::Protocol));
            assert_eq!(b.group(b"g").unwrap().epoch(), epoch);
        }
        // The real message, after all that, is still read.
        let events = b.group(b"g").unwrap().process(&good).unwrap();
        assert!(matches!(&events[0], Event::Message { data, .. } if data == b"x"));
        // Not a Welcome, not an offer.
        assert!(matches!(
            b.join(b"not a welcome"),
            Err(Error::Malformed {
                what: "Welcome",
                offset: 0,
                ..
            })
        ));
        assert!(matches!(
            mlsx_app::KeyPackageOffer::from_bytes(&[7, 0, 0]),
            Err(Error::Malformed {
                what: "KeyPackage offer",
                offset: 0,
                ..
            })
        ));
        let mut offer = b.key_packages(kind, 1, false).unwrap().remove(0).to_bytes().unwrap();
        offer.truncate(offer.len() - 1);
        assert!(matches!(
            mlsx_app::KeyPackageOffer::from_bytes(&offer),
            Err(Error::Malformed { .. })
        ));
        still_usable(&mut a, &mut b, b"g");
    }
}

#[test]
fn a_message_for_another_group_names_both() {
    for kind in [GroupKind::Plain, GroupKind::Hybrid] {
        let (mut a, mut b) = pair(kind, b"one");
        let offer = b.key_packages(kind, 1, false).unwrap().remove(0);
        let mut g = a.create_group(b"two", kind).unwrap();
        let out = g.add(&[offer]).unwrap();
        g.accepted().unwrap();
        b.join(out.welcome.as_deref().unwrap()).unwrap();
        let m = a.group(b"two").unwrap().send(b"for two").unwrap();
        let e = b.group(b"one").unwrap().process(&m.message).unwrap_err();
        assert!(
            matches!(&e, Error::WrongGroup { found, expected } if found == "two" && expected == "one"),
            "{e}"
        );
        still_usable(&mut a, &mut b, b"one");
    }
}

#[test]
fn a_stale_commit_names_its_group_and_the_visible_epoch() {
    // Plain: a commit of an epoch the group has left.
    let (mut a, mut b) = pair(GroupKind::Plain, b"g");
    let mut g = a.group(b"g").unwrap();
    let first = g.update(false).unwrap();
    g.accepted().unwrap();
    drop(g);
    b.group(b"g").unwrap().process(&first.message).unwrap();
    let e = b.group(b"g").unwrap().process(&first.message).unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongEpoch {
                group: "MLS",
                message: 1,
                current: 2,
                visible: 2
            }
        ),
        "{e}"
    );

    // Hybrid: a PARTIAL commit moves the T group only, so the T epoch is
    // ahead of the PQ epoch; a replayed FULL pair is refused naming the
    // group whose epoch it misses and the epoch `epoch()` shows.
    let (mut a, mut b) = pair(GroupKind::Hybrid, b"h");
    let mut g = a.group(b"h").unwrap();
    let full = g.update(true).unwrap();
    g.accepted().unwrap();
    let partial = g.update(false).unwrap();
    g.accepted().unwrap();
    drop(g);
    let mut bg = b.group(b"h").unwrap();
    bg.process(&full.message).unwrap();
    bg.process(&partial.message).unwrap();
    let visible = bg.epoch();
    let e = bg.process(&full.message).unwrap_err();
    match e {
        Error::WrongEpoch {
            group,
            message,
            current,
            visible: v,
        } => {
            assert_eq!(v, visible);
            // The replayed FULL pair was made two commits ago.
            assert_eq!(message, visible - 2);
            // The T group is at the visible epoch, the PQ group one behind
            // (the PARTIAL commit did not move it).
            match group {
                "T" => assert_eq!(current, visible),
                "PQ" => assert_eq!(current, visible - 1),
                other => panic!("{other}"),
            }
        }
        other => panic!("{other}"),
    }
    drop(bg);
    still_usable(&mut a, &mut b, b"h");
}

#[test]
fn misuse_errors_name_what_is_missing_without_cli_hints() {
    let (mut a, _b) = pair(GroupKind::Plain, b"g");
    let mut g = a.group(b"g").unwrap();
    assert!(matches!(g.remove(&["nobody".into()]), Err(Error::UnknownMember(n)) if n == "nobody"));
    assert!(matches!(g.inject_psks(&[b"nope".to_vec()]), Err(Error::UnknownPsk(_))));
    assert!(matches!(g.leave(), Err(Error::WrongKind(_))));
    assert!(matches!(g.update_app_data(0x8001, b"x"), Err(Error::WrongKind(_))));
    g.update(false).unwrap();
    let e = g.send(b"during a commit").unwrap_err();
    assert!(matches!(e, Error::CommitPending(_)));
    assert_eq!((e.kind(), e.family()), ("CommitPending", ErrorFamily::Usage));
    // The library speaks of itself; the CLI adds its commands.
    assert!(!e.to_string().contains("mlsx"), "{e}");
    assert_eq!(e.cli_hint(), Some("run `mlsx receive` first"));
    drop(g);
    assert!(matches!(a.group(b"other"), Err(Error::UnknownGroup(_))));
    assert!(matches!(
        a.create_group_with(b"x", GroupKind::Plain, &GroupOptions::default().media_types(&["text/plain"])),
        Err(Error::WrongKind(_))
    ));
    let e = Client::open(Box::new(MemoryStore::new())).unwrap_err();
    assert!(matches!(e, Error::NoClient) && !e.to_string().contains("mlsx"), "{e}");

    // A Welcome for somebody else.
    let (mut c, mut d) = (memory("carol"), memory("dave"));
    let offer = d.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    let out = c.create_group(b"cd", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    assert!(matches!(
        a.join(out.welcome.as_deref().unwrap()),
        Err(Error::NoKeyPackageForWelcome)
    ));
}

#[test]
fn one_writer_per_store() {
    let path = std::env::temp_dir().join(format!("mlsx-errors-writer-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let a = Client::create(Box::new(SqliteStore::open(&path).unwrap()), ClientConfig::new("alice")).unwrap();
    // A second handle, in this process (or any other): refused, not a
    // refusal of input (try again once the first is closed).
    let e = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(&e, Error::StoreInUse(_)) && !e.is_refusal(), "{e}");
    assert_eq!(e.family(), ErrorFamily::Storage);
    let other = std::thread::spawn({
        let path = path.clone();
        move || matches!(SqliteStore::open(&path), Err(Error::StoreInUse(_)))
    });
    assert!(other.join().unwrap());
    drop(a);
    let a = Client::open(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    assert!(matches!(
        Client::create(Box::new(MemoryStore::new()), ClientConfig::new("x")).map(|_| ()),
        Ok(())
    ));
    drop(a);
    assert!(matches!(
        Client::create(Box::new(SqliteStore::open(&path).unwrap()), ClientConfig::new("x")),
        Err(Error::ClientExists(n)) if n == "alice"
    ));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("db.lock"));
}

#[test]
fn protocol_refusals_change_nothing() {
    let (mut a, mut b) = pair(GroupKind::Plain, b"g");
    // A replayed application message: its key is used up; the engine
    // refuses (RFC 9420 §9.2).
    let m = a.group(b"g").unwrap().send(b"once").unwrap();
    b.group(b"g").unwrap().process(&m.message).unwrap();
    let e = b.group(b"g").unwrap().process(&m.message).unwrap_err();
    assert!(matches!(e, Error::Mls(_)) && e.is_refusal(), "{e}");

    // An external join to a group its members have not opened.
    let info = a.group(b"g").unwrap().group_info().unwrap();
    let mut eve = memory("eve");
    match eve.join_external(GroupKind::Plain, &info, &[]) {
        Err(Error::ExternalJoinsClosed) => {}
        Ok(out) => {
            let e = b.group(b"g").unwrap().process(&out.message).unwrap_err();
            assert!(matches!(e, Error::ExternalJoinsClosed), "{e}");
        }
        Err(e) => panic!("{e}"),
    }
    // A call that cannot be done: no PSK named.
    assert!(matches!(a.group(b"g").unwrap().inject_psks(&[]), Err(Error::Config(_))));
    still_usable(&mut a, &mut b, b"g");
}

#[test]
fn a_hostile_group_id_is_shown_in_part() {
    // An id as long as a message: errors quote 64 bytes of it, no more.
    let shown = mlsx_app::client::show(&[b'a'; 100_000]);
    assert_eq!(shown, format!("{}…", "a".repeat(64)));
    let shown = mlsx_app::client::show(&[0xff; 100_000]);
    assert_eq!(shown, format!("{}…", "ff".repeat(64)));
    assert_eq!(mlsx_app::client::show(b"team"), "team");
}
