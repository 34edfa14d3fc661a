//! RFC 9420 wire structs (§5–§12, §17). Parsing and emitting only: no
//! crypto, no state.
//!
//! Every vector length is the MLS varint of §2.1.2 (tls_codec's `mls`
//! feature), which rejects non-minimal encodings and the `11` prefix.
//! Decode top-level structs with [`tls_codec::DeserializeBytes::tls_deserialize_exact_bytes`],
//! which rejects trailing bytes.

mod bytes;
mod codepoints;
mod credential;
mod framing;
mod group;
mod key_package;
mod proposal;
pub mod syntax;
mod tree;

pub use bytes::{VLBytes, read_varint, varint_len, write_varint};
pub use codepoints::*;
pub use credential::*;
pub use framing::*;
pub use group::*;
pub use key_package::*;
pub use proposal::*;
pub use tree::*;

pub use tls_codec::{DeserializeBytes, Serialize as TlsSerializeTrait, Size};

use crate::error::{Error, MisuseError};

/// Appends `data` as an MLS variable-length vector (`opaque data<V>`,
/// RFC 9420 §2.1.2).
pub fn write_vl(out: &mut Vec<u8>, data: &[u8]) -> Result<(), Error> {
    write_varint(out, data.len()).map_err(|_| MisuseError::TooLarge)?;
    out.extend_from_slice(data);
    Ok(())
}

/// Serializes a value to a fresh buffer.
pub fn encode<T: tls_codec::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(value.tls_serialize_detached()?)
}

/// Decodes a value that must use all of `bytes` (no trailing data).
pub fn decode<T: DeserializeBytes>(bytes: &[u8]) -> Result<T, Error> {
    Ok(T::tls_deserialize_exact_bytes(bytes)?)
}

#[cfg(test)]
mod tests;
