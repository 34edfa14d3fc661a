//! `crypto-basics.json`: the labeled operations (RFC 9420 §5, §8).

use mlsx_base::codec::{HpkeCiphertext, VLBytes};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, SignaturePrivateKey};
use serde::{Deserialize, Serialize};

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct RefHash {
    label: String,
    value: Hex,
    out: Hex,
}

#[derive(Deserialize, Serialize)]
struct ExpandWithLabel {
    secret: Hex,
    label: String,
    context: Hex,
    length: usize,
    out: Hex,
}

#[derive(Deserialize, Serialize)]
struct DeriveSecret {
    secret: Hex,
    label: String,
    out: Hex,
}

#[derive(Deserialize, Serialize)]
struct DeriveTreeSecret {
    secret: Hex,
    label: String,
    generation: u32,
    length: usize,
    out: Hex,
}

#[derive(Deserialize, Serialize)]
struct SignWithLabel {
    #[serde(rename = "priv")]
    private: Hex,
    #[serde(rename = "pub")]
    public: Hex,
    content: Hex,
    label: String,
    signature: Hex,
}

#[derive(Deserialize, Serialize)]
struct EncryptWithLabel {
    #[serde(rename = "priv")]
    private: Hex,
    #[serde(rename = "pub")]
    public: Hex,
    label: String,
    context: Hex,
    plaintext: Hex,
    kem_output: Hex,
    ciphertext: Hex,
}

#[derive(Deserialize, Serialize)]
struct Case {
    cipher_suite: u16,
    ref_hash: RefHash,
    expand_with_label: ExpandWithLabel,
    derive_secret: DeriveSecret,
    derive_tree_secret: DeriveTreeSecret,
    sign_with_label: SignWithLabel,
    encrypt_with_label: EncryptWithLabel,
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
    let r = &c.ref_hash;
    check(
        "ref_hash",
        &cs.ref_hash(r.label.as_bytes(), &r.value).map_err(ctx("ref_hash"))?,
        &r.out,
    )?;

    let e = &c.expand_with_label;
    let out = cs
        .expand_with_label(&e.secret, e.label.as_bytes(), &e.context, e.length)
        .map_err(ctx("expand_with_label"))?;
    check("expand_with_label", out.as_bytes(), &e.out)?;

    let d = &c.derive_secret;
    check(
        "derive_secret",
        cs.derive_secret(&d.secret, d.label.as_bytes())
            .map_err(ctx("derive_secret"))?
            .as_bytes(),
        &d.out,
    )?;

    let t = &c.derive_tree_secret;
    let out = cs
        .derive_tree_secret(&t.secret, t.label.as_bytes(), t.generation, t.length)
        .map_err(ctx("derive_tree_secret"))?;
    check("derive_tree_secret", out.as_bytes(), &t.out)?;

    let s = &c.sign_with_label;
    let label = s.label.as_bytes();
    cs.verify_with_label(&s.public, label, &s.content, &s.signature)
        .map_err(ctx("verify_with_label(given signature)"))?;
    let sk = SignaturePrivateKey::from_slice(&s.private);
    check(
        "signature public key",
        &cs.signature_public_key(&sk).map_err(ctx("signature_public_key"))?,
        &s.public,
    )?;
    let sig = cs.sign_with_label(&sk, label, &s.content).map_err(ctx("sign_with_label"))?;
    cs.verify_with_label(&s.public, label, &s.content, &sig)
        .map_err(ctx("verify_with_label(own signature)"))?;
    if cs.verify_with_label(&s.public, b"other label", &s.content, &sig).is_ok() {
        return Err("verify_with_label accepted a wrong label".into());
    }

    let e = &c.encrypt_with_label;
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
    let pt = cs
        .decrypt_with_label(&sk, e.label.as_bytes(), &e.context, &given)
        .map_err(ctx("decrypt_with_label(given)"))?;
    check("decrypt_with_label", pt.as_bytes(), &e.plaintext)?;
    let ct = cs
        .encrypt_with_label(&e.public, e.label.as_bytes(), &e.context, &e.plaintext)
        .map_err(ctx("encrypt_with_label"))?;
    let pt = cs
        .decrypt_with_label(&sk, e.label.as_bytes(), &e.context, &ct)
        .map_err(ctx("decrypt_with_label(own)"))?;
    check("decrypt_with_label(own)", pt.as_bytes(), &e.plaintext)
}

/// A new case for `cs`: fresh inputs from `rng`, outputs computed by mlsx.
pub(crate) fn generate(cs: &dyn CipherSuiteProvider, rng: &mut super::generate::Inputs) -> Result<serde_json::Value, String> {
    let nh = cs.hash_len();
    let value = rng.bytes(nh);
    let ref_hash = RefHash {
        label: "RefHash".into(),
        out: cs.ref_hash(b"RefHash", &value).map_err(ctx("ref_hash"))?.into(),
        value: value.into(),
    };
    let (secret, context) = (rng.bytes(nh), rng.bytes(nh));
    let expand_with_label = ExpandWithLabel {
        out: cs
            .expand_with_label(&secret, b"ExpandWithLabel", &context, nh)
            .map_err(ctx("expand_with_label"))?
            .as_bytes()
            .into(),
        secret: secret.into(),
        label: "ExpandWithLabel".into(),
        context: context.into(),
        length: nh,
    };
    let secret = rng.bytes(nh);
    let derive_secret = DeriveSecret {
        out: cs
            .derive_secret(&secret, b"DeriveSecret")
            .map_err(ctx("derive_secret"))?
            .as_bytes()
            .into(),
        secret: secret.into(),
        label: "DeriveSecret".into(),
    };
    let (secret, generation) = (rng.bytes(nh), rng.u32());
    let derive_tree_secret = DeriveTreeSecret {
        out: cs
            .derive_tree_secret(&secret, b"DeriveTreeSecret", generation, nh)
            .map_err(ctx("derive_tree_secret"))?
            .as_bytes()
            .into(),
        secret: secret.into(),
        label: "DeriveTreeSecret".into(),
        generation,
        length: nh,
    };
    let (sk, pk) = cs.signature_generate_key_pair().map_err(ctx("signature key"))?;
    let content = rng.bytes(nh);
    let sign_with_label = SignWithLabel {
        signature: cs.sign_with_label(&sk, b"SignWithLabel", &content).map_err(ctx("sign"))?.into(),
        private: sk.as_bytes().into(),
        public: pk.into(),
        content: content.into(),
        label: "SignWithLabel".into(),
    };
    let (sk, pk) = cs.kem_derive_key_pair(&rng.bytes(nh)).map_err(ctx("HPKE key"))?;
    let (context, plaintext) = (rng.bytes(nh), rng.bytes(nh));
    let ct = cs
        .encrypt_with_label(&pk, b"EncryptWithLabel", &context, &plaintext)
        .map_err(ctx("encrypt"))?;
    let encrypt_with_label = EncryptWithLabel {
        private: sk.as_bytes().into(),
        public: pk.into(),
        label: "EncryptWithLabel".into(),
        context: context.into(),
        plaintext: plaintext.into(),
        kem_output: ct.kem_output.as_slice().into(),
        ciphertext: ct.ciphertext.as_slice().into(),
    };
    serde_json::to_value(Case {
        cipher_suite: cs.cipher_suite().value(),
        ref_hash,
        expand_with_label,
        derive_secret,
        derive_tree_secret,
        sign_with_label,
        encrypt_with_label,
    })
    .map_err(|e| e.to_string())
}
