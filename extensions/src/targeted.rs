//! Targeted messages (draft-ietf-mls-targeted-messages, editor's copy
//! after -01): a message from one member of a group to one other member,
//! encrypted with HPKE in PSK mode to the recipient's leaf key, the PSK
//! exported from the epoch, signed by the sender, the sender hidden from
//! everyone outside the group.
//!
//! Two levels:
//! - [`seal`] and [`open`] work on the raw inputs (an epoch's
//!   [`TargetedKeys`], leaf indices and keys), as the draft's vectors give
//!   them;
//! - [`send`] and [`receive`] take them from a [`Group`], and
//!   [`TargetedMessageHandler`] lets [`Group::process_message`] open
//!   targeted messages as [`Envelope`]s through the wire-format hook.
//!
//! Only the current epoch is accepted (the draft's conservative choice,
//! §"Messages from Past Epochs"): past epochs' leaf keys are not kept.
//! Works in every suite whose provider has HPKE PSK mode, the PQ suites
//! included (no AuthEncap is needed).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
//! use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
//! use mlsx_base::tree::math::LeafIndex;
//! use mlsx_extensions::targeted;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cs: Arc<dyn CipherSuiteProvider> = RustCryptoProvider::new()
//!     .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
//!     .ok_or("suite")?;
//! let mut config = GroupConfig::default();
//! targeted::install(&mut config);
//! let mut alice = Group::create(cs.clone(), Identity::basic(cs.as_ref(), b"alice")?, b"g".to_vec(), config.clone())?;
//! let bob_kp = Identity::basic(cs.as_ref(), b"bob")?.key_package(cs.as_ref())?;
//! let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()]))?;
//! alice.merge_pending_commit()?;
//! let mut bob = Group::join(cs.clone(), out.welcome_message()?, bob_kp, None, config)?;
//!
//! let msg = targeted::send(&alice, LeafIndex(1), b"request-id=7", b"for Bob only", 16)?;
//! let Received::Envelope { envelope, .. } = bob.process_message(&msg)? else { unreachable!() };
//! assert_eq!(envelope.sender, Some(LeafIndex(0)));
//! assert_eq!(envelope.data, b"for Bob only");
//! assert_eq!(envelope.authenticated_data, b"request-id=7");
//! # Ok(()) }
//! ```

use std::sync::Arc;

use mlsx_base::CryptoError;
use mlsx_base::codec::syntax::{BodySyntax, register_wire_format_syntax};
use mlsx_base::codec::{CustomBody, MlsMessage, MlsMessageBody, ProtocolVersion, VLBytes, WireFormat, decode, encode};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, LabeledCrypto, Secret, SignaturePrivateKey};
use mlsx_base::group::hooks::{Envelope, WireFormatHandler};
use mlsx_base::group::{Group, GroupConfig};
use mlsx_base::tree::math::LeafIndex;
use tls_codec::{DeserializeBytes, TlsDeserializeBytes, TlsSerialize, TlsSize};

use crate::Error;

/// The `mls_targeted_message` wire format (IANA: 0x0006 suggested).
pub const TARGETED_MESSAGE: WireFormat = WireFormat(0x0006);
/// The signature label of [`TargetedMessageTbs`].
pub const TBS_LABEL: &[u8] = b"TargetedMessageTBS";
/// The `label` of the HPKE context ([`TargetedMessageContext`]).
pub const DATA_LABEL: &[u8] = b"MLS 1.0 TargetedMessageData";
/// The exporter label of both secrets.
pub const EXPORTER_LABEL: &[u8] = b"targeted message";
/// The `label` of [`TargetedMessagePskId`].
pub const PSK_ID_LABEL: &[u8] = b"MLS 1.0 targeted message psk";

/// `TargetedMessage`, the body of an `mls_targeted_message`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessage {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch whose keys protect it.
    pub epoch: u64,
    /// The one member it is for.
    pub recipient_leaf_index: u32,
    /// Authenticated, not encrypted.
    pub authenticated_data: VLBytes,
    /// [`TargetedMessageSenderAuthData`], encrypted.
    pub encrypted_sender_auth_data: VLBytes,
    /// [`TargetedMessageContent`], HPKE-encrypted.
    pub ciphertext: VLBytes,
}

/// `TargetedMessageSenderAuthData`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessageSenderAuthData {
    /// The sender.
    pub sender_leaf_index: u32,
    /// `SignWithLabel(., "TargetedMessageTBS", TargetedMessageTBS)`.
    pub signature: VLBytes,
    /// The HPKE encapsulation.
    pub kem_output: VLBytes,
}

/// `TargetedMessageTBM`: the HPKE `aad`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessageTbm {
    /// As in the message.
    pub group_id: VLBytes,
    /// As in the message.
    pub epoch: u64,
    /// As in the message.
    pub recipient_leaf_index: u32,
    /// As in the message.
    pub authenticated_data: VLBytes,
    /// The sender.
    pub sender_leaf_index: u32,
    /// The HPKE encapsulation.
    pub kem_output: VLBytes,
}

/// `TargetedMessageTBS`: what the sender signs. Its fields between
/// `wire_format` and `ciphertext_hash` are those of the TBM, in the same
/// order, so the TBM is embedded (a struct encodes as its fields).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessageTbs {
    /// `mls10`.
    pub version: ProtocolVersion,
    /// `mls_targeted_message`.
    pub wire_format: WireFormat,
    /// `group_id` to `kem_output`.
    pub tbm: TargetedMessageTbm,
    /// `Hash(ciphertext)`.
    pub ciphertext_hash: VLBytes,
}

/// `PSKId`: the HPKE `psk_id`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessagePskId {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// [`PSK_ID_LABEL`].
    pub label: VLBytes,
}

/// `TargetedMessageContext`: the HPKE `info`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct TargetedMessageContext {
    /// [`DATA_LABEL`].
    pub label: VLBytes,
    /// Empty.
    pub context: VLBytes,
}

/// `SenderAuthDataAAD`: the AEAD `aad` of the sender data.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
struct SenderAuthDataAad {
    group_id: VLBytes,
    epoch: u64,
    recipient_leaf_index: u32,
}

/// An epoch's two exported secrets: `targeted_message_psk` and
/// `sender_auth_data_secret`. Zeroized on drop, never printed.
#[derive(Debug)]
pub struct TargetedKeys {
    psk: Secret,
    sender_auth_data_secret: Secret,
}

impl TargetedKeys {
    /// From an epoch's `exporter_secret` (RFC 9420 §8.5): `MLS-Exporter(
    /// "targeted message", "psk" / "sender auth data secret", KDF.Nh)`.
    pub fn from_exporter_secret(cs: &(impl CipherSuiteProvider + ?Sized), exporter_secret: &[u8]) -> Result<Self, Error> {
        let n = cs.hash_len();
        Ok(Self {
            psk: cs.mls_exporter(exporter_secret, EXPORTER_LABEL, b"psk", n)?,
            sender_auth_data_secret: cs.mls_exporter(exporter_secret, EXPORTER_LABEL, b"sender auth data secret", n)?,
        })
    }

    /// The group's current epoch's.
    pub fn of_group(group: &Group) -> Result<Self, Error> {
        let n = group.cipher_suite_provider().hash_len();
        Ok(Self {
            psk: group.export_secret(EXPORTER_LABEL, b"psk", n)?,
            sender_auth_data_secret: group.export_secret(EXPORTER_LABEL, b"sender auth data secret", n)?,
        })
    }

    /// The AEAD key and nonce of the sender data, from the first `KDF.Nh`
    /// bytes of the ciphertext (all of it if shorter).
    fn sender_data_key(&self, cs: &(impl CipherSuiteProvider + ?Sized), ciphertext: &[u8]) -> Result<(Secret, Secret), Error> {
        let sample = ciphertext.get(..cs.hash_len()).unwrap_or(ciphertext);
        let secret = self.sender_auth_data_secret.as_bytes();
        Ok((
            cs.expand_with_label(secret, b"key", sample, cs.aead_key_len())?,
            cs.expand_with_label(secret, b"nonce", sample, cs.aead_nonce_len())?,
        ))
    }
}

/// Where a targeted message is sent from, or received in: the group and
/// epoch, and our leaf.
#[derive(Clone, Copy, Debug)]
pub struct Epoch<'a> {
    /// The group id.
    pub group_id: &'a [u8],
    /// The epoch.
    pub epoch: u64,
    /// Our leaf: the sender's when sealing, the recipient's when opening.
    pub own_leaf: LeafIndex,
}

/// What [`open`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened {
    /// The authenticated sender.
    pub sender: LeafIndex,
    /// The message's authenticated data.
    pub authenticated_data: Vec<u8>,
    /// The application data.
    pub application_data: Vec<u8>,
    /// The number of (zero) padding bytes after it.
    pub padding_length: usize,
}

fn psk_id(at: &Epoch<'_>) -> Result<Vec<u8>, Error> {
    Ok(encode(&TargetedMessagePskId {
        group_id: at.group_id.to_vec().into(),
        epoch: at.epoch,
        label: PSK_ID_LABEL.to_vec().into(),
    })?)
}

fn info() -> Result<Vec<u8>, Error> {
    Ok(encode(&TargetedMessageContext {
        label: DATA_LABEL.to_vec().into(),
        context: VLBytes::default(),
    })?)
}

fn tbm_of(m: &TargetedMessage, sender: u32, kem_output: &[u8]) -> TargetedMessageTbm {
    TargetedMessageTbm {
        group_id: m.group_id.clone(),
        epoch: m.epoch,
        recipient_leaf_index: m.recipient_leaf_index,
        authenticated_data: m.authenticated_data.clone(),
        sender_leaf_index: sender,
        kem_output: kem_output.to_vec().into(),
    }
}

fn tbm(m: &TargetedMessage, sender: u32, kem_output: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&tbm_of(m, sender, kem_output))?)
}

fn tbs(cs: &(impl CipherSuiteProvider + ?Sized), m: &TargetedMessage, sender: u32, kem_output: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&TargetedMessageTbs {
        version: ProtocolVersion::MLS10,
        wire_format: TARGETED_MESSAGE,
        tbm: tbm_of(m, sender, kem_output),
        ciphertext_hash: cs.hash(m.ciphertext.as_slice()).map_err(mlsx_base::Error::from)?.into(),
    })?)
}

fn sender_data_aad(m: &TargetedMessage) -> Result<Vec<u8>, Error> {
    Ok(encode(&SenderAuthDataAad {
        group_id: m.group_id.clone(),
        epoch: m.epoch,
        recipient_leaf_index: m.recipient_leaf_index,
    })?)
}

/// `TargetedMessageContent`: the application data, then `padding` zero
/// bytes.
fn content(application_data: &[u8], padding: usize) -> Result<Vec<u8>, Error> {
    let mut c = encode(&VLBytes::new(application_data.to_vec()))?;
    c.resize(c.len() + padding, 0);
    Ok(c)
}

/// Seals a targeted message from `from.own_leaf` to `recipient`, whose
/// leaf encryption key is `recipient_key`, in the draft's order (PSK
/// and sender-data secret, SetupPSKS, TBM, Seal, signature over the
/// ciphertext's hash, sender data encrypted under a key from the
/// ciphertext's first bytes).
#[allow(clippy::too_many_arguments)]
pub fn seal(
    cs: &(impl CipherSuiteProvider + ?Sized),
    keys: &TargetedKeys,
    from: &Epoch<'_>,
    signer: &SignaturePrivateKey,
    recipient: LeafIndex,
    recipient_key: &[u8],
    authenticated_data: &[u8],
    application_data: &[u8],
    padding: usize,
) -> Result<TargetedMessage, Error> {
    hazmat::seal_content(
        cs,
        keys,
        from,
        signer,
        recipient,
        recipient_key,
        authenticated_data,
        &content(application_data, padding)?,
    )
}

/// Opens a targeted message addressed to `to.own_leaf` with the steps of
/// the draft's "Recipient Validation", in order: group, epoch, recipient,
/// sender data (the sender a non-blank leaf, whose signature key
/// `sender_key` returns), signature over the ciphertext's hash — before
/// anything is decrypted — then the content and its all-zero padding.
pub fn open(
    cs: &(impl CipherSuiteProvider + ?Sized),
    keys: &TargetedKeys,
    to: &Epoch<'_>,
    own_key: &HpkePrivateKey,
    sender_key: impl Fn(LeafIndex) -> Option<Vec<u8>>,
    m: &TargetedMessage,
) -> Result<Opened, Error> {
    if m.group_id.as_slice() != to.group_id {
        return Err(Error::TargetedWrongGroup);
    }
    if m.epoch != to.epoch {
        return Err(Error::TargetedWrongEpoch {
            message: m.epoch,
            group: to.epoch,
        });
    }
    if m.recipient_leaf_index != to.own_leaf.0 {
        return Err(Error::TargetedNotForUs(m.recipient_leaf_index));
    }
    let (key, nonce) = keys.sender_data_key(cs, m.ciphertext.as_slice())?;
    let sender_data = cs
        .aead_open(
            key.as_bytes(),
            nonce.as_bytes(),
            &sender_data_aad(m)?,
            m.encrypted_sender_auth_data.as_slice(),
        )
        .map_err(|_| Error::TargetedSenderData)?;
    let auth: TargetedMessageSenderAuthData = decode(sender_data.as_bytes())?;
    let sender = LeafIndex(auth.sender_leaf_index);
    let signature_key = sender_key(sender).ok_or(Error::TargetedUnknownSender(sender.0))?;
    cs.verify_with_label(
        &signature_key,
        TBS_LABEL,
        &tbs(cs, m, sender.0, auth.kem_output.as_slice())?,
        auth.signature.as_slice(),
    )?;
    let plaintext = cs
        .hpke_open_psk(
            auth.kem_output.as_slice(),
            own_key,
            &info()?,
            &tbm(m, sender.0, auth.kem_output.as_slice())?,
            m.ciphertext.as_slice(),
            keys.psk.as_bytes(),
            &psk_id(to)?,
        )
        .map_err(mlsx_base::Error::from)?;
    let (data, padding) = VLBytes::tls_deserialize_bytes(plaintext.as_bytes())?;
    if padding.iter().any(|b| *b != 0) {
        return Err(Error::TargetedNonZeroPadding);
    }
    Ok(Opened {
        sender,
        authenticated_data: m.authenticated_data.as_slice().to_vec(),
        application_data: data.as_slice().to_vec(),
        padding_length: padding.len(),
    })
}

/// Sends a targeted message from us to the member at `recipient`, in the
/// group's current epoch, with `padding` zero bytes after the data.
pub fn send(group: &Group, recipient: LeafIndex, authenticated_data: &[u8], data: &[u8], padding: usize) -> Result<MlsMessage, Error> {
    let cs = group.cipher_suite_provider();
    let leaf = group.tree().leaf(recipient).ok_or(Error::TargetedUnknownRecipient(recipient.0))?;
    let from = Epoch {
        group_id: group.context().group_id.as_slice(),
        epoch: group.epoch(),
        own_leaf: group.own_leaf(),
    };
    let m = seal(
        cs,
        &TargetedKeys::of_group(group)?,
        &from,
        &group.identity().signer,
        recipient,
        leaf.encryption_key.as_slice(),
        authenticated_data,
        data,
        padding,
    )?;
    to_message(&m)
}

/// Opens a targeted message for us in the group's current epoch.
pub fn receive(group: &Group, m: &TargetedMessage) -> Result<Opened, Error> {
    let cs = group.cipher_suite_provider();
    let to = Epoch {
        group_id: group.context().group_id.as_slice(),
        epoch: group.epoch(),
        own_leaf: group.own_leaf(),
    };
    let own_key = group.own_leaf_private_key().ok_or(Error::NoPrivateKey)?;
    let tree = group.tree();
    open(
        cs,
        &TargetedKeys::of_group(group)?,
        &to,
        own_key,
        |l| tree.leaf(l).map(|leaf| leaf.signature_key.as_slice().to_vec()),
        m,
    )
}

/// A targeted message as an `MLSMessage`.
pub fn to_message(m: &TargetedMessage) -> Result<MlsMessage, Error> {
    Ok(MlsMessage::new(MlsMessageBody::Custom(CustomBody {
        wire_format: TARGETED_MESSAGE,
        body: encode(m)?,
    })))
}

/// The targeted message inside an `MLSMessage`, if it is one.
pub fn from_message(message: &MlsMessage) -> Result<Option<TargetedMessage>, Error> {
    match &message.body {
        MlsMessageBody::Custom(c) if c.wire_format == TARGETED_MESSAGE => Ok(Some(decode(&c.body)?)),
        _ => Ok(None),
    }
}

/// Opens targeted messages in [`Group::process_message`]: the envelope
/// carries the sender, the data and the authenticated data.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetedMessageHandler;

impl WireFormatHandler for TargetedMessageHandler {
    fn wire_format(&self) -> WireFormat {
        TARGETED_MESSAGE
    }

    fn process(&self, group: &Group, body: &[u8]) -> Result<Envelope, mlsx_base::Error> {
        let m: TargetedMessage = decode(body)?;
        let opened = receive(group, &m)?;
        Ok(Envelope {
            sender: Some(opened.sender),
            data: opened.application_data,
            authenticated_data: opened.authenticated_data,
            inner: vec![],
        })
    }
}

/// Declares the body's syntax to the decoder (process-wide; [`install`]
/// does it too): call it before decoding targeted messages outside a group.
pub fn register_syntax() {
    register_wire_format_syntax(TARGETED_MESSAGE, BodySyntax::Parser(crate::body_len::<TargetedMessage>));
}

/// Installs the handler in a configuration and declares the body's syntax
/// to the decoder. To advertise support, also declare the format in
/// `supported_wire_formats`
/// ([`Extensions::support_wire_format`](crate::Extensions::support_wire_format)).
/// The code point is the draft's suggestion, which the signed
/// `TargetedMessageTBS` also carries.
pub fn install(config: &mut GroupConfig) {
    register_syntax();
    config.hooks = std::mem::take(&mut config.hooks).with_wire_format(Arc::new(TargetedMessageHandler));
}

/// Lower-level sealing, for tests and vectors: any content bytes.
pub mod hazmat {
    use super::*;

    /// [`seal`](super::seal) with the serialized `TargetedMessageContent`
    /// given as is (so a test can put non-zero padding in it).
    #[allow(clippy::too_many_arguments)]
    pub fn seal_content(
        cs: &(impl CipherSuiteProvider + ?Sized),
        keys: &TargetedKeys,
        from: &Epoch<'_>,
        signer: &SignaturePrivateKey,
        recipient: LeafIndex,
        recipient_key: &[u8],
        authenticated_data: &[u8],
        content: &[u8],
    ) -> Result<TargetedMessage, Error> {
        let sender = from.own_leaf.0;
        let mut m = TargetedMessage {
            group_id: from.group_id.to_vec().into(),
            epoch: from.epoch,
            recipient_leaf_index: recipient.0,
            authenticated_data: authenticated_data.to_vec().into(),
            encrypted_sender_auth_data: VLBytes::default(),
            ciphertext: VLBytes::default(),
        };
        let aad_of = |enc: &[u8]| tbm(&m, sender, enc).map_err(|e| CryptoError::Provider(Box::new(e)));
        let (kem_output, ciphertext) = cs
            .hpke_seal_psk(recipient_key, &info()?, keys.psk.as_bytes(), &psk_id(from)?, &aad_of, content)
            .map_err(mlsx_base::Error::from)?;
        m.ciphertext = ciphertext.into();
        let signature = cs.sign_with_label(signer, TBS_LABEL, &tbs(cs, &m, sender, &kem_output)?)?;
        let auth = encode(&TargetedMessageSenderAuthData {
            sender_leaf_index: sender,
            signature: signature.into(),
            kem_output: kem_output.into(),
        })?;
        let (key, nonce) = keys.sender_data_key(cs, m.ciphertext.as_slice())?;
        m.encrypted_sender_auth_data = cs
            .aead_seal(key.as_bytes(), nonce.as_bytes(), &sender_data_aad(&m)?, &auth)
            .map_err(mlsx_base::Error::from)?
            .into();
        Ok(m)
    }
}
