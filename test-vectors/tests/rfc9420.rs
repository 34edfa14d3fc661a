//! The official RFC 9420 vectors (mlswg/mls-implementations), one test per
//! file, read from `$MLS_TEST_VECTORS` (default `../shared/test-vectors`).
//! Set `MLSX_REQUIRE_VECTORS=1` to fail instead of skip when they are absent.

#![allow(clippy::panic)]

use std::path::PathBuf;

use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

fn vector_file(name: &str) -> Option<PathBuf> {
    let dir = mlsx_test_vectors::vectors_dir().join("rfc9420");
    let path = dir.join(name);
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "\n!!! RFC 9420 test vector {} not found.\n!!! Point MLS_TEST_VECTORS at the shared test-vectors folder (the one holding rfc9420/).\n",
        path.display()
    );
    assert!(std::env::var("MLSX_REQUIRE_VECTORS").map_or(true, |v| v != "1"), "{msg}");
    eprintln!("{msg}!!! Skipping (set MLSX_REQUIRE_VECTORS=1 to make this an error).");
    None
}

fn run(name: &str) {
    let Some(path) = vector_file(name) else { return };
    let report = match mlsx_test_vectors::run_file(&path, &RustCryptoProvider::new()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    println!("{}", report.line());
    for s in &report.skipped {
        println!("  skipped {s}");
    }
    for f in &report.failures {
        println!("  FAILED {f}");
    }
    assert!(report.failures.is_empty(), "{}: {:?}", report.line(), report.failures);
    assert!(report.passed + report.skipped.len() > 0, "{name}: no cases ran");
}

macro_rules! vector_tests {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { run($file); })*
    };
}

vector_tests! {
    tree_math => "tree-math.json",
    crypto_basics => "crypto-basics.json",
    secret_tree => "secret-tree.json",
    message_protection => "message-protection.json",
    key_schedule => "key-schedule.json",
    psk_secret => "psk_secret.json",
    transcript_hashes => "transcript-hashes.json",
    welcome => "welcome.json",
    tree_operations => "tree-operations.json",
    tree_validation => "tree-validation.json",
    treekem => "treekem.json",
    messages => "messages.json",
    deserialization => "deserialization.json",
}
