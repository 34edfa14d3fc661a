//! `mlsx simulate`'s engine on a small run: the FULL period is honoured,
//! the JSON has the documented keys, the CSV and SVG are written, and the
//! hybrid session costs between the traditional and the PQ group alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_app::simulate::{SimulateOptions, run};

#[test]
fn small_simulation() {
    let o = SimulateOptions {
        members: 3,
        epochs: 6,
        full_every: vec![3, 1],
        ..SimulateOptions::default()
    };
    let report = run(&o, &|| {}).unwrap();
    let (k, chosen) = &report.hybrid[0];
    assert_eq!(*k, 3);
    let kinds: Vec<&str> = chosen.epochs.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["PARTIAL", "PARTIAL", "FULL", "PARTIAL", "PARTIAL", "FULL"]);
    assert!(report.hybrid[1].1.epochs.iter().all(|e| e.kind == "FULL"));
    // FULL commits carry both commits: more bytes than T alone, fewer than
    // running the PQ group for every commit.
    assert!(report.t_only.wire_bytes() < chosen.wire_bytes());
    assert!(chosen.wire_bytes() < report.pq_only.wire_bytes());
    let json = report.to_json();
    for key in ["t_only", "pq_only", "hybrid"] {
        assert!(json[key]["wire_bytes"].as_u64().unwrap() > 0, "{key}");
        assert!(json[key]["cpu_seconds"].as_f64().is_some(), "{key}");
    }
    assert_eq!(json["sweep"].as_array().unwrap().len(), 2);
    let dir = std::env::temp_dir().join(format!("mlsx-simulate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    report.write_csv(&dir.join("s.csv")).unwrap();
    report.write_svg(&dir.join("s.svg")).unwrap();
    let csv = std::fs::read_to_string(dir.join("s.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 6 * 4);
    assert!(std::fs::read_to_string(dir.join("s.svg")).unwrap().starts_with("<svg"));
    let mut text = vec![];
    report.write_text(&mut text).unwrap();
    assert!(String::from_utf8(text).unwrap().contains("hybrid K=3"));
    std::fs::remove_dir_all(dir).unwrap();
    // Bad options are refused.
    assert!(run(&SimulateOptions { members: 1, ..o.clone() }, &|| {}).is_err());
    assert!(run(&SimulateOptions { full_every: vec![0], ..o }, &|| {}).is_err());
}
