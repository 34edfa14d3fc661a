//! Group operations at n = 2, 100, 1,000 and 10,000 members in suite
//! 0x0001 (RFC 9420 §12): create a group of n by one commit adding n−1
//! members; join by Welcome; a self-update commit and its processing by
//! another member; a remove; an application message round trip.
//!
//! `MLSX_BENCH_MAX_N` limits the largest n (default 10000).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle};
use mlsx_base::tree::math::LeafIndex;

type Res<T> = Result<T, mlsx_base::Error>;

fn cs() -> Res<Arc<dyn CipherSuiteProvider>> {
    let suite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;
    RustCryptoProvider::new()
        .cipher_suite_provider(suite)
        .ok_or(mlsx_base::Error::UnsupportedCipherSuite(suite))
}

fn bundles(cs: &Arc<dyn CipherSuiteProvider>, n: usize) -> Res<Vec<KeyPackageBundle>> {
    (0..n)
        .map(|i| Identity::basic(cs.as_ref(), format!("m{i}").as_bytes())?.key_package(cs.as_ref()))
        .collect()
}

fn create(cs: &Arc<dyn CipherSuiteProvider>, kps: &[KeyPackageBundle]) -> Res<(Group, Option<mlsx_base::codec::MlsMessage>)> {
    let mut g = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"creator")?,
        b"bench".to_vec(),
        GroupConfig::default(),
    )?;
    if kps.is_empty() {
        return Ok((g, None));
    }
    let out = g.commit(CommitOptions::add(kps.iter().map(|b| b.key_package.clone()).collect()))?;
    g.merge_pending_commit()?;
    Ok((g, out.welcome))
}

fn bench_n(c: &mut Criterion, n: usize) -> Res<()> {
    let cs = cs()?;
    let kps = bundles(&cs, n - 1)?;
    let mut group = c.benchmark_group(format!("group/n={n}"));
    if n >= 1000 {
        group.sample_size(10);
    }
    group.bench_function(format!("create_add_{}/0x0001", n - 1), |b| b.iter(|| create(&cs, black_box(&kps))));

    let (mut alice, welcome) = create(&cs, &kps)?;
    let welcome = welcome.ok_or(mlsx_base::Error::Misuse(mlsx_base::MisuseError::NothingToMerge))?;
    let last = kps.len() - 1;
    group.bench_function("join_welcome/0x0001", |b| {
        b.iter_batched(
            || kps[last].duplicate(),
            |bundle| Group::join(cs.clone(), &welcome, bundle, None, GroupConfig::default()),
            BatchSize::LargeInput,
        )
    });
    let mut bob = Group::join(cs.clone(), &welcome, kps[last].duplicate(), None, GroupConfig::default())?;

    group.bench_function("commit_update/0x0001", |b| {
        b.iter(|| {
            let out = alice.commit(CommitOptions::default());
            alice.clear_pending_commit();
            out
        })
    });
    let update = alice.commit(CommitOptions::default())?;
    alice.clear_pending_commit();
    group.bench_function("process_update/0x0001", |b| {
        b.iter(|| bob.process_message(black_box(&update.commit)))
    });

    if n > 2 {
        group.bench_function("commit_remove/0x0001", |b| {
            b.iter(|| {
                let out = alice.commit(CommitOptions::remove(vec![LeafIndex(1)]));
                alice.clear_pending_commit();
                out
            })
        });
    }
    group.bench_function("app_message_round_trip_100B/0x0001", |b| {
        b.iter(|| -> Res<()> {
            let m = alice.encrypt_application(&[7u8; 100], b"")?;
            let _ = bob.process_message(&m)?;
            Ok(())
        })
    });
    group.finish();
    Ok(())
}

fn groups(c: &mut Criterion) {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    for n in [2, 100, 1_000, 10_000] {
        if n <= max
            && let Err(e) = bench_n(c, n)
        {
            eprintln!("group bench n={n} failed: {e}");
        }
    }
}

criterion_group!(benches, groups);
criterion_main!(benches);
