//! A user's own component through `mlsx-app` alone (issue: the front
//! door): AppDataUpdate, AppEphemeral, SafeAAD, SafeExportSecret and an
//! application PSK, each refused on send when the sender's own component
//! refuses it, with the error a receiver reports, and the group left as it
//! was.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mlsx_app::client::GroupOptions;
use mlsx_app::{
    AppChange, Client, ClientBuilder, ClientConfig, Component, ComponentKey, Error, Event, ExtensionContext, GroupKind, MemoryStore,
    Origin, Rejection, Secret, SqliteStore,
};

const COUNTER: u16 = 0x8001;

/// A counter in the GroupContext: each update adds its one byte; SafeAAD
/// items of at most `aad_limit` bytes; ephemeral data of at most 8 bytes;
/// one application PSK, `shared`.
#[derive(Debug)]
struct Counter {
    aad_limit: usize,
}

impl Component for Counter {
    fn id(&self) -> u16 {
        COUNTER
    }
    fn validate_data(&self, _: ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        if data.len() == 1 {
            Ok(())
        } else {
            Err(Rejection::new("a counter is one byte"))
        }
    }
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let mut n = current.and_then(|c| c.first().copied()).unwrap_or(0);
        for (u, _) in updates {
            let [d] = u else {
                return Err(Rejection::new("an update is one byte"));
            };
            n = n.checked_add(*d).ok_or(Rejection::new("overflow"))?;
        }
        Ok(vec![n])
    }
    fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
        if data.len() <= 8 { Ok(()) } else { Err(Rejection::new("too long")) }
    }
    fn uses_safe_aad(&self) -> bool {
        true
    }
    fn check_aad_item(&self, data: &[u8]) -> Result<(), Rejection> {
        if data.len() <= self.aad_limit {
            Ok(())
        } else {
            Err(Rejection::new("item too long"))
        }
    }
    fn psk(&self, psk_id: &[u8]) -> Option<mlsx_base::crypto::Secret> {
        (psk_id == b"shared").then(|| Secret::new(vec![7u8; 32]))
    }
}

fn client_with(name: &str, aad_limit: usize, store: Box<dyn mlsx_app::Store>) -> (Client, ComponentKey) {
    let mut builder = ClientBuilder::new();
    let key = builder.component(Arc::new(Counter { aad_limit })).unwrap();
    (builder.create(store, ClientConfig::new(name)).unwrap(), key)
}

fn client(name: &str, aad_limit: usize) -> (Client, ComponentKey) {
    client_with(name, aad_limit, Box::new(MemoryStore::new()))
}

fn options() -> GroupOptions {
    GroupOptions::default()
        .require_components(&[COUNTER])
        .require_safe_aad(&[COUNTER])
        .app_data(COUNTER, &[0])
}

/// Alice creates the group, Bob (and Carol, lenient about SafeAAD) join.
fn group(alice: &mut Client, others: &mut [&mut Client]) {
    let offers: Vec<_> = others
        .iter_mut()
        .map(|c| c.key_packages(GroupKind::Extended, 1, false).unwrap().remove(0))
        .collect();
    let mut g = alice.create_group_with(b"g", GroupKind::Extended, &options()).unwrap();
    let out = g.add(&offers).unwrap();
    g.accepted().unwrap();
    for c in others {
        c.join(out.welcome.as_deref().unwrap()).unwrap();
    }
}

#[test]
fn app_data_update_and_ephemeral_reach_every_member() {
    let (mut alice, _) = client("alice", 4);
    let (mut bob, _) = client("bob", 4);
    group(&mut alice, &mut [&mut bob]);

    let mut g = alice.group(b"g").unwrap();
    assert_eq!(g.app_data(COUNTER).unwrap(), Some(vec![0]));
    let out = g.update_app_data(COUNTER, &[3]).unwrap();
    g.accepted().unwrap();
    assert_eq!(g.app_data(COUNTER).unwrap(), Some(vec![3]));
    let events = bob.group(b"g").unwrap().process(&out.message).unwrap();
    assert!(events.contains(&Event::AppDataChanged { component: COUNTER }), "{events:?}");
    assert_eq!(bob.group(b"g").unwrap().app_data(COUNTER).unwrap(), Some(vec![3]));

    // Several changes in one commit: two updates and ephemeral data.
    let mut g = alice.group(b"g").unwrap();
    let out = g
        .commit_app(&[
            AppChange::Update {
                component: COUNTER,
                data: vec![1],
            },
            AppChange::Ephemeral {
                component: COUNTER,
                data: b"read:42".to_vec(),
            },
            AppChange::Update {
                component: COUNTER,
                data: vec![2],
            },
        ])
        .unwrap();
    g.accepted().unwrap();
    let events = bob.group(b"g").unwrap().process(&out.message).unwrap();
    assert!(events.contains(&Event::AppEphemeral {
        component: COUNTER,
        sender: "alice".into(),
        data: b"read:42".to_vec()
    }));
    assert_eq!(bob.group(b"g").unwrap().app_data(COUNTER).unwrap(), Some(vec![6]));
    let mut g = alice.group(b"g").unwrap();
    let out = g.send_app_ephemeral(COUNTER, b"seen").unwrap();
    g.accepted().unwrap();
    let events = bob.group(b"g").unwrap().process(&out.message).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::AppEphemeral { data, .. } if data == b"seen"))
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::AppDataChanged { .. })),
        "no dictionary change: {events:?}"
    );
}

#[test]
fn changes_the_component_refuses_are_refused_before_sending() {
    let (mut alice, _) = client("alice", 4);
    let (mut bob, _) = client("bob", 4);
    group(&mut alice, &mut [&mut bob]);
    let mut g = alice.group(b"g").unwrap();
    let epoch = g.epoch();
    for (change, why) in [
        (
            vec![AppChange::Update {
                component: COUNTER,
                data: vec![1, 2],
            }],
            "an update is one byte",
        ),
        (
            vec![
                AppChange::Update {
                    component: COUNTER,
                    data: vec![200],
                },
                AppChange::Update {
                    component: COUNTER,
                    data: vec![100],
                },
            ],
            "overflow",
        ),
        (
            vec![AppChange::Ephemeral {
                component: COUNTER,
                data: vec![0; 9],
            }],
            "too long",
        ),
    ] {
        let e = g.commit_app(&change).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
        assert!(e.is_refusal());
        assert_eq!(g.epoch(), epoch);
        assert!(g.pending().is_none());
    }
    assert!(matches!(g.update_app_data(0x8999, &[1]), Err(Error::UnknownComponent(0x8999))));
    // A first entry the component refuses: no group.
    drop(g);
    let e = alice
        .create_group_with(b"h", GroupKind::Extended, &GroupOptions::default().app_data(COUNTER, &[1, 2]))
        .unwrap_err();
    assert!(e.to_string().contains("a counter is one byte"), "{e}");
    assert!(matches!(
        alice.create_group_with(b"h", GroupKind::Extended, &GroupOptions::default().require_components(&[0x8999])),
        Err(Error::UnknownComponent(0x8999))
    ));
    assert!(matches!(
        alice.create_group_with(b"h", GroupKind::Plain, &GroupOptions::default().require_components(&[COUNTER])),
        Err(Error::WrongKind(_))
    ));
    // The group still works.
    let mut g = alice.group(b"g").unwrap();
    let out = g.update_app_data(COUNTER, &[1]).unwrap();
    g.accepted().unwrap();
    bob.group(b"g").unwrap().process(&out.message).unwrap();
    assert_eq!(bob.group(b"g").unwrap().app_data(COUNTER).unwrap(), Some(vec![1]));
}

#[test]
fn safe_aad_is_checked_on_send_as_on_receipt() {
    // Carol's component takes long items; Alice's and Bob's do not.
    let (mut alice, _) = client("alice", 4);
    let (mut bob, _) = client("bob", 4);
    let (mut carol, _) = client("carol", 64);
    group(&mut alice, &mut [&mut bob, &mut carol]);

    let ok = alice
        .group(b"g")
        .unwrap()
        .send_with_aad(b"hi", &[(COUNTER, b"1234".to_vec())])
        .unwrap();
    let events = bob.group(b"g").unwrap().process(&ok.message).unwrap();
    assert!(matches!(&events[0], Event::Message { safe_aad, .. } if *safe_aad == [(COUNTER, b"1234".to_vec())]));

    let long = vec![(COUNTER, b"12345".to_vec())];
    let bad = carol.group(b"g").unwrap().send_with_aad(b"hi", &long).unwrap();
    let mut bg = bob.group(b"g").unwrap();
    let received = bg.process(&bad.message).unwrap_err();
    drop(bg);
    let mut g = alice.group(b"g").unwrap();
    let sent = g.send_with_aad(b"hi", &long).unwrap_err();
    assert_eq!(sent.to_string(), received.to_string());
    assert!(sent.to_string().contains("item too long"), "{sent}");
    // Nothing moved: the next message is read by both others.
    let next = g.send(b"after").unwrap();
    drop(g);
    assert!(matches!(&bob.group(b"g").unwrap().process(&next.message).unwrap()[0], Event::Message { data, .. } if data == b"after"));
    assert!(matches!(&carol.group(b"g").unwrap().process(&next.message).unwrap()[0], Event::Message { data, .. } if data == b"after"));
}

#[test]
fn safe_export_secret_once_per_epoch_also_after_a_restart() {
    let path = std::env::temp_dir().join(format!("mlsx-components-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (mut alice, alice_key) = client_with("alice", 4, Box::new(SqliteStore::open(&path).unwrap()));
    let (mut bob, bob_key) = client("bob", 4);
    group(&mut alice, &mut [&mut bob]);

    // A key issued by another builder for the same id is not this
    // client's component: refused, and the epoch's secret is still there.
    let forged = ClientBuilder::new().component(Arc::new(Counter { aad_limit: 4 })).unwrap();
    assert!(matches!(
        alice.group(b"g").unwrap().safe_export_secret(&forged),
        Err(Error::UnknownComponent(COUNTER))
    ));
    let a = alice.group(b"g").unwrap().safe_export_secret(&alice_key).unwrap();
    let b = bob.group(b"g").unwrap().safe_export_secret(&bob_key).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 32);
    assert!(alice.group(b"g").unwrap().safe_export_secret(&alice_key).is_err());

    // Reopened from the file: still used.
    drop(alice);
    let mut builder = ClientBuilder::new();
    let alice_key = builder.component(Arc::new(Counter { aad_limit: 4 })).unwrap();
    let mut alice = builder.open(Box::new(SqliteStore::open(&path).unwrap())).unwrap();
    assert!(alice.group(b"g").unwrap().safe_export_secret(&alice_key).is_err());

    // A new epoch, a new secret; the application PSK moves it.
    let mut g = alice.group(b"g").unwrap();
    let out = g.inject_app_psk(&alice_key, b"shared").unwrap();
    g.accepted().unwrap();
    assert!(matches!(g.inject_app_psk(&alice_key, b"other"), Err(Error::UnknownPsk(_))));
    let a2 = g.safe_export_secret(&alice_key).unwrap();
    drop(g);
    bob.group(b"g").unwrap().process(&out.message).unwrap();
    let b2 = bob.group(b"g").unwrap().safe_export_secret(&bob_key).unwrap();
    assert_eq!(a2, b2);
    assert_ne!(a2, a);

    // Signed under the component: a signature over the content.
    let sig = alice.group(b"g").unwrap().safe_sign(&alice_key, b"label", b"content").unwrap();
    assert!(!sig.is_empty());

    // Without its component the store is not opened.
    drop(alice);
    assert!(matches!(
        Client::open(Box::new(SqliteStore::open(&path).unwrap())),
        Err(Error::MissingComponents(ids)) if ids == [COUNTER]
    ));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_member_without_a_required_component_is_not_added() {
    let (mut alice, _) = client("alice", 4);
    let mut bob = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("bob")).unwrap();
    let offer = bob.key_packages(GroupKind::Extended, 1, false).unwrap().remove(0);
    let mut g = alice.create_group_with(b"g", GroupKind::Extended, &options()).unwrap();
    let e = g.add(&[offer]).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(g.pending().is_none());
    assert_eq!(g.roster(), vec!["alice".to_string()]);
}
