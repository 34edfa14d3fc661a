//! `deserialization.json`: MLS varint vector headers (RFC 9420 §2.1.2).

use mlsx_base::codec::read_varint;
use serde::Deserialize;

use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    vlbytes_header: Hex,
    length: usize,
}

pub(crate) fn run(json: &str, report: &mut Report) -> Result<(), serde_json::Error> {
    let cases: Vec<Case> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        let r = match read_varint(&c.vlbytes_header) {
            Ok((len, rest)) if len == c.length && rest.is_empty() => Ok(()),
            Ok((len, rest)) => Err(format!("decoded {len} with {} bytes left, want {}", rest.len(), c.length)),
            Err(e) => Err(format!("decode failed: {e:?}")),
        };
        report.record(i, r);
    }
    Ok(())
}
