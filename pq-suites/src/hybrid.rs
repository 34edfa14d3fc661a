//! The PQ/T hybrid KEMs of draft-irtf-cfrg-concrete-hybrid-kems, as HPKE
//! KEMs (draft-ietf-hpke-pq §4): ML-KEM combined with an elliptic-curve
//! group in the "CG" framework of draft-irtf-cfrg-hybrid-kems, with SHAKE256
//! as the PRG and the C2PRI combiner over SHA3-256:
//!
//! ```text
//! expandDecapsKeyG(seed):  SHAKE256(seed) = seed_PQ (64) || seed_T (Nseed)
//!                          dk_PQ = ML-KEM.KeyGen_internal(seed_PQ); dk_T = RandomScalar(seed_T)
//! ek = ek_PQ || ek_T       ct = ct_PQ || ct_T
//! ss = SHA3-256(ss_PQ || ss_T || ct_T || ek_T || Label)
//! ```
//!
//! MLKEM768-X25519 is X-Wing (draft-connolly-cfrg-xwing-kem), byte for byte.
//! Private keys are the 32-byte seed.

use sha3::{Digest, Sha3_256};
use zeroize::Zeroizing;

use mlsx_base::crypto::{HpkeKem, HpkePrivateKey, Secret};
use mlsx_base::error::CryptoError;

use crate::Backend;
use crate::mlkem::{KeyDerivation, MlKem, SEED_LEN, random};
use crate::shake::shake256;

/// A hybrid KEM.
///
/// ```
/// use mlsx_base::crypto::HpkeKem;
/// use mlsx_pq_suites::{Backend, HybridKem, KeyDerivation};
///
/// let kem = HybridKem::MlKem768P256(KeyDerivation::Labeled, Backend::default());
/// let (sk, pk) = kem.generate_key_pair()?;
/// assert_eq!((sk.len(), pk.len()), (32, 1249));
/// let (ss, enc) = kem.encap(&pk)?;
/// assert_eq!(enc.len(), 1153);
/// assert_eq!(kem.decap(&enc, &sk)?, ss);
/// # Ok::<(), mlsx_base::error::CryptoError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HybridKem {
    /// MLKEM768-X25519 = X-Wing, HPKE KEM 0x647a.
    XWing(KeyDerivation, Backend),
    /// MLKEM768-P256, HPKE KEM 0x0050.
    MlKem768P256(KeyDerivation, Backend),
    /// MLKEM1024-P384, HPKE KEM 0x0051.
    MlKem1024P384(KeyDerivation, Backend),
}

/// The traditional component: a nominal group (draft-irtf-cfrg-concrete-hybrid-kems §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    X25519,
    P256,
    P384,
}

/// The 32-byte private key of every hybrid.
const HYBRID_SEED_LEN: usize = 32;
/// The ML-KEM part of the encapsulation randomness (`m`).
const PQ_RANDOM_LEN: usize = 32;

impl Group {
    /// `Nseed`: bytes of PRG output given to `RandomScalar`.
    fn seed_len(self) -> usize {
        match self {
            Self::X25519 => 32,
            Self::P256 => 128,
            Self::P384 => 48,
        }
    }

    /// `Nelem`.
    fn element_len(self) -> usize {
        match self {
            Self::X25519 => 32,
            Self::P256 => 65,
            Self::P384 => 97,
        }
    }

    /// `RandomScalar(seed)`: identity for X25519; for the NIST curves,
    /// rejection sampling over big-endian `Nscalar`-byte chunks
    /// (0 < sk < order). Returns the scalar's encoding.
    fn random_scalar(self, seed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let (chunk, valid): (usize, fn(&[u8]) -> bool) = match self {
            Self::X25519 => return Ok(Zeroizing::new(seed.get(..32).ok_or(CryptoError::InvalidKey)?.to_vec())),
            Self::P256 => (32, |c| p256::SecretKey::from_slice(c).is_ok()),
            Self::P384 => (48, |c| p384::SecretKey::from_slice(c).is_ok()),
        };
        seed.chunks_exact(chunk)
            .find(|c| valid(c))
            .map(|c| Zeroizing::new(c.to_vec()))
            .ok_or(CryptoError::InvalidKey)
    }

    /// `Exp(g, sk)`: the public element (uncompressed SEC1 for NIST curves).
    fn public(self, sk: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self {
            Self::X25519 => {
                let k: [u8; 32] = sk.try_into().map_err(|_| CryptoError::InvalidKey)?;
                Ok(x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(k))
                    .as_bytes()
                    .to_vec())
            }
            Self::P256 => {
                use p256::elliptic_curve::sec1::ToSec1Point;
                let sk = p256::SecretKey::from_slice(sk).map_err(|_| CryptoError::InvalidKey)?;
                Ok(sk.public_key().to_sec1_point(false).as_bytes().to_vec())
            }
            Self::P384 => {
                use p384::elliptic_curve::sec1::ToSec1Point;
                let sk = p384::SecretKey::from_slice(sk).map_err(|_| CryptoError::InvalidKey)?;
                Ok(sk.public_key().to_sec1_point(false).as_bytes().to_vec())
            }
        }
    }

    /// Whether `pk` is a public element: 32 bytes for X25519, an
    /// uncompressed point on the curve for NIST curves.
    fn valid_public(self, pk: &[u8]) -> bool {
        match self {
            Self::X25519 => pk.len() == 32,
            Self::P256 => pk.len() == self.element_len() && p256::PublicKey::from_sec1_bytes(pk).is_ok(),
            Self::P384 => pk.len() == self.element_len() && p384::PublicKey::from_sec1_bytes(pk).is_ok(),
        }
    }

    /// `ElementToSharedSecret(Exp(pk, sk))`. NIST points must be valid,
    /// uncompressed curve points; X25519 accepts any 32 bytes, as X-Wing does.
    fn dh(self, sk: &[u8], pk: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if pk.len() != self.element_len() {
            return Err(CryptoError::InvalidKey);
        }
        match self {
            Self::X25519 => {
                let k: [u8; 32] = sk.try_into().map_err(|_| CryptoError::InvalidKey)?;
                let u: [u8; 32] = pk.try_into().map_err(|_| CryptoError::InvalidKey)?;
                Ok(Zeroizing::new(x25519_dalek::x25519(k, u).to_vec()))
            }
            Self::P256 => {
                let sk = p256::SecretKey::from_slice(sk).map_err(|_| CryptoError::InvalidKey)?;
                let pk = p256::PublicKey::from_sec1_bytes(pk).map_err(|_| CryptoError::InvalidKey)?;
                let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            Self::P384 => {
                let sk = p384::SecretKey::from_slice(sk).map_err(|_| CryptoError::InvalidKey)?;
                let pk = p384::PublicKey::from_sec1_bytes(pk).map_err(|_| CryptoError::InvalidKey)?;
                let shared = p384::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

/// An expanded hybrid private key.
struct Expanded {
    pq_seed: Zeroizing<Vec<u8>>,
    ek_pq: Vec<u8>,
    dk_t: Zeroizing<Vec<u8>>,
    ek_t: Vec<u8>,
}

impl HybridKem {
    fn parts(self) -> (MlKem, Group, &'static [u8]) {
        match self {
            Self::XWing(d, b) => (MlKem::MlKem768(d, b), Group::X25519, b"\\.//^\\"),
            Self::MlKem768P256(d, b) => (MlKem::MlKem768(d, b), Group::P256, b"MLKEM768-P256"),
            Self::MlKem1024P384(d, b) => (MlKem::MlKem1024(d, b), Group::P384, b"MLKEM1024-P384"),
        }
    }

    /// The key derivation in use.
    pub fn derivation(self) -> KeyDerivation {
        match self {
            Self::XWing(d, _) | Self::MlKem768P256(d, _) | Self::MlKem1024P384(d, _) => d,
        }
    }

    /// The backend of the ML-KEM half.
    pub fn backend(self) -> Backend {
        match self {
            Self::XWing(_, b) | Self::MlKem768P256(_, b) | Self::MlKem1024P384(_, b) => b,
        }
    }

    /// `Nek` (= HPKE `Npk`).
    pub fn public_key_len(self) -> usize {
        let (pq, t, _) = self.parts();
        pq.public_key_len() + t.element_len()
    }

    /// `Nct` (= HPKE `Nenc`).
    pub fn enc_len(self) -> usize {
        let (pq, t, _) = self.parts();
        pq.enc_len() + t.element_len()
    }

    /// `Nrandom`: the randomness [`Self::encap_derand`] takes.
    pub fn encap_randomness_len(self) -> usize {
        PQ_RANDOM_LEN + self.parts().1.seed_len()
    }

    /// `expandDecapsKeyG(seed)`.
    fn expand(self, seed: &[u8]) -> Result<Expanded, CryptoError> {
        if seed.len() != HYBRID_SEED_LEN {
            return Err(CryptoError::InvalidKey);
        }
        let (pq, t, _) = self.parts();
        let full = shake256(&[seed], SEED_LEN + t.seed_len());
        let (pq_seed, t_seed) = full.split_at(SEED_LEN);
        let ek_pq = pq.public_key_from_seed(pq_seed)?;
        let dk_t = t.random_scalar(t_seed)?;
        let ek_t = t.public(&dk_t)?;
        Ok(Expanded {
            pq_seed: Zeroizing::new(pq_seed.to_vec()),
            ek_pq,
            dk_t,
            ek_t,
        })
    }

    /// The encapsulation key `ek_PQ || ek_T` of a 32-byte seed.
    pub fn public_key_from_seed(self, seed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let e = self.expand(seed)?;
        let mut ek = e.ek_pq;
        ek.extend_from_slice(&e.ek_t);
        Ok(ek)
    }

    /// `C2PRICombiner(ss_PQ, ss_T, ct_T, ek_T, Label)`.
    fn combine(label: &[u8], ss_pq: &[u8], ss_t: &[u8], ct_t: &[u8], ek_t: &[u8]) -> Secret {
        let mut h = Sha3_256::new();
        for part in [ss_pq, ss_t, ct_t, ek_t, label] {
            h.update(part);
        }
        Secret::new(h.finalize().to_vec())
    }

    /// `EncapsDerand(ek, randomness)`: the first 32 bytes go to ML-KEM, the
    /// rest to `RandomScalar` of the group. Returns `(shared_secret, ct)`.
    ///
    /// ☣️ With fixed randomness this is for known-answer tests only.
    pub fn encap_derand(self, ek: &[u8], randomness: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
        let (pq, t, label) = self.parts();
        if ek.len() != self.public_key_len() {
            return Err(CryptoError::InvalidKey);
        }
        let (ek_pq, ek_t) = ek.split_at(pq.public_key_len());
        let (m, seed_t) = randomness
            .split_at_checked(PQ_RANDOM_LEN)
            .ok_or(CryptoError::InvalidLength(randomness.len()))?;
        let (ss_pq, mut ct) = pq.encap_derand(ek_pq, m)?;
        let sk_e = t.random_scalar(seed_t)?;
        let ct_t = t.public(&sk_e)?;
        let ss_t = t.dh(&sk_e, ek_t)?;
        let ss = Self::combine(label, ss_pq.as_bytes(), &ss_t, &ct_t, ek_t);
        ct.extend_from_slice(&ct_t);
        Ok((ss, ct))
    }

    /// `Decaps(dk, ct)` with the 32-byte seed `dk`.
    pub fn decap_seed(self, seed: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
        let (pq, t, label) = self.parts();
        if ct.len() != self.enc_len() {
            return Err(CryptoError::DecryptionFailed);
        }
        let (ct_pq, ct_t) = ct.split_at(pq.enc_len());
        let e = self.expand(seed)?;
        let ss_pq = pq.decap_seed(&e.pq_seed, ct_pq)?;
        let ss_t = t.dh(&e.dk_t, ct_t)?;
        Ok(Self::combine(label, ss_pq.as_bytes(), &ss_t, ct_t, &e.ek_t))
    }
}

impl HpkeKem for HybridKem {
    fn kem_id(&self) -> u16 {
        match self {
            Self::XWing(..) => 0x647a,
            Self::MlKem768P256(..) => 0x0050,
            Self::MlKem1024P384(..) => 0x0051,
        }
    }

    /// `seed = SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", 32)`, then
    /// the hybrid's `DeriveKeyPair(seed)` (draft-ietf-hpke-pq §4).
    fn derive_key_pair(&self, ikm: &[u8]) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        let seed = self.derivation().seed(self.kem_id(), ikm, HYBRID_SEED_LEN)?;
        let pk = self.public_key_from_seed(&seed)?;
        Ok((HpkePrivateKey::from_slice(&seed), pk))
    }

    fn generate_key_pair(&self) -> Result<(HpkePrivateKey, Vec<u8>), CryptoError> {
        let seed = random(HYBRID_SEED_LEN);
        let pk = self.public_key_from_seed(&seed)?;
        Ok((HpkePrivateKey::from_slice(&seed), pk))
    }

    fn public_key(&self, sk: &HpkePrivateKey) -> Result<Vec<u8>, CryptoError> {
        self.public_key_from_seed(sk.as_bytes())
    }

    fn encap(&self, pk: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
        self.encap_derand(pk, &random(self.encap_randomness_len()))
    }

    /// Both halves: the ML-KEM key's FIPS 203 check and the classical
    /// element's encoding.
    fn validate_public_key(&self, pk: &[u8]) -> Result<(), CryptoError> {
        let (pq, t, _) = self.parts();
        if pk.len() != self.public_key_len() {
            return Err(CryptoError::InvalidKey);
        }
        let (ek_pq, ek_t) = pk.split_at(pq.public_key_len());
        pq.validate_encapsulation_key(ek_pq)?;
        if t.valid_public(ek_t) {
            Ok(())
        } else {
            Err(CryptoError::InvalidKey)
        }
    }

    fn decap(&self, enc: &[u8], sk: &HpkePrivateKey) -> Result<Secret, CryptoError> {
        self.decap_seed(sk.as_bytes(), enc)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every hybrid on every backend compiled in.
    fn all() -> Vec<HybridKem> {
        let d = KeyDerivation::Labeled;
        Backend::available()
            .iter()
            .flat_map(|b| {
                [
                    HybridKem::XWing(d, *b),
                    HybridKem::MlKem768P256(d, *b),
                    HybridKem::MlKem1024P384(d, *b),
                ]
            })
            .collect()
    }

    #[test]
    fn sizes_match_the_drafts() {
        let sizes: Vec<_> = all().iter().take(3).map(|k| (k.public_key_len(), k.enc_len())).collect();
        assert_eq!(sizes, [(1216, 1120), (1249, 1153), (1665, 1665)]);
    }

    #[test]
    fn round_trip_and_rejections() {
        for kem in all() {
            let (sk, pk) = kem.generate_key_pair().unwrap();
            let (ss, enc) = kem.encap(&pk).unwrap();
            assert_eq!(kem.decap(&enc, &sk).unwrap(), ss);
            assert!(kem.decap(&enc[1..], &sk).is_err());
            assert!(kem.encap(&pk[1..]).is_err());
            assert!(kem.validate_public_key(&pk).is_ok());
            assert!(kem.validate_public_key(&pk[1..]).is_err());
            // Changing the classical ciphertext changes the secret (or, for a
            // point off the curve, fails).
            let mut bad = enc.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(kem.decap(&bad, &sk).map(|s| s != ss).unwrap_or(true));
        }
        // A NIST public key that is not on the curve is rejected.
        let kem = HybridKem::MlKem768P256(KeyDerivation::Labeled, Backend::default());
        let (_, mut pk) = kem.generate_key_pair().unwrap();
        let last = pk.len() - 1;
        pk[last] ^= 1;
        assert!(kem.encap(&pk).is_err());
    }
}
