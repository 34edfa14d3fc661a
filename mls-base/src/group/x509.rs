//! An X.509 credential validator (RFC 9420 §5.3, §5.3.1), behind the
//! `x509` feature: the chain in an `x509` credential must lead, by valid
//! signatures of CA certificates, to a configured trust anchor; every
//! certificate must be within its validity period; and the leaf
//! certificate's public key must be the member's `signature_key`.
//!
//! Supported certificate signatures: ECDSA P-256/SHA-256, P-384/SHA-384,
//! P-521/SHA-512, Ed25519. Revocation is the application's concern.

use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode, oid::ObjectIdentifier};
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

use super::validation::{CredentialValidator, LeafError, now};
use crate::codec::Credential;
use crate::error::{Error, PeerError};

const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Validates `x509` credentials against trust anchors; rejects other types.
#[derive(Clone, Debug)]
pub struct X509CredentialValidator {
    anchors: Vec<Certificate>,
    time: Option<u64>,
}

fn reject(why: &'static str) -> Error {
    PeerError::InvalidLeaf(LeafError::CredentialRejected(why)).into()
}

impl X509CredentialValidator {
    /// A validator trusting these DER-encoded anchor certificates.
    pub fn new(trust_anchors: &[Vec<u8>]) -> Result<Self, Error> {
        let anchors = trust_anchors
            .iter()
            .map(|d| Certificate::from_der(d).map_err(|_| reject("malformed trust anchor")))
            .collect::<Result<_, _>>()?;
        Ok(Self { anchors, time: None })
    }

    /// Validates as of this Unix time instead of the clock.
    #[must_use]
    pub fn at_time(mut self, unix_seconds: u64) -> Self {
        self.time = Some(unix_seconds);
        self
    }

    fn check_validity(&self, cert: &Certificate) -> Result<(), Error> {
        let t = self.time.unwrap_or_else(now);
        let v = cert.tbs_certificate().validity();
        let not_before = v.not_before.to_unix_duration().as_secs();
        let not_after = v.not_after.to_unix_duration().as_secs();
        if t < not_before || t > not_after {
            Err(reject("certificate outside its validity period"))
        } else {
            Ok(())
        }
    }
}

/// The identity an X.509 credential asserts: its end-entity certificate's
/// subject and subjectAltName extension (DER), the parts a successor must
/// keep (RFC 9420 §5.3.1).
fn asserted_identity(credential: &Credential) -> Result<(Vec<u8>, Option<Vec<u8>>), Error> {
    let Credential::X509(certs) = credential else {
        return Err(PeerError::InvalidLeaf(LeafError::UnsupportedCredential(credential.credential_type())).into());
    };
    let der = certs.first().ok_or(reject("empty certificate chain"))?;
    let cert = Certificate::from_der(der.cert_data.as_slice()).map_err(|_| reject("malformed certificate"))?;
    let tbs = cert.tbs_certificate();
    let subject = tbs.subject().to_der().map_err(|_| reject("malformed certificate"))?;
    let san = tbs
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == SUBJECT_ALT_NAME)
        .map(|e| e.extn_value.as_bytes().to_vec());
    Ok((subject, san))
}

const SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

fn is_ca(cert: &Certificate) -> bool {
    matches!(cert.tbs_certificate().get_extension::<BasicConstraints>(), Ok(Some((_, bc))) if bc.ca)
}

/// Verifies `cert`'s signature with `issuer`'s public key.
fn verify_signed_by(cert: &Certificate, issuer: &SubjectPublicKeyInfoOwned) -> Result<(), Error> {
    use signature::Verifier;
    let tbs = cert.tbs_certificate().to_der().map_err(|_| reject("unencodable certificate"))?;
    let sig = cert.signature().raw_bytes();
    let key = issuer.subject_public_key.raw_bytes();
    let bad = |_| reject("bad certificate signature");
    match cert.signature_algorithm().oid {
        ECDSA_SHA256 => {
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(bad)?;
            vk.verify(&tbs, &p256::ecdsa::Signature::from_der(sig).map_err(bad)?).map_err(bad)
        }
        ECDSA_SHA384 => {
            let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(bad)?;
            vk.verify(&tbs, &p384::ecdsa::Signature::from_der(sig).map_err(bad)?).map_err(bad)
        }
        ECDSA_SHA512 => {
            let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(bad)?;
            vk.verify(&tbs, &p521::ecdsa::Signature::from_der(sig).map_err(bad)?).map_err(bad)
        }
        ED25519 => {
            let key: &[u8; 32] = key.try_into().map_err(|_| reject("bad Ed25519 key"))?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(bad)?;
            vk.verify_strict(&tbs, &ed25519_dalek::Signature::from_slice(sig).map_err(bad)?)
                .map_err(bad)
        }
        _ => Err(reject("unsupported certificate signature algorithm")),
    }
}

impl CredentialValidator for X509CredentialValidator {
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), Error> {
        let Credential::X509(certs) = credential else {
            return Err(PeerError::InvalidLeaf(LeafError::UnsupportedCredential(credential.credential_type())).into());
        };
        let chain = certs
            .iter()
            .map(|c| Certificate::from_der(c.cert_data.as_slice()).map_err(|_| reject("malformed certificate")))
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = chain.first().ok_or(reject("empty certificate chain"))?;
        // RFC 9420 §5.3: the leaf certificate's key is the signature key.
        if leaf.tbs_certificate().subject_public_key_info().subject_public_key.raw_bytes() != signature_key {
            return Err(reject("leaf certificate key is not the signature key"));
        }
        for (i, cert) in chain.iter().enumerate() {
            self.check_validity(cert)?;
            if let Some(anchor) = self.anchors.iter().find(|a| *a == cert) {
                // The chain reaches an anchor itself.
                return self.check_validity(anchor);
            }
            match chain.get(i + 1) {
                Some(issuer) => {
                    if issuer.tbs_certificate().subject() != cert.tbs_certificate().issuer() || !is_ca(issuer) {
                        return Err(reject("issuer is not the next certificate's CA"));
                    }
                    verify_signed_by(cert, issuer.tbs_certificate().subject_public_key_info())?;
                }
                None => {
                    let anchor = self
                        .anchors
                        .iter()
                        .find(|a| a.tbs_certificate().subject() == cert.tbs_certificate().issuer())
                        .ok_or(reject("chain does not reach a trust anchor"))?;
                    self.check_validity(anchor)?;
                    return verify_signed_by(cert, anchor.tbs_certificate().subject_public_key_info());
                }
            }
        }
        Err(reject("chain does not reach a trust anchor"))
    }

    /// A successor certificate names the same subject and subjectAltNames
    /// (it may come from another CA of the trust store, have another key
    /// and another validity period).
    fn valid_successor(&self, predecessor: &Credential, successor: &Credential) -> Result<(), Error> {
        if asserted_identity(predecessor)? == asserted_identity(successor)? {
            Ok(())
        } else {
            Err(PeerError::InvalidLeaf(LeafError::InvalidSuccessor).into())
        }
    }
}
