//! Known-answer tests of the PQ building blocks (X-Wing, HPKE-PQ, ML-KEM
//! ACVP and Wycheproof, ML-DSA ACVP and Wycheproof), read from
//! `test-vectors/official/` (or `$MLS_TEST_VECTORS`). A missing folder fails
//! its test.

#![allow(clippy::panic)]

use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

fn run(folder: &str, min_passed: usize) {
    let dir = mlsx_test_vectors::vectors_dir().join(folder);
    assert!(
        dir.is_dir(),
        "PQ known-answer vectors {} not found (the repository keeps them in test-vectors/official/; MLS_TEST_VECTORS overrides)",
        dir.display()
    );
    let reports = match mlsx_test_vectors::run_path(&dir, &RustCryptoProvider::new()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut passed = 0;
    for r in &reports {
        println!("{}", r.line());
        for f in &r.failures {
            println!("  FAILED {f}");
        }
        assert!(r.failures.is_empty(), "{}: {:?}", r.line(), r.failures);
        passed += r.passed;
    }
    // Guards against a runner that silently stops recognizing the files.
    assert!(passed >= min_passed, "{folder}: only {passed} cases passed");
}

#[test]
fn x_wing() {
    run("x-wing", 3);
}

#[test]
fn hpke_pq() {
    run("hpke-pq", 12);
}

#[test]
fn ml_kem() {
    run("ml-kem", 1040);
}

#[test]
fn ml_dsa() {
    run("ml-dsa", 951);
}

/// The MLS-level vectors mlsx generated for the PQ suites
/// (`test-vectors/pq/`, written by `mlsx vectors generate`), checked by the
/// same runners as the official files, under the default profile.
#[test]
fn generated_pq_mls_vectors() {
    use std::sync::Arc;

    use mlsx_base::crypto::CryptoProviders;
    use mlsx_pq_suites::PqProvider;

    let dir = mlsx_test_vectors::pq_dir();
    let provider = CryptoProviders::new().with(Arc::new(PqProvider::default()));
    let reports = match mlsx_test_vectors::run_path(&dir, &provider) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let mut passed = 0;
    for r in &reports {
        println!("{}", r.line());
        assert!(r.failures.is_empty(), "{}: {:?}", r.line(), r.failures);
        assert!(r.skipped.is_empty(), "{}: {:?}", r.line(), r.skipped);
        passed += r.passed;
    }
    // crypto-basics 11, secret-tree 33, key-schedule 11, welcome 11,
    // treekem 11, messages 11, passive-client 11.
    assert_eq!(passed, 99, "generated PQ cases that passed");
}

/// Every generator writes a file its runner accepts, today: a classical
/// suite (X25519/Ed25519) and a PQ one (TBD9: X-Wing with ML-DSA-44), each
/// kind generated fresh and run in memory. Catches a generator that drifts
/// from its runner before anyone regenerates `test-vectors/pq/`.
#[test]
fn generators_agree_with_runners() {
    use std::sync::Arc;

    use mlsx_base::codec::CipherSuite;
    use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, CryptoProviders};
    use mlsx_pq_suites::{PqProvider, PqSuite};

    let pq = PqProvider::default();
    let tbd9 = match pq.code_point(PqSuite::Tbd9).and_then(|c| pq.cipher_suite_provider(c)) {
        Some(s) => s,
        None => panic!("TBD9 is missing from the default provider"),
    };
    let classic: Arc<dyn CipherSuiteProvider> = match mlsx_base::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)) {
        Some(s) => Arc::new(s),
        None => panic!("suite 1 is missing"),
    };
    let provider = CryptoProviders::new().with(Arc::new(pq)).with(Arc::new(RustCryptoProvider::new()));
    for kind in mlsx_test_vectors::GENERATED_KINDS {
        let json = match mlsx_test_vectors::generate(kind, &[classic.clone(), tbd9.clone()]) {
            Ok(j) => j,
            Err(e) => panic!("{kind:?}: {e}"),
        };
        let mut report = mlsx_test_vectors::Report::default();
        if let Err(e) = kind.run(&json, &provider, &mut report) {
            panic!("{kind:?}: {e}");
        }
        assert!(report.failures.is_empty(), "{kind:?}: {:?}", report.failures);
        assert!(report.skipped.is_empty(), "{kind:?}: {:?}", report.skipped);
        assert!(report.passed >= 2, "{kind:?}: only {} cases passed", report.passed);
    }
}
