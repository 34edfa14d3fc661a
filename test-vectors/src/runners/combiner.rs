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

// ------------------------------------------------ passive hybrid member

/// One message the passive member processes, and its state after.
#[derive(Deserialize, Serialize)]
struct PassiveEpoch {
    /// An APQMessagePair (FULL commit) or a T-group commit (PARTIAL).
    message: Hex,
    /// "FULL" or "PARTIAL".
    kind: String,
    t_epoch_authenticator: Hex,
    pq_epoch_authenticator: Hex,
}

/// A member that joins by a Welcome pair and follows every commit of a
/// hybrid session without committing (the passive-client format of the
/// official vectors, for both groups).
#[derive(Deserialize, Serialize)]
struct PassiveCase {
    t_cipher_suite: u16,
    pq_cipher_suite: u16,
    mode: u8,
    t_key_package: Hex,
    t_signature_priv: Hex,
    t_encryption_priv: Hex,
    t_init_priv: Hex,
    pq_key_package: Hex,
    pq_signature_priv: Hex,
    pq_encryption_priv: Hex,
    pq_init_priv: Hex,
    /// The Welcome pair (APQMessagePair of two Welcomes).
    welcome: Hex,
    initial_t_epoch_authenticator: Hex,
    initial_pq_epoch_authenticator: Hex,
    epochs: Vec<PassiveEpoch>,
}

fn mode_of(m: u8) -> Result<mlsx_combiner::Mode, String> {
    match m {
        0 => Ok(mlsx_combiner::Mode::ConfidentialityOnly),
        1 => Ok(mlsx_combiner::Mode::ConfidentialityAndAuthenticity),
        other => Err(format!("mode {other}")),
    }
}

fn vector_setup(
    t: Arc<dyn CipherSuiteProvider>,
    pq: Arc<dyn CipherSuiteProvider>,
    mode: mlsx_combiner::Mode,
) -> Result<mlsx_combiner::ApqSetup, String> {
    let mut setup = mlsx_combiner::ApqSetup::new(t, pq, mode).map_err(ctx("setup"))?;
    // Recorded KeyPackages outlive their lifetimes; receivers need not
    // check them (RFC 9420 §7.3 RECOMMENDED).
    setup.t_config.check_received_lifetimes = false;
    setup.pq_config.check_received_lifetimes = false;
    Ok(setup)
}

fn bundle(
    cs: &dyn CipherSuiteProvider,
    kp: &[u8],
    sig: &[u8],
    enc: &[u8],
    init: &[u8],
) -> Result<mlsx_base::group::KeyPackageBundle, String> {
    use mlsx_base::crypto::{HpkePrivateKey, SignaturePrivateKey};
    let key_package: mlsx_base::codec::KeyPackage = decode(kp).map_err(ctx("key_package"))?;
    let signer = SignaturePrivateKey::from_slice(sig);
    check(
        "signature key",
        &cs.signature_public_key(&signer).map_err(ctx("signature key"))?,
        key_package.leaf_node.signature_key.as_slice(),
    )?;
    let identity = mlsx_base::group::Identity {
        credential: key_package.leaf_node.credential.clone(),
        signature_key: key_package.leaf_node.signature_key.as_slice().to_vec(),
        signer,
        capabilities: key_package.leaf_node.capabilities.clone(),
        key_package_lifetime: 0,
        grease: false,
        grease_extensions: false,
        leaf_extensions: key_package.leaf_node.extensions.clone(),
        key_package_extensions: key_package.extensions.clone(),
    };
    Ok(mlsx_base::group::KeyPackageBundle {
        key_package,
        init_key: HpkePrivateKey::from_slice(init),
        leaf_key: HpkePrivateKey::from_slice(enc),
        identity,
    })
}

pub(crate) fn passive_run(json: &str, provider: &dyn CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    let cases: Vec<PassiveCase> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        let Some((t, pq)) = providers(provider, c.t_cipher_suite, c.pq_cipher_suite) else {
            report.skip(
                i,
                format!("suite pair {:#06x}/{:#06x} unsupported", c.t_cipher_suite, c.pq_cipher_suite),
            );
            continue;
        };
        report.record(i, passive_check(t, pq, c));
    }
    Ok(())
}

fn passive_check(t: Arc<dyn CipherSuiteProvider>, pq: Arc<dyn CipherSuiteProvider>, c: &PassiveCase) -> Result<(), String> {
    let setup = vector_setup(t.clone(), pq.clone(), mode_of(c.mode)?)?;
    let t_bundle = bundle(
        t.as_ref(),
        &c.t_key_package,
        &c.t_signature_priv,
        &c.t_encryption_priv,
        &c.t_init_priv,
    )?;
    let pq_bundle = bundle(
        pq.as_ref(),
        &c.pq_key_package,
        &c.pq_signature_priv,
        &c.pq_encryption_priv,
        &c.pq_init_priv,
    )?;
    let identity = mlsx_combiner::ApqIdentity {
        t: t_bundle.identity.duplicate(),
        pq: pq_bundle.identity.duplicate(),
    };
    let client = mlsx_combiner::ApqClient::with_identity(setup, identity).map_err(ctx("client"))?;
    let welcome: mlsx_base::codec::MlsMessage = decode(&c.welcome).map_err(ctx("welcome"))?;
    let mut session = client
        .join(
            &welcome,
            mlsx_combiner::ApqKeyPackageBundles {
                t: t_bundle,
                pq: pq_bundle,
            },
        )
        .map_err(ctx("join"))?;
    check(
        "initial T authenticator",
        session.t_group().epoch_authenticator(),
        &c.initial_t_epoch_authenticator,
    )?;
    check(
        "initial PQ authenticator",
        session.pq_group().epoch_authenticator(),
        &c.initial_pq_epoch_authenticator,
    )?;
    for (n, e) in c.epochs.iter().enumerate() {
        let msg: mlsx_base::codec::MlsMessage = decode(&e.message).map_err(ctx("message"))?;
        let got = session.process(&msg).map_err(|err| format!("epoch {n}: {err}"))?;
        let kind = match got {
            mlsx_combiner::ApqReceived::Full { .. } => "FULL",
            mlsx_combiner::ApqReceived::Partial => "PARTIAL",
            _ => return Err(format!("epoch {n}: not a commit")),
        };
        if kind != e.kind {
            return Err(format!("epoch {n}: {kind}, expected {}", e.kind));
        }
        check(
            &format!("epoch {n} T authenticator"),
            session.t_group().epoch_authenticator(),
            &e.t_epoch_authenticator,
        )?;
        check(
            &format!("epoch {n} PQ authenticator"),
            session.pq_group().epoch_authenticator(),
            &e.pq_epoch_authenticator,
        )?;
    }
    Ok(())
}

/// A 50-epoch scenario per setup: Alice, Bob and Carol in a session that
/// adds the passive member Dave; FULL commits every 5 commits by policy,
/// PARTIAL ones between; Erin added at epoch 10, Carol removed at 25,
/// Frank added at 40 (each a FULL commit).
pub(crate) fn passive_generate(setups: &[SuitePairMode]) -> Result<String, String> {
    let mut cases = vec![];
    for (t, pq, mode) in setups {
        cases.push(passive_scenario(t.clone(), pq.clone(), *mode)?);
    }
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}

/// A (T, PQ) suite pair with a mode.
pub type SuitePairMode = (Arc<dyn CipherSuiteProvider>, Arc<dyn CipherSuiteProvider>, mlsx_combiner::Mode);

fn passive_scenario(
    t: Arc<dyn CipherSuiteProvider>,
    pq: Arc<dyn CipherSuiteProvider>,
    mode: mlsx_combiner::Mode,
) -> Result<PassiveCase, String> {
    use mlsx_combiner::{ApqClient, ApqReceived, ApqSession, CommitKind, FullCommitPolicy};
    let mut setup = vector_setup(t.clone(), pq.clone(), mode)?;
    setup.policy = FullCommitPolicy {
        every: 5,
        max_age_seconds: None,
        inactive_after_seconds: None,
    };
    let client = |name: &str| ApqClient::new(setup.clone(), name.as_bytes()).map_err(ctx("client"));
    let mut members: Vec<ApqSession> = vec![
        client("alice")?
            .create_session(b"T vectors".to_vec(), b"PQ vectors".to_vec())
            .map_err(ctx("create"))?,
    ];
    let dave = client("dave")?;
    let (dave_kps, dave_bundles) = dave.key_packages().map_err(ctx("kp"))?;
    let others: Vec<ApqClient> = vec![client("bob")?, client("carol")?];
    let kps: Vec<_> = others
        .iter()
        .map(|c| c.key_packages())
        .collect::<Result<_, _>>()
        .map_err(ctx("kp"))?;
    let mut add = kps.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    add.push(dave_kps.clone());
    let out = members[0].add(add).map_err(ctx("add"))?;
    members[0].confirm().map_err(ctx("confirm"))?;
    let welcome = out.welcome.ok_or("no welcome")?;
    for (c, (_, b)) in others.into_iter().zip(kps) {
        members.push(c.join(&welcome, b).map_err(ctx("join"))?);
    }
    let mut passive = dave
        .join(
            &welcome,
            mlsx_combiner::ApqKeyPackageBundles {
                t: dave_bundles.t.duplicate(),
                pq: dave_bundles.pq.duplicate(),
            },
        )
        .map_err(ctx("join"))?;
    let case_head = (
        encode(&dave_bundles.t.key_package).map_err(ctx("encode"))?,
        encode(&dave_bundles.pq.key_package).map_err(ctx("encode"))?,
    );
    let initial = (
        passive.t_group().epoch_authenticator().to_vec(),
        passive.pq_group().epoch_authenticator().to_vec(),
    );
    let mut epochs = vec![];
    for e in 0..50usize {
        let from = e % members.len();
        let out = match e {
            10 | 40 => {
                let c = client(if e == 10 { "erin" } else { "frank" })?;
                let (kp, b) = c.key_packages().map_err(ctx("kp"))?;
                let out = members[from].add(vec![kp]).map_err(ctx("add"))?;
                members[from].confirm().map_err(ctx("confirm"))?;
                let w = out.welcome.clone().ok_or("no welcome")?;
                for (i, m) in members.iter_mut().enumerate() {
                    if i != from {
                        m.process(&out.message).map_err(ctx("process"))?;
                    }
                }
                members.push(c.join(&w, b).map_err(ctx("join"))?);
                out
            }
            25 => {
                let carol = members[2].t_group().identity().credential.clone();
                let remover = if from == 2 { 0 } else { from };
                let out = members[remover].remove(&[carol]).map_err(ctx("remove"))?;
                members[remover].confirm().map_err(ctx("confirm"))?;
                for (i, m) in members.iter_mut().enumerate() {
                    if i != remover {
                        m.process(&out.message).map_err(ctx("process"))?;
                    }
                }
                members.remove(2);
                out
            }
            _ => {
                let out = members[from].commit(vec![]).map_err(ctx("commit"))?;
                members[from].confirm().map_err(ctx("confirm"))?;
                for (i, m) in members.iter_mut().enumerate() {
                    if i != from {
                        m.process(&out.message).map_err(ctx("process"))?;
                    }
                }
                out
            }
        };
        let got = passive.process(&out.message).map_err(ctx("passive"))?;
        let kind = match (got, out.kind) {
            (ApqReceived::Full { .. }, CommitKind::Full) => "FULL",
            (ApqReceived::Partial, CommitKind::Partial) => "PARTIAL",
            _ => return Err("kinds differ".into()),
        };
        epochs.push(PassiveEpoch {
            message: encode(&out.message).map_err(ctx("encode"))?.into(),
            kind: kind.into(),
            t_epoch_authenticator: passive.t_group().epoch_authenticator().into(),
            pq_epoch_authenticator: passive.pq_group().epoch_authenticator().into(),
        });
    }
    Ok(PassiveCase {
        t_cipher_suite: t.cipher_suite().value(),
        pq_cipher_suite: pq.cipher_suite().value(),
        mode: mode as u8,
        t_key_package: case_head.0.into(),
        t_signature_priv: dave_bundles.t.identity.signer.as_bytes().into(),
        t_encryption_priv: dave_bundles.t.leaf_key.as_bytes().into(),
        t_init_priv: dave_bundles.t.init_key.as_bytes().into(),
        pq_key_package: case_head.1.into(),
        pq_signature_priv: dave_bundles.pq.identity.signer.as_bytes().into(),
        pq_encryption_priv: dave_bundles.pq.leaf_key.as_bytes().into(),
        pq_init_priv: dave_bundles.pq.init_key.as_bytes().into(),
        welcome: encode(&welcome).map_err(ctx("encode"))?.into(),
        initial_t_epoch_authenticator: initial.0.into(),
        initial_pq_epoch_authenticator: initial.1.into(),
        epochs,
    })
}
