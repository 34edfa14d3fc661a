//! The epoch key schedule (RFC 9420 §8).

use std::collections::BTreeMap;

use crate::codec::{GroupContext, encode};
use crate::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret};
use crate::error::{Error, MisuseError};

/// Additional secrets derived from `epoch_secret` each epoch, beside the
/// ones RFC 9420 §8 lists: `DeriveSecret(epoch_secret, label)` for each
/// registered label.
///
/// This is the key-schedule hook of `mlsx-base`: draft-ietf-mls-extensions
/// registers `"application_export"` here, without the engine knowing that
/// draft.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochSecretRegistry {
    labels: Vec<Vec<u8>>,
}

impl EpochSecretRegistry {
    /// An empty registry (plain RFC 9420).
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a label (idempotent). Labels of RFC 9420 §8 are refused,
    /// so that an extension cannot shadow a protocol secret.
    pub fn register(&mut self, label: &[u8]) -> Result<(), Error> {
        const RESERVED: [&[u8]; 9] = [
            b"sender data",
            b"encryption",
            b"exporter",
            b"external",
            b"confirm",
            b"membership",
            b"resumption",
            b"authentication",
            b"init",
        ];
        if RESERVED.contains(&label) {
            return Err(MisuseError::ReservedLabel.into());
        }
        if !self.labels.iter().any(|l| l == label) {
            self.labels.push(label.to_vec());
        }
        Ok(())
    }

    /// The registered labels, in registration order.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        self.labels.iter().map(Vec::as_slice)
    }
}

/// `joiner_secret = ExpandWithLabel(Extract(init_secret[n-1], commit_secret), "joiner", GroupContext[n], Nh)`
/// (RFC 9420 §8).
pub fn joiner_secret(
    cs: &(impl CipherSuiteProvider + ?Sized),
    prev_init_secret: &[u8],
    commit_secret: &[u8],
    group_context: &GroupContext,
) -> Result<Secret, Error> {
    let prk = cs.kdf_extract(prev_init_secret, commit_secret)?;
    cs.expand_with_label(prk.as_bytes(), b"joiner", &encode(group_context)?, cs.hash_len())
}

/// The secrets of one epoch (RFC 9420 §8, Table 4). `epoch_secret` itself
/// is not kept: everything derived from it is here.
#[derive(Debug)]
pub struct EpochSecrets {
    /// `DeriveSecret(., "welcome")` of the intermediate PRK (used for the Welcome only).
    pub welcome_secret: Secret,
    /// `sender_data_secret`.
    pub sender_data_secret: Secret,
    /// `encryption_secret`, the root of the secret tree.
    pub encryption_secret: Secret,
    /// `exporter_secret`.
    pub exporter_secret: Secret,
    /// `external_secret` (seed of the external HPKE key pair).
    pub external_secret: Secret,
    /// `confirmation_key`.
    pub confirmation_key: Secret,
    /// `membership_key`.
    pub membership_key: Secret,
    /// `resumption_psk`.
    pub resumption_psk: Secret,
    /// `epoch_authenticator`.
    pub epoch_authenticator: Secret,
    /// `init_secret` of this epoch, the salt of the next one.
    pub init_secret: Secret,
    /// Secrets registered through [`EpochSecretRegistry`], by label.
    pub extra: BTreeMap<Vec<u8>, Secret>,
}

impl EpochSecrets {
    /// Runs the key schedule from the joiner secret (RFC 9420 §8):
    /// `psk_secret` is `None` for "no PSKs" (Nh zero bytes are used).
    pub fn from_joiner_secret(
        cs: &(impl CipherSuiteProvider + ?Sized),
        joiner_secret: &[u8],
        psk_secret: Option<&[u8]>,
        group_context: &GroupContext,
        registry: &EpochSecretRegistry,
    ) -> Result<Self, Error> {
        let nh = cs.hash_len();
        if joiner_secret.len() != nh {
            return Err(MisuseError::SecretLength {
                expected: nh,
                got: joiner_secret.len(),
            }
            .into());
        }
        let zeros = vec![0u8; nh];
        let psk_secret = psk_secret.unwrap_or(&zeros);
        let member_prk = cs.kdf_extract(joiner_secret, psk_secret)?;
        let welcome_secret = cs.derive_secret(member_prk.as_bytes(), b"welcome")?;
        let epoch_secret = cs.expand_with_label(member_prk.as_bytes(), b"epoch", &encode(group_context)?, nh)?;
        Self::from_epoch_secret(cs, welcome_secret, &epoch_secret, registry)
    }

    /// Derives every epoch secret from `epoch_secret` (RFC 9420 §8, Table 4).
    /// Used directly when a group is created (§11: random epoch secret).
    pub fn from_epoch_secret(
        cs: &(impl CipherSuiteProvider + ?Sized),
        welcome_secret: Secret,
        epoch_secret: &Secret,
        registry: &EpochSecretRegistry,
    ) -> Result<Self, Error> {
        let e = epoch_secret.as_bytes();
        let mut extra = BTreeMap::new();
        for label in registry.labels() {
            extra.insert(label.to_vec(), cs.derive_secret(e, label)?);
        }
        Ok(Self {
            welcome_secret,
            sender_data_secret: cs.derive_secret(e, b"sender data")?,
            encryption_secret: cs.derive_secret(e, b"encryption")?,
            exporter_secret: cs.derive_secret(e, b"exporter")?,
            external_secret: cs.derive_secret(e, b"external")?,
            confirmation_key: cs.derive_secret(e, b"confirm")?,
            membership_key: cs.derive_secret(e, b"membership")?,
            resumption_psk: cs.derive_secret(e, b"resumption")?,
            epoch_authenticator: cs.derive_secret(e, b"authentication")?,
            init_secret: cs.derive_secret(e, b"init")?,
            extra,
        })
    }

    /// The external HPKE key pair, `KEM.DeriveKeyPair(external_secret)`
    /// (RFC 9420 §8.3); the public key goes in the `external_pub` extension.
    pub fn external_key_pair(&self, cs: &(impl CipherSuiteProvider + ?Sized)) -> Result<(HpkePrivateKey, Vec<u8>), Error> {
        Ok(cs.kem_derive_key_pair(self.external_secret.as_bytes())?)
    }

    /// `MLS-Exporter(label, context, len)` (RFC 9420 §8.5).
    pub fn export(&self, cs: &(impl CipherSuiteProvider + ?Sized), label: &[u8], context: &[u8], len: usize) -> Result<Secret, Error> {
        cs.mls_exporter(self.exporter_secret.as_bytes(), label, context, len)
    }

    /// A secret registered through [`EpochSecretRegistry`], or put in its
    /// slot with [`Self::set_extra`].
    pub fn extra(&self, label: &[u8]) -> Option<&Secret> {
        self.extra.get(label)
    }

    /// Removes an extra secret from this epoch and returns it: for secrets
    /// that must be deleted once used (forward secrecy, RFC 9420 §9.2).
    pub fn take_extra(&mut self, label: &[u8]) -> Option<Secret> {
        self.extra.remove(label)
    }

    /// Puts a secret in an extra slot of this epoch (replacing what was
    /// there): for material derived from a registered secret that must
    /// outlive one call, such as the frontier of a partly consumed tree.
    /// Slots are saved with the group and dropped at the next epoch.
    pub fn set_extra(&mut self, label: &[u8], secret: Secret) {
        self.extra.insert(label.to_vec(), secret);
    }
}

/// The key and nonce that encrypt the GroupInfo in a Welcome
/// (RFC 9420 §12.4.3.1): `ExpandWithLabel(welcome_secret, "key"/"nonce", "", Nk/Nn)`.
pub fn welcome_key_nonce(cs: &(impl CipherSuiteProvider + ?Sized), welcome_secret: &[u8]) -> Result<(Secret, Secret), Error> {
    Ok((
        cs.expand_with_label(welcome_secret, b"key", &[], cs.aead_key_len())?,
        cs.expand_with_label(welcome_secret, b"nonce", &[], cs.aead_nonce_len())?,
    ))
}

/// The welcome secret alone, from a joiner secret and PSK secret
/// (RFC 9420 §8): `DeriveSecret(Extract(joiner_secret, psk_secret), "welcome")`.
pub fn welcome_secret(cs: &(impl CipherSuiteProvider + ?Sized), joiner_secret: &[u8], psk_secret: Option<&[u8]>) -> Result<Secret, Error> {
    let zeros = vec![0u8; cs.hash_len()];
    let prk = cs.kdf_extract(joiner_secret, psk_secret.unwrap_or(&zeros))?;
    cs.derive_secret(prk.as_bytes(), b"welcome")
}

/// Serializable form of [`EpochSecrets`], for persistence only. Zeroized on drop.
#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub(crate) struct EpochSecretsState {
    /// The ten RFC 9420 secrets in the order of [`EpochSecrets::to_state`].
    secrets: Vec<Vec<u8>>,
    extra: Vec<LabeledSecret>,
}

/// A labeled secret in saved state.
#[derive(serde::Serialize, serde::Deserialize, zeroize::Zeroize)]
pub(crate) struct LabeledSecret {
    pub(crate) label: Vec<u8>,
    pub(crate) secret: Vec<u8>,
}

impl EpochSecrets {
    fn fields(&self) -> [&Secret; 10] {
        [
            &self.welcome_secret,
            &self.sender_data_secret,
            &self.encryption_secret,
            &self.exporter_secret,
            &self.external_secret,
            &self.confirmation_key,
            &self.membership_key,
            &self.resumption_psk,
            &self.epoch_authenticator,
            &self.init_secret,
        ]
    }

    /// The secrets for persistence.
    pub(crate) fn to_state(&self) -> EpochSecretsState {
        EpochSecretsState {
            secrets: self.fields().iter().map(|s| s.as_bytes().to_vec()).collect(),
            extra: self
                .extra
                .iter()
                .map(|(l, s)| LabeledSecret {
                    label: l.clone(),
                    secret: s.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    /// Restores secrets saved with [`Self::to_state`].
    pub(crate) fn from_state(state: &EpochSecretsState) -> Result<Self, Error> {
        let [a, b, c, d, e, f, g, h, i, j] = state.secrets.as_slice() else {
            return Err(crate::error::StateError::Corrupt.into());
        };
        Ok(Self {
            welcome_secret: Secret::from_slice(a),
            sender_data_secret: Secret::from_slice(b),
            encryption_secret: Secret::from_slice(c),
            exporter_secret: Secret::from_slice(d),
            external_secret: Secret::from_slice(e),
            confirmation_key: Secret::from_slice(f),
            membership_key: Secret::from_slice(g),
            resumption_psk: Secret::from_slice(h),
            epoch_authenticator: Secret::from_slice(i),
            init_secret: Secret::from_slice(j),
            extra: state
                .extra
                .iter()
                .map(|e| (e.label.clone(), Secret::from_slice(&e.secret)))
                .collect(),
        })
    }
}
