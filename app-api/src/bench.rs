//! `mlsx bench-report`: turns criterion results of `benches/peers.rs` into a
//! table of medians and ratios (mlsx / fastest peer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct BenchmarkJson {
    group_id: String,
    function_id: Option<String>,
    value_str: Option<String>,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

#[derive(Deserialize)]
struct EstimatesJson {
    median: Estimate,
}

/// One measured operation: the median time per implementation, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// The operation (`create_add`, …).
    pub op: String,
    /// The group size.
    pub n: u64,
    /// Median in ns, by implementation name.
    pub medians: BTreeMap<String, f64>,
}

impl Row {
    /// mlsx's median divided by the fastest other implementation's, if both exist.
    pub fn ratio(&self) -> Option<(f64, &str)> {
        let ours = *self.medians.get("mlsx")?;
        let (name, best) = self
            .medians
            .iter()
            .filter(|(k, _)| k.as_str() != "mlsx")
            .min_by(|a, b| a.1.total_cmp(b.1))?;
        Some((ours / best, name.as_str()))
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "new") && path.join("benchmark.json").is_file() {
                out.push(path);
            } else {
                collect(&path, out)?;
            }
        }
    }
    Ok(())
}

/// Reads every `peers/*` result under a criterion folder (`target/criterion`).
pub fn read_rows(criterion_dir: &Path) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut dirs = vec![];
    collect(criterion_dir, &mut dirs).map_err(|e| format!("{}: {e}", criterion_dir.display()))?;
    let mut rows: BTreeMap<(String, u64), Row> = BTreeMap::new();
    for d in dirs {
        let b: BenchmarkJson = serde_json::from_str(&std::fs::read_to_string(d.join("benchmark.json"))?)?;
        let Some(op) = b.group_id.strip_prefix("peers/") else { continue };
        let (Some(imp), Some(n)) = (b.function_id, b.value_str.and_then(|v| v.parse::<u64>().ok())) else {
            continue;
        };
        let e: EstimatesJson = serde_json::from_str(&std::fs::read_to_string(d.join("estimates.json"))?)?;
        let row = rows.entry((op.to_string(), n)).or_insert_with(|| Row {
            op: op.to_string(),
            n,
            ..Row::default()
        });
        row.medians.insert(imp, e.median.point_estimate);
    }
    Ok(rows.into_values().collect())
}

fn human(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A Markdown table: op, n, each implementation's median, ratio.
pub fn markdown(rows: &[Row]) -> String {
    let impls = ["mlsx", "mls-rs", "openmls"];
    let mut s = String::from("| op | n | mlsx | mls-rs | OpenMLS | mlsx / fastest peer |\n|---|---|---|---|---|---|\n");
    let order = [
        "create_add",
        "join",
        "commit_update",
        "process_update",
        "commit_remove",
        "app_round_trip_100B",
        "clone_receiver",
    ];
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (order.iter().position(|o| *o == r.op).unwrap_or(order.len()), r.n));
    for r in sorted {
        let cells: Vec<String> = impls
            .iter()
            .map(|i| r.medians.get(*i).map_or_else(|| "–".to_string(), |v| human(*v)))
            .collect();
        let ratio = r.ratio().map_or_else(|| "–".to_string(), |(x, peer)| format!("{x:.2} ({peer})"));
        s.push_str(&format!("| {} | {} | {} | {} |\n", r.op, r.n, cells.join(" | "), ratio));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_uses_the_fastest_peer() {
        let mut r = Row {
            op: "join".into(),
            n: 2,
            ..Row::default()
        };
        r.medians.insert("mlsx".into(), 300.0);
        assert_eq!(r.ratio(), None);
        r.medians.insert("mls-rs".into(), 200.0);
        r.medians.insert("openmls".into(), 150.0);
        assert_eq!(r.ratio(), Some((2.0, "openmls")));
        let t = markdown(&[r]);
        assert!(t.contains("| join | 2 | 300 ns | 200 ns | 150 ns | 2.00 (openmls) |"), "{t}");
    }
}
