//! The vectors of draft-ietf-mls-targeted-messages (editor's copy after
//! -01, appendix "Test Vectors"), copied into
//! `test-vectors/extensions/targeted-messages.json`: the recipient opens
//! each message with the steps of "Recipient Validation", and the result
//! must be the expected data, authenticated data and padding length. Each
//! case also checks that a flipped ciphertext byte, another recipient
//! index, another epoch and another recipient key are refused.

use mlsx_base::codec::{LeafNode, MlsMessage};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey};
use mlsx_base::tree::math::LeafIndex;
use mlsx_extensions::targeted::{self, Epoch, TargetedKeys, TargetedMessage};
use serde::Deserialize;

use super::{check, decode};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    epoch: u64,
    sender_leaf_index: u32,
    recipient_leaf_index: u32,
    padding_length: usize,
    group_id: Hex,
    exporter_secret: Hex,
    sender_leaf_node: Hex,
    recipient_encryption_priv: Hex,
    authenticated_data: Hex,
    application_data: Hex,
    targeted_message: Hex,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    targeted::register_syntax();
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &Case| c.cipher_suite,
        |cs, c| check_case(cs.as_ref(), c),
    )
}

fn check_case(cs: &dyn CipherSuiteProvider, c: &Case) -> Result<(), String> {
    let sender: LeafNode = decode("sender_leaf_node", &c.sender_leaf_node)?;
    let message: MlsMessage = decode("targeted_message", &c.targeted_message)?;
    let m = targeted::from_message(&message)
        .map_err(|e| format!("targeted_message: {e}"))?
        .ok_or("targeted_message: not an mls_targeted_message")?;
    let keys = TargetedKeys::from_exporter_secret(cs, &c.exporter_secret).map_err(|e| e.to_string())?;
    let own_key = HpkePrivateKey::new(c.recipient_encryption_priv.to_vec());
    let sender_index = c.sender_leaf_index;
    let open = |m: &TargetedMessage, epoch: u64, own_leaf: u32, key: &HpkePrivateKey| {
        let at = Epoch {
            group_id: &c.group_id,
            epoch,
            own_leaf: LeafIndex(own_leaf),
        };
        targeted::open(
            cs,
            &keys,
            &at,
            key,
            |l| (l.0 == sender_index).then(|| sender.signature_key.as_slice().to_vec()),
            m,
        )
    };
    let opened = open(&m, c.epoch, c.recipient_leaf_index, &own_key).map_err(|e| format!("open: {e}"))?;
    if opened.sender != LeafIndex(c.sender_leaf_index) {
        return Err(format!("sender: got {}, want {}", opened.sender.0, c.sender_leaf_index));
    }
    check("application_data", &opened.application_data, &c.application_data)?;
    check("authenticated_data", &opened.authenticated_data, &c.authenticated_data)?;
    if opened.padding_length != c.padding_length {
        return Err(format!("padding_length: got {}, want {}", opened.padding_length, c.padding_length));
    }
    // Refusals: a flipped ciphertext byte (caught by the signature over its
    // hash, or by the sender data keyed on its first bytes), another
    // recipient, another epoch, another recipient key.
    let mut flipped = m.clone();
    let mut ct = flipped.ciphertext.as_slice().to_vec();
    if let Some(b) = ct.last_mut() {
        *b ^= 1;
    }
    flipped.ciphertext = ct.into();
    let refused = [
        (
            "flipped ciphertext",
            open(&flipped, c.epoch, c.recipient_leaf_index, &own_key).is_err(),
        ),
        ("other recipient", open(&m, c.epoch, c.recipient_leaf_index + 1, &own_key).is_err()),
        ("other epoch", open(&m, c.epoch + 1, c.recipient_leaf_index, &own_key).is_err()),
        (
            "other key",
            open(
                &m,
                c.epoch,
                c.recipient_leaf_index,
                &HpkePrivateKey::new(vec![1; c.recipient_encryption_priv.len()]),
            )
            .is_err(),
        ),
    ];
    match refused.iter().find(|(_, refused)| !refused) {
        Some((what, _)) => Err(format!("{what}: accepted")),
        None => Ok(()),
    }
}
