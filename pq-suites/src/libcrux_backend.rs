//! The libcrux backend (feature `libcrux`): ML-KEM and ML-DSA from
//! `libcrux-ml-kem` and `libcrux-ml-dsa` (formally verified, with AVX2 code
//! chosen at run time). It replaces the RustCrypto code inside [`MlKem`]
//! and [`MlDsa`] and so inside every suite and hybrid; inputs, outputs and
//! checks are the same, and the same known-answer tests run on both.
//!
//! Expanded keys that libcrux computes from a seed are wiped after use.
//!
//! [`MlKem`]: crate::MlKem
//! [`MlDsa`]: crate::MlDsa

use zeroize::Zeroize;

use mlsx_base::crypto::Secret;
use mlsx_base::error::CryptoError;

fn array<const N: usize>(bytes: &[u8], err: CryptoError) -> Result<[u8; N], CryptoError> {
    bytes.try_into().map_err(|_| err)
}

macro_rules! ml_kem_types {
    ($name:ident, $module:ident, $pk:ident, $sk:ident, $ct:ident) => {
        pub(crate) mod $name {
            use super::*;
            use libcrux_ml_kem::$module as k;

            /// `KeyGen_internal(d, z)`: the encapsulation key.
            pub(crate) fn public_key(seed: &[u8]) -> Result<Vec<u8>, CryptoError> {
                let (mut sk, pk) = k::generate_key_pair(array(seed, CryptoError::InvalidKey)?).into_parts();
                sk[0..].zeroize();
                Ok(pk.as_slice().to_vec())
            }

            /// The FIPS 203 expanded decapsulation key `dk` of the seed.
            pub(crate) fn expanded_key(seed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
                let (mut sk, _) = k::generate_key_pair(array(seed, CryptoError::InvalidKey)?).into_parts();
                let out = zeroize::Zeroizing::new(sk.as_slice().to_vec());
                sk[0..].zeroize();
                Ok(out)
            }

            /// The FIPS 203 §7.2 check of an encapsulation key.
            pub(crate) fn valid_public(ek: &[u8]) -> bool {
                k::$pk::try_from(ek).is_ok_and(|ek| k::validate_public_key(&ek))
            }

            /// `Encaps_internal(ek, m)` after the FIPS 203 §7.2 key check.
            pub(crate) fn encap(ek: &[u8], m: &[u8]) -> Result<(Secret, Vec<u8>), CryptoError> {
                let ek = k::$pk::try_from(ek).map_err(|_| CryptoError::InvalidKey)?;
                if !k::validate_public_key(&ek) {
                    return Err(CryptoError::InvalidKey);
                }
                let (ct, ss) = k::encapsulate(&ek, array(m, CryptoError::InvalidLength(m.len()))?);
                Ok((Secret::new(ss.to_vec()), ct.as_slice().to_vec()))
            }

            /// `Decaps` with the key expanded from its seed.
            pub(crate) fn decap(seed: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
                let ct = k::$ct::try_from(ct).map_err(|_| CryptoError::DecryptionFailed)?;
                let (mut sk, _) = k::generate_key_pair(array(seed, CryptoError::InvalidKey)?).into_parts();
                let ss = k::decapsulate(&sk, &ct);
                sk[0..].zeroize();
                Ok(Secret::new(ss.to_vec()))
            }

            /// `Decaps(dk, c)` with an expanded `dk`, after the FIPS 203
            /// §7.3 check that its embedded `H(ek)` matches its `ek`.
            pub(crate) fn decap_expanded(dk: &[u8], ct: &[u8]) -> Result<Secret, CryptoError> {
                let ct = k::$ct::try_from(ct).map_err(|_| CryptoError::DecryptionFailed)?;
                let mut sk = k::$sk::try_from(dk).map_err(|_| CryptoError::InvalidKey)?;
                let out = if k::validate_private_key(&sk, &ct) {
                    Ok(Secret::new(k::decapsulate(&sk, &ct).to_vec()))
                } else {
                    Err(CryptoError::InvalidKey)
                };
                sk[0..].zeroize();
                out
            }
        }
    };
}

ml_kem_types!(ml_kem_768, mlkem768, MlKem768PublicKey, MlKem768PrivateKey, MlKem768Ciphertext);
ml_kem_types!(ml_kem_1024, mlkem1024, MlKem1024PublicKey, MlKem1024PrivateKey, MlKem1024Ciphertext);

macro_rules! ml_dsa {
    ($name:ident, $module:ident, $vk:ident, $sig:ident) => {
        pub(crate) mod $name {
            use super::*;
            use libcrux_ml_dsa::$module as d;

            /// `KeyGen_internal(ξ)`: the public key.
            pub(crate) fn public_key(xi: &[u8]) -> Result<Vec<u8>, CryptoError> {
                let mut kp = d::generate_key_pair(array(xi, CryptoError::InvalidKey)?);
                kp.signing_key.as_ref_mut().zeroize();
                Ok(kp.verification_key.as_slice().to_vec())
            }

            /// The FIPS 204 `skEncode` expanded private key of the seed.
            pub(crate) fn expanded_key(xi: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
                let mut kp = d::generate_key_pair(array(xi, CryptoError::InvalidKey)?);
                let out = zeroize::Zeroizing::new(kp.signing_key.as_ref().to_vec());
                kp.signing_key.as_ref_mut().zeroize();
                Ok(out)
            }

            /// `ML-DSA.Sign` from the seed, with `rnd`.
            pub(crate) fn sign(xi: &[u8], msg: &[u8], ctx: &[u8], rnd: [u8; 32]) -> Result<Vec<u8>, CryptoError> {
                let mut kp = d::generate_key_pair(array(xi, CryptoError::InvalidKey)?);
                let sig = d::sign(&kp.signing_key, msg, ctx, rnd);
                kp.signing_key.as_ref_mut().zeroize();
                sig.map(|s| s.as_slice().to_vec()).map_err(|_| CryptoError::SigningFailed)
            }

            /// `ML-DSA.Verify`.
            pub(crate) fn verify(pk: &[u8], msg: &[u8], sig: &[u8], ctx: &[u8]) -> Result<(), CryptoError> {
                let vk = d::$vk::new(array(pk, CryptoError::InvalidKey)?);
                let sig = d::$sig::new(array(sig, CryptoError::InvalidSignature)?);
                d::verify(&vk, msg, ctx, &sig).map_err(|_| CryptoError::InvalidSignature)
            }
        }
    };
}

ml_dsa!(ml_dsa_44, ml_dsa_44, MLDSA44VerificationKey, MLDSA44Signature);
ml_dsa!(ml_dsa_65, ml_dsa_65, MLDSA65VerificationKey, MLDSA65Signature);
ml_dsa!(ml_dsa_87, ml_dsa_87, MLDSA87VerificationKey, MLDSA87Signature);
