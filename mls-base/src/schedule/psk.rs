//! Pre-shared keys (RFC 9420 §8.4).

use tls_codec::Serialize;

use crate::codec::PreSharedKeyId;
use crate::crypto::{CipherSuiteProvider, LabeledCrypto, Secret};
use crate::error::{Error, MisuseError};

/// Serializes `PSKLabel { PreSharedKeyID id; uint16 index; uint16 count; }` (RFC 9420 §8.4).
pub fn psk_label(id: &PreSharedKeyId, index: u16, count: u16) -> Result<Vec<u8>, Error> {
    let mut out = id.tls_serialize_detached()?;
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    Ok(out)
}

/// Computes `psk_secret` from PSKs in commit (or Welcome) order
/// (RFC 9420 §8.4):
///
/// ```text
/// psk_extracted_i = Extract(0, psk_i)
/// psk_input_i     = ExpandWithLabel(psk_extracted_i, "derived psk", PSKLabel_i, Nh)
/// psk_secret_i    = Extract(psk_input_{i-1}, psk_secret_{i-1}),  psk_secret_0 = 0
/// ```
///
/// Returns `None` when there are no PSKs: the key schedule then uses Nh
/// zero bytes, which equals this function's output for an empty list.
pub fn psk_secret(cs: &(impl CipherSuiteProvider + ?Sized), psks: &[(&PreSharedKeyId, &[u8])]) -> Result<Option<Secret>, Error> {
    if psks.is_empty() {
        return Ok(None);
    }
    let count = u16::try_from(psks.len()).map_err(|_| MisuseError::TooManyPsks)?;
    let nh = cs.hash_len();
    let zeros = vec![0u8; nh];
    let mut secret = Secret::new(zeros.clone());
    for (index, (id, psk)) in (0u16..).zip(psks) {
        let extracted = cs.kdf_extract(&zeros, psk)?;
        let input = cs.expand_with_label(extracted.as_bytes(), b"derived psk", &psk_label(id, index, count)?, nh)?;
        secret = cs.kdf_extract(input.as_bytes(), secret.as_bytes())?;
    }
    Ok(Some(secret))
}
