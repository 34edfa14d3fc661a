//! Transcript hashes and the confirmation tag (RFC 9420 §8.2, §8.1).

use subtle::ConstantTimeEq;

use crate::codec::{AuthenticatedContent, write_vl};
use crate::crypto::CipherSuiteProvider;
use crate::error::{Error, PeerError};

/// `confirmed_transcript_hash[n] = Hash(interim_transcript_hash[n-1] || ConfirmedTranscriptHashInput[n])`
/// (RFC 9420 §8.2).
pub fn confirmed_transcript_hash(
    cs: &(impl CipherSuiteProvider + ?Sized),
    interim_before: &[u8],
    commit: &AuthenticatedContent,
) -> Result<Vec<u8>, Error> {
    let mut input = interim_before.to_vec();
    input.extend_from_slice(&commit.confirmed_transcript_hash_input()?);
    Ok(cs.hash(&input)?)
}

/// `interim_transcript_hash[n] = Hash(confirmed_transcript_hash[n] || InterimTranscriptHashInput[n])`
/// with `InterimTranscriptHashInput { MAC confirmation_tag; }` (RFC 9420 §8.2).
pub fn interim_transcript_hash(
    cs: &(impl CipherSuiteProvider + ?Sized),
    confirmed: &[u8],
    confirmation_tag: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut input = confirmed.to_vec();
    write_vl(&mut input, confirmation_tag)?;
    Ok(cs.hash(&input)?)
}

/// `confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash)` (RFC 9420 §8.1).
pub fn confirmation_tag(cs: &(impl CipherSuiteProvider + ?Sized), confirmation_key: &[u8], confirmed: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(cs.mac(confirmation_key, confirmed)?)
}

/// Proof that a confirmation tag was checked; only [`verify_confirmation_tag`] makes one.
#[derive(Debug)]
pub struct TagVerified(());

/// Checks a received confirmation tag in constant time (RFC 9420 §8.1, §12.4.2).
pub fn verify_confirmation_tag(
    cs: &(impl CipherSuiteProvider + ?Sized),
    confirmation_key: &[u8],
    confirmed: &[u8],
    received: &[u8],
) -> Result<TagVerified, Error> {
    let expected = confirmation_tag(cs, confirmation_key, confirmed)?;
    if bool::from(expected.ct_eq(received)) {
        Ok(TagVerified(()))
    } else {
        Err(PeerError::InvalidConfirmationTag.into())
    }
}
