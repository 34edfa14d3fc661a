//! Decoding input from outside (messages, Welcomes, GroupInfos) into the
//! one error a library user can act on: [`Error::Malformed`], with where
//! decoding stopped and what was expected there.

use mlsx_base::codec::{DeserializeBytes, MlsMessage};

use crate::error::{Error, Result};

/// RFC 9420 §6: `ProtocolVersion mls10 = 1`.
const MLS10: u16 = 1;

/// Decodes an `MLSMessage` (RFC 9420 §6) that should be `what`, of one of
/// `wire_formats`, or says where it is malformed: the version (offset 0),
/// the wire format (offset 2), the body (offset 4), or bytes after its
/// end.
pub(crate) fn message(bytes: &[u8], what: &'static str, wire_formats: &[u16]) -> Result<MlsMessage> {
    let malformed = |offset: usize, expected: &str, found: Option<String>| Error::Malformed {
        what,
        offset,
        expected: expected.to_owned(),
        found,
    };
    let u16_at = |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?])) };
    let Some(version) = u16_at(0) else {
        return Err(malformed(bytes.len(), "a 2-byte protocol version (the input ends)", None));
    };
    if version != MLS10 {
        return Err(malformed(0, "protocol version mls10 (0x0001)", Some(format!("{version:#06x}"))));
    }
    let Some(wire_format) = u16_at(2) else {
        return Err(malformed(bytes.len(), "a 2-byte wire format (the input ends)", None));
    };
    if !wire_formats.contains(&wire_format) {
        let list: Vec<String> = wire_formats.iter().map(u16::to_string).collect();
        return Err(malformed(
            2,
            &format!("wire format {}", list.join(" or ")),
            Some(format!("{wire_format:#06x}")),
        ));
    }
    match MlsMessage::tls_deserialize_bytes(bytes) {
        Ok((msg, [])) => Ok(msg),
        Ok((_, rest)) => Err(malformed(
            bytes.len() - rest.len(),
            "the end of the message",
            Some(format!("{} more bytes", rest.len())),
        )),
        Err(tls_codec::Error::EndOfStream) => Err(malformed(bytes.len(), "more bytes (the message is truncated)", None)),
        Err(e) => Err(malformed(4, &format!("a body of wire format {wire_format}"), Some(short(&e)))),
    }
}

/// A decoding error's text, bounded (it may quote the input).
fn short(e: &tls_codec::Error) -> String {
    let mut s = e.to_string();
    if s.len() > 120 {
        let mut end = 120;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, clippy::unwrap_used)]
    use super::*;

    fn offset(bytes: &[u8]) -> (usize, String) {
        match message(bytes, "message", &[1, 2]) {
            Err(Error::Malformed { offset, expected, .. }) => (offset, expected),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_kind_of_garbage_says_where() {
        assert_eq!(offset(b"").0, 0);
        assert_eq!(offset(b"h").0, 1);
        assert_eq!(offset(b"hello, world"), (0, "protocol version mls10 (0x0001)".into()));
        assert_eq!(offset(&[0, 1, 0x74]).0, 3);
        assert_eq!(offset(&[0, 1, 0x74, 0x68, 1, 2]).0, 2);
        assert_eq!(offset(&[0, 1, 0, 1, 0xff]), (4, "a body of wire format 1".into()));
        assert_eq!(offset(&[0, 1, 0, 1, 0x05, 1]).1, "more bytes (the message is truncated)");
        let e = message(b"hello, world", "message", &[1, 2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed message: at byte 0, expected protocol version mls10 (0x0001), found 0x6865"
        );
    }
}
