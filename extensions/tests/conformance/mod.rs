//! The checker shared by the conformance-table tests of `mlsx-extensions`
//! and `mlsx-combiner` (each includes this file with `#[path]`): the
//! including test file defines `TABLE`, `MODULES`, `MIN_ROWS`,
//! `NOT_RULES` and `STATUSES`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The table, relative to this crate.
use super::{MIN_ROWS, MODULES, NOT_RULES, STATUSES, TABLE};

/// One row of the conformance table.
#[derive(Debug)]
struct Row {
    section: String,
    status: String,
    /// The backticked entries of the test column.
    tests: Vec<String>,
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names of the `#[test]` functions in `source`, and of the test
/// functions a file makes into a test per database
/// (`on_both_databases!(name, …);`, `app-api/tests/common`).
fn test_fns(source: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some((_, listed)) = source.split_once("on_both_databases!(")
        && let Some((listed, _)) = listed.split_once(')')
    {
        out.extend(listed.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned));
    }
    let mut lines = source.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if line != "#[test]" {
            continue;
        }
        // Other attributes may follow `#[test]`.
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

/// The text between the marker comments `<!-- {name}:start -->` and
/// `<!-- {name}:end -->`.
fn block<'a>(text: &'a str, name: &str) -> &'a str {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let Some((_, rest)) = text.split_once(start.as_str()) else {
        panic!("{TABLE}: no `{start}` marker")
    };
    let Some((inner, _)) = rest.split_once(end.as_str()) else {
        panic!("{TABLE}: no `{end}` marker")
    };
    inner
}

/// The cells of a markdown table line `| a | b | c |`, or `None` for any
/// other line.
fn cells(line: &str) -> Option<Vec<&str>> {
    let inner = line.trim_end().strip_prefix("| ")?.strip_suffix(" |")?;
    Some(inner.split(" | ").map(str::trim).collect())
}

/// The rows of the conformance table, and the lines that are malformed.
fn rows(table: &str) -> (Vec<Row>, Vec<String>) {
    let mut out = vec![];
    let mut problems = vec![];
    for line in block(table, "conformance").lines() {
        let Some(cols) = cells(line) else { continue };
        let Some(first) = cols.first() else { continue };
        if !first.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        if cols.len() != 5 {
            problems.push(format!("row with {} cells instead of 5: {line}", cols.len()));
            continue;
        }
        let tests = cols[4].split('`').skip(1).step_by(2).map(str::to_string).collect();
        out.push(Row {
            section: cols[0].to_string(),
            status: cols[2].to_string(),
            tests,
        });
    }
    (out, problems)
}

/// The summary lines `| label | count |`, labels without `**`.
fn summary(table: &str) -> Vec<(String, usize)> {
    let mut out = vec![];
    for line in block(table, "summary").lines() {
        let Some(cols) = cells(line) else { continue };
        if cols.len() != 2 {
            continue;
        }
        // The header line ("Rows") does not parse as a number.
        let Ok(n) = cols[1].trim_matches('*').parse::<usize>() else {
            continue;
        };
        out.push((cols[0].trim_matches('*').to_string(), n));
    }
    out
}

/// Every cited test exists, every "done" row cites one, every test of the
/// files that must be cited in full is cited.
pub fn table_matches_the_tests() {
    let dir = crate_dir();
    let table = read(&dir.join(TABLE));
    let (rows, mut problems) = rows(&table);
    assert!(rows.len() >= MIN_ROWS, "only {} rows parsed from {TABLE}", rows.len());
    let fns: BTreeMap<&str, BTreeSet<String>> = MODULES
        .iter()
        .map(|&(module, file, _)| (module, test_fns(&read(&dir.join(file)))))
        .collect();
    let mut cited: BTreeSet<String> = BTreeSet::new();
    for row in &rows {
        let section = &row.section;
        if !STATUSES.contains(&row.status.as_str()) {
            problems.push(format!("§{section}: unknown status {:?}", row.status));
        }
        if row.status == "done" && row.tests.is_empty() {
            problems.push(format!("§{section}: marked done but cites no test"));
        }
        for path in &row.tests {
            let Some((module, name)) = path.rsplit_once("::") else {
                problems.push(format!("§{section}: `{path}` is not `module::test`"));
                continue;
            };
            let Some(names) = fns.get(module) else {
                problems.push(format!("§{section}: `{path}`: module `{module}` is not in MODULES"));
                continue;
            };
            if !names.contains(name) {
                problems.push(format!("§{section}: `{path}`: no #[test] fn {name} in the file of `{module}`"));
            }
            cited.insert(path.clone());
        }
    }
    for (module, names) in &fns {
        // Only this crate's own test files must be cited in full.
        if !MODULES.iter().any(|&(m, _, all)| m == *module && all) {
            continue;
        }
        for name in names {
            let path = format!("{module}::{name}");
            let excused = NOT_RULES.iter().any(|&(p, _)| p == path.as_str());
            if !cited.contains(&path) && !excused {
                problems.push(format!("{path} is in no row of the table"));
            }
        }
    }
    for &(path, _) in NOT_RULES {
        let found = path
            .rsplit_once("::")
            .and_then(|(module, name)| fns.get(module).map(|names| names.contains(name)))
            .unwrap_or(false);
        if !found {
            problems.push(format!("NOT_RULES names {path}, which is not a test"));
        }
    }
    assert!(problems.is_empty(), "{TABLE} is out of step:\n{}", problems.join("\n"));
}

/// The summary counts the rows.
pub fn summary_counts_the_rows() {
    let table = read(&crate_dir().join(TABLE));
    let (rows, problems) = rows(&table);
    assert!(problems.is_empty(), "{TABLE}: malformed rows:\n{}", problems.join("\n"));
    let summary = summary(&table);
    let count_of = |label: &str| -> usize {
        summary
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("{TABLE}: no summary line for {label:?}"))
    };
    let mut total = 0;
    for &status in STATUSES {
        let n = rows.iter().filter(|r| r.status == status).count();
        assert_eq!(count_of(status), n, "summary count of {status:?}");
        total += n;
    }
    assert_eq!(total, rows.len(), "a row has none of the statuses");
    assert_eq!(count_of("total"), rows.len(), "summary total");
}
