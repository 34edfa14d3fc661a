//! Negative tests of the PrivateMessage rules (RFC 9420 §6.3.1, §6.3.2,
//! §12.4.2) that need a forged PrivateMessage: encrypted under the real
//! sender's ratchet key and sender-data secret, with one thing wrong. Unit
//! tests, because forging needs the sender's secret tree. Listed in
//! `drafts/negative-tests.md` with the integration tests of
//! `tests/negative.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use tls_codec::Serialize;

use super::*;
use crate::codec::{
    CipherSuite, ContentType, FramedContent, FramedContentAuthData, FramedContentBody, PrivateContentAad, PrivateMessage, SenderData,
    SenderDataAad, VLBytes,
};
use crate::error::CryptoError;
use crate::schedule::RatchetType;
use crate::schedule::secret_tree::sender_data_key_nonce;

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    Arc::new(crate::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap())
}

/// Alice (0), Bob (1), Carol (2): a tree of four leaves, leaf 3 blank.
fn trio() -> (Group, Group, Group) {
    let cs = suite1();
    let c = cs.as_ref();
    let config = GroupConfig::default();
    let mut alice = Group::create(
        cs.clone(),
        Identity::basic(c, b"alice").unwrap(),
        b"private".to_vec(),
        config.clone(),
    )
    .unwrap();
    let bob = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
    let carol = Identity::basic(c, b"carol").unwrap().key_package(c).unwrap();
    let out = alice
        .commit(CommitOptions::add(vec![bob.key_package.clone(), carol.key_package.clone()]))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let w = out.welcome.unwrap();
    let bob = Group::join(cs.clone(), &w, bob, None, config.clone()).unwrap();
    let carol = Group::join(cs, &w, carol, None, config).unwrap();
    (alice, bob, carol)
}

/// What to get wrong.
#[derive(Default)]
struct Forge {
    padding: Vec<u8>,
    leaf: Option<u32>,
    generation: Option<u32>,
    signer: Option<SignaturePrivateKey>,
}

/// Application data from Alice, encrypted as `seal_private` does, with
/// the changes of `f`.
fn forge(alice: &mut Group, f: Forge) -> MlsMessage {
    let cs = alice.public.cs.clone();
    let c = cs.as_ref();
    let content = FramedContent {
        group_id: alice.public.context.group_id.clone(),
        epoch: alice.public.context.epoch,
        sender: Sender::Member(LeafIndex(0)),
        authenticated_data: VLBytes::default(),
        body: FramedContentBody::Application(b"forged".to_vec().into()),
    };
    let sk = f.signer.unwrap_or_else(|| alice.identity.signer.duplicate());
    let signature = crate::framing::sign_content(c, &sk, WireFormat::PRIVATE_MESSAGE, &content, &alice.public.context).unwrap();
    let auth = FramedContentAuthData {
        signature: signature.into(),
        confirmation_tag: None,
    };
    let mut plaintext = Vec::new();
    content.body.serialize_untagged(&mut plaintext).unwrap();
    auth.tls_serialize(&mut plaintext).unwrap();
    plaintext.extend_from_slice(&f.padding);
    let aad = PrivateContentAad {
        group_id: content.group_id.clone(),
        epoch: content.epoch,
        content_type: ContentType::APPLICATION,
        authenticated_data: content.authenticated_data.clone(),
    }
    .tls_serialize_detached()
    .unwrap();
    let key = alice.secret_tree.next_key(c, 0, RatchetType::Application).unwrap();
    let reuse_guard = [1u8, 2, 3, 4];
    let mut nonce = key.nonce.as_bytes().to_vec();
    for (n, g) in nonce.iter_mut().zip(reuse_guard) {
        *n ^= g;
    }
    let ciphertext = c.aead_seal(key.key.as_bytes(), &nonce, &aad, &plaintext).unwrap();
    let sender_data = SenderData {
        leaf_index: LeafIndex(f.leaf.unwrap_or(0)),
        generation: f.generation.unwrap_or(key.generation),
        reuse_guard,
    }
    .tls_serialize_detached()
    .unwrap();
    let (sd_key, sd_nonce) = sender_data_key_nonce(c, alice.secrets.sender_data_secret.as_bytes(), &ciphertext).unwrap();
    let sd_aad = SenderDataAad {
        group_id: content.group_id.clone(),
        epoch: content.epoch,
        content_type: ContentType::APPLICATION,
    }
    .tls_serialize_detached()
    .unwrap();
    let encrypted_sender_data = c.aead_seal(sd_key.as_bytes(), sd_nonce.as_bytes(), &sd_aad, &sender_data).unwrap();
    MlsMessage::new(MlsMessageBody::PrivateMessage(PrivateMessage {
        group_id: content.group_id,
        epoch: content.epoch,
        content_type: ContentType::APPLICATION,
        authenticated_data: content.authenticated_data,
        encrypted_sender_data: encrypted_sender_data.into(),
        ciphertext: ciphertext.into(),
    }))
}

fn rejects(g: &mut Group, m: &MlsMessage) -> Error {
    let before = g.save().unwrap();
    let e = g.process_message(m).expect_err("accepted");
    assert!(g.save().unwrap() == before, "a rejected message changed the state");
    e
}

#[test]
fn forged_but_correct_message_is_accepted() {
    // The forging itself is faithful: with nothing wrong, Bob accepts it.
    let (mut alice, mut bob, _) = trio();
    let m = forge(&mut alice, Forge::default());
    assert!(matches!(bob.process_message(&m).unwrap(), Received::Application { .. }));
}

#[test]
fn s6_3_1_padding_must_be_zero() {
    let (mut alice, mut bob, _) = trio();
    let m = forge(
        &mut alice,
        Forge {
            padding: vec![0, 0, 1, 0],
            ..Forge::default()
        },
    );
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Peer(PeerError::NonZeroPadding)), "{e:?}");
}

#[test]
fn s6_3_1_zero_padding_is_accepted() {
    let (mut alice, mut bob, _) = trio();
    let m = forge(
        &mut alice,
        Forge {
            padding: vec![0; 100],
            ..Forge::default()
        },
    );
    assert!(matches!(bob.process_message(&m).unwrap(), Received::Application { .. }));
}

#[test]
fn s6_3_1_decrypted_content_signature_must_verify() {
    let (mut alice, mut bob, carol) = trio();
    let m = forge(
        &mut alice,
        Forge {
            signer: Some(carol.identity.signer.duplicate()),
            ..Forge::default()
        },
    );
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "{e:?}");
}

#[test]
fn s6_3_2_sender_data_leaf_must_not_be_blank() {
    let (mut alice, mut bob, _) = trio();
    let m = forge(
        &mut alice,
        Forge {
            leaf: Some(3),
            ..Forge::default()
        },
    );
    // Leaf 3 has its own ratchet, so Alice's key does not open the content:
    // the blank-leaf check must come first to report the real fault.
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Peer(PeerError::UnknownSender)), "{e:?}");
}

#[test]
fn s6_3_2_sender_data_leaf_must_be_in_the_tree() {
    let (mut alice, mut bob, _) = trio();
    let m = forge(
        &mut alice,
        Forge {
            leaf: Some(9),
            ..Forge::default()
        },
    );
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Peer(PeerError::LeafOutOfRange(9))), "{e:?}");
}

#[test]
fn s12_4_2_generation_beyond_the_forward_limit() {
    let (mut alice, mut bob, _) = trio();
    let m = forge(
        &mut alice,
        Forge {
            generation: Some(5_000),
            ..Forge::default()
        },
    );
    let e = rejects(&mut bob, &m);
    assert!(
        matches!(e, Error::Peer(PeerError::GenerationTooFarAhead { generation: 5_000, .. })),
        "{e:?}"
    );
}

#[test]
fn s12_4_2_content_must_decrypt() {
    let (mut alice, mut bob, _) = trio();
    let mut m = alice.encrypt_application(b"hello", b"").unwrap();
    let MlsMessageBody::PrivateMessage(pm) = &mut m.body else {
        unreachable!()
    };
    // The last byte: outside the sample the sender-data key is derived
    // from, so the sender data still opens and the content does not.
    let mut ct = pm.ciphertext.as_slice().to_vec();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    pm.ciphertext = ct.into();
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::DecryptionFailed)), "{e:?}");
}

#[test]
fn s6_3_2_sender_data_must_decrypt() {
    let (mut alice, mut bob, _) = trio();
    let mut m = alice.encrypt_application(b"hello", b"").unwrap();
    let MlsMessageBody::PrivateMessage(pm) = &mut m.body else {
        unreachable!()
    };
    let mut sd = pm.encrypted_sender_data.as_slice().to_vec();
    sd[0] ^= 1;
    pm.encrypted_sender_data = sd.into();
    let e = rejects(&mut bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::DecryptionFailed)), "{e:?}");
}
