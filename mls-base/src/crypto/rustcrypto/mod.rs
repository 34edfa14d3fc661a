//! The classical provider for the seven RFC 9420 suites, 0x0001–0x0007
//! (RFC 9420 §17.1), on RustCrypto crates.
//!
//! Each suite is a [`ComposedSuite`]: a DHKEM of this module's RFC 9180
//! code ([`DhKem`], cross-checked against `hpke-rs` in the tests), HKDF
//! with SHA-2, an AEAD and a signature scheme ([`SigAlg`]). The PQ suites
//! of `mlsx-pq-suites` are built the same way with other KEMs and
//! signatures.
//!
//! ```
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::crypto::{CryptoProvider, LabeledCrypto, rustcrypto::RustCryptoProvider};
//!
//! let provider = RustCryptoProvider::new();
//! let cs = provider
//!     .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
//!     .ok_or(mlsx_base::Error::UnsupportedCipherSuite(CipherSuite(1)))?;
//! let secret = cs.derive_secret(&[0u8; 32], b"example")?;
//! assert_eq!(secret.len(), 32);
//! # Ok::<(), mlsx_base::Error>(())
//! ```

mod composed;
mod ed25519;
mod hpke;
mod primitives;
mod sig;

pub use self::composed::ComposedSuite;
pub use self::hpke::{DhKem, HpkeContext, HpkeSuite};
pub use self::primitives::{AeadAlg, HashAlg};
pub use self::sig::SigAlg;

use std::sync::Arc;

use rand::Rng;

use super::{CipherSuiteProvider, CryptoProvider};
use crate::codec::CipherSuite;
use crate::error::CryptoError;

/// The suite for a code point, if it is one of RFC 9420's seven (§17.1).
pub fn rfc9420_suite(suite: CipherSuite) -> Option<ComposedSuite> {
    use {AeadAlg as A, DhKem as D, HashAlg as H, SigAlg as S};
    let (dh, hash, aead, sig) = match suite.value() {
        1 => (D::X25519, H::Sha256, A::Aes128Gcm, S::Ed25519),
        2 => (D::P256, H::Sha256, A::Aes128Gcm, S::EcdsaP256),
        3 => (D::X25519, H::Sha256, A::ChaCha20Poly1305, S::Ed25519),
        4 => (D::X448, H::Sha512, A::Aes256Gcm, S::Ed448),
        5 => (D::P521, H::Sha512, A::Aes256Gcm, S::EcdsaP521),
        6 => (D::X448, H::Sha512, A::ChaCha20Poly1305, S::Ed448),
        7 => (D::P384, H::Sha384, A::Aes256Gcm, S::EcdsaP384),
        _ => return None,
    };
    Some(ComposedSuite::new(suite, Arc::new(dh), hash, aead, Arc::new(sig)))
}

fn fill_random(out: &mut [u8]) -> Result<(), CryptoError> {
    rand::rng().fill_bytes(out);
    Ok(())
}

/// [`CryptoProvider`] for suites 0x0001–0x0007.
#[derive(Clone, Debug, Default)]
pub struct RustCryptoProvider(());

impl RustCryptoProvider {
    /// The provider.
    pub fn new() -> Self {
        Self(())
    }
}

impl CryptoProvider for RustCryptoProvider {
    fn supported_cipher_suites(&self) -> Vec<CipherSuite> {
        CipherSuite::RFC9420.to_vec()
    }

    fn cipher_suite_provider(&self, suite: CipherSuite) -> Option<Arc<dyn CipherSuiteProvider>> {
        rfc9420_suite(suite).map(|s| Arc::new(s) as Arc<dyn CipherSuiteProvider>)
    }
}

#[cfg(test)]
mod tests;
