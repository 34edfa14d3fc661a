//! The classical provider for the seven RFC 9420 suites, 0x0001–0x0007
//! (RFC 9420 §17.1), on RustCrypto crates.
//!
//! HPKE runs on `hpke-rs` (RustCrypto backend) for DHKEM(X25519), P-256 and
//! P-384; `hpke-rs` has no DHKEM(X448) or DHKEM(P-521), so suites 4, 5 and
//! 6 use the RFC 9180 implementation in this module (`hpke`), which tests
//! cross-check against `hpke-rs` on the curves both have.
//!
//! ```
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::{CryptoProvider, LabeledCrypto, rustcrypto::RustCryptoProvider};
//!
//! let provider = RustCryptoProvider::new();
//! let cs = provider
//!     .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
//!     .ok_or(mlsx_base::Error::UnsupportedCipherSuite(CipherSuite(1)))?;
//! let secret = cs.derive_secret(&[0u8; 32], b"example")?;
//! assert_eq!(secret.len(), 32);
//! # Ok::<(), mlsx_base::Error>(())
//! ```

mod composed;
mod hpke;
mod primitives;
mod sig;

pub use self::composed::ComposedSuite;
pub use self::hpke::{DhKem, HpkeContext, HpkeSuite};
pub use self::primitives::{AeadAlg, HashAlg};
pub use self::sig::SigAlg;

use std::sync::Arc;

use hpke_rs::{Hpke as HpkeRs, HpkePrivateKey as HpkeRsPrivateKey, HpkePublicKey as HpkeRsPublicKey, Mode};
use hpke_rs_crypto::types::{AeadAlgorithm, KdfAlgorithm, KemAlgorithm};
use hpke_rs_rust_crypto::HpkeRustCrypto;
use rand::Rng;
use zeroize::Zeroizing;

use self::hpke::Hpke;
use super::{CipherSuiteProvider, CryptoProvider, HpkePrivateKey, Secret, SignaturePrivateKey};
use crate::codec::CipherSuite;
use crate::error::CryptoError;

/// Which HPKE implementation a suite uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HpkeBackend {
    /// `hpke-rs` with its RustCrypto backend.
    HpkeRs,
    /// This module's RFC 9180 code.
    Native,
}

/// One RFC 9420 cipher suite on RustCrypto.
#[derive(Clone, Copy, Debug)]
pub struct RustCryptoSuite {
    suite: CipherSuite,
    hpke: Hpke,
    hash: HashAlg,
    sig: SigAlg,
    backend: HpkeBackend,
}

impl RustCryptoSuite {
    /// The suite for a code point, if it is one of RFC 9420's seven.
    pub fn new(suite: CipherSuite) -> Option<Self> {
        use {AeadAlg as A, DhKem as D, HashAlg as H, SigAlg as S};
        let (dh, hash, aead, sig) = match suite.value() {
            1 => (D::X25519, H::Sha256, A::Aes128Gcm, S::Ed25519),
            2 => (D::P256, H::Sha256, A::Aes128Gcm, S::EcdsaP256),
            3 => (D::X25519, H::Sha256, A::ChaCha20Poly1305, S::Ed25519),
            4 => (D::X448, H::Sha512, A::Aes256Gcm, S::Ed448),
            5 => (D::P521, H::Sha512, A::Aes256Gcm, S::EcdsaP521),
            6 => (D::X448, H::Sha512, A::ChaCha20Poly1305, S::Ed448),
            7 => (D::P384, H::Sha384, A::Aes256Gcm, S::EcdsaP384),
            _ => return None,
        };
        let backend = match dh {
            D::X448 | D::P521 => HpkeBackend::Native,
            _ => HpkeBackend::HpkeRs,
        };
        Some(Self {
            suite,
            hpke: Hpke { dh, kdf: hash, aead },
            hash,
            sig,
            backend,
        })
    }

    fn hpke_rs(&self) -> Result<HpkeRs<HpkeRustCrypto>, CryptoError> {
        let kem = match self.hpke.dh {
            DhKem::X25519 => KemAlgorithm::DhKem25519,
            DhKem::P256 => KemAlgorithm::DhKemP256,
            DhKem::P384 => KemAlgorithm::DhKemP384,
            DhKem::P521 => KemAlgorithm::DhKemP521,
            DhKem::X448 => KemAlgorithm::DhKem448,
        };
        let kdf = match self.hash {
            HashAlg::Sha256 => KdfAlgorithm::HkdfSha256,
            HashAlg::Sha384 => KdfAlgorithm::HkdfSha384,
            HashAlg::Sha512 => KdfAlgorithm::HkdfSha512,
        };
        let aead = match self.hpke.aead {
            AeadAlg::Aes128Gcm => AeadAlgorithm::Aes128Gcm,
            AeadAlg::Aes256Gcm => AeadAlgorithm::Aes256Gcm,
            AeadAlg::ChaCha20Poly1305 => AeadAlgorithm::ChaCha20Poly1305,
        };
        HpkeRs::try_new(Mode::Base, kem, kdf, aead).map_err(provider_err)
    }

    /// Fresh ephemeral input keying material for the native HPKE.
    fn ikm_e(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut ikm = Zeroizing::new(vec![0u8; 64]);
        fill_random(&mut ikm)?;
        Ok(ikm)
    }
}

fn provider_err(e: impl std::fmt::Debug) -> CryptoError {
    CryptoError::Provider(format!("hpke-rs: {e:?}").into())
}

fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    rand::rng().fill_bytes(out);
    Ok(())
}

impl CipherSuiteProvider for RustCryptoSuite {
    fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }

    fn hash(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(self.hash.hash(data))
    }

    fn hash_len(&self) -> usize {
        self.hash.len()
    }

    fn mac(&self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.hash.mac(key, data)
    }

    fn kdf_extract(&self, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError> {
        Ok(self.hash.extract(salt, ikm))
    }

    fn kdf_expand(&self, prk: &[u8], info: &[u8], len: usize) -> Result<Secret, CryptoError> {
        self.hash.expand(prk, info, len)
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
        match self.backend {
            HpkeBackend::Native => self.hpke.seal(pk, info, aad, pt, &self.ikm_e()?),
            HpkeBackend::HpkeRs => {
                let pk = HpkeRsPublicKey::new(pk.to_vec());
                self.hpke_rs()?
                    .seal(&pk, info, aad, pt, None, None, None)
                    .map_err(|_| CryptoError::EncryptionFailed)
            }
        }
    }

    fn hpke_seal_batch(&self, recipients: &[(&[u8], &[u8])], info: &[u8], aad: &[u8]) -> Result<Vec<super::HpkeSealed>, CryptoError> {
        // The native RFC 9180 code (cross-checked against hpke-rs) hashes
        // `info` once for the whole batch.
        // The recipients are independent: spread them over the cores.
        let info_hash = self.hpke.info_hash(info);
        crate::par::try_map(recipients, |(pk, pt)| {
            self.hpke.seal_hashed(pk, &info_hash, aad, pt, &self.ikm_e()?)
        })
    }

    fn hpke_open(&self, enc: &[u8], sk: &HpkePrivateKey, info: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        match self.backend {
            HpkeBackend::Native => self.hpke.open(enc, sk.as_bytes(), info, aad, ct),
            HpkeBackend::HpkeRs => {
                let sk = HpkeRsPrivateKey::new(sk.as_bytes().to_vec());
                self.hpke_rs()?
                    .open(enc, &sk, info, aad, ct, None, None, None)
                    .map(Secret::new)
                    .map_err(|_| CryptoError::DecryptionFailed)
            }
        }
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
        // The native RFC 9180 code (cross-checked against hpke-rs) takes
        // pkR as given instead of recomputing it.
        self.hpke.open_known(enc, sk.as_bytes(), pk, info, aad, ct)
    }

    fn hpke_export_sender(&self, pk: &[u8], info: &[u8], exporter_context: &[u8], len: usize) -> Result<(Vec<u8>, Secret), CryptoError> {
        match self.backend {
            HpkeBackend::Native => self.hpke.export_sender(pk, info, exporter_context, len, &self.ikm_e()?),
            HpkeBackend::HpkeRs => {
                let pk = HpkeRsPublicKey::new(pk.to_vec());
                let (enc, secret) = self
                    .hpke_rs()?
                    .send_export(&pk, info, None, None, None, exporter_context, len)
                    .map_err(provider_err)?;
                Ok((enc, Secret::new(secret)))
            }
        }
    }

    fn hpke_export_receiver(
        &self,
        enc: &[u8],
        sk: &HpkePrivateKey,
        info: &[u8],
        exporter_context: &[u8],
        len: usize,
    ) -> Result<Secret, CryptoError> {
        match self.backend {
            HpkeBackend::Native => self.hpke.export_receiver(enc, sk.as_bytes(), info, exporter_context, len),
            HpkeBackend::HpkeRs => {
                let sk = HpkeRsPrivateKey::new(sk.as_bytes().to_vec());
                self.hpke_rs()?
                    .receiver_export(enc, &sk, info, None, None, None, exporter_context, len)
                    .map(Secret::new)
                    .map_err(|_| CryptoError::DecryptionFailed)
            }
        }
    }

    fn kem_derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        match self.backend {
            HpkeBackend::Native => self.hpke.dh.derive_key_pair(ikm),
            HpkeBackend::HpkeRs => {
                let (sk, pk) = self.hpke_rs()?.derive_key_pair(ikm).map_err(provider_err)?.into_keys();
                Ok((HpkePrivateKey::from_slice(sk.as_slice()), pk.as_slice().to_vec()))
            }
        }
    }

    fn kem_generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        self.kem_derive_key_pair(&self.ikm_e()?)
    }

    fn kem_public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError> {
        self.hpke.dh.public_key(sk.as_bytes())
    }

    fn signature_generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError> {
        let sk = self.sig.generate(&mut |b| fill_random(b))?;
        let pk = self.sig.public_key(&sk)?;
        Ok((sk, pk))
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

    fn random_bytes(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        fill_random(out)
    }
}

/// [`CryptoProvider`] for suites 0x0001–0x0007.
#[derive(Clone, Debug, Default)]
pub struct RustCryptoProvider(());

impl RustCryptoProvider {
    /// The provider.
    pub fn new() -> Self {
        Self(())
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        CipherSuite::RFC9420.to_vec()
    }

    fn cipher_suite_provider(&self, suite: CipherSuite) -> Option<Arc<dyn CipherSuiteProvider>> {
        RustCryptoSuite::new(suite).map(|s| Arc::new(s) as Arc<dyn CipherSuiteProvider>)
    }
}

#[cfg(test)]
mod tests;
