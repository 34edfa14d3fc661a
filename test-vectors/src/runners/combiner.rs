//! Vectors for draft-ietf-mls-combiner (editor's copy), which has none of
//! its own: `test-vectors/combiner/`, written by `mlsx vectors generate
//! --set combiner` and checked by the same runner; the README there gives
//! the formats.

use std::sync::Arc;

use mlsx_base::codec::{ApplicationPsk, CipherSuite, GroupContext, PreSharedKeyId, Psk, VLBytes, decode, encode};
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, LabeledCrypto, Secret};
use mlsx_base::schedule::{EpochSecretRegistry, EpochSecrets, psk_secret};
use mlsx_extensions::{APPLICATION_EXPORT_LABEL, APQ_MLS_INFO, ExporterTree};
use serde::{Deserialize, Serialize};

use super::generate::Inputs;
use super::{check, ctx};
use crate::{Hex, Report};

/// One FULL commit's key-schedule link (§5.2): from the new PQ epoch's
/// `epoch_secret` to the new T epoch's `epoch_authenticator`.
#[derive(Deserialize, Serialize)]
struct KeyScheduleCase {
    t_cipher_suite: u16,
    pq_cipher_suite: u16,
    /// The new PQ epoch's epoch_secret (PQ KDF from here to apq_exporter).
    pq_epoch_secret: Hex,
    pq_application_export_secret: Hex,
    /// `SafeExportSecret(0x0006)` of the PQ epoch.
    apq_exporter: Hex,
    /// `DeriveSecret(apq_exporter, "psk_id")`, T KDF.
    apq_psk_id: Hex,
    /// `DeriveSecret(apq_exporter, "psk")`, T KDF.
    apq_psk: Hex,
    psk_nonce: Hex,
    /// The encoded PreSharedKeyID (application, 0x0006, apq_psk_id, psk_nonce).
    pre_shared_key_id: Hex,
    /// The T commit's psk_secret with that single PSK.
    psk_secret: Hex,
    /// The T commit's joiner_secret and new GroupContext (inputs).
    t_joiner_secret: Hex,
    t_group_context: Hex,
    /// DeriveSecret(pq_epoch_secret, "authentication").
    pq_epoch_authenticator: Hex,
    /// The new T epoch's epoch_authenticator.
    t_epoch_authenticator: Hex,
}

fn providers(provider: &dyn CryptoProvider, t: u16, pq: u16) -> Option<(Arc<dyn CipherSuiteProvider>, Arc<dyn CipherSuiteProvider>)> {
    Some((
        provider.cipher_suite_provider(CipherSuite(t))?,
        provider.cipher_suite_provider(CipherSuite(pq))?,
    ))
}

struct Derived {
    export_root: Secret,
    apq_exporter: Secret,
    apq_psk_id: Secret,
    apq_psk: Secret,
    id: PreSharedKeyId,
    psk_secret: Secret,
    pq_auth: Secret,
    t_auth: Secret,
}

fn derive(
    t: &dyn CipherSuiteProvider,
    pq: &dyn CipherSuiteProvider,
    pq_epoch_secret: &[u8],
    psk_nonce: &[u8],
    joiner: &[u8],
    context: &GroupContext,
) -> Result<Derived, String> {
    let export_root = pq
        .derive_secret(pq_epoch_secret, APPLICATION_EXPORT_LABEL)
        .map_err(ctx("application_export"))?;
    let apq_exporter = ExporterTree::new(export_root.duplicate())
        .export(pq, APQ_MLS_INFO)
        .map_err(ctx("export"))?;
    let apq_psk_id = t.derive_secret(apq_exporter.as_bytes(), b"psk_id").map_err(ctx("psk_id"))?;
    let apq_psk = t.derive_secret(apq_exporter.as_bytes(), b"psk").map_err(ctx("psk"))?;
    let id = PreSharedKeyId {
        psk: Psk::Application(ApplicationPsk {
            component_id: APQ_MLS_INFO,
            psk_id: VLBytes::new(apq_psk_id.as_bytes().to_vec()),
        }),
        psk_nonce: VLBytes::new(psk_nonce.to_vec()),
    };
    let psk_secret = psk_secret(t, &[(&id, apq_psk.as_bytes())])
        .map_err(ctx("psk_secret"))?
        .ok_or("no psk_secret")?;
    let pq_auth = pq
        .derive_secret(pq_epoch_secret, b"authentication")
        .map_err(ctx("authentication"))?;
    let secrets = EpochSecrets::from_joiner_secret(t, joiner, Some(psk_secret.as_bytes()), context, &EpochSecretRegistry::new())
        .map_err(ctx("T key schedule"))?;
    Ok(Derived {
        export_root,
        apq_exporter,
        apq_psk_id,
        apq_psk,
        id,
        psk_secret,
        pq_auth,
        t_auth: secrets.epoch_authenticator,
    })
}

pub(crate) fn key_schedule_run(json: &str, provider: &dyn CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    let cases: Vec<KeyScheduleCase> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        let Some((t, pq)) = providers(provider, c.t_cipher_suite, c.pq_cipher_suite) else {
            report.skip(
                i,
                format!("suite pair {:#06x}/{:#06x} unsupported", c.t_cipher_suite, c.pq_cipher_suite),
            );
            continue;
        };
        report.record(i, key_schedule_check(t.as_ref(), pq.as_ref(), c));
    }
    Ok(())
}

fn key_schedule_check(t: &dyn CipherSuiteProvider, pq: &dyn CipherSuiteProvider, c: &KeyScheduleCase) -> Result<(), String> {
    let context: GroupContext = decode(&c.t_group_context).map_err(ctx("t_group_context"))?;
    let d = derive(t, pq, &c.pq_epoch_secret, &c.psk_nonce, &c.t_joiner_secret, &context)?;
    check(
        "pq_application_export_secret",
        d.export_root.as_bytes(),
        &c.pq_application_export_secret,
    )?;
    check("apq_exporter", d.apq_exporter.as_bytes(), &c.apq_exporter)?;
    check("apq_psk_id", d.apq_psk_id.as_bytes(), &c.apq_psk_id)?;
    check("apq_psk", d.apq_psk.as_bytes(), &c.apq_psk)?;
    check("pre_shared_key_id", &encode(&d.id).map_err(ctx("encode"))?, &c.pre_shared_key_id)?;
    check("psk_secret", d.psk_secret.as_bytes(), &c.psk_secret)?;
    check("pq_epoch_authenticator", d.pq_auth.as_bytes(), &c.pq_epoch_authenticator)?;
    check("t_epoch_authenticator", d.t_auth.as_bytes(), &c.t_epoch_authenticator)
}

/// T suites 1–7 with each pure-ML-KEM PQ suite (TBD6, 7, 8, 10, 11).
pub(crate) fn key_schedule_generate(pairs: &[super::SuitePair]) -> Result<String, String> {
    let mut cases = vec![];
    for (t, pq) in pairs {
        let mut rng = Inputs::new(pq.as_ref(), &format!("combiner key-schedule {:#06x}", t.cipher_suite().value()));
        let pq_epoch_secret = rng.bytes(pq.hash_len());
        let psk_nonce = rng.bytes(t.hash_len());
        let joiner = rng.bytes(t.hash_len());
        let context = GroupContext {
            version: mlsx_base::codec::ProtocolVersion::MLS10,
            cipher_suite: t.cipher_suite(),
            group_id: VLBytes::new(rng.bytes(16)),
            epoch: u64::from(rng.u32()),
            tree_hash: VLBytes::new(rng.bytes(t.hash_len())),
            confirmed_transcript_hash: VLBytes::new(rng.bytes(t.hash_len())),
            extensions: vec![],
        };
        let d = derive(t.as_ref(), pq.as_ref(), &pq_epoch_secret, &psk_nonce, &joiner, &context)?;
        cases.push(KeyScheduleCase {
            t_cipher_suite: t.cipher_suite().value(),
            pq_cipher_suite: pq.cipher_suite().value(),
            pq_epoch_secret: pq_epoch_secret.into(),
            pq_application_export_secret: d.export_root.as_bytes().into(),
            apq_exporter: d.apq_exporter.as_bytes().into(),
            apq_psk_id: d.apq_psk_id.as_bytes().into(),
            apq_psk: d.apq_psk.as_bytes().into(),
            psk_nonce: psk_nonce.into(),
            pre_shared_key_id: encode(&d.id).map_err(ctx("encode"))?.into(),
            psk_secret: d.psk_secret.as_bytes().into(),
            t_joiner_secret: joiner.into(),
            t_group_context: encode(&context).map_err(ctx("encode"))?.into(),
            pq_epoch_authenticator: d.pq_auth.as_bytes().into(),
            t_epoch_authenticator: d.t_auth.as_bytes().into(),
        });
    }
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}
