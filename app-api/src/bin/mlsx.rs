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
        /// Members of every group.
        #[arg(long, default_value_t = 10)]
        members: usize,
        /// Epochs measured (one commit each, by members in turn).
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        /// FULL commit periods: the first is the chosen one, the rest a
        /// sweep (`--full-every 10` for no sweep).
        #[arg(long, default_value = "10,1,5,50", value_delimiter = ',')]
        full_every: Vec<u32>,
        /// The traditional suite (RFC 9420 code point, 1-7).
        #[arg(long, default_value_t = 1)]
        t_suite: u16,
        /// The PQ suite (tbd6, tbd7, tbd8, tbd10, tbd11: pure ML-KEM).
        #[arg(long, default_value = "tbd6")]
        pq_suite: String,
        /// 0: PQ confidentiality; 1: and PQ authenticity (needs ML-DSA).
        #[arg(long, default_value_t = 0)]
        mode: u8,
        /// Where to write simulate.csv and simulate.svg.
        #[arg(long, default_value = "target/simulate")]
        out: PathBuf,
        /// Print one JSON object instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Prints the side-by-side benchmark (`cargo bench --bench peers`) as a
    /// Markdown table of medians and mlsx / fastest-peer ratios.
    BenchReport {
        /// Criterion's output folder.
        #[arg(default_value = "target/criterion")]
        dir: PathBuf,
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

fn simulate(o: mlsx_app::simulate::SimulateOptions, out: &std::path::Path, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let steps = (o.epochs * (2 + o.full_every.len())) as u64;
    let bar = if json {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(steps)
    };
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} epochs {elapsed}")?);
    let report = mlsx_app::simulate::run(&o, &|| bar.inc(1))?;
    bar.finish_and_clear();
    std::fs::create_dir_all(out)?;
    let (csv, svg) = (out.join("simulate.csv"), out.join("simulate.svg"));
    report.write_csv(&csv)?;
    report.write_svg(&svg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report.to_json())?);
    } else {
        report.write_text(&mut std::io::stdout())?;
        println!(
            "
wrote {} and {}",
            csv.display(),
            svg.display()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Simulate {
            members,
            epochs,
            full_every,
            t_suite,
            pq_suite,
            mode,
            out,
            json,
        } => {
            let options = pq_suites(&pq_suite).and_then(|s| match (s.as_slice(), mode) {
                ([pq], 0 | 1) => Ok(mlsx_app::simulate::SimulateOptions {
                    members,
                    epochs,
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
            match options.map_err(Into::into).and_then(|o| simulate(o, &out, json)) {
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
