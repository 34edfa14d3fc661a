//! Proposals and commits (RFC 9420 §12).

use super::VLBytes;
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{CipherSuite, Extension, KeyPackage, LeafNode, ProposalRef, ProposalType, ProtocolVersion, UpdatePath};
use crate::tree::math::LeafIndex;

macro_rules! u8_codepoint {
    ($(#[$doc:meta])* $name:ident { $($(#[$cdoc:meta])* $cname:ident = $val:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
        pub struct $name(pub u8);
        impl $name {
            $($(#[$cdoc])* pub const $cname: Self = Self($val);)*
        }
    };
}

u8_codepoint!(
    /// `ResumptionPSKUsage` (RFC 9420 §8.4).
    ResumptionPskUsage {
        /// `application(1)`.
        APPLICATION = 1,
        /// `reinit(2)`.
        REINIT = 2,
        /// `branch(3)`.
        BRANCH = 3,
    }
);

/// An external PSK's identifier (RFC 9420 §8.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ExternalPsk {
    /// Application-chosen id.
    pub psk_id: VLBytes,
}

/// A resumption PSK's identifier (RFC 9420 §8.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ResumptionPsk {
    /// Why the PSK is used.
    pub usage: ResumptionPskUsage,
    /// The group it comes from.
    pub psk_group_id: VLBytes,
    /// The epoch it comes from.
    pub psk_epoch: u64,
}

/// An application PSK's identifier (`psktype` 3, draft-ietf-mls-extensions
/// §4.5). Decodable here so that such PSKs round-trip; their semantics are
/// provided by the extensions crate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ApplicationPsk {
    /// The component that owns the PSK.
    pub component_id: u16,
    /// Component-chosen id.
    pub psk_id: VLBytes,
}

/// `PSKType` and the id it selects (RFC 9420 §8.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum Psk {
    /// `external(1)`.
    #[tls_codec(discriminant = 1)]
    External(ExternalPsk),
    /// `resumption(2)`.
    #[tls_codec(discriminant = 2)]
    Resumption(ResumptionPsk),
    /// `application(3)` (draft-ietf-mls-extensions §4.5).
    #[tls_codec(discriminant = 3)]
    Application(ApplicationPsk),
}

/// `PreSharedKeyID` (RFC 9420 §8.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PreSharedKeyId {
    /// Which PSK.
    pub psk: Psk,
    /// Fresh random nonce of length `KDF.Nh`.
    pub psk_nonce: VLBytes,
}

/// `Add { KeyPackage key_package; }` (RFC 9420 §12.1.1).
///
/// The KeyPackage is boxed (as the LeafNode of [`Update`] is): a
/// [`Proposal`] is then the size of its smaller variants, so that a
/// commit of many small proposals (a Remove is 7 bytes on the wire)
/// cannot make its decoder allocate hundreds of bytes per input byte.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Add {
    /// The joiner's KeyPackage.
    pub key_package: Box<KeyPackage>,
}

impl Add {
    /// An Add of `key_package`.
    pub fn new(key_package: KeyPackage) -> Self {
        Self {
            key_package: Box::new(key_package),
        }
    }
}

/// `Update { LeafNode leaf_node; }` (RFC 9420 §12.1.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Update {
    /// The sender's new leaf.
    pub leaf_node: Box<LeafNode>,
}

impl Update {
    /// An Update to `leaf_node`.
    pub fn new(leaf_node: LeafNode) -> Self {
        Self {
            leaf_node: Box::new(leaf_node),
        }
    }
}

/// `Remove { uint32 removed; }` (RFC 9420 §12.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Remove {
    /// The leaf to remove.
    pub removed: LeafIndex,
}

/// `PreSharedKey { PreSharedKeyID psk; }` (RFC 9420 §12.1.4).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct PreSharedKeyProposal {
    /// The PSK to inject.
    pub psk: PreSharedKeyId,
}

/// `ReInit` (RFC 9420 §12.1.5).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ReInit {
    /// The new group's id.
    pub group_id: VLBytes,
    /// The new group's version.
    pub version: ProtocolVersion,
    /// The new group's suite.
    pub cipher_suite: CipherSuite,
    /// The new group's GroupContext extensions.
    pub extensions: Vec<Extension>,
}

/// `ExternalInit { opaque kem_output<V>; }` (RFC 9420 §12.1.6).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ExternalInit {
    /// HPKE `enc` to the group's external key.
    pub kem_output: VLBytes,
}

/// `GroupContextExtensions { Extension extensions<V>; }` (RFC 9420 §12.1.7).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct GroupContextExtensions {
    /// The complete new list.
    pub extensions: Vec<Extension>,
}

/// A proposal of a type RFC 9420 does not define (RFC 9420 §13.2): its
/// type and the exact bytes of its body as they are on the wire, found with
/// the type's registered [`BodySyntax`](super::syntax::BodySyntax).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomProposal {
    /// The proposal type.
    pub proposal_type: ProposalType,
    /// The body's wire bytes (everything after `proposal_type`).
    pub body: Vec<u8>,
}

impl CustomProposal {
    /// A proposal whose body is the encoding of `body` (a struct of the
    /// type's own syntax).
    pub fn new(proposal_type: ProposalType, body: Vec<u8>) -> Self {
        Self { proposal_type, body }
    }

    /// A proposal whose body is `opaque data<V>`, the default syntax of
    /// unregistered types (and how mls-rs and OpenMLS encode custom proposals).
    pub fn opaque(proposal_type: ProposalType, data: &[u8]) -> Result<Self, tls_codec::Error> {
        use tls_codec::Serialize as _;
        Ok(Self {
            proposal_type,
            body: VLBytes::new(data.to_vec()).tls_serialize_detached()?,
        })
    }
}

/// `Proposal` (RFC 9420 §12.1).
///
/// The seven RFC 9420 types decode to their structs; any other type decodes
/// to [`Proposal::Custom`] with the syntax registered for it in
/// [`syntax`](super::syntax) (`opaque<V>` by default). Whether a group
/// accepts it is decided by the group's proposal handlers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Proposal {
    /// `add(1)`.
    Add(Add),
    /// `update(2)`.
    Update(Update),
    /// `remove(3)`.
    Remove(Remove),
    /// `psk(4)`.
    PreSharedKey(PreSharedKeyProposal),
    /// `reinit(5)`.
    ReInit(ReInit),
    /// `external_init(6)`.
    ExternalInit(ExternalInit),
    /// `group_context_extensions(7)`.
    GroupContextExtensions(GroupContextExtensions),
    /// Any other type.
    Custom(CustomProposal),
}

impl Proposal {
    /// The proposal's type.
    pub fn proposal_type(&self) -> ProposalType {
        match self {
            Self::Add(_) => ProposalType::ADD,
            Self::Update(_) => ProposalType::UPDATE,
            Self::Remove(_) => ProposalType::REMOVE,
            Self::PreSharedKey(_) => ProposalType::PSK,
            Self::ReInit(_) => ProposalType::REINIT,
            Self::ExternalInit(_) => ProposalType::EXTERNAL_INIT,
            Self::GroupContextExtensions(_) => ProposalType::GROUP_CONTEXT_EXTENSIONS,
            Self::Custom(c) => c.proposal_type,
        }
    }
}

impl tls_codec::Size for Proposal {
    fn tls_serialized_len(&self) -> usize {
        2 + match self {
            Self::Add(x) => x.tls_serialized_len(),
            Self::Update(x) => x.tls_serialized_len(),
            Self::Remove(x) => x.tls_serialized_len(),
            Self::PreSharedKey(x) => x.tls_serialized_len(),
            Self::ReInit(x) => x.tls_serialized_len(),
            Self::ExternalInit(x) => x.tls_serialized_len(),
            Self::GroupContextExtensions(x) => x.tls_serialized_len(),
            Self::Custom(c) => c.body.len(),
        }
    }
}

impl tls_codec::Serialize for Proposal {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let t = self.proposal_type().tls_serialize(w)?;
        let n = match self {
            Self::Add(x) => x.tls_serialize(w)?,
            Self::Update(x) => x.tls_serialize(w)?,
            Self::Remove(x) => x.tls_serialize(w)?,
            Self::PreSharedKey(x) => x.tls_serialize(w)?,
            Self::ReInit(x) => x.tls_serialize(w)?,
            Self::ExternalInit(x) => x.tls_serialize(w)?,
            Self::GroupContextExtensions(x) => x.tls_serialize(w)?,
            Self::Custom(c) => {
                w.write_all(&c.body)?;
                c.body.len()
            }
        };
        Ok(t + n)
    }
}

impl tls_codec::DeserializeBytes for Proposal {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        fn body<T: tls_codec::DeserializeBytes>(bytes: &[u8], f: fn(T) -> Proposal) -> Result<(Proposal, &[u8]), tls_codec::Error> {
            let (x, rest) = T::tls_deserialize_bytes(bytes)?;
            Ok((f(x), rest))
        }
        let (t, rest) = ProposalType::tls_deserialize_bytes(bytes)?;
        match t {
            ProposalType::ADD => body(rest, Self::Add),
            ProposalType::UPDATE => body(rest, Self::Update),
            ProposalType::REMOVE => body(rest, Self::Remove),
            ProposalType::PSK => body(rest, Self::PreSharedKey),
            ProposalType::REINIT => body(rest, Self::ReInit),
            ProposalType::EXTERNAL_INIT => body(rest, Self::ExternalInit),
            ProposalType::GROUP_CONTEXT_EXTENSIONS => body(rest, Self::GroupContextExtensions),
            other => {
                let (b, rest) = super::syntax::proposal_syntax(other).split(rest)?;
                Ok((
                    Self::Custom(CustomProposal {
                        proposal_type: other,
                        body: b.to_vec(),
                    }),
                    rest,
                ))
            }
        }
    }
}

/// `ProposalOrRef` (RFC 9420 §12.4).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
#[allow(clippy::large_enum_variant)]
pub enum ProposalOrRef {
    /// `proposal(1)`: by value.
    #[tls_codec(discriminant = 1)]
    Proposal(Proposal),
    /// `reference(2)`: by reference to an earlier proposal message.
    #[tls_codec(discriminant = 2)]
    Reference(ProposalRef),
}

/// `Commit { ProposalOrRef proposals<V>; optional<UpdatePath> path; }` (RFC 9420 §12.4).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Commit {
    /// The proposals being committed.
    pub proposals: Vec<ProposalOrRef>,
    /// The committer's path update, if any.
    pub path: Option<UpdatePath>,
}
