//! Known-answer tests of the PQ building blocks (X-Wing, HPKE-PQ, ML-KEM
//! ACVP and Wycheproof, ML-DSA ACVP and Wycheproof), read from
//! `$MLS_TEST_VECTORS` (default `../shared/test-vectors`). Set
//! `MLSX_REQUIRE_VECTORS=1` to fail instead of skip when they are absent.

#![allow(clippy::panic)]

use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

fn run(folder: &str, min_passed: usize) {
    let dir = mlsx_test_vectors::vectors_dir().join(folder);
    if !dir.is_dir() {
        let msg = format!(
            "\n!!! PQ known-answer vectors {} not found.\n!!! Point MLS_TEST_VECTORS at the shared test-vectors folder.\n",
            dir.display()
        );
        assert!(std::env::var("MLSX_REQUIRE_VECTORS").map_or(true, |v| v != "1"), "{msg}");
        eprintln!("{msg}!!! Skipping (set MLSX_REQUIRE_VECTORS=1 to make this an error).");
        return;
    }
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
    // passive-client 11.
    assert!(passed >= 77, "only {passed} generated cases passed");
}
