//! The safe HPKE and signature operations (§4.2, §4.3).
//!
//! Each operation's label is the encoding of a [`ComponentOperationLabel`],
//! passed as the `Label` of RFC 9420's `EncryptWithLabel` /
//! `SignWithLabel` (§5.1.2, §5.1.3), so the effective label is
//! `"MLS 1.0 " || ComponentOperationLabel`.
//!
//! Operations with a secret key take a [`ComponentKey`]: a component can
//! only decrypt and sign under its own id (§4.2, §4.3 MUST). Anyone may
//! encrypt to, and verify for, any component. [`hazmat`] has the
//! unrestricted forms, for test vectors.

use mlsx_base::codec::{HpkeCiphertext, encode};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret, SignaturePrivateKey};
use mlsx_base::group::Group;
use mlsx_base::tree::math::NodeIndex;

use crate::Error;
use crate::codec::{ComponentId, ComponentOperationLabel};
use crate::component::ComponentKey;

/// The encoded [`ComponentOperationLabel`] of `component_id`'s `label`.
pub fn operation_label(component_id: ComponentId, label: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&ComponentOperationLabel::new(component_id, label))?)
}

/// `SafeEncryptWithLabel(PublicKey, ComponentID, Label, Context, Plaintext)`
/// (§4.2): HPKE base mode to any HPKE public key of the group (a tree
/// node's, the external key's, a KeyPackage's `init_key`).
pub fn safe_encrypt_with_label(
    cs: &(impl CipherSuiteProvider + ?Sized),
    public_key: &[u8],
    component_id: ComponentId,
    label: &[u8],
    context: &[u8],
    plaintext: &[u8],
) -> Result<HpkeCiphertext, Error> {
    Ok(cs.encrypt_with_label(public_key, &operation_label(component_id, label)?, context, plaintext)?)
}

/// `SafeVerifyWithLabel(VerificationKey, ComponentID, Label, Content,
/// SignatureValue)` (§4.3).
pub fn safe_verify_with_label(
    cs: &(impl CipherSuiteProvider + ?Sized),
    public_key: &[u8],
    component_id: ComponentId,
    label: &[u8],
    content: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    Ok(cs.verify_with_label(public_key, &operation_label(component_id, label)?, content, signature)?)
}

/// A group HPKE key pair a component may decrypt with (§4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupKey {
    /// The member's own leaf key.
    OwnLeaf,
    /// A tree node whose private key the member holds (its leaf or a
    /// parent on its direct path). The root's key SHOULD NOT be used: the
    /// external key pair is better (§4.2).
    Node(NodeIndex),
    /// The group's external key pair of the current epoch.
    External,
}

impl ComponentKey {
    /// `SafeDecryptWithLabel(PrivateKey, ComponentID, Label, Context,
    /// KEMOutput, Ciphertext)` (§4.2) under this component's id.
    pub fn safe_decrypt_with_label(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        private_key: &HpkePrivateKey,
        label: &[u8],
        context: &[u8],
        ciphertext: &HpkeCiphertext,
    ) -> Result<Secret, Error> {
        hazmat::safe_decrypt_with_label(cs, private_key, self.id(), label, context, ciphertext)
    }

    /// [`Self::safe_decrypt_with_label`] with one of the member's keys in
    /// `group`.
    pub fn decrypt_in_group(
        &self,
        group: &Group,
        key: GroupKey,
        label: &[u8],
        context: &[u8],
        ciphertext: &HpkeCiphertext,
    ) -> Result<Secret, Error> {
        let cs = group.cipher_suite_provider();
        match key {
            GroupKey::OwnLeaf => {
                let sk = group.own_leaf_private_key().ok_or(Error::NoPrivateKey)?;
                self.safe_decrypt_with_label(cs, sk, label, context, ciphertext)
            }
            GroupKey::Node(x) => {
                let sk = group.node_private_key(x).ok_or(Error::NoPrivateKey)?;
                self.safe_decrypt_with_label(cs, sk, label, context, ciphertext)
            }
            GroupKey::External => {
                let (sk, _) = group.external_key_pair()?;
                self.safe_decrypt_with_label(cs, &sk, label, context, ciphertext)
            }
        }
    }

    /// `SafeSignWithLabel(SignatureKey, ComponentID, Label, Content)` (§4.3)
    /// under this component's id.
    pub fn safe_sign_with_label(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        signer: &SignaturePrivateKey,
        label: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, Error> {
        hazmat::safe_sign_with_label(cs, signer, self.id(), label, content)
    }

    /// [`Self::safe_sign_with_label`] with the member's leaf signature key
    /// in `group`; others verify with that leaf's `signature_key`.
    pub fn sign_in_group(&self, group: &Group, label: &[u8], content: &[u8]) -> Result<Vec<u8>, Error> {
        self.safe_sign_with_label(group.cipher_suite_provider(), &group.identity().signer, label, content)
    }
}

/// The safe operations with a secret key under any component id, without
/// a [`ComponentKey`]: for test vectors and tools that check another
/// implementation's output. Components use the methods of
/// [`ComponentKey`].
pub mod hazmat {
    use super::*;

    /// `SafeDecryptWithLabel` under `component_id` (§4.2).
    pub fn safe_decrypt_with_label(
        cs: &(impl CipherSuiteProvider + ?Sized),
        private_key: &HpkePrivateKey,
        component_id: ComponentId,
        label: &[u8],
        context: &[u8],
        ciphertext: &HpkeCiphertext,
    ) -> Result<Secret, Error> {
        Ok(cs.decrypt_with_label(private_key, &operation_label(component_id, label)?, context, ciphertext)?)
    }

    /// `SafeSignWithLabel` under `component_id` (§4.3).
    pub fn safe_sign_with_label(
        cs: &(impl CipherSuiteProvider + ?Sized),
        signer: &SignaturePrivateKey,
        component_id: ComponentId,
        label: &[u8],
        content: &[u8],
    ) -> Result<Vec<u8>, Error> {
        Ok(cs.sign_with_label(signer, &operation_label(component_id, label)?, content)?)
    }
}
