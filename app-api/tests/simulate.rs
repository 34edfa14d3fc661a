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
    // Members 1 and 2 commit for the first time in epochs 2 and 3: a
    // joiner's first commit is FULL (draft-ietf-mls-combiner §3.2); then
    // every third commit is.
    assert_eq!(kinds, ["PARTIAL", "FULL", "FULL", "PARTIAL", "PARTIAL", "FULL"]);
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

/// Sampling changes who is timed, not what is sent: the same 17 members
/// commit in turn whatever the sample, so a run that keeps 16 receivers
/// sends exactly the commit bytes of a run where all 39 are clients.
#[test]
fn a_sampled_run_sends_the_bytes_of_a_full_run() {
    let o = SimulateOptions {
        members: 40,
        epochs: 4,
        full_every: vec![10],
        ..SimulateOptions::default()
    };
    let sampled = run(
        &SimulateOptions {
            sample: Some(16),
            ..o.clone()
        },
        &|| {},
    )
    .unwrap();
    let full = run(&SimulateOptions { sample: Some(39), ..o }, &|| {}).unwrap();
    for (s, f) in [(&sampled.t_only, &full.t_only), (&sampled.pq_only, &full.pq_only)] {
        let bytes = |x: &mlsx_app::simulate::Scenario| x.epochs.iter().map(|e| e.commit_bytes).collect::<Vec<_>>();
        assert_eq!(bytes(s), bytes(f), "{}", s.name);
        // The Welcome carries every KeyPackage's leaf, whose random GREASE
        // values (RFC 9420 §13.5) vary in number: a few bytes either way.
        assert!(
            s.setup_welcome_bytes.abs_diff(f.setup_welcome_bytes) * 100 < f.setup_welcome_bytes,
            "{}",
            s.name
        );
        assert!(s.epochs.iter().all(|e| e.receiver_cpu.len() == 16));
        assert!(f.epochs.iter().all(|e| e.receiver_cpu.len() == 39));
        assert_eq!((s.join_cpu.len(), f.join_cpu.len()), (16, 39));
    }
    assert_eq!(sampled.to_json()["sampled_receivers"], 16);
}

#[test]
fn every_workload_runs_and_counts_what_it_sends() {
    use mlsx_app::simulate::Workload;
    for workload in Workload::ALL {
        let o = SimulateOptions {
            members: 12,
            epochs: 4,
            full_every: vec![2],
            workload,
            messages: 3,
            sample: Some(3),
            ..SimulateOptions::default()
        };
        let report = run(&o, &|| {}).unwrap();
        for s in [&report.t_only, &report.pq_only, &report.hybrid[0].1] {
            for (i, e) in s.epochs.iter().enumerate() {
                let churn = workload == Workload::Churn || (workload == Workload::Mixed && i % 2 == 1);
                let talk = matches!(workload, Workload::Messages | Workload::Mixed);
                assert_eq!(e.commit, if churn { "add+remove" } else { "update" }, "{} {workload:?} {i}", s.name);
                assert_eq!(e.welcome_bytes > 0, churn, "{} {workload:?} {i}", s.name);
                assert_eq!(e.joiner_cpu > 0.0, churn);
                assert_eq!(e.message_bytes > 0, talk);
                assert_eq!(e.wire_bytes, e.commit_bytes + e.welcome_bytes + e.message_bytes);
                assert!(e.cpu_seconds >= e.committer_cpu);
                // Membership changes are FULL commits in a hybrid session.
                if churn && s.name.starts_with("hybrid") {
                    assert_eq!(e.kind, "FULL");
                }
            }
        }
    }
    assert_eq!(Workload::from_name("mixed"), Some(Workload::Mixed));
    assert_eq!(Workload::from_name("other"), None);
}

#[test]
fn a_sweep_gives_one_point_per_size_and_a_plot() {
    let o = SimulateOptions {
        epochs: 2,
        full_every: vec![2, 1],
        workload: mlsx_app::simulate::Workload::Mixed,
        messages: 2,
        ..SimulateOptions::default()
    };
    let (reports, points) = mlsx_app::simulate::sweep(&o, &[4, 9], &|| {}).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(points.iter().map(|p| p.members).collect::<Vec<_>>(), [4, 9]);
    // Only the chosen FULL period is swept: T only, PQ only, hybrid K=2.
    assert!(points.iter().all(|p| p.scenarios.len() == 3));
    let dir = std::env::temp_dir().join(format!("mlsx-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    mlsx_app::simulate::write_sweep_svg(&points, &dir.join("sweep.svg")).unwrap();
    assert!(std::fs::read_to_string(dir.join("sweep.svg")).unwrap().starts_with("<svg"));
    let json = mlsx_app::simulate::sweep_json(&o, &points);
    assert_eq!(json["sizes"].as_array().unwrap().len(), 2);
    let mut text = vec![];
    mlsx_app::simulate::write_sweep_text(&o, &points, &mut text).unwrap();
    assert!(String::from_utf8(text).unwrap().contains("hybrid K=2"));
    std::fs::remove_dir_all(dir).unwrap();
}
