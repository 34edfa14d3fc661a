//! The labeled operations of RFC 9420 §5.1–§5.2 and §8, written once on top
//! of [`CipherSuiteProvider`].
//!
//! Labels are byte strings: RFC 9420 uses ASCII labels, while
//! draft-ietf-mls-extensions passes TLS-encoded structs as labels. Every
//! function prepends `"MLS 1.0 "` itself.

use super::{CipherSuiteProvider, HpkePrivateKey, Secret, SignaturePrivateKey};
use crate::codec::{HpkeCiphertext, write_vl};
use crate::error::{Error, MisuseError};

/// The prefix of every MLS label (RFC 9420 §5.1.2, §8).
pub const LABEL_PREFIX: &[u8] = b"MLS 1.0 ";

/// The KeyPackageRef label (RFC 9420 §5.2).
pub const KEY_PACKAGE_REF_LABEL: &[u8] = b"MLS 1.0 KeyPackage Reference";
/// The ProposalRef label (RFC 9420 §5.2).
pub const PROPOSAL_REF_LABEL: &[u8] = b"MLS 1.0 Proposal Reference";

fn prefixed(out: &mut Vec<u8>, label: &[u8]) -> Result<(), Error> {
    let mut full = Vec::with_capacity(LABEL_PREFIX.len() + label.len());
    full.extend_from_slice(LABEL_PREFIX);
    full.extend_from_slice(label);
    write_vl(out, &full)
}

/// Serializes `KDFLabel { uint16 length; opaque label<V>; opaque context<V>; }`
/// (RFC 9420 §8).
pub fn kdf_label(label: &[u8], context: &[u8], len: u16) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(4 + LABEL_PREFIX.len() + label.len() + context.len());
    out.extend_from_slice(&len.to_be_bytes());
    prefixed(&mut out, label)?;
    write_vl(&mut out, context)?;
    Ok(out)
}

/// Serializes `SignContent { opaque label<V>; opaque content<V>; }` (RFC 9420 §5.1.2).
pub fn sign_content(label: &[u8], content: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(8 + LABEL_PREFIX.len() + label.len() + content.len());
    prefixed(&mut out, label)?;
    write_vl(&mut out, content)?;
    Ok(out)
}

/// Serializes `EncryptContext { opaque label<V>; opaque context<V>; }` (RFC 9420 §5.1.3).
pub fn encrypt_context(label: &[u8], context: &[u8]) -> Result<Vec<u8>, Error> {
    sign_content(label, context)
}

/// The labeled operations, available on every [`CipherSuiteProvider`]
/// (including `dyn CipherSuiteProvider`).
pub trait LabeledCrypto: CipherSuiteProvider {
    /// `ExpandWithLabel(secret, label, context, len)` (RFC 9420 §8):
    /// `KDF.Expand(secret, KDFLabel, len)`.
    fn expand_with_label(&self, secret: &[u8], label: &[u8], context: &[u8], len: usize) -> Result<Secret, Error> {
        let len16 = u16::try_from(len).map_err(|_| MisuseError::TooLarge)?;
        let info = kdf_label(label, context, len16)?;
        Ok(self.kdf_expand(secret, &info, len)?)
    }

    /// `DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", KDF.Nh)` (RFC 9420 §8).
    fn derive_secret(&self, secret: &[u8], label: &[u8]) -> Result<Secret, Error> {
        self.expand_with_label(secret, label, &[], self.hash_len())
    }

    /// `DeriveTreeSecret(secret, label, generation, len)` (RFC 9420 §9):
    /// `ExpandWithLabel(secret, label, uint32 generation, len)`.
    fn derive_tree_secret(&self, secret: &[u8], label: &[u8], generation: u32, len: usize) -> Result<Secret, Error> {
        self.expand_with_label(secret, label, &generation.to_be_bytes(), len)
    }

    /// `RefHash(label, value) = Hash(RefHashInput { label<V>; value<V> })` (RFC 9420 §5.2).
    /// `label` is the full label, e.g. [`KEY_PACKAGE_REF_LABEL`].
    fn ref_hash(&self, label: &[u8], value: &[u8]) -> Result<Vec<u8>, Error> {
        let mut input = Vec::with_capacity(label.len() + value.len() + 8);
        write_vl(&mut input, label)?;
        write_vl(&mut input, value)?;
        Ok(self.hash(&input)?)
    }

    /// `SignWithLabel(sk, label, content)` (RFC 9420 §5.1.2).
    fn sign_with_label(&self, sk: &SignaturePrivateKey, label: &[u8], content: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.sign(sk, &sign_content(label, content)?)?)
    }

    /// `VerifyWithLabel(pk, label, content, signature)` (RFC 9420 §5.1.2).
    fn verify_with_label(&self, pk: &[u8], label: &[u8], content: &[u8], signature: &[u8]) -> Result<(), Error> {
        Ok(self.verify(pk, &sign_content(label, content)?, signature)?)
    }

    /// `EncryptWithLabel(pk, label, context, plaintext)` (RFC 9420 §5.1.3):
    /// `SealBase(pk, EncryptContext, "", plaintext)`.
    fn encrypt_with_label(&self, pk: &[u8], label: &[u8], context: &[u8], plaintext: &[u8]) -> Result<HpkeCiphertext, Error> {
        let info = encrypt_context(label, context)?;
        let (kem_output, ciphertext) = self.hpke_seal(pk, &info, &[], plaintext)?;
        Ok(HpkeCiphertext {
            kem_output: kem_output.into(),
            ciphertext: ciphertext.into(),
        })
    }

    /// `EncryptWithLabel` of one plaintext per recipient with the same label
    /// and context, through [`CipherSuiteProvider::hpke_seal_batch`].
    fn encrypt_with_label_batch(&self, recipients: &[(&[u8], &[u8])], label: &[u8], context: &[u8]) -> Result<Vec<HpkeCiphertext>, Error> {
        let info = encrypt_context(label, context)?;
        Ok(self
            .hpke_seal_batch(recipients, &info, &[])?
            .into_iter()
            .map(|(kem_output, ciphertext)| HpkeCiphertext {
                kem_output: kem_output.into(),
                ciphertext: ciphertext.into(),
            })
            .collect())
    }

    /// `DecryptWithLabel(sk, label, context, kem_output, ciphertext)` (RFC 9420 §5.1.3).
    fn decrypt_with_label(&self, sk: &HpkePrivateKey, label: &[u8], context: &[u8], ct: &HpkeCiphertext) -> Result<Secret, Error> {
        let info = encrypt_context(label, context)?;
        Ok(self.hpke_open(ct.kem_output.as_slice(), sk, &info, &[], ct.ciphertext.as_slice())?)
    }

    /// [`Self::decrypt_with_label`] for a recipient whose public key `pk`
    /// is known (see [`CipherSuiteProvider::hpke_open_with_public`]).
    fn decrypt_with_label_known(
        &self,
        sk: &HpkePrivateKey,
        pk: &[u8],
        label: &[u8],
        context: &[u8],
        ct: &HpkeCiphertext,
    ) -> Result<Secret, Error> {
        let info = encrypt_context(label, context)?;
        Ok(self.hpke_open_with_public(ct.kem_output.as_slice(), sk, pk, &info, &[], ct.ciphertext.as_slice())?)
    }

    /// `MLS-Exporter(label, context, len)` (RFC 9420 §8.5):
    /// `ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported", Hash(context), len)`.
    fn mls_exporter(&self, exporter_secret: &[u8], label: &[u8], context: &[u8], len: usize) -> Result<Secret, Error> {
        let derived = self.derive_secret(exporter_secret, label)?;
        let ctx_hash = self.hash(context)?;
        self.expand_with_label(derived.as_bytes(), b"exported", &ctx_hash, len)
    }
}

impl<T: CipherSuiteProvider + ?Sized> LabeledCrypto for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_label_layout() {
        let l = kdf_label(b"joiner", &[1, 2], 32).unwrap();
        let mut want = vec![0, 32, 14];
        want.extend_from_slice(b"MLS 1.0 joiner");
        want.extend_from_slice(&[2, 1, 2]);
        assert_eq!(l, want);
    }
}
