//! `mlsx`: the mlsx command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

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
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Check vector files against the engine. With no path, reads
    /// $MLS_TEST_VECTORS (default ../shared/test-vectors).
    Verify {
        /// Vector files or folders; the kind of each file is taken from its name.
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Vectors {
            command: VectorsCommand::Verify { paths },
        } => {
            let mut stdout = std::io::stdout();
            match mlsx_app::verify_vectors(&paths, &RustCryptoProvider::new(), &mut stdout) {
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
