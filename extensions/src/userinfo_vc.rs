//! The UserInfo VC credential (draft-mls-addl-creds §3): a JWT-formatted
//! UserInfo Verifiable Credential, signed by an OpenID provider, whose
//! `vc.credentialSubject.id` is a `did:jwk` URI carrying the client's
//! signature key.
//!
//! [`UserInfoVcValidator`] is the Authentication Service of the type: it
//! parses the JWT, looks up the issuer (`iss`) in the application's
//! [`TrustStore`] (the JWK sets it trusts, instead of fetching them by
//! OIDC discovery), verifies the JWS with the `jsonwebtoken` crate, checks
//! the validity period (`exp` required, `nbf` when present), and checks
//! that the `did:jwk` key is the LeafNode's `signature_key`.
//!
//! Supported algorithms: EdDSA (Ed25519), ES256 (P-256) and ES384 (P-384),
//! what `jsonwebtoken`'s RustCrypto backend verifies; P-521 and Ed448 of
//! the draft's table are refused. The body is `opaque jwt<0..2^32-1>` (a
//! 4-byte length), declared to the decoder by [`register_syntax`]. The
//! credential type has no agreed value (addl-creds suggests 0x0003, which
//! the extensions draft gives to multi): [`USERINFO_VC`] is a private-use
//! value, the one mlspp uses.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mlsx_base::codec::syntax::{BodySyntax, register_credential_syntax};
use mlsx_base::codec::{Credential, CredentialType, VLBytes};
use mlsx_base::group::CredentialValidator;
use serde::Deserialize;

use crate::Error;

/// The UserInfo VC credential type used by default (mlspp's private-use
/// `userinfo_vc_draft_00`).
pub const USERINFO_VC: CredentialType = CredentialType(0xFE00);

/// The length of `opaque jwt<0..2^32-1>` at the start of `bytes`.
fn body_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let len: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(tls_codec::Error::EndOfStream)?;
    4usize
        .checked_add(u32::from_be_bytes(len) as usize)
        .ok_or(tls_codec::Error::EndOfStream)
}

/// Declares the body's syntax (`opaque jwt<0..2^32-1>`) for `credential_type`.
pub fn register_syntax(credential_type: CredentialType) {
    register_credential_syntax(credential_type, BodySyntax::Parser(body_len));
}

/// A UserInfo VC credential of type `credential_type` holding `jwt`.
pub fn credential(credential_type: CredentialType, jwt: &str) -> Result<Credential, Error> {
    register_syntax(credential_type);
    let len = u32::try_from(jwt.len()).map_err(|_| Error::InvalidUserInfoVc("jwt too long".into()))?;
    let mut body = len.to_be_bytes().to_vec();
    body.extend_from_slice(jwt.as_bytes());
    Ok(Credential::Other {
        credential_type,
        data: VLBytes::new(body),
    })
}

/// The JWT of a UserInfo VC credential.
pub fn jwt_of(credential: &Credential, credential_type: CredentialType) -> Result<String, Error> {
    let Credential::Other { credential_type: t, data } = credential else {
        return Err(Error::InvalidUserInfoVc("not a UserInfo VC credential".into()));
    };
    if *t != credential_type {
        return Err(Error::InvalidUserInfoVc("not a UserInfo VC credential".into()));
    }
    let body = data.as_slice();
    if body_len(body).ok() != Some(body.len()) {
        return Err(Error::InvalidUserInfoVc("the jwt's length does not match".into()));
    }
    let jwt = body.get(4..).unwrap_or_default();
    String::from_utf8(jwt.to_vec()).map_err(|_| Error::InvalidUserInfoVc("the jwt is not UTF-8".into()))
}

/// The issuers an application trusts, with their JWK sets.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    issuers: BTreeMap<String, JwkSet>,
}

impl TrustStore {
    /// Nobody trusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `issuer` (its `iss` value) with the keys of `jwks`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: &str, jwks: JwkSet) -> Self {
        self.issuers.insert(issuer.to_owned(), jwks);
        self
    }
}

#[derive(Deserialize)]
struct Subject {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vc {
    credential_subject: Subject,
}

/// The claims checked here; the other UserInfo claims are the
/// application's.
#[derive(Deserialize)]
struct Claims {
    iss: String,
    /// Always present in an OIDC UserInfo response (OpenID Connect Core
    /// §5.3.2), and half of the identity compared by
    /// [`UserInfoVcValidator::valid_successor`]: required, never empty.
    sub: String,
    vc: Vc,
}

/// The identity claims, read before the signature is checked (to find the
/// issuer's keys) or after (to compare subjects).
#[derive(Deserialize, PartialEq, Eq)]
struct Who {
    iss: Option<String>,
    sub: Option<String>,
}

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidUserInfoVc(why.into())
}

/// The `iss` and `sub` claims of a JWT, unverified.
fn who(jwt: &str) -> Result<Who, Error> {
    let payload = jwt.split('.').nth(1).ok_or_else(|| bad("not a JWS compact serialization"))?;
    let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad("payload is not base64url"))?;
    serde_json::from_slice(&json).map_err(|_| bad("payload is not a JSON object"))
}

/// The MLS `SignaturePublicKey` a JWK stands for: Ed25519 `x`, or the
/// uncompressed point `04 || x || y` of P-256 and P-384 (RFC 9420 §5.1.1).
fn mls_key(jwk: &Jwk) -> Result<Vec<u8>, Error> {
    let b64 = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| bad("a JWK coordinate is not base64url"));
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => b64(&okp.x),
        AlgorithmParameters::EllipticCurve(ec) if matches!(ec.curve, EllipticCurve::P256 | EllipticCurve::P384) => {
            let mut key = vec![0x04];
            key.extend(b64(&ec.x)?);
            key.extend(b64(&ec.y)?);
            Ok(key)
        }
        _ => Err(bad("the subject key is of a type mlsx does not support")),
    }
}

/// The key of a `did:jwk` URI.
fn did_jwk(id: &str) -> Result<Jwk, Error> {
    let encoded = id
        .strip_prefix("did:jwk:")
        .ok_or_else(|| bad("credentialSubject.id is not a did:jwk"))?;
    let json = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| bad("did:jwk is not base64url"))?;
    serde_json::from_slice(&json).map_err(|_| bad("did:jwk does not hold a JWK"))
}

/// The Authentication Service of UserInfo VC credentials.
#[derive(Clone, Debug)]
pub struct UserInfoVcValidator {
    trust: Arc<TrustStore>,
    credential_type: CredentialType,
    leeway_seconds: u64,
}

impl UserInfoVcValidator {
    /// Trusting the issuers of `trust`, for [`USERINFO_VC`], with 60
    /// seconds of clock leeway.
    pub fn new(trust: TrustStore) -> Self {
        register_syntax(USERINFO_VC);
        Self {
            trust: Arc::new(trust),
            credential_type: USERINFO_VC,
            leeway_seconds: 60,
        }
    }

    /// Another credential type value.
    #[must_use]
    pub fn with_type(mut self, credential_type: CredentialType) -> Self {
        register_syntax(credential_type);
        self.credential_type = credential_type;
        self
    }

    /// The steps of draft-mls-addl-creds §3 "Credential Validation".
    pub fn check(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), Error> {
        let jwt = jwt_of(credential, self.credential_type)?;
        let header = jsonwebtoken::decode_header(&jwt).map_err(|e| bad(format!("header: {e}")))?;
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256 | Algorithm::ES384) {
            return Err(bad(format!("algorithm {:?} not supported", header.alg)));
        }
        let iss = who(&jwt)?.iss.ok_or_else(|| bad("no iss claim"))?;
        let jwks = self.trust.issuers.get(&iss).ok_or(Error::UntrustedIssuer(iss.clone()))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[iss.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        let candidates = jwks.keys.iter().filter(|k| header.kid.is_none() || k.common.key_id == header.kid);
        let mut last = Error::UserInfoVcSignature;
        for key in candidates {
            let Ok(decoding) = DecodingKey::from_jwk(key) else { continue };
            match jsonwebtoken::decode::<Claims>(&jwt, &decoding, &validation) {
                Ok(data) => {
                    let subject = did_jwk(&data.claims.vc.credential_subject.id)?;
                    if data.claims.iss != iss {
                        return Err(bad("iss changed"));
                    }
                    if data.claims.sub.is_empty() {
                        return Err(bad("empty sub claim"));
                    }
                    return if mls_key(&subject)? == signature_key {
                        Ok(())
                    } else {
                        Err(Error::UserInfoVcKeyMismatch)
                    };
                }
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind as K;
                    last = match e.kind() {
                        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidEddsaKey | K::InvalidAlgorithm => Error::UserInfoVcSignature,
                        K::ExpiredSignature | K::ImmatureSignature => Error::UserInfoVcExpired,
                        _ => bad(e.to_string()),
                    };
                    if !matches!(last, Error::UserInfoVcSignature) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }
}

impl CredentialValidator for UserInfoVcValidator {
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), mlsx_base::Error> {
        Ok(self.check(credential, signature_key)?)
    }

    /// The same subject: equal `iss` and `sub` claims (the OpenID
    /// identity), read from the successor only after it validated.
    /// A credential without both claims has no identity to compare and is
    /// refused (two such VCs of one issuer are not "the same subject").
    fn valid_successor(&self, predecessor: &Credential, successor: &Credential) -> Result<(), mlsx_base::Error> {
        let ident = |c: &Credential| -> Result<(String, String), Error> {
            match who(&jwt_of(c, self.credential_type)?)? {
                Who {
                    iss: Some(iss),
                    sub: Some(sub),
                } if !iss.is_empty() && !sub.is_empty() => Ok((iss, sub)),
                _ => Err(Error::UserInfoVcSubjectChanged),
            }
        };
        if ident(predecessor)? == ident(successor)? {
            Ok(())
        } else {
            Err(Error::UserInfoVcSubjectChanged.into())
        }
    }
}
