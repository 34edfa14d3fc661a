//! Clients of the delivery service as attackers (issue "A delivery service
//! you could deploy"): what the service's observers of each group refuse.
//! Each test runs the attack against a service on a thread and then checks
//! that the honest members carry on.
//!
//! Covered so far: bogus, unsigned, wrongly signed, stale and foreign
//! commits that would take an epoch's slot; membership claimed by a poster
//! (removals, recipients, Welcome recipients); a handshake posted by
//! another than its sender; forged and stale GroupInfos; PrivateMessage
//! handshakes the service cannot check; hybrid sessions half by half.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::ds::Limits;
use mlsx_app::remote::{self, Answer, DsClient};
use mlsx_app::{Client, ClientConfig, GroupKind, MemoryStore, Outgoing, OutgoingKind};
use mlsx_base::codec::{
    Commit, FramedContent, FramedContentAuthData, FramedContentBody, MlsMessage, MlsMessageBody, PublicMessage, Sender, VLBytes, decode,
    encode,
};

mod common;
use common::{Backend, query_i64, query_texts, service, service_at};

fn client(url: &str, name: &str) -> (Client, DsClient) {
    let mut c = Client::create(Box::new(MemoryStore::new()), ClientConfig::new(name)).unwrap();
    DsClient::new(url, None).register(&mut c).unwrap();
    let ds = mlsx_app::remote::connect(&mut c).unwrap();
    (c, ds)
}

struct Member {
    client: Client,
    ds: DsClient,
}

/// alice's group `g` of `kind` with bob in it, both caught up.
fn pair(url: &str, kind: GroupKind) -> (Member, Member) {
    let (mut alice, ads) = client(url, "alice");
    let (mut bob, bds) = client(url, "bob");
    bds.publish(&bob.key_packages(kind, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("bob", kind).unwrap();
    let out = alice.create_group(b"g", kind).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    (Member { client: alice, ds: ads }, Member { client: bob, ds: bds })
}

fn refused(a: Answer) -> String {
    match a {
        Answer::Refused(r) => r,
        other => panic!("not refused: {other:?}"),
    }
}

/// `m` commits an update; the service takes it and the other member follows.
fn honest_commit(m: &mut Member, other: &mut Member) {
    let out = m.client.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(remote::send(&mut m.client, &m.ds, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut other.client, &other.ds, 0).unwrap();
    let (a, b) = (
        m.client.group(b"g").unwrap().info().unwrap(),
        other.client.group(b"g").unwrap().info().unwrap(),
    );
    assert_eq!((a.epoch, a.epoch_authenticator), (b.epoch, b.epoch_authenticator));
}

/// A commit as `from` would post it for epoch `epoch`, with `message` as
/// its bytes.
fn commit_of(epoch: u64, message: Vec<u8>) -> Outgoing {
    Outgoing {
        group: b"g".to_vec(),
        epoch,
        kind: OutgoingKind::Commit,
        message,
        recipients: vec![],
        welcome: None,
        welcome_to: vec![],
        removed: vec![],
    }
}

/// The attack of the issue: a 30-byte unsigned "commit" for the current
/// epoch (which GroupInfo tells anyone), claiming to be an external
/// joiner's, from a stranger and from a member; and a member's real commit
/// with a flipped signature bit, or for another group. None takes the
/// epoch: the members' next commit is accepted.
fn bogus_commits_do_not_take_the_epoch(backend: Backend) {
    let url = service(backend, "bogus", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let (_, mallory) = client(&url, "mallory");
    let epoch = alice.client.group(b"g").unwrap().epoch();
    let bare = MlsMessage::new(MlsMessageBody::PublicMessage(PublicMessage {
        content: FramedContent {
            group_id: b"g".to_vec().into(),
            epoch,
            sender: Sender::NewMemberCommit,
            authenticated_data: VLBytes::default(),
            body: FramedContentBody::Commit(Commit {
                proposals: vec![],
                path: None,
            }),
        },
        auth: FramedContentAuthData {
            signature: VLBytes::default(),
            confirmation_tag: Some(vec![0; 2].into()),
        },
        membership_tag: None,
    }));
    let bare = encode(&bare).unwrap();
    assert!(bare.len() <= 30, "{}", bare.len());
    for ds in [&mallory, &bob.ds] {
        let r = ds.post(&commit_of(epoch, bare.clone())).unwrap();
        assert!(matches!(r, Answer::Refused(_)), "{r:?}");
    }
    // bob's real commit, one signature bit flipped.
    let out = bob.client.group(b"g").unwrap().update(false).unwrap();
    bob.client.group(b"g").unwrap().refused().unwrap();
    let mut m: MlsMessage = decode(&out.message).unwrap();
    let MlsMessageBody::PublicMessage(p) = &mut m.body else { panic!() };
    let mut sig = p.auth.signature.as_slice().to_vec();
    sig[3] ^= 0x10;
    p.auth.signature = sig.into();
    assert!(refused(bob.ds.post(&commit_of(epoch, encode(&m).unwrap())).unwrap()).contains("400"));
    // The same commit sent by mallory, who is not its sender.
    assert!(refused(mallory.post(&commit_of(epoch, out.message.clone())).unwrap()).contains("403"));
    // The members' next commit takes the epoch.
    honest_commit(&mut alice, &mut bob);
    assert_eq!(alice.client.group(b"g").unwrap().epoch(), epoch + 1);
    // bob's old commit is now stale: 409.
    assert!(matches!(bob.ds.post(&out).unwrap(), Answer::Conflict(r) if r.contains(&format!("epoch {epoch}"))));
}

/// Membership comes from the group, not from what a poster says: a
/// commit that claims to remove bob does not stop bob, a message naming
/// carol (not a member) does not reach her, a Welcome is delivered only to
/// those the commit adds.
fn membership_is_the_groups_not_the_posters(backend: Backend) {
    let url = service(backend, "members", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let (mut carol, cds) = client(&url, "carol");
    // alice's update commit, claiming to remove bob and to welcome carol.
    let mut out = alice.client.group(b"g").unwrap().update(false).unwrap();
    out.removed = vec!["bob".into()];
    out.recipients = vec!["bob".into()];
    out.welcome_to = vec!["carol".into()];
    out.welcome = Some(b"not a welcome".to_vec());
    // A Welcome with a commit that adds nobody is refused.
    assert!(refused(remote::send(&mut alice.client, &alice.ds, &out).unwrap()).contains("Welcome"));
    let mut out = alice.client.group(b"g").unwrap().update(false).unwrap();
    out.removed = vec!["bob".into()];
    out.recipients = vec!["bob".into(), "carol".into()];
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &out).unwrap(),
        Answer::Accepted(_)
    ));
    assert!(cds.poll(0, 0).unwrap().is_empty(), "carol got a message of a group she is not in");
    remote::receive(&mut bob.client, &bob.ds, 0).unwrap();
    // bob is still a member: his commit is taken.
    honest_commit(&mut bob, &mut alice);
    // Adding carol: her Welcome reaches her, and only her.
    cds.publish(&carol.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = alice.ds.key_package("carol", GroupKind::Plain).unwrap();
    let out = alice.client.group(b"g").unwrap().add(&[offer]).unwrap();
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &out).unwrap(),
        Answer::Accepted(_)
    ));
    let kinds: Vec<String> = cds.poll(0, 0).unwrap().into_iter().map(|d| d.kind).collect();
    assert_eq!(kinds, vec!["welcome".to_string()]);
    remote::receive(&mut carol, &cds, 0).unwrap();
    assert_eq!(carol.group(b"g").unwrap().epoch(), alice.client.group(b"g").unwrap().epoch());
}

/// GroupInfos: one of a past epoch, or of another group under this
/// group's id, is refused; the service keeps serving the current one.
fn forged_and_stale_group_infos_are_refused(backend: Backend) {
    let url = service(backend, "infos", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let old = alice.client.group(b"g").unwrap().group_info().unwrap();
    let old_epoch = alice.client.group(b"g").unwrap().epoch();
    honest_commit(&mut alice, &mut bob);
    let e = bob.ds.put_group_info(b"g", old_epoch, &old).unwrap_err().to_string();
    assert!(e.contains("400"), "{e}");
    // mallory's own group `g`, filed under the service's `g`.
    let (mut mallory, mds) = client(&url, "mallory");
    mallory.create_group(b"g", GroupKind::Plain).unwrap();
    let info = mallory.group(b"g").unwrap().group_info().unwrap();
    assert!(mds.put_group_info(b"g", 0, &info).unwrap_err().to_string().contains("400"));
    // What the service serves is of the current epoch.
    let (current, _) = bob.ds.group_info(b"g").unwrap();
    let MlsMessageBody::GroupInfo(gi) = decode::<MlsMessage>(&current).unwrap().body else {
        panic!()
    };
    assert_eq!(gi.group_context.epoch, alice.client.group(b"g").unwrap().epoch());
}

/// A handshake the service cannot read (a PrivateMessage proposal or
/// commit) is refused; with `--private-handshakes` the service orders on
/// the poster's word as before.
fn private_handshakes_are_refused_unless_allowed(backend: Backend) {
    let url = service(backend, "private", Limits::default());
    let (mut alice, _bob) = pair(&url, GroupKind::Plain);
    // An application message relabelled as a commit in its clear header.
    let m = alice.client.group(b"g").unwrap().send(b"x").unwrap();
    let mut msg: MlsMessage = decode(&m.message).unwrap();
    let MlsMessageBody::PrivateMessage(p) = &mut msg.body else {
        panic!()
    };
    p.content_type = mlsx_base::codec::ContentType::COMMIT;
    let out = commit_of(m.epoch, encode(&msg).unwrap());
    assert!(refused(alice.ds.post(&out).unwrap()).contains("PublicMessage"));
    // The service that allows them takes the honest flow as before.
    let url = service(
        backend,
        "private-allowed",
        Limits {
            private_handshakes: true,
            ..Limits::default()
        },
    );
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    honest_commit(&mut alice, &mut bob);
}

/// A hybrid session: the service follows both groups; a FULL commit whose
/// halves come from two members' commits is refused, the honest one taken.
fn hybrid_sessions_are_checked_half_by_half(backend: Backend) {
    let url = service(backend, "hybrid", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Hybrid);
    honest_commit(&mut bob, &mut alice);
    let a = alice.client.group(b"g").unwrap().update(true).unwrap();
    alice.client.group(b"g").unwrap().refused().unwrap();
    let b = bob.client.group(b"g").unwrap().update(true).unwrap();
    bob.client.group(b"g").unwrap().refused().unwrap();
    let (pa, pb) = (
        mlsx_combiner::ApqMessagePair::from_message(&decode(&a.message).unwrap()).unwrap(),
        mlsx_combiner::ApqMessagePair::from_message(&decode(&b.message).unwrap()).unwrap(),
    );
    let mixed = mlsx_combiner::ApqMessagePair {
        t_message: pa.t_message,
        pq_message: pb.pq_message,
        ..pa
    }
    .to_message()
    .unwrap();
    let r = alice.ds.post(&commit_of(a.epoch, encode(&mixed).unwrap())).unwrap();
    assert!(matches!(r, Answer::Refused(_)), "{r:?}");
    honest_commit(&mut alice, &mut bob);
}

/// Bounds on what one client may store or take: its signature key, its
/// KeyPackages, the groups it introduces, others' KeyPackages it takes, and
/// Welcomes to a full queue; registrations per source address.
fn every_quota_holds(backend: Backend) {
    let url = service(
        backend,
        "quotas",
        Limits {
            max_key_packages: 3,
            key_package_fetches_per_hour: 2,
            max_groups: 2,
            max_queue: 2,
            max_keys: 4,
            ..Limits::default()
        },
    );
    let (mut alice, ads) = client(&url, "alice");
    let (mut bob, bds) = client(&url, "bob");
    // A 700 KB signature key is refused.
    let mut big = DsClient::new(&url, None);
    let e = big
        .register_keys(
            "big",
            &[7],
            vec![mlsx_app::ds::wire::KeyProof {
                suite: 1,
                signature_key: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![7u8; 700_000]),
                proof: String::new(),
            }],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("400") || e.contains("413"), "{e}");
    // A group id of 256 bytes is refused.
    let e = ads.group_info(&[7u8; 256]).unwrap_err().to_string();
    assert!(e.contains("400") && e.contains("group id"), "{e}");
    // Signature keys: 4 bound to a name at most (kim holds 2).
    let (mut kim, kds) = client(&url, "kim");
    for _ in 0..2 {
        kim.rotate_signature_key(1).unwrap();
        remote::sync_keys(&mut kim, &kds).unwrap();
    }
    kim.rotate_signature_key(1).unwrap();
    let e = remote::sync_keys(&mut kim, &kds).unwrap_err().to_string();
    assert!(e.contains("429") && e.contains("signature keys"), "{e}");
    assert_eq!(ads.directory("kim").unwrap().unwrap().len(), 4);
    // KeyPackages: 3 stored at most.
    bds.publish(&bob.key_packages(GroupKind::Plain, 3, false).unwrap()).unwrap();
    let e = bds
        .publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("429"), "{e}");
    // alice may take two of bob's per hour: bob keeps one.
    ads.key_package("bob", GroupKind::Plain).unwrap();
    ads.key_package("bob", GroupKind::Plain).unwrap();
    let e = ads.key_package("bob", GroupKind::Plain).unwrap_err().to_string();
    assert!(e.contains("429"), "{e}");
    assert!(
        bds.key_package("bob", GroupKind::Plain).is_ok(),
        "bob's own last one is still there"
    );
    // Groups: two introduced at most.
    for g in [b"g1".as_slice(), b"g2"] {
        let m = alice.create_group(g, GroupKind::Plain).unwrap().send(b"x").unwrap();
        assert!(matches!(remote::send(&mut alice, &ads, &m).unwrap(), Answer::Accepted(_)));
    }
    let m = alice.create_group(b"g3", GroupKind::Plain).unwrap().send(b"x").unwrap();
    let e = remote::send(&mut alice, &ads, &m).unwrap_err().to_string();
    assert!(e.contains("429"), "{e}");
    // A Welcome to a full queue is refused, and the commit with it does
    // not take the epoch: carol's queue holds dave's Welcome and message.
    let (mut carol, cds) = client(&url, "carol");
    let (mut dave, dds) = client(&url, "dave");
    let (mut erin, eds) = client(&url, "erin");
    cds.publish(&carol.key_packages(GroupKind::Plain, 2, false).unwrap()).unwrap();
    let offer = dds.key_package("carol", GroupKind::Plain).unwrap();
    let out = dave.create_group(b"w", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut dave, &dds, &out).unwrap(), Answer::Accepted(_)));
    let m = dave.group(b"w").unwrap().send(b"one").unwrap();
    assert!(matches!(remote::send(&mut dave, &dds, &m).unwrap(), Answer::Accepted(_)));
    let m = dave.group(b"w").unwrap().send(b"two").unwrap();
    assert!(remote::send(&mut dave, &dds, &m).unwrap_err().to_string().contains("429"));
    let offer = eds.key_package("carol", GroupKind::Plain).unwrap();
    let out = erin.create_group(b"x", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    assert!(remote::send(&mut erin, &eds, &out).unwrap_err().to_string().contains("429"));
    // carol reads her queue; erin's commit, sent again, is then taken.
    remote::receive(&mut carol, &cds, 0).unwrap();
    assert!(matches!(eds.post(&out).unwrap(), Answer::Accepted(_)));
}

/// Registrations and requests without a valid token are metered per
/// source address.
fn anonymous_requests_are_rate_limited(backend: Backend) {
    let url = service(
        backend,
        "anonymous",
        Limits {
            anonymous_requests_per_second: 2,
            ..Limits::default()
        },
    );
    let mut refused = 0;
    for i in 0..20 {
        let mut c = DsClient::new(&url, None);
        if let Err(e) = c.register_name(&format!("n{i}")) {
            assert!(e.to_string().contains("429"), "{e}");
            refused += 1;
        }
    }
    assert!(refused >= 10, "{refused} of 20 registrations refused");
    let forged = DsClient::new(&url, Some("00".repeat(32)));
    let errors: Vec<String> = (0..10).filter_map(|_| forged.poll(0, 0).err().map(|e| e.to_string())).collect();
    assert!(errors.iter().any(|e| e.contains("429")), "{errors:?}");
}

/// Every table is collected: the commits kept for resends are the last
/// few per group, a SelfRemove leaves once its epoch is over and no queue
/// holds it, and acknowledged messages leave the log.
fn tables_are_collected(backend: Backend) {
    let (url, db) = service_at(
        backend,
        "collected",
        Limits {
            commits_kept: 2,
            ..Limits::default()
        },
    );
    let (mut alice, mut bob) = pair(&url, GroupKind::Extended);
    for _ in 0..3 {
        honest_commit(&mut alice, &mut bob);
        honest_commit(&mut bob, &mut alice);
    }
    let leave = bob.client.group(b"g").unwrap().leave().unwrap();
    assert!(matches!(
        remote::send(&mut bob.client, &bob.ds, &leave).unwrap(),
        Answer::Accepted(_)
    ));
    let count = |sql: &str| -> i64 { query_i64(&db, sql, "") };
    assert_eq!(count("SELECT count(*) FROM log WHERE self_remove"), 1);
    remote::receive(&mut alice.client, &alice.ds, 0).unwrap();
    let out = alice.client.group(b"g").unwrap().update(false).unwrap();
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &out).unwrap(),
        Answer::Accepted(_)
    ));
    assert_eq!(count("SELECT count(*) FROM log WHERE self_remove"), 0);
    assert!(
        count("SELECT count(*) FROM commit_epoch") <= 3,
        "{}",
        count("SELECT count(*) FROM commit_epoch")
    );
    remote::receive(&mut bob.client, &bob.ds, 0).unwrap();
    remote::receive(&mut alice.client, &alice.ds, 0).unwrap();
    let rows = query_texts(
        &db,
        "SELECT kind || ' ' || sender || ' ' || epoch || ' q' || (SELECT count(*) FROM queue WHERE queue.seq = log.seq) FROM log",
        "",
    );
    assert!(rows.is_empty(), "everything delivered and acknowledged is gone: {rows:?}");
}

/// Slowloris: connections that send half a header, or stall a body, are
/// closed after the timeouts; the connection cap holds; honest clients are
/// served once the stalled connections are gone.
fn slow_clients_are_cut_off(backend: Backend) {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let url = service(
        backend,
        "slowloris",
        Limits {
            max_connections: 8,
            header_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(4),
            ..Limits::default()
        },
    );
    let addr = url.trim_start_matches("http://").to_owned();
    // Eight connections, each with half a header, take every slot.
    let opened = Instant::now();
    let mut stalled: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /v1/queue HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
            s
        })
        .collect();
    // A ninth is closed at once: the cap holds (checked while the eight
    // are surely still open, well within the header timeout).
    std::thread::sleep(Duration::from_millis(300));
    let mut ninth = std::net::TcpStream::connect(&addr).unwrap();
    ninth.set_read_timeout(Some(Duration::from_millis(1000))).unwrap();
    let _ = ninth.write_all(b"GET /v1/queue HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = [0u8; 64];
    let served = ninth.read(&mut buf);
    if opened.elapsed() < Duration::from_millis(2500) {
        assert!(matches!(served, Ok(0) | Err(_)), "a ninth connection was served");
    }
    // The service closes each within the header timeout.
    for s in &mut stalled {
        let mut buf = [0u8; 256];
        // EOF (or a reset): the server hung up.
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(
            n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
    assert!(opened.elapsed() < Duration::from_secs(7), "{:?}", opened.elapsed());
    // A body that stalls: the request is answered 408 or cut.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"POST /v1/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\"")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(start.elapsed() < Duration::from_secs(7), "{:?}", start.elapsed());
    // Honest requests are served.
    let (_, honest) = client(&url, "honest");
    honest.poll(0, 0).unwrap();
}

/// TLS: a client that trusts the service's CA (`--ds-ca`) registers and
/// works over https; one that trusts only the public web's roots cannot
/// connect; plain http is refused off loopback, so a token never travels
/// in the clear beyond this machine.
fn tls_and_no_tokens_in_the_clear(backend: Backend) {
    let certs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let tls = mlsx_app::ds::tls_config(&certs.join("server.pem"), &certs.join("server.key")).unwrap();
    let db = common::database(backend, "tls");
    let addr = mlsx_app::ds::spawn_on(&db, Limits::default(), Some(tls)).unwrap();
    let url = format!("https://localhost:{}", addr.port());
    let ca = std::fs::read(certs.join("ca.pem")).unwrap();
    let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice")).unwrap();
    DsClient::new(&url, None).register_with_ca(&mut alice, &ca).unwrap();
    let ds = mlsx_app::remote::connect(&mut alice).unwrap();
    assert!(ds.poll(0, 0).unwrap().is_empty());
    // The public web's roots do not know the test CA.
    let mut other = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("other")).unwrap();
    assert!(DsClient::new(&url, None).register(&mut other).is_err());
    // http:// beyond loopback is refused before anything is sent.
    let e = DsClient::new("http://192.0.2.1:8700", None).poll(0, 0).unwrap_err().to_string();
    assert!(e.contains("loopback"), "{e}");
    // Plain http to the TLS port fails.
    assert!(
        DsClient::new(&format!("http://127.0.0.1:{}", addr.port()), None)
            .poll(0, 0)
            .is_err()
    );
}

/// Strangers stay out: a group is closed to external joins until its
/// members open it (a commit they all check); while closed, the service
/// hands its GroupInfo to members only and refuses a stranger's external
/// commit, and the members refuse it too if it reaches them another way.
fn closed_groups_keep_strangers_out(backend: Backend) {
    let url = service(backend, "closed", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let (mut mallory, mds) = client(&url, "mallory");
    assert!(mds.group_info(b"g").unwrap_err().to_string().contains("403"));
    // A GroupInfo leaked by a member does not help.
    let leaked = alice.client.group(b"g").unwrap().group_info().unwrap();
    let out = mallory.join_external(GroupKind::Plain, &leaked, &[]).unwrap();
    assert!(refused(remote::send(&mut mallory, &mds, &out).unwrap()).contains("closed to external joins"));
    assert!(mallory.groups().unwrap().is_empty(), "the refused join is forgotten");
    let (mut eve, _) = client(&url, "eve");
    let out = eve.join_external(GroupKind::Plain, &leaked, &[]).unwrap();
    let e = bob.client.group(b"g").unwrap().process(&out.message).unwrap_err();
    assert!(matches!(e, mlsx_app::Error::ExternalJoinsClosed), "{e}");
    // The members open the group; then mallory may join.
    let open = alice.client.group(b"g").unwrap().set_external_joins(true).unwrap();
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &open).unwrap(),
        Answer::Accepted(_)
    ));
    remote::receive(&mut bob.client, &bob.ds, 0).unwrap();
    let (info, _) = mds.group_info(b"g").unwrap();
    let out = mallory.join_external(GroupKind::Plain, &info, &[]).unwrap();
    assert!(matches!(remote::send(&mut mallory, &mds, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut alice.client, &alice.ds, 0).unwrap();
    assert!(alice.client.group(b"g").unwrap().roster().contains(&"mallory".to_string()));
}

/// The rule itself, on raw messages: a stranger's external commit is
/// refused by a closed group, a member's resync is not, and an open group
/// takes both.
#[test]
fn resync_is_allowed_in_a_closed_group() {
    use mlsx_app::client::{EXTERNAL_JOINS, external_join_allowed};
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
    let cs = std::sync::Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(mlsx_base::codec::CipherSuite(1)).unwrap());
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        b"g".to_vec(),
        GroupConfig::default(),
    )
    .unwrap();
    let bob = Identity::basic(cs.as_ref(), b"bob").unwrap();
    let bob_kp = bob.key_package(cs.as_ref()).unwrap();
    alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let gi = alice.group_info().unwrap();
    let bob_leaf = alice.member_by_credential(&bob.credential).unwrap();
    let (_, resync) = Group::join_external(cs.clone(), &gi, None, bob.duplicate(), Some(bob_leaf), GroupConfig::default()).unwrap();
    let mallory = Identity::basic(cs.as_ref(), b"mallory").unwrap();
    let (_, stranger) = Group::join_external(cs.clone(), &gi, None, mallory, None, GroupConfig::default()).unwrap();
    let (context, tree) = (alice.context().clone(), alice.tree().clone());
    assert!(external_join_allowed(&resync, &context, &tree));
    assert!(!external_join_allowed(&stranger, &context, &tree));
    let mut open = context.clone();
    open.extensions.push(mlsx_base::codec::Extension::new(EXTERNAL_JOINS, vec![]));
    assert!(external_join_allowed(&stranger, &open, &tree));
}

/// One name, one leaf: a commit that adds a second leaf under a member's
/// name is refused by the service and, reaching a member another way, by
/// the member. With the directory, the second leaf must carry a key of
/// that name: here bob's own KeyPackage made after he rotated his key.
fn a_name_is_in_a_group_once(backend: Backend) {
    let url = service(backend, "names", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    bob.client.rotate_signature_key(1).unwrap();
    assert_eq!(remote::sync_keys(&mut bob.client, &bob.ds).unwrap(), 1);
    let offer = bob.client.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    let out = alice.client.group(b"g").unwrap().add(&[offer]).unwrap();
    let e = bob.client.group(b"g").unwrap().process(&out.message).unwrap_err();
    assert!(matches!(e, mlsx_app::Error::DuplicateName), "{e}");
    assert!(refused(remote::send(&mut alice.client, &alice.ds, &out).unwrap()).contains("twice"));
    honest_commit(&mut alice, &mut bob);
}

/// Who is who: a member adds a leaf that says "carol" (a registered
/// client, not in the group) with a key of the member's own. A client
/// that skips the directory can make that commit; the service refuses it
/// (the key is not carol's) and so does every member that receives it
/// another way. The group goes on.
fn a_leaf_carries_a_key_of_its_name(backend: Backend) {
    let url = service(backend, "impostor", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let (_carol, _) = client(&url, "carol");
    let cs = std::sync::Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(mlsx_base::codec::CipherSuite(1)).unwrap());
    let fake = mlsx_base::group::Identity::basic(cs.as_ref(), b"carol")
        .unwrap()
        .key_package(cs.as_ref())
        .unwrap();
    let mut offer = bob.client.key_packages(GroupKind::Plain, 1, false).unwrap().remove(0);
    offer.t = fake.key_package;
    offer.owner = "carol".into();
    // An honest client refuses to make it.
    let e = alice.client.group(b"g").unwrap().add(std::slice::from_ref(&offer)).unwrap_err();
    assert!(e.to_string().contains("not registered for this name"), "{e}");
    alice.client.set_directory(None);
    let out = alice.client.group(b"g").unwrap().add(&[offer]).unwrap();
    let e = bob.client.group(b"g").unwrap().process(&out.message).unwrap_err();
    assert!(e.to_string().contains("not registered for this name"), "{e}");
    assert!(refused(remote::send(&mut alice.client, &alice.ds, &out).unwrap()).contains("carol's leaf is not registered"));
    remote::connect(&mut alice.client).unwrap();
    honest_commit(&mut alice, &mut bob);
}

/// The directory's own requests: a registration with another's public key
/// (no proof of possession) is refused; a rotation is signed by the
/// suite's current key, so a key rotated out (or a stranger's) cannot
/// authorize another; a rotated-out key does not come back; KeyPackages
/// carry current keys. A KeyPackage made before a rotation still joins.
fn keys_are_proven_and_rotations_authorized(backend: Backend) {
    use base64::Engine;
    use mlsx_app::directory::{KEY_AUTHORIZATION_LABEL, KEY_PROOF_LABEL};
    use mlsx_app::ds::wire::{AddKey, KeyProof};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let url = service(backend, "directory", Limits::default());
    let (mut alice, ads) = client(&url, "alice");
    let (mut bob, bds) = client(&url, "bob");
    let alice_key = alice.signature_key().unwrap();
    // Alice's key under another name, with alice's proof (for "alice"):
    let proof = alice.sign_key((1, None), KEY_PROOF_LABEL, 1, &alice_key).unwrap();
    let e = DsClient::new(&url, None)
        .register_keys(
            "alicia",
            &alice_key,
            vec![KeyProof {
                suite: 1,
                signature_key: b64(&alice_key),
                proof: b64(&proof),
            }],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("proof of possession") && e.contains("400"), "{e}");
    // The directory answers with alice's keys (T and PQ suites).
    let keys = bds.directory("alice").unwrap().unwrap();
    assert!(keys.iter().any(|k| k.suite == 1 && k.signature_key == alice_key && k.current));
    assert_eq!(keys.len(), alice.signature_keys().unwrap().len());
    assert!(bds.directory("nobody").unwrap().is_none());

    // An old KeyPackage of bob's, then bob rotates.
    bds.publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let old = bob.signature_key().unwrap();
    let new = bob.rotate_signature_key(1).unwrap();
    // Publishing with the new key before the directory has it: refused.
    let e = bds
        .publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("403"), "{e}");
    // A rotation authorized by a stranger's key (alice's), or by bob's PQ
    // key: refused.
    let pq_suite = bob.signature_keys().unwrap().into_iter().find(|(s, _)| *s != 1).unwrap().0;
    let request = |bob: &Client, by: (&Client, u16)| AddKey {
        key: KeyProof {
            suite: 1,
            signature_key: b64(&new),
            proof: b64(&bob.sign_key((1, None), KEY_PROOF_LABEL, 1, &new).unwrap()),
        },
        authorizer_suite: by.1,
        authorizer_key: b64(&by.0.signature_keys().unwrap().into_iter().find(|(s, _)| *s == by.1).unwrap().1),
        authorization: b64(&by.0.sign_key((by.1, None), KEY_AUTHORIZATION_LABEL, 1, &new).unwrap()),
    };
    let e = bds.add_key(&request(&bob, (&alice, 1))).unwrap_err().to_string();
    assert!(e.contains("403"), "{e}");
    let e = bds.add_key(&request(&bob, (&bob, pq_suite))).unwrap_err().to_string();
    assert!(e.contains("403") && e.contains("current key"), "{e}");
    // The real one (signed by the old key), and new KeyPackages with it.
    assert_eq!(remote::sync_keys(&mut bob, &bds).unwrap(), 1);
    assert_eq!(remote::sync_keys(&mut bob, &bds).unwrap(), 0);
    bds.publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let keys = ads.directory("bob").unwrap().unwrap();
    assert!(keys.iter().any(|k| k.signature_key == old && !k.current));
    assert!(keys.iter().any(|k| k.signature_key == new && k.current));
    // The old key cannot authorize again, and cannot come back.
    let mut back = request(&bob, (&bob, 1));
    back.key.signature_key = b64(&old);
    back.key.proof = b64(&bob.sign_key((1, Some(&old)), KEY_PROOF_LABEL, 1, &old).unwrap());
    back.authorization = b64(&bob.sign_key((1, None), KEY_AUTHORIZATION_LABEL, 1, &old).unwrap());
    let e = bds.add_key(&back).unwrap_err().to_string();
    assert!(e.contains("409"), "{e}");

    // alice adds bob by his old KeyPackage (the oldest is handed out
    // first): bob joins with his old key, and then a new one.
    let offer = ads.key_package("bob", GroupKind::Plain).unwrap();
    assert_eq!(offer.t.leaf_node.signature_key.as_slice(), old.as_slice());
    let out = alice.create_group(b"g", GroupKind::Plain).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    let mut a = Member { client: alice, ds: ads };
    let mut b = Member { client: bob, ds: bds };
    honest_commit(&mut b, &mut a);
    honest_commit(&mut a, &mut b);
}

/// A directory that cannot be asked is no answer: the message that needed
/// it is not refused and skipped but stays queued, and is taken once the
/// directory answers again.
fn a_directory_outage_loses_no_message(backend: Backend) {
    #[derive(Debug)]
    struct Down;
    impl mlsx_app::directory::KeyDirectory for Down {
        fn is_bound(&self, _: &str, _: u16, _: &[u8]) -> Result<bool, String> {
            Err("unreachable".into())
        }
        fn take_fault(&self) -> Option<String> {
            Some("unreachable".into())
        }
    }
    let url = service(backend, "outage", Limits::default());
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    let (mut carol, cds) = client(&url, "carol");
    cds.publish(&carol.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let offer = alice.ds.key_package("carol", GroupKind::Plain).unwrap();
    let out = alice.client.group(b"g").unwrap().add(&[offer]).unwrap();
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &out).unwrap(),
        Answer::Accepted(_)
    ));
    bob.client.set_directory(Some(std::sync::Arc::new(Down)));
    let e = remote::receive(&mut bob.client, &bob.ds, 0).unwrap_err().to_string();
    assert!(e.contains("directory could not be asked"), "{e}");
    assert_eq!(bob.client.group(b"g").unwrap().epoch(), 1);
    let e = remote::receive(&mut bob.client, &bob.ds, 0).unwrap_err().to_string();
    assert!(e.contains("directory could not be asked"), "{e}");
    // Back: the commit is still there, and taken.
    remote::connect(&mut bob.client).unwrap();
    let got = remote::receive(&mut bob.client, &bob.ds, 0).unwrap();
    assert!(got.iter().all(|r| r.outcome.is_ok()), "{got:?}");
    assert_eq!(bob.client.group(b"g").unwrap().epoch(), 2);
    remote::receive(&mut carol, &cds, 0).unwrap();
    honest_commit(&mut alice, &mut bob);
}

/// A group introduced with an impostor's leaf in it (made by a client
/// that skips the directory): the service does not follow it, and a
/// joiner refuses the Welcome.
fn a_group_with_an_impostor_is_not_introduced(backend: Backend) {
    let url = service(backend, "impostor-group", Limits::default());
    let (mut alice, ads) = client(&url, "alice");
    let (mut bob, bds) = client(&url, "bob");
    let (_carol, _) = client(&url, "carol");
    let cs = std::sync::Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(mlsx_base::codec::CipherSuite(1)).unwrap());
    let fake = mlsx_base::group::Identity::basic(cs.as_ref(), b"carol")
        .unwrap()
        .key_package(cs.as_ref())
        .unwrap();
    bds.publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    let mut offers = vec![ads.key_package("bob", GroupKind::Plain).unwrap()];
    let mut carol = offers[0].clone();
    carol.t = fake.key_package;
    carol.owner = "carol".into();
    offers.push(carol);
    alice.set_directory(None);
    let out = alice.create_group(b"g", GroupKind::Plain).unwrap().add(&offers).unwrap();
    // The commit is refused (the service follows the group from epoch 0).
    assert!(refused(remote::send(&mut alice, &ads, &out).unwrap()).contains("carol's leaf is not registered"));
    // In a group made elsewhere, alice takes her own commit and
    // introduces the group at epoch 1, carol's leaf in it.
    let (mut alice, ads) = client(&url, "alice2");
    bds.publish(&bob.key_packages(GroupKind::Plain, 1, false).unwrap()).unwrap();
    offers[0] = ads.key_package("bob", GroupKind::Plain).unwrap();
    alice.set_directory(None);
    let out = alice.create_group(b"h", GroupKind::Plain).unwrap().add(&offers).unwrap();
    alice.group(b"h").unwrap().accepted().unwrap();
    let hello = alice.group(b"h").unwrap().send(b"hello").unwrap();
    let e = remote::send(&mut alice, &ads, &hello).unwrap_err().to_string();
    assert!(e.contains("carol's leaf is not registered") && e.contains("400"), "{e}");
    // bob gets the Welcome another way, and refuses it.
    let e = bob.join(out.welcome.as_ref().unwrap()).unwrap_err().to_string();
    assert!(e.contains("not registered for this name"), "{e}");
    assert!(bob.groups().unwrap().is_empty());
}

/// Group names are labels, not ids: mallory's "team", made first, is not
/// alice's "team" at the service (each gets a random id, so nothing can
/// be squatted), and bob, who has a "team" of his own, labels alice's
/// "team-2" when he joins it, and sees her messages under that label.
fn group_names_are_labels_not_ids(backend: Backend) {
    use mlsx_app::GroupOptions;
    let url = service(backend, "labels", Limits::default());
    let (mut alice, ads) = client(&url, "alice");
    let (mut bob, bds) = client(&url, "bob");
    let (mut mallory, mds) = client(&url, "mallory");
    let squat = mallory
        .create_named_group("team", GroupKind::Plain, &GroupOptions::default())
        .unwrap()
        .send(b"mine")
        .unwrap();
    assert!(matches!(remote::send(&mut mallory, &mds, &squat).unwrap(), Answer::Accepted(_)));
    let own = bob
        .create_named_group("team", GroupKind::Plain, &GroupOptions::default())
        .unwrap()
        .id()
        .to_vec();
    bds.publish(&bob.key_packages(GroupKind::Hybrid, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("bob", GroupKind::Hybrid).unwrap();
    let mut g = alice
        .create_named_group("team", GroupKind::Hybrid, &GroupOptions::default())
        .unwrap();
    let id = g.id().to_vec();
    assert_ne!(id, squat.group);
    let out = g.add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    let got = remote::receive(&mut bob, &bds, 0).unwrap();
    assert_eq!(got[0].group, "team-2", "{got:?}");
    assert_eq!(bob.group_by_label("team-2").unwrap(), Some(id.clone()));
    assert_eq!(bob.group_by_label("team").unwrap(), Some(own));
    assert_eq!(bob.group(&id).unwrap().info().unwrap().name.as_deref(), Some("team"));
    let hello = alice.group(&id).unwrap().send(b"hello").unwrap();
    remote::send(&mut alice, &ads, &hello).unwrap();
    let got = remote::receive(&mut bob, &bds, 0).unwrap();
    assert_eq!(got[0].group, "team-2");
    // mallory, not a member, cannot read or post to alice's group.
    let e = mds.group_info(&id).unwrap_err().to_string();
    assert!(e.contains("403"), "{e}");
}

/// Bytes stored per client: KeyPackages, undelivered messages and the
/// state of introduced groups all count; past the quota a request is
/// refused (429) and stores nothing; delivered messages free their room.
/// The count (kept by triggers) matches the tables.
fn stored_bytes_are_bounded(backend: Backend) {
    let limit = 60_000;
    let (url, db) = service_at(
        backend,
        "bytes",
        Limits {
            max_stored_bytes: limit,
            ..Limits::default()
        },
    );
    let usage = |name: &str| -> (i64, i64) {
        let counted = query_i64(&db, "SELECT bytes FROM usage WHERE name = ?1", name);
        let actual = query_i64(
            &db,
            "SELECT (SELECT coalesce(sum(length(body)), 0) FROM log WHERE sender = ?1)
                  + (SELECT coalesce(sum(length(body)), 0) FROM key_package WHERE owner = ?1)
                  + (SELECT coalesce(sum(length(g.body)), 0) FROM group_info g JOIN group_state s USING (group_id) WHERE s.introducer = ?1)
                  + (SELECT coalesce(sum(length(state)), 0) FROM group_state WHERE introducer = ?1)",
            name,
        );
        (counted, actual)
    };
    let (mut alice, mut bob) = pair(&url, GroupKind::Plain);
    // KeyPackages until the quota.
    let mut refused_at = None;
    for i in 0..400 {
        if let Err(e) = bob.ds.publish(&bob.client.key_packages(GroupKind::Plain, 1, false).unwrap()) {
            assert!(e.to_string().contains("429"), "{e}");
            refused_at = Some(i);
            break;
        }
    }
    assert!(refused_at.is_some(), "never refused");
    let (counted, actual) = usage("bob");
    assert_eq!(counted, actual);
    assert!(counted <= limit, "{counted}");
    // Messages bob does not fetch, until the quota.
    let big = vec![b'x'; 4000];
    let mut sent = 0;
    loop {
        let m = alice.client.group(b"g").unwrap().send(&big).unwrap();
        match remote::send(&mut alice.client, &alice.ds, &m) {
            Ok(Answer::Accepted(_)) => sent += 1,
            Err(e) => {
                assert!(e.to_string().contains("429"), "{e}");
                break;
            }
            Ok(other) => panic!("{other:?}"),
        }
        assert!(sent < 100, "never refused");
    }
    let (counted, actual) = usage("alice");
    assert_eq!(counted, actual);
    assert!(counted <= limit && counted > limit / 2, "{counted}");
    // bob reads and acknowledges: the room is free again.
    let got = remote::receive(&mut bob.client, &bob.ds, 0).unwrap();
    assert_eq!(got.len(), sent);
    let (counted, actual) = usage("alice");
    assert_eq!(counted, actual);
    assert!(counted < limit / 2, "{counted}");
    let m = alice.client.group(b"g").unwrap().send(&big).unwrap();
    assert!(matches!(
        remote::send(&mut alice.client, &alice.ds, &m).unwrap(),
        Answer::Accepted(_)
    ));
    honest_commit(&mut alice, &mut bob);
    let (counted, actual) = usage("alice");
    assert_eq!(counted, actual);
}

/// Quotas that are counts hold when a client's requests race (on
/// PostgreSQL, at once on several connections): publications of
/// KeyPackages at once never store more than the limit.
fn counted_quotas_hold_under_concurrent_requests(backend: Backend) {
    let (url, db) = service_at(
        backend,
        "race-quota",
        Limits {
            max_key_packages: 10,
            ..Limits::default()
        },
    );
    let (mut bob, bds) = client(&url, "bob");
    let batches: Vec<_> = (0..6).map(|_| bob.key_packages(GroupKind::Plain, 4, false).unwrap()).collect();
    let barrier = std::sync::Barrier::new(batches.len());
    let results: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = batches
            .iter()
            .map(|b| {
                let (bds, barrier) = (bds.clone(), &barrier);
                s.spawn(move || {
                    barrier.wait();
                    bds.publish(b).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stored = query_i64(&db, "SELECT count(*) FROM key_package WHERE owner = ?1", "bob");
    assert!(stored <= 10, "{stored} stored, {results:?}");
    assert_eq!(stored, 4 * results.iter().filter(|ok| **ok).count() as i64);
}

on_both_databases!(
    counted_quotas_hold_under_concurrent_requests,
    bogus_commits_do_not_take_the_epoch,
    membership_is_the_groups_not_the_posters,
    forged_and_stale_group_infos_are_refused,
    private_handshakes_are_refused_unless_allowed,
    hybrid_sessions_are_checked_half_by_half,
    every_quota_holds,
    anonymous_requests_are_rate_limited,
    tables_are_collected,
    slow_clients_are_cut_off,
    tls_and_no_tokens_in_the_clear,
    closed_groups_keep_strangers_out,
    a_name_is_in_a_group_once,
    a_leaf_carries_a_key_of_its_name,
    keys_are_proven_and_rotations_authorized,
    a_directory_outage_loses_no_message,
    a_group_with_an_impostor_is_not_introduced,
    group_names_are_labels_not_ids,
    stored_bytes_are_bounded,
);
