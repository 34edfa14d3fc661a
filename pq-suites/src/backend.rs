//! Which implementation of ML-KEM and ML-DSA runs underneath the suites.
//!
//! Both backends take the same inputs (keys stored as seeds), make the same
//! input checks (FIPS 203 §7.2 and §7.3, FIPS 204 lengths) and give the same
//! bytes: the same known-answer tests and vectors run on each, and
//! `tests/backends.rs` checks them against each other.
//!
//! | backend | crates | when |
//! |---|---|---|
//! | [`Backend::RustCrypto`] | `ml-kem`, `ml-dsa` | always compiled in: pure Rust, portable, no `unsafe` of its own |
//! | `Backend::Libcrux` | `libcrux-ml-kem`, `libcrux-ml-dsa` | feature `libcrux`: formally verified, AVX2 code chosen at run time, 2.8–9.2× faster here (BENCHMARKS.md) |
//!
//! **Why RustCrypto is this crate's default and libcrux is `mlsx`'s.** A
//! library should build anywhere with the fewest surprises, so without
//! features this crate depends only on RustCrypto. The `mlsx` tool and
//! `mlsx-app` turn the `libcrux` feature on by default, because what their
//! users measure and deploy should run at the fastest speed measured on
//! the machines we build for; there, [`Backend::default`] is libcrux.
//!
//! A backend is chosen per [`Profile`](crate::Profile) (`profile.backend`),
//! or for a whole process with [`Backend::set_process_default`] (what
//! `mlsx --backend` does), which every default profile then takes.
//!
//! ```
//! use mlsx_base::crypto::SignatureScheme;
//! use mlsx_pq_suites::{Backend, MlDsa, Signing};
//!
//! // The same deterministic signature from every backend compiled in.
//! let sk = mlsx_base::crypto::SignaturePrivateKey::from_slice(&[7u8; 32]);
//! let sigs: Vec<_> = Backend::available()
//!     .iter()
//!     .map(|b| MlDsa::MlDsa44(Signing::Deterministic, *b).sign(&sk, b"m"))
//!     .collect::<Result<_, _>>()?;
//! assert!(sigs.windows(2).all(|w| w[0] == w[1]));
//! # Ok::<(), mlsx_base::error::CryptoError>(())
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

use crate::Error;

/// An implementation of ML-KEM and ML-DSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// RustCrypto's `ml-kem` and `ml-dsa`.
    RustCrypto,
    /// libcrux's `libcrux-ml-kem` and `libcrux-ml-dsa` (feature `libcrux`).
    #[cfg(feature = "libcrux")]
    Libcrux,
}

/// 0: not set; otherwise 1 + the position in [`Backend::available`].
static PROCESS_DEFAULT: AtomicU8 = AtomicU8::new(0);

impl Backend {
    /// The fastest backend compiled in: libcrux with the `libcrux` feature,
    /// RustCrypto without.
    #[cfg(feature = "libcrux")]
    pub const FASTEST: Backend = Backend::Libcrux;
    /// The fastest backend compiled in: libcrux with the `libcrux` feature,
    /// RustCrypto without.
    #[cfg(not(feature = "libcrux"))]
    pub const FASTEST: Backend = Backend::RustCrypto;

    /// Every backend compiled into this build.
    pub fn available() -> &'static [Backend] {
        #[cfg(feature = "libcrux")]
        return &[Backend::RustCrypto, Backend::Libcrux];
        #[cfg(not(feature = "libcrux"))]
        return &[Backend::RustCrypto];
    }

    /// The name [`Self::by_name`] takes: `rustcrypto` or `libcrux`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::RustCrypto => "rustcrypto",
            #[cfg(feature = "libcrux")]
            Backend::Libcrux => "libcrux",
        }
    }

    /// A backend by name. `libcrux` in a build without the feature is
    /// [`Error::BackendNotBuilt`].
    pub fn by_name(name: &str) -> Result<Self, Error> {
        if let Some(b) = Self::available().iter().find(|b| b.name() == name) {
            return Ok(*b);
        }
        match name {
            "libcrux" => Err(Error::BackendNotBuilt(name.to_owned())),
            _ => Err(Error::UnknownPreset(name.to_owned())),
        }
    }

    /// Makes `self` what [`Backend::default`] returns in this process from
    /// now on (and so every default [`Profile`](crate::Profile),
    /// [`PqProvider::default`](crate::PqProvider) and
    /// [`PqSuite::provider`](crate::PqSuite::provider)). Providers made
    /// before keep their backend.
    pub fn set_process_default(self) {
        let pos = Self::available().iter().position(|b| *b == self).unwrap_or(0);
        PROCESS_DEFAULT.store(u8::try_from(pos + 1).unwrap_or(1), Ordering::Relaxed);
    }
}

impl Default for Backend {
    /// The process default if [`Backend::set_process_default`] was called,
    /// else [`Backend::FASTEST`].
    fn default() -> Self {
        match PROCESS_DEFAULT.load(Ordering::Relaxed) {
            0 => Self::FASTEST,
            n => Self::available().get(usize::from(n) - 1).copied().unwrap_or(Self::FASTEST),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
