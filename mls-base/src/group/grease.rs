//! GREASE (RFC 9420 §13.5): random reserved values in the fields a
//! receiver must treat as extensible, so that peers which wrongly reject
//! unknown values fail early and visibly.
//!
//! Sent in the capabilities (`cipher_suites`, `extensions`, `proposals`,
//! `credentials`) and `extensions` of the leaves and KeyPackages made from
//! an [`Identity`](super::Identity) whose `grease` flag is set, and in the
//! `extensions` of GroupInfos signed by a group whose `GroupConfig::grease`
//! is set. Never in the fields §13.5 forbids (proposal and credential
//! types in use, GroupContext extensions), and never in the member's own
//! list of what it supports (`Identity::capabilities` stays clean).
//! Received GREASE values get no special treatment: they are unknown
//! values, handled by the general rules.

use crate::codec::{Capabilities, CipherSuite, CredentialType, Extension, ExtensionType, ProposalType};
use crate::crypto::CipherSuiteProvider;
use crate::error::Error;

/// The values reserved for GREASE in every MLS registry (RFC 9420 §13.5),
/// `0x0A0A`, `0x1A1A`, … `0xEAEA`.
pub const GREASE_VALUES: [u16; 15] = {
    let mut v = [0u16; 15];
    let mut i = 0;
    while i < 15 {
        let n = i as u16;
        v[i] = (n << 12) | 0x0a00 | (n << 4) | 0x0a;
        i += 1;
    }
    v
};

/// One GREASE value chosen at random.
fn pick(cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<u16, Error> {
    let mut b = [0u8; 1];
    cs.random_bytes(&mut b)?;
    // 255 = 15 * 17: the modulus is unbiased below 255.
    let mut r = b[0];
    while r == 255 {
        cs.random_bytes(&mut b)?;
        r = b[0];
    }
    Ok(GREASE_VALUES[usize::from(r % 15)])
}

/// What a new leaf advertises: `caps` plus one random GREASE value in each
/// extensible list, and the GREASE extension type added to
/// `capabilities.extensions` (the one the leaf's and KeyPackage's GREASE
/// extensions use, so that they are listed as §7.3 and §10 require).
pub(crate) fn advertised(cs: &(impl CipherSuiteProvider + ?Sized), caps: &Capabilities) -> Result<(Capabilities, ExtensionType), Error> {
    let mut out = caps.clone();
    let ext = ExtensionType(pick(cs)?);
    if !out.cipher_suites.iter().any(|s| s.is_grease()) {
        out.cipher_suites.push(CipherSuite(pick(cs)?));
    }
    if !out.extensions.contains(&ext) {
        out.extensions.push(ext);
    }
    if !out.proposals.iter().any(|p| crate::codec::is_grease(p.0)) {
        out.proposals.push(ProposalType(pick(cs)?));
    }
    if !out.credentials.iter().any(|c| crate::codec::is_grease(c.0)) {
        out.credentials.push(CredentialType(pick(cs)?));
    }
    Ok((out, ext))
}

/// A GREASE extension of type `t` with 0 to 15 random bytes of data.
pub(crate) fn extension(cs: &(impl CipherSuiteProvider + ?Sized), t: ExtensionType) -> Result<Extension, Error> {
    let mut len = [0u8; 1];
    cs.random_bytes(&mut len)?;
    let data = cs.random_vec(usize::from(len[0] % 16))?;
    Ok(Extension::new(t, data))
}

/// A GREASE extension of a random GREASE type not already in `present`.
pub(crate) fn extra_extension(cs: &(impl CipherSuiteProvider + ?Sized), present: &[Extension]) -> Result<Option<Extension>, Error> {
    let t = ExtensionType(pick(cs)?);
    if present.iter().any(|e| e.extension_type == t) {
        return Ok(None);
    }
    extension(cs, t).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_reserved_ones() {
        assert_eq!(GREASE_VALUES[0], 0x0a0a);
        assert_eq!(GREASE_VALUES[14], 0xeaea);
        assert!(GREASE_VALUES.iter().all(|v| crate::codec::is_grease(*v)));
    }
}
