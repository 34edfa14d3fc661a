//! `key-schedule.json`: five epochs of the key schedule (RFC 9420 §8).

use mlsx_base::codec::{CipherSuite, GroupContext, ProtocolVersion, VLBytes, encode};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::schedule::{EpochSecretRegistry, EpochSecrets, joiner_secret};
use serde::{Deserialize, Serialize};

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct Exporter {
    label: String,
    context: Hex,
    length: usize,
    secret: Hex,
}

#[derive(Deserialize, Serialize)]
struct Epoch {
    tree_hash: Hex,
    commit_secret: Hex,
    psk_secret: Hex,
    confirmed_transcript_hash: Hex,
    group_context: Hex,
    joiner_secret: Hex,
    welcome_secret: Hex,
    init_secret: Hex,
    sender_data_secret: Hex,
    encryption_secret: Hex,
    exporter_secret: Hex,
    epoch_authenticator: Hex,
    external_secret: Hex,
    confirmation_key: Hex,
    membership_key: Hex,
    resumption_psk: Hex,
    external_pub: Hex,
    exporter: Exporter,
}

#[derive(Deserialize, Serialize)]
struct Case {
    cipher_suite: u16,
    group_id: Hex,
    initial_init_secret: Hex,
    epochs: Vec<Epoch>,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &Case| c.cipher_suite,
        |cs, c| check_case(cs.as_ref(), c),
    )
}

fn check_case(cs: &dyn CipherSuiteProvider, c: &Case) -> Result<(), String> {
    let mut init_secret = c.initial_init_secret.0.clone();
    let registry = EpochSecretRegistry::new();
    for (n, e) in (0u64..).zip(&c.epochs) {
        let gc = GroupContext {
            version: ProtocolVersion::MLS10,
            cipher_suite: CipherSuite(c.cipher_suite),
            group_id: VLBytes::new(c.group_id.0.clone()),
            epoch: n,
            tree_hash: VLBytes::new(e.tree_hash.0.clone()),
            confirmed_transcript_hash: VLBytes::new(e.confirmed_transcript_hash.0.clone()),
            extensions: vec![],
        };
        let at = |what: &str| format!("epoch {n} {what}");
        check(&at("group_context"), &encode(&gc).map_err(ctx("encode"))?, &e.group_context)?;
        let joiner = joiner_secret(cs, &init_secret, &e.commit_secret, &gc).map_err(ctx("joiner"))?;
        check(&at("joiner_secret"), joiner.as_bytes(), &e.joiner_secret)?;
        let s = EpochSecrets::from_joiner_secret(cs, joiner.as_bytes(), Some(&e.psk_secret), &gc, &registry).map_err(ctx("epoch"))?;
        for (name, got, want) in [
            ("welcome_secret", &s.welcome_secret, &e.welcome_secret),
            ("init_secret", &s.init_secret, &e.init_secret),
            ("sender_data_secret", &s.sender_data_secret, &e.sender_data_secret),
            ("encryption_secret", &s.encryption_secret, &e.encryption_secret),
            ("exporter_secret", &s.exporter_secret, &e.exporter_secret),
            ("epoch_authenticator", &s.epoch_authenticator, &e.epoch_authenticator),
            ("external_secret", &s.external_secret, &e.external_secret),
            ("confirmation_key", &s.confirmation_key, &e.confirmation_key),
            ("membership_key", &s.membership_key, &e.membership_key),
            ("resumption_psk", &s.resumption_psk, &e.resumption_psk),
        ] {
            check(&at(name), got.as_bytes(), want)?;
        }
        let (_, external_pub) = s.external_key_pair(cs).map_err(ctx("external key pair"))?;
        check(&at("external_pub"), &external_pub, &e.external_pub)?;
        let x = &e.exporter;
        let exported = s.export(cs, x.label.as_bytes(), &x.context, x.length).map_err(ctx("exporter"))?;
        check(&at("exporter"), exported.as_bytes(), &x.secret)?;
        init_secret = s.init_secret.as_bytes().to_vec();
    }
    Ok(())
}

/// A new five-epoch case for `cs`.
pub(crate) fn generate(cs: &dyn CipherSuiteProvider, rng: &mut super::generate::Inputs) -> Result<serde_json::Value, String> {
    let nh = cs.hash_len();
    let group_id = rng.bytes(nh);
    let initial_init_secret = rng.bytes(nh);
    let registry = EpochSecretRegistry::new();
    let mut init_secret = initial_init_secret.clone();
    let mut epochs = Vec::new();
    for n in 0u64..5 {
        let (tree_hash, commit_secret, psk_secret, cth) = (rng.bytes(nh), rng.bytes(nh), rng.bytes(nh), rng.bytes(nh));
        let gc = GroupContext {
            version: ProtocolVersion::MLS10,
            cipher_suite: cs.cipher_suite(),
            group_id: VLBytes::new(group_id.clone()),
            epoch: n,
            tree_hash: VLBytes::new(tree_hash.clone()),
            confirmed_transcript_hash: VLBytes::new(cth.clone()),
            extensions: vec![],
        };
        let joiner = joiner_secret(cs, &init_secret, &commit_secret, &gc).map_err(ctx("joiner"))?;
        let s = EpochSecrets::from_joiner_secret(cs, joiner.as_bytes(), Some(&psk_secret), &gc, &registry).map_err(ctx("epoch"))?;
        let (_, external_pub) = s.external_key_pair(cs).map_err(ctx("external key pair"))?;
        let context = rng.bytes(nh);
        let exported = s.export(cs, b"exporter label", &context, nh).map_err(ctx("exporter"))?;
        epochs.push(Epoch {
            group_context: encode(&gc).map_err(ctx("encode"))?.into(),
            tree_hash: tree_hash.into(),
            commit_secret: commit_secret.into(),
            psk_secret: psk_secret.into(),
            confirmed_transcript_hash: cth.into(),
            joiner_secret: joiner.as_bytes().into(),
            welcome_secret: s.welcome_secret.as_bytes().into(),
            init_secret: s.init_secret.as_bytes().into(),
            sender_data_secret: s.sender_data_secret.as_bytes().into(),
            encryption_secret: s.encryption_secret.as_bytes().into(),
            exporter_secret: s.exporter_secret.as_bytes().into(),
            epoch_authenticator: s.epoch_authenticator.as_bytes().into(),
            external_secret: s.external_secret.as_bytes().into(),
            confirmation_key: s.confirmation_key.as_bytes().into(),
            membership_key: s.membership_key.as_bytes().into(),
            resumption_psk: s.resumption_psk.as_bytes().into(),
            external_pub: external_pub.into(),
            exporter: Exporter {
                label: "exporter label".into(),
                context: context.into(),
                length: nh,
                secret: exported.as_bytes().into(),
            },
        });
        init_secret = s.init_secret.as_bytes().to_vec();
    }
    serde_json::to_value(Case {
        cipher_suite: cs.cipher_suite().value(),
        group_id: group_id.into(),
        initial_init_secret: initial_init_secret.into(),
        epochs,
    })
    .map_err(|e| e.to_string())
}
