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
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Add {
    /// The joiner's KeyPackage.
    pub key_package: KeyPackage,
}

/// `Update { LeafNode leaf_node; }` (RFC 9420 §12.1.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Update {
    /// The sender's new leaf.
    pub leaf_node: LeafNode,
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

/// `Proposal` (RFC 9420 §12.1).
///
/// Only the RFC 9420 types decode here; a proposal type from a draft is a
/// decode error (`UnknownValue`) until a handler for it is registered.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u16)]
#[allow(clippy::large_enum_variant)]
pub enum Proposal {
    /// `add(1)`.
    #[tls_codec(discriminant = 1)]
    Add(Add),
    /// `update(2)`.
    #[tls_codec(discriminant = 2)]
    Update(Update),
    /// `remove(3)`.
    #[tls_codec(discriminant = 3)]
    Remove(Remove),
    /// `psk(4)`.
    #[tls_codec(discriminant = 4)]
    PreSharedKey(PreSharedKeyProposal),
    /// `reinit(5)`.
    #[tls_codec(discriminant = 5)]
    ReInit(ReInit),
    /// `external_init(6)`.
    #[tls_codec(discriminant = 6)]
    ExternalInit(ExternalInit),
    /// `group_context_extensions(7)`.
    #[tls_codec(discriminant = 7)]
    GroupContextExtensions(GroupContextExtensions),
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
