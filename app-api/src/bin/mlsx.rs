//! `mlsx`: the mlsx command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use mlsx_base::crypto::CryptoProviders;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_pq_suites::{PqProvider, PqSuite, Profile};

/// mlsx: post-quantum and extended MLS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The implementation of ML-KEM and ML-DSA under the PQ suites:
    /// libcrux (the default where built: the fastest measured) or
    /// rustcrypto. It changes no byte on the wire.
    #[arg(long, global = true, value_parser = backend_by_name, default_value_t = mlsx_pq_suites::Backend::FASTEST)]
    backend: mlsx_pq_suites::Backend,
}

fn backend_by_name(name: &str) -> Result<mlsx_pq_suites::Backend, String> {
    mlsx_pq_suites::Backend::by_name(name).map_err(|e| match e {
        mlsx_pq_suites::Error::BackendNotBuilt(_) => e.to_string(),
        _ => format!("unknown backend {name:?} (libcrux or rustcrypto)"),
    })
}

#[derive(Subcommand)]
enum Command {
    /// Test vectors.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
    /// Simulates a hybrid deployment (draft-ietf-mls-combiner): the same
    /// members and commits in a traditional group alone, a PQ group alone,
    /// and hybrid sessions with a FULL commit every K commits; prints wire
    /// bytes and CPU time per epoch and in total, and writes a CSV and an
    /// SVG plot.
    Simulate {
        /// Members of every group; several (`10,100,1000,10000`) sweep
        /// over sizes and plot the cost per epoch against size.
        #[arg(long, default_value = "10", value_delimiter = ',')]
        members: Vec<usize>,
        /// Epochs measured (one commit each, by members in turn).
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        /// What each epoch does: updates (an UpdatePath commit), churn (a
        /// commit adding one member and removing another), messages (an
        /// update and --messages application messages) or mixed
        /// (messages, and updates alternating with churn).
        #[arg(long, default_value = "updates")]
        workload: String,
        /// Application messages per epoch (messages and mixed).
        #[arg(long, default_value_t = 10)]
        messages: usize,
        /// Receivers that process every epoch for real; the others are
        /// public state only, their CPU estimated from the sample.
        /// Default: every member up to 64, 16 up to 1,000, then 8.
        #[arg(long)]
        sample: Option<usize>,
        /// FULL commit periods: the first is the chosen one, the rest a
        /// sweep (`--full-every 10` for no sweep).
        #[arg(long, default_value = "10,1,5,50", value_delimiter = ',')]
        full_every: Vec<u32>,
        /// The hybrid sessions' suites (the PQ suite pure ML-KEM: tbd6,
        /// tbd7, tbd8, tbd10 or tbd11; mode 1 needs ML-DSA).
        #[command(flatten)]
        suites: Suites,
        /// Where to write simulate.csv and simulate.svg.
        #[arg(long, default_value = "target/simulate")]
        out: PathBuf,
        /// Print one JSON object instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Creates a client in a folder: signature keys in its traditional
    /// and PQ suites, an SQLite store; with --ds, registers it at a
    /// delivery service.
    Init {
        #[command(flatten)]
        at: At,
        /// The client's name (its basic credential).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        suites: Suites,
        /// The delivery service (https://host:port, or http:// on loopback).
        #[arg(long)]
        ds: Option<String>,
        /// Trust only the CA certificates in this PEM file for the
        /// service's TLS (default: the public web's roots).
        #[arg(long)]
        ds_ca: Option<PathBuf>,
        /// A media type this client can receive in extended groups
        /// (repeat; default text/plain; charset=utf-8).
        #[arg(long)]
        accept_media_type: Vec<String>,
    },
    /// Signature keys: the client's, and the delivery service's directory
    /// of who holds which.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// KeyPackages.
    KeyPackage {
        #[command(subcommand)]
        command: KeyPackageCommand,
    },
    /// Groups: create, add, remove, update, commit, info, list.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// External PSKs (RFC 9420 §8.4): secrets shared out of band that
    /// `mlsx group psk` injects into a group's key schedule.
    Psk {
        #[command(subcommand)]
        command: PskCommand,
    },
    /// Sends an application message.
    Send {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// The text.
        text: String,
        /// A SafeAAD item, COMPONENT:TEXT (component id in hex; extended
        /// groups).
        #[arg(long)]
        aad: Vec<String>,
        /// The text's media type, in an extended group that requires
        /// media types (default: the group's first).
        #[arg(long)]
        media_type: Option<String>,
        /// Write the message to this file instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Receives: processes the client's queue at the delivery service (or
    /// one message file) and prints what happened.
    Receive {
        #[command(flatten)]
        at: At,
        /// Seconds to wait for a message if none is queued.
        #[arg(long, default_value_t = 0)]
        wait: u64,
        /// A message file (from --out) instead of the delivery service.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The group of a message file (not needed for a Welcome).
        #[arg(long)]
        group: Option<String>,
        /// Appends what was received to this file, one JSON object a line,
        /// exactly once even if the process is killed (instead of printing
        /// it).
        #[arg(long, conflicts_with = "file")]
        out: Option<PathBuf>,
    },
    /// Runs the delivery service.
    Ds {
        /// Its database: the path of an SQLite file (created if absent),
        /// for one service process; or `postgres://user@host:port/db`, a
        /// PostgreSQL database that any number of `mlsx ds` processes may
        /// serve at once (its schema is created or migrated on start).
        #[arg(long, value_parser = |s: &str| Ok::<_, String>(mlsx_app::ds::Database::parse(s)))]
        db: mlsx_app::ds::Database,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: String,
        /// Requests per second per client.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Largest request body, bytes.
        #[arg(long, default_value_t = 1 << 20)]
        max_body: usize,
        /// Requests per second per source address that carry no token
        /// (registrations, and requests refused as unauthenticated).
        #[arg(long, default_value_t = 20)]
        anonymous_rate: u32,
        /// Serve over TLS with this certificate chain (PEM, leaf first).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The TLS certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Also accept handshakes sent as PrivateMessage, which the service
        /// cannot check: their commits are then ordered on the poster's
        /// word and membership is what committers say. By default the
        /// service follows every group's public handshakes and orders only
        /// valid commits.
        #[arg(long)]
        private_handshakes: bool,
        /// Share the listening address with other `mlsx ds` processes on
        /// this machine (SO_REUSEPORT: the kernel spreads connections over
        /// them, and a process that dies stops getting new ones). With
        /// `--db postgres://…`, several processes behind one address.
        #[arg(long)]
        reuse_port: bool,
    },
    /// Prints the side-by-side benchmark (`cargo bench --bench peers`) as a
    /// Markdown table of medians and mlsx / fastest-peer ratios.
    BenchReport {
        /// Criterion's output folder.
        #[arg(default_value = "target/criterion")]
        dir: PathBuf,
    },
}

/// Where the client lives, and how to print.
#[derive(clap::Args, Clone)]
struct At {
    /// The client's folder.
    #[arg(long, env = "MLSX_DIR")]
    dir: PathBuf,
    /// Print one JSON value.
    #[arg(long)]
    json: bool,
}

/// Suites and combiner mode.
#[derive(clap::Args, Clone)]
struct Suites {
    /// The traditional suite (RFC 9420 code point).
    #[arg(long, default_value_t = 1)]
    t_suite: u16,
    /// The PQ suite of hybrid sessions (tbd1..tbd11).
    #[arg(long, default_value = "tbd6")]
    pq_suite: String,
    /// The combiner mode: 0 (PQ confidentiality) or 1 (and PQ authenticity).
    #[arg(long, default_value_t = 0)]
    mode: u8,
}

/// Suites of a group or KeyPackage; the client's own (from `mlsx init`)
/// where not given.
#[derive(clap::Args, Clone)]
struct GroupSuites {
    /// The traditional suite (RFC 9420 code point).
    #[arg(long)]
    t_suite: Option<u16>,
    /// The PQ suite of hybrid sessions (tbd1..tbd11).
    #[arg(long)]
    pq_suite: Option<String>,
    /// The combiner mode: 0 (PQ confidentiality) or 1 (and PQ authenticity).
    #[arg(long)]
    mode: Option<u8>,
}

impl GroupSuites {
    /// `None` if nothing was given; otherwise the given values over the
    /// client's in `dir`.
    fn resolve(&self, dir: &std::path::Path) -> Result<Option<mlsx_app::client::Suites>, String> {
        if self.t_suite.is_none() && self.pq_suite.is_none() && self.mode.is_none() {
            return Ok(None);
        }
        let mut s = mlsx_app::cli::open(dir).map_err(shown)?.config().suites();
        if let Some(t) = self.t_suite {
            s.t_suite = t;
        }
        if let Some(pq) = &self.pq_suite {
            s.pq_suite = one_pq_suite(pq)?.number();
        }
        if let Some(m) = self.mode {
            s.mode = m;
        }
        Ok(Some(s))
    }
}

impl Suites {
    fn config(&self, name: &str) -> Result<mlsx_app::ClientConfig, String> {
        Ok(mlsx_app::ClientConfig::new(name)
            .t_suite(self.t_suite)
            .pq_suite(one_pq_suite(&self.pq_suite)?.number())
            .mode(self.mode))
    }
}

#[derive(Subcommand)]
enum KeyPackageCommand {
    /// Makes KeyPackages (plain and hybrid pairs) and publishes them.
    Publish {
        #[command(flatten)]
        at: At,
        /// How many of each kind.
        #[arg(long, default_value_t = 3)]
        count: usize,
        /// plain, extended, hybrid or all.
        #[arg(long, default_value = "all")]
        kind: String,
        /// Mark them last resort (kept by the delivery service after use).
        #[arg(long)]
        last_resort: bool,
        #[command(flatten)]
        suites: GroupSuites,
        /// Write them to this file instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Replaces the client's signature key in a suite (for new KeyPackages
    /// and groups; groups that carry the old key keep it until an update)
    /// and, with a delivery service, binds the new key to the name,
    /// authorized by the old one.
    Rotate {
        #[command(flatten)]
        at: At,
        /// The suite (code point, `1` or `0x0001`; default: the client's
        /// traditional suite).
        #[arg(long)]
        suite: Option<String>,
    },
    /// The client's own signature keys, or (with NAME) the keys the
    /// delivery service's directory binds to NAME.
    Show {
        #[command(flatten)]
        at: At,
        /// Another client's name.
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum PskCommand {
    /// Stores a PSK under an id (replacing one of the same id).
    Add {
        #[command(flatten)]
        at: At,
        /// The PSK's id, as the members agreed on it.
        id: String,
        /// The secret, in hex (`-`: read the hex from standard input,
        /// which keeps it out of the process list and shell history).
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        hex: Option<String>,
        /// A file holding the secret's bytes (`-`: standard input; keeps it
        /// out of the process list).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Deletes a PSK.
    Remove {
        #[command(flatten)]
        at: At,
        /// The PSK's id.
        id: String,
    },
    /// Lists the stored PSKs' ids.
    List {
        #[command(flatten)]
        at: At,
    },
}

#[derive(Subcommand)]
enum GroupCommand {
    /// Creates a group (a hybrid session with --hybrid).
    Create {
        #[command(flatten)]
        at: At,
        /// The group's name: the members see it, and this client labels
        /// the group so (its id is random; `mlsx group info` shows it).
        group: String,
        /// A hybrid PQ session (draft-ietf-mls-combiner).
        #[arg(long, conflicts_with = "extended")]
        hybrid: bool,
        /// A group with draft-ietf-mls-extensions (SafeAAD, SelfRemove, the
        /// app data dictionary).
        #[arg(long)]
        extended: bool,
        /// A media type the extended group requires (repeat); messages are
        /// then framed with their type.
        #[arg(long, requires = "extended")]
        media_type: Vec<String>,
        #[command(flatten)]
        suites: GroupSuites,
    },
    /// Adds members: by name from the delivery service, or --offer files.
    Add {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// Members' names.
        names: Vec<String>,
        /// KeyPackage offer files (from key-package publish --out).
        #[arg(long)]
        offer: Vec<PathBuf>,
        /// Write the commit (and .welcome) here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Joins a group by external commit, from the GroupInfo its members
    /// left at the delivery service.
    JoinExternal {
        #[command(flatten)]
        at: At,
        /// The group's id in hex, as a member's `mlsx group info` shows it
        /// (with --group-info, its name will do).
        group: String,
        /// plain, extended or hybrid.
        #[arg(long, default_value = "hybrid")]
        kind: String,
        /// A GroupInfo file (from mlsx group group-info) instead of the
        /// delivery service's.
        #[arg(long)]
        group_info: Option<PathBuf>,
        /// Write the commit here instead of the delivery service.
        #[arg(long, requires = "group_info")]
        out: Option<PathBuf>,
    },
    /// Writes the signed GroupInfo of the current epoch to a file, for an
    /// external joiner.
    GroupInfo {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// The file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Proposes changes for the next commit: --add NAME, --remove NAME
    /// (plain and extended groups), --update (an Update pair in a hybrid
    /// session, which makes the next commit FULL).
    Propose {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// Propose adding this member (its KeyPackage from the delivery service).
        #[arg(long)]
        add: Vec<String>,
        /// Propose removing this member.
        #[arg(long)]
        remove: Vec<String>,
        /// Propose an update of our leaf.
        #[arg(long)]
        update: bool,
    },
    /// Removes members by name.
    Remove {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// Members' names.
        names: Vec<String>,
        /// Write the commit here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Commits with a fresh path (FULL or PARTIAL by policy in a hybrid
    /// session; --full forces FULL).
    Update {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// A FULL commit.
        #[arg(long)]
        full: bool,
        /// Write the commit here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Opens the group to external joins, or closes it (the default), by
    /// a commit its members check: a closed group and its delivery service
    /// refuse external commits but a member's own resync.
    ExternalJoins {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// `open` or `closed`.
        #[arg(value_parser = ["open", "closed"])]
        state: String,
        /// Write the commit here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Commits the proposals received this epoch (with a fresh path).
    Commit {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// Write the commit here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Commits external PSKs into the group's key schedule (members
    /// without them cannot follow).
    Psk {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// The PSKs' ids (from mlsx psk add).
        #[arg(required = true)]
        ids: Vec<String>,
        /// Write the commit here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Leaves an extended group (a SelfRemove proposal; the next commit
    /// of another member removes us).
    Leave {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
        /// Write the proposal here instead of the delivery service.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shows a group: epochs, suites, members, epoch authenticator.
    Info {
        #[command(flatten)]
        at: At,
        /// The group.
        group: String,
    },
    /// Lists the client's groups.
    List {
        #[command(flatten)]
        at: At,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Check vector files against the engine. With no path: every vector
    /// the repository holds (test-vectors/official, or $MLS_TEST_VECTORS in
    /// its place; test-vectors/generated; test-vectors/pq).
    Verify {
        /// Vector files or folders; the kind of each file is taken from its
        /// name (and folder, for the PQ known-answer files).
        paths: Vec<PathBuf>,
        /// The PQ profile for PQ suites in MLS-level vector files: `draft`
        /// (the default) or `openmls-compat`.
        #[arg(long, default_value = "draft")]
        pq_profile: String,
    },
    /// Write vector files in the official formats (crypto-basics,
    /// secret-tree, key-schedule, welcome, treekem, messages, a
    /// passive-client scenario) for
    /// suites that have none.
    Generate {
        /// `all-pq` (the default: TBD1-TBD11), or a comma-separated list of
        /// PQ suite numbers (`tbd1,tbd9`).
        #[arg(long, default_value = "all-pq")]
        suite: String,
        /// The PQ profile whose code points and key derivation to use.
        #[arg(long, default_value = "draft")]
        pq_profile: String,
        /// Which vectors: `pq` (the official formats, for PQ suites),
        /// `extensions` (draft-ietf-mls-extensions, for RFC 9420 suites
        /// 1-7 and the PQ suites chosen by `--suite`) or `combiner`
        /// (draft-ietf-mls-combiner, suites 1-7 with each pure-ML-KEM suite
        /// whose hash is at least as long).
        #[arg(long, default_value = "pq")]
        set: String,
        /// Output folder (default: `test-vectors/pq` or
        /// `test-vectors/extensions`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The one PQ suite named by `--pq-suite`.
fn one_pq_suite(spec: &str) -> Result<PqSuite, String> {
    match pq_suites(spec)?[..] {
        [pq] => Ok(pq),
        _ => Err("give one PQ suite".into()),
    }
}

/// The suites named by `--suite`.
fn pq_suites(spec: &str) -> Result<Vec<PqSuite>, String> {
    if spec == "all-pq" {
        return Ok(PqSuite::ALL.to_vec());
    }
    spec.split(',')
        .map(|s| {
            s.trim()
                .to_ascii_lowercase()
                .strip_prefix("tbd")
                .and_then(|n| n.parse().ok())
                .and_then(PqSuite::from_number)
                .ok_or_else(|| format!("unknown suite {s:?} (use all-pq or tbd1..tbd11)"))
        })
        .collect()
}

/// The simulator's progress bar over `epochs` simulated epochs (hidden
/// when the output is JSON).
fn epochs_bar(json: bool, epochs: usize) -> Result<indicatif::ProgressBar, Box<dyn std::error::Error>> {
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(u64::try_from(epochs).unwrap_or(u64::MAX))
    };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} epochs {elapsed}")?);
    Ok(bar)
}

fn simulate(o: mlsx_app::simulate::SimulateOptions, out: &std::path::Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let bar = epochs_bar(json, o.epochs.saturating_mul(o.full_every.len().saturating_add(2)))?;
    let report = mlsx_app::simulate::run(&o, &|| bar.inc(1))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out)?;
    let (csv, svg) = (out.join("simulate.csv"), out.join("simulate.svg"));
    report.write_csv(&csv).map_err(|e| e.to_string())?;
    report.write_svg(&svg).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.write_text(&mut std::io::stdout()).map_err(|e| e.to_string())?;
        println!(
            "
wrote {} and {}",
            csv.display(),
            svg.display()
        );
    }
    Ok(())
}

fn simulate_sweep(
    o: mlsx_app::simulate::SimulateOptions,
    sizes: &[usize],
    out: &std::path::Path,
    json: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let bar = epochs_bar(json, o.epochs.saturating_mul(3).saturating_mul(sizes.len()))?;
    let (_, points) = mlsx_app::simulate::sweep(&o, sizes, &|| bar.inc(1))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out)?;
    let svg = out.join("sweep.svg");
    mlsx_app::simulate::write_sweep_svg(&points, &svg).map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&mlsx_app::simulate::sweep_json(&o, &points))?);
    } else {
        mlsx_app::simulate::write_sweep_text(&o, &points, &mut std::io::stdout()).map_err(|e| e.to_string())?;
        println!("\nwrote {}", svg.display());
    }
    Ok(())
}

/// Prints a client command's report; errors are one line on stderr.
fn print_report(json: bool, r: &mlsx_app::cli::Report) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", r.json)?;
    } else {
        for l in &r.lines {
            writeln!(out, "{}", printable(l))?;
        }
    }
    out.flush()
}

/// A library error as the command line shows it: with the command that
/// gets past it, when there is one.
fn shown(e: mlsx_app::Error) -> String {
    match e.cli_hint() {
        Some(hint) => format!("{e} ({hint})"),
        None => e.to_string(),
    }
}

fn report(json: bool, r: Result<mlsx_app::cli::Report, String>) -> ExitCode {
    match r {
        Ok(r) => match print_report(json, &r) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mlsx: standard output: {e}");
                ExitCode::from(1)
            }
        },
        Err(e) => {
            eprintln!("mlsx: {}", printable(&e.replace('\n', " ")));
            ExitCode::from(1)
        }
    }
}

/// Text from other members (messages, names) with control characters
/// escaped, so that it cannot drive the terminal.
fn printable(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn kinds(kind: &str) -> Result<Vec<mlsx_app::GroupKind>, String> {
    use mlsx_app::GroupKind::{Extended, Hybrid, Plain};
    match (kind, mlsx_app::GroupKind::from_name(kind)) {
        ("all", _) => Ok(vec![Plain, Extended, Hybrid]),
        (_, Some(k)) => Ok(vec![k]),
        (k, None) => Err(format!("no KeyPackage kind {k} (plain, extended, hybrid or all)")),
    }
}

fn run_ds(
    db: &mlsx_app::ds::Database,
    (listen, reuse_port): (&str, bool),
    limits: mlsx_app::ds::Limits,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let store = db.open()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = if reuse_port {
            let addr = tokio::net::lookup_host(listen)
                .await?
                .next()
                .ok_or_else(|| format!("{listen}: no address"))?;
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            #[cfg(unix)]
            socket.set_reuseport(true)?;
            socket.bind(addr)?;
            socket.listen(1024)?
        } else {
            tokio::net::TcpListener::bind(listen).await?
        };
        println!("mlsx ds: listening on {scheme}://{}, state in {db}", listener.local_addr()?,);
        // Every request's work is one database transaction: stopping
        // between two leaves nothing half done.
        tokio::select! {
            served = mlsx_app::ds::serve_with(listener, store, limits, tls) => served?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(())
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every PQ provider this process makes from now on runs on it.
    cli.backend.set_process_default();
    let s = |r: mlsx_app::Result<mlsx_app::cli::Report>| r.map_err(shown);
    match cli.command {
        Command::Init {
            at,
            name,
            suites,
            ds,
            ds_ca,
            accept_media_type,
        } => report(
            at.json,
            suites.config(&name).and_then(|mut c| {
                if !accept_media_type.is_empty() {
                    c.media_types = accept_media_type;
                }
                s(mlsx_app::cli::init(&at.dir, c, ds.as_deref(), ds_ca.as_deref()))
            }),
        ),
        Command::KeyPackage {
            command:
                KeyPackageCommand::Publish {
                    at,
                    count,
                    kind,
                    last_resort,
                    out,
                    suites,
                },
        } => {
            let bar = if at.json {
                indicatif::ProgressBar::hidden()
            } else {
                indicatif::ProgressBar::new(count as u64)
            };
            let r = kinds(&kind).and_then(|k| {
                bar.set_length(u64::try_from(count.saturating_mul(k.len())).unwrap_or(u64::MAX));
                let suites = suites.resolve(&at.dir)?;
                s(mlsx_app::cli::publish(
                    &at.dir,
                    &k,
                    suites,
                    count,
                    last_resort,
                    out.as_deref(),
                    &|| bar.inc(1),
                ))
            });
            bar.finish_and_clear();
            report(at.json, r)
        }
        Command::Group { command } => match command {
            GroupCommand::Create {
                at,
                group,
                hybrid,
                extended,
                media_type,
                suites,
            } => {
                let kind = match (hybrid, extended) {
                    (true, _) => mlsx_app::GroupKind::Hybrid,
                    (false, true) => mlsx_app::GroupKind::Extended,
                    (false, false) => mlsx_app::GroupKind::Plain,
                };
                report(
                    at.json,
                    suites
                        .resolve(&at.dir)
                        .and_then(|c| s(mlsx_app::cli::create(&at.dir, &group, kind, c, &media_type))),
                )
            }
            GroupCommand::Add {
                at,
                group,
                names,
                offer,
                out,
            } => report(at.json, s(mlsx_app::cli::add(&at.dir, &group, &names, &offer, out.as_deref()))),
            GroupCommand::Remove { at, group, names, out } => {
                report(at.json, s(mlsx_app::cli::remove(&at.dir, &group, &names, out.as_deref())))
            }
            GroupCommand::Update { at, group, full, out } => {
                report(at.json, s(mlsx_app::cli::update(&at.dir, &group, full, out.as_deref())))
            }
            GroupCommand::ExternalJoins { at, group, state, out } => report(
                at.json,
                s(mlsx_app::cli::external_joins(&at.dir, &group, state == "open", out.as_deref())),
            ),
            GroupCommand::Commit { at, group, out } => report(at.json, s(mlsx_app::cli::update(&at.dir, &group, false, out.as_deref()))),
            GroupCommand::JoinExternal {
                at,
                group,
                kind,
                group_info,
                out,
            } => report(
                at.json,
                kinds(&kind).and_then(|k| match k[..] {
                    [k] => s(mlsx_app::cli::join_external(
                        &at.dir,
                        &group,
                        k,
                        group_info.as_deref(),
                        out.as_deref(),
                    )),
                    _ => Err("give one kind: plain, extended or hybrid".into()),
                }),
            ),
            GroupCommand::GroupInfo { at, group, out } => report(at.json, s(mlsx_app::cli::group_info(&at.dir, &group, &out))),
            GroupCommand::Propose {
                at,
                group,
                add,
                remove,
                update,
            } => report(at.json, s(mlsx_app::cli::propose(&at.dir, &group, &add, &remove, update))),
            GroupCommand::Psk { at, group, ids, out } => {
                report(at.json, s(mlsx_app::cli::inject_psks(&at.dir, &group, &ids, out.as_deref())))
            }
            GroupCommand::Leave { at, group, out } => report(at.json, s(mlsx_app::cli::leave(&at.dir, &group, out.as_deref()))),
            GroupCommand::Info { at, group } => report(at.json, s(mlsx_app::cli::info(&at.dir, &group))),
            GroupCommand::List { at } => report(at.json, s(mlsx_app::cli::list(&at.dir))),
        },
        Command::Key { command } => match command {
            KeyCommand::Rotate { at, suite } => report(at.json, s(mlsx_app::cli::key_rotate(&at.dir, suite.as_deref()))),
            KeyCommand::Show { at, name } => report(at.json, s(mlsx_app::cli::key_show(&at.dir, name.as_deref()))),
        },
        Command::Psk { command } => match command {
            PskCommand::Add { at, id, hex, file } => {
                report(at.json, s(mlsx_app::cli::psk_add(&at.dir, &id, hex.as_deref(), file.as_deref())))
            }
            PskCommand::Remove { at, id } => report(at.json, s(mlsx_app::cli::psk_remove(&at.dir, &id))),
            PskCommand::List { at } => report(at.json, s(mlsx_app::cli::psk_list(&at.dir))),
        },
        Command::Send {
            at,
            group,
            text,
            aad,
            media_type,
            out,
        } => report(
            at.json,
            s(mlsx_app::cli::send(
                &at.dir,
                &group,
                &text,
                media_type.as_deref(),
                &aad,
                out.as_deref(),
            )),
        ),
        Command::Receive {
            at,
            wait,
            file,
            group,
            out,
        } => {
            // Shown as it comes: each report is printed before the store
            // forgets it.
            let mut display = |r: &mlsx_app::cli::Report| Ok(print_report(at.json, r)?);
            let done = mlsx_app::cli::receive(&at.dir, wait, file.as_deref(), group.as_deref(), out.as_deref(), &mut display);
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => report(at.json, Err(e.to_string())),
            }
        }
        Command::Ds {
            db,
            listen,
            rate,
            max_body,
            anonymous_rate,
            private_handshakes,
            reuse_port,
            tls_cert,
            tls_key,
        } => {
            let limits = mlsx_app::ds::Limits {
                requests_per_second: rate,
                anonymous_requests_per_second: anonymous_rate,
                max_body,
                private_handshakes,
                ..mlsx_app::ds::Limits::default()
            };
            if let mlsx_app::ds::Database::Sqlite(path) = &db
                && let Some(mode) = mlsx_app::store::wider_than_private(path)
            {
                eprintln!(
                    "mlsx ds: warning: {} is open to other users (mode {mode:o}); it holds token hashes and the group log: chmod 600 it",
                    path.display()
                );
            }
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => match mlsx_app::ds::tls_config(&cert, &key) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        eprintln!("mlsx ds: {e}");
                        return ExitCode::from(1);
                    }
                },
                _ => None,
            };
            match run_ds(&db, (&listen, reuse_port), limits, tls) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mlsx ds: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Simulate {
            members,
            epochs,
            workload,
            messages,
            sample,
            full_every,
            suites: Suites { t_suite, pq_suite, mode },
            out,
            json,
        } => {
            let workload = mlsx_app::simulate::Workload::from_name(&workload)
                .ok_or_else(|| format!("unknown workload {workload:?} (updates, churn, messages or mixed)"));
            let options = workload
                .and_then(|w| pq_suites(&pq_suite).map(|s| (w, s)))
                .and_then(|(workload, s)| match (s.as_slice(), mode) {
                    ([pq], 0 | 1) => Ok(mlsx_app::simulate::SimulateOptions {
                        members: members.first().copied().unwrap_or(10),
                        epochs,
                        workload,
                        messages,
                        sample,
                        full_every,
                        t_suite,
                        pq_suite: *pq,
                        mode: if mode == 0 {
                            mlsx_combiner::Mode::ConfidentialityOnly
                        } else {
                            mlsx_combiner::Mode::ConfidentialityAndAuthenticity
                        },
                    }),
                    _ => Err("give one PQ suite and mode 0 or 1".to_string()),
                });
            let run = |o| match members.as_slice() {
                [_] => simulate(o, &out, json),
                sizes => simulate_sweep(o, sizes, &out, json),
            };
            match options.map_err(Into::into).and_then(run) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mlsx: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::BenchReport { dir } => match mlsx_app::bench::read_rows(&dir) {
            Ok(rows) if !rows.is_empty() => {
                print!("{}", mlsx_app::bench::markdown(&rows));
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!(
                    "mlsx: no peers/* results in {} (run cargo bench -p mlsx-base --bench peers)",
                    dir.display()
                );
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("mlsx: {e}");
                ExitCode::from(2)
            }
        },
        Command::Vectors {
            command:
                VectorsCommand::Generate {
                    suite,
                    pq_profile,
                    set,
                    out,
                },
        } => {
            let made = Profile::by_name(&pq_profile).map_err(|e| e.to_string()).and_then(|profile| {
                let provider = PqProvider::new(profile);
                pq_suites(&suite)?
                    .into_iter()
                    .map(|s| {
                        provider
                            .code_point(s)
                            .and_then(|c| provider.cipher_suite_provider(c))
                            .ok_or_else(|| format!("{s:?} has no code point in profile {pq_profile}"))
                    })
                    .collect::<Result<Vec<Arc<dyn CipherSuiteProvider>>, String>>()
            });
            let result = made.map_err(Into::into).and_then(|pq| match set.as_str() {
                "pq" => {
                    let out = out.unwrap_or_else(|| PathBuf::from("test-vectors/pq"));
                    mlsx_app::generate_vectors(&pq, &out, &mut std::io::stdout())
                }
                "extensions" => {
                    let out = out.unwrap_or_else(|| PathBuf::from("test-vectors/extensions"));
                    let rc = RustCryptoProvider::new();
                    let mut suites: Vec<Arc<dyn CipherSuiteProvider>> = (1..=7)
                        .filter_map(|c| rc.cipher_suite_provider(mlsx_base::codec::CipherSuite(c)))
                        .collect();
                    suites.extend(pq);
                    mlsx_app::generate_extension_vectors(&suites, &out, &mut std::io::stdout())
                }
                "combiner" => {
                    let out = out.unwrap_or_else(|| PathBuf::from("test-vectors/combiner"));
                    let rc = RustCryptoProvider::new();
                    let pure: Vec<Arc<dyn CipherSuiteProvider>> =
                        [PqSuite::Tbd6, PqSuite::Tbd7, PqSuite::Tbd8, PqSuite::Tbd10, PqSuite::Tbd11]
                            .into_iter()
                            .filter_map(|s| s.provider().ok())
                            .collect();
                    let pairs: Vec<_> = (1..=7)
                        .filter_map(|c| rc.cipher_suite_provider(mlsx_base::codec::CipherSuite(c)))
                        .flat_map(|t| pure.iter().map(move |pq| (t.clone(), pq.clone())))
                        // apq_psk needs Nh_T <= Nh_PQ (drafts/combiner.md).
                        .filter(|(t, pq)| t.hash_len() <= pq.hash_len())
                        .collect();
                    mlsx_app::generate_combiner_vectors(&pairs, &out, &mut std::io::stdout())
                }
                other => Err(format!("unknown vector set {other:?} (use pq, extensions or combiner)").into()),
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mlsx: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Vectors {
            command: VectorsCommand::Verify { paths, pq_profile },
        } => {
            let profile = match Profile::by_name(&pq_profile) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("mlsx: {e} (profiles: {})", Profile::PRESETS.join(", "));
                    return ExitCode::from(2);
                }
            };
            let provider = CryptoProviders::new()
                .with(Arc::new(RustCryptoProvider::new()))
                .with(Arc::new(PqProvider::new(profile)));
            let mut stdout = std::io::stdout();
            match mlsx_app::verify_vectors(&paths, &provider, &mut stdout) {
                Ok(t) if t.failed == 0 => ExitCode::SUCCESS,
                Ok(_) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("mlsx: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
