//! Large groups, one member's view: a group of n members (default 10,000)
//! made by one commit that adds everyone (the ratchet tree in the
//! Welcome), in suite 0x0001 for reference and in TBD1, TBD6, TBD10 and
//! TBD11, on the backend of the build (`--features libcrux`: libcrux, the
//! default of `mlsx`). Per suite:
//!
//! - `KeyPackage`: the mean over the n−1 made for the group;
//! - `create+add`: the creator's commit adding n−1 members and its merge;
//! - `join`: a member joining from the Welcome (median of 3);
//! - `commit_update`: a self-update commit (median of 3). In a group just
//!   made by one commit the tree has no parent keys yet, so the path is
//!   encrypted to every other leaf: n−1 HPKE encryptions;
//! - `process_update`: a member processing that commit (staged, median of 5);
//! - `app round trip`: 100 bytes encrypted and decrypted (median of 101);
//! - bytes of the Welcome, of the update commit and of a member's saved
//!   state (what a member keeps: its tree, its secrets; about what it holds
//!   in memory, which the allocator's reuse of freed pages makes hard to
//!   read from the process's resident size).
//!
//! Criterion is not used: one join of a 10,000-member TBD10 group reads
//! 70 MB, and three runs say what is needed. Times are wall clock on an
//! idle machine (the parallel parts use every core).
//!
//! `cargo bench -p mlsx-pq-suites --features libcrux --bench scale`
//! (`MLSX_SCALE_N=1000`, `MLSX_SCALE_SUITES=0,6` to narrow: 0 is 0x0001).

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mlsx_base::codec::{CipherSuite, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig};
use mlsx_pq_suites::{PqProvider, PqSuite};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> Res<T>) -> Res<Duration> {
    let mut v = vec![];
    for _ in 0..runs {
        let start = Instant::now();
        std::hint::black_box(f()?);
        v.push(start.elapsed());
    }
    Ok(median(v))
}

/// Resident bytes of this process (Linux), else 0: after a row, the whole
/// benchmark's high-water mark so far, the creator and two members included.
fn resident() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

fn fmt(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn row(label: &str, cs: Arc<dyn CipherSuiteProvider>, n: usize) -> Res<String> {
    let config = GroupConfig::default;
    let start = Instant::now();
    let kps = common::key_packages(&cs, n)?;
    let key_package = start.elapsed() / u32::try_from(n - 1)?;
    let start = Instant::now();
    let (mut alice, welcome) = common::group_of(&cs, &kps)?;
    let create_add = start.elapsed();
    let welcome_bytes = encode(&welcome)?.len();
    let bob_kp = kps.last().ok_or("no members")?.duplicate();
    let carol_kp = kps.first().ok_or("no members")?.duplicate();
    drop(kps);
    let join = time(3, || Ok(Group::join(cs.clone(), &welcome, bob_kp.duplicate(), None, config())?))?;
    // For a profiler: `MLSX_SCALE_REPEAT_JOIN=20` joins 20 more times.
    let repeat: usize = std::env::var("MLSX_SCALE_REPEAT_JOIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    time(repeat, || {
        Ok(Group::join(cs.clone(), &welcome, bob_kp.duplicate(), None, config())?)
    })?;
    let mut bob = Group::join(cs.clone(), &welcome, bob_kp, None, config())?;
    let carol = Group::join(cs.clone(), &welcome, carol_kp, None, config())?;
    drop(welcome);
    let state_bytes = carol.save()?.len();
    drop(carol);
    let commit_update = time(3, || {
        alice.commit(CommitOptions::default())?;
        alice.clear_pending_commit();
        Ok(())
    })?;
    let update = alice.commit(CommitOptions::default())?.commit;
    alice.clear_pending_commit();
    let update_bytes = encode(&update)?.len();
    let process_update = time(5, || Ok(bob.process_message(&update)?))?;
    // For a profiler: `MLSX_SCALE_REPEAT=50` processes the update 50 more
    // times, so that it dominates a `perf record` of the run.
    let repeat: usize = std::env::var("MLSX_SCALE_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    time(repeat, || Ok(bob.process_message(&update)?))?;
    let round_trip = time(101, || {
        let m = alice.encrypt_application(&[7u8; 100], b"")?;
        Ok(bob.process_message(&m)?)
    })?;
    Ok(format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        fmt(key_package),
        fmt(create_add),
        fmt(join),
        fmt(commit_update),
        fmt(process_update),
        fmt(round_trip),
        mb(welcome_bytes as u64),
        mb(update_bytes as u64),
        mb(state_bytes as u64),
        mb(resident())
    ))
}

fn main() -> Res<()> {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let n: usize = std::env::var("MLSX_SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
        .max(3);
    let suites: Vec<u16> = std::env::var("MLSX_SCALE_SUITES")
        .unwrap_or_else(|_| "0,1,6,10,11".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!(
        "n = {n}, PQ backend {}, {} threads\n",
        mlsx_pq_suites::Backend::default(),
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    println!(
        "| suite | KeyPackage | create+add | join | commit_update | process_update | app round trip | Welcome | update commit | saved state | process resident |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for s in suites {
        let (label, cs) = if s == 0 {
            let suite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;
            (
                "0x0001".to_string(),
                RustCryptoProvider::new().cipher_suite_provider(suite).ok_or("suite 1")?,
            )
        } else {
            let suite = PqSuite::from_number(s).ok_or("no such suite")?;
            (format!("TBD{s}"), PqProvider::default().suite_provider(suite)?)
        };
        println!("{}", row(&label, cs, n)?);
    }
    Ok(())
}
