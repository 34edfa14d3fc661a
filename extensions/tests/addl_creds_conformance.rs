#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

//! Keeps `drafts/addl-creds.md` honest, with the checker of
//! `drafts/extensions.md` (`tests/conformance/mod.rs`).

const TABLE: &str = "../drafts/addl-creds.md";

/// Where the tests of each module path cited in the table live, relative
/// to this crate.
const MODULES: &[(&str, &str, bool)] = &[
    ("multi_credential", "tests/multi_credential.rs", false),
    ("userinfo_vc", "tests/userinfo_vc.rs", true),
];

/// Fewer rows than this means the table was not parsed.
const MIN_ROWS: usize = 12;

/// Tests that need not be cited in the table: (`module::name`, reason).
const NOT_RULES: &[(&str, &str)] = &[];

/// The allowed values of the status column, exactly.
const STATUSES: &[&str] = &["done", "partial", "not yet", "app's duty", "n/a"];

#[path = "conformance/mod.rs"]
mod conformance;

#[test]
fn addl_creds_table_matches_the_tests() {
    conformance::table_matches_the_tests();
}

#[test]
fn addl_creds_summary_counts_the_rows() {
    conformance::summary_counts_the_rows();
}
