//! The official RFC 9420 vectors (mlswg/mls-implementations), one test per
//! file, read from `test-vectors/official/rfc9420/` (or `$MLS_TEST_VECTORS`).
//! A missing file fails its test: nothing is skipped.

#![allow(clippy::panic)]

use std::path::PathBuf;

use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

fn vector_file(name: &str) -> PathBuf {
    let path = mlsx_test_vectors::vectors_dir().join("rfc9420").join(name);
    assert!(
        path.is_file(),
        "RFC 9420 test vector {} not found (the repository keeps them in test-vectors/official/; MLS_TEST_VECTORS overrides)",
        path.display()
    );
    path
}

fn run(name: &str) {
    let path = vector_file(name);
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
    assert!(report.passed > 0, "{name}: no case passed");
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
