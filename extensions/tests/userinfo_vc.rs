//! UserInfo VC credentials (draft-mls-addl-creds §3) in groups of three:
//! JWTs issued by a trusted OpenID provider, checked by
//! `UserInfoVcValidator`, and a negative test for each validation step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mlsx_base::codec::{CipherSuite, Credential, CredentialType, KeyPackage, decode, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, SignaturePrivateKey};
use mlsx_base::group::{BasicCredentialValidator, CommitOptions, CredentialValidators, Group, GroupConfig, Identity, Received};
use mlsx_extensions::Error;
use mlsx_extensions::userinfo_vc::{self, TrustStore, USERINFO_VC, UserInfoVcValidator};
use serde_json::json;

const ISSUER: &str = "https://op.example";

fn cs() -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
        .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An OpenID provider's Ed25519 key.
struct Provider {
    sk: SignaturePrivateKey,
    pk: Vec<u8>,
}

impl Provider {
    fn new() -> Self {
        let (sk, pk) = cs().signature_generate_key_pair().unwrap();
        Self { sk, pk }
    }

    fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        serde_json::from_value(json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(&self.pk), "kid": "k1", "alg": "EdDSA"}]}))
            .unwrap()
    }

    /// A JWS (EdDSA) over `claims`.
    fn sign(&self, claims: &serde_json::Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"});
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let sig = cs().sign(&self.sk, input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&sig))
    }
}

fn now() -> i64 {
    mlsx_base::group::now() as i64
}

/// The UserInfo VC claims for `subject_key` (a raw Ed25519 key).
fn claims(iss: &str, sub: &str, subject_key: &[u8], exp: i64) -> serde_json::Value {
    let did = format!(
        "did:jwk:{}",
        b64(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(subject_key)})
            .to_string()
            .as_bytes())
    );
    json!({"iss": iss, "sub": sub, "iat": now(), "exp": exp, "email": format!("{sub}@example.com"),
           "vc": {"type": ["VerifiableCredential", "UserInfoCredential"], "credentialSubject": {"id": did}}})
}

fn config(p: &Provider) -> GroupConfig {
    let v = UserInfoVcValidator::new(TrustStore::new().with_issuer(ISSUER, p.jwks()));
    GroupConfig {
        validator: Arc::new(CredentialValidators::new(Arc::new(BasicCredentialValidator)).with(USERINFO_VC, Arc::new(v))),
        ..GroupConfig::default()
    }
}

/// A client whose credential is the VC `make` builds for its key.
fn client(name: &str, make: impl FnOnce(&[u8]) -> String) -> Identity {
    let mut id = Identity::basic(cs().as_ref(), name.as_bytes()).unwrap();
    id.credential = userinfo_vc::credential(USERINFO_VC, &make(&id.signature_key)).unwrap();
    id.capabilities.credentials = vec![CredentialType::BASIC, USERINFO_VC];
    id
}

fn good(p: &Provider, name: &str) -> Identity {
    client(name, |key| p.sign(&claims(ISSUER, name, key, now() + 3600)))
}

/// Alice (VC) creates a group with Carol (basic, supports the VC type).
fn group(p: &Provider) -> Vec<Group> {
    let cs = cs();
    let mut alice = Group::create(cs.clone(), good(p, "alice"), b"vc".to_vec(), config(p)).unwrap();
    let mut carol = Identity::basic(cs.as_ref(), b"carol").unwrap();
    carol.capabilities.credentials = vec![CredentialType::BASIC, USERINFO_VC];
    let kp = carol.key_package(cs.as_ref()).unwrap();
    let out = alice.commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let carol = Group::join(cs, out.welcome_message().unwrap(), kp, None, config(p)).unwrap();
    vec![alice, carol]
}

fn add(p: &Provider, g: &mut [Group], who: Identity) -> Result<(), mlsx_base::Error> {
    let kp = who.key_package(cs().as_ref())?;
    let out = g[0].commit(CommitOptions::add(vec![kp.key_package.clone()]))?;
    g[0].merge_pending_commit()?;
    let Received::Commit(s) = g[1].process_message(&out.commit)? else {
        panic!()
    };
    g[1].merge_staged_commit(s)?;
    let bob = Group::join(cs(), out.welcome_message()?, kp, None, config(p))?;
    assert_eq!(bob.epoch_authenticator(), g[0].epoch_authenticator());
    Ok(())
}

fn ext(e: &mlsx_base::Error) -> &Error {
    Error::of(e).unwrap_or_else(|| panic!("not an extensions error: {e:?}"))
}

#[test]
fn members_with_userinfo_vcs_form_a_group() {
    let p = Provider::new();
    let mut g = group(&p);
    add(&p, &mut g, good(&p, "bob")).unwrap();
    // The body is `opaque jwt<0..2^32-1>`: a 4-byte length, through the
    // registered credential syntax, and it round-trips.
    let kp = good(&p, "dave").key_package(cs().as_ref()).unwrap().key_package;
    let Credential::Other { data, .. } = &kp.leaf_node.credential else {
        panic!()
    };
    assert_eq!(
        u32::from_be_bytes(data.as_slice()[..4].try_into().unwrap()) as usize,
        data.as_slice().len() - 4
    );
    let back: KeyPackage = decode(&encode(&kp).unwrap()).unwrap();
    assert_eq!(back, kp);
}

#[test]
fn an_expired_or_not_yet_valid_vc_is_refused() {
    let p = Provider::new();
    let expired = client("bob", |k| p.sign(&claims(ISSUER, "bob", k, now() - 3600)));
    let err = add(&p, &mut group(&p), expired).unwrap_err();
    assert!(matches!(ext(&err), Error::UserInfoVcExpired), "{err:?}");
    let future = client("bob", |k| {
        let mut c = claims(ISSUER, "bob", k, now() + 7200);
        c["nbf"] = json!(now() + 3600);
        p.sign(&c)
    });
    let err = add(&p, &mut group(&p), future).unwrap_err();
    assert!(matches!(ext(&err), Error::UserInfoVcExpired), "{err:?}");
    // exp is required.
    let no_exp = client("bob", |k| {
        let mut c = claims(ISSUER, "bob", k, 0);
        c.as_object_mut().unwrap().remove("exp");
        p.sign(&c)
    });
    assert!(add(&p, &mut group(&p), no_exp).is_err());
}

#[test]
fn a_wrongly_issued_vc_is_refused() {
    let p = Provider::new();
    // An issuer the application does not trust.
    let untrusted = client("bob", |k| p.sign(&claims("https://evil.example", "bob", k, now() + 3600)));
    let err = add(&p, &mut group(&p), untrusted).unwrap_err();
    assert!(
        matches!(ext(&err), Error::UntrustedIssuer(i) if i == "https://evil.example"),
        "{err:?}"
    );
    // Signed by someone else in the trusted issuer's name.
    let mallory = Provider::new();
    let forged = client("bob", |k| mallory.sign(&claims(ISSUER, "bob", k, now() + 3600)));
    let err = add(&p, &mut group(&p), forged).unwrap_err();
    assert!(matches!(ext(&err), Error::UserInfoVcSignature), "{err:?}");
}

#[test]
fn the_vc_must_bind_the_leafs_signature_key() {
    let p = Provider::new();
    let (_, other) = cs().signature_generate_key_pair().unwrap();
    let wrong = client("bob", |_| p.sign(&claims(ISSUER, "bob", &other, now() + 3600)));
    let err = add(&p, &mut group(&p), wrong).unwrap_err();
    assert!(matches!(ext(&err), Error::UserInfoVcKeyMismatch), "{err:?}");
    // No vc claim, or a subject id that is not a did:jwk.
    let no_vc = client("bob", |k| {
        let mut c = claims(ISSUER, "bob", k, now() + 3600);
        c.as_object_mut().unwrap().remove("vc");
        p.sign(&c)
    });
    assert!(matches!(
        ext(&add(&p, &mut group(&p), no_vc).unwrap_err()),
        Error::InvalidUserInfoVc(_)
    ));
    let not_did = client("bob", |k| {
        let mut c = claims(ISSUER, "bob", k, now() + 3600);
        c["vc"]["credentialSubject"]["id"] = json!("urn:example:bob");
        p.sign(&c)
    });
    assert!(matches!(
        ext(&add(&p, &mut group(&p), not_did).unwrap_err()),
        Error::InvalidUserInfoVc(_)
    ));
    // Not a JWT at all.
    let junk = client("bob", |_| "not.a-jwt".to_owned());
    assert!(add(&p, &mut group(&p), junk).is_err());
}

/// `sub` is required (an OIDC UserInfo object always has it) and, with
/// `iss`, is the identity an Update must keep.
#[test]
fn a_vc_without_sub_is_refused_and_never_a_successor() {
    use mlsx_base::group::CredentialValidator;
    let p = Provider::new();
    let without = |c: &mut serde_json::Value, key: &str| {
        c.as_object_mut().unwrap().remove(key);
    };
    // No sub, or an empty one: refused when it enters the group.
    for sub in [None, Some("")] {
        let id = client("bob", |k| {
            let mut c = claims(ISSUER, "bob", k, now() + 3600);
            match sub {
                None => without(&mut c, "sub"),
                Some(s) => c["sub"] = json!(s),
            }
            p.sign(&c)
        });
        let err = add(&p, &mut group(&p), id).unwrap_err();
        assert!(matches!(ext(&err), Error::InvalidUserInfoVc(_)), "{sub:?}: {err:?}");
    }
    // Successors: the same (iss, sub) only; two VCs without sub from one
    // issuer are not the same subject.
    let v = UserInfoVcValidator::new(TrustStore::new().with_issuer(ISSUER, p.jwks()));
    let (_, key) = cs().signature_generate_key_pair().unwrap();
    let vc = |sub: Option<&str>| {
        let mut c = claims(ISSUER, sub.unwrap_or("x"), &key, now() + 3600);
        if sub.is_none() {
            without(&mut c, "sub");
        }
        userinfo_vc::credential(USERINFO_VC, &p.sign(&c)).unwrap()
    };
    v.valid_successor(&vc(Some("bob")), &vc(Some("bob"))).unwrap();
    for (a, b) in [
        (Some("bob"), Some("mallory")),
        (None, None),
        (Some("bob"), None),
        (None, Some("bob")),
    ] {
        let err = v.valid_successor(&vc(a), &vc(b)).unwrap_err();
        assert!(matches!(ext(&err), Error::UserInfoVcSubjectChanged), "{a:?} -> {b:?}: {err:?}");
    }
}

/// A JWT whose header and payload nest JSON a megabyte deep (an unknown
/// claim, which the claims reader skips) is refused on a thread with a
/// 256 KiB stack: serde_json's recursion limit holds, nothing overflows.
#[test]
fn a_deeply_nested_jwt_is_refused_on_a_small_stack() {
    let p = Provider::new();
    let deep = format!("{{\"x\": {}{}}}", "[".repeat(1 << 19), "]".repeat(1 << 19));
    let jwts = [
        format!("{}.{}.AAAA", b64(deep.as_bytes()), b64(b"{}")),
        format!("{}.{}.AAAA", b64(br#"{"alg":"EdDSA","kid":"k1"}"#), b64(deep.as_bytes())),
    ];
    let v = UserInfoVcValidator::new(TrustStore::new().with_issuer(ISSUER, p.jwks()));
    let errors = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            use mlsx_base::group::CredentialValidator;
            jwts.iter()
                .map(|jwt| {
                    let c = userinfo_vc::credential(USERINFO_VC, jwt).unwrap();
                    assert!(v.valid_successor(&c, &c).is_err());
                    v.check(&c, &[0; 32]).unwrap_err()
                })
                .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(errors.iter().all(|e| matches!(e, Error::InvalidUserInfoVc(_))), "{errors:?}");
}
