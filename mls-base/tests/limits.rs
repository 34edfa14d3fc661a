//! Every resource limit, tested with input just over it (and input exactly
//! at it): `GroupConfig::limits` (message size, tree size, proposals,
//! extensions, PSKs), past-epoch retention and the secret tree's
//! out-of-order window and forward distance. A rejection leaves the state
//! unchanged.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

use std::sync::Arc;

use mlsx_base::codec::{
    CipherSuite, Extension, ExtensionType, ExternalPsk, MlsMessage, PreSharedKeyId, PreSharedKeyProposal, Proposal, Psk, Remove,
};
use mlsx_base::crypto::{CipherSuiteProvider, Secret};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Limit, Limits, Received};
use mlsx_base::schedule::SecretTreeConfig;
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{Error, PeerError};
use tls_codec::Size;

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap())
}

fn bundle(cs: &Arc<dyn CipherSuiteProvider>, name: &str) -> KeyPackageBundle {
    Identity::basic(cs.as_ref(), name.as_bytes())
        .unwrap()
        .key_package(cs.as_ref())
        .unwrap()
}

/// Alice and Bob (and Carol when `carol`), default configuration.
fn group(carol: bool) -> (Arc<dyn CipherSuiteProvider>, Group, Group) {
    let cs = suite1();
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        b"limits".to_vec(),
        GroupConfig::default(),
    )
    .unwrap();
    let bob = bundle(&cs, "bob");
    let mut kps = vec![bob.key_package.clone()];
    if carol {
        kps.push(bundle(&cs, "carol").key_package);
    }
    let out = alice.commit(CommitOptions::add(kps)).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, GroupConfig::default()).unwrap();
    (cs, alice, bob)
}

/// `g` reloaded from its saved state under `config`.
fn reconfigured(cs: &Arc<dyn CipherSuiteProvider>, g: &Group, config: GroupConfig) -> Group {
    Group::load(cs.clone(), &g.save().unwrap(), config).unwrap()
}

fn limits(l: Limits) -> GroupConfig {
    GroupConfig {
        limits: l,
        ..GroupConfig::default()
    }
}

fn rejects(g: &mut Group, m: &MlsMessage) -> Error {
    let before = g.save().unwrap();
    let e = g.process_message(m).expect_err("accepted");
    assert!(g.save().unwrap() == before, "a rejected message changed the state");
    e
}

fn over(e: Error, limit: Limit, value: usize, max: usize) {
    match e {
        Error::Peer(PeerError::LimitExceeded {
            limit: l,
            value: v,
            max: m,
        }) => assert_eq!((l, v, m), (limit, value, max)),
        other => panic!("expected {limit:?} over its limit, got {other:?}"),
    }
}

/// A configuration whose `limit` is `max`.
fn with_limit(limit: Limit, max: usize) -> GroupConfig {
    let mut l = Limits::default();
    match limit {
        Limit::MessageSize => l.max_message_size = max,
        Limit::Leaves => l.max_leaves = u32::try_from(max).unwrap(),
        Limit::Proposals => l.max_proposals = max,
        Limit::Extensions => l.max_extensions = max,
        Limit::Psks => l.max_psks = max,
        other => panic!("no such limit {other:?}"),
    }
    limits(l)
}

/// `g` under `limit` = `value` - 1 rejects `m` (state unchanged, the error
/// naming the limit); under `limit` = `value` it accepts it.
fn over_then_at(cs: &Arc<dyn CipherSuiteProvider>, g: &Group, m: &MlsMessage, limit: Limit, value: usize) -> Received {
    let mut tight = reconfigured(cs, g, with_limit(limit, value - 1));
    over(rejects(&mut tight, m), limit, value, value - 1);
    let mut exact = reconfigured(cs, g, with_limit(limit, value));
    exact.process_message(m).unwrap()
}

/// Alice's commit, her pending state cleared (she stays in the epoch).
fn commit(alice: &mut Group, options: CommitOptions) -> mlsx_base::group::CommitOutput {
    let out = alice.commit(options).unwrap();
    alice.clear_pending_commit();
    out
}

#[test]
fn message_size() {
    let (cs, mut alice, bob) = group(false);
    let m = alice.encrypt_application(b"x", b"").unwrap();
    let size = m.tls_serialized_len();
    let accepted = over_then_at(&cs, &bob, &m, Limit::MessageSize, size);
    assert!(matches!(accepted, Received::Application { .. }));
}

#[test]
fn message_size_of_a_welcome() {
    let (cs, mut alice, _) = group(false);
    let dave = bundle(&cs, "dave");
    let welcome = commit(&mut alice, CommitOptions::add(vec![dave.key_package.clone()]))
        .welcome
        .unwrap();
    let size = welcome.tls_serialized_len();
    let e = Group::join(
        cs.clone(),
        &welcome,
        dave,
        None,
        limits(Limits {
            max_message_size: size - 1,
            ..Limits::default()
        }),
    )
    .err()
    .unwrap();
    over(e, Limit::MessageSize, size, size - 1);
}

#[test]
fn tree_size_by_commit() {
    // Three members: a tree of 4 leaves. Two more make it 8.
    let (cs, mut alice, bob) = group(true);
    let out = commit(
        &mut alice,
        CommitOptions::add(vec![bundle(&cs, "dave").key_package, bundle(&cs, "erin").key_package]),
    );
    let accepted = over_then_at(&cs, &bob, &out.commit, Limit::Leaves, 8);
    assert!(matches!(accepted, Received::Commit(_)));
}

#[test]
fn tree_size_is_checked_before_the_adds_signatures() {
    // Three members and two Adds: five members, so a limit of 4 is exceeded
    // by the count before any KeyPackage signature is verified (the tree,
    // 8 leaves, would be checked only after them).
    let (cs, mut alice, bob) = group(true);
    let out = commit(
        &mut alice,
        CommitOptions::add(vec![bundle(&cs, "dave").key_package, bundle(&cs, "erin").key_package]),
    );
    let mut bob = reconfigured(&cs, &bob, with_limit(Limit::Leaves, 4));
    match rejects(&mut bob, &out.commit) {
        Error::Peer(PeerError::LimitExceeded {
            limit: Limit::Leaves,
            value: 5,
            max: 4,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn tree_size_on_join() {
    let (cs, mut alice, _) = group(true);
    let dave = bundle(&cs, "dave");
    // Alice, Bob, Carol, Dave: 4 leaves.
    let welcome = commit(&mut alice, CommitOptions::add(vec![dave.key_package.clone()]))
        .welcome
        .unwrap();
    let e = Group::join(
        cs.clone(),
        &welcome,
        dave,
        None,
        limits(Limits {
            max_leaves: 3,
            ..Limits::default()
        }),
    )
    .err()
    .unwrap();
    over(e, Limit::Leaves, 4, 3);
}

#[test]
fn proposals_per_commit() {
    let (cs, mut alice, bob) = group(true);
    let kps = ["d", "e", "f"].iter().map(|n| bundle(&cs, n).key_package).collect();
    let out = commit(&mut alice, CommitOptions::add(kps));
    let accepted = over_then_at(&cs, &bob, &out.commit, Limit::Proposals, 3);
    assert!(matches!(accepted, Received::Commit(_)));
}

#[test]
fn proposals_cached_per_epoch() {
    let (cs, mut alice, bob) = group(true);
    let mut bob = reconfigured(
        &cs,
        &bob,
        limits(Limits {
            max_proposals: 2,
            ..Limits::default()
        }),
    );
    for i in 0..2u8 {
        let p = alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), &[i]).unwrap();
        assert!(matches!(bob.process_message(&p).unwrap(), Received::Proposal(_)));
    }
    let third = alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), b"3").unwrap();
    over(rejects(&mut bob, &third), Limit::Proposals, 3, 2);
}

#[test]
fn extensions_per_list() {
    let (cs, mut alice, bob) = group(false);
    let mut id = Identity::basic(cs.as_ref(), b"dave").unwrap();
    id.capabilities.extensions.extend([ExtensionType(0xff01), ExtensionType(0xff02)]);
    // Dave's KeyPackage carries two listed extensions.
    let mut bundle = id.key_package(cs.as_ref()).unwrap();
    bundle.key_package.extensions = vec![
        Extension {
            extension_type: ExtensionType(0xff01),
            extension_data: vec![].into(),
        },
        Extension {
            extension_type: ExtensionType(0xff02),
            extension_data: vec![].into(),
        },
    ];
    bundle.key_package.signature = mlsx_base::crypto::LabeledCrypto::sign_with_label(
        cs.as_ref(),
        &id.signer,
        mlsx_base::group::KEY_PACKAGE_TBS_LABEL,
        &bundle.key_package.tbs().unwrap(),
    )
    .unwrap()
    .into();
    let out = commit(&mut alice, CommitOptions::add(vec![bundle.key_package.clone()]));
    let accepted = over_then_at(&cs, &bob, &out.commit, Limit::Extensions, 2);
    assert!(matches!(accepted, Received::Commit(_)));
}

fn external_psk(g: &mut Group, id: &[u8]) -> Proposal {
    g.add_external_psk(id.to_vec(), Secret::new(vec![id[0]; 32]));
    Proposal::PreSharedKey(PreSharedKeyProposal {
        psk: PreSharedKeyId {
            psk: Psk::External(ExternalPsk {
                psk_id: id.to_vec().into(),
            }),
            psk_nonce: vec![id[0]; 32].into(),
        },
    })
}

#[test]
fn psks_per_commit() {
    let (cs, mut alice, bob) = group(false);
    let proposals = vec![external_psk(&mut alice, b"one"), external_psk(&mut alice, b"two")];
    let out = commit(
        &mut alice,
        CommitOptions {
            proposals,
            ..CommitOptions::default()
        },
    );
    let mut bob = reconfigured(
        &cs,
        &bob,
        limits(Limits {
            max_psks: 1,
            ..Limits::default()
        }),
    );
    over(rejects(&mut bob, &out.commit), Limit::Psks, 2, 1);
    bob.add_external_psk(b"one".to_vec(), Secret::new(vec![b'o'; 32]));
    bob.add_external_psk(b"two".to_vec(), Secret::new(vec![b't'; 32]));
    let mut exact = reconfigured(
        &cs,
        &bob,
        limits(Limits {
            max_psks: 2,
            ..Limits::default()
        }),
    );
    assert!(matches!(exact.process_message(&out.commit).unwrap(), Received::Commit(_)));
}

#[test]
fn psks_per_welcome() {
    let (cs, mut alice, _) = group(false);
    let dave = bundle(&cs, "dave");
    let psk = external_psk(&mut alice, b"one");
    let welcome = commit(
        &mut alice,
        CommitOptions {
            proposals: vec![psk, Proposal::Add(mlsx_base::codec::Add::new(dave.key_package.clone()))],
            ..CommitOptions::default()
        },
    )
    .welcome
    .unwrap();
    let e = Group::join(
        cs.clone(),
        &welcome,
        dave,
        None,
        limits(Limits {
            max_psks: 0,
            ..Limits::default()
        }),
    )
    .err()
    .unwrap();
    over(e, Limit::Psks, 1, 0);
}

/// Alice sends an application message, then commits `epochs` times; Bob,
/// keeping `keep` past epochs, gets the message last.
fn late_by(epochs: u64, keep: usize) -> Result<Received, Error> {
    let (cs, mut alice, bob) = group(false);
    let mut bob = reconfigured(
        &cs,
        &bob,
        GroupConfig {
            max_past_epochs: keep,
            ..GroupConfig::default()
        },
    );
    let m = alice.encrypt_application(b"late", b"").unwrap();
    for _ in 0..epochs {
        let c = alice.commit(CommitOptions::default()).unwrap().commit;
        alice.merge_pending_commit().unwrap();
        let Received::Commit(s) = bob.process_message(&c).unwrap() else {
            panic!()
        };
        bob.merge_staged_commit(s).unwrap();
    }
    bob.process_message(&m)
}

#[test]
fn past_epoch_retention() {
    assert!(matches!(late_by(2, 2).unwrap(), Received::Application { .. }));
    match late_by(3, 2) {
        Err(Error::Peer(PeerError::WrongEpoch { message: 1, group: 4 })) => {}
        other => panic!("expected WrongEpoch(1 at 4), got {:?}", other.map(|_| ())),
    }
}

/// Alice sends `n` application messages; Bob's secret tree is `config`.
fn messages(n: usize, config: SecretTreeConfig) -> (Group, Vec<MlsMessage>) {
    let (cs, mut alice, bob) = group(false);
    let bob = reconfigured(
        &cs,
        &bob,
        GroupConfig {
            secret_tree: config,
            ..GroupConfig::default()
        },
    );
    let ms = (0..n).map(|i| alice.encrypt_application(&[i as u8], b"").unwrap()).collect();
    (bob, ms)
}

#[test]
fn forward_distance() {
    let config = SecretTreeConfig {
        out_of_order_tolerance: 16,
        max_forward_distance: 5,
    };
    // Generation 6 is 6 ahead of 0: over. Generation 5 is at the limit.
    let (mut bob, ms) = messages(7, config);
    match rejects(&mut bob, &ms[6]) {
        Error::Peer(PeerError::GenerationTooFarAhead {
            generation: 6,
            next: 0,
            max_forward: 5,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(bob.process_message(&ms[5]).unwrap(), Received::Application { .. }));
}

#[test]
fn out_of_order_tolerance() {
    let config = SecretTreeConfig {
        out_of_order_tolerance: 2,
        max_forward_distance: 1000,
    };
    // After generation 5, the two newest skipped keys (3, 4) are kept.
    let (mut bob, ms) = messages(6, config);
    let _ = bob.process_message(&ms[5]).unwrap();
    match rejects(&mut bob, &ms[2]) {
        Error::Peer(PeerError::GenerationConsumed(2)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(bob.process_message(&ms[3]).unwrap(), Received::Application { .. }));
}

#[test]
fn a_sender_does_not_encrypt_over_the_message_size() {
    let (cs, alice, bob) = group(false);
    let config = || with_limit(Limit::MessageSize, 400);
    let mut alice = reconfigured(&cs, &alice, config());
    let mut bob = reconfigured(&cs, &bob, config());
    // A plaintext over the limit is refused before anything is spent.
    let e = alice.encrypt_application(&[7; 401], b"").expect_err("encrypted");
    assert!(matches!(e, Error::Misuse(mlsx_base::MisuseError::TooLarge)), "{e:?}");
    // So is one under it whose framing (signature, tags, header) is not,
    // and it spends no ratchet key: the state is as it was.
    let before = alice.save().unwrap();
    let e = alice.encrypt_application(&[7; 390], b"").expect_err("encrypted");
    assert!(matches!(e, Error::Misuse(mlsx_base::MisuseError::TooLarge)), "{e:?}");
    assert!(alice.save().unwrap() == before, "a refused message changed the sender's state");
    // A message that fits reaches a receiver with the same limit.
    let m = alice.encrypt_application(&[7; 100], b"").unwrap();
    assert!(tls_codec::Size::tls_serialized_len(&m) <= 400);
    assert!(matches!(bob.process_message(&m).unwrap(), Received::Application { .. }));
}
