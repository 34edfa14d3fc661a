//! The delivery service's rules, over HTTP against a service on a thread:
//! authentication and own queues, the KeyPackage directory (consumed once,
//! last resort kept), first commit per epoch wins and a resend gets the
//! same answer, GroupInfos with SelfRemove proposals for external joiners,
//! size and rate limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::ds::Limits;
use mlsx_app::remote::{self, Answer, DsClient};
use mlsx_app::{Client, ClientConfig, Event, GroupKind, MemoryStore, Outgoing, OutgoingKind};

mod common;
use common::{Backend, query_i64, service, service_at};

fn client(url: &str, name: &str) -> (Client, DsClient) {
    let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap();
    DsClient::new(url, None).register(&mut c).unwrap();
    let ds = mlsx_app::remote::connect(&mut c).unwrap();
    (c, ds)
}

/// alice's group `g` with bob in it (the adding commit sent), and a real
/// application message of it.
fn group_of_two(url: &str) -> (Client, DsClient, Client, DsClient) {
    let (mut alice, ads) = client(url, "alice");
    let (mut bob, bds) = client(url, "bob");
    bds.publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("bob", GroupKind::Plain).unwrap();
    let out = alice.create_group(b"g", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    (alice, ads, bob, bds)
}

fn refused(a: Answer) -> String {
    match a {
        Answer::Refused(r) => r,
        other => panic!("not refused: {other:?}"),
    }
}

fn to(mut out: Outgoing, who: &[&str]) -> Outgoing {
    out.recipients = who.iter().map(|s| (*s).to_owned()).collect();
    out
}

fn authentication_and_own_queues(backend: Backend) {
    let url = service(backend, "auth", Limits::default());
    let (mut alice, ads, _bob, bds) = group_of_two(&url);
    let (_, carol) = client(&url, "carol");
    // The name is taken.
    let mut again = DsClient::new(&url, None);
    assert!(again.register_name("alice").unwrap_err().to_string().contains("taken"));
    // No token, or a wrong one: nothing.
    let anon = DsClient::new(&url, None);
    assert!(anon.poll(0, 0).unwrap_err().to_string().contains("401"));
    let forged = DsClient::new(&url, Some("00".repeat(32)));
    assert!(forged.poll(0, 0).unwrap_err().to_string().contains("401"));
    // A message to bob is in bob's queue only.
    let m = alice.group(b"g").unwrap().send(b"to bob").unwrap();
    ads.post(&m).unwrap();
    let got = bds.poll(0, 0).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].sender, "alice");
    assert!(carol.poll(0, 0).unwrap().is_empty());
    assert!(ads.poll(0, 0).unwrap().is_empty());
    // A recipient named twice is refused.
    let m = alice.group(b"g").unwrap().send(b"x").unwrap();
    assert!(refused(ads.post(&to(m, &["bob", "bob"])).unwrap()).contains("named twice"));
    assert_eq!(bds.poll(0, 0).unwrap().len(), 1);
    // A group the service does not follow yet takes nothing until a
    // member introduces it with its GroupInfo; then its messages go to
    // its members only, whatever the poster names (a client cannot fill
    // others' queues with messages of groups of its own).
    let (mut dave, dds) = client(&url, "dave");
    dave.create_group(b"solo", GroupKind::Plain).unwrap();
    let m = dave.group(b"solo").unwrap().send(b"x").unwrap();
    assert!(dds.post(&to(m.clone(), &["bob"])).unwrap_err().to_string().contains("412"));
    assert!(matches!(
        remote::send(&mut dave, &dds, &to(m, &["bob"])).unwrap(),
        Answer::Accepted(_)
    ));
    // Nor do names of non-members or unknown clients reach anyone.
    let m = alice.group(b"g").unwrap().send(b"x").unwrap();
    assert!(matches!(ads.post(&to(m, &["bob", "nobody"])).unwrap(), Answer::Accepted(_)));
    assert_eq!(bds.poll(0, 0).unwrap().len(), 2);
    // Acknowledged entries are gone.
    let all = bds.poll(0, 0).unwrap();
    bds.ack(got[0].id).unwrap();
    assert_eq!(bds.poll(0, 0).unwrap().len(), all.len() - 1);
    bds.ack(all[1].id).unwrap();
    assert!(bds.poll(0, 0).unwrap().is_empty());
}

fn the_service_reads_routing_from_the_message_and_lets_only_members_post(backend: Backend) {
    let url = service(backend, "members", Limits::default());
    let (mut alice, ads, _bob, _bds) = group_of_two(&url);
    // Not a message at all; a message whose header names another epoch or
    // group than the request.
    let mut m = alice.group(b"g").unwrap().send(b"x").unwrap();
    let real = m.clone();
    m.message = b"garbage".to_vec();
    assert!(refused(ads.post(&m).unwrap()).contains("400"));
    let mut m = real.clone();
    m.epoch += 1;
    assert!(refused(ads.post(&m).unwrap()).contains("400"));
    let mut m = real.clone();
    m.group = b"h".to_vec();
    assert!(refused(ads.post(&m).unwrap()).contains("400"));
    // dave has a group `g` of his own: the service's `g` is not his.
    let (mut dave, dds) = client(&url, "dave");
    dave.create_group(b"g", GroupKind::Plain).unwrap();
    let theirs = dave.group(b"g").unwrap().send(b"x").unwrap();
    assert!(refused(dds.post(&to(theirs, &["alice"])).unwrap()).contains("403"));
    let info = dave.group(b"g").unwrap().group_info().unwrap();
    // His GroupInfo is not that of the service's `g`.
    assert!(dds.put_group_info(b"g", 0, &info).unwrap_err().to_string().contains("400"));
    // A GroupInfo must be of the group and epoch it is filed under.
    let ours = alice.group(b"g").unwrap().group_info().unwrap();
    assert!(ads.put_group_info(b"g", 7, &ours).unwrap_err().to_string().contains("400"));
    ads.put_group_info(b"g", 1, &ours).unwrap();
}

/// A removed member cannot post to the group any more: in particular it
/// cannot take the next epoch's commit slot with bytes whose header names
/// that epoch (the service cannot check more than the header).
fn a_removed_member_can_no_longer_take_an_epoch(backend: Backend) {
    let url = service(backend, "removed", Limits::default());
    let (mut alice, ads, mut bob, bds) = group_of_two(&url);
    let (mut carol, cds) = client(&url, "carol");
    cds.publish(&carol.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("carol", GroupKind::Plain).unwrap();
    let out = alice.group(b"g").unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    remote::receive(&mut carol, &cds, 0).unwrap();
    // carol commits once (accepted); she will send it again once removed.
    let carols = carol.group(b"g").unwrap().update(false).unwrap();
    let Answer::Accepted(first) = remote::send(&mut carol, &cds, &carols).unwrap() else {
        panic!("carol's commit is the epoch's first")
    };
    remote::receive(&mut alice, &ads, 0).unwrap();
    remote::receive(&mut bob, &bds, 0).unwrap();
    // A message carol made while a member, kept for later.
    let old = carol.group(b"g").unwrap().send(b"still here").unwrap();
    let out = alice.group(b"g").unwrap().remove(&["carol".to_string()]).unwrap();
    assert_eq!(out.removed, vec!["carol".to_string()]);
    // The removal must go to whom it removes, and only a commit removes.
    let mut bad = out.clone();
    bad.recipients.retain(|r| r != "carol");
    assert!(refused(ads.post(&bad).unwrap()).contains("400"));
    let next = out.epoch + 1;
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    // carol re-dates her old message to the new epoch and posts it as
    // its commit: refused, so the slot stays free.
    let mut m: mlsx_base::codec::MlsMessage = mlsx_base::codec::decode(&old.message).unwrap();
    let mlsx_base::codec::MlsMessageBody::PrivateMessage(p) = &mut m.body else {
        panic!("application messages are PrivateMessages")
    };
    p.epoch = next;
    let forged = Outgoing {
        epoch: next,
        kind: OutgoingKind::Commit,
        message: mlsx_base::codec::encode(&m).unwrap(),
        recipients: vec!["alice".into(), "bob".into()],
        ..old
    };
    assert!(refused(cds.post(&forged).unwrap()).contains("403"));
    // Her accepted commit, sent again, still gets the first answer.
    assert_eq!(cds.post(&carols).unwrap(), Answer::Accepted(first));
    // bob follows and takes the epoch.
    remote::receive(&mut bob, &bds, 0).unwrap();
    let up = bob.group(b"g").unwrap().update(false).unwrap();
    assert_eq!(up.epoch, next);
    assert!(matches!(remote::send(&mut bob, &bds, &up).unwrap(), Answer::Accepted(_)));
}

fn a_commit_refused_for_good_is_rolled_back(backend: Backend) {
    let url = service(backend, "refused", Limits::default());
    let (mut alice, ads, _bob, _bds) = group_of_two(&url);
    let before = alice.group(b"g").unwrap().info().unwrap();
    // Alice's commit, with one bit of its signature flipped on the way:
    // the service's observer of the group refuses it for good.
    let mut out = alice.group(b"g").unwrap().update(false).unwrap();
    let mut m: mlsx_base::codec::MlsMessage = mlsx_base::codec::decode(&out.message).unwrap();
    let mlsx_base::codec::MlsMessageBody::PublicMessage(p) = &mut m.body else {
        panic!("handshakes are PublicMessages")
    };
    let mut sig = p.auth.signature.as_slice().to_vec();
    sig[0] ^= 1;
    p.auth.signature = sig.into();
    out.message = mlsx_base::codec::encode(&m).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Refused(r) if r.contains("400")));
    let after = alice.group(b"g").unwrap().info().unwrap();
    assert_eq!(
        (after.epoch, after.commit_pending, after.epoch_authenticator),
        (before.epoch, false, before.epoch_authenticator)
    );
    // Nothing pending blocks the next commit.
    let out = alice.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
}

fn long_poll_wakes_on_a_message(backend: Backend) {
    let url = service(backend, "wait", Limits::default());
    let (mut alice, ads, _bob, bds) = group_of_two(&url);
    bds.ack(bds.poll(0, 0).unwrap().last().map_or(0, |d| d.id)).unwrap();
    let start = std::time::Instant::now();
    // Four open polls of one client at most; all are woken.
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let c = bds.clone();
            std::thread::spawn(move || c.poll(0, 20).unwrap())
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(bds.poll(0, 5).unwrap_err().to_string().contains("429"));
    let m = alice.group(b"g").unwrap().send(b"wake").unwrap();
    ads.post(&m).unwrap();
    for w in waiters {
        assert_eq!(w.join().unwrap().len(), 1);
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(10), "woken, not timed out");
    // Their slots are free again.
    assert_eq!(bds.poll(0, 1).unwrap().len(), 1);
}

fn key_packages_are_used_once_and_last_resort_stays(backend: Backend) {
    let url = service(backend, "kp", Limits::default());
    let (_, alice) = client(&url, "alice");
    let (mut bob, bob_ds) = client(&url, "bob");
    let ordinary = bob.key_packages(GroupKind::Plain, 2, false).unwrap();
    let last = bob.key_packages(GroupKind::Plain, 1, true).unwrap();
    bob_ds.publish(&last).unwrap();
    bob_ds.publish(&ordinary).unwrap();
    // Ordinary ones first, each once; then the last-resort one, again and again.
    let got: Vec<_> = (0..4).map(|_| alice.key_package("bob", GroupKind::Plain).unwrap()).collect();
    assert_eq!(got[0], ordinary[0]);
    assert_eq!(got[1], ordinary[1]);
    assert_eq!(got[2], last[0]);
    assert_eq!(got[3], last[0]);
    // Offers in a suite bob published none in: none.
    assert!(
        alice
            .key_package_in("bob", GroupKind::Plain, 3, None)
            .unwrap_err()
            .to_string()
            .contains("404")
    );
    assert_eq!(alice.key_package_in("bob", GroupKind::Plain, 1, None).unwrap(), last[0]);
    // No hybrid pair was published.
    assert!(alice.key_package("bob", GroupKind::Hybrid).unwrap_err().to_string().contains("404"));
    // Offers in another's name are refused.
    let (mut carol, _) = client(&url, "carol");
    let theirs = carol.key_packages(GroupKind::Plain, 1, false).unwrap();
    assert!(bob_ds.publish(&theirs).unwrap_err().to_string().contains("403"));
}

fn first_commit_of_an_epoch_wins_and_resends_get_the_same_answer(backend: Backend) {
    let url = service(backend, "order", Limits::default());
    let (mut alice, ads, mut bob, bds) = group_of_two(&url);
    remote::receive(&mut bob, &bds, 0).unwrap();
    let a = alice.group(b"g").unwrap().update(false).unwrap();
    let b = bob.group(b"g").unwrap().update(false).unwrap();
    assert_eq!(a.epoch, b.epoch);
    let Answer::Accepted(seq) = ads.post(&a).unwrap() else { panic!() };
    assert!(matches!(bds.post(&b).unwrap(), Answer::Conflict(r) if r.contains(&format!("epoch {}", a.epoch))));
    // The winner sends the same bytes again (it lost the answer): the same seq.
    assert_eq!(ads.post(&a).unwrap(), Answer::Accepted(seq));
    assert!(matches!(bds.post(&b).unwrap(), Answer::Conflict(_)));
    alice.group(b"g").unwrap().accepted().unwrap();
    bob.group(b"g").unwrap().refused().unwrap();
    // Only the winner reached a queue: bob's has alice's commit (the
    // Welcome before it was read and acknowledged); alice's has nothing.
    let q: Vec<String> = bds.poll(0, 0).unwrap().into_iter().map(|d| d.kind).collect();
    assert_eq!(q, vec!["commit".to_string()]);
    assert!(ads.poll(0, 0).unwrap().is_empty());
    // bob catches up and commits the next epoch; his old commit stays refused.
    remote::receive(&mut bob, &bds, 0).unwrap();
    let next = bob.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(remote::send(&mut bob, &bds, &next).unwrap(), Answer::Accepted(_)));
    assert!(matches!(bds.post(&b).unwrap(), Answer::Conflict(_)));
}

fn limits_on_size_and_rate(backend: Backend) {
    let url = service(
        backend,
        "limits",
        Limits {
            max_body: 4096,
            requests_per_second: 5,
            ..Limits::default()
        },
    );
    let (_, alice) = client(&url, "alice");
    let (_, _bob) = client(&url, "bob");
    let big = Outgoing {
        group: b"g".to_vec(),
        epoch: 0,
        kind: OutgoingKind::Message,
        message: vec![0u8; 8192],
        recipients: vec!["bob".into()],
        welcome: None,
        welcome_to: vec![],
        removed: vec![],
    };
    assert!(refused(alice.post(&big).unwrap()).contains("413"));
    // A burst of twice the rate passes, then 429.
    let mut refused = 0;
    for _ in 0..30 {
        if let Err(e) = alice.poll(0, 0) {
            assert!(e.to_string().contains("429"), "{e}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the rate limit applies");
}

fn external_join_with_the_epochs_self_removes(backend: Backend) {
    let url = service(backend, "external", Limits::default());
    let (mut alice, ads) = client(&url, "alice");
    let (mut bob, bds) = client(&url, "bob");
    let (mut dave, dds) = client(&url, "dave");
    bds.publish(&bob.key_packages(GroupKind::Extended, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("bob", GroupKind::Extended).unwrap();
    let out = alice.create_group(b"x", GroupKind::Extended).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    // The group is closed to external joins until its members open it.
    assert!(dds.group_info(b"x").unwrap_err().to_string().contains("403"));
    let open = alice.group(b"x").unwrap().set_external_joins(true).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &open).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    // bob leaves; no member commits; dave joins from the GroupInfo and
    // must commit bob's SelfRemove with it.
    let leave = bob.group(b"x").unwrap().leave().unwrap();
    remote::send(&mut bob, &bds, &leave).unwrap();
    let (_, removes) = dds.group_info(b"x").unwrap();
    assert_eq!(removes.len(), 1, "the DS hands out the epoch's SelfRemove");
    assert!(matches!(
        remote::join_external(&mut dave, &dds, GroupKind::Extended, b"x").unwrap(),
        Answer::Accepted(_)
    ));
    assert_eq!(dave.group(b"x").unwrap().roster(), vec!["alice".to_string(), "dave".to_string()]);
    let ev: Vec<Event> = remote::receive(&mut alice, &ads, 0)
        .unwrap()
        .into_iter()
        .flat_map(|r| r.outcome.unwrap())
        .collect();
    assert!(ev.contains(&Event::MemberAdded { name: "dave".into() }), "{ev:?}");
    assert!(ev.contains(&Event::MemberRemoved { name: "bob".into() }), "{ev:?}");
    let ev: Vec<Event> = remote::receive(&mut bob, &bds, 0)
        .unwrap()
        .into_iter()
        .flat_map(|r| r.outcome.unwrap())
        .collect();
    assert!(ev.contains(&Event::RemovedSelf), "{ev:?}");
    let auth = alice.group(b"x").unwrap().info().unwrap().epoch_authenticator;
    assert_eq!(dave.group(b"x").unwrap().info().unwrap().epoch_authenticator, auth);

    // A hybrid session: an external pair; a second joiner from the same
    // (now old) GroupInfo is refused and forgets the group.
    let (mut erin, eds) = client(&url, "erin");
    let (mut frank, fds) = client(&url, "frank");
    alice.create_group(b"hy", GroupKind::Hybrid).unwrap();
    let open = alice.group(b"hy").unwrap().set_external_joins(true).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &open).unwrap(), Answer::Accepted(_)));
    let info = alice.group(b"hy").unwrap().group_info().unwrap();
    ads.put_group_info(b"hy", alice.group(b"hy").unwrap().epoch(), &info).unwrap();
    let mut e = erin.join_external(GroupKind::Hybrid, &info, &[]).unwrap();
    // An external committer is not a member yet: its word on removals is
    // not taken.
    e.removed = vec!["alice".into()];
    let f = frank.join_external(GroupKind::Hybrid, &info, &[]).unwrap();
    assert!(matches!(remote::send(&mut erin, &eds, &e).unwrap(), Answer::Accepted(_)));
    assert!(matches!(remote::send(&mut frank, &fds, &f).unwrap(), Answer::Conflict(_)));
    assert!(frank.groups().unwrap().is_empty());
    remote::receive(&mut alice, &ads, 0).unwrap();
    let auth = alice.group(b"hy").unwrap().info().unwrap();
    let theirs = erin.group(b"hy").unwrap().info().unwrap();
    assert_eq!(
        (theirs.epoch_authenticator, theirs.pq_epoch),
        (auth.epoch_authenticator, auth.pq_epoch)
    );
    // frank tries again from the newer GroupInfo erin left.
    assert!(matches!(
        remote::join_external(&mut frank, &fds, GroupKind::Hybrid, b"hy").unwrap(),
        Answer::Accepted(_)
    ));
    // alice, whom erin's external commit claimed to remove, still posts.
    remote::receive(&mut alice, &ads, 0).unwrap();
    let m = alice.group(b"hy").unwrap().send(b"still a member").unwrap();
    assert!(matches!(ads.post(&m).unwrap(), Answer::Accepted(_)));
}

/// A name with characters that mean something in a URL still reaches its
/// KeyPackages.
fn names_with_url_characters(backend: Backend) {
    let url = service(backend, "names", Limits::default());
    let (_, ads) = client(&url, "alice");
    let odd = "eve / ops?#50% é";
    let (mut eve, eds) = client(&url, odd);
    eds.publish(&eve.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = ads.key_package(odd, GroupKind::Plain).unwrap();
    assert_eq!(offer.owner, odd);
}

/// The service keeps no history: a message every recipient acknowledged
/// leaves its database.
fn acknowledged_messages_leave_the_log(backend: Backend) {
    let (url, db) = service_at(backend, "prune", Limits::default());
    let (mut alice, ads, mut bob, bds) = group_of_two(&url);
    let (mut carol, cds) = client(&url, "carol");
    cds.publish(&carol.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("carol", GroupKind::Plain).unwrap();
    let out = alice.group(b"g").unwrap().add(&[offer]).unwrap();
    remote::send(&mut alice, &ads, &out).unwrap();
    remote::receive(&mut bob, &bds, 0).unwrap();
    remote::receive(&mut carol, &cds, 0).unwrap();
    let messages = || query_i64(&db, "SELECT count(*) FROM log WHERE kind = 'message'", "");
    let m = alice.group(b"g").unwrap().send(b"to both").unwrap();
    ads.post(&m).unwrap();
    assert_eq!(messages(), 1);
    remote::receive(&mut bob, &bds, 0).unwrap();
    assert_eq!(messages(), 1, "carol has not read it yet");
    let got = remote::receive(&mut carol, &cds, 0).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(messages(), 0);
}

/// A message sent again with the same bytes (its sender never read the
/// answer) gets the first answer and is delivered once.
fn a_message_sent_again_is_delivered_once(backend: Backend) {
    let url = service(backend, "again", Limits::default());
    let (mut alice, ads, mut bob, bds) = group_of_two(&url);
    let m = alice.group(b"g").unwrap().send(b"once").unwrap();
    let first = ads.post(&m).unwrap();
    assert!(matches!(first, Answer::Accepted(_)));
    assert_eq!(format!("{first:?}"), format!("{:?}", ads.post(&m).unwrap()));
    let got = remote::receive(&mut bob, &bds, 0).unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    // Another member posting alice's bytes is not taken for her resend.
    let (_, carol_ds) = client(&url, "carol");
    assert!(carol_ds.post(&m).is_err() || matches!(carol_ds.post(&m).unwrap(), Answer::Refused(_)));
}

on_both_databases!(
    a_message_sent_again_is_delivered_once,
    authentication_and_own_queues,
    the_service_reads_routing_from_the_message_and_lets_only_members_post,
    a_removed_member_can_no_longer_take_an_epoch,
    a_commit_refused_for_good_is_rolled_back,
    long_poll_wakes_on_a_message,
    key_packages_are_used_once_and_last_resort_stays,
    first_commit_of_an_epoch_wins_and_resends_get_the_same_answer,
    limits_on_size_and_rate,
    external_join_with_the_epochs_self_removes,
    names_with_url_characters,
    acknowledged_messages_leave_the_log,
);
