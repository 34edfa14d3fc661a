//! mlsx against OpenMLS 0.9 in the PQ suites both implement, same machine,
//! one criterion run. For groups of n members (the creator added the others
//! in one commit, with the ratchet tree in the Welcome):
//!
//! - `key_package`: a KeyPackage (HPKE key pair and signature);
//! - `join`: joining from the Welcome;
//! - `commit_update`: a self-update commit (a path to every other member);
//! - `process_update`: another member processing it (staged, not merged);
//! - `app_round_trip_100B`: encrypt 100 bytes and decrypt them.
//!
//! Suites (`MLSX_BENCH_SUITES`, default `1,6,10`): TBD1 (X-Wing, Ed25519),
//! TBD6 (ML-KEM-768, Ed25519), TBD10 (ML-KEM-768, ML-DSA-65), and any other
//! of TBD2, 7, 8, 9, 11 that OpenMLS has. mlsx runs the drafts' profile on
//! the backend of the build (`--features libcrux`: libcrux, the default of
//! `mlsx`); OpenMLS runs its RustCrypto provider (`openmls_rust_crypto`
//! with `draft-ietf-mls-pq-ciphersuites`, whose ML-KEM and X-Wing come from
//! libcrux through hpke-rs). mls-rs 0.57 names ML-KEM suites but implements
//! them only in its AWS-LC provider, which does not build here without a C
//! toolchain for AWS-LC, so it is not in this run.
//!
//! Names are `peers_pq/{op}/{impl}/{TBDn}/{n}`; `MLSX_BENCH_MAX_N` caps n
//! (default 1000); `MLSX_BENCH_IMPLS` picks implementations (default
//! `mlsx,openmls`). `mlsx bench-report` turns the results into a ratio table.
//!
//! `cargo bench -p mlsx-pq-suites --features libcrux --bench peers_pq`

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use common::must;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime};
use mlsx_pq_suites::PqSuite;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SIZES: [usize; 3] = [2, 100, 1000];

fn dbg_err<E: std::fmt::Debug>(e: E) -> Box<dyn std::error::Error> {
    format!("{e:?}").into()
}

fn group<'a>(c: &'a mut Criterion, op: &str, n: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(format!("peers_pq/{op}"));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    if n >= 100 {
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(if n >= 1000 { 6 } else { 3 }));
    }
    g
}

fn id(imp: &str, suite: PqSuite, n: usize) -> BenchmarkId {
    BenchmarkId::new(format!("{imp}/TBD{}", suite.number()), n)
}

mod mlsx {
    use super::*;
    use mlsx_base::crypto::CipherSuiteProvider;
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
    use mlsx_pq_suites::PqProvider;

    pub fn run(c: &mut Criterion, suite: PqSuite, n: usize) -> Res<()> {
        let cs: Arc<dyn CipherSuiteProvider> = PqProvider::default().suite_provider(suite)?;
        let member = Identity::basic(cs.as_ref(), b"member")?;
        if n == 2 {
            member.key_package(cs.as_ref())?;
            group(c, "key_package", n).bench_function(id("mlsx", suite, n), |b| b.iter(|| must(member.key_package(cs.as_ref()))));
        }
        let kps = crate::common::key_packages(&cs, n)?;
        let (mut alice, welcome) = crate::common::group_of(&cs, &kps)?;
        let bob_kp = kps.last().ok_or("no members")?;
        let join = || Group::join(cs.clone(), &welcome, bob_kp.duplicate(), None, GroupConfig::default());
        let mut bob = join()?;
        group(c, "join", n).bench_function(id("mlsx", suite, n), |b| b.iter(|| must(join())));
        let update = alice.commit(CommitOptions::default())?.commit;
        alice.clear_pending_commit();
        group(c, "commit_update", n).bench_function(id("mlsx", suite, n), |b| {
            b.iter(|| {
                must(alice.commit(CommitOptions::default()));
                alice.clear_pending_commit();
            })
        });
        let _ = bob.process_message(&update)?;
        group(c, "process_update", n).bench_function(id("mlsx", suite, n), |b| b.iter(|| must(bob.process_message(black_box(&update)))));
        let mut round_trip = || -> Res<()> {
            let m = alice.encrypt_application(&[7u8; 100], b"")?;
            let _ = bob.process_message(&m)?;
            Ok(())
        };
        round_trip()?;
        group(c, "app_round_trip_100B", n).bench_function(id("mlsx", suite, n), |b| b.iter(|| must(round_trip())));
        Ok(())
    }
}

mod openmls_peer {
    use super::*;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    /// OpenMLS's name of a suite, if it has it.
    pub fn suite_of(suite: PqSuite) -> Option<Ciphersuite> {
        use Ciphersuite as C;
        Some(match suite {
            PqSuite::Tbd1 => C::MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519,
            PqSuite::Tbd2 => C::MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519,
            PqSuite::Tbd6 => C::MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519,
            PqSuite::Tbd7 => C::MLS_128_MLKEM768_AES256GCM_SHA384_P256,
            PqSuite::Tbd8 => C::MLS_192_MLKEM1024_AES256GCM_SHA384_P384,
            PqSuite::Tbd9 => C::MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44,
            PqSuite::Tbd10 => C::MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65,
            PqSuite::Tbd11 => C::MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87,
            _ => return None,
        })
    }

    fn credential(name: &str, signer: &SignatureKeyPair) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
            signature_key: signer.to_public_vec().into(),
        }
    }

    fn to_in(m: &MlsMessageOut) -> Res<MlsMessageIn> {
        use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
        MlsMessageIn::tls_deserialize_exact(m.tls_serialize_detached().map_err(dbg_err)?).map_err(dbg_err)
    }

    pub fn run(c: &mut Criterion, suite: PqSuite, n: usize) -> Res<()> {
        let cs = suite_of(suite).ok_or("OpenMLS lacks this suite")?;
        let others = OpenMlsRustCrypto::default();
        let key_package = |name: &str, last_resort: bool, provider: &OpenMlsRustCrypto| -> Res<(KeyPackage, SignatureKeyPair)> {
            let signer = SignatureKeyPair::new(cs.signature_algorithm()).map_err(dbg_err)?;
            let mut builder = KeyPackage::builder();
            if last_resort {
                builder = builder.mark_as_last_resort();
            }
            let b = builder.build(cs, provider, &signer, credential(name, &signer)).map_err(dbg_err)?;
            Ok((b.key_package().clone(), signer))
        };
        if n == 2 {
            // One signature key for every KeyPackage, as mlsx's above.
            let signer = SignatureKeyPair::new(cs.signature_algorithm()).map_err(dbg_err)?;
            let cred = credential("member", &signer);
            group(c, "key_package", n).bench_function(id("openmls", suite, n), |b| {
                b.iter(|| must(KeyPackage::builder().build(cs, &others, &signer, cred.clone())))
            });
        }
        let mut kps = vec![];
        for i in 0..n.saturating_sub(2) {
            kps.push(key_package(&format!("m{i}"), false, &others)?.0);
        }
        let bob_provider = OpenMlsRustCrypto::default();
        let (bob_kp, _bob_signer) = key_package("bob", true, &bob_provider)?;
        kps.push(bob_kp);
        let alice_provider = OpenMlsRustCrypto::default();
        let alice_signer = SignatureKeyPair::new(cs.signature_algorithm()).map_err(dbg_err)?;
        alice_signer.store(alice_provider.storage()).map_err(dbg_err)?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(cs)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let mut alice = MlsGroup::new(&alice_provider, &alice_signer, &config, credential("alice", &alice_signer)).map_err(dbg_err)?;
        let (_, welcome, _) = alice.add_members(&alice_provider, &alice_signer, &kps).map_err(dbg_err)?;
        alice.merge_pending_commit(&alice_provider).map_err(dbg_err)?;
        let welcome: Welcome = match to_in(&welcome)?.extract() {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => return Err("not a welcome".into()),
        };
        let join_config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let join = || -> Res<MlsGroup> {
            StagedWelcome::new_from_welcome(&bob_provider, &join_config, welcome.clone(), None)
                .map_err(dbg_err)?
                .into_group(&bob_provider)
                .map_err(dbg_err)
        };
        // OpenMLS refuses to join a group it already stores: delete it
        // after each measured join, outside the timing.
        join()?.delete(bob_provider.storage()).map_err(dbg_err)?;
        group(c, "join", n).bench_function(id("openmls", suite, n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = std::time::Instant::now();
                    let mut g = must(join());
                    total += start.elapsed();
                    must(g.delete(bob_provider.storage()));
                }
                total
            })
        });
        let mut bob = join()?;
        let self_update = |alice: &mut MlsGroup| -> Res<MlsMessageOut> {
            let bundle = alice
                .self_update(&alice_provider, &alice_signer, LeafNodeParameters::default())
                .map_err(dbg_err)?;
            alice.clear_pending_commit(alice_provider.storage()).map_err(dbg_err)?;
            Ok(bundle.into_commit())
        };
        let update = self_update(&mut alice)?;
        group(c, "commit_update", n).bench_function(id("openmls", suite, n), |b| b.iter(|| must(self_update(&mut alice))));
        let update = to_in(&update)?.try_into_protocol_message().map_err(dbg_err)?;
        bob.process_message(&bob_provider, update.clone()).map_err(dbg_err)?;
        group(c, "process_update", n).bench_function(id("openmls", suite, n), |b| {
            b.iter(|| must(bob.process_message(&bob_provider, black_box(update.clone()))))
        });
        let mut round_trip = || -> Res<()> {
            let m = alice.create_message(&alice_provider, &alice_signer, &[7u8; 100]).map_err(dbg_err)?;
            let m = to_in(&m)?.try_into_protocol_message().map_err(dbg_err)?;
            bob.process_message(&bob_provider, m).map_err(dbg_err)?;
            Ok(())
        };
        round_trip()?;
        group(c, "app_round_trip_100B", n).bench_function(id("openmls", suite, n), |b| b.iter(|| must(round_trip())));
        Ok(())
    }
}

fn peers_pq(c: &mut Criterion) {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let impls = std::env::var("MLSX_BENCH_IMPLS").unwrap_or_else(|_| "mlsx,openmls".into());
    let suites: Vec<PqSuite> = std::env::var("MLSX_BENCH_SUITES")
        .unwrap_or_else(|_| "1,6,10".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter_map(PqSuite::from_number)
        .collect();
    eprintln!("peers_pq: mlsx on the {} backend", mlsx_pq_suites::Backend::default());
    for suite in suites {
        for n in SIZES.into_iter().filter(|n| *n <= max) {
            for name in impls.split(',') {
                let r = match name {
                    "mlsx" => mlsx::run(c, suite, n),
                    "openmls" if openmls_peer::suite_of(suite).is_some() => openmls_peer::run(c, suite, n),
                    "openmls" => Ok(()),
                    other => Err(format!("unknown implementation {other}").into()),
                };
                if let Err(e) = r {
                    eprintln!("{name} TBD{} n={n}: {e}", suite.number());
                    std::process::exit(1);
                }
            }
        }
    }
}

criterion_group!(benches, peers_pq);
criterion_main!(benches);
