#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

//! Keeps `drafts/extensions.md` honest: every test its table cites exists,
//! every row marked "done" cites one, every test of `tests/end_to_end.rs`
//! appears in the table, and the summary counts match the rows. A renamed
//! or deleted test fails here instead of leaving the table pointing at
//! nothing. The format parsed is described in an HTML comment at the top
//! of the table's file.

const TABLE: &str = "../drafts/extensions.md";

/// Where the tests of each module path cited in the table live, relative
/// to this crate.
const MODULES: &[(&str, &str, bool)] = &[
    ("end_to_end", "tests/end_to_end.rs", true),
    ("interop_openmls", "tests/interop_openmls.rs", true),
    ("self_remove", "tests/self_remove.rs", true),
    ("app_ack", "tests/app_ack.rs", true),
    ("last_resort", "tests/last_resort.rs", true),
    ("media_types", "tests/media_types.rs", true),
    ("multi_credential", "tests/multi_credential.rs", true),
    ("extension_vectors", "../test-vectors/tests/extension_vectors.rs", false),
    ("hooks", "../mls-base/tests/hooks.rs", false),
    ("group", "../mls-base/tests/group.rs", false),
    ("ds", "../app-api/tests/ds.rs", false),
];

/// Fewer rows than this means the table was not parsed.
const MIN_ROWS: usize = 50;

/// Tests that need not be cited in the table: (`module::name`, reason).
const NOT_RULES: &[(&str, &str)] = &[];

/// The allowed values of the status column, exactly.
const STATUSES: &[&str] = &["done", "partial", "not yet", "app's duty", "n/a"];

#[path = "conformance/mod.rs"]
mod conformance;

#[test]
fn extensions_table_matches_the_tests() {
    conformance::table_matches_the_tests();
}

#[test]
fn extensions_summary_counts_the_rows() {
    conformance::summary_counts_the_rows();
}
