//! Targeted messages (draft-ietf-mls-targeted-messages) end to end, in
//! groups of three, through `Group::process_message` and the wire-format
//! hook: a negative test for every MUST of "Recipient Validation" and
//! "Padding", in an RFC 9420 suite and in PQ suites.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, MlsMessage, VLBytes, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{CryptoError, Error as BaseError};
use mlsx_extensions::Error;
use mlsx_extensions::targeted::{self, Epoch, TargetedKeys, TargetedMessage, hazmat};

fn config() -> GroupConfig {
    let mut c = GroupConfig::default();
    targeted::install(&mut c);
    c
}

fn group(cs: &Arc<dyn CipherSuiteProvider>, n: usize) -> Vec<Group> {
    let mut first = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"m0").unwrap(),
        b"targeted".to_vec(),
        config(),
    )
    .unwrap();
    let kps: Vec<_> = (1..n)
        .map(|i| {
            Identity::basic(cs.as_ref(), format!("m{i}").as_bytes())
                .unwrap()
                .key_package(cs.as_ref())
                .unwrap()
        })
        .collect();
    let out = first
        .commit(CommitOptions::add(kps.iter().map(|k| k.key_package.clone()).collect()))
        .unwrap();
    first.merge_pending_commit().unwrap();
    let mut all = vec![first];
    for kp in kps {
        all.push(Group::join(cs.clone(), out.welcome_message().unwrap(), kp, None, config()).unwrap());
    }
    all
}

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
        .unwrap()
}

/// What an envelope gave: sender, data, authenticated data.
type Opened = (Option<LeafIndex>, Vec<u8>, Vec<u8>);

fn opened(g: &mut Group, msg: &MlsMessage) -> Result<Opened, BaseError> {
    match g.process_message(msg)? {
        Received::Envelope { envelope, .. } => Ok((envelope.sender, envelope.data, envelope.authenticated_data)),
        other => panic!("not an envelope: {other:?}"),
    }
}

fn ext_err(e: &BaseError) -> Option<&Error> {
    Error::of(e)
}

fn body(msg: &MlsMessage) -> TargetedMessage {
    targeted::from_message(msg).unwrap().unwrap()
}

/// Seals from member `from` to `to` with arbitrary content bytes.
fn seal_raw(g: &[Group], from: usize, to: usize, content: &[u8]) -> TargetedMessage {
    let sender = &g[from];
    let cs = sender.cipher_suite_provider();
    let at = Epoch {
        group_id: sender.context().group_id.as_slice(),
        epoch: sender.epoch(),
        own_leaf: sender.own_leaf(),
    };
    let key = g[to].tree().leaf(LeafIndex(to as u32)).unwrap().encryption_key.clone();
    hazmat::seal_content(
        cs,
        &TargetedKeys::of_group(sender).unwrap(),
        &at,
        &sender.identity().signer,
        LeafIndex(to as u32),
        key.as_slice(),
        b"",
        content,
    )
    .unwrap()
}

fn round_trip(cs: &Arc<dyn CipherSuiteProvider>) {
    let mut g = group(cs, 3);
    let msg = targeted::send(&g[0], LeafIndex(2), b"nonce=1", b"only for member 2", 32).unwrap();
    let before = g[2].save().unwrap();
    assert_eq!(
        opened(&mut g[2], &msg).unwrap(),
        (Some(LeafIndex(0)), b"only for member 2".to_vec(), b"nonce=1".to_vec())
    );
    // Stateless: nothing in the group changed, and it opens again (the
    // draft leaves replay detection to the application).
    assert_eq!(*g[2].save().unwrap(), *before);
    assert!(opened(&mut g[2], &msg).is_ok());
    // Member 1 is not the recipient.
    let err = opened(&mut g[1], &msg).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedNotForUs(2))), "{err:?}");
    // And the other way, with an empty message and no padding.
    let back = targeted::send(&g[2], LeafIndex(0), b"", b"", 0).unwrap();
    assert_eq!(opened(&mut g[0], &back).unwrap(), (Some(LeafIndex(2)), vec![], vec![]));
}

#[test]
fn a_member_sends_to_one_other_member() {
    round_trip(&suite1());
}

/// PSK mode needs no AuthEncap, so the PQ suites (ML-KEM, X-Wing) work.
#[test]
fn targeted_messages_work_in_pq_suites() {
    for suite in [mlsx_pq_suites::PqSuite::Tbd1, mlsx_pq_suites::PqSuite::Tbd10] {
        round_trip(&suite.provider().unwrap());
    }
}

#[test]
fn a_tampered_message_is_refused() {
    let cs = suite1();
    let mut g = group(&cs, 3);
    // Long enough that the ciphertext outgrows the KDF.Nh-byte sample.
    let msg = targeted::send(&g[0], LeafIndex(1), b"aad", &[7u8; 100], 0).unwrap();
    let m = body(&msg);
    let tampered = |edit: &dyn Fn(&mut TargetedMessage)| {
        let mut t = m.clone();
        edit(&mut t);
        targeted::to_message(&t).unwrap()
    };
    // A byte in the ciphertext's first KDF.Nh bytes: the sender data,
    // keyed on them, no longer decrypts.
    let first = tampered(&|t| {
        let mut c = t.ciphertext.as_slice().to_vec();
        c[0] ^= 1;
        t.ciphertext = c.into();
    });
    let err = opened(&mut g[1], &first).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedSenderData)), "{err:?}");
    // A later byte: the signature over the ciphertext's hash fails.
    let last = tampered(&|t| {
        let mut c = t.ciphertext.as_slice().to_vec();
        let n = c.len() - 1;
        c[n] ^= 1;
        t.ciphertext = c.into();
    });
    let err = opened(&mut g[1], &last).unwrap_err();
    assert!(matches!(err, BaseError::Crypto(CryptoError::InvalidSignature)), "{err:?}");
    // The authenticated data is signed and in the HPKE aad.
    let aad = tampered(&|t| t.authenticated_data = VLBytes::new(b"other".to_vec()));
    assert!(opened(&mut g[1], &aad).is_err());
    // The encrypted sender data.
    let sender_data = tampered(&|t| {
        let mut c = t.encrypted_sender_auth_data.as_slice().to_vec();
        c[0] ^= 1;
        t.encrypted_sender_auth_data = c.into();
    });
    let err = opened(&mut g[1], &sender_data).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedSenderData)), "{err:?}");
    // Another group id, another epoch.
    let group_id = tampered(&|t| t.group_id = VLBytes::new(b"elsewhere".to_vec()));
    let err = opened(&mut g[1], &group_id).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedWrongGroup)), "{err:?}");
    let epoch = tampered(&|t| t.epoch += 1);
    let err = opened(&mut g[1], &epoch).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedWrongEpoch { .. })), "{err:?}");
    // A truncated message does not decode.
    let mut bytes = encode(&msg).unwrap();
    bytes.truncate(bytes.len() - 3);
    assert!(mlsx_base::codec::decode::<MlsMessage>(&bytes).is_err());
}

/// Only the current epoch: a message from the previous one is refused
/// after the recipient moved on.
#[test]
fn a_message_of_a_past_epoch_is_refused() {
    let cs = suite1();
    let mut g = group(&cs, 3);
    let msg = targeted::send(&g[0], LeafIndex(1), b"", b"late", 0).unwrap();
    let out = g[2].commit(CommitOptions::default()).unwrap();
    g[2].merge_pending_commit().unwrap();
    let Received::Commit(s) = g[1].process_message(&out.commit).unwrap() else {
        panic!()
    };
    g[1].merge_staged_commit(s).unwrap();
    let err = opened(&mut g[1], &msg).unwrap_err();
    assert!(
        matches!(ext_err(&err), Some(Error::TargetedWrongEpoch { message, group }) if *group == message + 1),
        "{err:?}"
    );
}

/// "The signature MUST be verified before ciphertext is decrypted": a
/// message that claims member 0 as its sender but is signed by member 1,
/// and whose content would not decrypt either (sealed to another key),
/// fails on the signature.
#[test]
fn the_signature_is_checked_before_decryption() {
    let cs = suite1();
    let mut g = group(&cs, 3);
    let group_id = g[1].context().group_id.as_slice().to_vec();
    let at = Epoch {
        group_id: &group_id,
        epoch: g[1].epoch(),
        own_leaf: LeafIndex(0),
    };
    let wrong_key = g[1].tree().leaf(LeafIndex(1)).unwrap().encryption_key.clone();
    let forged = hazmat::seal_content(
        cs.as_ref(),
        &TargetedKeys::of_group(&g[1]).unwrap(),
        &at,
        &g[1].identity().signer,
        LeafIndex(2),
        wrong_key.as_slice(),
        b"",
        &encode(&VLBytes::new(b"x".to_vec())).unwrap(),
    )
    .unwrap();
    let err = opened(&mut g[2], &targeted::to_message(&forged).unwrap()).unwrap_err();
    assert!(matches!(err, BaseError::Crypto(CryptoError::InvalidSignature)), "{err:?}");
    // Signed by a leaf that is not in the tree: refused as unknown.
    let at = Epoch {
        own_leaf: LeafIndex(9),
        ..at
    };
    let key = g[2].tree().leaf(LeafIndex(2)).unwrap().encryption_key.clone();
    let stranger = hazmat::seal_content(
        cs.as_ref(),
        &TargetedKeys::of_group(&g[1]).unwrap(),
        &at,
        &g[1].identity().signer,
        LeafIndex(2),
        key.as_slice(),
        b"",
        &encode(&VLBytes::new(b"x".to_vec())).unwrap(),
    )
    .unwrap();
    let err = opened(&mut g[2], &targeted::to_message(&stranger).unwrap()).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedUnknownSender(9))), "{err:?}");
}

#[test]
fn padding_must_be_zero() {
    let cs = suite1();
    let mut g = group(&cs, 3);
    let mut content = encode(&VLBytes::new(b"padded".to_vec())).unwrap();
    content.extend_from_slice(&[0, 0, 0, 0]);
    let ok = seal_raw(&g, 0, 1, &content);
    let (_, data, _) = opened(&mut g[1], &targeted::to_message(&ok).unwrap()).unwrap();
    assert_eq!(data, b"padded");
    content.extend_from_slice(&[0, 1, 0]);
    let bad = seal_raw(&g, 0, 1, &content);
    let err = opened(&mut g[1], &targeted::to_message(&bad).unwrap()).unwrap_err();
    assert!(matches!(ext_err(&err), Some(Error::TargetedNonZeroPadding)), "{err:?}");
    // A content that does not even hold the data's length is malformed.
    let short = seal_raw(&g, 0, 1, &[0x05, b'a']);
    assert!(opened(&mut g[1], &targeted::to_message(&short).unwrap()).is_err());
}

#[test]
fn only_members_can_be_recipients() {
    let cs = suite1();
    let g = group(&cs, 3);
    let err = targeted::send(&g[0], LeafIndex(7), b"", b"x", 0).unwrap_err();
    assert!(matches!(err, Error::TargetedUnknownRecipient(7)), "{err:?}");
}
