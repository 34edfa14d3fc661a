//! Ratchet-tree wire structs (RFC 9420 §7).

use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize, VLBytes};

/// `HPKECiphertext { opaque kem_output<V>; opaque ciphertext<V>; }` (RFC 9420 §5.1.3).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct HpkeCiphertext {
    /// The HPKE `enc` value.
    pub kem_output: VLBytes,
    /// The AEAD ciphertext.
    pub ciphertext: VLBytes,
}
