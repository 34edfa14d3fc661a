//! Message framing (RFC 9420 §6).

use super::VLBytes;
use tls_codec::{DeserializeBytes, Serialize, Size, TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{Commit, GroupContext, GroupInfo, KeyPackage, Mac, Proposal, ProtocolVersion, Welcome, WireFormat};
use crate::error::Error;
use crate::tree::math::LeafIndex;

/// `ContentType` (RFC 9420 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ContentType(pub u8);

impl ContentType {
    /// `application(1)`.
    pub const APPLICATION: Self = Self(1);
    /// `proposal(2)`.
    pub const PROPOSAL: Self = Self(2);
    /// `commit(3)`.
    pub const COMMIT: Self = Self(3);
}

/// `Sender` (RFC 9420 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum Sender {
    /// `member(1)`: a current member, by leaf index.
    #[tls_codec(discriminant = 1)]
    Member(LeafIndex),
    /// `external(2)`: an entry of the `external_senders` extension.
    #[tls_codec(discriminant = 2)]
    External(u32),
    /// `new_member_proposal(3)`: an Add proposal by the joiner itself.
    #[tls_codec(discriminant = 3)]
    NewMemberProposal,
    /// `new_member_commit(4)`: an external commit.
    #[tls_codec(discriminant = 4)]
    NewMemberCommit,
}

/// The `select (content_type)` part of `FramedContent` (RFC 9420 §6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
#[allow(clippy::large_enum_variant)]
pub enum FramedContentBody {
    /// `application(1)`.
    #[tls_codec(discriminant = 1)]
    Application(VLBytes),
    /// `proposal(2)`.
    #[tls_codec(discriminant = 2)]
    Proposal(Proposal),
    /// `commit(3)`.
    #[tls_codec(discriminant = 3)]
    Commit(Commit),
}

impl FramedContentBody {
    /// The content type.
    pub fn content_type(&self) -> ContentType {
        match self {
            Self::Application(_) => ContentType::APPLICATION,
            Self::Proposal(_) => ContentType::PROPOSAL,
            Self::Commit(_) => ContentType::COMMIT,
        }
    }

    /// Serializes the body *without* its content-type byte, as inside
    /// `PrivateMessageContent` (RFC 9420 §6.3.1).
    pub fn serialize_untagged(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        match self {
            Self::Application(d) => d.tls_serialize(out)?,
            Self::Proposal(p) => p.tls_serialize(out)?,
            Self::Commit(c) => c.tls_serialize(out)?,
        };
        Ok(())
    }

    /// Decodes a body of a known type that has no content-type byte.
    pub fn deserialize_untagged(content_type: ContentType, bytes: &[u8]) -> Result<(Self, &[u8]), Error> {
        Ok(match content_type {
            ContentType::APPLICATION => {
                let (d, rest) = VLBytes::tls_deserialize_bytes(bytes)?;
                (Self::Application(d), rest)
            }
            ContentType::PROPOSAL => {
                let (p, rest) = Proposal::tls_deserialize_bytes(bytes)?;
                (Self::Proposal(p), rest)
            }
            ContentType::COMMIT => {
                let (c, rest) = Commit::tls_deserialize_bytes(bytes)?;
                (Self::Commit(c), rest)
            }
            ContentType(t) => return Err(tls_codec::Error::UnknownValue(t.into()).into()),
        })
    }
}

/// `FramedContent` (RFC 9420 §6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct FramedContent {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// Who sent it.
    pub sender: Sender,
    /// Application-chosen authenticated data.
    pub authenticated_data: VLBytes,
    /// The content, with its type.
    pub body: FramedContentBody,
}

impl FramedContent {
    /// The content type.
    pub fn content_type(&self) -> ContentType {
        self.body.content_type()
    }

    /// Serializes `FramedContentTBS` (RFC 9420 §6.1): version, wire format,
    /// the content, and the GroupContext when the sender is a member or a
    /// new member committing.
    pub fn tbs(&self, wire_format: WireFormat, context: Option<&GroupContext>) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.tls_serialized_len() + 256);
        ProtocolVersion::MLS10.tls_serialize(&mut out)?;
        wire_format.tls_serialize(&mut out)?;
        self.tls_serialize(&mut out)?;
        if matches!(self.sender, Sender::Member(_) | Sender::NewMemberCommit) {
            let ctx = context.ok_or(crate::error::MisuseError::MissingGroupContext)?;
            ctx.tls_serialize(&mut out)?;
        }
        Ok(out)
    }
}

/// `FramedContentAuthData` (RFC 9420 §6.1). The confirmation tag is present
/// exactly when the content is a commit, so decoding needs the content type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FramedContentAuthData {
    /// `SignWithLabel(., "FramedContentTBS", FramedContentTBS)`.
    pub signature: VLBytes,
    /// Present iff the content type is commit.
    pub confirmation_tag: Option<Mac>,
}

impl FramedContentAuthData {
    /// Decodes the auth data of content of the given type.
    pub fn deserialize_for(content_type: ContentType, bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (signature, rest) = VLBytes::tls_deserialize_bytes(bytes)?;
        if content_type == ContentType::COMMIT {
            let (tag, rest) = Mac::tls_deserialize_bytes(rest)?;
            Ok((
                Self {
                    signature,
                    confirmation_tag: Some(tag),
                },
                rest,
            ))
        } else {
            Ok((
                Self {
                    signature,
                    confirmation_tag: None,
                },
                rest,
            ))
        }
    }
}

impl Size for FramedContentAuthData {
    fn tls_serialized_len(&self) -> usize {
        self.signature.tls_serialized_len() + self.confirmation_tag.as_ref().map_or(0, Size::tls_serialized_len)
    }
}

impl Serialize for FramedContentAuthData {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let mut n = self.signature.tls_serialize(w)?;
        if let Some(tag) = &self.confirmation_tag {
            n += tag.tls_serialize(w)?;
        }
        Ok(n)
    }
}

/// `AuthenticatedContent` (RFC 9420 §6.1): what a signature covers, what a
/// ProposalRef hashes and what enters the transcript.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatedContent {
    /// How the content travelled.
    pub wire_format: WireFormat,
    /// The content.
    pub content: FramedContent,
    /// Its signature (and confirmation tag for commits).
    pub auth: FramedContentAuthData,
}

impl Size for AuthenticatedContent {
    fn tls_serialized_len(&self) -> usize {
        2 + self.content.tls_serialized_len() + self.auth.tls_serialized_len()
    }
}

impl Serialize for AuthenticatedContent {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        Ok(self.wire_format.tls_serialize(w)? + self.content.tls_serialize(w)? + self.auth.tls_serialize(w)?)
    }
}

impl DeserializeBytes for AuthenticatedContent {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (wire_format, rest) = WireFormat::tls_deserialize_bytes(bytes)?;
        let (content, rest) = FramedContent::tls_deserialize_bytes(rest)?;
        let (auth, rest) = FramedContentAuthData::deserialize_for(content.content_type(), rest)?;
        Ok((
            Self {
                wire_format,
                content,
                auth,
            },
            rest,
        ))
    }
}

impl AuthenticatedContent {
    /// Serializes `ConfirmedTranscriptHashInput { wire_format; content; signature<V>; }` (RFC 9420 §8.2).
    pub fn confirmed_transcript_hash_input(&self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.tls_serialized_len());
        self.wire_format.tls_serialize(&mut out)?;
        self.content.tls_serialize(&mut out)?;
        self.auth.signature.tls_serialize(&mut out)?;
        Ok(out)
    }
}

/// `PublicMessage` (RFC 9420 §6.2). The membership tag is present exactly
/// when the sender is a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicMessage {
    /// The content.
    pub content: FramedContent,
    /// Signature and confirmation tag.
    pub auth: FramedContentAuthData,
    /// `MAC(membership_key, AuthenticatedContentTBM)` for member senders.
    pub membership_tag: Option<Mac>,
}

impl Size for PublicMessage {
    fn tls_serialized_len(&self) -> usize {
        self.content.tls_serialized_len()
            + self.auth.tls_serialized_len()
            + self.membership_tag.as_ref().map_or(0, Size::tls_serialized_len)
    }
}

impl Serialize for PublicMessage {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let mut n = self.content.tls_serialize(w)? + self.auth.tls_serialize(w)?;
        if let Some(tag) = &self.membership_tag {
            n += tag.tls_serialize(w)?;
        }
        Ok(n)
    }
}

impl DeserializeBytes for PublicMessage {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (content, rest) = FramedContent::tls_deserialize_bytes(bytes)?;
        let (auth, rest) = FramedContentAuthData::deserialize_for(content.content_type(), rest)?;
        let (membership_tag, rest) = if matches!(content.sender, Sender::Member(_)) {
            let (tag, rest) = Mac::tls_deserialize_bytes(rest)?;
            (Some(tag), rest)
        } else {
            (None, rest)
        };
        Ok((
            Self {
                content,
                auth,
                membership_tag,
            },
            rest,
        ))
    }
}

impl PublicMessage {
    /// Serializes `AuthenticatedContentTBM { FramedContentTBS content_tbs; FramedContentAuthData auth; }`
    /// (RFC 9420 §6.2), the input of the membership tag.
    pub fn tbm(&self, context: &GroupContext) -> Result<Vec<u8>, Error> {
        let mut out = self.content.tbs(WireFormat::PUBLIC_MESSAGE, Some(context))?;
        self.auth.tls_serialize(&mut out)?;
        Ok(out)
    }
}

/// `PrivateMessage` (RFC 9420 §6.3).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PrivateMessage {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// The type of the encrypted content.
    pub content_type: ContentType,
    /// Application-chosen authenticated data.
    pub authenticated_data: VLBytes,
    /// Encrypted `SenderData`.
    pub encrypted_sender_data: VLBytes,
    /// Encrypted `PrivateMessageContent`.
    pub ciphertext: VLBytes,
}

/// `SenderData { uint32 leaf_index; uint32 generation; opaque reuse_guard[4]; }` (RFC 9420 §6.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct SenderData {
    /// The sender's leaf.
    pub leaf_index: LeafIndex,
    /// The ratchet generation used.
    pub generation: u32,
    /// Random bytes XORed into the nonce.
    pub reuse_guard: [u8; 4],
}

/// `SenderDataAAD { group_id<V>; uint64 epoch; ContentType content_type; }` (RFC 9420 §6.3.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct SenderDataAad {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// The content type.
    pub content_type: ContentType,
}

/// `PrivateContentAAD` (RFC 9420 §6.3.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PrivateContentAad {
    /// The group.
    pub group_id: VLBytes,
    /// The epoch.
    pub epoch: u64,
    /// The content type.
    pub content_type: ContentType,
    /// Application-chosen authenticated data.
    pub authenticated_data: VLBytes,
}

/// A message body of a wire format RFC 9420 does not define (an envelope
/// such as a targeted message or a message pair): the wire format and the
/// body's bytes, delimited by the format's registered
/// [`BodySyntax`](super::syntax::BodySyntax) (to the end of the input by
/// default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomBody {
    /// The wire format.
    pub wire_format: WireFormat,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// The `select (wire_format)` part of `MLSMessage` (RFC 9420 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum MlsMessageBody {
    /// `mls_public_message(1)`.
    PublicMessage(PublicMessage),
    /// `mls_private_message(2)`.
    PrivateMessage(PrivateMessage),
    /// `mls_welcome(3)`.
    Welcome(Welcome),
    /// `mls_group_info(4)`.
    GroupInfo(GroupInfo),
    /// `mls_key_package(5)`.
    KeyPackage(KeyPackage),
    /// Any other wire format.
    Custom(CustomBody),
}

impl MlsMessageBody {
    /// The wire format.
    pub fn wire_format(&self) -> WireFormat {
        match self {
            Self::PublicMessage(_) => WireFormat::PUBLIC_MESSAGE,
            Self::PrivateMessage(_) => WireFormat::PRIVATE_MESSAGE,
            Self::Welcome(_) => WireFormat::WELCOME,
            Self::GroupInfo(_) => WireFormat::GROUP_INFO,
            Self::KeyPackage(_) => WireFormat::KEY_PACKAGE,
            Self::Custom(c) => c.wire_format,
        }
    }
}

impl tls_codec::Size for MlsMessageBody {
    fn tls_serialized_len(&self) -> usize {
        2 + match self {
            Self::PublicMessage(x) => x.tls_serialized_len(),
            Self::PrivateMessage(x) => x.tls_serialized_len(),
            Self::Welcome(x) => x.tls_serialized_len(),
            Self::GroupInfo(x) => x.tls_serialized_len(),
            Self::KeyPackage(x) => x.tls_serialized_len(),
            Self::Custom(c) => c.body.len(),
        }
    }
}

impl tls_codec::Serialize for MlsMessageBody {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let t = self.wire_format().tls_serialize(w)?;
        let n = match self {
            Self::PublicMessage(x) => x.tls_serialize(w)?,
            Self::PrivateMessage(x) => x.tls_serialize(w)?,
            Self::Welcome(x) => x.tls_serialize(w)?,
            Self::GroupInfo(x) => x.tls_serialize(w)?,
            Self::KeyPackage(x) => x.tls_serialize(w)?,
            Self::Custom(c) => {
                w.write_all(&c.body)?;
                c.body.len()
            }
        };
        Ok(t + n)
    }
}

impl tls_codec::DeserializeBytes for MlsMessageBody {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        fn body<T: tls_codec::DeserializeBytes>(
            bytes: &[u8],
            f: fn(T) -> MlsMessageBody,
        ) -> Result<(MlsMessageBody, &[u8]), tls_codec::Error> {
            let (x, rest) = T::tls_deserialize_bytes(bytes)?;
            Ok((f(x), rest))
        }
        let (t, rest) = WireFormat::tls_deserialize_bytes(bytes)?;
        match t {
            WireFormat::PUBLIC_MESSAGE => body(rest, Self::PublicMessage),
            WireFormat::PRIVATE_MESSAGE => body(rest, Self::PrivateMessage),
            WireFormat::WELCOME => body(rest, Self::Welcome),
            WireFormat::GROUP_INFO => body(rest, Self::GroupInfo),
            WireFormat::KEY_PACKAGE => body(rest, Self::KeyPackage),
            other => {
                let (b, rest) = super::syntax::wire_format_syntax(other).split(rest)?;
                Ok((
                    Self::Custom(CustomBody {
                        wire_format: other,
                        body: b.to_vec(),
                    }),
                    rest,
                ))
            }
        }
    }
}

/// `MLSMessage` (RFC 9420 §6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct MlsMessage {
    /// Protocol version (`mls10`).
    pub version: ProtocolVersion,
    /// The message, with its wire format.
    pub body: MlsMessageBody,
}

impl MlsMessage {
    /// An MLS 1.0 message.
    pub fn new(body: MlsMessageBody) -> Self {
        Self {
            version: ProtocolVersion::MLS10,
            body,
        }
    }
}
