//! mlsx against mls-rs (RustCrypto provider) in the same run, suite 0x0001:
//! create a group of n by one commit adding n−1 members; a self-update
//! commit; processing it by another member; an application round trip.
//! Names: `op/n/impl`. `MLSX_BENCH_MAX_N` limits n (default 1000).
//!
//! Processing differs slightly: mls-rs applies a commit when processing it
//! (so each iteration clones the receiver's group first); mlsx stages it and
//! the iteration does not merge.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use mls_rs::client_builder::MlsConfig;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList, MlsMessage};
use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;
use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const MLS_RS_SUITE: mls_rs::CipherSuite = mls_rs::CipherSuite::CURVE25519_AES128;

fn mls_rs_client(name: String) -> Res<Client<impl MlsConfig + use<>>> {
    let crypto = MlsRsCrypto::default();
    let cs = crypto.cipher_suite_provider(MLS_RS_SUITE).ok_or("mls-rs: suite")?;
    let (secret, public) = cs.signature_key_generate().map_err(|e| format!("{e:?}"))?;
    let identity = SigningIdentity::new(BasicCredential::new(name.as_bytes().to_vec()).into_credential(), public);
    Ok(Client::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .signing_identity(identity, secret, MLS_RS_SUITE)
        .build())
}

fn bench_mls_rs(c: &mut Criterion, n: usize) -> Res<()> {
    let creator = mls_rs_client("creator".into())?;
    let members: Vec<_> = (0..n - 1).map(|i| mls_rs_client(format!("m{i}"))).collect::<Res<_>>()?;
    let kps: Vec<MlsMessage> = members
        .iter()
        .map(|m| m.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None))
        .collect::<Result<_, _>>()?;
    let mut group = c.benchmark_group(format!("compare/n={n}"));
    if n >= 1000 {
        group.sample_size(10);
    }
    group.bench_function("create_add/mls-rs", |b| {
        b.iter(|| -> Res<()> {
            let mut g = creator.create_group(ExtensionList::default(), ExtensionList::default(), None)?;
            let mut builder = g.commit_builder();
            for kp in &kps {
                builder = builder.add_member(kp.clone())?;
            }
            builder.build()?;
            g.apply_pending_commit()?;
            Ok(())
        })
    });
    let mut alice = creator.create_group(ExtensionList::default(), ExtensionList::default(), None)?;
    let mut builder = alice.commit_builder();
    for kp in &kps {
        builder = builder.add_member(kp.clone())?;
    }
    let out = builder.build()?;
    alice.apply_pending_commit()?;
    let welcome = out.welcome_messages.first().ok_or("no welcome")?;
    let last = members.last().ok_or("no members")?;
    let (mut bob, _) = last.join_group(None, welcome, None)?;
    group.bench_function("commit_update/mls-rs", |b| {
        b.iter(|| -> Res<()> {
            alice.commit_builder().build()?;
            alice.clear_pending_commit();
            Ok(())
        })
    });
    let update = alice.commit_builder().build()?.commit_message;
    alice.clear_pending_commit();
    group.bench_function("process_update/mls-rs", |b| {
        b.iter_batched(
            || bob.clone(),
            |mut g| g.process_incoming_message(update.clone()).map(|_| ()),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("app_round_trip_100B/mls-rs", |b| {
        b.iter(|| -> Res<()> {
            let m = alice.encrypt_application_message(&[7u8; 100], vec![])?;
            bob.process_incoming_message(m)?;
            Ok(())
        })
    });
    group.finish();
    Ok(())
}

fn bench_mlsx(c: &mut Criterion, n: usize) -> Res<()> {
    let suite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;
    let cs: Arc<dyn CipherSuiteProvider> = RustCryptoProvider::new().cipher_suite_provider(suite).ok_or("suite")?;
    let kps = (0..n - 1)
        .map(|i| Identity::basic(cs.as_ref(), format!("m{i}").as_bytes())?.key_package(cs.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let key_packages: Vec<_> = kps.iter().map(|b| b.key_package.clone()).collect();
    let creator = Identity::basic(cs.as_ref(), b"creator")?;
    let create = || -> Res<(Group, Option<mlsx_base::codec::MlsMessage>)> {
        let mut g = Group::create(cs.clone(), creator.duplicate(), b"bench".to_vec(), GroupConfig::default())?;
        let out = g.commit(CommitOptions::add(key_packages.clone()))?;
        g.merge_pending_commit()?;
        Ok((g, out.welcome))
    };
    let mut group = c.benchmark_group(format!("compare/n={n}"));
    if n >= 1000 {
        group.sample_size(10);
    }
    group.bench_function("create_add/mlsx", |b| b.iter(|| create().map(|_| ())));
    let (mut alice, welcome) = create()?;
    let welcome = welcome.ok_or("no welcome")?;
    let mut bob = Group::join(
        cs.clone(),
        &welcome,
        kps.last().ok_or("no members")?.duplicate(),
        None,
        GroupConfig::default(),
    )?;
    group.bench_function("commit_update/mlsx", |b| {
        b.iter(|| -> Res<()> {
            alice.commit(CommitOptions::default())?;
            alice.clear_pending_commit();
            Ok(())
        })
    });
    let update = alice.commit(CommitOptions::default())?.commit;
    alice.clear_pending_commit();
    group.bench_function("process_update/mlsx", |b| {
        b.iter(|| bob.process_message(black_box(&update)).map(|_| ()))
    });
    group.bench_function("app_round_trip_100B/mlsx", |b| {
        b.iter(|| -> Res<()> {
            let m = alice.encrypt_application(&[7u8; 100], b"")?;
            let _ = bob.process_message(&m)?;
            Ok(())
        })
    });
    group.finish();
    Ok(())
}

fn compare(c: &mut Criterion) {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    for n in [2, 100, 1000] {
        if n > max {
            continue;
        }
        if let Err(e) = bench_mlsx(c, n) {
            eprintln!("mlsx n={n}: {e}");
        }
        if let Err(e) = bench_mls_rs(c, n) {
            eprintln!("mls-rs n={n}: {e}");
        }
    }
}

criterion_group!(benches, compare);
criterion_main!(benches);
