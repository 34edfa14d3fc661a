//! `welcome.json`: decrypting a Welcome and checking its GroupInfo (RFC 9420 §12.4.3.1).

use mlsx_base::codec::{GroupInfo, GroupSecrets, KeyPackage, MlsMessage, MlsMessageBody, Welcome, encode};
use mlsx_base::crypto::labeled::KEY_PACKAGE_REF_LABEL;
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto};
use mlsx_base::schedule::{EpochSecretRegistry, EpochSecrets, verify_confirmation_tag, welcome_key_nonce, welcome_secret};
use serde::{Deserialize, Serialize};

use super::{ctx, decode};
use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct Case {
    cipher_suite: u16,
    init_priv: Hex,
    signer_pub: Hex,
    key_package: Hex,
    welcome: Hex,
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
    let MlsMessageBody::KeyPackage(kp) = decode::<MlsMessage>("key_package", &c.key_package)?.body else {
        return Err("key_package is not a KeyPackage".into());
    };
    let MlsMessageBody::Welcome(welcome) = decode::<MlsMessage>("welcome", &c.welcome)?.body else {
        return Err("welcome is not a Welcome".into());
    };
    let group_info = decrypt(cs, &welcome, &kp, &HpkePrivateKey::from_slice(&c.init_priv))?;
    cs.verify_with_label(
        &c.signer_pub,
        b"GroupInfoTBS",
        &group_info.tbs().map_err(ctx("tbs"))?,
        group_info.signature.as_slice(),
    )
    .map_err(ctx("GroupInfo signature"))?;
    Ok(())
}

fn decrypt(cs: &dyn CipherSuiteProvider, welcome: &Welcome, kp: &KeyPackage, init_priv: &HpkePrivateKey) -> Result<GroupInfo, String> {
    let kp_ref = cs
        .ref_hash(KEY_PACKAGE_REF_LABEL, &encode(kp).map_err(ctx("encode"))?)
        .map_err(ctx("KeyPackageRef"))?;
    let entry = welcome
        .secrets
        .iter()
        .find(|s| s.new_member.as_slice() == kp_ref)
        .ok_or("no entry for our KeyPackageRef")?;
    let plain = cs
        .decrypt_with_label(
            init_priv,
            b"Welcome",
            welcome.encrypted_group_info.as_slice(),
            &entry.encrypted_group_secrets,
        )
        .map_err(ctx("GroupSecrets decryption"))?;
    let secrets: GroupSecrets = decode("GroupSecrets", plain.as_bytes())?;
    let welcome_secret = welcome_secret(cs, secrets.joiner_secret.as_slice(), None).map_err(ctx("welcome secret"))?;
    let (key, nonce) = welcome_key_nonce(cs, welcome_secret.as_bytes()).map_err(ctx("welcome key"))?;
    let gi = cs
        .aead_open(key.as_bytes(), nonce.as_bytes(), &[], welcome.encrypted_group_info.as_slice())
        .map_err(ctx("GroupInfo decryption"))?;
    let group_info: GroupInfo = decode("GroupInfo", gi.as_bytes())?;
    let epoch = EpochSecrets::from_joiner_secret(
        cs,
        secrets.joiner_secret.as_slice(),
        None,
        &group_info.group_context,
        &EpochSecretRegistry::new(),
    )
    .map_err(ctx("key schedule"))?;
    verify_confirmation_tag(
        cs,
        epoch.confirmation_key.as_bytes(),
        group_info.group_context.confirmed_transcript_hash.as_slice(),
        group_info.confirmation_tag.as_slice(),
    )
    .map_err(ctx("confirmation tag"))?;
    Ok(group_info)
}

/// A new case for `cs`: Alice creates a group and adds Bob by Welcome (the
/// ratchet tree inside); the case holds Bob's init private key, his
/// KeyPackage, Alice's signature key and the Welcome.
pub(crate) fn generate(cs: &std::sync::Arc<dyn CipherSuiteProvider>) -> Result<serde_json::Value, String> {
    use mlsx_base::codec::ProtocolVersion;
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};

    let alice = Identity::basic(cs.as_ref(), b"alice").map_err(ctx("identity"))?;
    let signer_pub = alice.signature_key.clone();
    let mut group = Group::create(cs.clone(), alice, b"welcome vector".to_vec(), GroupConfig::default()).map_err(ctx("create"))?;
    let bob = Identity::basic(cs.as_ref(), b"bob")
        .and_then(|id| id.key_package(cs.as_ref()))
        .map_err(ctx("key package"))?;
    let out = group
        .commit(CommitOptions::add(vec![bob.key_package.clone()]))
        .map_err(ctx("commit"))?;
    let welcome = out.welcome.ok_or("no Welcome")?;
    let key_package = MlsMessage {
        version: ProtocolVersion::MLS10,
        body: MlsMessageBody::KeyPackage(bob.key_package.clone()),
    };
    serde_json::to_value(Case {
        cipher_suite: cs.cipher_suite().value(),
        init_priv: bob.init_key.as_bytes().into(),
        signer_pub: signer_pub.into(),
        key_package: encode(&key_package).map_err(ctx("encode"))?.into(),
        welcome: encode(&welcome).map_err(ctx("encode"))?.into(),
    })
    .map_err(|e| e.to_string())
}
