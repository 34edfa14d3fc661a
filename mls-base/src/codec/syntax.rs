//! The wire syntax of proposal types and wire formats that RFC 9420 does
//! not define.
//!
//! `Proposal` and `MLSMessage` select their body by a code point, without a
//! length prefix (RFC 9420 §6, §12.1), so a decoder must know a new type's
//! syntax to find where its body ends. This registry says how, per code
//! point, for the whole process: the syntax of a code point is a property of
//! the protocol that defines it, not of a group. Register a type once at
//! start-up, before decoding messages that may carry it.
//!
//! Defaults for unregistered code points:
//! - a proposal body is `opaque data<V>`, which is how mls-rs and OpenMLS
//!   encode their "custom" proposals, so such proposals decode (and are then
//!   rejected by a group that has no handler for them, §12.2);
//! - a message body of an unknown wire format extends to the end of the
//!   input (an `MLSMessage` is normally the whole transport payload).
//!
//! # Nesting budget
//!
//! A registered [`BodySyntax::Parser`] may decode structures that contain
//! other MLS structures: a message pair holds two `MLSMessage`s, each of
//! which could be another pair. Decoding such input recurses, and hostile
//! input could recurse until the thread's stack overflows. Every call of a
//! registered parser therefore runs one level deeper than its caller, and
//! past [`MAX_NESTING`] levels (per thread) the input is refused with
//! [`nesting_error`] (which `mlsx-base` reports as
//! [`Error::NestingTooDeep`](crate::Error::NestingTooDeep)). Decoders of
//! other crates that recurse on their own can take a level with
//! [`NestingGuard::enter`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use super::bytes::read_varint;
use super::{ProposalType, WireFormat};

/// How to find the end of a body whose type this crate does not know.
#[derive(Clone, Copy)]
pub enum BodySyntax {
    /// `opaque data<V>`: a varint length, then the bytes.
    Opaque,
    /// `struct {}`: no bytes at all.
    Empty,
    /// A body of exactly this many bytes.
    Fixed(usize),
    /// Everything up to the end of the input.
    ToEnd,
    /// A parser that returns the length of the body at the start of its
    /// input, or an error if the input does not start with a valid body.
    Parser(fn(&[u8]) -> Result<usize, tls_codec::Error>),
}

impl std::fmt::Debug for BodySyntax {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Opaque => f.write_str("Opaque"),
            Self::Empty => f.write_str("Empty"),
            Self::Fixed(n) => write!(f, "Fixed({n})"),
            Self::ToEnd => f.write_str("ToEnd"),
            Self::Parser(_) => f.write_str("Parser"),
        }
    }
}

/// How many registered parsers may run inside one another on one thread.
/// RFC 9420 nests nothing this way; one envelope around base messages (a
/// message pair, a targeted message) is one level, a credential or
/// proposal body parsed inside it a second.
pub const MAX_NESTING: u32 = 8;

/// The text of the decoding error returned past [`MAX_NESTING`].
pub const NESTING_TOO_DEEP: &str = "MLS structures nested too deeply";

/// The error returned when input nests deeper than [`MAX_NESTING`].
pub fn nesting_error() -> tls_codec::Error {
    tls_codec::Error::DecodingError(NESTING_TOO_DEEP.to_owned())
}

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// One level of the per-thread nesting budget, given back when dropped.
#[derive(Debug)]
#[must_use = "the level is held only while the guard lives"]
pub struct NestingGuard(());

impl NestingGuard {
    /// Takes a level, or refuses with [`nesting_error`] when
    /// [`MAX_NESTING`] levels are already taken on this thread.
    pub fn enter() -> Result<Self, tls_codec::Error> {
        DEPTH.with(|d| {
            let depth = d.get();
            if depth >= MAX_NESTING {
                return Err(nesting_error());
            }
            d.set(depth + 1);
            Ok(Self(()))
        })
    }

    /// The number of levels taken on this thread now.
    pub fn depth() -> u32 {
        DEPTH.with(Cell::get)
    }
}

impl Drop for NestingGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl BodySyntax {
    /// Splits `bytes` into the body and what follows it. A
    /// [`BodySyntax::Parser`] runs one level deeper in the nesting budget
    /// (see the module documentation).
    pub fn split(self, bytes: &[u8]) -> Result<(&[u8], &[u8]), tls_codec::Error> {
        let len = match self {
            Self::Opaque => {
                let (n, rest) = read_varint(bytes)?;
                let header = bytes.len() - rest.len();
                header.checked_add(n).ok_or(tls_codec::Error::EndOfStream)?
            }
            Self::Empty => 0,
            Self::Fixed(n) => n,
            Self::ToEnd => bytes.len(),
            Self::Parser(p) => {
                let _level = NestingGuard::enter()?;
                p(bytes)?
            }
        };
        if len > bytes.len() {
            return Err(tls_codec::Error::EndOfStream);
        }
        Ok(bytes.split_at(len))
    }
}

type Table = RwLock<BTreeMap<u16, BodySyntax>>;

fn proposals() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn credentials() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn wire_formats() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn lookup(table: &Table, code: u16) -> Option<BodySyntax> {
    table.read().unwrap_or_else(PoisonError::into_inner).get(&code).copied()
}

fn store(table: &Table, code: u16, syntax: BodySyntax) {
    table.write().unwrap_or_else(PoisonError::into_inner).insert(code, syntax);
}

/// Declares the wire syntax of a proposal type not defined by RFC 9420.
/// Registering an RFC 9420 type has no effect.
pub fn register_proposal_syntax(proposal_type: ProposalType, syntax: BodySyntax) {
    store(proposals(), proposal_type.0, syntax);
}

/// Declares the wire syntax of a message body of a wire format not defined
/// by RFC 9420. Registering an RFC 9420 format has no effect.
pub fn register_wire_format_syntax(wire_format: WireFormat, syntax: BodySyntax) {
    store(wire_formats(), wire_format.0, syntax);
}

/// Declares the wire syntax of the body of a credential type not defined
/// by RFC 9420 (for instance `opaque jwt<0..2^32-1>`, a 4-byte length).
/// Registering basic or x509 has no effect.
pub fn register_credential_syntax(credential_type: super::CredentialType, syntax: BodySyntax) {
    store(credentials(), credential_type.0, syntax);
}

/// The syntax used for a credential type's body ([`BodySyntax::Opaque`]
/// unless registered).
pub fn credential_syntax(credential_type: super::CredentialType) -> BodySyntax {
    lookup(credentials(), credential_type.0).unwrap_or(BodySyntax::Opaque)
}

/// The syntax used for a proposal type's body ([`BodySyntax::Opaque`] unless registered).
pub fn proposal_syntax(proposal_type: ProposalType) -> BodySyntax {
    lookup(proposals(), proposal_type.0).unwrap_or(BodySyntax::Opaque)
}

/// The syntax used for a wire format's body ([`BodySyntax::ToEnd`] unless registered).
pub fn wire_format_syntax(wire_format: WireFormat) -> BodySyntax {
    lookup(wire_formats(), wire_format.0).unwrap_or(BodySyntax::ToEnd)
}
