//! An observer (`PublicGroup`) beside the passive member of every
//! passive-client scenario recorded from mls-rs (`test-vectors/generated/`)
//! and of the official files when `$MLS_TEST_VECTORS` holds them: it
//! follows every PublicMessage handshake and ends each epoch at the
//! member's GroupContext and tree, accepting the member's GroupInfo.

#![allow(clippy::unwrap_used, clippy::panic)]

use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_test_vectors::{ObserverReport, generated_dir, observe_passive_client, vectors_dir};

fn observe(path: &std::path::Path) -> ObserverReport {
    let json = std::fs::read_to_string(path).unwrap();
    let report = observe_passive_client(&json, &RustCryptoProvider::new()).unwrap();
    println!(
        "{}: {} followed to the end, {} until a PrivateMessage, {} skipped, {} epochs",
        path.display(),
        report.followed,
        report.stopped_at_private,
        report.skipped,
        report.epochs
    );
    assert!(report.failures.is_empty(), "{}: {:#?}", path.display(), report.failures);
    report
}

#[test]
fn an_observer_follows_the_recorded_mls_rs_scenarios() {
    let mut total = ObserverReport::default();
    for name in [
        "passive-client-welcome.json",
        "passive-client-handling-commit.json",
        "passive-client-random.json",
    ] {
        let r = observe(&generated_dir().join(name));
        total.followed += r.followed;
        total.stopped_at_private += r.stopped_at_private;
        total.epochs += r.epochs;
    }
    // The recorded files hold both kinds of handshakes: many scenarios are
    // public throughout and hundreds of commits are followed.
    assert!(total.followed >= 70, "{total:?}");
    assert!(total.stopped_at_private >= 1, "{total:?}");
    assert!(total.epochs >= 200, "{total:?}");
}

#[test]
fn an_observer_follows_the_official_scenarios_when_present() {
    for name in [
        "passive-client-welcome.json",
        "passive-client-handling-commit.json",
        "passive-client-random.json",
    ] {
        let path = vectors_dir().join("rfc9420").join(name);
        if path.is_file() {
            observe(&path);
        }
    }
}
