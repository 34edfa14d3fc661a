//! What a real application registers, and the fuzz checks of the layers
//! above `mlsx-base`: the extensions' decoders, APQ message pairs, a
//! two-member hybrid session and the delivery service's request handlers.
//! Every fuzz target calls [`register_all`] first, so the decoders run
//! with every wire format, proposal and credential syntax of the workspace
//! registered (the combiner's pairs, the extensions' proposals, targeted
//! messages, UserInfo VC credentials), as they do in `mlsx`.
//!
//! `app-api/tests/fuzz_all.rs` includes this file to replay
//! what the fuzzers found (`fuzz/regressions/<target>/`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Once, OnceLock};

use mlsx_base::codec::{Credential, MlsMessage};
use mlsx_base::crypto::CryptoProvider;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_combiner::{ApqClient, ApqMessagePair, ApqReceived, ApqSession, ApqSetup, Mode};
use mlsx_extensions::multi::{MultiCredential, MultiCredentialTypes};
use mlsx_extensions::{AppDataDictionary, AppDataUpdate, AppEphemeral, MediaType, SafeAad};
use tls_codec::{DeserializeBytes, Serialize};

/// Registers every syntax the workspace defines, once per process.
pub fn register_all() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The pair's wire format and, through the extensions, their
        // proposal syntaxes.
        mlsx_combiner::register_syntax();
        mlsx_extensions::targeted::register_syntax();
        mlsx_extensions::userinfo_vc::register_syntax(mlsx_extensions::userinfo_vc::USERINFO_VC);
    });
}

fn round_trip<T: DeserializeBytes + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let Ok((value, rest)) = T::tls_deserialize_bytes(data) else {
        return;
    };
    let consumed = &data[..data.len() - rest.len()];
    assert_eq!(value.tls_serialize_detached().unwrap(), consumed, "re-encoding differs");
}

/// The extensions' decoders, picked by the first byte: the dictionary,
/// AppDataUpdate, AppEphemeral, SafeAAD, media types, multi-credential
/// bindings and UserInfo VC JWTs (against a trust store with one issuer).
pub fn extensions(data: &[u8]) {
    register_all();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    match pick % 7 {
        0 => round_trip::<AppDataDictionary>(rest),
        1 => round_trip::<AppDataUpdate>(rest),
        2 => round_trip::<AppEphemeral>(rest),
        3 => {
            if let Ok(aad) = SafeAad::parse(rest) {
                let items: Vec<_> = aad
                    .aad_items
                    .iter()
                    .map(|i| (i.component_id, i.aad_item_data.as_slice().to_vec()))
                    .collect();
                assert_eq!(SafeAad::build(items).unwrap(), rest, "SafeAAD re-encoding differs");
            }
        }
        4 => {
            if let Ok(text) = std::str::from_utf8(rest)
                && let Ok(t) = MediaType::parse(text)
            {
                // What parses once parses again from its own text.
                MediaType::parse(&t.to_text()).expect("a parsed media type's text parses");
            }
        }
        5 => {
            for types in [MultiCredentialTypes::EXTENSIONS, MultiCredentialTypes::ADDL_CREDS] {
                for credential_type in [types.multi, types.weak_multi] {
                    let c = Credential::Other {
                        credential_type,
                        data: rest.to_vec().into(),
                    };
                    if let Ok(Some(m)) = MultiCredential::from_credential(&c, types) {
                        assert_eq!(m.to_credential(types).unwrap(), c, "bindings re-encode differently");
                    }
                }
            }
        }
        _ => {
            let validator = vc_validator();
            if let Ok(c) = Credential::tls_deserialize_exact_bytes(rest) {
                let _ = validator.check(&c, &[0; 32]);
            }
            if let Ok(jwt) = std::str::from_utf8(rest)
                && let Ok(c) = mlsx_extensions::userinfo_vc::credential(mlsx_extensions::userinfo_vc::USERINFO_VC, jwt)
            {
                let _ = validator.check(&c, &[0; 32]);
                let _ = mlsx_base::group::CredentialValidator::valid_successor(validator, &c, &c);
            }
        }
    }
}

fn vc_validator() -> &'static mlsx_extensions::userinfo_vc::UserInfoVcValidator {
    static V: OnceLock<mlsx_extensions::userinfo_vc::UserInfoVcValidator> = OnceLock::new();
    V.get_or_init(|| {
        let jwks = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1", "alg": "EdDSA"}
        ]}))
        .unwrap();
        mlsx_extensions::userinfo_vc::UserInfoVcValidator::new(
            mlsx_extensions::userinfo_vc::TrustStore::new().with_issuer("https://op.example", jwks),
        )
    })
}

/// An `MLSMessage` with everything registered: if it opens as a pair, it
/// is an mls10 message holding two messages of one RFC 9420 wire format
/// that re-encode to the pair's bytes.
pub fn apq_pair(data: &[u8]) {
    register_all();
    let Ok(msg) = MlsMessage::tls_deserialize_exact_bytes(data) else {
        return;
    };
    assert_eq!(msg.tls_serialize_detached().unwrap(), data, "re-encoding differs");
    if let Ok(pair) = ApqMessagePair::from_message(&msg) {
        assert_eq!(pair.t_message.body.wire_format(), pair.wire_format);
        assert_eq!(pair.pq_message.body.wire_format(), pair.wire_format);
        assert!((1..=5).contains(&pair.wire_format.0), "a pair holds RFC 9420 messages only");
        assert_eq!(pair.to_message().unwrap(), msg);
    }
}

/// Two members of a hybrid session (T 0x0001, PQ ML-KEM-768), saved, and
/// Alice's messages of that state: a FULL commit, a PARTIAL commit, a pair
/// of Update proposals and an application message, with the epoch
/// authenticators Alice reaches by each commit.
pub struct HybridScenario {
    setup: ApqSetup,
    bob: Vec<u8>,
    messages: Vec<(Vec<u8>, Option<Authenticators>)>,
}

/// The T and PQ epoch authenticators after a commit.
type Authenticators = (Vec<u8>, Vec<u8>);

impl HybridScenario {
    /// The scenario, built once per process.
    pub fn get() -> &'static HybridScenario {
        static S: OnceLock<HybridScenario> = OnceLock::new();
        S.get_or_init(Self::build)
    }

    fn build() -> Self {
        register_all();
        let t = RustCryptoProvider::new()
            .cipher_suite_provider(mlsx_base::codec::CipherSuite(1))
            .unwrap();
        let pq = mlsx_pq_suites::PqSuite::Tbd6.provider().unwrap();
        let setup = ApqSetup::new(t, pq, Mode::ConfidentialityOnly).unwrap();
        let mut alice = ApqClient::new(setup.clone(), b"alice")
            .unwrap()
            .create_session(b"T".to_vec(), b"PQ".to_vec())
            .unwrap();
        let bob_client = ApqClient::new(setup.clone(), b"bob").unwrap();
        let (kp, bundles) = bob_client.key_packages().unwrap();
        let out = alice.add(vec![kp]).unwrap();
        alice.confirm().unwrap();
        let mut bob = bob_client.join(&out.welcome.unwrap(), bundles).unwrap();
        // Bob's first commit, so that Alice's PARTIAL commits are also
        // what a settled session sends.
        let first = bob.full_commit(vec![], vec![]).unwrap();
        bob.confirm().unwrap();
        alice.process(&first.message).unwrap();
        let saved_alice = alice.save().unwrap();
        let mut messages = vec![];
        let encode = |m: &MlsMessage| m.tls_serialize_detached().unwrap();
        for kind in 0..4 {
            let mut a = ApqSession::load(setup.clone(), &saved_alice).unwrap();
            let (msg, after) = match kind {
                0 | 1 => {
                    let out = if kind == 0 {
                        a.full_commit(vec![], vec![]).unwrap()
                    } else {
                        a.partial_commit(vec![]).unwrap()
                    };
                    a.confirm().unwrap();
                    let after = (
                        a.t_group().epoch_authenticator().to_vec(),
                        a.pq_group().epoch_authenticator().to_vec(),
                    );
                    (out.message, Some(after))
                }
                2 => (a.propose_update_pair().unwrap(), None),
                _ => (a.encrypt_application(b"hello", b"").unwrap(), None),
            };
            messages.push((encode(&msg), after));
        }
        Self {
            bob: bob.save().unwrap().to_vec(),
            setup,
            messages,
        }
    }

    /// Feeds one input to Bob: the first byte picks raw bytes (even) or one
    /// of Alice's messages with the edits in the rest (odd). A refused
    /// message leaves Bob's saved state byte-identical; an accepted commit
    /// brings Bob to Alice's epoch authenticators in both groups.
    pub fn run(&self, data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let (bytes, expected) = if mode % 2 == 0 {
            (rest.to_vec(), None)
        } else {
            let Some((&pick, edits)) = rest.split_first() else {
                return;
            };
            let (bytes, after) = &self.messages[usize::from(pick) % self.messages.len()];
            let mut bytes = bytes.clone();
            crate::harness::edit(&mut bytes, edits);
            (bytes, after.clone())
        };
        let Ok(msg) = MlsMessage::tls_deserialize_exact_bytes(&bytes) else {
            return;
        };
        let mut bob = ApqSession::load(self.setup.clone(), &self.bob).unwrap();
        match bob.process(&msg) {
            Err(_) => assert!(
                bob.save().unwrap().as_slice() == self.bob.as_slice(),
                "a refused message changed Bob's session"
            ),
            Ok(ApqReceived::Full { .. }) | Ok(ApqReceived::Partial) => {
                if let Some((t, pq)) = expected {
                    assert_eq!(bob.t_group().epoch_authenticator(), t.as_slice(), "T groups disagree");
                    if matches!(msg.body, mlsx_base::codec::MlsMessageBody::Custom(_)) {
                        assert_eq!(bob.pq_group().epoch_authenticator(), pq.as_slice(), "PQ groups disagree");
                    }
                }
            }
            Ok(_) => {}
        }
    }
}

/// The hybrid-session target.
pub fn stateful_hybrid(data: &[u8]) {
    HybridScenario::get().run(data);
}

/// The delivery service's router over a database in a temporary folder,
/// with one registered client whose token authenticates the requests.
struct Service {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
}

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| {
        register_all();
        let dir = std::env::temp_dir().join(format!("mlsx-fuzz-ds-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = mlsx_app::ds::open_db(&dir.join("ds.db")).unwrap();
        let router = mlsx_app::ds::router(db, mlsx_app::ds::Limits::default());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut s = Service {
            runtime,
            router,
            token: String::new(),
        };
        let cs = std::sync::Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(mlsx_base::codec::CipherSuite(1)).unwrap());
        let id = mlsx_base::group::Identity::basic(cs.as_ref(), b"fuzz").unwrap();
        let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
        let proof = mlsx_app::directory::sign_key(cs.as_ref(), &id.signer, mlsx_app::directory::KEY_PROOF_LABEL, "fuzz", &id.signature_key).unwrap();
        let register = serde_json::json!({"name": "fuzz", "signature_key": b64(&id.signature_key),
            "keys": [{"suite": 1, "signature_key": b64(&id.signature_key), "proof": b64(&proof)}]});
        let (status, body) = s.call("POST", "/v1/register", register.to_string().into_bytes(), false);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        s.token = v["token"].as_str().unwrap().to_owned();
        // A group the service follows, so that fuzzed messages to it reach
        // the group's observer: `fuzz` alone in it, introduced by its
        // GroupInfo.
        let g = mlsx_base::group::Group::create(cs, id, FUZZ_GROUP.to_vec(), mlsx_base::group::GroupConfig::default()).unwrap();
        let gi = mlsx_base::codec::MlsMessage::new(mlsx_base::codec::MlsMessageBody::GroupInfo(g.group_info().unwrap()));
        let body = serde_json::json!({"epoch": 0, "group_info": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, mlsx_base::codec::encode(&gi).unwrap())});
        let (status, answer) = s.call(
            "POST",
            &format!("/v1/groups/{}/group-info", hex::encode(FUZZ_GROUP)),
            body.to_string().into_bytes(),
            true,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        s
    })
}

/// The id of the group [`service`] follows.
const FUZZ_GROUP: &[u8] = b"fuzz group";

impl Service {
    fn call(&self, method: &str, path: &str, body: Vec<u8>, auth: bool) -> (u16, Vec<u8>) {
        use tower::ServiceExt;
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json");
        if auth {
            request = request.header("authorization", format!("Bearer {}", self.token));
        }
        let Ok(request) = request.body(axum::body::Body::from(body)) else {
            return (400, vec![]);
        };
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap();
            (status, bytes.to_vec())
        })
    }
}

/// Request bodies into the delivery service's handlers (no network): the
/// first byte picks the endpoint, the second whether the request carries
/// the client's token (and a suite); the rest is the body, or the JSON fields' bytes
/// wrapped into a well-formed request so the handlers' own checks run.
/// No request makes a handler panic or the service answer 5xx.
pub fn ds_handlers(data: &[u8]) {
    use base64::Engine;
    let s = service();
    let (Some(&pick), Some(&auth)) = (data.first(), data.get(1)) else {
        return;
    };
    let rest = &data[2..];
    let b64 = base64::engine::general_purpose::STANDARD.encode(rest);
    let group = hex::encode(rest.get(..rest.len().min(8)).unwrap_or_default());
    let suite = u16::from(auth % 8);
    let (method, path, body) = match pick % 13 {
        0 => ("POST", "/v1/register".to_owned(), rest.to_vec()),
        1 => (
            "POST",
            "/v1/key-packages".to_owned(),
            serde_json::json!({"offers": [b64]}).to_string().into_bytes(),
        ),
        2 => ("GET", format!("/v1/key-packages/fuzz?kind={}", pick / 10 % 4), vec![]),
        3 => (
            "POST",
            format!("/v1/groups/{group}/messages"),
            serde_json::json!({"epoch": u64::from(pick), "kind": if auth % 4 < 2 { "commit" } else { "message" },
                "message": b64, "recipients": ["fuzz"], "welcome": b64, "welcome_to": ["fuzz"], "removed": []})
            .to_string()
            .into_bytes(),
        ),
        4 => ("POST", format!("/v1/groups/{group}/messages"), rest.to_vec()),
        5 => (
            "POST",
            format!("/v1/groups/{group}/group-info"),
            serde_json::json!({"epoch": u64::from(pick), "group_info": b64, "self_removes": [b64]})
                .to_string()
                .into_bytes(),
        ),
        6 => ("GET", format!("/v1/groups/{group}/group-info"), vec![]),
        7 => ("GET", format!("/v1/queue?after={}&wait=0", i64::from(pick)), vec![]),
        8 => ("POST", "/v1/queue/ack".to_owned(), rest.to_vec()),
        // Into the observer of the group the service follows.
        9 if auth % 3 != 0 => (
            "POST",
            format!("/v1/groups/{}/messages", hex::encode(FUZZ_GROUP)),
            serde_json::json!({"epoch": 0, "kind": if auth % 3 == 1 { "commit" } else { "message" },
                "message": b64, "recipients": [], "welcome": null, "welcome_to": [], "removed": []})
            .to_string()
            .into_bytes(),
        ),
        // The directory: a new key (proof and authorization over the
        // fuzzed bytes), a lookup, a registration with keys.
        10 => (
            "POST",
            "/v1/keys".to_owned(),
            serde_json::json!({"key": {"suite": suite, "signature_key": b64, "proof": b64},
                "authorizer_suite": u16::from(pick % 4), "authorizer_key": b64, "authorization": b64})
            .to_string()
            .into_bytes(),
        ),
        11 => ("GET", format!("/v1/directory/{group}"), vec![]),
        12 => (
            "POST",
            "/v1/register".to_owned(),
            serde_json::json!({"name": group, "signature_key": b64,
                "keys": [{"suite": suite, "signature_key": b64, "proof": b64}]})
            .to_string()
            .into_bytes(),
        ),
        _ => ("POST", "/v1/key-packages".to_owned(), rest.to_vec()),
    };
    let (status, _) = s.call(method, &path, body, auth % 2 == 0);
    assert!(status < 500, "the service answered {status} to {method} {path}");
}
