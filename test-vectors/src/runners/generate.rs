//! Generation of vector files in the official formats for suites that have
//! none (the PQ suites first): inputs come from a deterministic stream, the
//! outputs are what mlsx computes, and the same runners check the files.

use std::sync::Arc;

use mlsx_base::crypto::CipherSuiteProvider;

use super::{FileKind, crypto_basics, key_schedule, messages, passive_client, secret_tree, treekem, welcome};

/// Deterministic input bytes for one (file, suite): `Hash(seed || counter)`
/// blocks with the suite's own hash, seeded by the file and suite names.
/// Keys, signatures and HPKE encryptions still use fresh randomness, so a
/// regenerated file differs in those fields but checks the same way.
pub(crate) struct Inputs<'a> {
    cs: &'a dyn CipherSuiteProvider,
    seed: Vec<u8>,
    counter: u64,
}

impl<'a> Inputs<'a> {
    pub(crate) fn new(cs: &'a dyn CipherSuiteProvider, file: &str) -> Self {
        let mut seed = b"mlsx generated vectors/".to_vec();
        seed.extend_from_slice(file.as_bytes());
        seed.extend_from_slice(&cs.cipher_suite().value().to_be_bytes());
        Self { cs, seed, counter: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let mut block = self.seed.clone();
            block.extend_from_slice(&self.counter.to_be_bytes());
            self.counter += 1;
            // Hashing cannot fail for the suites' hashes; an error would
            // only shorten the stream, which the loop then refills.
            out.extend(self.cs.hash(&block).unwrap_or_default());
        }
        out.truncate(n);
        out
    }

    /// The next `u32`.
    pub(crate) fn u32(&mut self) -> u32 {
        let b = self.bytes(4);
        b.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x))
    }
}

/// The file kinds [`generate`] can write.
pub const GENERATED_KINDS: [FileKind; 7] = [
    FileKind::CryptoBasics,
    FileKind::SecretTree,
    FileKind::KeySchedule,
    FileKind::Welcome,
    FileKind::TreeKem,
    FileKind::Messages,
    FileKind::PassiveClient,
];

/// The name of the file [`generate`] writes for `kind`.
pub fn generated_file_name(kind: FileKind) -> Option<&'static str> {
    match kind {
        FileKind::PassiveClient => Some("passive-client-handling-commit.json"),
        other => other.file_name(),
    }
}

/// A vector file of `kind` with cases for each suite, as pretty JSON.
pub fn generate(kind: FileKind, suites: &[Arc<dyn CipherSuiteProvider>]) -> Result<String, String> {
    let name = generated_file_name(kind).ok_or("this kind has no single file name")?;
    let mut cases = Vec::new();
    for cs in suites {
        let mut inputs = Inputs::new(cs.as_ref(), name);
        let at = |e: String| format!("{name} for suite {:#06x}: {e}", cs.cipher_suite().value());
        match kind {
            FileKind::CryptoBasics => cases.push(crypto_basics::generate(cs.as_ref(), &mut inputs).map_err(at)?),
            FileKind::SecretTree => cases.extend(secret_tree::generate(cs.as_ref(), &mut inputs).map_err(at)?),
            FileKind::KeySchedule => cases.push(key_schedule::generate(cs.as_ref(), &mut inputs).map_err(at)?),
            FileKind::Welcome => cases.push(welcome::generate(cs).map_err(at)?),
            FileKind::TreeKem => cases.push(treekem::generate(cs.as_ref(), &mut inputs).map_err(at)?),
            FileKind::Messages => cases.push(messages::generate(cs, &mut inputs).map_err(at)?),
            FileKind::PassiveClient => cases.push(passive_client::generate(cs).map_err(at)?),
            other => return Err(format!("generating {other:?} files is not implemented")),
        }
    }
    serde_json::to_string_pretty(&cases).map_err(|e| e.to_string())
}
