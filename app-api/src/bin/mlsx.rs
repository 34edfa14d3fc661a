//! `mlsx`: the mlsx command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::sync::Arc;

use mlsx_base::crypto::CryptoProviders;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_pq_suites::{PqProvider, Profile};

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
    /// Check vector files against the engine. With no path, reads
    /// $MLS_TEST_VECTORS (default ../shared/test-vectors).
    Verify {
        /// Vector files or folders; the kind of each file is taken from its
        /// name (and folder, for the PQ known-answer files).
        paths: Vec<PathBuf>,
        /// The PQ profile for PQ suites in MLS-level vector files: `draft`
        /// (the default) or `openmls-compat`.
        #[arg(long, default_value = "draft")]
        pq_profile: String,
    },
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
