//! ML-KEM-768 and ML-KEM-1024 as HPKE KEMs (draft-ietf-hpke-pq §3, FIPS 203).
//!
//! Private keys are the 64-byte seed `d || z`; public keys and `enc` are the
//! FIPS 203 encodings. Every encapsulation key from the network passes the
//! FIPS 203 §7.2 checks (length and modulus) before it is used.

use ml_kem::kem::{Decapsulate, KeyExport, TryKeyInit};
use zeroize::Zeroizing;

use mlsx_base::crypto::{HpkeKem, HpkePrivateKey, Secret};
use mlsx_base::error::CryptoError;

use crate::Backend;
use crate::shake::{labeled_derive, shake256};

/// How `DeriveKeyPair(ikm)` turns input keying material into a seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeyDerivation {
    /// `SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nseed)`, as
    /// draft-ietf-hpke-pq specifies (and hpke-rs 0.8 implements).
    #[default]
    Labeled,
    /// `SHAKE256(ikm, Nseed)` without a label: the older form used by
    /// hpke-rs 0.7 and so by OpenMLS 0.9, and by the X-Wing draft's own
    /// HPKE section. Only for interoperating with those.
    LegacyUnlabeled,
}

impl KeyDerivation {
    /// The seed of `len` bytes for `kem_id` from `ikm`.
    pub(crate) fn seed(self, kem_id: u16, ikm: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        match self {
            Self::Labeled => labeled_derive(kem_id, ikm, b"DeriveKeyPair", b"", len),
            Self::LegacyUnlabeled => Ok(shake256(&[ikm], len)),
        }
    }
}

/// An ML-KEM parameter set as an HPKE KEM.
///
/// ```
/// use mlsx_base::crypto::HpkeKem;
/// use mlsx_pq_suites::{Backend, KeyDerivation, MlKem};
///
/// let kem = MlKem::MlKem768(KeyDerivation::Labeled, Backend::default());
/// let (sk, pk) = kem.derive_key_pair(&[1u8; 32])?;
/// assert_eq!((sk.len(), pk.len()), (64, 1184));
/// let (ss, enc) = kem.encap(&pk)?;
/// assert_eq!(kem.decap(&enc, &sk)?, ss);
/// # Ok::<(), mlsx_base::error::CryptoError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlKem {
    /// ML-KEM-768, HPKE KEM 0x0041.
    MlKem768(KeyDerivation, Backend),
    /// ML-KEM-1024, HPKE KEM 0x0042.
    MlKem1024(KeyDerivation, Backend),
}

/// Dispatches on the parameter set with the `ml-kem` types in scope as
/// `Dk`, `Ek` and `Ct`.
macro_rules! with_params {
    ($kem:expr, $dk:ident, $ek:ident, $ct:ident => $body:expr) => {
        match $kem {
            MlKem::MlKem768(..) => {
                type $dk = ml_kem::DecapsulationKey768;
                type $ek = ml_kem::EncapsulationKey768;
                type $ct = ml_kem::ml_kem_768::Ciphertext;
                $body
            }
            MlKem::MlKem1024(..) => {
                type $dk = ml_kem::DecapsulationKey1024;
                type $ek = ml_kem::EncapsulationKey1024;
                type $ct = ml_kem::ml_kem_1024::Ciphertext;
                $body
            }
        }
    };
}

/// Length of the private key (the seed `d || z`).
pub(crate) const SEED_LEN: usize = 64;

impl MlKem {
    /// The key derivation in use.
    pub fn derivation(self) -> KeyDerivation {
        match self {
            Self::MlKem768(d, _) | Self::MlKem1024(d, _) => d,
        }
    }

    /// The backend in use.
    pub fn backend(self) -> Backend {
        match self {
            Self::MlKem768(_, b) | Self::MlKem1024(_, b) => b,
        }
    }

    /// `Npk`.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::MlKem768(..) => 1184,
            Self::MlKem1024(..) => 1568,
        }
    }

    /// `Nenc`.
    pub fn enc_len(self) -> usize {
        match self {
            Self::MlKem768(..) => 1088,
            Self::MlKem1024(..) => 1568,
        }
    }

    /// `ML-KEM.KeyGen_internal(d, z)` from the 64-byte seed: the encapsulation key.
    pub fn public_key_from_seed(self, seed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlKem768(..) => crate::libcrux_backend::ml_kem_768::public_key(seed),
                Self::MlKem1024(..) => crate::libcrux_backend::ml_kem_1024::public_key(seed),
            };
        }
        let seed = ml_kem::Seed::try_from(seed).map_err(|_| CryptoError::InvalidKey)?;
        Ok(with_params!(self, Dk, _Ek, _Ct => {
            Dk::from_seed(seed).encapsulation_key().to_bytes().to_vec()
        }))
    }

    /// `ML-KEM.Encaps_internal(ek, m)`: `(shared_secret, ciphertext)`. The
    /// encapsulation key is checked first (FIPS 203 §7.2).
    ///
    /// ☣️ With a fixed `m` this is for known-answer tests only.
    pub fn encap_derand(self, ek: &[u8], m: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlKem768(..) => crate::libcrux_backend::ml_kem_768::encap(ek, m),
                Self::MlKem1024(..) => crate::libcrux_backend::ml_kem_1024::encap(ek, m),
            };
        }
        let m = ml_kem::B32::try_from(m).map_err(|_| CryptoError::InvalidLength(m.len()))?;
        with_params!(self, _Dk, Ek, _Ct => {
            let ek = Ek::new_from_slice(ek).map_err(|_| CryptoError::InvalidKey)?;
            let (ct, ss) = ek.encapsulate_deterministic(&m);
            Ok((Secret::new(ss.to_vec()), ct.to_vec()))
        })
    }

    /// The FIPS 203 §7.2 input check of an encapsulation key: its length,
    /// and every coefficient below q.
    pub fn validate_encapsulation_key(self, ek: &[u8]) -> Result<(), CryptoError> {
        let ok = match self {
            #[cfg(feature = "libcrux")]
            Self::MlKem768(_, Backend::Libcrux) => crate::libcrux_backend::ml_kem_768::valid_public(ek),
            #[cfg(feature = "libcrux")]
            Self::MlKem1024(_, Backend::Libcrux) => crate::libcrux_backend::ml_kem_1024::valid_public(ek),
            _ => with_params!(self, _Dk, Ek, _Ct => Ek::new_from_slice(ek).is_ok()),
        };
        if ok { Ok(()) } else { Err(CryptoError::InvalidKey) }
    }

    /// `ML-KEM.Decaps` with the key expanded from its seed. A ciphertext of
    /// the wrong length is an error; a wrong one of the right length yields
    /// the implicit-rejection secret, as FIPS 203 requires.
    pub fn decap_seed(self, seed: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlKem768(..) => crate::libcrux_backend::ml_kem_768::decap(seed, ct),
                Self::MlKem1024(..) => crate::libcrux_backend::ml_kem_1024::decap(seed, ct),
            };
        }
        let seed = ml_kem::Seed::try_from(seed).map_err(|_| CryptoError::InvalidKey)?;
        with_params!(self, Dk, _Ek, Ct => {
            let ct = Ct::try_from(ct).map_err(|_| CryptoError::DecryptionFailed)?;
            let dk = Dk::from_seed(seed);
            Ok(Secret::new(dk.decapsulate(&ct).to_vec()))
        })
    }
}

/// Legacy expanded decapsulation keys (FIPS 203 `dk`, 2400 or 3168 bytes),
/// for known-answer tests and for importing keys from libraries that store
/// them. mlsx itself stores only the 64-byte seed.
impl MlKem {
    /// The expanded `dk` of a seed (`ML-KEM.KeyGen_internal`).
    pub fn expanded_key_from_seed(self, seed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlKem768(..) => crate::libcrux_backend::ml_kem_768::expanded_key(seed),
                Self::MlKem1024(..) => crate::libcrux_backend::ml_kem_1024::expanded_key(seed),
            };
        }
        #[allow(deprecated)]
        use ml_kem::ExpandedKeyEncoding;
        let seed = ml_kem::Seed::try_from(seed).map_err(|_| CryptoError::InvalidKey)?;
        Ok(with_params!(self, Dk, _Ek, _Ct => {
            #[allow(deprecated)]
            let dk = Dk::from_seed(seed).to_expanded_bytes();
            Zeroizing::new(dk.to_vec())
        }))
    }

    /// `ML-KEM.Decaps(dk, c)` with an expanded `dk`, which is checked
    /// (FIPS 203 §7.3: its embedded hash must match its encapsulation key).
    pub fn decap_expanded(self, dk: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlKem768(..) => crate::libcrux_backend::ml_kem_768::decap_expanded(dk, ct),
                Self::MlKem1024(..) => crate::libcrux_backend::ml_kem_1024::decap_expanded(dk, ct),
            };
        }
        #[allow(deprecated)]
        use ml_kem::ExpandedKeyEncoding;
        with_params!(self, Dk, _Ek, Ct => {
            let ct = Ct::try_from(ct).map_err(|_| CryptoError::DecryptionFailed)?;
            let dk = ml_kem::array::Array::try_from(dk).map_err(|_| CryptoError::InvalidKey)?;
            #[allow(deprecated)]
            let dk = Dk::from_expanded_bytes(&dk).map_err(|_| CryptoError::InvalidKey)?;
            Ok(Secret::new(dk.decapsulate(&ct).to_vec()))
        })
    }
}

impl HpkeKem for MlKem {
    fn validate_public_key(&self, pk: &[u8]) -> Result<(), CryptoError> {
        self.validate_encapsulation_key(pk)
    }

    fn kem_id(&self) -> u16 {
        match self {
            Self::MlKem768(..) => 0x0041,
            Self::MlKem1024(..) => 0x0042,
        }
    }

    /// `dk = SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", 64)`, then
    /// `ML-KEM.KeyGen_internal(dk[0:32], dk[32:64])` (draft-ietf-hpke-pq §3).
    fn derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        let seed = self.derivation().seed(self.kem_id(), ikm, SEED_LEN)?;
        let pk = self.public_key_from_seed(&seed)?;
        Ok((HpkePrivateKey::from_slice(&seed), pk))
    }

    fn generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        let seed = random(SEED_LEN);
        let pk = self.public_key_from_seed(&seed)?;
        Ok((HpkePrivateKey::from_slice(&seed), pk))
    }

    fn public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError> {
        self.public_key_from_seed(sk.as_bytes())
    }

    fn encap(&self, pk: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
        self.encap_derand(pk, &random(32))
    }

    fn decap(&self, enc: &[u8], sk: &HpkePrivateKey) -> Result<Secret, CryptoError> {
        self.decap_seed(sk.as_bytes(), enc)
    }
}

/// `len` fresh random bytes.
pub(crate) fn random(len: usize) -> Zeroizing<Vec<u8>> {
    use rand::Rng;
    let mut out = Zeroizing::new(vec![0u8; len]);
    rand::rng().fill_bytes(&mut out);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        for kem in Backend::available().iter().flat_map(|b| {
            [
                MlKem::MlKem768(KeyDerivation::Labeled, *b),
                MlKem::MlKem1024(KeyDerivation::Labeled, *b),
            ]
        }) {
            let (sk, pk) = kem.generate_key_pair().unwrap();
            assert_eq!(pk.len(), kem.public_key_len());
            assert_eq!(kem.public_key(&sk).unwrap(), pk);
            let (ss, enc) = kem.encap(&pk).unwrap();
            assert_eq!(enc.len(), kem.enc_len());
            assert_eq!(kem.decap(&enc, &sk).unwrap(), ss);
            // Implicit rejection: a modified ciphertext gives another secret.
            let mut bad = enc.clone();
            bad[0] ^= 1;
            assert_ne!(kem.decap(&bad, &sk).unwrap(), ss);
            // Wrong lengths are errors.
            assert!(kem.decap(&enc[1..], &sk).is_err());
            assert!(kem.encap(&pk[1..]).is_err());
            // A coefficient >= q fails the modulus check: 0xFFF in the first 12 bits.
            let mut unreduced = pk.clone();
            unreduced[0] = 0xff;
            unreduced[1] |= 0x0f;
            assert!(kem.encap(&unreduced).is_err());
            assert!(kem.validate_public_key(&pk).is_ok());
            assert!(kem.validate_public_key(&unreduced).is_err());
            assert!(kem.validate_public_key(&pk[1..]).is_err());
        }
    }

    #[test]
    fn expanded_keys_decapsulate_and_are_checked() {
        for kem in Backend::available().iter().flat_map(|b| {
            [
                MlKem::MlKem768(KeyDerivation::Labeled, *b),
                MlKem::MlKem1024(KeyDerivation::Labeled, *b),
            ]
        }) {
            let (sk, pk) = kem.generate_key_pair().unwrap();
            let (ss, enc) = kem.encap(&pk).unwrap();
            let dk = kem.expanded_key_from_seed(sk.as_bytes()).unwrap();
            assert_eq!(kem.decap_expanded(&dk, &enc).unwrap(), ss);
            // dk = dk_PKE || ek || H(ek) || z: a wrong H(ek) fails the
            // FIPS 203 §7.3 check rather than decapsulating.
            let mut bad = dk.to_vec();
            let h = bad.len() - 64;
            bad[h] ^= 1;
            assert!(matches!(kem.decap_expanded(&bad, &enc), Err(CryptoError::InvalidKey)));
            assert!(matches!(kem.decap_expanded(&dk[1..], &enc), Err(CryptoError::InvalidKey)));
            assert!(kem.decap_expanded(&dk, &enc[1..]).is_err());
        }
    }

    #[test]
    fn derivations_differ() {
        let ikm = [7u8; 32];
        let a = MlKem::MlKem768(KeyDerivation::Labeled, Backend::default())
            .derive_key_pair(&ikm)
            .unwrap();
        let b = MlKem::MlKem768(KeyDerivation::LegacyUnlabeled, Backend::default())
            .derive_key_pair(&ikm)
            .unwrap();
        assert_ne!(a.1, b.1);
        assert_eq!(b.0.as_bytes(), &shake256(&[&ikm], 64)[..]);
    }
}
