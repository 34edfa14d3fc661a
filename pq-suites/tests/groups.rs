//! Whole groups in every one of the eleven PQ suites, under the default
//! profile: create, add 10 members by one Welcome, application messages,
//! a self-update, a remove, an external join and a second Welcome join,
//! with every member agreeing on the epoch authenticator after each epoch.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::MlsMessage;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_pq_suites::{PqProvider, PqSuite, Profile};
use tls_codec::{DeserializeBytes, Serialize};

fn config(encrypt_handshake: bool) -> GroupConfig {
    GroupConfig {
        encrypt_handshake,
        ..GroupConfig::default()
    }
}

fn assert_in_sync(groups: &[Group], what: &str) {
    let first = &groups[0];
    for (i, g) in groups.iter().enumerate() {
        assert_eq!(g.epoch(), first.epoch(), "{what}: member {i}");
        assert_eq!(g.epoch_authenticator(), first.epoch_authenticator(), "{what}: member {i}");
    }
}

/// Sends `msg` from `from` to everyone else through bytes, merging commits.
fn deliver(groups: &mut [Group], from: usize, msg: &MlsMessage) {
    let bytes = msg.tls_serialize_detached().unwrap();
    let msg = MlsMessage::tls_deserialize_exact_bytes(&bytes).unwrap();
    for (i, g) in groups.iter_mut().enumerate() {
        if i == from {
            continue;
        }
        match g.process_message(&msg).unwrap() {
            Received::Commit(staged) => g.merge_staged_commit(staged).unwrap(),
            Received::Application { data, .. } => assert_eq!(data, b"ping"),
            Received::Proposal(_) | Received::Envelope { .. } => {}
        }
    }
}

fn commit(groups: &mut [Group], from: usize, options: CommitOptions) -> Option<MlsMessage> {
    let out = groups[from].commit(options).unwrap();
    groups[from].merge_pending_commit().unwrap();
    deliver(groups, from, &out.commit);
    out.welcome
}

fn run_suite(provider: &PqProvider, suite: PqSuite, encrypt: bool) {
    let code = provider.code_point(suite).unwrap();
    let cs: Arc<dyn CipherSuiteProvider> = provider.cipher_suite_provider(code).unwrap();
    let what = format!("{suite:?} ({})", suite.name());
    let id = |name: &str| Identity::basic(cs.as_ref(), name.as_bytes()).unwrap();

    // Alice creates the group and adds ten members in one commit.
    let mut alice = Group::create(cs.clone(), id("alice"), b"pq".to_vec(), config(encrypt)).unwrap();
    let bundles: Vec<_> = (1..=10).map(|i| id(&format!("m{i}")).key_package(cs.as_ref()).unwrap()).collect();
    let out = alice
        .commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let mut g = vec![alice];
    for b in bundles {
        g.push(Group::join(cs.clone(), &welcome, b, None, config(encrypt)).unwrap());
    }
    assert_in_sync(&g, &what);
    assert_eq!(g[0].members().count(), 11);

    // Application messages from three members to all.
    for from in [0, 5, 10] {
        let m = g[from].encrypt_application(b"ping", b"").unwrap();
        deliver(&mut g, from, &m);
    }

    // A self-update (empty commit with a path) and a remove.
    commit(&mut g, 1, CommitOptions::default());
    assert_in_sync(&g, &what);
    commit(&mut g, 2, CommitOptions::remove(vec![LeafIndex(10)]));
    let gone = g.pop().unwrap();
    assert!(!gone.is_active(), "{what}");
    assert_in_sync(&g, &what);

    // An external join from a GroupInfo with the tree inside.
    let gi = g[3].group_info().unwrap();
    let (joined, ext_commit) = Group::join_external(cs.clone(), &gi, None, id("external"), None, config(encrypt)).unwrap();
    g.push(joined);
    let last = g.len() - 1;
    deliver(&mut g, last, &ext_commit);
    assert_in_sync(&g, &what);

    // The external joiner adds one more member by Welcome; then everyone talks.
    let late = id("late").key_package(cs.as_ref()).unwrap();
    let welcome = commit(&mut g, last, CommitOptions::add(vec![late.key_package.clone()])).unwrap();
    g.push(Group::join(cs.clone(), &welcome, late, None, config(encrypt)).unwrap());
    assert_in_sync(&g, &what);
    let last = g.len() - 1;
    let m = g[last].encrypt_application(b"ping", b"").unwrap();
    deliver(&mut g, last, &m);
    commit(&mut g, last, CommitOptions::default());
    assert_in_sync(&g, &what);
    assert_eq!(g[0].members().count(), 12);
}

#[test]
fn every_pq_suite_runs_a_whole_group() {
    // On every backend compiled in (RustCrypto; libcrux with its feature).
    for backend in mlsx_pq_suites::Backend::available() {
        let provider = PqProvider::new(Profile {
            backend: *backend,
            ..Profile::draft()
        });
        for suite in PqSuite::ALL {
            // Alternate PublicMessage and PrivateMessage handshakes.
            run_suite(&provider, suite, suite.number() % 2 == 0);
        }
    }
}

#[test]
fn the_other_code_point_tables_work_too() {
    let provider = PqProvider::new(Profile {
        code_points: mlsx_pq_suites::CodePoints::private_use_reordered(),
        ..Profile::draft()
    });
    run_suite(&provider, PqSuite::Tbd6, true);
    // Under OpenMLS's numbering (with the drafts' key derivation).
    let provider = PqProvider::new(Profile {
        code_points: mlsx_pq_suites::CodePoints::openmls(),
        ..Profile::draft()
    });
    run_suite(&provider, PqSuite::Tbd9, false);
}
