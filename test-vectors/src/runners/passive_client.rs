//! `passive-client-*.json`: join by Welcome, then follow every commit and
//! check the epoch authenticator after each (RFC 9420 §12.4.2, §12.4.3.1).

use std::collections::BTreeMap;
use std::sync::Arc;

use mlsx_base::codec::{KeyPackage, MlsMessage, MlsMessageBody, RatchetTreeNodes};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, Secret, SignaturePrivateKey};
use mlsx_base::group::{Group, GroupConfig, Identity, KeyPackageBundle, Received};
use serde::Deserialize;

use super::{check, ctx, decode};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct ExternalPsk {
    psk_id: Hex,
    psk: Hex,
}

#[derive(Deserialize)]
struct Epoch {
    proposals: Vec<Hex>,
    commit: Hex,
    epoch_authenticator: Hex,
}

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    external_psks: Vec<ExternalPsk>,
    key_package: Hex,
    signature_priv: Hex,
    encryption_priv: Hex,
    init_priv: Hex,
    welcome: Hex,
    ratchet_tree: Option<Hex>,
    initial_epoch_authenticator: Hex,
    epochs: Vec<Epoch>,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    super::run_per_suite(json, provider, report, |c: &Case| c.cipher_suite, check_case)
}

fn check_case(cs: Arc<dyn CipherSuiteProvider>, c: &Case) -> Result<(), String> {
    let kp: KeyPackage = match decode::<MlsMessage>("key_package", &c.key_package) {
        Ok(MlsMessage {
            body: MlsMessageBody::KeyPackage(kp),
            ..
        }) => kp,
        Ok(_) => return Err("key_package is not a KeyPackage".into()),
        Err(_) => decode("key_package", &c.key_package)?,
    };
    let signer = SignaturePrivateKey::from_slice(&c.signature_priv);
    let init_key = HpkePrivateKey::from_slice(&c.init_priv);
    let leaf_key = HpkePrivateKey::from_slice(&c.encryption_priv);
    check(
        "signature key",
        &cs.signature_public_key(&signer).map_err(ctx("signature key"))?,
        kp.leaf_node.signature_key.as_slice(),
    )?;
    check(
        "init key",
        &cs.kem_public_key(&init_key).map_err(ctx("init key"))?,
        kp.init_key.as_slice(),
    )?;
    check(
        "encryption key",
        &cs.kem_public_key(&leaf_key).map_err(ctx("encryption key"))?,
        kp.leaf_node.encryption_key.as_slice(),
    )?;
    let identity = Identity {
        credential: kp.leaf_node.credential.clone(),
        signature_key: kp.leaf_node.signature_key.as_slice().to_vec(),
        signer,
        capabilities: kp.leaf_node.capabilities.clone(),
        key_package_lifetime: 0,
    };
    let bundle = KeyPackageBundle {
        key_package: kp,
        init_key,
        leaf_key,
        identity,
    };
    let psks: BTreeMap<Vec<u8>, Secret> = c
        .external_psks
        .iter()
        .map(|p| (p.psk_id.0.clone(), Secret::from_slice(&p.psk)))
        .collect();
    let tree = match &c.ratchet_tree {
        Some(t) => Some(decode::<RatchetTreeNodes>("ratchet_tree", t)?),
        None => None,
    };
    let welcome = decode::<MlsMessage>("welcome", &c.welcome)?;
    // Recorded scenarios carry KeyPackages whose lifetimes may have ended
    // since they were generated: receiving-side lifetime checks are
    // RECOMMENDED, not required (RFC 9420 §7.3), so they are off here.
    let config = GroupConfig {
        check_received_lifetimes: false,
        ..GroupConfig::default()
    };
    let mut group = Group::join_with_psks(cs, &welcome, bundle, tree, config, psks).map_err(ctx("join"))?;
    check(
        "initial epoch authenticator",
        group.epoch_authenticator(),
        &c.initial_epoch_authenticator,
    )?;
    for (n, e) in c.epochs.iter().enumerate() {
        for p in &e.proposals {
            let msg = decode::<MlsMessage>("proposal", p)?;
            group.process_message(&msg).map_err(|err| format!("epoch {n}: proposal: {err}"))?;
        }
        let msg = decode::<MlsMessage>("commit", &e.commit)?;
        match group.process_message(&msg).map_err(|err| format!("epoch {n}: commit: {err}"))? {
            Received::Commit(staged) => group
                .merge_staged_commit(staged)
                .map_err(|err| format!("epoch {n}: merge: {err}"))?,
            _ => return Err(format!("epoch {n}: commit message is not a commit")),
        }
        check(
            &format!("epoch {n} authenticator"),
            group.epoch_authenticator(),
            &e.epoch_authenticator,
        )?;
    }
    Ok(())
}
