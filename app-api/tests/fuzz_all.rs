//! The fuzz checks of the layers above `mlsx-base` (`fuzz/src/all.rs`) as
//! ordinary tests: every input kept in `fuzz/regressions/<target>/` for
//! the targets `apq_pair`, `extensions_decoders`, `stateful_hybrid` and
//! `ds_handlers`, and a deterministic sweep over each (single-byte edits
//! of every message of the hybrid scenario; the nested-pair attack into
//! every decoder and handler), so the properties are checked in every CI
//! run, not only when fuzzing.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/src/harness.rs"]
#[allow(dead_code)]
mod harness;

#[path = "../../fuzz/src/all.rs"]
mod all;

use std::path::Path;

/// A target's check.
type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("apq_pair", all::apq_pair),
    ("extensions_decoders", all::extensions),
    ("stateful_hybrid", all::stateful_hybrid),
    ("ds_handlers", all::ds_handlers),
];

#[test]
fn kept_fuzz_inputs_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    for (target, run) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for e in entries {
            run(&std::fs::read(e.unwrap().path()).unwrap());
        }
    }
}

/// `MLSMessage`s of wire format 0x0007 nested `levels` deep.
fn nested(levels: usize) -> Vec<u8> {
    let mut out = [0u8, 1, 0, 7, 0, 7].repeat(levels);
    out.extend_from_slice(&[0, 1, 0, 5]);
    out
}

#[test]
fn sweep() {
    // The hybrid scenario's four messages, each with every single-byte
    // flip at a spread of positions: refusals leave Bob unchanged,
    // acceptances agree with Alice.
    for pick in 0u8..4 {
        for pos in 0u8..=255 {
            all::stateful_hybrid(&[1, pick, pos, 0, 0x5a]);
        }
        all::stateful_hybrid(&[1, pick]);
    }
    // The nested-pair attack into each decoder and handler.
    let deep = nested(100_000);
    all::apq_pair(&deep);
    all::stateful_hybrid(&[[0u8].as_slice(), &deep].concat());
    for endpoint in 0u8..10 {
        for auth in [0u8, 1] {
            all::ds_handlers(&[[endpoint, auth].as_slice(), &deep[..deep.len().min(64 * 1024)]].concat());
            all::ds_handlers(&[endpoint, auth, b'{', b'}']);
        }
    }
    for kind in 0u8..7 {
        all::extensions(&[[kind].as_slice(), &deep].concat());
        all::extensions(&[kind]);
    }
    // A UserInfo VC shaped JWT with a deep JSON payload.
    let payload = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let jwt = format!("eyJhbGciOiJFZERTQSJ9.{}.AAAA", base64_url(payload.as_bytes()));
    all::extensions(&[[6u8].as_slice(), jwt.as_bytes()].concat());
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
