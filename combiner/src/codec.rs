//! Wire structures of draft-ietf-mls-combiner (editor's copy).

use mlsx_base::codec::{CipherSuite, DeserializeBytes, MlsMessage, ProtocolVersion, VLBytes, WireFormat};
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

/// The wire format `apq_message_pair` (§6, requested 0x0007).
pub const APQ_MESSAGE_PAIR: WireFormat = WireFormat(0x0007);

/// `bool mode` of APQInfo (§4, §5.1). TLS has no `bool`; it is one byte,
/// 0 or 1, and any other value fails to decode (`drafts/combiner.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum Mode {
    /// 0: PQ/T confidentiality only (the default).
    ConfidentialityOnly = 0,
    /// 1: PQ/T confidentiality and authenticity: the PQ group signs with
    /// ML-DSA.
    ConfidentialityAndAuthenticity = 1,
}

/// `APQInfo` (§5.1): the data of component `apq_mls_info` (0x0006) in the
/// `app_data_dictionary` of both groups' GroupContexts.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ApqInfo {
    /// The traditional group's id.
    pub t_session_group_id: VLBytes,
    /// The PQ group's id.
    pub pq_session_group_id: VLBytes,
    /// The mode.
    pub mode: Mode,
    /// The traditional group's suite.
    pub t_cipher_suite: CipherSuite,
    /// The PQ group's suite.
    pub pq_cipher_suite: CipherSuite,
    /// The traditional group's epoch after the last FULL commit.
    pub t_epoch: u64,
    /// The PQ group's epoch after the last FULL commit.
    pub pq_epoch: u64,
}

impl ApqInfo {
    /// Whether everything but the two epochs is the same (§5.1.1: only the
    /// epochs may change during a session).
    pub fn same_session(&self, other: &Self) -> bool {
        self.t_session_group_id == other.t_session_group_id
            && self.pq_session_group_id == other.pq_session_group_id
            && self.mode == other.mode
            && self.t_cipher_suite == other.t_cipher_suite
            && self.pq_cipher_suite == other.pq_cipher_suite
    }
}

/// `APQInfoUpdate` (§5.1.1): the `update` of an AppDataUpdate for
/// component 0x0006.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum ApqInfoUpdate {
    /// `full_update(0)`: a complete APQInfo.
    #[tls_codec(discriminant = 0)]
    FullUpdate(ApqInfo),
    /// `new_t_epoch(1)`.
    #[tls_codec(discriminant = 1)]
    NewTEpoch(u64),
    /// `new_pq_epoch(2)`.
    #[tls_codec(discriminant = 2)]
    NewPqEpoch(u64),
}

/// `APQMessagePair` (§6): the body of an MLSMessage of wire format
/// `apq_message_pair`.
///
/// Decoding refuses, before decoding either message, a `wire_format` that
/// is not one of RFC 9420's (§6: both messages are PublicMessages or
/// PrivateMessages, or Welcomes, GroupInfos, KeyPackages of a join) and an
/// inner message whose wire format differs from it: a pair never holds a
/// pair, so hostile nesting stops at the first level.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsSize)]
pub struct ApqMessagePair {
    /// The wire format of both messages.
    pub wire_format: WireFormat,
    /// The traditional group's message.
    pub t_message: MlsMessage,
    /// The PQ group's message.
    pub pq_message: MlsMessage,
}

/// The decoding error of a pair whose inner wire format is refused.
pub(crate) const INNER_WIRE_FORMAT: &str = "APQMessagePair: inner wire format";

/// The RFC 9420 wire formats (RFC 9420 §6, §17.2).
fn is_base_wire_format(wire_format: WireFormat) -> bool {
    (WireFormat::PUBLIC_MESSAGE.0..=WireFormat::KEY_PACKAGE.0).contains(&wire_format.0)
}

impl DeserializeBytes for ApqMessagePair {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let refuse = || tls_codec::Error::DecodingError(INNER_WIRE_FORMAT.to_owned());
        let (wire_format, rest) = WireFormat::tls_deserialize_bytes(bytes)?;
        if !is_base_wire_format(wire_format) {
            return Err(refuse());
        }
        // Each inner MLSMessage starts with its version and wire format:
        // look at them before decoding the body.
        let inner = |bytes| {
            let (_, after_version) = ProtocolVersion::tls_deserialize_bytes(bytes)?;
            let (inner_format, _) = WireFormat::tls_deserialize_bytes(after_version)?;
            if inner_format != wire_format {
                return Err(refuse());
            }
            MlsMessage::tls_deserialize_bytes(bytes)
        };
        let (t_message, rest) = inner(rest)?;
        let (pq_message, rest) = inner(rest)?;
        Ok((
            Self {
                wire_format,
                t_message,
                pq_message,
            },
            rest,
        ))
    }
}
