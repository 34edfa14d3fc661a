//! Secret hygiene (RFC 9420 §9.2, §16.8; issue "Robustness"): no secret
//! bytes in `Debug` output, and no consumed ratchet key or past-epoch secret
//! in the saved state. Unit tests, so that they can name the engine's
//! internal secrets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::*;
use crate::codec::CipherSuite;
use crate::schedule::RatchetType;

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    Arc::new(crate::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap())
}

/// Alice and Bob, in one group.
fn pair(config: GroupConfig) -> (Group, Group) {
    let cs = suite1();
    let c = cs.as_ref();
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(c, b"alice").unwrap(),
        b"hygiene".to_vec(),
        config.clone(),
    )
    .unwrap();
    let bob = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs, out.welcome.as_ref().unwrap(), bob, None, config).unwrap();
    (alice, bob)
}

#[cfg(not(feature = "crypto-debug"))]
/// Ways a secret could show up in text: hex (either case) and Rust's
/// decimal byte list, for every 8-byte window.
fn leaks(text: &str, secret: &[u8]) -> bool {
    secret.windows(8.min(secret.len())).any(|w| {
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        let list = w.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
        text.contains(&hex) || text.contains(&hex.to_uppercase()) || text.contains(&list)
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every secret the engine holds for `g`, named.
fn secrets_of(g: &Group) -> Vec<(&'static str, Vec<u8>)> {
    let s = &g.secrets;
    let mut out = vec![
        ("welcome_secret", s.welcome_secret.as_bytes().to_vec()),
        ("sender_data_secret", s.sender_data_secret.as_bytes().to_vec()),
        ("encryption_secret", s.encryption_secret.as_bytes().to_vec()),
        ("exporter_secret", s.exporter_secret.as_bytes().to_vec()),
        ("external_secret", s.external_secret.as_bytes().to_vec()),
        ("confirmation_key", s.confirmation_key.as_bytes().to_vec()),
        ("membership_key", s.membership_key.as_bytes().to_vec()),
        ("resumption_psk", s.resumption_psk.as_bytes().to_vec()),
        ("init_secret", s.init_secret.as_bytes().to_vec()),
        ("signature key", g.identity.signer.as_bytes().to_vec()),
    ];
    for x in g.keys.nodes() {
        if let Some(k) = g.keys.key(x) {
            out.push(("tree private key", k.as_bytes().to_vec()));
        }
    }
    out
}

#[cfg(not(feature = "crypto-debug"))]
#[test]
fn debug_output_has_no_secret_bytes() {
    let (mut alice, mut bob) = pair(GroupConfig::default());
    let cs = suite1();
    let c = cs.as_ref();
    let bundle = Identity::basic(c, b"carol").unwrap().key_package(c).unwrap();
    let m = alice.encrypt_application(b"hello", b"").unwrap();
    let received = bob.process_message(&m).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bundle.key_package.clone()])).unwrap();
    let staged = match bob.process_message(&out.commit).unwrap() {
        Received::Commit(s) => s,
        _ => panic!("not a commit"),
    };
    let exported = alice.export_secret(b"label", b"context", 32).unwrap();

    let mut secrets = secrets_of(&alice);
    secrets.extend(secrets_of(&bob));
    secrets.push(("staged init_secret", staged.secrets.init_secret.as_bytes().to_vec()));
    secrets.push(("staged encryption_secret", staged.secrets.encryption_secret.as_bytes().to_vec()));
    secrets.push(("KeyPackage init key", bundle.init_key.as_bytes().to_vec()));
    secrets.push(("KeyPackage leaf key", bundle.leaf_key.as_bytes().to_vec()));
    secrets.push(("KeyPackage signer", bundle.identity.signer.as_bytes().to_vec()));
    secrets.push(("exported", exported.as_bytes().to_vec()));

    let texts = [
        ("Group (Alice, pending commit)", format!("{alice:?}")),
        ("Group (Bob)", format!("{bob:?}")),
        ("Group (pretty)", format!("{bob:#?}")),
        ("StagedCommit", format!("{staged:?}")),
        ("Received", format!("{received:?}")),
        ("CommitOutput", format!("{out:?}")),
        ("KeyPackageBundle", format!("{bundle:?}")),
        ("Identity", format!("{:?}", alice.identity)),
        ("EpochSecrets", format!("{:?}", alice.secrets)),
        ("SecretTree", format!("{:?}", bob.secret_tree)),
        ("TreePrivateKeys", format!("{:?}", bob.keys)),
        ("Secret", format!("{exported:?}")),
        ("GroupConfig", format!("{:?}", alice.public.config)),
    ];
    for (what, text) in &texts {
        assert!(!text.is_empty());
        for (name, secret) in &secrets {
            assert!(!leaks(text, secret), "{what}'s Debug output shows {name}");
        }
    }
    // The detector itself finds a secret printed in full.
    assert!(leaks(&format!("{:?}", secrets[0].1), &secrets[0].1));
}

#[test]
fn saved_state_drops_used_keys_and_old_epochs() {
    let config = GroupConfig {
        max_past_epochs: 0,
        ..GroupConfig::default()
    };
    let (mut alice, mut bob) = pair(config);
    let cs = suite1();
    let c = cs.as_ref();

    // The keys of Alice's application generations 0 and 1, computed from
    // the epoch's encryption secret.
    let mut tree = SecretTree::new(
        bob.secrets.encryption_secret.duplicate(),
        bob.public.tree.n_leaves(),
        SecretTreeConfig::default(),
    )
    .unwrap();
    let gen0 = tree.key_for(c, 0, RatchetType::Application, 0).unwrap();
    let gen1 = tree.key_for(c, 0, RatchetType::Application, 1).unwrap();
    let m0 = alice.encrypt_application(b"zero", b"").unwrap();
    let m1 = alice.encrypt_application(b"one", b"").unwrap();
    // Generation 1 arrives first: generation 0's key is kept for the
    // out-of-order message (which shows the search can find keys)...
    let _ = bob.process_message(&m1).unwrap();
    let saved = bob.save().unwrap();
    assert!(
        contains(&saved, gen0.key.as_bytes()),
        "a skipped key should be kept for a late message"
    );
    assert!(!contains(&saved, gen1.key.as_bytes()), "a used ratchet key is in the saved state");
    // ...and dropped once used.
    let _ = bob.process_message(&m0).unwrap();
    let saved = bob.save().unwrap();
    assert!(!contains(&saved, gen0.key.as_bytes()), "a used ratchet key is in the saved state");
    assert!(
        !contains(&saved, gen0.nonce.as_bytes()),
        "a used ratchet nonce is in the saved state"
    );
    let sender_side = alice.save().unwrap();
    assert!(!contains(&sender_side, gen0.key.as_bytes()), "the sender kept a used key");
    assert!(!contains(&sender_side, gen1.key.as_bytes()), "the sender kept a used key");

    // A new epoch: nothing of the old one stays (no past epochs are kept).
    let old = secrets_of(&bob);
    let old_epoch = bob.epoch();
    let commit = alice.commit(CommitOptions::default()).unwrap().commit;
    alice.merge_pending_commit().unwrap();
    match bob.process_message(&commit).unwrap() {
        Received::Commit(s) => bob.merge_staged_commit(s).unwrap(),
        _ => panic!("not a commit"),
    }
    assert_eq!(bob.epoch(), old_epoch + 1);
    let saved = bob.save().unwrap();
    for (name, secret) in old {
        // The signature key and the resumption PSK outlive the epoch by
        // design (RFC 9420 §8.6 keeps resumption PSKs of past epochs).
        if name == "signature key" || name == "resumption_psk" {
            continue;
        }
        // Bob's own leaf key and the root's key change with the path;
        // tree keys that did not change are still valid.
        if name == "tree private key" {
            continue;
        }
        assert!(!contains(&saved, &secret), "the old epoch's {name} is in the saved state");
    }
}
