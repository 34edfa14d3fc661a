//! Signature schemes of the RFC 9420 suites (§5.1.2): Ed25519 and Ed448
//! (`R || S`, raw seeds as private keys) and ECDSA over P-256/SHA-256,
//! P-384/SHA-384, P-521/SHA-512 (DER signatures, big-endian scalars,
//! uncompressed SEC1 public keys).

use signature::{Signer, Verifier};
use zeroize::Zeroizing;

use crate::crypto::SignaturePrivateKey;
use crate::error::CryptoError;

/// The classical signature schemes of RFC 9420's suites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigAlg {
    /// ed25519 (0x0807).
    Ed25519,
    /// ed448 (0x0808).
    Ed448,
    /// ecdsa_secp256r1_sha256 (0x0403).
    EcdsaP256,
    /// ecdsa_secp384r1_sha384 (0x0503).
    EcdsaP384,
    /// ecdsa_secp521r1_sha512 (0x0603).
    EcdsaP521,
}

macro_rules! ecdsa_impl {
    ($module:ident, $curve:ident) => {
        mod $module {
            use super::*;
            use $curve::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};

            pub(super) fn signing_key(sk: &[u8]) -> Result<SigningKey, CryptoError> {
                SigningKey::from_slice(sk).map_err(|_| CryptoError::InvalidKey)
            }

            pub(super) fn public(sk: &[u8]) -> Result<Vec<u8>, CryptoError> {
                Ok(signing_key(sk)?.verifying_key().to_sec1_point(false).as_bytes().to_vec())
            }

            pub(super) fn sign(sk: &[u8], msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
                let sig: Signature = signing_key(sk)?.try_sign(msg).map_err(|_| CryptoError::SigningFailed)?;
                let der: DerSignature = sig.to_der();
                Ok(der.as_bytes().to_vec())
            }

            pub(super) fn verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
                let vk = VerifyingKey::from_sec1_bytes(pk).map_err(|_| CryptoError::InvalidKey)?;
                let sig = Signature::from_der(sig).map_err(|_| CryptoError::InvalidSignature)?;
                vk.verify(msg, &sig).map_err(|_| CryptoError::InvalidSignature)
            }

            /// Checks that `sk` is a valid scalar of the curve.
            pub(super) fn valid(sk: &[u8]) -> bool {
                SigningKey::from_slice(sk).is_ok()
            }
        }
    };
}

ecdsa_impl!(p256_impl, p256);
ecdsa_impl!(p384_impl, p384);
ecdsa_impl!(p521_impl, p521);

impl SigAlg {
    /// Length of a private key (seed or scalar).
    fn private_len(self) -> usize {
        match self {
            Self::Ed25519 | Self::EcdsaP256 => 32,
            Self::Ed448 => 57,
            Self::EcdsaP384 => 48,
            Self::EcdsaP521 => 66,
        }
    }

    pub(crate) fn generate(self, fill: &mut dyn FnMut(&mut [u8]) -> Result<(), CryptoError>) -> Result<SignaturePrivateKey, CryptoError> {
        let mut sk = Zeroizing::new(vec![0u8; self.private_len()]);
        // Rejection sampling for ECDSA scalars; EdDSA seeds are any bytes.
        for _ in 0..256 {
            fill(&mut sk)?;
            if let (Self::EcdsaP521, Some(first)) = (self, sk.first_mut()) {
                *first &= 0x01;
            }
            let ok = match self {
                Self::Ed25519 | Self::Ed448 => true,
                Self::EcdsaP256 => p256_impl::valid(&sk),
                Self::EcdsaP384 => p384_impl::valid(&sk),
                Self::EcdsaP521 => p521_impl::valid(&sk),
            };
            if ok {
                return Ok(SignaturePrivateKey::new(std::mem::take(&mut *sk)));
            }
        }
        Err(CryptoError::Rng)
    }

    pub(crate) fn public_key(self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError> {
        let sk = sk.as_bytes();
        match self {
            Self::Ed25519 => Ok(ed25519_key(sk)?.verifying_key().to_bytes().to_vec()),
            Self::Ed448 => Ok(ed448_key(sk)?.verifying_key().to_bytes().to_vec()),
            Self::EcdsaP256 => p256_impl::public(sk),
            Self::EcdsaP384 => p384_impl::public(sk),
            Self::EcdsaP521 => p521_impl::public(sk),
        }
    }

    pub(crate) fn sign(self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let sk = sk.as_bytes();
        match self {
            Self::Ed25519 => Ok(ed25519_key(sk)?.sign(msg).to_bytes().to_vec()),
            Self::Ed448 => Ok(ed448_key(sk)?.sign_raw(msg).to_bytes().to_vec()),
            Self::EcdsaP256 => p256_impl::sign(sk, msg),
            Self::EcdsaP384 => p384_impl::sign(sk, msg),
            Self::EcdsaP521 => p521_impl::sign(sk, msg),
        }
    }

    pub(crate) fn verify(self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        match self {
            Self::Ed25519 => super::ed25519::verify(pk, msg, sig),
            Self::Ed448 => {
                let pk: &[u8; 57] = pk.try_into().map_err(|_| CryptoError::InvalidKey)?;
                let vk = ed448_goldilocks::VerifyingKey::from_bytes(pk).map_err(|_| CryptoError::InvalidKey)?;
                let sig = ed448_goldilocks::Signature::from_slice(sig).map_err(|_| CryptoError::InvalidSignature)?;
                vk.verify_raw(&sig, msg).map_err(|_| CryptoError::InvalidSignature)
            }
            Self::EcdsaP256 => p256_impl::verify(pk, msg, sig),
            Self::EcdsaP384 => p384_impl::verify(pk, msg, sig),
            Self::EcdsaP521 => p521_impl::verify(pk, msg, sig),
        }
    }
}

fn ed25519_key(sk: &[u8]) -> Result<ed25519_dalek::SigningKey, CryptoError> {
    let seed: &[u8; 32] = sk.try_into().map_err(|_| CryptoError::InvalidKey)?;
    Ok(ed25519_dalek::SigningKey::from_bytes(seed))
}

fn ed448_key(sk: &[u8]) -> Result<ed448_goldilocks::SigningKey, CryptoError> {
    let seed = ed448_goldilocks::SecretKey::try_from(sk).map_err(|_| CryptoError::InvalidKey)?;
    Ok(ed448_goldilocks::SigningKey::from(seed))
}

impl crate::crypto::SignatureScheme for SigAlg {
    fn scheme(&self) -> u16 {
        match self {
            Self::Ed25519 => 0x0807,
            Self::Ed448 => 0x0808,
            Self::EcdsaP256 => 0x0403,
            Self::EcdsaP384 => 0x0503,
            Self::EcdsaP521 => 0x0603,
        }
    }

    fn generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError> {
        let sk = self.generate(&mut |b| super::fill_random(b))?;
        let pk = SigAlg::public_key(*self, &sk)?;
        Ok((sk, pk))
    }

    fn public_key(&self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError> {
        SigAlg::public_key(*self, sk)
    }

    fn sign(&self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        SigAlg::sign(*self, sk, msg)
    }

    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        SigAlg::verify(*self, pk, msg, sig)
    }

    fn verify_batch(&self, checks: &[crate::crypto::SignatureCheck<'_>]) -> Result<(), CryptoError> {
        match self {
            Self::Ed25519 => super::ed25519::verify_batch(checks),
            _ => checks.iter().try_for_each(|(pk, msg, sig)| SigAlg::verify(*self, pk, msg, sig)),
        }
    }
}
