//! mlsx's vectors for two draft-ietf-mls-extensions features that have
//! none: AppAck (§6.1, `extensions/app-ack.json`) and content
//! advertisement (§6.2, `extensions/content-framing.json`). Both are
//! suite-independent encodings; `test-vectors/extensions/README.md` gives
//! the formats.

use mlsx_base::codec::{decode as decode_any, encode};
use mlsx_extensions::media::{frame, unframe};
use mlsx_extensions::{APP_ACK, AppAck, AppAckComponent, AppEphemeral, Component, MediaType, MediaTypeList, Origin};
use serde::{Deserialize, Serialize};

use super::check;
use super::generate::Inputs;
use crate::{Hex, Report};

// ------------------------------------------------------------------ AppAck

#[derive(Deserialize, Serialize)]
struct Received {
    sender: u32,
    generations: Vec<u32>,
}

#[derive(Deserialize, Serialize)]
pub(crate) struct AppAckCase {
    /// The messages received (valid cases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    received: Option<Vec<Received>>,
    /// The encoded AppAck.
    app_ack: Hex,
    /// The encoded AppEphemeral carrying it (valid cases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    app_ephemeral: Option<Hex>,
    valid: bool,
}

fn origin() -> Origin {
    Origin {
        sender: mlsx_base::codec::Sender::Member(mlsx_base::tree::math::LeafIndex(0)),
        committer: mlsx_base::codec::Sender::Member(mlsx_base::tree::math::LeafIndex(0)),
        epoch: 1,
    }
}

pub(crate) fn app_ack_check(c: &AppAckCase) -> Result<(), String> {
    let accepted = AppAckComponent.check_ephemeral(&c.app_ack, &origin()).is_ok();
    match (&c.received, &c.app_ephemeral, c.valid) {
        (Some(received), Some(ephemeral), true) => {
            if !accepted {
                return Err("a valid AppAck is refused".into());
            }
            let ack = AppAck::of_messages(received.iter().flat_map(|r| r.generations.iter().map(|g| (r.sender, *g))));
            check("app_ack", &encode(&ack).map_err(|e| e.to_string())?, &c.app_ack)?;
            let e = AppEphemeral {
                component_id: APP_ACK,
                data: c.app_ack.to_vec().into(),
            };
            check("app_ephemeral", &encode(&e).map_err(|e| e.to_string())?, ephemeral)
        }
        (_, _, false) if accepted => Err("an invalid AppAck is accepted".into()),
        (_, _, false) => Ok(()),
        _ => Err("a valid case needs received and app_ephemeral".into()),
    }
}

fn app_ack_generate(rng: &mut Inputs) -> Result<String, String> {
    let r = |sender: u32, generations: Vec<u32>| Received { sender, generations };
    let valid = vec![
        vec![],
        vec![r(0, vec![0])],
        vec![r(0, vec![0, 1, 2, 4, 5, 9]), r(3, vec![7])],
        vec![r(2, vec![1]), r(1, (0..40).collect()), r(0, vec![u32::MAX])],
    ];
    let mut cases = vec![];
    for received in valid {
        let ack = AppAck::of_messages(received.iter().flat_map(|r| r.generations.iter().map(|g| (r.sender, *g))));
        let app_ack = encode(&ack).map_err(|e| e.to_string())?;
        let e = AppEphemeral {
            component_id: APP_ACK,
            data: app_ack.clone().into(),
        };
        cases.push(AppAckCase {
            received: Some(received),
            app_ack: app_ack.into(),
            app_ephemeral: Some(encode(&e).map_err(|e| e.to_string())?.into()),
            valid: true,
        });
    }
    let raw = |bytes: Vec<u8>| AppAckCase {
        received: None,
        app_ack: bytes.into(),
        app_ephemeral: None,
        valid: false,
    };
    // A backwards range; trailing bytes; a truncated range; not a vector.
    cases.push(raw(hex::decode("0c000000010000000500000002").map_err(|e| e.to_string())?));
    let mut trailing = encode(&AppAck::of_messages([(1, 1)])).map_err(|e| e.to_string())?;
    trailing.push(rng.bytes(1).first().copied().unwrap_or(0));
    cases.push(raw(trailing));
    cases.push(raw(hex::decode("0c0000000100000005").map_err(|e| e.to_string())?));
    cases.push(raw(vec![]));
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}

// ------------------------------------------------------- content framing

#[derive(Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ContentCase {
    /// A media type written as text and its encoding, or `media_type`
    /// absent when the text is not a media type.
    Parse {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<Hex>,
    },
    /// The framing of content in a group with `content_media_types`.
    Frame {
        /// The group's list, as text.
        group_media_types: Vec<String>,
        /// Its encoding, the component's data.
        content_media_types: Hex,
        /// The type the sender names, as text; absent for the empty type.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
        content: Hex,
        application_framing: Hex,
        /// The encoded type the receiver resolves.
        resolved_media_type: Hex,
    },
}

fn enc<T: mlsx_base::codec::TlsSerializeTrait>(v: &T) -> Result<Vec<u8>, String> {
    encode(v).map_err(|e| e.to_string())
}

pub(crate) fn content_check(c: &ContentCase) -> Result<(), String> {
    match c {
        ContentCase::Parse { text, media_type } => match (MediaType::parse(text), media_type) {
            (Ok(t), Some(want)) => {
                check("media_type", &enc(&t)?, want)?;
                let back: MediaType = decode_any(want).map_err(|e| e.to_string())?;
                if !back.same_as(&MediaType::parse(&back.to_text()).map_err(|e| e.to_string())?) {
                    return Err("the written-out type does not parse back to the same type".into());
                }
                Ok(())
            }
            (Err(_), None) => Ok(()),
            (Ok(_), None) => Err(format!("{text:?} parsed but is invalid")),
            (Err(e), Some(_)) => Err(format!("{text:?}: {e}")),
        },
        ContentCase::Frame {
            group_media_types,
            content_media_types,
            media_type,
            content,
            application_framing,
            resolved_media_type,
        } => {
            let list = MediaTypeList::parse(group_media_types.iter().map(String::as_str)).map_err(|e| e.to_string())?;
            check(
                "content_media_types",
                &list.to_data().map_err(|e| e.to_string())?,
                content_media_types,
            )?;
            let t = media_type.as_deref().map(MediaType::parse).transpose().map_err(|e| e.to_string())?;
            check(
                "application_framing",
                &frame(t.as_ref(), content).map_err(|e| e.to_string())?,
                application_framing,
            )?;
            let (resolved, got) = unframe(&list, application_framing).map_err(|e| e.to_string())?;
            check("resolved_media_type", &enc(&resolved)?, resolved_media_type)?;
            check("content", &got, content)
        }
    }
}

fn content_generate(rng: &mut Inputs) -> Result<String, String> {
    let mut cases = vec![];
    for text in [
        "image/png",
        r#"text/plain ;charset="UTF-8""#,
        "TEXT/Plain; Charset=utf-8; format=flowed",
        "application/vnd.example.msgbus+cbor",
        r#"text/x-note; title="say \"hi\"; now""#,
        "multipart/alternative; boundary=frontier",
    ] {
        let t = MediaType::parse(text).map_err(|e| e.to_string())?;
        cases.push(ContentCase::Parse {
            text: text.into(),
            media_type: Some(enc(&t)?.into()),
        });
    }
    for text in [
        "text",
        "text/",
        "/plain",
        "text/plain; charset",
        r#"text/plain; a="open"#,
        "text/pl ain",
    ] {
        if MediaType::parse(text).is_ok() {
            return Err(format!("{text:?} should not parse"));
        }
        cases.push(ContentCase::Parse {
            text: text.into(),
            media_type: None,
        });
    }
    let group = vec![
        r#"text/plain; charset="UTF-8""#.to_owned(),
        "image/png".to_owned(),
        "application/json".to_owned(),
    ];
    let list = MediaTypeList::parse(group.iter().map(String::as_str)).map_err(|e| e.to_string())?;
    for named in [None, Some("image/png"), Some("application/cbor")] {
        let t = named.map(MediaType::parse).transpose().map_err(|e| e.to_string())?;
        let content = rng.bytes(12);
        let framed = frame(t.as_ref(), &content).map_err(|e| e.to_string())?;
        let (resolved, _) = unframe(&list, &framed).map_err(|e| e.to_string())?;
        cases.push(ContentCase::Frame {
            group_media_types: group.clone(),
            content_media_types: list.to_data().map_err(|e| e.to_string())?.into(),
            media_type: named.map(str::to_owned),
            content: content.into(),
            application_framing: framed.into(),
            resolved_media_type: enc(&resolved)?.into(),
        });
    }
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}

/// Generates one of this module's files.
pub(crate) fn generate(name: &str, rng: &mut Inputs) -> Option<Result<String, String>> {
    match name {
        "app-ack.json" => Some(app_ack_generate(rng)),
        "content-framing.json" => Some(content_generate(rng)),
        _ => None,
    }
}

// ------------------------------------------------------ multi-credentials

#[derive(Deserialize, Serialize)]
pub(crate) struct MultiCredentialCase {
    /// The suite of the binding (its signature scheme).
    cipher_suite: u16,
    /// The LeafNode's `signature_key` the binding is made for.
    signature_key: Hex,
    /// The bound credential (an encoded `Credential`).
    credential: Hex,
    credential_key: Hex,
    /// `CredentialBindingTBS`, encoded.
    credential_binding_tbs: Hex,
    /// `CredentialBinding`, encoded (its signature verifies under
    /// `credential_key` over `credential_binding_tbs`).
    credential_binding: Hex,
    /// The LeafNode credential of type multi (0x0003) with this binding.
    multi_credential: Hex,
}

/// `CredentialBindingTBS`, built here field by field (not with the
/// library's own code, so that the vectors check it).
fn binding_tbs(b: &mlsx_extensions::multi::CredentialBinding, signature_key: &[u8]) -> Result<Vec<u8>, String> {
    let mut tbs = enc(&b.cipher_suite)?;
    tbs.extend(enc(&b.credential)?);
    tbs.extend(enc(&b.credential_key)?);
    tbs.extend(enc(&mlsx_base::codec::VLBytes::new(signature_key.to_vec()))?);
    Ok(tbs)
}

pub(crate) fn multi_run(
    json: &str,
    provider: &dyn mlsx_base::crypto::CryptoProvider,
    report: &mut Report,
) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &MultiCredentialCase| c.cipher_suite,
        |cs, c| multi_check(cs.as_ref(), c),
    )
}

fn multi_check(cs: &dyn mlsx_base::crypto::CipherSuiteProvider, c: &MultiCredentialCase) -> Result<(), String> {
    use mlsx_extensions::multi::{CredentialBinding, MultiCredential, MultiCredentialTypes, verify_binding};
    let b: CredentialBinding = super::decode("credential_binding", &c.credential_binding)?;
    if b.cipher_suite.value() != c.cipher_suite {
        return Err("binding suite differs from cipher_suite".into());
    }
    check("credential", &enc(&b.credential)?, &c.credential)?;
    check("credential_key", b.credential_key.as_slice(), &c.credential_key)?;
    // The TBS, rebuilt: the binding's fields and the leaf's signature key.
    check(
        "credential_binding_tbs",
        &binding_tbs(&b, &c.signature_key)?,
        &c.credential_binding_tbs,
    )?;
    verify_binding(cs, &b, &c.signature_key).map_err(|e| format!("binding: {e}"))?;
    let mut other = c.signature_key.to_vec();
    if let Some(x) = other.first_mut() {
        *x ^= 1;
    }
    if verify_binding(cs, &b, &other).is_ok() {
        return Err("the binding verifies for another signature_key".into());
    }
    let cred: mlsx_base::codec::Credential = super::decode("multi_credential", &c.multi_credential)?;
    let m = MultiCredential::from_credential(&cred, MultiCredentialTypes::EXTENSIONS)
        .map_err(|e| e.to_string())?
        .ok_or("multi_credential is not of type multi")?;
    if m.weak || m.bindings != [b] {
        return Err("multi_credential does not hold exactly the binding".into());
    }
    Ok(())
}

pub(crate) fn multi_generate(cs: &dyn mlsx_base::crypto::CipherSuiteProvider, rng: &mut Inputs) -> Result<serde_json::Value, String> {
    use mlsx_extensions::multi::{MultiCredential, MultiCredentialTypes, bind};
    let (_, signature_key) = cs.signature_generate_key_pair().map_err(|e| e.to_string())?;
    let (sk, pk) = cs.signature_generate_key_pair().map_err(|e| e.to_string())?;
    let mut name = b"member-".to_vec();
    name.extend(hex::encode(rng.bytes(4)).into_bytes());
    let credential = mlsx_base::codec::Credential::Basic(name.into());
    let b = bind(cs, credential.clone(), &pk, &sk, &signature_key).map_err(|e| e.to_string())?;
    let tbs = binding_tbs(&b, &signature_key)?;
    let multi = MultiCredential {
        weak: false,
        bindings: vec![b.clone()],
    }
    .to_credential(MultiCredentialTypes::EXTENSIONS)
    .map_err(|e| e.to_string())?;
    serde_json::to_value(MultiCredentialCase {
        cipher_suite: cs.cipher_suite().value(),
        signature_key: signature_key.into(),
        credential: enc(&credential)?.into(),
        credential_key: pk.into(),
        credential_binding_tbs: tbs.into(),
        credential_binding: enc(&b)?.into(),
        multi_credential: enc(&multi)?.into(),
    })
    .map_err(|e| e.to_string())
}
