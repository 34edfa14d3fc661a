//! mlsx, mls-rs 0.57 and OpenMLS 0.9 side by side, suite 0x0001, same
//! machine, one criterion run. Operations, for groups of n members:
//!
//! - `create_add`: create a group and add n−1 members in one commit (with
//!   a path, the ratchet tree in the Welcome), and merge it;
//! - `join`: join from that Welcome;
//! - `commit_update`: a self-update commit (path to every other member);
//! - `process_update`: another member processing it (staging it; mls-rs
//!   applies commits when it processes them, so its iteration also pays a
//!   clone of the receiver, measured separately as `clone_receiver`);
//! - `commit_remove`: a commit removing one member;
//! - `app_round_trip_100B`: encrypt 100 bytes and decrypt them;
//! - `external_join`: a new client joins the n-member group by external
//!   commit from its GroupInfo (with the ratchet tree);
//! - `process_add`: a member of a two-member group processes the commit
//!   that adds the other n−2 (mls-rs pays a clone of its two-member
//!   receiver, which is small).
//!
//! `external_join` and `process_add` are measured for mlsx and mls-rs.
//!
//! Names are `peers/{op}/{impl}/{n}`. `MLSX_BENCH_MAX_N` caps n (default
//! 10000); `MLSX_BENCH_IMPLS` selects implementations (default
//! `mlsx,mls-rs,openmls`). `mlsx bench-report` turns the results into a
//! ratio table (mlsx / fastest peer).
//!
//! Every operation is run once before it is measured and must succeed, so a
//! failing operation aborts the benchmark instead of timing an error path.
//! Handshake messages are PublicMessages in all three (OpenMLS with its
//! mixed-plaintext policy), application messages PrivateMessages.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SIZES: [usize; 4] = [2, 100, 1000, 10000];

/// Unwraps the result of a measured operation: an error aborts the run
/// (criterion would otherwise time the error path).
fn must<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("operation failed while measured: {e:?}");
            std::process::exit(1)
        }
    }
}

fn dbg_err<E: std::fmt::Debug>(e: E) -> Box<dyn std::error::Error> {
    format!("{e:?}").into()
}

/// The benchmark groups, one per operation.
struct Groups<'a> {
    c: &'a mut Criterion,
}

impl Groups<'_> {
    fn group(&mut self, op: &str, n: usize) -> BenchmarkGroup<'_, WallTime> {
        let mut g = self.c.benchmark_group(format!("peers/{op}"));
        if n >= 1000 {
            // Flat sampling: 10 samples of equal size, so that an operation
            // of seconds is not run 55 times as linear sampling would.
            g.sample_size(10);
            g.sampling_mode(SamplingMode::Flat);
            g.warm_up_time(Duration::from_millis(500));
            g.measurement_time(Duration::from_secs(if n >= 10000 { 20 } else { 5 }));
        }
        g
    }
}

mod mlsx {
    use super::*;
    use mlsx_base::codec::{CipherSuite, MlsMessage};
    use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
    use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle};
    use mlsx_base::tree::math::LeafIndex;

    pub fn run(groups: &mut Groups<'_>, n: usize) -> Res<()> {
        let suite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;
        let cs: Arc<dyn CipherSuiteProvider> = RustCryptoProvider::new().cipher_suite_provider(suite).ok_or("suite")?;
        let kps: Vec<KeyPackageBundle> = (0..n - 1)
            .map(|i| Identity::basic(cs.as_ref(), format!("m{i}").as_bytes())?.key_package(cs.as_ref()))
            .collect::<Result<_, _>>()?;
        let key_packages: Vec<_> = kps.iter().map(|b| b.key_package.clone()).collect();
        let creator = Identity::basic(cs.as_ref(), b"creator")?;
        let create = || -> Res<(Group, Option<MlsMessage>)> {
            let mut g = Group::create(cs.clone(), creator.duplicate(), b"bench".to_vec(), GroupConfig::default())?;
            let out = g.commit(CommitOptions::add(key_packages.clone()))?;
            g.merge_pending_commit()?;
            Ok((g, out.welcome))
        };
        let (mut alice, welcome) = create()?;
        groups
            .group("create_add", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| b.iter(|| must(create())));
        let welcome = welcome.ok_or("no welcome")?;
        let bob_kp = kps.last().ok_or("no members")?;
        let join = || Group::join(cs.clone(), &welcome, bob_kp.duplicate(), None, GroupConfig::default());
        let mut bob = join()?;
        groups
            .group("join", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| b.iter(|| must(join())));
        let update = alice.commit(CommitOptions::default())?.commit;
        alice.clear_pending_commit();
        groups
            .group("commit_update", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| {
                b.iter(|| {
                    must((|| -> Res<()> {
                        alice.commit(CommitOptions::default())?;
                        alice.clear_pending_commit();
                        Ok(())
                    })())
                })
            });
        let _ = bob.process_message(&update)?;
        groups
            .group("process_update", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| {
                b.iter(|| must(bob.process_message(black_box(&update))))
            });
        if n > 2 {
            let victim = vec![LeafIndex(1)];
            alice.commit(CommitOptions::remove(victim.clone()))?;
            alice.clear_pending_commit();
            groups
                .group("commit_remove", n)
                .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| {
                    b.iter(|| {
                        must((|| -> Res<()> {
                            alice.commit(CommitOptions::remove(victim.clone()))?;
                            alice.clear_pending_commit();
                            Ok(())
                        })())
                    })
                });
        }
        let round_trip = |alice: &mut Group, bob: &mut Group| -> Res<()> {
            let m = alice.encrypt_application(&[7u8; 100], b"")?;
            let _ = bob.process_message(&m)?;
            Ok(())
        };
        round_trip(&mut alice, &mut bob)?;
        groups
            .group("app_round_trip_100B", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| {
                b.iter(|| must(round_trip(&mut alice, &mut bob)))
            });

        let gi = alice.group_info()?;
        let joiner = Identity::basic(cs.as_ref(), b"joiner")?;
        let external = || Group::join_external(cs.clone(), &gi, None, joiner.duplicate(), None, GroupConfig::default());
        external()?;
        groups
            .group("external_join", n)
            .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| b.iter(|| must(external())));

        if n > 2 {
            let (first, rest) = kps.split_first().ok_or("no members")?;
            let mut small = Group::create(cs.clone(), creator.duplicate(), b"bench-add".to_vec(), GroupConfig::default())?;
            let out = small.commit(CommitOptions::add(vec![first.key_package.clone()]))?;
            small.merge_pending_commit()?;
            let welcome = out.welcome.ok_or("no welcome")?;
            let mut member = Group::join(cs.clone(), &welcome, first.duplicate(), None, GroupConfig::default())?;
            let adds = small
                .commit(CommitOptions::add(rest.iter().map(|b| b.key_package.clone()).collect()))?
                .commit;
            let _ = member.process_message(&adds)?;
            groups
                .group("process_add", n)
                .bench_with_input(BenchmarkId::new("mlsx", n), &n, |b, _| {
                    b.iter(|| must(member.process_message(black_box(&adds))))
                });
        }
        Ok(())
    }
}

mod mlsrs {
    use super::*;
    use mls_rs::client_builder::MlsConfig;
    use mls_rs::identity::SigningIdentity;
    use mls_rs::identity::basic::{BasicCredential, BasicIdentityProvider};
    use mls_rs::mls_rules::{CommitOptions, DefaultMlsRules};
    use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList, MlsMessage};
    use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;

    const SUITE: mls_rs::CipherSuite = mls_rs::CipherSuite::CURVE25519_AES128;

    fn client(name: String) -> Res<Client<impl MlsConfig + use<>>> {
        let crypto = MlsRsCrypto::default();
        let cs = crypto.cipher_suite_provider(SUITE).ok_or("mls-rs: suite")?;
        let (secret, public) = cs.signature_key_generate().map_err(dbg_err)?;
        let identity = SigningIdentity::new(BasicCredential::new(name.into_bytes()).into_credential(), public);
        // A path in every commit and the tree in the Welcome, as the others do.
        let rules =
            DefaultMlsRules::new().with_commit_options(CommitOptions::new().with_path_required(true).with_ratchet_tree_extension(true));
        Ok(Client::builder()
            .identity_provider(BasicIdentityProvider)
            .crypto_provider(crypto)
            .mls_rules(rules)
            .signing_identity(identity, secret, SUITE)
            .build())
    }

    pub fn run(groups: &mut Groups<'_>, n: usize) -> Res<()> {
        let creator = client("creator".into())?;
        let members: Vec<_> = (0..n - 1).map(|i| client(format!("m{i}"))).collect::<Res<_>>()?;
        let kps: Vec<MlsMessage> = members
            .iter()
            .map(|m| m.generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None))
            .collect::<Result<_, _>>()?;
        let create = || -> Res<_> {
            let mut g = creator.create_group(ExtensionList::default(), ExtensionList::default(), None)?;
            let mut builder = g.commit_builder();
            for kp in &kps {
                builder = builder.add_member(kp.clone())?;
            }
            let out = builder.build()?;
            g.apply_pending_commit()?;
            Ok((g, out))
        };
        let (mut alice, out) = create()?;
        groups
            .group("create_add", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| b.iter(|| must(create())));
        let welcome = out.welcome_messages.first().ok_or("no welcome")?;
        let last = members.last().ok_or("no members")?;
        let (mut bob, _) = last.join_group(None, welcome, None)?;
        groups.group("join", n).bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| {
            b.iter(|| must(last.join_group(None, welcome, None)))
        });
        groups
            .group("commit_update", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| {
                b.iter(|| {
                    must((|| -> Res<()> {
                        alice.commit_builder().build()?;
                        alice.clear_pending_commit();
                        Ok(())
                    })())
                })
            });
        let update = alice.commit_builder().build()?.commit_message;
        alice.clear_pending_commit();
        bob.clone().process_incoming_message(update.clone())?;
        groups
            .group("process_update", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| {
                b.iter_batched(
                    || bob.clone(),
                    |mut g| must(g.process_incoming_message(update.clone())),
                    BatchSize::LargeInput,
                )
            });
        groups
            .group("clone_receiver", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| b.iter(|| black_box(bob.clone())));
        if n > 2 {
            alice.commit_builder().remove_member(1)?.build()?;
            alice.clear_pending_commit();
            groups
                .group("commit_remove", n)
                .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| {
                    b.iter(|| {
                        must((|| -> Res<()> {
                            alice.commit_builder().remove_member(1)?.build()?;
                            alice.clear_pending_commit();
                            Ok(())
                        })())
                    })
                });
        }
        let mut round_trip = || -> Res<()> {
            let m = alice.encrypt_application_message(&[7u8; 100], vec![])?;
            bob.process_incoming_message(m)?;
            Ok(())
        };
        round_trip()?;
        groups
            .group("app_round_trip_100B", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| b.iter(|| must(round_trip())));

        let gi = alice.group_info_message_allowing_ext_commit(true)?;
        let joiner = client("joiner".into())?;
        let external = || joiner.external_commit_builder()?.build(gi.clone());
        external()?;
        groups
            .group("external_join", n)
            .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| b.iter(|| must(external())));

        if n > 2 {
            let (first, rest) = kps.split_first().ok_or("no members")?;
            let mut small = creator.create_group(ExtensionList::default(), ExtensionList::default(), None)?;
            let out = small.commit_builder().add_member(first.clone())?.build()?;
            small.apply_pending_commit()?;
            let welcome = out.welcome_messages.first().ok_or("no welcome")?;
            let (member, _) = members.first().ok_or("no members")?.join_group(None, welcome, None)?;
            let mut builder = small.commit_builder();
            for kp in rest {
                builder = builder.add_member(kp.clone())?;
            }
            let adds = builder.build()?.commit_message;
            member.clone().process_incoming_message(adds.clone())?;
            groups
                .group("process_add", n)
                .bench_with_input(BenchmarkId::new("mls-rs", n), &n, |b, _| {
                    b.iter_batched(
                        || member.clone(),
                        |mut g| must(g.process_incoming_message(adds.clone())),
                        BatchSize::LargeInput,
                    )
                });
        }
        Ok(())
    }
}

mod openmls_peer {
    use super::*;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

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

    fn create_config() -> MlsGroupCreateConfig {
        MlsGroupCreateConfig::builder()
            .ciphersuite(SUITE)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build()
    }

    pub fn run(groups: &mut Groups<'_>, n: usize) -> Res<()> {
        // The n−2 members who never act share one provider (it only holds
        // their KeyPackage private keys); Bob, who joins, has his own.
        let others = OpenMlsRustCrypto::default();
        let mut kps = vec![];
        for i in 0..n.saturating_sub(2) {
            let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).map_err(dbg_err)?;
            let b = KeyPackage::builder()
                .build(SUITE, &others, &signer, credential(&format!("m{i}"), &signer))
                .map_err(dbg_err)?;
            kps.push(b.key_package().clone());
        }
        let bob_provider = OpenMlsRustCrypto::default();
        let bob_signer = SignatureKeyPair::new(SUITE.signature_algorithm()).map_err(dbg_err)?;
        // Last resort, so that joining again in every iteration finds it.
        let b = KeyPackage::builder()
            .mark_as_last_resort()
            .build(SUITE, &bob_provider, &bob_signer, credential("bob", &bob_signer))
            .map_err(dbg_err)?;
        kps.push(b.key_package().clone());

        let alice_provider = OpenMlsRustCrypto::default();
        let alice_signer = SignatureKeyPair::new(SUITE.signature_algorithm()).map_err(dbg_err)?;
        alice_signer.store(alice_provider.storage()).map_err(dbg_err)?;
        let alice_cred = credential("alice", &alice_signer);
        let create = || -> Res<(MlsGroup, MlsMessageOut)> {
            let mut g = MlsGroup::new(&alice_provider, &alice_signer, &create_config(), alice_cred.clone()).map_err(dbg_err)?;
            let (_, welcome, _) = g.add_members(&alice_provider, &alice_signer, &kps).map_err(dbg_err)?;
            g.merge_pending_commit(&alice_provider).map_err(dbg_err)?;
            Ok((g, welcome))
        };
        let (mut alice, welcome) = create()?;
        groups
            .group("create_add", n)
            .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| b.iter(|| must(create())));
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
        groups
            .group("join", n)
            .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| {
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
        groups
            .group("commit_update", n)
            .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| b.iter(|| must(self_update(&mut alice))));
        let update = to_in(&update)?.try_into_protocol_message().map_err(dbg_err)?;
        bob.process_message(&bob_provider, update.clone()).map_err(dbg_err)?;
        groups
            .group("process_update", n)
            .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| {
                b.iter(|| must(bob.process_message(&bob_provider, black_box(update.clone()))))
            });
        if n > 2 {
            let remove = |alice: &mut MlsGroup| -> Res<()> {
                alice
                    .remove_members(&alice_provider, &alice_signer, &[LeafNodeIndex::new(1)])
                    .map_err(dbg_err)?;
                alice.clear_pending_commit(alice_provider.storage()).map_err(dbg_err)?;
                Ok(())
            };
            remove(&mut alice)?;
            groups
                .group("commit_remove", n)
                .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| b.iter(|| must(remove(&mut alice))));
        }
        let mut round_trip = || -> Res<()> {
            let m = alice.create_message(&alice_provider, &alice_signer, &[7u8; 100]).map_err(dbg_err)?;
            let m = to_in(&m)?.try_into_protocol_message().map_err(dbg_err)?;
            bob.process_message(&bob_provider, m).map_err(dbg_err)?;
            Ok(())
        };
        round_trip()?;
        groups
            .group("app_round_trip_100B", n)
            .bench_with_input(BenchmarkId::new("openmls", n), &n, |b, _| b.iter(|| must(round_trip())));
        Ok(())
    }
}

fn peers(c: &mut Criterion) {
    let max: usize = std::env::var("MLSX_BENCH_MAX_N").ok().and_then(|v| v.parse().ok()).unwrap_or(10000);
    let impls = std::env::var("MLSX_BENCH_IMPLS").unwrap_or_else(|_| "mlsx,mls-rs,openmls".into());
    let mut groups = Groups { c };
    for n in SIZES.into_iter().filter(|n| *n <= max) {
        for name in impls.split(',') {
            let r = match name {
                "mlsx" => mlsx::run(&mut groups, n),
                "mls-rs" => mlsrs::run(&mut groups, n),
                "openmls" => openmls_peer::run(&mut groups, n),
                other => Err(format!("unknown implementation {other}").into()),
            };
            if let Err(e) = r {
                eprintln!("{name} n={n}: {e}");
                std::process::exit(1);
            }
        }
    }
}

criterion_group!(benches, peers);
criterion_main!(benches);
