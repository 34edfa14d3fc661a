//! Who is who: the binding of client names to signature keys, the
//! Authentication Service of RFC 9420 §5.3.1 and RFC 9750 §4 that the
//! delivery service also runs.
//!
//! - A client registers each signature key it signs with, one per cipher
//!   suite, with a *proof of possession*: a signature by that key over
//!   its name, suite and the key itself ([`KEY_PROOF_LABEL`]).
//! - A new key for a suite (rotation) or for a suite the client had no key
//!   in is *authorized* by a signature of the same content by a key the
//!   name already holds ([`KEY_AUTHORIZATION_LABEL`]): for a rotation, the
//!   suite's current key. A rotated-out key stays bound to the name (the
//!   member's leaves in its groups still carry it) but new KeyPackages must
//!   use the current one. Revocation is not offered.
//! - Every credential a client meets (a group's creator, an Add, an
//!   Update, a commit's new leaf, an external joiner, every leaf of a tree
//!   it joins) goes through a [`DirectoryValidator`], mls-base's
//!   credential-validator hook: the leaf's signature key must be bound to
//!   the name in its basic credential for the group's suite. The delivery
//!   service checks the same for the groups it follows, and for the
//!   KeyPackages it hands out.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use mlsx_base::codec::{CipherSuite, Credential, VLBytes, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider as _, LabeledCrypto as _, SignaturePrivateKey};
use mlsx_base::group::{CredentialValidator, LeafError};

use crate::error::{Error, Result};

/// The label of a key's proof of possession (signed by the key itself;
/// "MLS 1.0 " is prefixed as for every SignWithLabel, RFC 9420 §5.1.2).
pub const KEY_PROOF_LABEL: &[u8] = b"mlsx directory key";

/// The label of a new key's authorization (signed by a key the name
/// already holds).
pub const KEY_AUTHORIZATION_LABEL: &[u8] = b"mlsx directory authorization";

/// Longest name a directory binds, bytes.
pub const MAX_NAME: usize = 255;

/// What the proof and the authorization of a key sign: the name, the
/// suite and the key (each length-prefixed as in MLS).
pub fn key_content(name: &str, suite: u16, signature_key: &[u8]) -> Result<Vec<u8>> {
    let mut out = encode(&VLBytes::new(name.as_bytes().to_vec()))?;
    out.extend_from_slice(&suite.to_be_bytes());
    out.extend_from_slice(&encode(&VLBytes::new(signature_key.to_vec()))?);
    Ok(out)
}

/// The provider of a cipher suite, traditional or PQ, by code point.
pub fn provider(suite: u16) -> Option<Arc<dyn CipherSuiteProvider>> {
    let suite = CipherSuite(suite);
    RustCryptoProvider::new()
        .cipher_suite_provider(suite)
        .or_else(|| mlsx_pq_suites::PqProvider::default().cipher_suite_provider(suite))
}

/// Signs `name`'s `signature_key` for `suite` under `label` with `signer`.
pub fn sign_key(
    cs: &dyn CipherSuiteProvider,
    signer: &SignaturePrivateKey,
    label: &[u8],
    name: &str,
    signature_key: &[u8],
) -> Result<Vec<u8>> {
    sign_key_of(cs, signer, label, (name, cs.cipher_suite().0, signature_key))
}

/// Signs `name`'s `signature_key` for `suite` (another suite than the
/// signer's in an authorization) under `label` with `signer`.
pub(crate) fn sign_key_of(
    cs: &dyn CipherSuiteProvider,
    signer: &SignaturePrivateKey,
    label: &[u8],
    (name, suite, signature_key): (&str, u16, &[u8]),
) -> Result<Vec<u8>> {
    let content = key_content(name, suite, signature_key)?;
    Ok(cs.sign_with_label(signer, label, &content)?)
}

/// Checks a signature over `name`'s `signature_key` for `suite`, made by
/// `signer_key` of `signer_suite` under `label`.
pub fn verify_key(
    (signer_suite, signer_key): (u16, &[u8]),
    label: &[u8],
    (name, suite, signature_key): (&str, u16, &[u8]),
    signature: &[u8],
) -> Result<()> {
    let cs = provider(signer_suite).ok_or_else(|| Error::Config(format!("unsupported suite {signer_suite:#06x}")))?;
    let content = key_content(name, suite, signature_key)?;
    Ok(cs.verify_with_label(signer_key, label, &content, signature)?)
}

/// Where a [`DirectoryValidator`] looks names up.
pub trait KeyDirectory: Send + Sync + std::fmt::Debug {
    /// Whether `signature_key` is bound to `name` for `suite`: `Ok(false)`
    /// if not (or the name is unknown), an error if the directory could
    /// not be asked (which must not be taken for a refusal).
    fn is_bound(&self, name: &str, suite: u16, signature_key: &[u8]) -> std::result::Result<bool, String>;

    /// The last failure to ask, if any, cleared: a message refused while
    /// the directory could not be asked was not refused for what it is,
    /// and must be read again later rather than skipped.
    fn take_fault(&self) -> Option<String> {
        None
    }
}

/// The credential validator of clients that know a directory: a basic
/// credential is accepted only with a signature key bound to its name for
/// the group's suite; other credential types are refused (this
/// application's clients use basic credentials).
#[derive(Debug, Clone)]
pub struct DirectoryValidator {
    suite: u16,
    directory: Arc<dyn KeyDirectory>,
}

impl DirectoryValidator {
    /// The validator of groups in `suite` (a code point).
    pub fn new(suite: u16, directory: Arc<dyn KeyDirectory>) -> Self {
        Self { suite, directory }
    }
}

impl CredentialValidator for DirectoryValidator {
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> std::result::Result<(), mlsx_base::Error> {
        let rejected = |why| Err(mlsx_base::PeerError::InvalidLeaf(LeafError::CredentialRejected(why)).into());
        let Credential::Basic(identity) = credential else {
            return Err(mlsx_base::PeerError::InvalidLeaf(LeafError::UnsupportedCredential(credential.credential_type())).into());
        };
        let Ok(name) = std::str::from_utf8(identity.as_slice()) else {
            return rejected("a name that is not UTF-8");
        };
        match self.directory.is_bound(name, self.suite, signature_key) {
            Ok(true) => Ok(()),
            Ok(false) => rejected("the signature key is not registered for this name"),
            Err(_) => rejected("the directory could not be asked"),
        }
    }
}

/// One key of a directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundKey {
    /// The suite (a code point; 0 for a key registered before the
    /// directory recorded suites, which counts for every suite).
    pub suite: u16,
    /// The signature public key.
    pub signature_key: Vec<u8>,
    /// Whether new KeyPackages may use it (not rotated out).
    pub current: bool,
}

/// Questions a [`CachedDirectory`] remembers having asked.
const MAX_QUESTIONS: usize = 4096;

/// Looks a name's keys up: `Ok(None)` for an unknown name.
pub type Lookup = dyn Fn(&str) -> Result<Option<Vec<BoundKey>>> + Send + Sync;

/// A client's view of the service's directory: answers from a cache,
/// asking the service (through `lookup`) when the cached keys of a name do
/// not bind the key (a name not asked about yet, or a key rotated in
/// since), at most once per name, suite and key in this process. A failure to ask is remembered ([`Self::take_fault`])
/// so that the caller tells it from a refusal
/// ([`KeyDirectory::take_fault`]).
pub struct CachedDirectory {
    lookup: Box<Lookup>,
    cache: Mutex<HashMap<String, Vec<BoundKey>>>,
    asked: Mutex<HashSet<(String, u16, Vec<u8>)>>,
    fault: Mutex<Option<String>>,
}

impl std::fmt::Debug for CachedDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDirectory").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether `keys` bind `signature_key` for `suite`.
pub fn binds(keys: &[BoundKey], suite: u16, signature_key: &[u8]) -> bool {
    keys.iter()
        .any(|k| (k.suite == suite || k.suite == 0) && k.signature_key == signature_key)
}

impl CachedDirectory {
    /// A directory that asks `lookup`.
    pub fn new(lookup: Box<Lookup>) -> Self {
        Self {
            lookup,
            cache: Mutex::new(HashMap::new()),
            asked: Mutex::new(HashSet::new()),
            fault: Mutex::new(None),
        }
    }

    /// How many names the cache holds.
    pub fn cached(&self) -> usize {
        lock(&self.cache).len()
    }
}

impl KeyDirectory for CachedDirectory {
    fn is_bound(&self, name: &str, suite: u16, signature_key: &[u8]) -> std::result::Result<bool, String> {
        if lock(&self.cache).get(name).is_some_and(|keys| binds(keys, suite, signature_key)) {
            return Ok(true);
        }
        let question = (name.to_owned(), suite, signature_key.to_vec());
        {
            let mut asked = lock(&self.asked);
            // Bounded: past this many questions, forget them (and ask
            // again) rather than grow.
            if asked.len() >= MAX_QUESTIONS {
                asked.clear();
            }
            if !asked.insert(question.clone()) {
                return Ok(false);
            }
        }
        match (self.lookup)(name) {
            Ok(keys) => {
                let keys = keys.unwrap_or_default();
                let bound = binds(&keys, suite, signature_key);
                let mut cache = lock(&self.cache);
                if cache.len() >= MAX_QUESTIONS {
                    cache.clear();
                }
                cache.insert(name.to_owned(), keys);
                Ok(bound)
            }
            Err(e) => {
                // Ask again next time: this was no answer.
                lock(&self.asked).remove(&question);
                let e = e.to_string();
                *lock(&self.fault) = Some(e.clone());
                Err(e)
            }
        }
    }

    fn take_fault(&self) -> Option<String> {
        lock(&self.fault).take()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(suite: u16, k: u8) -> BoundKey {
        BoundKey {
            suite,
            signature_key: vec![k; 32],
            current: true,
        }
    }

    #[test]
    fn the_cache_asks_once_per_question() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let dir = CachedDirectory::new(Box::new(move |name: &str| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok((name == "alice").then(|| vec![key(1, 1)]))
        }));
        assert_eq!(dir.is_bound("alice", 1, &[1; 32]), Ok(true));
        assert_eq!(dir.is_bound("alice", 1, &[1; 32]), Ok(true));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Another suite, another key, an unknown name: refused, each
        // asked once (a key may have been rotated in since the last answer).
        for _ in 0..2 {
            assert_eq!(dir.is_bound("alice", 3, &[1; 32]), Ok(false));
            assert_eq!(dir.is_bound("alice", 1, &[2; 32]), Ok(false));
            assert_eq!(dir.is_bound("mallory", 1, &[1; 32]), Ok(false));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(dir.take_fault(), None);
    }

    #[test]
    fn a_failure_to_ask_is_a_fault_not_an_answer() {
        let up = Arc::new(AtomicUsize::new(0));
        let u = up.clone();
        let dir = CachedDirectory::new(Box::new(move |_: &str| {
            if u.load(Ordering::SeqCst) == 0 {
                Err(Error::Ds("down".into()))
            } else {
                Ok(Some(vec![key(0, 1)]))
            }
        }));
        assert!(dir.is_bound("alice", 1, &[1; 32]).is_err());
        assert!(dir.take_fault().is_some());
        up.store(1, Ordering::SeqCst);
        // A legacy key (suite 0) counts for every suite.
        assert_eq!(dir.is_bound("alice", 1, &[1; 32]), Ok(true));
        assert_eq!(dir.is_bound("alice", 7, &[1; 32]), Ok(true));
    }

    #[test]
    fn proofs_bind_name_suite_and_key() {
        let cs = provider(1).unwrap();
        let (sk, pk) = cs.signature_generate_key_pair().unwrap();
        let proof = sign_key(cs.as_ref(), &sk, KEY_PROOF_LABEL, "alice", &pk).unwrap();
        verify_key((1, &pk), KEY_PROOF_LABEL, ("alice", 1, &pk), &proof).unwrap();
        assert!(verify_key((1, &pk), KEY_PROOF_LABEL, ("alicf", 1, &pk), &proof).is_err());
        assert!(verify_key((1, &pk), KEY_PROOF_LABEL, ("alice", 3, &pk), &proof).is_err());
        assert!(verify_key((1, &pk), KEY_AUTHORIZATION_LABEL, ("alice", 1, &pk), &proof).is_err());
        let validator = DirectoryValidator::new(
            1,
            Arc::new(CachedDirectory::new(Box::new(move |_: &str| {
                Ok(Some(vec![BoundKey {
                    suite: 1,
                    signature_key: pk.clone(),
                    current: true,
                }]))
            }))),
        );
        let name = Credential::Basic(VLBytes::new(b"alice".to_vec()));
        assert!(validator.validate(&name, &cs.signature_generate_key_pair().unwrap().1).is_err());
    }
}
