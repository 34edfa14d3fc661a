//! The committed draft-ietf-mls-extensions vectors (`test-vectors/extensions/`)
//! pass, with the number of cases the generator writes, and a freshly
//! generated set passes too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, CryptoProviders};
use mlsx_pq_suites::PqProvider;
use mlsx_test_vectors::{EXTENSION_FILES, combiner_dir, extensions_dir, generate_extension_file, run_file};

/// RFC 9420 suites 1-7 and the eleven PQ suites.
const SUITES: usize = 18;

fn providers() -> CryptoProviders {
    CryptoProviders::new()
        .with(Arc::new(RustCryptoProvider::new()))
        .with(Arc::new(PqProvider::default()))
}

#[test]
fn committed_extension_vectors_pass() {
    let provider = providers();
    for (name, cases) in [
        ("exporter-tree.json", SUITES),
        ("safe-crypto.json", SUITES),
        ("safe-aad.json", 8),
        ("safe-aad-message.json", SUITES),
        ("app-data-update.json", 6 * SUITES),
        ("application-psk.json", 3 * SUITES),
        // Suite-independent: 4 valid and 4 invalid AppAcks; 12 media types
        // and 3 frames.
        ("app-ack.json", 8),
        ("content-framing.json", 15),
        ("multi-credential.json", SUITES),
        // draft-ietf-mls-targeted-messages's own three vectors.
        ("targeted-messages.json", 3),
    ] {
        let path = extensions_dir().join(name);
        let report = run_file(&path, &provider).unwrap();
        assert_eq!(report.failed(), 0, "{}", report.line());
        assert!(report.skipped.is_empty(), "{}", report.line());
        assert_eq!(report.passed, cases, "{}", report.line());
    }
}

#[test]
fn fresh_extension_vectors_pass() {
    let rc = RustCryptoProvider::new();
    let suites: Vec<Arc<dyn CipherSuiteProvider>> = [1u16, 2, 7]
        .into_iter()
        .map(|c| rc.cipher_suite_provider(CipherSuite(c)).unwrap())
        .collect();
    let dir = std::env::temp_dir()
        .join(format!("mlsx-ext-vectors-{}", std::process::id()))
        .join("extensions");
    std::fs::create_dir_all(&dir).unwrap();
    for name in EXTENSION_FILES {
        let json = generate_extension_file(name, &suites).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, json).unwrap();
        let report = run_file(&path, &rc).unwrap();
        assert_eq!(report.failed(), 0, "{}", report.line());
        assert!(report.passed > 0);
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn committed_combiner_vectors_pass() {
    let report = run_file(&combiner_dir().join("key-schedule.json"), &providers()).unwrap();
    assert_eq!(report.failed(), 0, "{}", report.line());
    assert!(report.skipped.is_empty(), "{}", report.line());
    // T suites 1, 2, 3, 7 with TBD6, 7, 8, 10, 11.
    assert_eq!(report.passed, 20, "{}", report.line());
    // The passive member of a 50-epoch session, in both modes.
    let report = run_file(&combiner_dir().join("passive-client.json"), &providers()).unwrap();
    assert_eq!((report.passed, report.failed()), (2, 0), "{}", report.line());
}
