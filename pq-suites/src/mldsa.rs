//! ML-DSA-44/65/87 signatures for MLS (draft-ietf-tls-mldsa; FIPS 204).
//!
//! Pure ML-DSA (not HashML-DSA) over the serialized `SignContent`, with
//! the FIPS 204 context string empty, as draft-ietf-tls-mldsa requires.
//! Private keys are the 32-byte seed `ξ`. Signing is hedged by default
//! (FIPS 204 §3.4 recommends it); the deterministic variant is available
//! for reproducible outputs.

use ml_dsa::{EncodedVerifyingKey, MlDsa44, MlDsa65, MlDsa87, Signature, SigningKey, VerifyingKey};

use mlsx_base::crypto::{SignaturePrivateKey, SignatureScheme};
use mlsx_base::error::CryptoError;

use crate::Backend;
use crate::mlkem::random;

/// The length of an ML-DSA private key (the seed).
const SEED_LEN: usize = 32;

/// Hedged or deterministic signing (FIPS 204 Algorithm 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Signing {
    /// Fresh 32 random bytes as `rnd` for every signature.
    #[default]
    Hedged,
    /// `rnd` = 32 zero bytes: the same key and message give the same signature.
    Deterministic,
}

/// An ML-DSA parameter set.
///
/// ```
/// use mlsx_base::crypto::SignatureScheme;
/// use mlsx_pq_suites::{Backend, MlDsa};
///
/// let scheme = MlDsa::MlDsa65(Default::default(), Backend::default());
/// let (sk, pk) = scheme.generate_key_pair()?;
/// assert_eq!((sk.len(), pk.len()), (32, 1952));
/// let sig = scheme.sign(&sk, b"message")?;
/// assert_eq!(sig.len(), 3309);
/// scheme.verify(&pk, b"message", &sig)?;
/// assert!(scheme.verify(&pk, b"massage", &sig).is_err());
/// # Ok::<(), mlsx_base::error::CryptoError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MlDsa {
    /// ML-DSA-44, `mldsa44` (0x0904).
    MlDsa44(Signing, Backend),
    /// ML-DSA-65, `mldsa65` (0x0905).
    MlDsa65(Signing, Backend),
    /// ML-DSA-87, `mldsa87` (0x0906).
    MlDsa87(Signing, Backend),
}

macro_rules! with_params {
    ($alg:expr, $p:ident => $body:expr) => {
        match $alg {
            MlDsa::MlDsa44(..) => {
                type $p = MlDsa44;
                $body
            }
            MlDsa::MlDsa65(..) => {
                type $p = MlDsa65;
                $body
            }
            MlDsa::MlDsa87(..) => {
                type $p = MlDsa87;
                $body
            }
        }
    };
}

fn seed(sk: &[u8]) -> Result<ml_dsa::Seed, CryptoError> {
    ml_dsa::Seed::try_from(sk).map_err(|_| CryptoError::InvalidKey)
}

impl MlDsa {
    fn signing(self) -> Signing {
        match self {
            Self::MlDsa44(s, _) | Self::MlDsa65(s, _) | Self::MlDsa87(s, _) => s,
        }
    }

    /// The backend in use.
    pub fn backend(self) -> Backend {
        match self {
            Self::MlDsa44(_, b) | Self::MlDsa65(_, b) | Self::MlDsa87(_, b) => b,
        }
    }

    /// Public key length.
    pub fn public_key_len(self) -> usize {
        match self {
            Self::MlDsa44(..) => 1312,
            Self::MlDsa65(..) => 1952,
            Self::MlDsa87(..) => 2592,
        }
    }

    /// Signature length.
    pub fn signature_len(self) -> usize {
        match self {
            Self::MlDsa44(..) => 2420,
            Self::MlDsa65(..) => 3309,
            Self::MlDsa87(..) => 4627,
        }
    }

    /// `ML-DSA.Sign(sk, msg, ctx)` with an explicit context string, for the
    /// known-answer tests (MLS always uses the empty context).
    pub fn sign_with_context(self, sk: &[u8], msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            let mut rnd = [0u8; 32];
            if self.signing() == Signing::Hedged {
                rnd.copy_from_slice(&random(32));
            }
            return self.sign_with_rnd(sk, msg, ctx, &rnd);
        }
        let seed = seed(sk)?;
        with_params!(self, P => {
            let key = SigningKey::<P>::from_seed(&seed);
            let sig = match self.signing() {
                Signing::Deterministic => key.expanded_key().sign_deterministic(msg, ctx),
                Signing::Hedged => key.expanded_key().sign_randomized(msg, ctx, &mut rand::rng()),
            };
            sig.map(|s| s.encode().to_vec()).map_err(|_| CryptoError::SigningFailed)
        })
    }

    /// `ML-DSA.Verify(pk, msg, sig, ctx)`.
    pub fn verify_with_context(self, pk: &[u8], msg: &[u8], sig: &[u8], ctx: &[u8]) -> Result<(), CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlDsa44(..) => crate::libcrux_backend::ml_dsa_44::verify(pk, msg, sig, ctx),
                Self::MlDsa65(..) => crate::libcrux_backend::ml_dsa_65::verify(pk, msg, sig, ctx),
                Self::MlDsa87(..) => crate::libcrux_backend::ml_dsa_87::verify(pk, msg, sig, ctx),
            };
        }
        with_params!(self, P => {
            let pk = EncodedVerifyingKey::<P>::try_from(pk).map_err(|_| CryptoError::InvalidKey)?;
            let vk = VerifyingKey::<P>::decode(&pk);
            let sig = Signature::<P>::try_from(sig).map_err(|_| CryptoError::InvalidSignature)?;
            if vk.verify_with_context(msg, ctx, &sig) {
                Ok(())
            } else {
                Err(CryptoError::InvalidSignature)
            }
        })
    }
}

/// Interfaces for known-answer tests: explicit signing randomness and the
/// legacy expanded private key.
impl MlDsa {
    /// `ML-DSA.Sign` with the given 32-byte `rnd` (all zero = deterministic).
    ///
    /// ☣️ Reusing `rnd` across messages forfeits the hedge; for tests only.
    pub fn sign_with_rnd(self, sk: &[u8], msg: &[u8], ctx: &[u8], rnd: &[u8]) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            let rnd: [u8; 32] = rnd.try_into().map_err(|_| CryptoError::InvalidLength(rnd.len()))?;
            return match self {
                Self::MlDsa44(..) => crate::libcrux_backend::ml_dsa_44::sign(sk, msg, ctx, rnd),
                Self::MlDsa65(..) => crate::libcrux_backend::ml_dsa_65::sign(sk, msg, ctx, rnd),
                Self::MlDsa87(..) => crate::libcrux_backend::ml_dsa_87::sign(sk, msg, ctx, rnd),
            };
        }
        let seed = seed(sk)?;
        let ctx_len = u8::try_from(ctx.len()).map_err(|_| CryptoError::SigningFailed)?;
        let rnd = ml_dsa::B32::try_from(rnd).map_err(|_| CryptoError::InvalidLength(rnd.len()))?;
        Ok(with_params!(self, P => {
            let key = SigningKey::<P>::from_seed(&seed);
            // M' = IntegerToBytes(0, 1) || IntegerToBytes(|ctx|, 1) || ctx || M (FIPS 204 Algorithm 2).
            key.expanded_key().sign_internal(&[&[0, ctx_len], ctx, msg], &rnd).encode().to_vec()
        }))
    }

    /// The FIPS 204 `skEncode` expanded private key of a seed.
    pub fn expanded_key_from_seed(self, sk: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlDsa44(..) => crate::libcrux_backend::ml_dsa_44::expanded_key(sk),
                Self::MlDsa65(..) => crate::libcrux_backend::ml_dsa_65::expanded_key(sk),
                Self::MlDsa87(..) => crate::libcrux_backend::ml_dsa_87::expanded_key(sk),
            };
        }
        let seed = seed(sk)?;
        Ok(with_params!(self, P => {
            let key = SigningKey::<P>::from_seed(&seed);
            #[allow(deprecated)]
            let bytes = key.expanded_key().to_expanded().to_vec();
            zeroize::Zeroizing::new(bytes)
        }))
    }
}

impl SignatureScheme for MlDsa {
    fn scheme(&self) -> u16 {
        match self {
            Self::MlDsa44(..) => 0x0904,
            Self::MlDsa65(..) => 0x0905,
            Self::MlDsa87(..) => 0x0906,
        }
    }

    fn generate_key_pair(&self) -> Result<(SignaturePrivateKey, Vec<u8>), CryptoError> {
        let sk = SignaturePrivateKey::from_slice(&random(SEED_LEN));
        let pk = self.public_key(&sk)?;
        Ok((sk, pk))
    }

    /// `ML-DSA.KeyGen_internal(ξ)`: the encoded public key.
    fn public_key(&self, sk: &SignaturePrivateKey) -> Result<Vec<u8>, CryptoError> {
        #[cfg(feature = "libcrux")]
        if self.backend() == Backend::Libcrux {
            return match self {
                Self::MlDsa44(..) => crate::libcrux_backend::ml_dsa_44::public_key(sk.as_bytes()),
                Self::MlDsa65(..) => crate::libcrux_backend::ml_dsa_65::public_key(sk.as_bytes()),
                Self::MlDsa87(..) => crate::libcrux_backend::ml_dsa_87::public_key(sk.as_bytes()),
            };
        }
        let seed = seed(sk.as_bytes())?;
        Ok(with_params!(self, P => {
            let key = SigningKey::<P>::from_seed(&seed);
            let vk: &VerifyingKey<P> = key.as_ref();
            vk.encode().to_vec()
        }))
    }

    fn sign(&self, sk: &SignaturePrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.sign_with_context(sk.as_bytes(), msg, &[])
    }

    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        self.verify_with_context(pk, msg, sig, &[])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sizes_and_round_trip() {
        for s in Backend::available().iter().flat_map(|b| {
            [
                MlDsa::MlDsa44(Signing::Hedged, *b),
                MlDsa::MlDsa65(Signing::Deterministic, *b),
                MlDsa::MlDsa87(Signing::Hedged, *b),
            ]
        }) {
            let (sk, pk) = s.generate_key_pair().unwrap();
            assert_eq!(pk.len(), s.public_key_len());
            let sig = s.sign(&sk, b"m").unwrap();
            assert_eq!(sig.len(), s.signature_len());
            s.verify(&pk, b"m", &sig).unwrap();
            assert!(s.verify(&pk, b"n", &sig).is_err());
            assert!(s.verify(&pk[1..], b"m", &sig).is_err());
            assert!(s.verify(&pk, b"m", &sig[1..]).is_err());
            // The context is bound: MLS's empty one differs from any other.
            assert!(s.verify_with_context(&pk, b"m", &sig, b"x").is_err());
        }
    }

    #[test]
    fn deterministic_is_deterministic_and_hedged_is_not() {
        let sk = [9u8; 32];
        let d = MlDsa::MlDsa44(Signing::Deterministic, Backend::default());
        assert_eq!(
            d.sign_with_context(&sk, b"m", b"").unwrap(),
            d.sign_with_context(&sk, b"m", b"").unwrap()
        );
        let h = MlDsa::MlDsa44(Signing::Hedged, Backend::default());
        assert_ne!(
            h.sign_with_context(&sk, b"m", b"").unwrap(),
            h.sign_with_context(&sk, b"m", b"").unwrap()
        );
    }
}
