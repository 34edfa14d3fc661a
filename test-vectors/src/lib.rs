//! Runners for the official RFC 9420 test vectors (mlswg/mls-implementations,
//! format in `test-vectors-format.md`) and, later, mlsx's own vectors.
//!
//! The official files are kept in this repository, byte for byte, in
//! `test-vectors/official/` (its README gives each file's source, commit and
//! licence); `$MLS_TEST_VECTORS` points the runners at another folder of the
//! same layout instead.
//!
//! ```no_run
//! use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
//! let reports = mlsx_test_vectors::run_path(&mlsx_test_vectors::vectors_dir(), &RustCryptoProvider::new())?;
//! for r in &reports {
//!     println!("{}", r.line());
//! }
//! # Ok::<(), mlsx_test_vectors::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod hex_serde;
pub mod runners;

use std::path::{Path, PathBuf};

use mlsx_base::crypto::CryptoProvider;

pub use hex_serde::Hex;
pub use runners::{
    EXTENSION_FILES, FileKind, GENERATED_KINDS, ObserverReport, SuitePair, SuitePairMode, generate, generate_combiner_key_schedule,
    generate_combiner_passive, generate_extension_file, generated_file_name, observe_passive_client,
};

/// Errors of the vector runner (not vector failures: those are in [`Report`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON of the expected shape.
    #[error("{path}: malformed vector file: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The file name does not name a known vector kind.
    #[error("{0}: unknown vector file (the kind is detected from the file name)")]
    UnknownKind(PathBuf),
}

/// The outcome of one vector file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The file name.
    pub file: String,
    /// Cases that passed.
    pub passed: usize,
    /// One message per failed case.
    pub failures: Vec<String>,
    /// One reason per skipped case.
    pub skipped: Vec<String>,
}

impl Report {
    /// An empty report for a file.
    pub fn new(file: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            ..Self::default()
        }
    }

    /// Records the result of case `index`.
    pub fn record(&mut self, index: usize, result: Result<(), String>) {
        match result {
            Ok(()) => self.passed += 1,
            Err(e) => self.failures.push(format!("case {index}: {e}")),
        }
    }

    /// Records a skipped case.
    pub fn skip(&mut self, index: usize, reason: impl std::fmt::Display) {
        self.skipped.push(format!("case {index}: {reason}"));
    }

    /// Number of failed cases.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// `crypto-basics.json: 7 passed, 0 failed` (plus `, K skipped`).
    pub fn line(&self) -> String {
        let mut s = format!("{}: {} passed, {} failed", self.file, self.passed, self.failed());
        if !self.skipped.is_empty() {
            s.push_str(&format!(", {} skipped", self.skipped.len()));
        }
        s
    }
}

/// Where the official vectors are: `$MLS_TEST_VECTORS` when set, else the
/// copies kept in this repository (`test-vectors/official/`). Nothing
/// outside the repository is looked at by default.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("MLS_TEST_VECTORS") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => official_dir(),
    }
}

/// The official and public vectors kept in this repository
/// (`test-vectors/official/`), whatever `$MLS_TEST_VECTORS` says.
pub fn official_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("official")
}

/// Vectors mlsx generated itself and keeps in this repository
/// (`test-vectors/generated/`): passive-client scenarios recorded from
/// mls-rs, and later vectors for what has no official ones.
pub fn generated_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("generated")
}

/// MLS-level vectors mlsx generated for the PQ suites
/// (`test-vectors/pq/`, written by `mlsx vectors generate`).
pub fn pq_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pq")
}

/// mlsx's vectors for draft-ietf-mls-extensions
/// (`test-vectors/extensions/`, written by `mlsx vectors generate --set
/// extensions`).
pub fn extensions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("extensions")
}

/// mlsx's vectors for draft-ietf-mls-combiner (`test-vectors/combiner/`,
/// written by `mlsx vectors generate --set combiner`).
pub fn combiner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("combiner")
}

/// Runs one file; its kind comes from its name (and folder, see
/// [`FileKind::from_path`]). The report names the file by its file name.
pub fn run_file(path: &Path, provider: &dyn CryptoProvider) -> Result<Report, Error> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    run_named(path, name, provider)
}

fn run_named(path: &Path, name: String, provider: &dyn CryptoProvider) -> Result<Report, Error> {
    let kind = FileKind::from_path(path).ok_or_else(|| Error::UnknownKind(path.to_path_buf()))?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut report = Report::new(name);
    kind.run(&text, provider, &mut report).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(report)
}

/// Runs a file, or every recognized `*.json` in a folder and its
/// subfolders (sorted by path), each report naming its file by the path
/// relative to `path` (`rfc9420/welcome.json`). Files whose kind is not
/// recognized (the Wycheproof schemas, for instance) are passed over.
pub fn run_path(path: &Path, provider: &dyn CryptoProvider) -> Result<Vec<Report>, Error> {
    if !path.is_dir() {
        return Ok(vec![run_file(path, provider)?]);
    }
    let mut files = Vec::new();
    collect_json(path, &mut files)?;
    files.retain(|p| FileKind::from_path(p).is_some());
    files.sort();
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(path).unwrap_or(f);
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            run_named(f, name, provider)
        })
        .collect()
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let p = entry.path();
        if p.is_dir() {
            collect_json(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    Ok(())
}
