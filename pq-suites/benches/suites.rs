//! Every PQ suite (default profile; the backend is whatever the build
//! selected: RustCrypto by default, libcrux with `--features libcrux`), at
//! group sizes n = 2, 100, 1000:
//!
//! - `key_package`: a KeyPackage (signature and HPKE key pair);
//! - `commit_path`: a self-update commit (path to every other member);
//! - `process_path`: another member processing it (staged, not merged);
//! - `join`: joining from a Welcome that carries the tree.
//!
//! Names are `suites/{op}/{TBDn}/{n}`. Before measuring, the bench prints
//! the sizes in bytes of a KeyPackage, a commit with a path and a Welcome
//! per suite and n. `MLSX_BENCH_MAX_N` caps n (default 1000);
//! `MLSX_BENCH_SUITES` picks suites (`1,9,11`; default all eleven).

use std::hint::black_box;
use std::sync::Arc;

mod common;

use common::must;
use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use mlsx_base::codec::encode;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
use mlsx_pq_suites::{PqProvider, PqSuite};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn sizes() -> Vec<usize> {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    [2, 100, 1000].into_iter().filter(|n| *n <= max).collect()
}

fn suites() -> Vec<PqSuite> {
    match std::env::var("MLSX_BENCH_SUITES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .filter_map(PqSuite::from_number)
            .collect(),
        Err(_) => PqSuite::ALL.to_vec(),
    }
}

fn run(c: &mut Criterion, suite: PqSuite, n: usize) -> Res<()> {
    let provider = PqProvider::default();
    let code = provider.code_point(suite).ok_or("no code point")?;
    let cs: Arc<dyn CipherSuiteProvider> = provider.cipher_suite_provider(code).ok_or("no provider")?;
    let name = format!("TBD{}", suite.number());

    let kps = common::key_packages(&cs, n)?;
    let (mut alice, welcome) = common::group_of(&cs, &kps)?;
    let bob_kp = kps.last().ok_or("no members")?;
    let join = || Group::join(cs.clone(), &welcome, bob_kp.duplicate(), None, GroupConfig::default());
    let mut bob = join()?;
    let update = alice.commit(CommitOptions::default())?.commit;
    alice.clear_pending_commit();

    println!(
        "sizes {name} n={n}: key_package {} B, commit_path {} B, welcome {} B",
        encode(&bob_kp.key_package)?.len(),
        encode(&update)?.len(),
        encode(&welcome)?.len()
    );

    let mut g = c.benchmark_group("suites/key_package");
    if n == 2 {
        let id = Identity::basic(cs.as_ref(), b"kp")?;
        g.bench_with_input(BenchmarkId::new(&name, n), &n, |b, _| b.iter(|| must(id.key_package(cs.as_ref()))));
    }
    g.finish();
    for op in ["commit_path", "process_path", "join"] {
        let mut g = c.benchmark_group(format!("suites/{op}"));
        if n >= 1000 {
            g.sampling_mode(SamplingMode::Flat).sample_size(10);
        }
        match op {
            "commit_path" => g.bench_with_input(BenchmarkId::new(&name, n), &n, |b, _| {
                b.iter(|| {
                    must(alice.commit(CommitOptions::default()));
                    alice.clear_pending_commit();
                })
            }),
            "process_path" => g.bench_with_input(BenchmarkId::new(&name, n), &n, |b, _| {
                b.iter(|| must(bob.process_message(black_box(&update))))
            }),
            _ => g.bench_with_input(BenchmarkId::new(&name, n), &n, |b, _| b.iter(|| must(join()))),
        };
        g.finish();
    }
    Ok(())
}

fn all(c: &mut Criterion) {
    for n in sizes() {
        for suite in suites() {
            must(run(c, suite, n));
        }
    }
}

criterion_group! {
    name = benches;
    // Short windows: 11 suites x 3 sizes x 4 operations.
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = all
}
criterion_main!(benches);
