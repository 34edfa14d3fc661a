//! Hash, HMAC, HKDF and AEAD on RustCrypto crates (RFC 9420 §5.1).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::crypto::Secret;
use crate::error::CryptoError;

/// A hash function and the HMAC/HKDF built on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-256 (HPKE KDF 0x0001 as HKDF).
    Sha256,
    /// SHA-384 (HPKE KDF 0x0002 as HKDF).
    Sha384,
    /// SHA-512 (HPKE KDF 0x0003 as HKDF).
    Sha512,
}

macro_rules! with_hash {
    ($alg:expr, $h:ident => $body:expr) => {
        match $alg {
            HashAlg::Sha256 => {
                type $h = Sha256;
                $body
            }
            HashAlg::Sha384 => {
                type $h = Sha384;
                $body
            }
            HashAlg::Sha512 => {
                type $h = Sha512;
                $body
            }
        }
    };
}

impl HashAlg {
    /// Output length `Nh` (a size, not a container's length).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The HPKE KDF identifier of HKDF with this hash (RFC 9180 §7.2).
    pub fn hpke_kdf_id(self) -> u16 {
        match self {
            Self::Sha256 => 1,
            Self::Sha384 => 2,
            Self::Sha512 => 3,
        }
    }

    /// `Hash(data)`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        with_hash!(self, H => H::digest(data).to_vec())
    }

    /// `HMAC(key, data)`.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        with_hash!(self, H => {
            let mut m = <Hmac<H> as hmac::KeyInit>::new_from_slice(key).map_err(|_| CryptoError::InvalidKey)?;
            m.update(data);
            Ok(m.finalize().into_bytes().to_vec())
        })
    }

    /// `HKDF-Extract(salt, ikm)`.
    pub fn extract(self, salt: &[u8], ikm: &[u8]) -> Secret {
        with_hash!(self, H => {
            let (prk, _) = Hkdf::<H>::extract(Some(salt), ikm);
            Secret::new(prk.to_vec())
        })
    }

    /// `HKDF-Expand(prk, info, len)`.
    pub fn expand(self, prk: &[u8], info: &[u8], len: usize) -> Result<Secret, CryptoError> {
        with_hash!(self, H => {
            let hk = Hkdf::<H>::from_prk(prk).map_err(|_| CryptoError::InvalidKey)?;
            let mut okm = Zeroizing::new(vec![0u8; len]);
            hk.expand(info, &mut okm).map_err(|_| CryptoError::InvalidLength(len))?;
            Ok(Secret::new(std::mem::take(&mut *okm)))
        })
    }
}

/// An AEAD algorithm (RFC 9180 §7.3 identifiers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlg {
    /// AES-128-GCM, 0x0001.
    Aes128Gcm,
    /// AES-256-GCM, 0x0002.
    Aes256Gcm,
    /// ChaCha20Poly1305, 0x0003.
    ChaCha20Poly1305,
}

macro_rules! aead_op {
    ($alg:expr, $key:expr, $nonce:expr, $op:ident, $payload:expr, $err:expr) => {{
        fn run<A: Aead + KeyInit>(key: &[u8], nonce: &[u8], payload: Payload<'_, '_>) -> Result<Vec<u8>, CryptoError> {
            let cipher = A::new_from_slice(key).map_err(|_| CryptoError::InvalidKey)?;
            let nonce = aes_gcm::aead::Nonce::<A>::try_from(nonce).map_err(|_| CryptoError::InvalidKey)?;
            cipher.$op(&nonce, payload).map_err(|_| $err)
        }
        match $alg {
            AeadAlg::Aes128Gcm => run::<Aes128Gcm>($key, $nonce, $payload),
            AeadAlg::Aes256Gcm => run::<Aes256Gcm>($key, $nonce, $payload),
            AeadAlg::ChaCha20Poly1305 => run::<ChaCha20Poly1305>($key, $nonce, $payload),
        }
    }};
}

impl AeadAlg {
    /// `Nk`.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm | Self::ChaCha20Poly1305 => 32,
        }
    }

    /// `Nn`.
    pub fn nonce_len(self) -> usize {
        12
    }

    /// The HPKE AEAD identifier.
    pub fn hpke_id(self) -> u16 {
        match self {
            Self::Aes128Gcm => 1,
            Self::Aes256Gcm => 2,
            Self::ChaCha20Poly1305 => 3,
        }
    }

    /// `Seal(key, nonce, aad, pt)`, tag appended.
    pub fn seal(self, key: &[u8], nonce: &[u8], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead_op!(self, key, nonce, encrypt, Payload { msg: pt, aad }, CryptoError::EncryptionFailed)
    }

    /// `Open(key, nonce, aad, ct)`.
    pub fn open(self, key: &[u8], nonce: &[u8], aad: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        aead_op!(self, key, nonce, decrypt, Payload { msg: ct, aad }, CryptoError::DecryptionFailed).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn aead_round_trip_and_tamper() {
        for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm, AeadAlg::ChaCha20Poly1305] {
            let key = vec![1u8; alg.key_len()];
            let nonce = vec![2u8; alg.nonce_len()];
            let mut ct = alg.seal(&key, &nonce, b"aad", b"hello").unwrap();
            assert_eq!(alg.open(&key, &nonce, b"aad", &ct).unwrap().as_bytes(), b"hello");
            assert!(alg.open(&key, &nonce, b"aaX", &ct).is_err());
            ct[0] ^= 1;
            assert!(alg.open(&key, &nonce, b"aad", &ct).is_err());
            assert!(alg.open(&key[1..], &nonce, b"aad", &ct).is_err());
            assert!(alg.open(&key, &nonce[1..], b"aad", &ct).is_err());
            assert!(alg.open(&key, &nonce, b"aad", &[]).is_err());
        }
    }

    #[test]
    fn hkdf_rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let prk = HashAlg::Sha256.extract(&salt, &ikm);
        let okm = HashAlg::Sha256.expand(prk.as_bytes(), &info, 42).unwrap();
        assert_eq!(
            hex::encode(okm.as_bytes()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        assert!(HashAlg::Sha256.expand(prk.as_bytes(), &info, 255 * 32 + 1).is_err());
    }
}
