//! Protecting and unprotecting messages (RFC 9420 §6).
//!
//! [`protect_public`]/[`verify_public`] handle PublicMessage (signature and
//! membership tag, §6.2); [`protect_private`]/[`unprotect_private`] handle
//! PrivateMessage (content and sender-data encryption with padding, §6.3).
//! Decrypted content is a [`DecryptedContent`] until its signature has been
//! checked with [`DecryptedContent::verify`], which yields the usable
//! [`AuthenticatedContent`].

use subtle::ConstantTimeEq;
use tls_codec::{DeserializeBytes, Serialize};

use crate::codec::{
    AuthenticatedContent, ContentType, FramedContent, FramedContentAuthData, FramedContentBody, GroupContext, Mac, PrivateContentAad,
    PrivateMessage, PublicMessage, Sender, SenderData, SenderDataAad, WireFormat,
};
use crate::crypto::{CipherSuiteProvider, LabeledCrypto, SignaturePrivateKey};
use crate::error::{Error, MisuseError, PeerError};
use crate::schedule::secret_tree::{RatchetType, SecretTree, StagedRatchet, sender_data_key_nonce};
use crate::tree::math::LeafIndex;

/// The signature label of framed content (RFC 9420 §6.1).
pub const FRAMED_CONTENT_TBS_LABEL: &[u8] = b"FramedContentTBS";

/// Signs framed content: `SignWithLabel(sk, "FramedContentTBS", FramedContentTBS)` (RFC 9420 §6.1).
pub fn sign_content(
    cs: &(impl CipherSuiteProvider + ?Sized),
    sk: &SignaturePrivateKey,
    wire_format: WireFormat,
    content: &FramedContent,
    context: &GroupContext,
) -> Result<Vec<u8>, Error> {
    cs.sign_with_label(sk, FRAMED_CONTENT_TBS_LABEL, &content.tbs(wire_format, Some(context))?)
}

/// Verifies the signature of authenticated content (RFC 9420 §6.1).
pub fn verify_content_signature(
    cs: &(impl CipherSuiteProvider + ?Sized),
    signature_key: &[u8],
    wire_format: WireFormat,
    content: &FramedContent,
    signature: &[u8],
    context: &GroupContext,
) -> Result<(), Error> {
    cs.verify_with_label(
        signature_key,
        FRAMED_CONTENT_TBS_LABEL,
        &content.tbs(wire_format, Some(context))?,
        signature,
    )
}

/// Checks the sender/content-type combinations of RFC 9420 §6 that do not
/// depend on the group state: application data only from members, commits
/// not from external senders or new-member-proposal senders, and a
/// new-member sender only with its own content type.
pub fn check_sender_content(sender: &Sender, content_type: ContentType) -> Result<(), Error> {
    let ok = match sender {
        Sender::Member(_) => true,
        Sender::External(_) | Sender::NewMemberProposal => content_type == ContentType::PROPOSAL,
        Sender::NewMemberCommit => content_type == ContentType::COMMIT,
    };
    if ok { Ok(()) } else { Err(PeerError::InvalidSender.into()) }
}

/// Builds a PublicMessage (RFC 9420 §6.2): signs the content, attaches the
/// confirmation tag (required for a commit) and, for a member sender, the
/// membership tag. Application data cannot be sent this way (§6: it MUST be
/// a PrivateMessage).
pub fn protect_public(
    cs: &(impl CipherSuiteProvider + ?Sized),
    sk: &SignaturePrivateKey,
    content: FramedContent,
    confirmation_tag: Option<Mac>,
    context: &GroupContext,
    membership_key: Option<&[u8]>,
) -> Result<PublicMessage, Error> {
    let content_type = content.content_type();
    if content_type == ContentType::APPLICATION {
        return Err(MisuseError::ApplicationDataInPublicMessage.into());
    }
    check_sender_content(&content.sender, content_type).map_err(|_| MisuseError::InvalidSender)?;
    if (content_type == ContentType::COMMIT) != confirmation_tag.is_some() {
        return Err(MisuseError::ConfirmationTag.into());
    }
    let signature = sign_content(cs, sk, WireFormat::PUBLIC_MESSAGE, &content, context)?;
    seal_public(
        cs,
        content,
        FramedContentAuthData {
            signature: signature.into(),
            confirmation_tag,
        },
        context,
        membership_key,
    )
}

/// Builds a PublicMessage from content that is already signed (RFC 9420
/// §6.2): adds the membership tag for a member sender.
pub fn seal_public(
    cs: &(impl CipherSuiteProvider + ?Sized),
    content: FramedContent,
    auth: FramedContentAuthData,
    context: &GroupContext,
    membership_key: Option<&[u8]>,
) -> Result<PublicMessage, Error> {
    let mut msg = PublicMessage {
        content,
        auth,
        membership_tag: None,
    };
    if matches!(msg.content.sender, Sender::Member(_)) {
        let key = membership_key.ok_or(MisuseError::MissingMembershipKey)?;
        msg.membership_tag = Some(cs.mac(key, &msg.tbm(context)?)?.into());
    }
    Ok(msg)
}

/// Checks a PublicMessage's group, epoch, sender, membership tag and
/// signature (RFC 9420 §6.2, §6.1) and returns its authenticated content.
///
/// `signature_key` is the sender's key, looked up by the caller from the
/// sender (the member's leaf, the external sender, or the new member's
/// KeyPackage/UpdatePath leaf). `membership_key` is required for member
/// senders.
pub fn verify_public(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PublicMessage,
    context: &GroupContext,
    membership_key: Option<&[u8]>,
    signature_key: &[u8],
) -> Result<AuthenticatedContent, Error> {
    check_public_handshake(msg, context)?;
    match (&msg.content.sender, &msg.membership_tag) {
        (Sender::Member(_), Some(tag)) => {
            let key = membership_key.ok_or(MisuseError::MissingMembershipKey)?;
            // Both checks read the whole content, and a commit with a path
            // to every leaf of a large group just made is megabytes (11.6 MB
            // at 10,000 members with ML-KEM-768): run them side by side
            // there. The tag is still judged first, as in order.
            let big = tls_codec::Size::tls_serialized_len(&msg.content) >= PARALLEL_CHECKS_FROM;
            let (tag_ok, signed) = crate::par::join_if(
                big,
                || -> Result<bool, Error> { Ok(bool::from(cs.mac(key, &msg.tbm(context)?)?.ct_eq(tag.as_slice()))) },
                || signed_content(cs, msg, context, signature_key),
            );
            if !tag_ok? {
                return Err(PeerError::InvalidMembershipTag.into());
            }
            return signed;
        }
        (Sender::Member(_), None) => return Err(PeerError::MissingMembershipTag.into()),
        (_, Some(_)) => return Err(PeerError::UnexpectedMembershipTag.into()),
        (_, None) => {}
    }
    signed_content(cs, msg, context, signature_key)
}

/// From this size of content on, a member's PublicMessage has its
/// membership tag and its signature checked concurrently.
const PARALLEL_CHECKS_FROM: usize = 256 * 1024;

/// The checks of a PublicMessage that need no key (RFC 9420 §6, §6.1): its
/// group and epoch, a handshake content, a sender allowed for it, a
/// confirmation tag exactly on commits.
fn check_public_handshake(msg: &PublicMessage, context: &GroupContext) -> Result<(), Error> {
    check_group_epoch(&msg.content.group_id, msg.content.epoch, context)?;
    let content_type = msg.content.content_type();
    if content_type == ContentType::APPLICATION {
        return Err(PeerError::InvalidWireFormatForContent.into());
    }
    check_sender_content(&msg.content.sender, content_type)?;
    if (content_type == ContentType::COMMIT) != msg.auth.confirmation_tag.is_some() {
        return Err(PeerError::MissingConfirmationTag.into());
    }
    Ok(())
}

/// Checks a PublicMessage handshake as a non-member can (RFC 9420 §6.1,
/// §6.2 without the `membership_tag`, which needs the membership key): its
/// group and epoch, that its sender may send its content type, that a
/// commit carries a confirmation tag (unchecked), that a member's message
/// carries a membership tag and no other sender's does, and its signature
/// under `signature_key`. What an observer of the group checks
/// ([`PublicGroup`](crate::group::PublicGroup)).
pub fn verify_public_unkeyed(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PublicMessage,
    context: &GroupContext,
    signature_key: &[u8],
) -> Result<AuthenticatedContent, Error> {
    check_public_handshake(msg, context)?;
    match (&msg.content.sender, &msg.membership_tag) {
        (Sender::Member(_), None) => return Err(PeerError::MissingMembershipTag.into()),
        (Sender::Member(_), Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(PeerError::UnexpectedMembershipTag.into()),
    }
    signed_content(cs, msg, context, signature_key)
}

/// Checks a member's PublicMessage proposal as a non-member can (RFC 9420
/// §6.2 without the `membership_tag`, which needs the membership key): its
/// group and epoch, that it is a proposal from a member that carries a
/// membership tag, and its signature under `signature_key` (the sender's
/// leaf in the tree the non-member holds). An external joiner checks the
/// proposals it commits by reference this way (draft-ietf-mls-extensions
/// §6.3: "it skips the validation of the membership_tag").
pub fn verify_public_proposal_as_non_member(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PublicMessage,
    context: &GroupContext,
    signature_key: &[u8],
) -> Result<AuthenticatedContent, Error> {
    check_group_epoch(&msg.content.group_id, msg.content.epoch, context)?;
    if msg.content.content_type() != ContentType::PROPOSAL {
        return Err(PeerError::NotAProposal.into());
    }
    if !matches!(msg.content.sender, Sender::Member(_)) {
        return Err(PeerError::InvalidSender.into());
    }
    if msg.membership_tag.is_none() {
        return Err(PeerError::MissingMembershipTag.into());
    }
    signed_content(cs, msg, context, signature_key)
}

/// A PublicMessage's authenticated content, once its signature verifies
/// under `signature_key` (RFC 9420 §6.1).
fn signed_content(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PublicMessage,
    context: &GroupContext,
    signature_key: &[u8],
) -> Result<AuthenticatedContent, Error> {
    verify_content_signature(
        cs,
        signature_key,
        WireFormat::PUBLIC_MESSAGE,
        &msg.content,
        msg.auth.signature.as_slice(),
        context,
    )?;
    Ok(AuthenticatedContent {
        wire_format: WireFormat::PUBLIC_MESSAGE,
        content: msg.content.clone(),
        auth: msg.auth.clone(),
    })
}

fn check_group_epoch(group_id: &crate::codec::VLBytes, epoch: u64, context: &GroupContext) -> Result<(), Error> {
    if group_id.as_slice() != context.group_id.as_slice() {
        return Err(PeerError::WrongGroupId.into());
    }
    if epoch != context.epoch {
        return Err(PeerError::WrongEpoch {
            message: epoch,
            group: context.epoch,
        }
        .into());
    }
    Ok(())
}

fn ratchet_type(content_type: ContentType) -> RatchetType {
    if content_type == ContentType::APPLICATION {
        RatchetType::Application
    } else {
        RatchetType::Handshake
    }
}

fn xor_reuse_guard(nonce: &[u8], guard: &[u8; 4]) -> Vec<u8> {
    let mut n = nonce.to_vec();
    for (b, g) in n.iter_mut().zip(guard) {
        *b ^= g;
    }
    n
}

/// Builds a PrivateMessage (RFC 9420 §6.3): signs the content, encrypts it
/// with the sender's next ratchet key (handshake or application), pads with
/// `padding_len` zero bytes, and encrypts the sender data.
#[allow(clippy::too_many_arguments)]
pub fn protect_private(
    cs: &(impl CipherSuiteProvider + ?Sized),
    sk: &SignaturePrivateKey,
    content: FramedContent,
    confirmation_tag: Option<Mac>,
    context: &GroupContext,
    secret_tree: &mut SecretTree,
    sender_data_secret: &[u8],
    padding_len: usize,
) -> Result<PrivateMessage, Error> {
    let signature = sign_content(cs, sk, WireFormat::PRIVATE_MESSAGE, &content, context)?;
    let auth = FramedContentAuthData {
        signature: signature.into(),
        confirmation_tag,
    };
    seal_private(cs, content, auth, secret_tree, sender_data_secret, padding_len)
}

/// Encrypts content that is already signed into a PrivateMessage (RFC 9420
/// §6.3), with the sender's next ratchet key and `padding_len` zero bytes.
pub fn seal_private(
    cs: &(impl CipherSuiteProvider + ?Sized),
    content: FramedContent,
    auth: FramedContentAuthData,
    secret_tree: &mut SecretTree,
    sender_data_secret: &[u8],
    padding_len: usize,
) -> Result<PrivateMessage, Error> {
    seal_private_within(cs, content, auth, secret_tree, sender_data_secret, padding_len, usize::MAX)
}

/// Like [`seal_private`], but refuses with `MisuseError::TooLarge` a
/// message whose MLSMessage encoding would be over `max_message_len`
/// bytes, without spending the ratchet key: a sender's limit is then
/// exactly what receivers with the same limit accept.
#[allow(clippy::too_many_arguments)]
pub fn seal_private_within(
    cs: &(impl CipherSuiteProvider + ?Sized),
    content: FramedContent,
    auth: FramedContentAuthData,
    secret_tree: &mut SecretTree,
    sender_data_secret: &[u8],
    padding_len: usize,
    max_message_len: usize,
) -> Result<PrivateMessage, Error> {
    let Sender::Member(leaf) = content.sender else {
        return Err(MisuseError::InvalidSender.into());
    };
    let content_type = content.content_type();
    if (content_type == ContentType::COMMIT) != auth.confirmation_tag.is_some() {
        return Err(MisuseError::ConfirmationTag.into());
    }

    // PrivateMessageContent (§6.3.1).
    let mut plaintext = zeroize::Zeroizing::new(Vec::new());
    content.body.serialize_untagged(&mut plaintext)?;
    auth.tls_serialize(&mut *plaintext)?;
    let padded_len = plaintext.len() + padding_len;
    plaintext.resize(padded_len, 0);

    let aad = PrivateContentAad {
        group_id: content.group_id.clone(),
        epoch: content.epoch,
        content_type,
        authenticated_data: content.authenticated_data.clone(),
    }
    .tls_serialize_detached()?;

    let mut reuse_guard = [0u8; 4];
    cs.random_bytes(&mut reuse_guard)?;
    secret_tree.next_key_with(cs, leaf.0, ratchet_type(content_type), |key| {
        let nonce = xor_reuse_guard(key.nonce.as_bytes(), &reuse_guard);
        let ciphertext = cs.aead_seal(key.key.as_bytes(), &nonce, &aad, &plaintext)?;

        let sender_data = SenderData {
            leaf_index: leaf,
            generation: key.generation,
            reuse_guard,
        }
        .tls_serialize_detached()?;
        let (sd_key, sd_nonce) = sender_data_key_nonce(cs, sender_data_secret, &ciphertext)?;
        let sd_aad = SenderDataAad {
            group_id: content.group_id.clone(),
            epoch: content.epoch,
            content_type,
        }
        .tls_serialize_detached()?;
        let encrypted_sender_data = cs.aead_seal(sd_key.as_bytes(), sd_nonce.as_bytes(), &sd_aad, &sender_data)?;

        let message = PrivateMessage {
            group_id: content.group_id,
            epoch: content.epoch,
            content_type,
            authenticated_data: content.authenticated_data,
            encrypted_sender_data: encrypted_sender_data.into(),
            ciphertext: ciphertext.into(),
        };
        // The MLSMessage adds its version and wire format (2 bytes each).
        if 4 + tls_codec::Size::tls_serialized_len(&message) > max_message_len {
            return Err(MisuseError::TooLarge.into());
        }
        Ok(message)
    })
}

/// Content decrypted from a PrivateMessage whose signature is not yet checked.
#[derive(Debug)]
pub struct DecryptedContent {
    content: FramedContent,
    auth: FramedContentAuthData,
    generation: u32,
}

impl DecryptedContent {
    /// The sender's leaf (its signature key is needed for [`Self::verify`]).
    pub fn sender_leaf(&self) -> Option<LeafIndex> {
        match self.content.sender {
            Sender::Member(l) => Some(l),
            _ => None,
        }
    }

    /// The ratchet generation the message used.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Verifies the signature with the sender's key (RFC 9420 §6.1) and
    /// yields the authenticated content.
    pub fn verify(
        self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        signature_key: &[u8],
        context: &GroupContext,
    ) -> Result<AuthenticatedContent, Error> {
        verify_content_signature(
            cs,
            signature_key,
            WireFormat::PRIVATE_MESSAGE,
            &self.content,
            self.auth.signature.as_slice(),
            context,
        )?;
        Ok(AuthenticatedContent {
            wire_format: WireFormat::PRIVATE_MESSAGE,
            content: self.content,
            auth: self.auth,
        })
    }
}

/// Decrypts a PrivateMessage (RFC 9420 §6.3): sender data, then content
/// with the sender's ratchet key; checks that the padding is all zero.
/// The secret tree is not changed: the returned [`StagedRatchet`] consumes
/// the key when applied with [`SecretTree::apply`], which the caller does
/// only once the whole message has been accepted.
pub fn unprotect_private(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PrivateMessage,
    context: &GroupContext,
    secret_tree: &SecretTree,
    sender_data_secret: &[u8],
) -> Result<(DecryptedContent, StagedRatchet), Error> {
    unprotect_private_from(cs, msg, context, secret_tree, sender_data_secret, &|_| true)
}

/// [`unprotect_private`] for a group that knows its members: the sender
/// data's leaf must satisfy `is_member` (a non-blank leaf, RFC 9420
/// §6.3.2), checked before its ratchet is used.
pub fn unprotect_private_from(
    cs: &(impl CipherSuiteProvider + ?Sized),
    msg: &PrivateMessage,
    context: &GroupContext,
    secret_tree: &SecretTree,
    sender_data_secret: &[u8],
    is_member: &dyn Fn(LeafIndex) -> bool,
) -> Result<(DecryptedContent, StagedRatchet), Error> {
    check_group_epoch(&msg.group_id, msg.epoch, context)?;
    let content_type = msg.content_type;
    if !matches!(content_type, ContentType::APPLICATION | ContentType::PROPOSAL | ContentType::COMMIT) {
        return Err(tls_codec::Error::UnknownValue(content_type.0.into()).into());
    }
    let (sd_key, sd_nonce) = sender_data_key_nonce(cs, sender_data_secret, msg.ciphertext.as_slice())?;
    let sd_aad = SenderDataAad {
        group_id: msg.group_id.clone(),
        epoch: msg.epoch,
        content_type,
    }
    .tls_serialize_detached()?;
    let sender_data = cs.aead_open(
        sd_key.as_bytes(),
        sd_nonce.as_bytes(),
        &sd_aad,
        msg.encrypted_sender_data.as_slice(),
    )?;
    let sender_data = SenderData::tls_deserialize_exact_bytes(sender_data.as_bytes())?;
    let leaf = sender_data.leaf_index;
    if leaf.0 < secret_tree.n_leaves() && !is_member(leaf) {
        return Err(PeerError::UnknownSender.into());
    }

    let aad = PrivateContentAad {
        group_id: msg.group_id.clone(),
        epoch: msg.epoch,
        content_type,
        authenticated_data: msg.authenticated_data.clone(),
    }
    .tls_serialize_detached()?;

    let ((body, auth), staged) = secret_tree.decrypt_staged(cs, leaf.0, ratchet_type(content_type), sender_data.generation, |key| {
        let nonce = xor_reuse_guard(key.nonce.as_bytes(), &sender_data.reuse_guard);
        let plaintext = cs.aead_open(key.key.as_bytes(), &nonce, &aad, msg.ciphertext.as_slice())?;
        decode_private_content(content_type, plaintext.as_bytes())
    })?;
    let content = FramedContent {
        group_id: msg.group_id.clone(),
        epoch: msg.epoch,
        sender: Sender::Member(leaf),
        authenticated_data: msg.authenticated_data.clone(),
        body,
    };
    Ok((
        DecryptedContent {
            content,
            auth,
            generation: sender_data.generation,
        },
        staged,
    ))
}

/// Decodes `PrivateMessageContent` (RFC 9420 §6.3.1) and checks its padding.
fn decode_private_content(content_type: ContentType, bytes: &[u8]) -> Result<(FramedContentBody, FramedContentAuthData), Error> {
    let (body, rest) = FramedContentBody::deserialize_untagged(content_type, bytes)?;
    let (auth, padding) = FramedContentAuthData::deserialize_for(content_type, rest)?;
    if padding.iter().any(|b| *b != 0) {
        return Err(PeerError::NonZeroPadding.into());
    }
    Ok((body, auth))
}

/// Decodes a value, rejecting trailing bytes.
pub fn decode_exact<T: DeserializeBytes>(bytes: &[u8]) -> Result<T, Error> {
    Ok(T::tls_deserialize_exact_bytes(bytes)?)
}
