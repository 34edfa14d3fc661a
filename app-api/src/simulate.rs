//! `mlsx simulate`: what a hybrid deployment costs. Runs real groups in one
//! process (every member a real client): a traditional group only, a PQ
//! group only, and hybrid sessions (draft-ietf-mls-combiner) with a FULL
//! commit every K commits; each epoch one member commits with an
//! UpdatePath and every other member processes the commit. Measures the
//! bytes of each commit on the wire and the CPU time of the epoch (commit
//! and all processing, all threads).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
use mlsx_combiner::{ApqClient, ApqSession, ApqSetup, FullCommitPolicy, Mode};
use mlsx_pq_suites::PqSuite;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A figure of an epoch, for the plot.
type Measure = dyn Fn(&EpochCost) -> f64;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimulateOptions {
    /// Members of every group.
    pub members: usize,
    /// Epochs measured (one commit each), after setup.
    pub epochs: usize,
    /// FULL commit periods; the first is the chosen one, the others a sweep.
    pub full_every: Vec<u32>,
    /// The traditional suite (RFC 9420 code point).
    pub t_suite: u16,
    /// The PQ suite.
    pub pq_suite: PqSuite,
    /// The combiner's mode.
    pub mode: Mode,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            members: 10,
            epochs: 50,
            full_every: vec![10, 1, 5, 50],
            t_suite: 1,
            pq_suite: PqSuite::Tbd6,
            mode: Mode::ConfidentialityOnly,
        }
    }
}

/// The cost of one epoch.
#[derive(Clone, Debug)]
pub struct EpochCost {
    /// "T", "PQ", "FULL" or "PARTIAL".
    pub kind: &'static str,
    /// Bytes of the commit message (an APQMessagePair for FULL commits).
    pub wire_bytes: usize,
    /// CPU seconds of the commit and of every member's processing.
    pub cpu_seconds: f64,
}

/// One scenario's epochs.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// "T only", "PQ only" or "hybrid K=…".
    pub name: String,
    /// Per epoch.
    pub epochs: Vec<EpochCost>,
}

impl Scenario {
    /// Total bytes.
    pub fn wire_bytes(&self) -> usize {
        self.epochs.iter().map(|e| e.wire_bytes).sum()
    }

    /// Total CPU seconds.
    pub fn cpu_seconds(&self) -> f64 {
        self.epochs.iter().map(|e| e.cpu_seconds).sum()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "wire_bytes": self.wire_bytes(),
            "cpu_seconds": self.cpu_seconds(),
            "full_commits": self.epochs.iter().filter(|e| e.kind == "FULL").count(),
            "epochs": self.epochs.iter().map(|e| serde_json::json!({
                "kind": e.kind, "wire_bytes": e.wire_bytes, "cpu_seconds": e.cpu_seconds
            })).collect::<Vec<_>>(),
        })
    }
}

/// The results of a run.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was run.
    pub options: SimulateOptions,
    /// The traditional group alone.
    pub t_only: Scenario,
    /// The PQ group alone.
    pub pq_only: Scenario,
    /// Hybrid sessions, one per FULL period (the chosen one first).
    pub hybrid: Vec<(u32, Scenario)>,
}

/// CPU time of this process so far, all threads (Linux: the scheduler's
/// nanosecond counts; elsewhere the wall clock since `start`).
fn cpu_now(start: std::time::Instant) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return start.elapsed().as_secs_f64();
    };
    let mut ns: u64 = 0;
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    ns as f64 / 1e9
}

fn plain_scenario(name: &'static str, cs: Arc<dyn CipherSuiteProvider>, o: &SimulateOptions, tick: &dyn Fn()) -> Res<Scenario> {
    let config = GroupConfig::default;
    let mut groups = vec![Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"member0")?,
        b"simulated".to_vec(),
        config(),
    )?];
    let bundles = (1..o.members)
        .map(|i| Identity::basic(cs.as_ref(), format!("member{i}").as_bytes())?.key_package(cs.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    if !bundles.is_empty() {
        let out = groups[0].commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))?;
        groups[0].merge_pending_commit()?;
        for b in bundles {
            groups.push(Group::join(cs.clone(), out.welcome_message()?, b, None, config())?);
        }
    }
    let start = std::time::Instant::now();
    let mut epochs = vec![];
    for e in 0..o.epochs {
        let from = e % groups.len();
        let before = cpu_now(start);
        let out = groups[from].commit(CommitOptions::default())?;
        groups[from].merge_pending_commit()?;
        for (i, g) in groups.iter_mut().enumerate() {
            if i != from {
                let Received::Commit(staged) = g.process_message(&out.commit)? else {
                    return Err("not a commit".into());
                };
                g.merge_staged_commit(staged)?;
            }
        }
        epochs.push(EpochCost {
            kind: name,
            wire_bytes: encode(&out.commit)?.len(),
            cpu_seconds: cpu_now(start) - before,
        });
        tick();
    }
    Ok(Scenario {
        name: format!("{name} only"),
        epochs,
    })
}

fn hybrid_scenario(setup: &ApqSetup, k: u32, o: &SimulateOptions, tick: &dyn Fn()) -> Res<Scenario> {
    let mut setup = setup.clone();
    setup.policy = FullCommitPolicy {
        every: k,
        max_age_seconds: None,
        inactive_after_seconds: None,
    };
    let mut sessions = vec![ApqClient::new(setup.clone(), b"member0")?.create_session(b"T".to_vec(), b"PQ".to_vec())?];
    let clients = (1..o.members)
        .map(|i| ApqClient::new(setup.clone(), format!("member{i}").as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    let kps = clients.iter().map(ApqClient::key_packages).collect::<Result<Vec<_>, _>>()?;
    if !clients.is_empty() {
        let out = sessions[0].add(kps.iter().map(|(p, _)| p.clone()).collect())?;
        sessions[0].confirm()?;
        let welcome = out.welcome.ok_or("no Welcome")?;
        for (c, (_, b)) in clients.into_iter().zip(kps) {
            sessions.push(c.join(&welcome, b)?);
        }
        // Setup, not measured: each joiner makes its first FULL commit
        // (draft-ietf-mls-combiner §3.2).
        for from in 1..sessions.len() {
            let out = sessions[from].full_commit(vec![], vec![])?;
            sessions[from].confirm()?;
            deliver(&mut sessions, from, &out.message)?;
        }
    }
    let start = std::time::Instant::now();
    let mut epochs = vec![];
    for e in 0..o.epochs {
        let from = e % sessions.len();
        let before = cpu_now(start);
        let out = sessions[from].commit(vec![])?;
        sessions[from].confirm()?;
        deliver(&mut sessions, from, &out.message)?;
        epochs.push(EpochCost {
            kind: match out.kind {
                mlsx_combiner::CommitKind::Full => "FULL",
                mlsx_combiner::CommitKind::Partial => "PARTIAL",
            },
            wire_bytes: encode(&out.message)?.len(),
            cpu_seconds: cpu_now(start) - before,
        });
        tick();
    }
    Ok(Scenario {
        name: format!("hybrid K={k}"),
        epochs,
    })
}

fn deliver(sessions: &mut [ApqSession], from: usize, msg: &mlsx_base::codec::MlsMessage) -> Res<()> {
    for (i, s) in sessions.iter_mut().enumerate() {
        if i != from {
            s.process(msg)?;
        }
    }
    Ok(())
}

/// Runs the scenarios; `tick` is called after every simulated epoch.
pub fn run(o: &SimulateOptions, tick: &dyn Fn()) -> Res<Report> {
    if o.members < 2 || o.epochs == 0 || o.full_every.is_empty() || o.full_every.contains(&0) {
        return Err("need at least 2 members, 1 epoch and FULL periods of at least 1".into());
    }
    let t_cs = RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite(o.t_suite))
        .ok_or_else(|| format!("unknown T suite {:#06x}", o.t_suite))?;
    let pq_cs = o.pq_suite.provider()?;
    let setup = ApqSetup::new(t_cs.clone(), pq_cs.clone(), o.mode)?;
    let t_only = plain_scenario("T", t_cs, o, tick)?;
    let pq_only = plain_scenario("PQ", pq_cs, o, tick)?;
    let hybrid = o
        .full_every
        .iter()
        .map(|&k| Ok((k, hybrid_scenario(&setup, k, o, tick)?)))
        .collect::<Res<Vec<_>>>()?;
    Ok(Report {
        options: o.clone(),
        t_only,
        pq_only,
        hybrid,
    })
}

impl Report {
    /// The hybrid session at the chosen FULL period.
    pub fn chosen(&self) -> Option<&Scenario> {
        self.hybrid.first().map(|(_, s)| s)
    }

    /// One JSON object: `t_only`, `pq_only` and `hybrid` (the chosen K),
    /// each with `wire_bytes` and `cpu_seconds` (and per-epoch figures),
    /// and `sweep`, one entry per FULL period.
    pub fn to_json(&self) -> serde_json::Value {
        let o = &self.options;
        serde_json::json!({
            "members": o.members,
            "epochs": o.epochs,
            "t_suite": o.t_suite,
            "pq_suite": format!("{:?}", o.pq_suite),
            "mode": o.mode as u8,
            "full_every": o.full_every.first(),
            "t_only": self.t_only.json(),
            "pq_only": self.pq_only.json(),
            "hybrid": self.chosen().map(Scenario::json),
            "sweep": self.hybrid.iter().map(|(k, s)| serde_json::json!({
                "full_every": k, "wire_bytes": s.wire_bytes(), "cpu_seconds": s.cpu_seconds()
            })).collect::<Vec<_>>(),
        })
    }

    /// The human-readable report: per-epoch figures for T only, PQ only
    /// and the chosen hybrid period, then totals for every scenario.
    pub fn write_text(&self, out: &mut dyn Write) -> Res<()> {
        let o = &self.options;
        writeln!(
            out,
            "{} members, {} epochs, T suite {:#06x}, PQ suite {:?}, mode {}",
            o.members, o.epochs, o.t_suite, o.pq_suite, o.mode as u8
        )?;
        if let Some(h) = self.chosen() {
            writeln!(out, "\nepoch   T bytes  T ms   PQ bytes  PQ ms   {:>7} bytes  ms", h.name)?;
            for (i, ((t, pq), hy)) in self.t_only.epochs.iter().zip(&self.pq_only.epochs).zip(&h.epochs).enumerate() {
                writeln!(
                    out,
                    "{:>5} {:>9} {:>5.1} {:>10} {:>6.1}   {:>7} {:>9} {:>5.1}",
                    i + 1,
                    t.wire_bytes,
                    t.cpu_seconds * 1e3,
                    pq.wire_bytes,
                    pq.cpu_seconds * 1e3,
                    hy.kind,
                    hy.wire_bytes,
                    hy.cpu_seconds * 1e3
                )?;
            }
        }
        writeln!(out, "\ntotals                 wire bytes   CPU s   FULL commits")?;
        for s in [&self.t_only, &self.pq_only].into_iter().chain(self.hybrid.iter().map(|(_, s)| s)) {
            writeln!(
                out,
                "{:<20} {:>12} {:>7.3} {:>8}",
                s.name,
                s.wire_bytes(),
                s.cpu_seconds(),
                s.epochs.iter().filter(|e| e.kind == "FULL").count()
            )?;
        }
        Ok(())
    }

    /// One CSV row per scenario and epoch.
    pub fn write_csv(&self, path: &Path) -> Res<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(f, "scenario,epoch,kind,wire_bytes,cpu_seconds")?;
        for s in [&self.t_only, &self.pq_only].into_iter().chain(self.hybrid.iter().map(|(_, s)| s)) {
            for (i, e) in s.epochs.iter().enumerate() {
                writeln!(f, "{},{},{},{},{:.6}", s.name, i + 1, e.kind, e.wire_bytes, e.cpu_seconds)?;
            }
        }
        Ok(())
    }

    /// An SVG plot: cumulative wire bytes and CPU time per epoch, one line
    /// per scenario.
    pub fn write_svg(&self, path: &Path) -> Res<()> {
        use plotters::prelude::*;
        let scenarios: Vec<&Scenario> = [&self.t_only, &self.pq_only]
            .into_iter()
            .chain(self.hybrid.iter().map(|(_, s)| s))
            .collect();
        let cumulative = |s: &Scenario, f: &dyn Fn(&EpochCost) -> f64| -> Vec<(f64, f64)> {
            let mut acc = 0.0;
            s.epochs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    acc += f(e);
                    (i as f64 + 1.0, acc)
                })
                .collect()
        };
        let root = SVGBackend::new(path, (900, 800)).into_drawing_area();
        root.fill(&WHITE)?;
        let panels = root.split_evenly((2, 1));
        let measures: [(&str, &Measure); 2] = [
            ("cumulative wire KiB", &|e: &EpochCost| e.wire_bytes as f64 / 1024.0),
            ("cumulative CPU seconds", &|e: &EpochCost| e.cpu_seconds),
        ];
        let colors = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
        for (panel, (title, f)) in panels.iter().zip(measures) {
            let lines: Vec<Vec<(f64, f64)>> = scenarios.iter().map(|s| cumulative(s, f)).collect();
            let y_max = lines.iter().flatten().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9) * 1.05;
            let mut chart = ChartBuilder::on(panel)
                .caption(title, ("sans-serif", 20))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..self.options.epochs as f64, 0f64..y_max)?;
            chart.configure_mesh().x_desc("epoch").draw()?;
            for (i, (s, line)) in scenarios.iter().zip(lines).enumerate() {
                let color = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
            chart.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    }
}
