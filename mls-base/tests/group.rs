//! End-to-end group tests (RFC 9420 §11–§15) over every RFC 9420 suite.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{
    CipherSuite, Extension, ExtensionType, ExternalPsk, GroupContextExtensions, MlsMessage, MlsMessageBody, PreSharedKeyId,
    PreSharedKeyProposal, Proposal, Psk, VLBytes,
};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, Secret};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{Error, PeerError};
use tls_codec::{DeserializeBytes, Serialize};

fn cs(suite: CipherSuite) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(suite).unwrap()
}

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    cs(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
}

fn config(encrypt_handshake: bool) -> GroupConfig {
    GroupConfig {
        encrypt_handshake,
        ..GroupConfig::default()
    }
}

/// Alice creates a group and adds `names` in one commit; everyone joins.
fn group_of(cs: &Arc<dyn CipherSuiteProvider>, names: &[&str], encrypt_handshake: bool) -> Vec<Group> {
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        b"g".to_vec(),
        config(encrypt_handshake),
    )
    .unwrap();
    if names.is_empty() {
        return vec![alice];
    }
    let bundles: Vec<_> = names
        .iter()
        .map(|n| {
            Identity::basic(cs.as_ref(), n.as_bytes())
                .unwrap()
                .key_package(cs.as_ref())
                .unwrap()
        })
        .collect();
    let out = alice
        .commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let mut all = vec![alice];
    for b in bundles {
        all.push(Group::join(cs.clone(), &welcome, b, None, config(encrypt_handshake)).unwrap());
    }
    all
}

fn assert_in_sync(groups: &[Group]) {
    let first = &groups[0];
    for g in groups {
        assert_eq!(g.epoch(), first.epoch());
        assert_eq!(g.epoch_authenticator(), first.epoch_authenticator());
        assert_eq!(g.context(), first.context());
        assert_eq!(
            g.export_secret(b"test", b"ctx", 32).unwrap(),
            first.export_secret(b"test", b"ctx", 32).unwrap()
        );
    }
}

/// Sends `msg` from `from` to every other group, merging commits.
fn deliver(groups: &mut [Group], from: usize, msg: &MlsMessage) {
    // Round-trip through bytes like a real transport.
    let bytes = msg.tls_serialize_detached().unwrap();
    let msg = MlsMessage::tls_deserialize_exact_bytes(&bytes).unwrap();
    for (i, g) in groups.iter_mut().enumerate() {
        if i == from {
            continue;
        }
        match g.process_message(&msg).unwrap() {
            Received::Commit(staged) => g.merge_staged_commit(staged).unwrap(),
            Received::Proposal(_) | Received::Application { .. } | Received::Envelope { .. } => {}
        }
    }
}

fn commit_and_deliver(groups: &mut [Group], from: usize, options: CommitOptions) -> Option<MlsMessage> {
    let out = groups[from].commit(options).unwrap();
    groups[from].merge_pending_commit().unwrap();
    deliver(groups, from, &out.commit);
    out.welcome
}

#[test]
fn every_suite_creates_adds_talks_updates_and_removes() {
    for suite in CipherSuite::RFC9420 {
        for encrypt in [false, true] {
            let cs = cs(suite);
            let mut g = group_of(&cs, &["bob", "carol", "dave"], encrypt);
            assert_in_sync(&g);
            assert_eq!(g[0].members().count(), 4);
            // Application data from each member to all.
            for from in 0..g.len() {
                let m = g[from].encrypt_application(format!("hello from {from}").as_bytes(), b"ad").unwrap();
                for (i, r) in g.iter_mut().enumerate() {
                    if i == from {
                        continue;
                    }
                    let Received::Application {
                        sender,
                        data,
                        authenticated_data,
                        ..
                    } = r.process_message(&m).unwrap()
                    else {
                        panic!()
                    };
                    assert_eq!(
                        (sender, data, authenticated_data),
                        (LeafIndex(from as u32), format!("hello from {from}").into_bytes(), b"ad".to_vec())
                    );
                }
            }
            // Bob commits an empty commit with a path (self-update).
            commit_and_deliver(&mut g, 1, CommitOptions::default());
            assert_in_sync(&g);
            // Carol removes Dave.
            commit_and_deliver(&mut g, 2, CommitOptions::remove(vec![LeafIndex(3)]));
            let dave = g.pop().unwrap();
            assert!(!dave.is_active(), "suite {suite:?}");
            assert_in_sync(&g);
            assert_eq!(g[0].members().count(), 3);
        }
    }
}

#[test]
fn update_proposal_by_reference() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob", "carol"], false);
    let upd = g[1].propose_update().unwrap();
    deliver(&mut g, 1, &upd);
    assert_eq!(g[0].pending_proposals().len(), 1);
    commit_and_deliver(
        &mut g,
        0,
        CommitOptions {
            force_path: false,
            ..CommitOptions::default()
        },
    );
    assert_in_sync(&g);
    // Bob's new leaf key works: Carol's path encrypts to it.
    commit_and_deliver(&mut g, 2, CommitOptions::default());
    assert_in_sync(&g);
}

#[test]
fn add_proposal_by_reference_and_welcome() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob"], true);
    let carol = Identity::basic(cs.as_ref(), b"carol").unwrap().key_package(cs.as_ref()).unwrap();
    let p = g[1]
        .propose(Proposal::Add(mlsx_base::codec::Add::new(carol.key_package.clone())), b"")
        .unwrap();
    deliver(&mut g, 1, &p);
    let welcome = commit_and_deliver(&mut g, 0, CommitOptions::default()).unwrap();
    g.push(Group::join(cs.clone(), &welcome, carol, None, config(true)).unwrap());
    assert_in_sync(&g);
}

#[test]
fn join_without_ratchet_tree_extension_needs_the_tree() {
    let cs = suite1();
    let cfg = GroupConfig {
        ratchet_tree_extension: false,
        ..GroupConfig::default()
    };
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        b"g".to_vec(),
        cfg.clone(),
    )
    .unwrap();
    let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    assert!(matches!(
        Group::join(cs.clone(), &welcome, bob.duplicate(), None, cfg.clone()),
        Err(Error::Peer(PeerError::InvalidGroupInfo("no ratchet tree")))
    ));
    let bob = Group::join(cs.clone(), &welcome, bob, Some(alice.tree().to_nodes()), cfg).unwrap();
    assert_in_sync(&[alice, bob]);
}

#[test]
fn external_psk_and_group_context_extensions() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob"], false);
    for m in g.iter_mut() {
        m.add_external_psk(b"psk1".to_vec(), Secret::new(vec![7; 32]));
    }
    let psk = Proposal::PreSharedKey(PreSharedKeyProposal {
        psk: PreSharedKeyId {
            psk: Psk::External(ExternalPsk {
                psk_id: VLBytes::new(b"psk1".to_vec()),
            }),
            psk_nonce: VLBytes::new(vec![1; 32]),
        },
    });
    commit_and_deliver(
        &mut g,
        0,
        CommitOptions {
            proposals: vec![psk],
            ..CommitOptions::default()
        },
    );
    assert_in_sync(&g);
    let gce = Proposal::GroupContextExtensions(GroupContextExtensions {
        extensions: vec![Extension::new(ExtensionType::REQUIRED_CAPABILITIES, vec![0, 0, 2, 0, 1])],
    });
    commit_and_deliver(
        &mut g,
        1,
        CommitOptions {
            proposals: vec![gce],
            ..CommitOptions::default()
        },
    );
    assert_in_sync(&g);
    assert_eq!(g[0].context().extensions.len(), 1);
}

#[test]
fn out_of_order_and_past_epoch_application_messages() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob"], false);
    let m1 = g[0].encrypt_application(b"one", b"").unwrap();
    let m2 = g[0].encrypt_application(b"two", b"").unwrap();
    let late = g[0].encrypt_application(b"late", b"").unwrap();
    // Out of order within the window.
    assert!(matches!(g[1].process_message(&m2).unwrap(), Received::Application { data, .. } if data == b"two"));
    assert!(matches!(g[1].process_message(&m1).unwrap(), Received::Application { data, .. } if data == b"one"));
    // Replays fail: the key is consumed.
    assert!(g[1].process_message(&m1).is_err());
    // A new epoch starts; the late message from the previous one still opens.
    commit_and_deliver(&mut g, 0, CommitOptions::default());
    assert!(matches!(g[1].process_message(&late).unwrap(), Received::Application { data, epoch, .. } if data == b"late" && epoch == 1));
}

#[test]
fn rejected_messages_leave_the_group_unchanged() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob", "carol"], true);
    let good = g[0].encrypt_application(b"payload", b"").unwrap();
    let bytes = good.tls_serialize_detached().unwrap();
    // Flip every byte position of the ciphertext tail in turn: each tampered copy is rejected,
    // and afterwards the original still decrypts (no key was consumed).
    for pos in (bytes.len() - 40)..bytes.len() {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x01;
        if let Ok(m) = MlsMessage::tls_deserialize_exact_bytes(&bad) {
            assert!(g[1].process_message(&m).is_err());
        }
    }
    // A commit with a wrong confirmation tag is rejected without touching state.
    let out = g[2].commit(CommitOptions::default()).unwrap();
    g[2].clear_pending_commit();
    let mut tampered = out.commit.clone();
    if let MlsMessageBody::PrivateMessage(pm) = &mut tampered.body {
        let mut ct = pm.ciphertext.as_slice().to_vec();
        let last = ct.len() - 1;
        ct[last] ^= 1;
        pm.ciphertext = VLBytes::new(ct);
    }
    let epoch = g[1].epoch();
    assert!(g[1].process_message(&tampered).is_err());
    assert_eq!(g[1].epoch(), epoch);
    assert!(matches!(g[1].process_message(&good).unwrap(), Received::Application { data, .. } if data == b"payload"));
    // The untampered commit still processes.
    assert!(matches!(g[1].process_message(&out.commit).unwrap(), Received::Commit(_)));
}

#[test]
fn invalid_proposal_lists_are_rejected() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob"], false);
    // Removing the committer.
    assert!(g[0].commit(CommitOptions::remove(vec![LeafIndex(0)])).is_err());
    // Removing a blank leaf.
    assert!(g[0].commit(CommitOptions::remove(vec![LeafIndex(5)])).is_err());
    // Adding a member already present (same KeyPackage leaf keys).
    let carol = Identity::basic(cs.as_ref(), b"carol").unwrap().key_package(cs.as_ref()).unwrap();
    assert!(
        g[0].commit(CommitOptions::add(vec![carol.key_package.clone(), carol.key_package.clone()]))
            .is_err()
    );
    // Application data cannot be sent with proposals pending.
    let _ = g[0]
        .propose(Proposal::Remove(mlsx_base::codec::Remove { removed: LeafIndex(1) }), b"")
        .unwrap();
    assert!(g[0].encrypt_application(b"x", b"").is_err());
}

#[test]
fn larger_group_with_blanks_stays_in_sync() {
    let cs = suite1();
    let names: Vec<String> = (0..9).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut g = group_of(&cs, &refs, false);
    commit_and_deliver(&mut g, 3, CommitOptions::remove(vec![LeafIndex(1), LeafIndex(2)]));
    // Drop the removed members' states (indices 1 and 2).
    g.remove(2);
    g.remove(1);
    assert_in_sync(&g);
    commit_and_deliver(&mut g, 5, CommitOptions::default());
    assert_in_sync(&g);
    let newcomer = Identity::basic(cs.as_ref(), b"new").unwrap().key_package(cs.as_ref()).unwrap();
    let out = g[0].commit(CommitOptions::add(vec![newcomer.key_package.clone()])).unwrap();
    g[0].merge_pending_commit().unwrap();
    deliver(&mut g, 0, &out.commit);
    g.push(Group::join(cs.clone(), out.welcome.as_ref().unwrap(), newcomer, None, GroupConfig::default()).unwrap());
    assert_in_sync(&g);
    let last = g.len() - 1;
    commit_and_deliver(&mut g, last, CommitOptions::default());
    assert_in_sync(&g);
}

#[test]
fn external_join_and_resync() {
    for suite in [
        CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,
        CipherSuite::MLS_256_DHKEMX448_AES256GCM_SHA512_ED448,
    ] {
        let cs = cs(suite);
        let mut g = group_of(&cs, &["bob", "carol"], false);
        let gi = g[0].group_info().unwrap();
        let erin = Identity::basic(cs.as_ref(), b"erin").unwrap();
        let (erin_group, commit) = Group::join_external(cs.clone(), &gi, None, erin, None, GroupConfig::default()).unwrap();
        deliver(&mut g, usize::MAX, &commit);
        g.push(erin_group);
        assert_in_sync(&g);
        // Carol resyncs: she rejoins externally, removing her old leaf.
        let gi = g[1].group_info().unwrap();
        let carol2 = Identity::basic(cs.as_ref(), b"carol").unwrap();
        let (carol_group, commit) =
            Group::join_external(cs.clone(), &gi, None, carol2, Some(LeafIndex(2)), GroupConfig::default()).unwrap();
        let old_carol = g.remove(2);
        deliver(&mut g, usize::MAX, &commit);
        g.push(carol_group);
        assert_in_sync(&g);
        assert!(old_carol.is_active());
        // The new member can commit and talk.
        let last = g.len() - 1;
        commit_and_deliver(&mut g, last, CommitOptions::default());
        assert_in_sync(&g);
        let m = g[last].encrypt_application(b"back", b"").unwrap();
        assert!(matches!(g[0].process_message(&m).unwrap(), Received::Application { data, .. } if data == b"back"));
    }
}

#[test]
fn external_commit_with_wrong_tag_is_rejected() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob"], false);
    let gi = g[0].group_info().unwrap();
    let (_, mut commit) = Group::join_external(
        cs.clone(),
        &gi,
        None,
        Identity::basic(cs.as_ref(), b"x").unwrap(),
        None,
        GroupConfig::default(),
    )
    .unwrap();
    if let MlsMessageBody::PublicMessage(pm) = &mut commit.body {
        pm.auth.confirmation_tag = Some(vec![0u8; 32].into());
    }
    let before = g[1].epoch_authenticator().to_vec();
    assert!(g[1].process_message(&commit).is_err());
    assert_eq!(g[1].epoch_authenticator(), before);
}

#[test]
fn state_survives_save_and_load() {
    use mlsx_base::group::{GroupStorage, MemoryGroupStorage};
    let cs = suite1();
    let mut g = group_of(&cs, &["bob", "carol"], true);
    let m = g[0].encrypt_application(b"before", b"").unwrap();
    let mut storage = MemoryGroupStorage::default();
    storage.store(b"bob", g[1].save().unwrap()).unwrap();
    let saved = storage.load(b"bob").unwrap().unwrap();
    g[1] = Group::load(cs.clone(), &saved, config(true)).unwrap();
    assert_eq!(g[1].save().unwrap().as_slice(), saved.as_slice());
    assert!(matches!(g[1].process_message(&m).unwrap(), Received::Application { data, .. } if data == b"before"));
    commit_and_deliver(&mut g, 1, CommitOptions::default());
    assert_in_sync(&g);
    // A truncated or garbled state is an error, not a panic.
    assert!(Group::load(cs.clone(), &saved[..saved.len() / 2], config(true)).is_err());
    assert!(Group::load(cs.clone(), &[], config(true)).is_err());
}

mod rejected_messages {
    use proptest::prelude::*;

    use super::*;

    fn fixture() -> (Vec<Group>, Vec<Vec<u8>>) {
        let cs = suite1();
        let mut g = group_of(&cs, &["bob", "carol"], true);
        let app = g[0].encrypt_application(b"hello", b"ad").unwrap();
        let prop = g[2]
            .propose(Proposal::Remove(mlsx_base::codec::Remove { removed: LeafIndex(0) }), b"")
            .unwrap();
        let out = g[2].commit(CommitOptions::default()).unwrap();
        g[2].clear_pending_commit();
        let msgs = [app, prop, out.commit]
            .iter()
            .map(|m| m.tls_serialize_detached().unwrap())
            .collect();
        (g, msgs)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// A rejected message — mutated, or a replay — leaves Bob's
        /// serialized state byte-identical.
        #[test]
        fn state_is_unchanged_by_rejected_messages(which in 0usize..3, pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
            let (mut g, msgs) = fixture();
            let mut bytes = msgs[which].clone();
            let i = pos.index(bytes.len());
            bytes[i] ^= xor;
            let before = g[1].save().unwrap();
            if let Ok(m) = MlsMessage::tls_deserialize_exact_bytes(&bytes)
                && g[1].process_message(&m).is_err()
            {
                let after = g[1].save().unwrap();
                prop_assert_eq!(after.as_slice(), before.as_slice());
            }
            // Replay: accept the original once, then the second copy is rejected and changes nothing.
            let original = MlsMessage::tls_deserialize_exact_bytes(&msgs[0]).unwrap();
            let fresh = fixture_bob_after(&mut g, &original);
            let after_first = g[1].save().unwrap();
            prop_assert!(g[1].process_message(&original).is_err());
            let after = g[1].save().unwrap();
            prop_assert_eq!(after.as_slice(), after_first.as_slice());
            prop_assert!(fresh);
        }
    }

    fn fixture_bob_after(g: &mut [Group], msg: &MlsMessage) -> bool {
        g[1].process_message(msg).is_ok()
    }
}

#[test]
fn branch_and_reinit() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob", "carol"], false);
    // Alice branches a subgroup with Bob.
    let bob_id = Identity::basic(cs.as_ref(), b"bob").unwrap();
    let bob_kp = bob_id.key_package(cs.as_ref()).unwrap();
    let (sub_alice, out) = g[0]
        .branch(b"sub".to_vec(), vec![bob_kp.key_package.clone()], GroupConfig::default())
        .unwrap();
    let sub_bob = Group::join_resumed(
        cs.clone(),
        out.welcome.as_ref().unwrap(),
        bob_kp,
        None,
        GroupConfig::default(),
        &g[1],
    )
    .unwrap();
    assert_eq!(sub_alice.epoch(), 1);
    assert_in_sync(&[sub_alice, sub_bob]);
    // Without the old group's state the branch PSK is unavailable.
    let bob_kp2 = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let (_, out2) = g[0]
        .branch(b"sub2".to_vec(), vec![bob_kp2.key_package.clone()], GroupConfig::default())
        .unwrap();
    assert!(Group::join(cs.clone(), out2.welcome.as_ref().unwrap(), bob_kp2, None, GroupConfig::default()).is_err());

    // Carol proposes to reinitialize into suite 3; Alice commits it.
    let suite3 = cs_of(CipherSuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_ED25519);
    let reinit = Proposal::ReInit(mlsx_base::codec::ReInit {
        group_id: VLBytes::new(b"g2".to_vec()),
        version: mlsx_base::codec::ProtocolVersion::MLS10,
        cipher_suite: suite3.cipher_suite(),
        extensions: vec![],
    });
    let out = g[0]
        .commit(CommitOptions {
            proposals: vec![reinit],
            force_path: false,
            ..CommitOptions::default()
        })
        .unwrap();
    g[0].merge_pending_commit().unwrap();
    deliver(&mut g, 0, &out.commit);
    assert!(g.iter().all(|m| !m.is_active()));
    assert!(g[0].encrypt_application(b"x", b"").is_err());
    // Alice sets up the new group; Bob and Carol join it with their old states.
    let mut kps = vec![];
    for name in ["bob", "carol"] {
        let mut id = Identity::basic(suite3.as_ref(), name.as_bytes()).unwrap();
        id.capabilities.cipher_suites = vec![suite3.cipher_suite()];
        kps.push(id.key_package(suite3.as_ref()).unwrap());
    }
    let alice3 = Identity::basic(suite3.as_ref(), b"alice").unwrap();
    let (new_alice, out) = g[0]
        .reinit(
            suite3.clone(),
            alice3,
            kps.iter().map(|b| b.key_package.clone()).collect(),
            GroupConfig::default(),
        )
        .unwrap();
    let mut next = vec![new_alice];
    for (i, b) in kps.into_iter().enumerate() {
        next.push(
            Group::join_resumed(
                suite3.clone(),
                out.welcome.as_ref().unwrap(),
                b,
                None,
                GroupConfig::default(),
                &g[i + 1],
            )
            .unwrap(),
        );
    }
    assert_in_sync(&next);
    assert_eq!(next[0].context().group_id.as_slice(), b"g2");
}

fn cs_of(suite: CipherSuite) -> Arc<dyn CipherSuiteProvider> {
    cs(suite)
}

#[test]
fn external_sender_proposal_committed_by_reference() {
    use mlsx_base::codec::{Credential, ExternalSender, FramedContent, FramedContentBody, Remove, Sender};
    let cs = suite1();
    let (ds_sk, ds_pk) = cs.signature_generate_key_pair().unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds_pk.into(),
        credential: Credential::Basic(VLBytes::new(b"ds".to_vec())),
    }];
    let ext = Extension::new(ExtensionType::EXTERNAL_SENDERS, mlsx_base::codec::encode(&senders).unwrap());
    let mut alice = Group::create_with_extensions(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"alice").unwrap(),
        b"g".to_vec(),
        vec![ext],
        GroupConfig::default(),
    )
    .unwrap();
    let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, GroupConfig::default()).unwrap();
    let mut g = vec![alice, bob];
    // The delivery service (external sender 0) proposes removing Bob.
    let content = FramedContent {
        group_id: g[0].context().group_id.clone(),
        epoch: g[0].epoch(),
        sender: Sender::External(0),
        authenticated_data: VLBytes::default(),
        body: FramedContentBody::Proposal(Proposal::Remove(Remove { removed: LeafIndex(1) })),
    };
    let msg = mlsx_base::framing::protect_public(cs.as_ref(), &ds_sk, content, None, g[0].context(), None).unwrap();
    let msg = MlsMessage::new(MlsMessageBody::PublicMessage(msg));
    deliver(&mut g, usize::MAX, &msg);
    assert_eq!(g[0].pending_proposals().len(), 1);
    commit_and_deliver(&mut g, 0, CommitOptions::default());
    assert!(!g[1].is_active());
    assert_eq!(g[0].members().count(), 1);
    // A forged external proposal (wrong key) is rejected.
    let (other_sk, _) = cs.signature_generate_key_pair().unwrap();
    let content = FramedContent {
        group_id: g[0].context().group_id.clone(),
        epoch: g[0].epoch(),
        sender: Sender::External(0),
        authenticated_data: VLBytes::default(),
        body: FramedContentBody::Proposal(Proposal::Remove(Remove { removed: LeafIndex(0) })),
    };
    let forged = mlsx_base::framing::protect_public(cs.as_ref(), &other_sk, content, None, g[0].context(), None).unwrap();
    assert!(
        g[0].process_message(&MlsMessage::new(MlsMessageBody::PublicMessage(forged)))
            .is_err()
    );
}

/// The batched signature checks of a joined tree
/// (`check_tree_leaves_authenticity`) accept what the one-at-a-time checks
/// accept, and report exactly the error of the first bad leaf, in every
/// suite (Ed25519 batches; the other schemes check one at a time behind
/// the same call).
#[test]
fn batched_signature_checks_name_the_first_bad_item() {
    use mlsx_base::group::{BasicCredentialValidator, check_tree_leaves_authenticity};
    for suite in [1u16, 2, 4] {
        let cs = cs(CipherSuite(suite));
        let v = BasicCredentialValidator;
        // A joined tree of 40 members, then the same with leaf 33 damaged.
        let mut alice = Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"a").unwrap(),
            b"g".to_vec(),
            config(false),
        )
        .unwrap();
        let members: Vec<_> = (0..39)
            .map(|i| {
                Identity::basic(cs.as_ref(), format!("j{i}").as_bytes())
                    .unwrap()
                    .key_package(cs.as_ref())
                    .unwrap()
                    .key_package
            })
            .collect();
        alice.commit(CommitOptions::add(members)).unwrap();
        alice.merge_pending_commit().unwrap();
        let gid = alice.context().group_id.as_slice().to_vec();
        let leaves: Vec<_> = alice.members().collect();
        assert_eq!(leaves.len(), 40);
        check_tree_leaves_authenticity(cs.as_ref(), &leaves, &gid, &v).unwrap();
        let mut damaged = leaves[33].1.clone();
        let mut sig = damaged.signature.as_slice().to_vec();
        sig[10] ^= 1;
        damaged.signature = sig.into();
        let mut edited = leaves.clone();
        edited[33].1 = &damaged;
        match check_tree_leaves_authenticity(cs.as_ref(), &edited, &gid, &v) {
            Err(Error::Peer(PeerError::InvalidLeafSignature(i))) => assert_eq!(i, edited[33].0.0, "suite {suite}"),
            other => panic!("suite {suite}: {other:?}"),
        }
    }
}

/// A member removed by a commit that injects a PSK it does not hold still
/// learns that it was removed (it computes no new epoch, so it needs no
/// PSK); the staged commit names its sender and the PSKs it injects.
#[test]
fn removed_member_needs_no_psk_and_staged_commits_name_sender_and_psks() {
    let cs = suite1();
    let mut g = group_of(&cs, &["bob", "carol"], true);
    for m in [0, 2] {
        g[m].add_external_psk(b"only alice and carol".to_vec(), Secret::new(vec![9; 32]));
    }
    let id = PreSharedKeyId {
        psk: Psk::External(ExternalPsk {
            psk_id: VLBytes::new(b"only alice and carol".to_vec()),
        }),
        psk_nonce: VLBytes::new(vec![3; 32]),
    };
    let bob = g[1].own_leaf();
    let out = g[0]
        .commit(CommitOptions {
            proposals: vec![
                Proposal::PreSharedKey(PreSharedKeyProposal { psk: id.clone() }),
                Proposal::Remove(mlsx_base::codec::Remove { removed: bob }),
            ],
            ..CommitOptions::default()
        })
        .unwrap();
    assert_eq!(g[0].pending_commit().unwrap().psk_ids(), std::slice::from_ref(&id));
    let Received::Commit(staged) = g[1].process_message(&out.commit).unwrap() else {
        panic!("not a commit")
    };
    assert!(staged.removes_self());
    assert!(staged.psk_ids().is_empty());
    let Received::Commit(staged) = g[2].process_message(&out.commit).unwrap() else {
        panic!("not a commit")
    };
    assert_eq!(staged.sender(), &mlsx_base::codec::Sender::Member(g[0].own_leaf()));
    assert_eq!(staged.psk_ids(), std::slice::from_ref(&id));
}
