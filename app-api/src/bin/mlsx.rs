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
        /// Output folder.
        #[arg(long, default_value = "test-vectors/pq")]
        out: PathBuf,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
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
            command: VectorsCommand::Generate { suite, pq_profile, out },
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
            let result = made
                .map_err(Into::into)
                .and_then(|suites| mlsx_app::generate_vectors(&suites, &out, &mut std::io::stdout()));
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
