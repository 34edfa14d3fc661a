#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

//! Keeps `drafts/combiner.md` honest: every test its table cites exists,
//! every row marked "done" cites one, every test of `tests/session.rs`
//! appears in the table, and the summary counts match the rows. A renamed
//! or deleted test fails here instead of leaving the table pointing at
//! nothing. The format parsed is described in an HTML comment at the top
//! of the table's file.

const TABLE: &str = "../drafts/combiner.md";

/// Where the tests of each module path cited in the table live, relative
/// to this crate.
const MODULES: &[(&str, &str, bool)] = &[
    ("session", "tests/session.rs", true),
    ("hostile", "tests/hostile.rs", true),
    ("component::tests", "src/component.rs", false),
    ("session::tests", "src/session.rs", false),
    ("simulate", "../app-api/tests/simulate.rs", false),
    ("crash", "../app-api/tests/crash.rs", false),
    ("extension_vectors", "../test-vectors/tests/extension_vectors.rs", false),
];

/// Fewer rows than this means the table was not parsed.
const MIN_ROWS: usize = 50;

/// Tests that need not be cited in the table: (`module::name`, reason).
const NOT_RULES: &[(&str, &str)] = &[];

/// The allowed values of the status column, exactly.
const STATUSES: &[&str] = &["done", "partial", "not yet", "app's duty", "n/a"];

#[path = "../../extensions/tests/conformance/mod.rs"]
mod conformance;

#[test]
fn combiner_table_matches_the_tests() {
    conformance::table_matches_the_tests();
}

#[test]
fn combiner_summary_counts_the_rows() {
    conformance::summary_counts_the_rows();
}
