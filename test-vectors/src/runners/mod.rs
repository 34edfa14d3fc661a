//! One module per vector file kind. A runner parses the file into typed
//! cases and records each case in the [`Report`]; adding a kind means a
//! new module and a line in [`FileKind`].

mod app_content;
mod combiner;
mod crypto_basics;
mod deserialization;
mod extensions;
mod generate;
mod key_schedule;
mod message_protection;
mod messages;
mod passive_client;
pub use passive_client::{ObserverReport, observe as observe_passive_client};
mod pq;
mod psk_secret;
mod secret_tree;
mod targeted;
mod transcript_hashes;
mod tree_math;
mod tree_operations;
mod tree_validation;
mod treekem;
mod welcome;

use std::sync::Arc;

use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};

use crate::Report;

pub use extensions::{EXTENSION_FILES, generate_extension_file};

/// A (T, PQ) pair of suite providers for the combiner's vectors.
pub type SuitePair = (Arc<dyn CipherSuiteProvider>, Arc<dyn CipherSuiteProvider>);

/// The combiner vector file `key-schedule.json` for these (T, PQ) suite
/// pairs, as pretty JSON.
pub fn generate_combiner_key_schedule(pairs: &[SuitePair]) -> Result<String, String> {
    combiner::key_schedule_generate(pairs)
}

pub use combiner::SuitePairMode;

/// The combiner vector file `passive-client.json`: a 50-epoch hybrid
/// scenario per (T, PQ, mode), as pretty JSON.
pub fn generate_combiner_passive(setups: &[SuitePairMode]) -> Result<String, String> {
    combiner::passive_generate(setups)
}
pub use generate::{GENERATED_KINDS, generate, generated_file_name};

/// The kinds of vector file, named as in mlswg/mls-implementations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// `tree-math.json`.
    TreeMath,
    /// `crypto-basics.json`.
    CryptoBasics,
    /// `secret-tree.json`.
    SecretTree,
    /// `message-protection.json`.
    MessageProtection,
    /// `key-schedule.json`.
    KeySchedule,
    /// `psk_secret.json`.
    PskSecret,
    /// `transcript-hashes.json`.
    TranscriptHashes,
    /// `welcome.json`.
    Welcome,
    /// `tree-operations.json`.
    TreeOperations,
    /// `tree-validation.json`.
    TreeValidation,
    /// `treekem.json`.
    TreeKem,
    /// `messages.json`.
    Messages,
    /// `deserialization.json`.
    Deserialization,
    /// `passive-client-*.json`.
    PassiveClient,
    /// `x-wing/test-vectors.json`: the X-Wing KEM.
    XWing,
    /// `hpke-pq/test-vectors.json`: HPKE with ML-KEM and the hybrid KEMs.
    HpkePq,
    /// `ml-kem/acvp/key-gen.json`.
    MlKemAcvpKeyGen,
    /// `ml-kem/acvp/encap-decap.json`.
    MlKemAcvpEncapDecap,
    /// `mlkem_*_test.json` and `mlkem_*_encaps_test.json` (Wycheproof).
    MlKemWycheproof,
    /// `ml-dsa/acvp/key-gen.json`.
    MlDsaAcvpKeyGen,
    /// `mldsa_*_sign_seed_test.json` (Wycheproof).
    MlDsaWycheproofSign,
    /// `mldsa_*_verify_test.json` (Wycheproof).
    MlDsaWycheproofVerify,
    /// `extensions/exporter-tree.json`: the Exporter Tree (mlsx's own).
    ExporterTree,
    /// `extensions/safe-crypto.json`: SafeEncrypt/SafeSign (mlsx's own).
    SafeCrypto,
    /// `extensions/safe-aad.json`: SafeAAD encoding (mlsx's own).
    SafeAad,
    /// `extensions/safe-aad-message.json`: messages framed with SafeAAD
    /// (mlsx's own).
    SafeAadMessage,
    /// `extensions/app-data-update.json`: AppDataUpdate (mlsx's own).
    AppDataUpdate,
    /// `extensions/application-psk.json`: application PSKs (mlsx's own).
    ApplicationPsk,
    /// `extensions/app-ack.json`: AppAck encodings (mlsx's own).
    AppAck,
    /// `extensions/content-framing.json`: media types and ApplicationFraming
    /// (mlsx's own).
    ContentFraming,
    /// `extensions/multi-credential.json`: credential bindings (mlsx's
    /// own).
    MultiCredential,
    /// `extensions/targeted-messages.json`: the vectors of
    /// draft-ietf-mls-targeted-messages's appendix.
    TargetedMessages,
    /// `combiner/key-schedule.json`: a FULL commit's link from the PQ
    /// epoch to the T epoch (mlsx's own).
    CombinerKeySchedule,
    /// `combiner/passive-client.json`: a passive member of a hybrid
    /// session (mlsx's own).
    CombinerPassiveClient,
}

impl FileKind {
    /// The kind named by a file name, if any.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(".json")?;
        Some(match stem {
            "tree-math" => Self::TreeMath,
            "crypto-basics" => Self::CryptoBasics,
            "secret-tree" => Self::SecretTree,
            "message-protection" => Self::MessageProtection,
            "key-schedule" => Self::KeySchedule,
            "psk_secret" => Self::PskSecret,
            "transcript-hashes" => Self::TranscriptHashes,
            "welcome" => Self::Welcome,
            "tree-operations" => Self::TreeOperations,
            "tree-validation" => Self::TreeValidation,
            "treekem" => Self::TreeKem,
            "messages" => Self::Messages,
            "deserialization" => Self::Deserialization,
            s if s.starts_with("passive-client-") => Self::PassiveClient,
            _ => return None,
        })
    }

    /// The official file name of the kind, where it has one.
    pub fn file_name(self) -> Option<&'static str> {
        Some(match self {
            Self::TreeMath => "tree-math.json",
            Self::CryptoBasics => "crypto-basics.json",
            Self::SecretTree => "secret-tree.json",
            Self::MessageProtection => "message-protection.json",
            Self::KeySchedule => "key-schedule.json",
            Self::PskSecret => "psk_secret.json",
            Self::TranscriptHashes => "transcript-hashes.json",
            Self::Welcome => "welcome.json",
            Self::TreeOperations => "tree-operations.json",
            Self::TreeValidation => "tree-validation.json",
            Self::TreeKem => "treekem.json",
            Self::Messages => "messages.json",
            Self::Deserialization => "deserialization.json",
            _ => return None,
        })
    }

    /// The kind of a file, from its name and, for the PQ known-answer files
    /// whose names are shared (`test-vectors.json`, `key-gen.json`), from
    /// the folders above it.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let parent = |n: usize| {
            path.ancestors()
                .nth(n)
                .and_then(|p| p.file_name())
                .and_then(|p| p.to_str())
                .unwrap_or_default()
        };
        Some(match (parent(2), parent(1), name) {
            (_, "x-wing", "test-vectors.json") => Self::XWing,
            (_, "hpke-pq", "test-vectors.json") => Self::HpkePq,
            (_, "extensions", "exporter-tree.json") => Self::ExporterTree,
            (_, "extensions", "safe-crypto.json") => Self::SafeCrypto,
            (_, "extensions", "safe-aad.json") => Self::SafeAad,
            (_, "extensions", "safe-aad-message.json") => Self::SafeAadMessage,
            (_, "extensions", "app-data-update.json") => Self::AppDataUpdate,
            (_, "extensions", "application-psk.json") => Self::ApplicationPsk,
            (_, "extensions", "targeted-messages.json") => Self::TargetedMessages,
            (_, "extensions", "app-ack.json") => Self::AppAck,
            (_, "extensions", "multi-credential.json") => Self::MultiCredential,
            (_, "extensions", "content-framing.json") => Self::ContentFraming,
            (_, "combiner", "key-schedule.json") => Self::CombinerKeySchedule,
            (_, "combiner", "passive-client.json") => Self::CombinerPassiveClient,
            ("ml-kem", "acvp", "key-gen.json") => Self::MlKemAcvpKeyGen,
            ("ml-kem", "acvp", "encap-decap.json") => Self::MlKemAcvpEncapDecap,
            ("ml-dsa", "acvp", "key-gen.json") => Self::MlDsaAcvpKeyGen,
            (_, _, n) if n.starts_with("mlkem_") && n.ends_with("_test.json") => Self::MlKemWycheproof,
            (_, _, n) if n.starts_with("mldsa_") && n.ends_with("_sign_seed_test.json") => Self::MlDsaWycheproofSign,
            (_, _, n) if n.starts_with("mldsa_") && n.ends_with("_verify_test.json") => Self::MlDsaWycheproofVerify,
            _ => return Self::from_file_name(name),
        })
    }

    /// Runs a file of this kind.
    pub fn run(self, json: &str, provider: &dyn CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
        match self {
            Self::TreeMath => tree_math::run(json, report),
            Self::Deserialization => deserialization::run(json, report),
            Self::Messages => messages::run(json, report),
            Self::CryptoBasics => crypto_basics::run(json, provider, report),
            Self::SecretTree => secret_tree::run(json, provider, report),
            Self::MessageProtection => message_protection::run(json, provider, report),
            Self::KeySchedule => key_schedule::run(json, provider, report),
            Self::PskSecret => psk_secret::run(json, provider, report),
            Self::TranscriptHashes => transcript_hashes::run(json, provider, report),
            Self::Welcome => welcome::run(json, provider, report),
            Self::TreeOperations => tree_operations::run(json, provider, report),
            Self::TreeValidation => tree_validation::run(json, provider, report),
            Self::TreeKem => treekem::run(json, provider, report),
            Self::PassiveClient => passive_client::run(json, provider, report),
            Self::XWing => on_every_backend(report, |r, b| pq::xwing(json, r, b)),
            Self::HpkePq => on_every_backend(report, |r, b| pq::hpke_pq(json, r, b)),
            Self::MlKemAcvpKeyGen => on_every_backend(report, |r, b| pq::ml_kem_acvp_keygen(json, r, b)),
            Self::MlKemAcvpEncapDecap => on_every_backend(report, |r, b| pq::ml_kem_acvp_encap_decap(json, r, b)),
            Self::MlKemWycheproof => on_every_backend(report, |r, b| pq::ml_kem_wycheproof(json, r, b)),
            Self::MlDsaAcvpKeyGen => on_every_backend(report, |r, b| pq::ml_dsa_acvp_keygen(json, r, b)),
            Self::MlDsaWycheproofSign => on_every_backend(report, |r, b| pq::ml_dsa_wycheproof_sign(json, r, b)),
            Self::MlDsaWycheproofVerify => on_every_backend(report, |r, b| pq::ml_dsa_wycheproof_verify(json, r, b)),
            Self::ExporterTree => extensions::exporter_run(json, provider, report),
            Self::SafeCrypto => extensions::safe_crypto_run(json, provider, report),
            Self::SafeAad => run_cases(json, report, extensions::safe_aad_check),
            Self::SafeAadMessage => extensions::safe_aad_message_run(json, provider, report),
            Self::AppDataUpdate => extensions::app_data_update_run(json, provider, report),
            Self::ApplicationPsk => extensions::app_psk_run(json, provider, report),
            Self::TargetedMessages => targeted::run(json, provider, report),
            Self::AppAck => run_cases(json, report, app_content::app_ack_check),
            Self::MultiCredential => app_content::multi_run(json, provider, report),
            Self::ContentFraming => run_cases(json, report, app_content::content_check),
            Self::CombinerKeySchedule => combiner::key_schedule_run(json, provider, report),
            Self::CombinerPassiveClient => combiner::passive_run(json, provider, report),
        }
    }
}

/// Runs the cases of a suite-independent file: decodes the array and
/// records each case's check.
pub(crate) fn run_cases<C: serde::de::DeserializeOwned>(
    json: &str,
    report: &mut Report,
    check_case: impl Fn(&C) -> Result<(), String>,
) -> Result<(), serde_json::Error> {
    let cases: Vec<C> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        report.record(i, check_case(c));
    }
    Ok(())
}

/// Runs the cases of a file whose cases each name a cipher suite: decodes
/// the array, skips cases of suites the provider lacks, records the rest.
pub(crate) fn run_per_suite<C: serde::de::DeserializeOwned>(
    json: &str,
    provider: &dyn CryptoProvider,
    report: &mut Report,
    suite_of: impl Fn(&C) -> u16,
    check_case: impl Fn(Arc<dyn CipherSuiteProvider>, &C) -> Result<(), String>,
) -> Result<(), serde_json::Error> {
    let cases: Vec<C> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        if let Some(cs) = suite(provider, suite_of(c), i, report) {
            report.record(i, check_case(cs, c));
        }
    }
    Ok(())
}

/// Decodes a TLS value that must use all of `bytes`, naming it in the error.
pub(crate) fn decode<T: tls_codec::DeserializeBytes>(what: &str, bytes: &[u8]) -> Result<T, String> {
    T::tls_deserialize_exact_bytes(bytes).map_err(|e| format!("{what}: decode: {e:?}"))
}

/// The provider for a case's suite, or a recorded skip.
pub(crate) fn suite(
    provider: &dyn CryptoProvider,
    cipher_suite: u16,
    index: usize,
    report: &mut Report,
) -> Option<Arc<dyn CipherSuiteProvider>> {
    let cs = provider.cipher_suite_provider(CipherSuite(cipher_suite));
    if cs.is_none() {
        report.skip(index, format!("suite {cipher_suite:#06x} unsupported by the provider"));
    }
    cs
}

/// `Ok` if equal, else a message naming the field with both values in hex.
pub(crate) fn check(name: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{name}: got {}, want {}", hex::encode(got), hex::encode(want)))
    }
}

/// Turns any displayable error into a case failure message with context.
pub(crate) fn ctx<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e}")
}

/// Runs a PQ known-answer file on every backend of `mlsx-pq-suites`
/// compiled in (RustCrypto, and libcrux with its feature): each case counts
/// once per backend, and a failure names its backend.
fn on_every_backend(
    report: &mut Report,
    mut run: impl FnMut(&mut Report, mlsx_pq_suites::Backend) -> Result<(), serde_json::Error>,
) -> Result<(), serde_json::Error> {
    for (i, backend) in mlsx_pq_suites::Backend::available().iter().enumerate() {
        let mut r = Report::new(report.file.clone());
        run(&mut r, *backend)?;
        report.passed += r.passed;
        report.failures.extend(r.failures.into_iter().map(|f| format!("[{backend}] {f}")));
        if i == 0 {
            report.skipped.extend(r.skipped);
        }
    }
    Ok(())
}
