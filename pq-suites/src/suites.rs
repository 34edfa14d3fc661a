//! The eleven suites of draft-ietf-mls-pq-ciphersuites-06 (§2, §3.1), the
//! run-time code-point tables and the profiles, and the
//! [`CryptoProvider`] that serves them.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlsx_base::codec::CipherSuite;
use mlsx_base::crypto::rustcrypto::{AeadAlg, ComposedSuite, HashAlg, SigAlg};
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, HpkeKem, SignatureScheme};

use crate::hybrid::HybridKem;
use crate::mldsa::{MlDsa, Signing};
use crate::mlkem::{KeyDerivation, MlKem};
use crate::{Backend, Error};

/// One suite of draft-ietf-mls-pq-ciphersuites-06, by its TBD number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PqSuite {
    /// MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519
    Tbd1,
    /// MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519
    Tbd2,
    /// MLS_128_MLKEM768P256_AES128GCM_SHA256_P256
    Tbd3,
    /// MLS_128_MLKEM768P256_AES256GCM_SHA384_P256
    Tbd4,
    /// MLS_192_MLKEM1024P384_AES256GCM_SHA384_P384
    Tbd5,
    /// MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519
    Tbd6,
    /// MLS_128_MLKEM768_AES256GCM_SHA384_P256
    Tbd7,
    /// MLS_192_MLKEM1024_AES256GCM_SHA384_P384
    Tbd8,
    /// MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44
    Tbd9,
    /// MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65
    Tbd10,
    /// MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87
    Tbd11,
}

/// The KEM of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PqKem {
    /// ML-KEM-768 (0x0041).
    MlKem768,
    /// ML-KEM-1024 (0x0042).
    MlKem1024,
    /// X-Wing = MLKEM768-X25519 (0x647a).
    XWing,
    /// MLKEM768-P256 (0x0050).
    MlKem768P256,
    /// MLKEM1024-P384 (0x0051).
    MlKem1024P384,
}

/// The signature scheme of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PqSignature {
    /// ed25519.
    Ed25519,
    /// ecdsa_secp256r1_sha256.
    EcdsaP256,
    /// ecdsa_secp384r1_sha384.
    EcdsaP384,
    /// mldsa44.
    MlDsa44,
    /// mldsa65.
    MlDsa65,
    /// mldsa87.
    MlDsa87,
}

impl PqSuite {
    /// All eleven, in TBD order.
    pub const ALL: [PqSuite; 11] = [
        Self::Tbd1,
        Self::Tbd2,
        Self::Tbd3,
        Self::Tbd4,
        Self::Tbd5,
        Self::Tbd6,
        Self::Tbd7,
        Self::Tbd8,
        Self::Tbd9,
        Self::Tbd10,
        Self::Tbd11,
    ];

    /// The TBD number, 1 to 11.
    pub fn number(self) -> u16 {
        match self {
            Self::Tbd1 => 1,
            Self::Tbd2 => 2,
            Self::Tbd3 => 3,
            Self::Tbd4 => 4,
            Self::Tbd5 => 5,
            Self::Tbd6 => 6,
            Self::Tbd7 => 7,
            Self::Tbd8 => 8,
            Self::Tbd9 => 9,
            Self::Tbd10 => 10,
            Self::Tbd11 => 11,
        }
    }

    /// The suite with TBD number `n`.
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.number() == n)
    }

    /// The name in the draft's table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tbd1 => "MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519",
            Self::Tbd2 => "MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519",
            Self::Tbd3 => "MLS_128_MLKEM768P256_AES128GCM_SHA256_P256",
            Self::Tbd4 => "MLS_128_MLKEM768P256_AES256GCM_SHA384_P256",
            Self::Tbd5 => "MLS_192_MLKEM1024P384_AES256GCM_SHA384_P384",
            Self::Tbd6 => "MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519",
            Self::Tbd7 => "MLS_128_MLKEM768_AES256GCM_SHA384_P256",
            Self::Tbd8 => "MLS_192_MLKEM1024_AES256GCM_SHA384_P384",
            Self::Tbd9 => "MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44",
            Self::Tbd10 => "MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65",
            Self::Tbd11 => "MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87",
        }
    }

    /// The suite's KEM, KDF hash, AEAD and signature (draft §3.1).
    pub fn components(self) -> (PqKem, HashAlg, AeadAlg, PqSignature) {
        use {AeadAlg as A, HashAlg as H, PqKem as K, PqSignature as S};
        match self {
            Self::Tbd1 => (K::XWing, H::Sha256, A::Aes128Gcm, S::Ed25519),
            Self::Tbd2 => (K::XWing, H::Sha384, A::Aes256Gcm, S::Ed25519),
            Self::Tbd3 => (K::MlKem768P256, H::Sha256, A::Aes128Gcm, S::EcdsaP256),
            Self::Tbd4 => (K::MlKem768P256, H::Sha384, A::Aes256Gcm, S::EcdsaP256),
            Self::Tbd5 => (K::MlKem1024P384, H::Sha384, A::Aes256Gcm, S::EcdsaP384),
            Self::Tbd6 => (K::MlKem768, H::Sha384, A::Aes256Gcm, S::Ed25519),
            Self::Tbd7 => (K::MlKem768, H::Sha384, A::Aes256Gcm, S::EcdsaP256),
            Self::Tbd8 => (K::MlKem1024, H::Sha384, A::Aes256Gcm, S::EcdsaP384),
            Self::Tbd9 => (K::XWing, H::Sha384, A::ChaCha20Poly1305, S::MlDsa44),
            Self::Tbd10 => (K::MlKem768, H::Sha384, A::Aes256Gcm, S::MlDsa65),
            Self::Tbd11 => (K::MlKem1024, H::Sha384, A::Aes256Gcm, S::MlDsa87),
        }
    }
}

impl PqKem {
    /// The KEM with a key derivation, on a backend.
    pub fn instance(self, d: KeyDerivation, b: Backend) -> Arc<dyn HpkeKem> {
        match self {
            Self::MlKem768 => Arc::new(MlKem::MlKem768(d, b)),
            Self::MlKem1024 => Arc::new(MlKem::MlKem1024(d, b)),
            Self::XWing => Arc::new(HybridKem::XWing(d, b)),
            Self::MlKem768P256 => Arc::new(HybridKem::MlKem768P256(d, b)),
            Self::MlKem1024P384 => Arc::new(HybridKem::MlKem1024P384(d, b)),
        }
    }
}

impl PqSignature {
    /// The scheme, with hedged or deterministic ML-DSA signing, on a
    /// backend (ML-DSA only; the classical schemes are RustCrypto's).
    pub fn instance(self, signing: Signing, b: Backend) -> Arc<dyn SignatureScheme> {
        match self {
            Self::Ed25519 => Arc::new(SigAlg::Ed25519),
            Self::EcdsaP256 => Arc::new(SigAlg::EcdsaP256),
            Self::EcdsaP384 => Arc::new(SigAlg::EcdsaP384),
            Self::MlDsa44 => Arc::new(MlDsa::MlDsa44(signing, b)),
            Self::MlDsa65 => Arc::new(MlDsa::MlDsa65(signing, b)),
            Self::MlDsa87 => Arc::new(MlDsa::MlDsa87(signing, b)),
        }
    }
}

/// A suite ↔ code point table. No code points are assigned by IANA yet
/// (`REQUIREMENTS.md` §6.2), so the table is data, chosen at run time.
///
/// ```
/// use mlsx_pq_suites::{CodePoints, PqSuite};
///
/// let openmls = CodePoints::by_name("openmls")?;
/// assert_eq!(openmls.code_point(PqSuite::Tbd1).map(|c| c.value()), Some(0x004F));
/// assert_eq!(openmls.code_point(PqSuite::Tbd3), None); // OpenMLS lacks TBD3-5
/// let mine = CodePoints::custom([(PqSuite::Tbd9, 0xF0A9)])?;
/// assert_eq!(mine.suite(mlsx_base::codec::CipherSuite(0xF0A9)), Some(PqSuite::Tbd9));
/// # Ok::<(), mlsx_pq_suites::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodePoints {
    by_suite: BTreeMap<PqSuite, CipherSuite>,
}

impl Default for CodePoints {
    fn default() -> Self {
        Self::private_use()
    }
}

impl CodePoints {
    /// The names [`Self::by_name`] accepts.
    pub const PRESETS: [&'static str; 3] = ["private-use", "private-use-reordered", "openmls"];

    /// TBDn → 0xF000 + n, in RFC 9420's private-use range (§17.1): the default.
    pub fn private_use() -> Self {
        Self::from_pairs(PqSuite::ALL.iter().map(|s| (*s, 0xF000 + s.number())))
    }

    /// 0xF001–0xF00B in the order TBD1, 2, 3, 4, 5, 7, 8, 10, 11, 6, 9: the
    /// numbering of the drafts before TBD6 and TBD9 were added, extended,
    /// as one deployed binding layer uses it.
    pub fn private_use_reordered() -> Self {
        use PqSuite::*;
        let order = [Tbd1, Tbd2, Tbd3, Tbd4, Tbd5, Tbd7, Tbd8, Tbd10, Tbd11, Tbd6, Tbd9];
        Self::from_pairs(order.iter().zip(0xF001u16..).map(|(s, c)| (*s, c)))
    }

    /// OpenMLS's provisional code points (0.9 with the
    /// `draft-ietf-mls-pq-ciphersuites` feature). It has no TBD3–TBD5.
    pub fn openmls() -> Self {
        use PqSuite::*;
        Self::from_pairs([
            (Tbd1, 0x004F),
            (Tbd2, 0x004E),
            (Tbd6, 0xF042),
            (Tbd7, 0x0050),
            (Tbd8, 0x0042),
            (Tbd9, 0x0052),
            (Tbd10, 0x0051),
            (Tbd11, 0x0907),
        ])
    }

    /// A preset by name (see [`Self::PRESETS`]).
    pub fn by_name(name: &str) -> Result<Self, Error> {
        match name {
            "private-use" => Ok(Self::private_use()),
            "private-use-reordered" => Ok(Self::private_use_reordered()),
            "openmls" => Ok(Self::openmls()),
            _ => Err(Error::UnknownPreset(name.to_owned())),
        }
    }

    /// A table of one's own. Each suite and each code point may appear
    /// once, and RFC 9420's suites 0x0001–0x0007 are not available.
    pub fn custom(pairs: impl IntoIterator<Item = (PqSuite, u16)>) -> Result<Self, Error> {
        let mut by_suite = BTreeMap::new();
        for (suite, code) in pairs {
            let code = CipherSuite(code);
            if (1..=7).contains(&code.value()) {
                return Err(Error::ReservedCodePoint(code));
            }
            if by_suite.values().any(|c| *c == code) {
                return Err(Error::DuplicateCodePoint(code));
            }
            if by_suite.insert(suite, code).is_some() {
                return Err(Error::DuplicateSuite(suite));
            }
        }
        Ok(Self { by_suite })
    }

    fn from_pairs(pairs: impl IntoIterator<Item = (PqSuite, u16)>) -> Self {
        Self {
            by_suite: pairs.into_iter().map(|(s, c)| (s, CipherSuite(c))).collect(),
        }
    }

    /// The code point of a suite, if the table has it.
    pub fn code_point(&self, suite: PqSuite) -> Option<CipherSuite> {
        self.by_suite.get(&suite).copied()
    }

    /// The suite at a code point, if any.
    pub fn suite(&self, code: CipherSuite) -> Option<PqSuite> {
        self.by_suite.iter().find(|(_, c)| **c == code).map(|(s, _)| *s)
    }

    /// Every (suite, code point) pair, in TBD order.
    pub fn iter(&self) -> impl Iterator<Item = (PqSuite, CipherSuite)> + '_ {
        self.by_suite.iter().map(|(s, c)| (*s, *c))
    }
}

/// Everything that decides whether two implementations of these suites
/// interoperate: the code points, the KEM key derivation, and (locally)
/// how ML-DSA signs.
///
/// ```
/// use mlsx_pq_suites::{KeyDerivation, Profile};
///
/// assert_eq!(Profile::draft().derivation, KeyDerivation::Labeled);
/// let compat = Profile::by_name("openmls-compat")?;
/// assert_eq!(compat.derivation, KeyDerivation::LegacyUnlabeled);
/// # Ok::<(), mlsx_pq_suites::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Profile {
    /// The code-point table.
    pub code_points: CodePoints,
    /// How KEM key pairs are derived from secrets (TreeKEM node keys, the
    /// external key pair).
    pub derivation: KeyDerivation,
    /// How ML-DSA signs (both variants verify the same way).
    pub signing: Signing,
    /// Which implementation of ML-KEM and ML-DSA runs (local; it changes
    /// no byte on the wire). Default: [`Backend::default`].
    pub backend: Backend,
}

impl Profile {
    /// The names [`Self::by_name`] accepts.
    pub const PRESETS: [&'static str; 2] = ["draft", "openmls-compat"];

    /// The current drafts: private-use code points, labeled key derivation
    /// (draft-ietf-hpke-pq), hedged ML-DSA.
    pub fn draft() -> Self {
        Self::default()
    }

    /// What OpenMLS 0.9 speaks: its code points and the unlabeled
    /// `SHAKE256(ikm)` key derivation of hpke-rs 0.7.
    pub fn openmls_compat() -> Self {
        Self {
            code_points: CodePoints::openmls(),
            derivation: KeyDerivation::LegacyUnlabeled,
            signing: Signing::Hedged,
            backend: Backend::default(),
        }
    }

    /// A profile by name (see [`Self::PRESETS`]).
    pub fn by_name(name: &str) -> Result<Self, Error> {
        match name {
            "draft" => Ok(Self::draft()),
            "openmls-compat" => Ok(Self::openmls_compat()),
            _ => Err(Error::UnknownPreset(name.to_owned())),
        }
    }

    /// The provider of one suite under this profile, at code point `code`.
    pub fn suite_provider(&self, suite: PqSuite, code: CipherSuite) -> ComposedSuite {
        let (kem, hash, aead, sig) = suite.components();
        ComposedSuite::new(
            code,
            kem.instance(self.derivation, self.backend),
            hash,
            aead,
            sig.instance(self.signing, self.backend),
        )
    }
}

/// The [`CryptoProvider`] for the PQ suites of one [`Profile`]. Chain it
/// with the classical provider through
/// [`CryptoProviders`](mlsx_base::crypto::CryptoProviders).
#[derive(Clone, Debug)]
pub struct PqProvider {
    profile: Profile,
    suites: Vec<(CipherSuite, PqSuite, Arc<dyn CipherSuiteProvider>)>,
}

impl PqProvider {
    /// The provider for a profile.
    pub fn new(profile: Profile) -> Self {
        let suites = profile
            .code_points
            .iter()
            .map(|(suite, code)| {
                (
                    code,
                    suite,
                    Arc::new(profile.suite_provider(suite, code)) as Arc<dyn CipherSuiteProvider>,
                )
            })
            .collect();
        Self { profile, suites }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The code point of a suite under this profile.
    pub fn code_point(&self, suite: PqSuite) -> Option<CipherSuite> {
        self.profile.code_points.code_point(suite)
    }

    /// The suite at a code point.
    pub fn suite(&self, code: CipherSuite) -> Option<PqSuite> {
        self.profile.code_points.suite(code)
    }

    /// The cipher-suite provider of `suite` under this profile, in one
    /// call ([`Error::NotMapped`] if the profile's table leaves it out).
    ///
    /// ```
    /// use mlsx_pq_suites::{PqProvider, PqSuite};
    /// let cs = PqProvider::default().suite_provider(PqSuite::Tbd9)?;
    /// let alice = mlsx_base::group::Identity::basic(cs.as_ref(), b"alice")?;
    /// # let _ = alice;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn suite_provider(&self, suite: PqSuite) -> Result<Arc<dyn CipherSuiteProvider>, Error> {
        let code = self.code_point(suite).ok_or(Error::NotMapped(suite))?;
        self.cipher_suite_provider(code).ok_or(Error::NotMapped(suite))
    }
}

impl PqSuite {
    /// This suite's provider under the draft profile (the default code
    /// points and key derivation): `PqProvider::default().suite_provider(s)`.
    ///
    /// ```
    /// use mlsx_pq_suites::PqSuite;
    /// let cs = PqSuite::Tbd6.provider()?;
    /// assert_eq!(cs.cipher_suite(), PqSuite::Tbd6.provider()?.cipher_suite());
    /// # Ok::<(), mlsx_pq_suites::Error>(())
    /// ```
    pub fn provider(self) -> Result<Arc<dyn CipherSuiteProvider>, Error> {
        PqProvider::default().suite_provider(self)
    }
}

impl Default for PqProvider {
    fn default() -> Self {
        Self::new(Profile::draft())
    }
}

impl CryptoProvider for PqProvider {
    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        self.suites.iter().map(|(c, _, _)| *c).collect()
    }

    fn cipher_suite_provider(&self, suite: CipherSuite) -> Option<Arc<dyn CipherSuiteProvider>> {
        self.suites.iter().find(|(c, _, _)| *c == suite).map(|(_, _, p)| p.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tables_are_one_to_one() {
        for name in CodePoints::PRESETS {
            let t = CodePoints::by_name(name).unwrap();
            let pairs: Vec<_> = t.iter().map(|(s, c)| (s, c.value())).collect();
            assert_eq!(CodePoints::custom(pairs.clone()).unwrap(), t, "{name}");
            for (s, c) in t.iter() {
                assert_eq!(t.suite(c), Some(s));
            }
        }
        assert_eq!(
            CodePoints::private_use_reordered().code_point(PqSuite::Tbd6),
            Some(CipherSuite(0xF00A))
        );
        assert!(matches!(
            CodePoints::custom([(PqSuite::Tbd1, 0xF001), (PqSuite::Tbd2, 0xF001)]),
            Err(Error::DuplicateCodePoint(_))
        ));
        assert!(matches!(
            CodePoints::custom([(PqSuite::Tbd1, 0xF001), (PqSuite::Tbd1, 0xF002)]),
            Err(Error::DuplicateSuite(_))
        ));
        assert!(matches!(CodePoints::custom([(PqSuite::Tbd1, 1)]), Err(Error::ReservedCodePoint(_))));
        assert!(CodePoints::by_name("nope").is_err());
    }

    #[test]
    fn names_match_components() {
        for s in PqSuite::ALL {
            let (kem, hash, aead, sig) = s.components();
            let name = s.name();
            let kem_name = match kem {
                PqKem::MlKem768 => "_MLKEM768_",
                PqKem::MlKem1024 => "_MLKEM1024_",
                PqKem::XWing => "_MLKEM768X25519_",
                PqKem::MlKem768P256 => "_MLKEM768P256_",
                PqKem::MlKem1024P384 => "_MLKEM1024P384_",
            };
            let hash_name = match hash {
                HashAlg::Sha256 => "_SHA256_",
                HashAlg::Sha384 => "_SHA384_",
                HashAlg::Sha512 => "_SHA512_",
            };
            let aead_name = match aead {
                AeadAlg::Aes128Gcm => "_AES128GCM_",
                AeadAlg::Aes256Gcm => "_AES256GCM_",
                AeadAlg::ChaCha20Poly1305 => "_CHACHA20POLY1305_",
            };
            let sig_name = match sig {
                PqSignature::Ed25519 => "_Ed25519",
                PqSignature::EcdsaP256 => "_P256",
                PqSignature::EcdsaP384 => "_P384",
                PqSignature::MlDsa44 => "_MLDSA44",
                PqSignature::MlDsa65 => "_MLDSA65",
                PqSignature::MlDsa87 => "_MLDSA87",
            };
            for part in [kem_name, hash_name, aead_name] {
                assert!(name.contains(part), "{name} lacks {part}");
            }
            assert!(name.ends_with(sig_name), "{name}");
            assert_eq!(PqSuite::from_number(s.number()), Some(s));
        }
    }
}
