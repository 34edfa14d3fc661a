//! Cipher suites assembled from components: any [`HpkeKem`], HKDF with a
//! SHA-2 hash, an AEAD and any [`SignatureScheme`] (RFC 9420 §5.1).
//!
//! This is the hook through which suites beyond RFC 9420's seven (the PQ
//! and hybrid suites of `pq-suites`, or an application's own) reuse the
//! engine's HPKE key schedule (RFC 9180 §5), KDF and AEAD instead of
//! re-implementing them: they supply only the KEM and the signature.

use std::sync::Arc;

use super::hpke::HpkeSuite;
use super::primitives::{AeadAlg, HashAlg};
use crate::codec::CipherSuite;
use crate::crypto::{CipherSuiteProvider, HpkeKem, HpkePrivateKey, HpkeSealed, Secret, SignaturePrivateKey, SignatureScheme};
use crate::error::CryptoError;

/// A [`CipherSuiteProvider`] made of a KEM, a hash (for the MLS hash, HMAC,
/// HKDF and the HPKE KDF), an AEAD (for MLS and HPKE) and a signature
/// scheme.
///
/// ```
/// use std::sync::Arc;
/// use mlsx_base::codec::CipherSuite;
/// use mlsx_base::crypto::{CipherSuiteProvider, LabeledCrypto};
/// use mlsx_base::crypto::rustcrypto::{AeadAlg, ComposedSuite, DhKem, HashAlg, SigAlg};
///
/// // A private-use code point for DHKEM(X25519) + AES-256-GCM + SHA-384 + Ed25519.
/// let cs = ComposedSuite::new(
///     CipherSuite(0xF0F0),
///     Arc::new(DhKem::X25519),
///     HashAlg::Sha384,
///     AeadAlg::Aes256Gcm,
///     Arc::new(SigAlg::Ed25519),
/// );
/// let (sk, pk) = cs.kem_generate_key_pair()?;
/// let (enc, ct) = cs.hpke_seal(&pk, b"info", b"aad", b"hi")?;
/// assert_eq!(cs.hpke_open(&enc, &sk, b"info", b"aad", &ct)?.as_bytes(), b"hi");
/// assert_eq!(cs.hash_len(), 48);
/// # Ok::<(), mlsx_base::error::CryptoError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ComposedSuite {
    suite: CipherSuite,
    kem: Arc<dyn HpkeKem>,
    hpke: HpkeSuite,
    sig: Arc<dyn SignatureScheme>,
}

impl ComposedSuite {
    /// A suite with code point `suite` made of these components.
    pub fn new(suite: CipherSuite, kem: Arc<dyn HpkeKem>, hash: HashAlg, aead: AeadAlg, sig: Arc<dyn SignatureScheme>) -> Self {
        let hpke = HpkeSuite {
            kem_id: kem.kem_id(),
            kdf: hash,
            aead,
        };
        Self { suite, kem, hpke, sig }
    }

    /// The KEM.
    pub fn kem(&self) -> &Arc<dyn HpkeKem> {
        &self.kem
    }

    /// The signature scheme.
    pub fn signature_scheme(&self) -> &Arc<dyn SignatureScheme> {
        &self.sig
    }

    /// The HPKE (KEM, KDF, AEAD) triple.
    pub fn hpke_suite(&self) -> HpkeSuite {
        self.hpke
    }
}

impl CipherSuiteProvider for ComposedSuite {
    fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }

    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(self.hpke.kdf.hash(data))
    }

    fn hash_len(&self) -> usize {
        self.hpke.kdf.len()
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.hpke.kdf.mac(key, data)
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError> {
        Ok(self.hpke.kdf.extract(salt, ikm))
    }

    fn kdf_expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Secret, CryptoError> {
        self.hpke.kdf.expand(prk, info, len)
    }

    fn aead_key_len(&self) -> usize {
        self.hpke.aead.key_len()
    }

    fn aead_nonce_len(&self) -> usize {
        self.hpke.aead.nonce_len()
    }

    fn aead_seal(&self, key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.hpke.aead.seal(key, nonce, aad, pt)
    }

    fn aead_open(&self, key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        self.hpke.aead.open(key, nonce, aad, ct)
    }

    fn hpke_seal(&self, pk: &[u8], info: &[u8], aad: &[u8], pt: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let (shared, enc) = self.kem.encap(pk)?;
        let ct = self.hpke.key_schedule(shared.as_bytes(), info)?.seal(0, aad, pt)?;
        Ok((enc, ct))
    }

    fn hpke_seal_batch(&self, recipients: &[(&[u8], &[u8])], info: &[u8], aad: &[u8]) -> Result<Vec<HpkeSealed>, CryptoError> {
        let info_hash = self.hpke.info_hash(info);
        crate::par::try_map(recipients, |(pk, pt)| {
            let (shared, enc) = self.kem.encap(pk)?;
            let ct = self.hpke.key_schedule_hashed(shared.as_bytes(), &info_hash)?.seal(0, aad, pt)?;
            Ok((enc, ct))
        })
    }

    fn hpke_open(&self, enc: &[u8], sk: &HpkePrivateKey, info: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        let shared = self.kem.decap(enc, sk).map_err(|_| CryptoError::DecryptionFailed)?;
        self.hpke.key_schedule(shared.as_bytes(), info)?.open(0, aad, ct)
    }

    fn hpke_open_with_public(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        pk: &[u8],
        info: &[u8],
        aad: &[u8],
        ct: &[u8],
    ) -> Result<Secret, CryptoError> {
        let shared = self.kem.decap_with_public(enc, sk, pk).map_err(|_| CryptoError::DecryptionFailed)?;
        self.hpke.key_schedule(shared.as_bytes(), info)?.open(0, aad, ct)
    }

    fn hpke_seal_psk(
        &self,
        pk: &[u8],
        info: &[u8],
        psk: &[u8],
        psk_id: &[u8],
        aad_of: &crate::crypto::AadOf<'_>,
        pt: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
        let (shared, enc) = self.kem.encap(pk)?;
        let context = self.hpke.key_schedule_psk(shared.as_bytes(), info, psk, psk_id)?;
        let ct = context.seal(0, &aad_of(&enc)?, pt)?;
        Ok((enc, ct))
    }

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
        let shared = self.kem.decap(enc, sk).map_err(|_| CryptoError::DecryptionFailed)?;
        self.hpke.key_schedule_psk(shared.as_bytes(), info, psk, psk_id)?.open(0, aad, ct)
    }

    fn hpke_export_sender(&self, pk: &[u8], info: &[u8], exporter_context: &[u8], len: usize) -> Result<(Vec<u8>, Secret), CryptoError> {
        let (shared, enc) = self.kem.encap(pk)?;
        let secret = self.hpke.key_schedule(shared.as_bytes(), info)?.export(exporter_context, len)?;
        Ok((enc, secret))
    }

    fn hpke_export_receiver(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        info: &[u8],
        exporter_context: &[u8],
        len: usize,
    ) -> Result<Secret, CryptoError> {
        let shared = self.kem.decap(enc, sk)?;
        self.hpke.key_schedule(shared.as_bytes(), info)?.export(exporter_context, len)
    }

    fn kem_derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        self.kem.derive_key_pair(ikm)
    }

    fn kem_generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        self.kem.generate_key_pair()
    }

    fn kem_public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError> {
        self.kem.public_key(sk)
    }

    fn kem_validate_public_key(&self, pk: &[u8]) -> Result<(), CryptoError> {
        self.kem.validate_public_key(pk)
    }

    fn signature_generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError> {
        self.sig.generate_key_pair()
    }

    fn signature_public_key(&self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError> {
        self.sig.public_key(sk)
    }

    fn sign(&self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.sig.sign(sk, msg)
    }

    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.sig.verify(pk, msg, sig)
    }

    fn verify_batch(&self, checks: &[crate::crypto::SignatureCheck<'_>]) -> Result<(), CryptoError> {
        self.sig.verify_batch(checks)
    }

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        super::fill_random(out)
    }
}
