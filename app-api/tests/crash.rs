//! Crash safety: a child process runs a hybrid-session member that commits
//! (FULL and PARTIAL) and sends in a loop through a delivery service, with
//! its state in SQLite; it is killed with SIGKILL at a random point, 200
//! times. After each kill the state must load, both groups must be at the
//! same FULL pairing, a commit left pending must settle, and the other
//! member must process everything without a refusal and end with the same
//! epoch authenticator in both groups: no epoch lost, no fork.
//!
//! The child is this test binary again (`child_loop`, a no-op unless
//! `MLSX_CRASH_CHILD` is set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mlsx_app::remote::{self, Answer, DsClient};
use mlsx_app::{Client, ClientConfig, GroupKind, SqliteStore};

const KILLS: usize = 200;

fn open(path: &Path) -> Client {
    Client::open(Box::new(SqliteStore::open(path).unwrap())).unwrap()
}

/// The child: settle, catch up, then commit and send until killed.
#[test]
fn child_loop() {
    let (Ok(db), Ok(round)) = (std::env::var("MLSX_CRASH_CHILD"), std::env::var("MLSX_CRASH_ROUND")) else {
        return;
    };
    let round: u64 = round.parse().unwrap();
    let mut alice = open(Path::new(&db));
    let ds = mlsx_app::remote::connect(&mut alice).unwrap();
    remote::receive(&mut alice, &ds, 0).unwrap();
    for i in 0u64.. {
        let full = (round + i).is_multiple_of(3);
        let out = alice.group(b"crash").unwrap().update(full).unwrap();
        let answer = remote::send(&mut alice, &ds, &out).unwrap();
        assert!(matches!(answer, Answer::Accepted(_)), "{answer:?}");
        let m = alice.group(b"crash").unwrap().send(format!("{round}.{i}").as_bytes()).unwrap();
        remote::send(&mut alice, &ds, &m).unwrap();
        remote::receive(&mut alice, &ds, 0).unwrap();
    }
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mlsx-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Checks that a stored session loads with both groups at the same FULL
/// pairing; returns the (T, PQ) epochs.
fn check_pairing(client: &mut Client) -> (u64, u64) {
    let g = client.group(b"crash").unwrap();
    let s = g.session().unwrap();
    let info = s.info().unwrap();
    assert_eq!(info.pq_epoch, s.pq_group().epoch(), "the PQ group is at its FULL pairing");
    assert!(info.t_epoch <= s.t_group().epoch());
    (s.t_group().epoch(), s.pq_group().epoch())
}

#[test]
fn killed_200_times_never_loses_or_forks_an_epoch() {
    let dir = temp("run");
    let addr = mlsx_app::ds::spawn(&dir.join("ds.db"), mlsx_app::ds::Limits::default()).unwrap();
    let url = format!("http://{addr}");
    let alice_db = dir.join("alice.db");
    let mut alice = Client::create(Box::new(SqliteStore::open(&alice_db).unwrap()), ClientConfig::new("alice")).unwrap();
    let mut bob = Client::create(Box::new(SqliteStore::open(&dir.join("bob.db")).unwrap()), ClientConfig::new("bob")).unwrap();
    DsClient::new(&url, None).register(&mut alice).unwrap();
    DsClient::new(&url, None).register(&mut bob).unwrap();
    let (ads, bds) = (
        mlsx_app::remote::connect(&mut alice).unwrap(),
        mlsx_app::remote::connect(&mut bob).unwrap(),
    );
    bds.publish(&bob.key_packages(GroupKind::Hybrid, 1, false).unwrap()).unwrap();
    let offer = ads.key_package("bob", GroupKind::Hybrid).unwrap();
    let out = alice.create_group(b"crash", GroupKind::Hybrid).unwrap().add(&[offer]).unwrap();
    assert!(matches!(remote::send(&mut alice, &ads, &out).unwrap(), Answer::Accepted(_)));
    remote::receive(&mut bob, &bds, 0).unwrap();
    drop(alice);

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut pending_at_restart, mut bob_commits) = (0, 0);
    let start = Instant::now();
    let exe = std::env::current_exe().unwrap();
    for round in 0..KILLS {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_loop", "--test-threads=1", "--nocapture"])
            .env("MLSX_CRASH_CHILD", &alice_db)
            .env("MLSX_CRASH_ROUND", round.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + next() % 180));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            status.code().is_none(),
            "round {round} (seed {seed}): the child ended by itself: {status:?}"
        );

        // The restart: the state loads at one FULL pairing, a pending
        // commit settles, queued messages are processed.
        let mut alice = open(&alice_db);
        check_pairing(&mut alice);
        if alice.pending_commit(b"crash").unwrap().is_some() {
            pending_at_restart += 1;
        }
        for (_, answer) in remote::resolve_pending(&mut alice, &ads).unwrap() {
            assert!(matches!(answer, Answer::Accepted(_)), "round {round} (seed {seed}): {answer:?}");
        }
        for r in remote::receive(&mut alice, &ads, 0).unwrap() {
            assert!(r.outcome.is_ok(), "round {round} (seed {seed}): alice refused {r:?}");
        }
        let (t, pq) = check_pairing(&mut alice);
        // Bob processes all of alice's commits: a fork would fail here.
        for r in remote::receive(&mut bob, &bds, 0).unwrap() {
            assert!(r.outcome.is_ok(), "round {round} (seed {seed}): bob refused {r:?}");
        }
        let (bt, bpq) = check_pairing(&mut bob);
        assert_eq!((bt, bpq), (t, pq), "round {round} (seed {seed})");
        let a_auth = alice.group(b"crash").unwrap().info().unwrap().epoch_authenticator;
        assert_eq!(bob.group(b"crash").unwrap().info().unwrap().epoch_authenticator, a_auth);
        // The group goes on: bob sends, and now and then commits.
        let m = bob.group(b"crash").unwrap().send(format!("round {round}").as_bytes()).unwrap();
        remote::send(&mut bob, &bds, &m).unwrap();
        if round.is_multiple_of(4) {
            let out = bob.group(b"crash").unwrap().update(round.is_multiple_of(8)).unwrap();
            assert!(matches!(remote::send(&mut bob, &bds, &out).unwrap(), Answer::Accepted(_)));
            bob_commits += 1;
        }
    }
    let mut alice = open(&alice_db);
    remote::receive(&mut alice, &ads, 0).unwrap();
    let (t, pq) = check_pairing(&mut alice);
    println!(
        "{KILLS} SIGKILLs in {:.1} s (seed {seed}): {pending_at_restart} restarts found a commit pending and settled it; \
         bob committed {bob_commits} times; the session reached T epoch {t}, PQ epoch {pq} with no loss and no fork",
        start.elapsed().as_secs_f64()
    );
    assert!(t > KILLS as u64 / 2, "the child made progress between kills (T epoch {t})");
    std::fs::remove_dir_all(&dir).unwrap();
}
