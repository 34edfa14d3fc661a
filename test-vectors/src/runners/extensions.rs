//! Vectors for draft-ietf-mls-extensions (editor's copy after -09), which
//! has none of its own: files in `test-vectors/extensions/`, written by
//! `mlsx vectors generate --set extensions` and checked by the same
//! runner. Each case is self-contained; `test-vectors/extensions/README.md`
//! gives the formats.

use std::sync::Arc;

use mlsx_base::codec::{ApplicationPsk, Extension, GroupContext, HpkeCiphertext, PreSharedKeyId, Proposal, Psk, VLBytes, decode, encode};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret, SignaturePrivateKey};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};
use mlsx_base::schedule::psk_secret;
use mlsx_extensions::safe::{hazmat, operation_label};
use mlsx_extensions::{
    APPLICATION_EXPORT_LABEL, Component, ExporterTree, Extensions, GroupRequirements, Origin, Rejection, SafeAad, safe_encrypt_with_label,
    safe_verify_with_label,
};
use serde::{Deserialize, Serialize};

use super::generate::Inputs;
use super::{check, ctx};
use crate::{Hex, Report};

// ------------------------------------------------------------ exporter tree

#[derive(Deserialize, Serialize)]
struct Export {
    component_id: u16,
    secret: Hex,
}

#[derive(Deserialize, Serialize)]
struct ExporterCase {
    cipher_suite: u16,
    epoch_secret: Hex,
    application_export_secret: Hex,
    exports: Vec<Export>,
}

/// The component ids every exporter-tree case covers: the ends of the
/// range, the combiner's, a GREASE value, the first private-use id.
const EXPORT_IDS: [u16; 7] = [0x0000, 0x0001, 0x0006, 0x0a0a, 0x8000, 0xfffe, 0xffff];

pub(crate) fn exporter_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &ExporterCase| c.cipher_suite,
        |cs, c| exporter_check(cs.as_ref(), c),
    )
}

fn exporter_check(cs: &dyn CipherSuiteProvider, c: &ExporterCase) -> Result<(), String> {
    let root = cs
        .derive_secret(&c.epoch_secret, APPLICATION_EXPORT_LABEL)
        .map_err(ctx("application_export_secret"))?;
    check("application_export_secret", root.as_bytes(), &c.application_export_secret)?;
    // All exports from one tree, in the file's order, then each alone.
    let mut tree = ExporterTree::new(root.duplicate());
    for e in &c.exports {
        let got = tree.export(cs, e.component_id).map_err(ctx("export"))?;
        check(&format!("secret of {:#06x}", e.component_id), got.as_bytes(), &e.secret)?;
        if tree.export(cs, e.component_id).is_ok() {
            return Err(format!("{:#06x} exported twice", e.component_id));
        }
        let alone = ExporterTree::new(root.duplicate())
            .export(cs, e.component_id)
            .map_err(ctx("export"))?;
        check("secret from a fresh tree", alone.as_bytes(), &e.secret)?;
    }
    Ok(())
}

fn exporter_generate(cs: &dyn CipherSuiteProvider, rng: &mut Inputs) -> Result<serde_json::Value, String> {
    let epoch_secret = rng.bytes(cs.hash_len());
    let root = cs.derive_secret(&epoch_secret, APPLICATION_EXPORT_LABEL).map_err(ctx("root"))?;
    let mut tree = ExporterTree::new(root.duplicate());
    let exports = EXPORT_IDS
        .iter()
        .map(|&id| {
            Ok(Export {
                component_id: id,
                secret: tree.export(cs, id).map_err(ctx("export"))?.as_bytes().into(),
            })
        })
        .collect::<Result<_, String>>()?;
    serde_json::to_value(ExporterCase {
        cipher_suite: cs.cipher_suite().value(),
        epoch_secret: epoch_secret.into(),
        application_export_secret: root.as_bytes().into(),
        exports,
    })
    .map_err(|e| e.to_string())
}

// ---------------------------------------------------- safe HPKE and signing

#[derive(Deserialize, Serialize)]
struct SafeEncrypt {
    #[serde(rename = "priv")]
    private: Hex,
    #[serde(rename = "pub")]
    public: Hex,
    label: String,
    /// The encoded ComponentOperationLabel.
    operation_label: Hex,
    context: Hex,
    plaintext: Hex,
    kem_output: Hex,
    ciphertext: Hex,
}

#[derive(Deserialize, Serialize)]
struct SafeSign {
    #[serde(rename = "priv")]
    private: Hex,
    #[serde(rename = "pub")]
    public: Hex,
    label: String,
    operation_label: Hex,
    content: Hex,
    signature: Hex,
}

#[derive(Deserialize, Serialize)]
struct SafeCryptoCase {
    cipher_suite: u16,
    component_id: u16,
    safe_encrypt_with_label: SafeEncrypt,
    safe_sign_with_label: SafeSign,
}

pub(crate) fn safe_crypto_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &SafeCryptoCase| c.cipher_suite,
        |cs, c| safe_crypto_check(cs.as_ref(), c),
    )
}

fn safe_crypto_check(cs: &dyn CipherSuiteProvider, c: &SafeCryptoCase) -> Result<(), String> {
    let id = c.component_id;
    let other = id ^ 1;
    let e = &c.safe_encrypt_with_label;
    check(
        "operation_label (encrypt)",
        &operation_label(id, e.label.as_bytes()).map_err(ctx("label"))?,
        &e.operation_label,
    )?;
    let sk = HpkePrivateKey::from_slice(&e.private);
    check(
        "HPKE public key",
        &cs.kem_public_key(&sk).map_err(ctx("kem_public_key"))?,
        &e.public,
    )?;
    let given = HpkeCiphertext {
        kem_output: VLBytes::new(e.kem_output.0.clone()),
        ciphertext: VLBytes::new(e.ciphertext.0.clone()),
    };
    let pt = hazmat::safe_decrypt_with_label(cs, &sk, id, e.label.as_bytes(), &e.context, &given).map_err(ctx("decrypt(given)"))?;
    check("plaintext", pt.as_bytes(), &e.plaintext)?;
    if hazmat::safe_decrypt_with_label(cs, &sk, other, e.label.as_bytes(), &e.context, &given).is_ok() {
        return Err("decrypted under another component id".into());
    }
    let own = safe_encrypt_with_label(cs, &e.public, id, e.label.as_bytes(), &e.context, &e.plaintext).map_err(ctx("encrypt"))?;
    let pt = hazmat::safe_decrypt_with_label(cs, &sk, id, e.label.as_bytes(), &e.context, &own).map_err(ctx("decrypt(own)"))?;
    check("plaintext(own)", pt.as_bytes(), &e.plaintext)?;

    let s = &c.safe_sign_with_label;
    check(
        "operation_label (sign)",
        &operation_label(id, s.label.as_bytes()).map_err(ctx("label"))?,
        &s.operation_label,
    )?;
    safe_verify_with_label(cs, &s.public, id, s.label.as_bytes(), &s.content, &s.signature).map_err(ctx("verify(given)"))?;
    if safe_verify_with_label(cs, &s.public, other, s.label.as_bytes(), &s.content, &s.signature).is_ok() {
        return Err("signature verified under another component id".into());
    }
    let signer = SignaturePrivateKey::from_slice(&s.private);
    let sig = hazmat::safe_sign_with_label(cs, &signer, id, s.label.as_bytes(), &s.content).map_err(ctx("sign"))?;
    safe_verify_with_label(cs, &s.public, id, s.label.as_bytes(), &s.content, &sig).map_err(ctx("verify(own)"))
}

fn safe_crypto_generate(cs: &dyn CipherSuiteProvider, rng: &mut Inputs) -> Result<serde_json::Value, String> {
    let nh = cs.hash_len();
    let id = u16::try_from(rng.u32() & 0xffff).map_err(|e| e.to_string())?;
    let (sk, pk) = cs.kem_derive_key_pair(&rng.bytes(nh)).map_err(ctx("HPKE key"))?;
    let (context, plaintext) = (rng.bytes(nh), rng.bytes(nh));
    let label = "SafeEncryptWithLabel";
    let ct = safe_encrypt_with_label(cs, &pk, id, label.as_bytes(), &context, &plaintext).map_err(ctx("encrypt"))?;
    let encrypt = SafeEncrypt {
        private: sk.as_bytes().into(),
        public: pk.into(),
        label: label.into(),
        operation_label: operation_label(id, label.as_bytes()).map_err(ctx("label"))?.into(),
        context: context.into(),
        plaintext: plaintext.into(),
        kem_output: ct.kem_output.as_slice().into(),
        ciphertext: ct.ciphertext.as_slice().into(),
    };
    let (sk, pk) = cs.signature_generate_key_pair().map_err(ctx("signature key"))?;
    let content = rng.bytes(nh);
    let label = "SafeSignWithLabel";
    let sign = SafeSign {
        signature: hazmat::safe_sign_with_label(cs, &sk, id, label.as_bytes(), &content)
            .map_err(ctx("sign"))?
            .into(),
        private: sk.as_bytes().into(),
        public: pk.into(),
        label: label.into(),
        operation_label: operation_label(id, label.as_bytes()).map_err(ctx("label"))?.into(),
        content: content.into(),
    };
    serde_json::to_value(SafeCryptoCase {
        cipher_suite: cs.cipher_suite().value(),
        component_id: id,
        safe_encrypt_with_label: encrypt,
        safe_sign_with_label: sign,
    })
    .map_err(|e| e.to_string())
}

// ----------------------------------------------------------------- SafeAAD

#[derive(Deserialize, Serialize)]
struct AadItem {
    component_id: u16,
    data: Hex,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct SafeAadCase {
    /// The items in increasing component order (absent for invalid cases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<Vec<AadItem>>,
    authenticated_data: Hex,
    valid: bool,
}

pub(crate) fn safe_aad_check(c: &SafeAadCase) -> Result<(), String> {
    let parsed = SafeAad::parse(&c.authenticated_data);
    match (parsed, c.valid, &c.items) {
        (Ok(aad), true, Some(items)) => {
            let got: Vec<(u16, &[u8])> = aad.aad_items.iter().map(|i| (i.component_id, i.aad_item_data.as_slice())).collect();
            let want: Vec<(u16, &[u8])> = items.iter().map(|i| (i.component_id, i.data.0.as_slice())).collect();
            if got != want {
                return Err("items differ".into());
            }
            let built = SafeAad::build(items.iter().rev().map(|i| (i.component_id, i.data.0.clone()))).map_err(ctx("build"))?;
            check("authenticated_data", &built, &c.authenticated_data)
        }
        (Err(_), false, _) => Ok(()),
        (Ok(_), false, _) => Err("accepted an invalid SafeAAD".into()),
        (Err(e), true, _) => Err(format!("refused a valid SafeAAD: {e}")),
        (Ok(_), true, None) => Err("valid case without items".into()),
    }
}

fn safe_aad_generate(rng: &mut Inputs) -> Result<String, String> {
    let item = |id: u16, data: Vec<u8>| AadItem {
        component_id: id,
        data: data.into(),
    };
    let valid_sets = vec![
        vec![],
        vec![item(0x8001, rng.bytes(5))],
        vec![item(0x0005, vec![]), item(0x0006, rng.bytes(3)), item(0xffff, rng.bytes(40))],
    ];
    let mut cases: Vec<SafeAadCase> = valid_sets
        .into_iter()
        .map(|items| {
            let aad = SafeAad::build(items.iter().map(|i| (i.component_id, i.data.0.clone()))).map_err(|e| e.to_string())?;
            Ok(SafeAadCase {
                items: Some(items),
                authenticated_data: aad.into(),
                valid: true,
            })
        })
        .collect::<Result<_, String>>()?;
    let raw = |bytes: Vec<u8>| SafeAadCase {
        items: None,
        authenticated_data: bytes.into(),
        valid: false,
    };
    // Unsorted, duplicated, trailing bytes, empty bytes, truncated.
    cases.push(raw(hex::decode("0a8002016180010162").map_err(|e| e.to_string())?));
    cases.push(raw(hex::decode("0a8001016180010162").map_err(|e| e.to_string())?));
    cases.push(raw(hex::decode("0580010161ff").map_err(|e| e.to_string())?));
    cases.push(raw(vec![]));
    cases.push(raw(hex::decode("05800102").map_err(|e| e.to_string())?));
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}

// ---------------------------------------------------------- AppDataUpdate

/// The component of the AppDataUpdate vectors: its new data is its current
/// data followed by each update, in commit order.
#[derive(Debug)]
struct Concat(u16);

impl Component for Concat {
    fn id(&self) -> u16 {
        self.0
    }
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let mut data = current.unwrap_or_default().to_vec();
        for (u, _) in updates {
            data.extend_from_slice(u);
        }
        Ok(data)
    }
}

/// The components of the AppDataUpdate vectors.
const CONCAT_IDS: [u16; 3] = [0x8001, 0x8002, 0x8003];

#[derive(Deserialize, Serialize)]
struct AppDataUpdateCase {
    cipher_suite: u16,
    group_context_before: Hex,
    /// Encoded `Proposal`s, in commit order.
    proposals: Vec<Hex>,
    valid: bool,
    /// `group_context_before` with the extensions the proposals produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_context_after: Option<Hex>,
    /// `Hash(group_context_after)` with the suite's hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_context_after_hash: Option<Hex>,
}

/// A registry with the concatenating components, installed in a config.
fn concat_setup(cs: &dyn CipherSuiteProvider) -> Result<(Extensions, GroupConfig, Identity), String> {
    let mut ext = Extensions::new();
    for id in CONCAT_IDS {
        ext.register(Arc::new(Concat(id))).map_err(ctx("register"))?;
    }
    let mut config = GroupConfig::default();
    ext.install(&mut config).map_err(ctx("install"))?;
    let mut identity = Identity::basic(cs, b"vector").map_err(ctx("identity"))?.without_grease();
    ext.advertise(&mut identity).map_err(ctx("advertise"))?;
    Ok((ext, config, identity))
}

/// Applies `proposals` in a one-member group whose GroupContext has
/// `extensions`; returns the new extensions.
fn apply_in_group(
    cs: &Arc<dyn CipherSuiteProvider>,
    group_id: &[u8],
    extensions: Vec<Extension>,
    proposals: Vec<Proposal>,
) -> Result<Vec<Extension>, String> {
    let (_, config, identity) = concat_setup(cs.as_ref())?;
    let mut g = Group::create_with_extensions(cs.clone(), identity, group_id.to_vec(), extensions, config).map_err(ctx("create"))?;
    g.commit(CommitOptions {
        proposals,
        force_path: false,
        ..CommitOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let staged = g.pending_commit().ok_or("no pending commit")?;
    Ok(staged.context().extensions.clone())
}

pub(crate) fn app_data_update_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &AppDataUpdateCase| c.cipher_suite,
        |cs, c| app_data_update_check(&cs, c),
    )
}

fn app_data_update_check(cs: &Arc<dyn CipherSuiteProvider>, c: &AppDataUpdateCase) -> Result<(), String> {
    Extensions::new().register_syntax();
    let before: GroupContext = decode(&c.group_context_before).map_err(ctx("group_context_before"))?;
    let proposals = c
        .proposals
        .iter()
        .map(|p| decode::<Proposal>(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ctx("proposal"))?;
    let result = apply_in_group(cs, before.group_id.as_slice(), before.extensions.clone(), proposals);
    match (result, c.valid) {
        (Ok(extensions), true) => {
            let after = GroupContext { extensions, ..before };
            let encoded = encode(&after).map_err(ctx("encode"))?;
            check(
                "group_context_after",
                &encoded,
                c.group_context_after.as_deref().unwrap_or_default(),
            )?;
            check(
                "group_context_after_hash",
                &cs.hash(&encoded).map_err(ctx("hash"))?,
                c.group_context_after_hash.as_deref().unwrap_or_default(),
            )
        }
        (Err(_), false) => Ok(()),
        (Ok(_), false) => Err("accepted an invalid proposal list".into()),
        (Err(e), true) => Err(format!("refused a valid proposal list: {e}")),
    }
}

fn app_data_update_generate(cs: &Arc<dyn CipherSuiteProvider>, rng: &mut Inputs) -> Result<Vec<serde_json::Value>, String> {
    let (ext, config, identity) = concat_setup(cs.as_ref())?;
    let [a, b, c] = CONCAT_IDS;
    let requirements = GroupRequirements {
        components: vec![a, b],
        data: vec![(a, rng.bytes(4))],
        ..GroupRequirements::default()
    };
    let with_dictionary = ext.group_context_extensions(&requirements).map_err(ctx("extensions"))?;
    // The same without a dictionary: AppDataUpdate appends one.
    let without_dictionary: Vec<Extension> = with_dictionary
        .iter()
        .filter(|e| e.extension_type != ext.code_points().app_data_dictionary)
        .cloned()
        .collect();
    let upd = |id: u16, d: Vec<u8>| ext.app_data_update(id, d).map_err(|e| e.to_string());
    let rm = |id: u16| ext.app_data_remove(id).map_err(|e| e.to_string());
    let lists: Vec<(Vec<Extension>, Vec<Proposal>, bool)> = vec![
        (
            with_dictionary.clone(),
            vec![upd(a, rng.bytes(3))?, upd(b, rng.bytes(2))?, upd(a, rng.bytes(1))?],
            true,
        ),
        (with_dictionary.clone(), vec![rm(a)?, upd(c, rng.bytes(5))?], true),
        (without_dictionary, vec![upd(b, rng.bytes(2))?], true),
        (with_dictionary.clone(), vec![upd(a, rng.bytes(1))?, rm(a)?], false),
        (with_dictionary.clone(), vec![rm(a)?, rm(a)?], false),
        (with_dictionary, vec![rm(c)?], false),
    ];
    let group_id = rng.bytes(16);
    let mut cases = vec![];
    for (extensions, proposals, valid) in lists {
        let g = Group::create_with_extensions(
            cs.clone(),
            identity.duplicate(),
            group_id.clone(),
            extensions.clone(),
            config.clone(),
        )
        .map_err(ctx("create"))?;
        let before = g.context().clone();
        let encoded_proposals = proposals
            .iter()
            .map(|p| encode(p).map(Hex))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ctx("encode"))?;
        let result = apply_in_group(cs, &group_id, extensions, proposals);
        let (after, hash) = match (&result, valid) {
            (Ok(extensions), true) => {
                let after = encode(&GroupContext {
                    extensions: extensions.clone(),
                    ..before.clone()
                })
                .map_err(ctx("encode"))?;
                let hash = cs.hash(&after).map_err(ctx("hash"))?;
                (Some(Hex(after)), Some(Hex(hash)))
            }
            (Err(_), false) => (None, None),
            (r, _) => return Err(format!("generator disagrees with itself: {:?}", r.as_ref().err())),
        };
        cases.push(
            serde_json::to_value(AppDataUpdateCase {
                cipher_suite: cs.cipher_suite().value(),
                group_context_before: encode(&before).map_err(ctx("encode"))?.into(),
                proposals: encoded_proposals,
                valid,
                group_context_after: after,
                group_context_after_hash: hash,
            })
            .map_err(|e| e.to_string())?,
        );
    }
    Ok(cases)
}

// ---------------------------------------------------------- application PSK

#[derive(Deserialize, Serialize)]
struct AppPsk {
    component_id: u16,
    psk_id: Hex,
    psk: Hex,
    psk_nonce: Hex,
    /// The encoded `PreSharedKeyID`.
    pre_shared_key_id: Hex,
}

#[derive(Deserialize, Serialize)]
struct AppPskCase {
    cipher_suite: u16,
    psks: Vec<AppPsk>,
    psk_secret: Hex,
}

fn app_psk_id(p: &AppPsk) -> PreSharedKeyId {
    PreSharedKeyId {
        psk: Psk::Application(ApplicationPsk {
            component_id: p.component_id,
            psk_id: VLBytes::new(p.psk_id.0.clone()),
        }),
        psk_nonce: VLBytes::new(p.psk_nonce.0.clone()),
    }
}

pub(crate) fn app_psk_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &AppPskCase| c.cipher_suite,
        |cs, c| app_psk_check(cs.as_ref(), c),
    )
}

fn app_psk_check(cs: &dyn CipherSuiteProvider, c: &AppPskCase) -> Result<(), String> {
    let ids: Vec<PreSharedKeyId> = c.psks.iter().map(app_psk_id).collect();
    for (id, p) in ids.iter().zip(&c.psks) {
        check("pre_shared_key_id", &encode(id).map_err(ctx("encode"))?, &p.pre_shared_key_id)?;
        let parsed: PreSharedKeyId = decode(&p.pre_shared_key_id).map_err(ctx("decode"))?;
        if &parsed != id {
            return Err("pre_shared_key_id decodes to another id".into());
        }
    }
    let input: Vec<(&PreSharedKeyId, &[u8])> = ids.iter().zip(&c.psks).map(|(id, p)| (id, p.psk.0.as_slice())).collect();
    let secret = psk_secret(cs, &input).map_err(ctx("psk_secret"))?.ok_or("no psk_secret")?;
    check("psk_secret", secret.as_bytes(), &c.psk_secret)
}

fn app_psk_generate(cs: &dyn CipherSuiteProvider, rng: &mut Inputs) -> Result<Vec<serde_json::Value>, String> {
    let nh = cs.hash_len();
    (1..=3)
        .map(|n| {
            let psks = (0..n)
                .map(|i| {
                    let mut p = AppPsk {
                        component_id: [0x8003u16, 0x0006, 0xffff][i],
                        psk_id: rng.bytes(8).into(),
                        psk: rng.bytes(nh).into(),
                        psk_nonce: rng.bytes(nh).into(),
                        pre_shared_key_id: Hex::default(),
                    };
                    p.pre_shared_key_id = encode(&app_psk_id(&p)).map_err(ctx("encode"))?.into();
                    Ok(p)
                })
                .collect::<Result<Vec<_>, String>>()?;
            let ids: Vec<PreSharedKeyId> = psks.iter().map(app_psk_id).collect();
            let input: Vec<(&PreSharedKeyId, &[u8])> = ids.iter().zip(&psks).map(|(id, p)| (id, p.psk.0.as_slice())).collect();
            let secret: Secret = psk_secret(cs, &input).map_err(ctx("psk_secret"))?.ok_or("no psk_secret")?;
            serde_json::to_value(AppPskCase {
                cipher_suite: cs.cipher_suite().value(),
                psks,
                psk_secret: secret.as_bytes().into(),
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

// ------------------------------------------------------------- generation

/// The files of `test-vectors/extensions/`, by name.
pub const EXTENSION_FILES: [&str; 9] = [
    "exporter-tree.json",
    "safe-crypto.json",
    "safe-aad.json",
    "safe-aad-message.json",
    "app-data-update.json",
    "application-psk.json",
    "app-ack.json",
    "content-framing.json",
    "multi-credential.json",
];

/// The extension vector file `name` with cases for each suite (SafeAAD is
/// suite-independent), as pretty JSON.
pub fn generate_extension_file(name: &str, suites: &[Arc<dyn CipherSuiteProvider>]) -> Result<String, String> {
    if name == "safe-aad.json" {
        let first = suites.first().ok_or("no suite")?;
        return safe_aad_generate(&mut Inputs::new(first.as_ref(), name));
    }
    // Suite-independent files of AppAck and content advertisement.
    if let Some(first) = suites.first()
        && let Some(file) = super::app_content::generate(name, &mut Inputs::new(first.as_ref(), name))
    {
        return file;
    }
    let mut cases = vec![];
    for cs in suites {
        let mut rng = Inputs::new(cs.as_ref(), name);
        let at = |e: String| format!("{name} for suite {:#06x}: {e}", cs.cipher_suite().value());
        match name {
            "exporter-tree.json" => cases.push(exporter_generate(cs.as_ref(), &mut rng).map_err(at)?),
            "safe-crypto.json" => cases.push(safe_crypto_generate(cs.as_ref(), &mut rng).map_err(at)?),
            "safe-aad-message.json" => cases.push(safe_aad_message_generate(cs.as_ref(), &mut rng).map_err(at)?),
            "app-data-update.json" => cases.extend(app_data_update_generate(cs, &mut rng).map_err(at)?),
            "application-psk.json" => cases.extend(app_psk_generate(cs.as_ref(), &mut rng).map_err(at)?),
            "multi-credential.json" => cases.push(super::app_content::multi_generate(cs.as_ref(), &mut rng).map_err(at)?),
            other => return Err(format!("no extension vector file {other}")),
        }
    }
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}

// ------------------------------------------------- SafeAAD framing of messages

#[derive(Deserialize, Serialize)]
struct SafeAadMessageCase {
    cipher_suite: u16,
    group_id: Hex,
    epoch: u64,
    tree_hash: Hex,
    confirmed_transcript_hash: Hex,
    /// The GroupContext's extensions (an encoded `Extension` vector); its
    /// app_data_dictionary has the safe_aad component, so SafeAAD is on.
    extensions: Hex,
    signature_priv: Hex,
    signature_pub: Hex,
    encryption_secret: Hex,
    sender_data_secret: Hex,
    membership_key: Hex,
    items: Vec<AadItem>,
    /// The SafeAAD of `items`: the whole authenticated_data of both messages.
    authenticated_data: Hex,
    application: Hex,
    /// A PrivateMessage from leaf 1 (of 2) carrying `application`.
    application_priv: Hex,
    proposal: Hex,
    /// A PublicMessage from leaf 1 carrying `proposal`.
    proposal_pub: Hex,
}

impl SafeAadMessageCase {
    fn context(&self) -> Result<GroupContext, String> {
        Ok(GroupContext {
            version: mlsx_base::codec::ProtocolVersion::MLS10,
            cipher_suite: mlsx_base::codec::CipherSuite(self.cipher_suite),
            group_id: VLBytes::new(self.group_id.0.clone()),
            epoch: self.epoch,
            tree_hash: VLBytes::new(self.tree_hash.0.clone()),
            confirmed_transcript_hash: VLBytes::new(self.confirmed_transcript_hash.0.clone()),
            extensions: decode(&self.extensions).map_err(ctx("extensions"))?,
        })
    }

    fn secret_tree(&self) -> Result<mlsx_base::schedule::SecretTree, String> {
        mlsx_base::schedule::SecretTree::new(
            Secret::from_slice(&self.encryption_secret),
            2,
            mlsx_base::schedule::SecretTreeConfig::default(),
        )
        .map_err(ctx("secret tree"))
    }
}

pub(crate) fn safe_aad_message_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &SafeAadMessageCase| c.cipher_suite,
        |cs, c| safe_aad_message_check(cs.as_ref(), c),
    )
}

fn safe_aad_message_check(cs: &dyn CipherSuiteProvider, c: &SafeAadMessageCase) -> Result<(), String> {
    use mlsx_base::codec::{FramedContentBody, MlsMessage, MlsMessageBody};
    use mlsx_base::framing::{unprotect_private, verify_public};
    let context = c.context()?;
    let ext = Extensions::new();
    let dictionary = ext.dictionary(&context).map_err(ctx("dictionary"))?;
    if dictionary.get(mlsx_extensions::SAFE_AAD).is_none() {
        return Err("the GroupContext has no safe_aad component".into());
    }
    let items: Vec<(u16, Vec<u8>)> = c.items.iter().map(|i| (i.component_id, i.data.0.clone())).collect();
    check(
        "authenticated_data",
        &SafeAad::build(items).map_err(ctx("build"))?,
        &c.authenticated_data,
    )?;
    let MlsMessageBody::PrivateMessage(m) = decode::<MlsMessage>(&c.application_priv).map_err(ctx("application_priv"))?.body else {
        return Err("application_priv is not a PrivateMessage".into());
    };
    check(
        "PrivateMessage.authenticated_data",
        m.authenticated_data.as_slice(),
        &c.authenticated_data,
    )?;
    let tree = c.secret_tree()?;
    let (dec, _) = unprotect_private(cs, &m, &context, &tree, &c.sender_data_secret).map_err(ctx("unprotect"))?;
    let ac = dec.verify(cs, &c.signature_pub, &context).map_err(ctx("signature"))?;
    check(
        "FramedContent.authenticated_data",
        ac.content.authenticated_data.as_slice(),
        &c.authenticated_data,
    )?;
    let FramedContentBody::Application(data) = &ac.content.body else {
        return Err("not application data".into());
    };
    check("application", data.as_slice(), &c.application)?;
    let MlsMessageBody::PublicMessage(p) = decode::<MlsMessage>(&c.proposal_pub).map_err(ctx("proposal_pub"))?.body else {
        return Err("proposal_pub is not a PublicMessage".into());
    };
    let ac = verify_public(cs, &p, &context, Some(&c.membership_key), &c.signature_pub).map_err(ctx("verify"))?;
    check(
        "proposal authenticated_data",
        ac.content.authenticated_data.as_slice(),
        &c.authenticated_data,
    )?;
    let FramedContentBody::Proposal(proposal) = &ac.content.body else {
        return Err("not a proposal".into());
    };
    check("proposal", &encode(proposal).map_err(ctx("encode"))?, &c.proposal)?;
    let parsed = SafeAad::parse(&c.authenticated_data).map_err(ctx("parse"))?;
    if parsed.aad_items.len() != c.items.len() {
        return Err("item count differs".into());
    }
    Ok(())
}

fn safe_aad_message_generate(cs: &dyn CipherSuiteProvider, rng: &mut Inputs) -> Result<serde_json::Value, String> {
    use mlsx_base::codec::{FramedContent, FramedContentBody, MlsMessage, MlsMessageBody, Remove, Sender};
    use mlsx_base::framing::{protect_private, protect_public};
    use mlsx_base::tree::math::LeafIndex;
    let nh = cs.hash_len();
    let ext = Extensions::new();
    let extensions = ext
        .group_context_extensions(&GroupRequirements {
            safe_aad: Some(vec![0x8001]),
            ..GroupRequirements::default()
        })
        .map_err(ctx("extensions"))?;
    let (sk, pk) = cs.signature_generate_key_pair().map_err(ctx("signature key"))?;
    let items = vec![
        AadItem {
            component_id: 0x8001,
            data: rng.bytes(6).into(),
        },
        AadItem {
            component_id: 0x8002,
            data: rng.bytes(3).into(),
        },
    ];
    let aad = SafeAad::build(items.iter().map(|i| (i.component_id, i.data.0.clone()))).map_err(ctx("build"))?;
    let mut case = SafeAadMessageCase {
        cipher_suite: cs.cipher_suite().value(),
        group_id: rng.bytes(16).into(),
        epoch: u64::from(rng.u32()),
        tree_hash: rng.bytes(nh).into(),
        confirmed_transcript_hash: rng.bytes(nh).into(),
        extensions: encode(&extensions).map_err(ctx("encode"))?.into(),
        signature_priv: sk.as_bytes().into(),
        signature_pub: pk.into(),
        encryption_secret: rng.bytes(nh).into(),
        sender_data_secret: rng.bytes(nh).into(),
        membership_key: rng.bytes(nh).into(),
        items,
        authenticated_data: aad.clone().into(),
        application: rng.bytes(24).into(),
        application_priv: Hex::default(),
        proposal: Hex::default(),
        proposal_pub: Hex::default(),
    };
    let context = case.context()?;
    let content = |body: FramedContentBody| FramedContent {
        group_id: VLBytes::new(case.group_id.0.clone()),
        epoch: case.epoch,
        sender: Sender::Member(LeafIndex(1)),
        authenticated_data: VLBytes::new(aad.clone()),
        body,
    };
    let mut tree = case.secret_tree()?;
    let private = protect_private(
        cs,
        &sk,
        content(FramedContentBody::Application(VLBytes::new(case.application.0.clone()))),
        None,
        &context,
        &mut tree,
        &case.sender_data_secret,
        0,
    )
    .map_err(ctx("protect_private"))?;
    let proposal = Proposal::Remove(Remove { removed: LeafIndex(0) });
    let public = protect_public(
        cs,
        &sk,
        content(FramedContentBody::Proposal(proposal.clone())),
        None,
        &context,
        Some(&case.membership_key),
    )
    .map_err(ctx("protect_public"))?;
    case.application_priv = encode(&MlsMessage::new(MlsMessageBody::PrivateMessage(private)))
        .map_err(ctx("encode"))?
        .into();
    case.proposal = encode(&proposal).map_err(ctx("encode"))?.into();
    case.proposal_pub = encode(&MlsMessage::new(MlsMessageBody::PublicMessage(public)))
        .map_err(ctx("encode"))?
        .into();
    serde_json::to_value(case).map_err(|e| e.to_string())
}
