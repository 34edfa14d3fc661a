//! The cryptographic provider boundary (RFC 9420 §5).
//!
//! [`CipherSuiteProvider`] is the whole set of primitives one cipher suite
//! needs; [`CryptoProvider`] maps a [`CipherSuite`] code point to one. The
//! labeled operations of RFC 9420 §5 and §8 are written once, on top of the
//! trait, in [`labeled`], so a new suite (for example a PQ suite from
//! `pq-suites`) only implements the raw primitives.

pub mod labeled;
#[cfg(feature = "rustcrypto")]
pub mod rustcrypto;
mod secret;

use std::sync::Arc;

pub use labeled::LabeledCrypto;
pub use secret::{HpkePrivateKey, Secret, SignaturePrivateKey};

use crate::codec::CipherSuite;
use crate::error::CryptoError;

/// An HPKE `(enc, ciphertext)` pair.
pub type HpkeSealed = (Vec<u8>, Vec<u8>);

/// Builds an HPKE `aad` from the KEM output `enc`
/// ([`CipherSuiteProvider::hpke_seal_psk`]).
pub type AadOf<'a> = dyn Fn(&[u8]) -> Result<Vec<u8>, CryptoError> + 'a;

/// The primitives of one MLS cipher suite (RFC 9420 §5.1).
///
/// Public keys are passed as their wire serialization (`SerializePublicKey`
/// for HPKE; the signature scheme's encoding for signatures), private keys
/// in the newtypes of this module, which zeroize on drop.
pub trait CipherSuiteProvider: Send + Sync + std::fmt::Debug {
    /// The code point this provider implements.
    fn cipher_suite(&self) -> CipherSuite;

    /// `Hash(data)` with the suite's hash function.
    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Output length of the hash, which is also `KDF.Nh` in every suite.
    fn hash_len(&self) -> usize;
    /// `MAC(key, data)`: HMAC with the suite's hash (RFC 9420 §5.1).
    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// `KDF.Extract(salt, ikm)`.
    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError>;
    /// `KDF.Expand(prk, info, len)`.
    fn kdf_expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Secret, CryptoError>;

    /// `AEAD.Nk`.
    fn aead_key_len(&self) -> usize;
    /// `AEAD.Nn`.
    fn aead_nonce_len(&self) -> usize;
    /// `AEAD.Seal(key, nonce, aad, pt)`; the tag is appended.
    fn aead_seal(&self, key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// `AEAD.Open(key, nonce, aad, ct)`.
    fn aead_open(&self, key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError>;

    /// HPKE `SealBase(pk, info, aad, pt)` (RFC 9180 §6.1): returns `(enc, ct)`.
    fn hpke_seal(&self, pk: &[u8], info: &[u8], aad: &[u8], pt: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError>;
    /// `SealBase` of one plaintext per recipient, all with the same `info`
    /// and `aad`. Equivalent to calling [`Self::hpke_seal`] for each; a
    /// provider may share the work that does not depend on the recipient
    /// (the Welcome encrypts to every new member with the whole encrypted
    /// GroupInfo as `info`).
    fn hpke_seal_batch(&self, recipients: &[(&[u8], &[u8])], info: &[u8], aad: &[u8]) -> Result<Vec<HpkeSealed>, CryptoError> {
        recipients.iter().map(|(pk, pt)| self.hpke_seal(pk, info, aad, pt)).collect()
    }

    /// HPKE `OpenBase(enc, sk, info, aad, ct)` (RFC 9180 §6.1).
    fn hpke_open(&self, enc: &[u8], sk: &HpkePrivateKey, info: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError>;
    /// `OpenBase` when the caller already holds the recipient's public key
    /// `pk` (tree nodes and KeyPackage init keys): a DHKEM needs `pkR` for
    /// its KEM context, and a provider may use `pk` instead of recomputing
    /// it from `sk` (one scalar multiplication per decryption). A `pk`
    /// that does not belong to `sk` makes decryption fail. The default
    /// ignores `pk`.
    fn hpke_open_with_public(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        pk: &[u8],
        info: &[u8],
        aad: &[u8],
        ct: &[u8],
    ) -> Result<Secret, CryptoError> {
        let _ = pk;
        self.hpke_open(enc, sk, info, aad, ct)
    }
    /// HPKE in PSK mode (RFC 9180 §5.1.2): `SetupPSKS(pk, info, psk,
    /// psk_id)`, then `Seal(aad, pt)` with the `aad` that `aad_of` builds
    /// from `enc` (a protocol whose AAD covers the KEM output, such as
    /// targeted messages, cannot use the single-shot `SealPSK`). Returns
    /// `(enc, ct)`. The default reports that the provider lacks PSK mode.
    fn hpke_seal_psk(
        &self,
        pk: &[u8],
        info: &[u8],
        psk: &[u8],
        psk_id: &[u8],
        aad_of: &AadOf<'_>,
        pt: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let _ = (pk, info, psk, psk_id, aad_of, pt);
        Err(CryptoError::Provider("HPKE PSK mode is not supported by this provider".into()))
    }
    /// HPKE `OpenPSK(enc, sk, info, aad, ct, psk, psk_id)` (RFC 9180
    /// §6.1). The default reports that the provider lacks PSK mode.
    #[allow(clippy::too_many_arguments)]
    fn hpke_open_psk(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        info: &[u8],
        aad: &[u8],
        ct: &[u8],
        psk: &[u8],
        psk_id: &[u8],
    ) -> Result<Secret, CryptoError> {
        let _ = (enc, sk, info, aad, ct, psk, psk_id);
        Err(CryptoError::Provider("HPKE PSK mode is not supported by this provider".into()))
    }
    /// `SetupBaseS(pk, info)` then `Export(exporter_context, len)`: returns `(enc, secret)`.
    fn hpke_export_sender(&self, pk: &[u8], info: &[u8], exporter_context: &[u8], len: usize) -> Result<(Vec<u8>, Secret), CryptoError>;
    /// `SetupBaseR(enc, sk, info)` then `Export(exporter_context, len)`.
    fn hpke_export_receiver(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        info: &[u8],
        exporter_context: &[u8],
        len: usize,
    ) -> Result<Secret, CryptoError>;
    /// `DeriveKeyPair(ikm)` of the suite's KEM (RFC 9180 §7.1.3); returns
    /// the private key (`SerializePrivateKey`) and the public key.
    fn kem_derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError>;
    /// A fresh random KEM key pair.
    fn kem_generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError>;
    /// Checks that `pk` is a public key of the suite's KEM (RFC 9420 §10;
    /// see [`HpkeKem::validate_public_key`]). The default seals an empty
    /// message to it.
    fn kem_validate_public_key(&self, pk: &[u8]) -> Result<(), CryptoError> {
        self.hpke_seal(pk, b"", b"", b"").map(|_| ())
    }
    /// The public key that belongs to a KEM private key.
    fn kem_public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError>;

    /// A fresh random signature key pair: `(private, public)`.
    fn signature_generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError>;
    /// The public key of a signature private key.
    fn signature_public_key(&self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError>;
    /// Signs `msg` (ECDSA signatures are DER, EdDSA ones `R || S`).
    fn sign(&self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Verifies `sig` over `msg` under `pk`.
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError>;

    /// Verifies many `(public key, message, signature)` triples: `Ok` only
    /// if every one verifies. Schemes with batch verification override it
    /// (Ed25519: see `crypto::rustcrypto`); the default checks one at a
    /// time.
    fn verify_batch(&self, checks: &[SignatureCheck<'_>]) -> Result<(), CryptoError> {
        checks.iter().try_for_each(|(pk, msg, sig)| self.verify(pk, msg, sig))
    }

    /// Fills `out` with cryptographically secure random bytes.
    fn random_bytes(&self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// `len` fresh random bytes.
    fn random_vec(&self, len: usize) -> Result<Vec<u8>, CryptoError> {
        let mut v = vec![0u8; len];
        self.random_bytes(&mut v)?;
        Ok(v)
    }
}

/// A KEM as HPKE uses it (RFC 9180 §4): the component a cipher suite
/// swaps to change its key encapsulation, for example to ML-KEM or a PQ/T
/// hybrid. [`rustcrypto::ComposedSuite`] builds a whole
/// [`CipherSuiteProvider`] from one of these, a KDF, an AEAD and a
/// [`SignatureScheme`].
///
/// Private keys are `SerializePrivateKey` output; public keys and `enc` are
/// `SerializePublicKey` output. Implementations must validate every public
/// key and `enc` they are given, since both arrive from the network.
pub trait HpkeKem: Send + Sync + std::fmt::Debug {
    /// The HPKE KEM identifier (the `kem_id` of `suite_id`).
    fn kem_id(&self) -> u16;
    /// `DeriveKeyPair(ikm)`: `(private, public)`.
    fn derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError>;
    /// `GenerateKeyPair()`: `(private, public)`.
    fn generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError>;
    /// The public key of a private key.
    fn public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError>;
    /// `Encap(pkR)`: `(shared_secret, enc)`, with fresh randomness.
    fn encap(&self, pk: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError>;
    /// Checks that `pk` is a public key of this KEM, as a KeyPackage's
    /// `init_key` and a leaf's `encryption_key` must be (RFC 9420 §10):
    /// its length and encoding, and whatever the KEM can check without a
    /// private key (on-curve for NIST curves, the FIPS 203 modulus check
    /// for ML-KEM). The default encapsulates to it, which checks as much as
    /// the KEM does but costs an encapsulation; KEMs override it.
    fn validate_public_key(&self, pk: &[u8]) -> Result<(), CryptoError> {
        self.encap(pk).map(|_| ())
    }
    /// `Decap(enc, skR)`: the shared secret.
    fn decap(&self, enc: &[u8], sk: &HpkePrivateKey) -> Result<Secret, CryptoError>;
    /// `Decap` when the caller holds `pkR` too (see
    /// [`CipherSuiteProvider::hpke_open_with_public`]); a DHKEM can skip
    /// recomputing it. The default ignores `pk`.
    fn decap_with_public(&self, enc: &[u8], sk: &HpkePrivateKey, pk: &[u8]) -> Result<Secret, CryptoError> {
        let _ = pk;
        self.decap(enc, sk)
    }
}

/// A signature scheme (RFC 9420 §5.1.2), the other component a cipher
/// suite may swap.
pub trait SignatureScheme: Send + Sync + std::fmt::Debug {
    /// The TLS `SignatureScheme` code point (RFC 8446 §4.2.3 and its registry).
    fn scheme(&self) -> u16;
    /// A fresh random key pair: `(private, public)`.
    fn generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError>;
    /// The public key of a private key.
    fn public_key(&self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError>;
    /// Signs `msg`.
    fn sign(&self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Verifies `sig` over `msg` under `pk`.
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError>;
    /// Verifies many `(public key, message, signature)` triples, `Ok` only
    /// if all verify; the default checks one at a time.
    fn verify_batch(&self, checks: &[SignatureCheck<'_>]) -> Result<(), CryptoError> {
        checks.iter().try_for_each(|(pk, msg, sig)| self.verify(pk, msg, sig))
    }
}

/// One signature to check in a batch: `(public key, message, signature)`.
pub type SignatureCheck<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Maps cipher-suite code points to providers.
///
/// Providers compose: [`CryptoProviders`] chains several, so `pq-suites`
/// adds its suites beside the classical ones without touching `mlsx-base`.
pub trait CryptoProvider: Send + Sync + std::fmt::Debug {
    /// The suites this provider implements.
    fn supported_cipher_suites(&self) -> Vec<CipherSuite>;
    /// The provider for one suite, if supported.
    fn cipher_suite_provider(&self, suite: CipherSuite) -> Option<Arc<dyn CipherSuiteProvider>>;
}

/// An ordered list of providers; the first that supports a suite wins.
#[derive(Debug, Default, Clone)]
pub struct CryptoProviders(Vec<Arc<dyn CryptoProvider>>);

impl CryptoProviders {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a provider (lower priority than those already present).
    #[must_use]
    pub fn with(mut self, provider: Arc<dyn CryptoProvider>) -> Self {
        self.0.push(provider);
        self
    }
}

impl CryptoProvider for CryptoProviders {
    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        let mut out: Vec<CipherSuite> = Vec::new();
        for p in &self.0 {
            for s in p.supported_cipher_suites() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    fn cipher_suite_provider(&self, suite: CipherSuite) -> Option<Arc<dyn CipherSuiteProvider>> {
        self.0.iter().find_map(|p| p.cipher_suite_provider(suite))
    }
}
