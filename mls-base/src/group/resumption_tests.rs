//! Negative tests of joining a reinitialized or branched group (RFC 9420
//! §12.4.3.1) that need the old epoch's resumption PSK, to re-encrypt an
//! edited GroupInfo, or a crafted prior state: unit tests for that access.
//! Listed in `drafts/negative-tests.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::*;
use crate::codec::{CipherSuite, GroupInfo, GroupSecrets, Psk, decode, encode};
use crate::schedule::{psk_secret, welcome_key_nonce, welcome_secret};

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    Arc::new(crate::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap())
}

/// Alice and Bob.
fn pair() -> (Group, Group) {
    let cs = suite1();
    let c = cs.as_ref();
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(c, b"alice").unwrap(),
        b"old".to_vec(),
        GroupConfig::default(),
    )
    .unwrap();
    let bob = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs, out.welcome.as_ref().unwrap(), bob, None, GroupConfig::default()).unwrap();
    (alice, bob)
}

/// Re-encrypts the GroupInfo of `welcome` (for `bundle`) after `edit`,
/// re-signed by `signer`; the GroupSecrets follow the new context. The
/// PSK values come from `prior`'s resumption PSKs.
fn edit_group_info(
    welcome: &mut MlsMessage,
    bundle: &KeyPackageBundle,
    prior: &Group,
    signer: &SignaturePrivateKey,
    edit: impl FnOnce(&mut GroupInfo),
) {
    let cs = prior.public.cs.clone();
    let c = cs.as_ref();
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        panic!("not a Welcome")
    };
    let label = super::WELCOME_LABEL;
    let plain = c
        .decrypt_with_label(
            &bundle.init_key,
            label,
            w.encrypted_group_info.as_slice(),
            &w.secrets[0].encrypted_group_secrets,
        )
        .unwrap();
    let gs: GroupSecrets = decode(plain.as_bytes()).unwrap();
    let values: Vec<Secret> = gs
        .psks
        .iter()
        .map(|id| match &id.psk {
            Psk::Resumption(r) => prior.resumption_psks.get(&r.psk_epoch).unwrap().duplicate(),
            _ => panic!("only resumption PSKs here"),
        })
        .collect();
    let pairs: Vec<_> = gs.psks.iter().zip(values.iter().map(Secret::as_bytes)).collect();
    let psk = psk_secret(c, &pairs).unwrap();
    let ws = welcome_secret(c, gs.joiner_secret.as_slice(), psk.as_ref().map(Secret::as_bytes)).unwrap();
    let (key, nonce) = welcome_key_nonce(c, ws.as_bytes()).unwrap();
    let gi_plain = c
        .aead_open(key.as_bytes(), nonce.as_bytes(), &[], w.encrypted_group_info.as_slice())
        .unwrap();
    let mut gi: GroupInfo = decode(gi_plain.as_bytes()).unwrap();
    edit(&mut gi);
    gi.signature = c.sign_with_label(signer, b"GroupInfoTBS", &gi.tbs().unwrap()).unwrap().into();
    w.encrypted_group_info = c
        .aead_seal(key.as_bytes(), nonce.as_bytes(), &[], &encode(&gi).unwrap())
        .unwrap()
        .into();
    w.secrets[0].encrypted_group_secrets = c
        .encrypt_with_label(
            bundle.key_package.init_key.as_slice(),
            label,
            w.encrypted_group_info.as_slice(),
            &encode(&gs).unwrap(),
        )
        .unwrap();
}

fn group_info_error(e: Error) -> &'static str {
    match e {
        Error::Peer(PeerError::InvalidGroupInfo(why)) => why,
        other => panic!("expected InvalidGroupInfo, got {other:?}"),
    }
}

/// Alice branches the group into "sub" with Bob's new KeyPackage.
struct Branched {
    /// Bob's state in the old group.
    bob: Group,
    cs: Arc<dyn CipherSuiteProvider>,
    /// The branch's Welcome for `bundle`.
    welcome: MlsMessage,
    bundle: KeyPackageBundle,
    /// The signer of the branch's GroupInfo (Alice's).
    signer: SignaturePrivateKey,
}

fn branched() -> Branched {
    let (alice, bob) = pair();
    let cs = alice.public.cs.clone();
    let bundle = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let (_, out) = alice
        .branch(b"sub".to_vec(), vec![bundle.key_package.clone()], GroupConfig::default())
        .unwrap();
    Branched {
        bob,
        cs,
        welcome: out.welcome.unwrap(),
        bundle,
        signer: alice.identity.signer.duplicate(),
    }
}

#[test]
fn rebuilt_branch_welcome_is_accepted() {
    let Branched {
        bob,
        cs,
        mut welcome,
        bundle,
        signer,
    } = branched();
    edit_group_info(&mut welcome, &bundle, &bob, &signer, |_| {});
    assert!(Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &bob).is_ok());
}

#[test]
fn s12_4_3_1_resumed_group_starts_at_epoch_1() {
    let Branched {
        bob,
        cs,
        mut welcome,
        bundle,
        signer,
    } = branched();
    edit_group_info(&mut welcome, &bundle, &bob, &signer, |gi| gi.group_context.epoch = 2);
    let e = Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &bob).expect_err("accepted");
    assert_eq!(group_info_error(e), "a reinit/branch Welcome must start epoch 1");
}

/// Alice commits a ReInit (same suite, group "next"); Bob merges it.
/// Returns Bob's old group, the successor's Welcome for Bob's new
/// KeyPackage, that KeyPackage, and the signer of the successor's
/// GroupInfo (Alice's new identity).
fn reinit_pair() -> (Group, MlsMessage, KeyPackageBundle, SignaturePrivateKey) {
    let (mut alice, mut bob) = pair();
    let cs = alice.public.cs.clone();
    let reinit = Proposal::ReInit(crate::codec::ReInit {
        group_id: b"next".to_vec().into(),
        version: crate::codec::ProtocolVersion::MLS10,
        cipher_suite: cs.cipher_suite(),
        extensions: vec![],
    });
    let out = alice
        .commit(CommitOptions {
            proposals: vec![reinit],
            ..CommitOptions::default()
        })
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let Received::Commit(s) = bob.process_message(&out.commit).unwrap() else {
        panic!()
    };
    bob.merge_staged_commit(s).unwrap();
    let bundle = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
    let alice_id = Identity::basic(cs.as_ref(), b"alice").unwrap();
    let signer = alice_id.signer.duplicate();
    let (_, out) = alice
        .reinit(cs.clone(), alice_id, vec![bundle.key_package.clone()], GroupConfig::default())
        .unwrap();
    (bob, out.welcome.unwrap(), bundle, signer)
}

#[test]
fn rebuilt_reinit_welcome_is_accepted() {
    let (bob, mut welcome, bundle, signer) = reinit_pair();
    let cs = bob.public.cs.clone();
    edit_group_info(&mut welcome, &bundle, &bob, &signer, |_| {});
    assert!(Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &bob).is_ok());
}

#[test]
fn s12_4_3_1_reinit_needs_a_committed_reinit() {
    let (bob, welcome, bundle, _) = reinit_pair();
    let cs = bob.public.cs.clone();
    // Bob's old state, as if the ReInit had never been committed.
    let mut prior = Group::load(cs.clone(), &bob.save().unwrap(), GroupConfig::default()).unwrap();
    prior.last_reinit = None;
    prior.active = true;
    let e = Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &prior).expect_err("accepted");
    assert_eq!(group_info_error(e), "the old group committed no ReInit");
}

#[test]
fn s12_4_3_1_reinit_parameters_must_match() {
    let (bob, mut welcome, bundle, signer) = reinit_pair();
    let cs = bob.public.cs.clone();
    // The new group claims an (empty) external_senders extension the
    // ReInit did not carry; default extension types need no capability.
    edit_group_info(&mut welcome, &bundle, &bob, &signer, |gi| {
        gi.group_context.extensions.push(crate::codec::Extension {
            extension_type: crate::codec::ExtensionType::EXTERNAL_SENDERS,
            extension_data: encode(&Vec::<crate::codec::ExternalSender>::new()).unwrap().into(),
        })
    });
    let e = Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &bob).expect_err("accepted");
    assert_eq!(group_info_error(e), "group does not match the ReInit");
}

#[test]
fn s12_4_3_1_branch_keeps_version_and_suite() {
    let Branched {
        bob, cs, welcome, bundle, ..
    } = branched();
    // The joiner's suite and version must be the new group's, so the
    // difference can only sit in the old group: Bob's prior state, as if
    // that group had used another suite, then another version.
    let mut prior = Group::load(cs.clone(), &bob.save().unwrap(), GroupConfig::default()).unwrap();
    prior.public.context.cipher_suite = CipherSuite(3);
    let e = Group::join_resumed(cs.clone(), &welcome, bundle.duplicate(), None, GroupConfig::default(), &prior).expect_err("accepted");
    assert_eq!(group_info_error(e), "branch changes version or suite");
    let mut prior = Group::load(cs.clone(), &bob.save().unwrap(), GroupConfig::default()).unwrap();
    prior.public.context.version = crate::codec::ProtocolVersion(2);
    let e = Group::join_resumed(cs.clone(), &welcome, bundle.duplicate(), None, GroupConfig::default(), &prior).expect_err("accepted");
    assert_eq!(group_info_error(e), "branch changes version or suite");
    // Unchanged, the same Welcome is accepted.
    assert!(Group::join_resumed(cs, &welcome, bundle, None, GroupConfig::default(), &bob).is_ok());
}

#[test]
fn s12_3_reinit_parameters_are_recorded() {
    let (mut alice, mut bob) = pair();
    let cs = alice.public.cs.clone();
    // A commit without a ReInit records nothing.
    let out = alice.commit(CommitOptions::default()).unwrap();
    alice.merge_pending_commit().unwrap();
    let Received::Commit(s) = bob.process_message(&out.commit).unwrap() else {
        panic!()
    };
    bob.merge_staged_commit(s).unwrap();
    assert!(alice.pending_reinit().is_none() && bob.pending_reinit().is_none());
    let reinit = crate::codec::ReInit {
        group_id: b"next".to_vec().into(),
        version: crate::codec::ProtocolVersion::MLS10,
        cipher_suite: cs.cipher_suite(),
        extensions: vec![crate::codec::Extension {
            extension_type: crate::codec::ExtensionType::EXTERNAL_SENDERS,
            extension_data: encode(&Vec::<crate::codec::ExternalSender>::new()).unwrap().into(),
        }],
    };
    let out = alice
        .commit(CommitOptions {
            proposals: vec![Proposal::ReInit(reinit.clone())],
            ..CommitOptions::default()
        })
        .unwrap();
    // Staged, not merged: nothing recorded yet.
    assert!(alice.pending_reinit().is_none());
    alice.merge_pending_commit().unwrap();
    let Received::Commit(s) = bob.process_message(&out.commit).unwrap() else {
        panic!()
    };
    assert!(bob.pending_reinit().is_none());
    bob.merge_staged_commit(s).unwrap();
    // Committer and receiver record the same parameters, which survive a
    // save and load, and both groups stop.
    assert_eq!(alice.pending_reinit(), Some(&reinit));
    assert_eq!(bob.pending_reinit(), Some(&reinit));
    let loaded = Group::load(cs, &bob.save().unwrap(), GroupConfig::default()).unwrap();
    assert_eq!(loaded.pending_reinit(), Some(&reinit));
    assert!(!alice.is_active() && !bob.is_active() && !loaded.is_active());
}

#[test]
fn s12_4_3_joiner_must_support_group_context_extensions() {
    const CUSTOM: crate::codec::ExtensionType = crate::codec::ExtensionType(0xff00);
    let cs = suite1();
    let c = cs.as_ref();
    // Alice supports the custom extension; Bob's KeyPackage does not.
    let mut alice_id = Identity::basic(c, b"alice").unwrap();
    alice_id.capabilities.extensions.push(CUSTOM);
    let signer = alice_id.signer.duplicate();
    let mut alice = Group::create(cs.clone(), alice_id, b"g".to_vec(), GroupConfig::default()).unwrap();
    let bundle = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bundle.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    // The GroupInfo claims the custom extension in the GroupContext: Alice's
    // leaf lists it, so only the joiner's own leaf fails the check.
    let mut edited = welcome.clone();
    edit_group_info(&mut edited, &bundle, &alice, &signer, |gi| {
        gi.group_context.extensions.push(crate::codec::Extension {
            extension_type: CUSTOM,
            extension_data: vec![].into(),
        })
    });
    let e = Group::join(cs.clone(), &edited, bundle.duplicate(), None, GroupConfig::default()).expect_err("accepted");
    assert!(
        matches!(e, Error::Peer(PeerError::InvalidLeaf(LeafError::MissingRequiredCapability))),
        "{e:?}"
    );
    // The same edit with an extension type Bob lists (a default one) is
    // accepted up to the key schedule, which the edit changed: the
    // confirmation tag no longer matches.
    let mut edited = welcome.clone();
    edit_group_info(&mut edited, &bundle, &alice, &signer, |gi| {
        gi.group_context.extensions.push(crate::codec::Extension {
            extension_type: crate::codec::ExtensionType::EXTERNAL_SENDERS,
            extension_data: encode(&Vec::<crate::codec::ExternalSender>::new()).unwrap().into(),
        })
    });
    let e = Group::join(cs.clone(), &edited, bundle.duplicate(), None, GroupConfig::default()).expect_err("accepted");
    assert!(matches!(e, Error::Peer(PeerError::InvalidConfirmationTag)), "{e:?}");
    assert!(Group::join(cs, &welcome, bundle, None, GroupConfig::default()).is_ok());
}
