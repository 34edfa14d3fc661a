//! `opaque data<V>` (RFC 9420 §2.1.2).
//!
//! mlsx keeps its own byte-vector type instead of `tls_codec::VLBytes`:
//! that type's decoder hits a `debug_assert!` (a panic in debug builds) on
//! truncated input, and a decoder must never panic on network data.

use serde::{Deserialize, Serialize};
use tls_codec::{DeserializeBytes, Size};
use zeroize::Zeroize;

/// Decodes an MLS varint vector length (RFC 9420 §2.1.2): the top two bits
/// give the length of the length (1, 2 or 4 bytes); `0b11` is invalid and a
/// non-minimal encoding MUST be rejected.
pub fn read_varint(bytes: &[u8]) -> Result<(usize, &[u8]), tls_codec::Error> {
    let first = *bytes.first().ok_or(tls_codec::Error::EndOfStream)?;
    let (len_len, min) = match first >> 6 {
        0 => (1usize, 0u32),
        1 => (2, 1 << 6),
        2 => (4, 1 << 14),
        _ => return Err(tls_codec::Error::InvalidVectorLength),
    };
    let head = bytes.get(..len_len).ok_or(tls_codec::Error::EndOfStream)?;
    let mut value = u32::from(first & 0x3f);
    for b in head.iter().skip(1) {
        value = (value << 8) | u32::from(*b);
    }
    if value < min {
        return Err(tls_codec::Error::InvalidVectorLength);
    }
    let rest = bytes.get(len_len..).ok_or(tls_codec::Error::EndOfStream)?;
    Ok((value as usize, rest))
}

/// Appends an MLS varint length (RFC 9420 §2.1.2).
pub fn write_varint<W: std::io::Write>(w: &mut W, len: usize) -> Result<usize, tls_codec::Error> {
    if len < 1 << 6 {
        w.write_all(&[len as u8])?;
        Ok(1)
    } else if len < 1 << 14 {
        w.write_all(&((len as u16) | 0x4000).to_be_bytes())?;
        Ok(2)
    } else if len < 1 << 30 {
        w.write_all(&((len as u32) | 0x8000_0000).to_be_bytes())?;
        Ok(4)
    } else {
        Err(tls_codec::Error::InvalidVectorLength)
    }
}

/// Length of the varint header for `len`.
pub fn varint_len(len: usize) -> usize {
    if len < 1 << 6 {
        1
    } else if len < 1 << 14 {
        2
    } else {
        4
    }
}

/// `opaque data<V>`: a byte string with an MLS varint length prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct VLBytes(Vec<u8>);

impl VLBytes {
    /// Wraps bytes.
    pub fn new(v: Vec<u8>) -> Self {
        Self(v)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Length of the content.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The inner vector.
    pub fn into_vec(self) -> Vec<u8> {
        let mut s = self;
        std::mem::take(&mut s.0)
    }
}

impl std::fmt::Debug for VLBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Zeroize for VLBytes {
    fn zeroize(&mut self) {
        self.0.zeroize();
    }
}

impl From<Vec<u8>> for VLBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(v)
    }
}

impl From<&[u8]> for VLBytes {
    fn from(v: &[u8]) -> Self {
        Self(v.to_vec())
    }
}

impl AsRef<[u8]> for VLBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Size for VLBytes {
    fn tls_serialized_len(&self) -> usize {
        varint_len(self.0.len()) + self.0.len()
    }
}

impl tls_codec::Serialize for VLBytes {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let n = write_varint(w, self.0.len())?;
        w.write_all(&self.0)?;
        Ok(n + self.0.len())
    }
}

impl DeserializeBytes for VLBytes {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (len, rest) = read_varint(bytes)?;
        let data = rest.get(..len).ok_or(tls_codec::Error::EndOfStream)?;
        let rest = rest.get(len..).ok_or(tls_codec::Error::EndOfStream)?;
        Ok((Self(data.to_vec()), rest))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tls_codec::Serialize as _;

    #[test]
    fn varint_boundaries() {
        for (len, hdr) in [(0usize, 1usize), (63, 1), (64, 2), (16383, 2), (16384, 4)] {
            let v = VLBytes::new(vec![7; len]);
            let b = v.tls_serialize_detached().unwrap();
            assert_eq!(b.len(), hdr + len);
            assert_eq!(VLBytes::tls_deserialize_exact_bytes(&b).unwrap(), v);
            assert!(VLBytes::tls_deserialize_exact_bytes(&b[..b.len() - 1]).is_err() || len == 0);
        }
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(read_varint(&[]).is_err());
        assert!(read_varint(&[0x40]).is_err());
        assert!(read_varint(&[0x40, 0x3f]).is_err()); // non-minimal
        assert!(read_varint(&[0x80, 0x00, 0x3f, 0xff]).is_err()); // non-minimal
        assert!(read_varint(&[0xc0, 0, 0, 0, 0, 0, 0, 1]).is_err()); // 0b11 prefix
        assert_eq!(read_varint(&[0x40, 0x40]).unwrap().0, 64);
        assert_eq!(read_varint(&[0x80, 0x00, 0x40, 0x00]).unwrap().0, 16384);
    }
}
