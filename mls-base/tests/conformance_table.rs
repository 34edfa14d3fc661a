//! Keeps `drafts/negative-tests.md` honest: every test its table cites
//! exists, every row marked "tested" cites one, and every test of
//! `tests/negative.rs` appears in the table. A renamed or deleted test
//! fails here instead of leaving the table pointing at nothing.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where the tests of each module path cited in the table live.
const MODULES: &[(&str, &str)] = &[
    ("negative", "tests/negative.rs"),
    ("hooks", "tests/hooks.rs"),
    ("limits", "tests/limits.rs"),
    ("group", "tests/group.rs"),
    ("interop_proposals", "tests/interop_proposals.rs"),
    ("group::private_tests", "src/group/private_tests.rs"),
    ("group::resumption_tests", "src/group/resumption_tests.rs"),
    ("rustcrypto::tests", "src/crypto/rustcrypto/tests.rs"),
    ("hpke::low_order_tests", "src/crypto/rustcrypto/hpke.rs"),
];

/// Tests of `tests/negative.rs` that are not the test of a rule.
const NOT_RULES: &[&str] = &[
    "s12_2_external_commit_accepted_as_built",
    "s12_4_3_1_welcome_rebuilt_faithfully_is_accepted",
];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the `#[test]` functions in `source`.
fn test_fns(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut lines = source.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != "#[test]" {
            continue;
        }
        // Attributes may follow `#[test]`.
        for next in lines.by_ref() {
            if next.starts_with("#[") {
                continue;
            }
            if let Some(rest) = next.strip_prefix("fn ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.insert(name);
            }
            break;
        }
    }
    out
}

/// The table rows: (section, status, cited test paths).
fn rows(table: &str) -> Vec<(String, String, Vec<String>)> {
    let mut out = vec![];
    for line in table.lines() {
        let Some(rest) = line.strip_prefix("| ") else { continue };
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let cols: Vec<&str> = line.split(" | ").collect();
        if cols.len() < 5 {
            continue;
        }
        let cited = cols[3]
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| t.contains("::") && t.starts_with(|c: char| c.is_ascii_lowercase()))
            .map(str::to_string)
            .collect();
        out.push((cols[0].trim_start_matches("| ").to_string(), cols[4].to_string(), cited));
    }
    out
}

#[test]
fn negative_tests_table_matches_the_tests() {
    let dir = crate_dir();
    let table = read(&dir.join("../drafts/negative-tests.md"));
    let rows = rows(&table);
    assert!(rows.len() > 100, "only {} rows parsed", rows.len());
    let mut cited_negative = BTreeSet::new();
    let mut missing = vec![];
    for (section, status, cited) in &rows {
        if status.starts_with("tested") && cited.is_empty() {
            missing.push(format!("§{section}: marked tested but cites no test"));
        }
        for path in cited {
            let (module, name) = path.rsplit_once("::").unwrap();
            let Some((_, file)) = MODULES.iter().find(|(m, _)| *m == module) else {
                missing.push(format!("§{section}: `{path}`: module `{module}` is not in MODULES"));
                continue;
            };
            let fns = test_fns(&read(&dir.join(file)));
            // `prefix*` cites every test whose name starts with prefix.
            let matched: Vec<&String> = match name.strip_suffix('*') {
                Some(prefix) => fns.iter().filter(|f| f.starts_with(prefix)).collect(),
                None => fns.iter().filter(|f| *f == name).collect(),
            };
            if matched.is_empty() {
                missing.push(format!("§{section}: `{path}`: no #[test] fn {name} in {file}"));
            }
            if module == "negative" {
                cited_negative.extend(matched.into_iter().cloned());
            }
        }
    }
    for name in test_fns(&read(&dir.join("tests/negative.rs"))) {
        if !cited_negative.contains(&name) && !NOT_RULES.contains(&name.as_str()) {
            missing.push(format!("negative::{name} is in no row of the table"));
        }
    }
    assert!(
        missing.is_empty(),
        "drafts/negative-tests.md is out of step:\n{}",
        missing.join("\n")
    );
}

#[test]
fn negative_tests_summary_counts_the_rows() {
    let table = read(&crate_dir().join("../drafts/negative-tests.md"));
    let rows = rows(&table);
    let statuses = ["tested", "enforced, untested", "sender-only", "not enforced", "app's duty"];
    let summary = |label: &str| -> usize {
        let prefix = format!("| {label} | ");
        let line = table
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no summary line for {label}"));
        line[prefix.len()..].trim_end_matches(" |").trim_matches('*').parse().unwrap()
    };
    let mut total = 0;
    for status in statuses {
        let n = rows.iter().filter(|(_, s, _)| s.starts_with(status)).count();
        assert_eq!(summary(status), n, "summary count of {status:?}");
        total += n;
    }
    assert_eq!(total, rows.len(), "a row has none of the statuses");
    assert_eq!(summary("**Rules in total**"), rows.len());
}
