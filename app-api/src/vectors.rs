//! `mlsx vectors verify|generate`: the vector runners over this
//! workspace's vector files (feature `vectors`).

use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_test_vectors::Report;

/// Totals over several vector files.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Cases passed.
    pub passed: usize,
    /// Cases failed.
    pub failed: usize,
    /// Cases skipped.
    pub skipped: usize,
}

/// The folders `mlsx vectors verify` checks when given none: the official
/// vectors ([`mlsx_test_vectors::vectors_dir`]: the repository's
/// `test-vectors/official/` unless `$MLS_TEST_VECTORS` says otherwise), the
/// scenarios we recorded from peers ([`mlsx_test_vectors::generated_dir`]),
/// our PQ-suite vectors ([`mlsx_test_vectors::pq_dir`]) and our
/// draft-ietf-mls-extensions vectors ([`mlsx_test_vectors::extensions_dir`]).
pub fn default_vector_folders() -> Vec<PathBuf> {
    vec![
        mlsx_test_vectors::vectors_dir(),
        mlsx_test_vectors::generated_dir(),
        mlsx_test_vectors::pq_dir(),
        mlsx_test_vectors::extensions_dir(),
        mlsx_test_vectors::combiner_dir(),
    ]
}

/// Runs `mlsx vectors verify` over `paths` (each a file or folder; none
/// means [`default_vector_folders`]) and writes the report to `out`: a
/// heading per path given, one line per file named by its path relative to
/// that folder, failures and grouped skip reasons indented below it, then
/// `vectors: N passed, M failed, K skipped`. A path that does not exist is
/// an error, not an empty pass.
///
/// ```no_run
/// use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
/// let totals = mlsx_app::verify_vectors(&[], &RustCryptoProvider::new(), &mut std::io::stdout())?;
/// assert_eq!(totals.failed, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_vectors(paths: &[PathBuf], provider: &dyn CryptoProvider, out: &mut dyn Write) -> Result<Totals, Box<dyn std::error::Error>> {
    let default = default_vector_folders();
    let paths: &[PathBuf] = if paths.is_empty() { &default } else { paths };
    let mut totals = Totals::default();
    for path in paths {
        if !Path::new(path).exists() {
            return Err(format!("{}: no such file or folder", display_path(path)).into());
        }
        let reports = mlsx_test_vectors::run_path(path, provider)?;
        if reports.is_empty() {
            return Err(format!("{}: no vector file recognized there", display_path(path)).into());
        }
        writeln!(out, "== {}", display_path(path))?;
        for report in reports {
            print_report(&report, out)?;
            totals.passed += report.passed;
            totals.failed += report.failed();
            totals.skipped += report.skipped.len();
        }
    }
    writeln!(
        out,
        "vectors: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.skipped
    )?;
    Ok(totals)
}

/// A path as the user would write it: relative to the current folder when
/// it lies below it, with `..` and `.` steps folded.
fn display_path(path: &Path) -> String {
    let mut clean = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir if clean.file_name().is_some() => {
                clean.pop();
            }
            std::path::Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| clean.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or(clean);
    rel.display().to_string()
}

/// Runs `mlsx vectors generate`: writes one file per kind in
/// [`mlsx_test_vectors::GENERATED_KINDS`] into `out_dir`, each with cases
/// for every suite in `suites`, and names each file written in `log`.
///
/// ```
/// use std::sync::Arc;
/// use mlsx_base::crypto::CryptoProvider;
/// use mlsx_pq_suites::{PqProvider, PqSuite};
///
/// let provider = PqProvider::default();
/// let code = provider.code_point(PqSuite::Tbd6).ok_or("unmapped")?;
/// let cs = provider.cipher_suite_provider(code).ok_or("no provider")?;
/// let dir = std::env::temp_dir().join(format!("mlsx-doc-{}", std::process::id()));
/// mlsx_app::generate_vectors(&[cs], &dir, &mut std::io::sink())?;
/// let totals = mlsx_app::verify_vectors(&[dir.clone()], &provider, &mut std::io::sink())?;
/// // crypto-basics 1, secret-tree 3, key-schedule 1, welcome 1, treekem 1,
/// // messages 1, passive-client 1.
/// assert_eq!((totals.passed, totals.failed), (9, 0));
/// std::fs::remove_dir_all(dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_vectors(
    suites: &[Arc<dyn CipherSuiteProvider>],
    out_dir: &Path,
    log: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out_dir)?;
    for kind in mlsx_test_vectors::GENERATED_KINDS {
        let name = mlsx_test_vectors::generated_file_name(kind).ok_or("kind without a file name")?;
        let json = mlsx_test_vectors::generate(kind, suites)?;
        let path = out_dir.join(name);
        std::fs::write(&path, json + "\n")?;
        writeln!(log, "wrote {}", path.display())?;
    }
    Ok(())
}

fn print_report(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}", report.line())?;
    for f in &report.failures {
        writeln!(out, "  FAILED {f}")?;
    }
    // Group skip reasons: "case 3: reason" -> count per reason.
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for s in &report.skipped {
        let reason = s.split_once(": ").map_or(s.as_str(), |(_, r)| r).to_string();
        match reasons.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => reasons.push((reason, 1)),
        }
    }
    for (reason, n) in reasons {
        writeln!(out, "  skipped {n}: {reason}")?;
    }
    Ok(())
}

/// Runs `mlsx vectors generate --set extensions`: writes the
/// draft-ietf-mls-extensions vector files
/// ([`mlsx_test_vectors::EXTENSION_FILES`]) into `out_dir`, each with cases
/// for every suite in `suites`, and names each file written in `log`.
///
/// ```
/// use std::sync::Arc;
/// use mlsx_base::codec::CipherSuite;
/// use mlsx_base::crypto::CryptoProvider;
/// use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
///
/// let provider = RustCryptoProvider::new();
/// let cs = provider.cipher_suite_provider(CipherSuite(1)).ok_or("suite 1")?;
/// // Files are recognized by their folder's name, `extensions`.
/// let root = std::env::temp_dir().join(format!("mlsx-doc-ext-{}", std::process::id()));
/// let dir = root.join("extensions");
/// mlsx_app::generate_extension_vectors(&[cs], &dir, &mut std::io::sink())?;
/// let totals = mlsx_app::verify_vectors(&[dir.clone()], &provider, &mut std::io::sink())?;
/// // exporter-tree 1, safe-crypto 1, safe-aad 8, safe-aad-message 1,
/// // app-data-update 6, application-psk 3, app-ack 8, content-framing 15,
/// // multi-credential 1.
/// assert_eq!((totals.passed, totals.failed), (44, 0));
/// std::fs::remove_dir_all(root)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_extension_vectors(
    suites: &[Arc<dyn CipherSuiteProvider>],
    out_dir: &Path,
    log: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out_dir)?;
    for name in mlsx_test_vectors::EXTENSION_FILES {
        let json = mlsx_test_vectors::generate_extension_file(name, suites)?;
        let path = out_dir.join(name);
        std::fs::write(&path, json + "\n")?;
        writeln!(log, "wrote {}", path.display())?;
    }
    Ok(())
}

/// Runs `mlsx vectors generate --set combiner`: writes the
/// draft-ietf-mls-combiner vector files into `out_dir`, `key-schedule.json`
/// for these (T, PQ) suite pairs and `passive-client.json` for the pairs
/// (0x0001, TBD6) in mode 0 and (0x0007, TBD11) in mode 1 when present, and
/// names them in `log`.
pub fn generate_combiner_vectors(
    pairs: &[mlsx_test_vectors::SuitePair],
    out_dir: &Path,
    log: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(out_dir)?;
    let path = out_dir.join("key-schedule.json");
    std::fs::write(&path, mlsx_test_vectors::generate_combiner_key_schedule(pairs)? + "\n")?;
    writeln!(log, "wrote {}", path.display())?;
    // The passive scenario in both modes: T 0x0001 with TBD6 (mode 0) and
    // T 0x0007 with TBD11 (mode 1).
    let find = |t: u16, pq: u16| {
        pairs
            .iter()
            .find(|(a, b)| a.cipher_suite().value() == t && b.cipher_suite() == pq_code(pq))
            .cloned()
    };
    let mut setups = vec![];
    if let Some((t, pq)) = find(1, 6) {
        setups.push((t, pq, mlsx_combiner::Mode::ConfidentialityOnly));
    }
    if let Some((t, pq)) = find(7, 11) {
        setups.push((t, pq, mlsx_combiner::Mode::ConfidentialityAndAuthenticity));
    }
    let path = out_dir.join("passive-client.json");
    std::fs::write(&path, mlsx_test_vectors::generate_combiner_passive(&setups)? + "\n")?;
    writeln!(log, "wrote {}", path.display())?;
    Ok(())
}

/// The code point of PQ suite TBD`n` in the default (draft) profile.
fn pq_code(n: u16) -> mlsx_base::codec::CipherSuite {
    mlsx_pq_suites::PqSuite::from_number(n)
        .and_then(|s| mlsx_pq_suites::PqProvider::default().code_point(s))
        .unwrap_or(mlsx_base::codec::CipherSuite(0))
}
