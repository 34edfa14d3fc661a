//! SHAKE256 as a single-stage HPKE KDF (draft-ietf-hpke-pq "Single-Stage
//! KDFs"; draft-ietf-hpke-hpke §4 `LabeledDerive`).

use shake::{ExtendableOutput, Shake256, Update, XofReader};
use zeroize::Zeroizing;

use mlsx_base::error::CryptoError;

/// `SHAKE256(data, len)`.
pub(crate) fn shake256(parts: &[&[u8]], len: usize) -> Zeroizing<Vec<u8>> {
    let mut h = Shake256::default();
    for p in parts {
        h.update(p);
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    h.finalize_xof().read(&mut out);
    out
}

/// `SHAKE256.LabeledDerive(ikm, label, context, L)` for the KEM `kem_id`:
///
/// ```text
/// SHAKE256(ikm || "HPKE-v1" || "KEM" || I2OSP(kem_id, 2)
///          || I2OSP(len(label), 2) || label || I2OSP(L, 2) || context, L)
/// ```
///
/// ```
/// // The ML-KEM-768 DeriveKeyPair seed of draft-ietf-hpke-pq §3.
/// let dk = mlsx_pq_suites::labeled_derive(0x0041, &[0u8; 64], b"DeriveKeyPair", b"", 64)?;
/// assert_eq!(dk.len(), 64);
/// # Ok::<(), mlsx_base::error::CryptoError>(())
/// ```
pub fn labeled_derive(kem_id: u16, ikm: &[u8], label: &[u8], context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let label_len = u16::try_from(label.len()).map_err(|_| CryptoError::InvalidLength(label.len()))?;
    let out_len = u16::try_from(len).map_err(|_| CryptoError::InvalidLength(len))?;
    let mut suite_id = *b"KEM\0\0";
    suite_id[3..].copy_from_slice(&kem_id.to_be_bytes());
    Ok(shake256(
        &[
            ikm,
            b"HPKE-v1",
            &suite_id,
            &label_len.to_be_bytes(),
            label,
            &out_len.to_be_bytes(),
            context,
        ],
        len,
    ))
}
