//! The combiner's cost against the work it orchestrates, T 0x0001 with PQ
//! TBD6 (mode 0) unless noted, groups of n members (only the committer and
//! one receiver are live clients; the others exist as leaves):
//!
//! - `full/session/{n}`: a FULL commit created, confirmed and processed by
//!   a receiver (`ApqSession`), against `full/separate/{n}`: a PQ commit
//!   and a T commit made, merged and processed with the two groups used
//!   directly (no APQInfo, no export, no PSK, no checks): the
//!   orchestration overhead;
//! - `partial/session/{n}` against `partial/plain/{n}`: a PARTIAL commit
//!   against a plain commit in the same T group;
//! - `join_mode1/1000`: a Welcome-pair join of a 1,000-member session in
//!   mode 1 (T 0x0007, PQ TBD11 with ML-DSA-87).
//!
//! Every iteration starts from saved state (loading is not measured).
//! `MLSX_BENCH_MAX_N` caps n (default 1000).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Received};
use mlsx_combiner::{ApqClient, ApqSession, ApqSetup, Mode};
use mlsx_pq_suites::PqSuite;
use zeroize::Zeroizing;

fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("operation failed while measured: {e:?}");
            std::process::exit(1)
        }
    }
}

fn setup(t: u16, pq: PqSuite, mode: Mode) -> ApqSetup {
    let t_cs: Arc<dyn CipherSuiteProvider> = must(RustCryptoProvider::new().cipher_suite_provider(CipherSuite(t)).ok_or("suite"));
    must(ApqSetup::new(t_cs, must(pq.provider()), mode))
}

/// Saved states of a committer and a receiver in a session of n members.
fn pair_of_states(setup: &ApqSetup, n: usize) -> (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>) {
    let mut alice = must(must(ApqClient::new(setup.clone(), b"alice")).create_session(b"T".to_vec(), b"PQ".to_vec()));
    let bob = must(ApqClient::new(setup.clone(), b"bob"));
    let (bob_kp, bob_secret) = must(bob.key_packages());
    let mut kps = vec![bob_kp];
    for i in 2..n {
        let c = must(ApqClient::new(setup.clone(), format!("m{i}").as_bytes()));
        kps.push(must(c.key_packages()).0);
    }
    let out = must(alice.add(kps));
    must(alice.confirm());
    let bob = must(bob.join(&must(out.welcome.ok_or("welcome")), bob_secret));
    (must(alice.save()), must(bob.save()))
}

fn bench(c: &mut Criterion) {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let s = setup(1, PqSuite::Tbd6, Mode::ConfidentialityOnly);
    let mut full = c.benchmark_group("full");
    full.sample_size(10).measurement_time(Duration::from_secs(8));
    let mut states = vec![];
    for n in [2usize, 100, 1000].into_iter().filter(|&n| n <= max) {
        let (a, b) = pair_of_states(&s, n);
        full.bench_function(format!("session/{n}"), |bench| {
            bench.iter_batched(
                || (must(ApqSession::load(s.clone(), &a)), must(ApqSession::load(s.clone(), &b))),
                |(mut alice, mut bob)| {
                    let out = must(alice.full_commit(vec![], vec![]));
                    must(alice.confirm());
                    black_box(must(bob.process(&out.message)));
                },
                BatchSize::PerIteration,
            )
        });
        full.bench_function(format!("separate/{n}"), |bench| {
            bench.iter_batched(
                || (must(ApqSession::load(s.clone(), &a)), must(ApqSession::load(s.clone(), &b))),
                |(mut alice, mut bob)| {
                    let (at, apq) = alice.raw_groups_mut();
                    let (bt, bpq) = bob.raw_groups_mut();
                    for (sender, receiver) in [(apq, bpq), (at, bt)] {
                        let out = must(sender.commit(CommitOptions::default()));
                        must(sender.merge_pending_commit());
                        let Received::Commit(staged) = must(receiver.process_message(&out.commit)) else {
                            std::process::exit(1)
                        };
                        must(receiver.merge_staged_commit(staged));
                    }
                },
                BatchSize::PerIteration,
            )
        });
        states.push((n, a, b));
    }
    full.finish();
    let mut partial = c.benchmark_group("partial");
    partial.sample_size(30).measurement_time(Duration::from_secs(10));
    for (n, a, b) in &states {
        partial.bench_function(format!("session/{n}"), |bench| {
            bench.iter_batched(
                || (must(ApqSession::load(s.clone(), a)), must(ApqSession::load(s.clone(), b))),
                |(mut alice, mut bob)| {
                    let out = must(alice.partial_commit(vec![]));
                    must(alice.confirm());
                    black_box(must(bob.process(&out.message)));
                },
                BatchSize::PerIteration,
            )
        });
        partial.bench_function(format!("plain/{n}"), |bench| {
            bench.iter_batched(
                || (must(ApqSession::load(s.clone(), a)), must(ApqSession::load(s.clone(), b))),
                |(mut alice, mut bob)| {
                    let (at, _) = alice.raw_groups_mut();
                    let (bt, _) = bob.raw_groups_mut();
                    let out = must(at.commit(CommitOptions::default()));
                    must(at.merge_pending_commit());
                    let Received::Commit(staged) = must(bt.process_message(&out.commit)) else {
                        std::process::exit(1)
                    };
                    must(bt.merge_staged_commit(staged));
                },
                BatchSize::PerIteration,
            )
        });
    }
    partial.finish();
    if max >= 1000 {
        let s1 = setup(7, PqSuite::Tbd11, Mode::ConfidentialityAndAuthenticity);
        let (a, _) = pair_of_states(&s1, 999);
        let mut join = c.benchmark_group("join_mode1");
        join.sample_size(10).measurement_time(Duration::from_secs(10));
        join.bench_function("1000", |bench| {
            bench.iter_batched(
                || {
                    let mut alice = must(ApqSession::load(s1.clone(), &a));
                    let joiner = must(ApqClient::new(s1.clone(), b"joiner"));
                    let (kp, secret) = must(joiner.key_packages());
                    let out = must(alice.add(vec![kp]));
                    (joiner, must(out.welcome.ok_or("welcome")), secret)
                },
                |(joiner, welcome, secret)| black_box(must(joiner.join(&welcome, secret))),
                BatchSize::PerIteration,
            )
        });
        join.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
