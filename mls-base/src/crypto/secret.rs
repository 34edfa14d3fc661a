//! Secret-holding newtypes: zeroized on drop, compared in constant time,
//! redacted in `Debug` unless the ☣️ `crypto-debug` feature is on.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Wraps secret bytes (taking ownership, so no copy is left behind).
            pub fn new(bytes: Vec<u8>) -> Self {
                Self(bytes)
            }

            /// Copies secret bytes out of a slice.
            pub fn from_slice(bytes: &[u8]) -> Self {
                Self(bytes.to_vec())
            }

            /// The secret bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Length in bytes.
            pub fn len(&self) -> usize {
                self.0.len()
            }

            /// Whether the secret is empty.
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }

            /// An explicit copy. Secrets are not `Clone` so that every copy
            /// is visible in the code.
            pub fn duplicate(&self) -> Self {
                Self(self.0.clone())
            }

            /// The bytes for persistence, in a buffer that zeroizes on drop.
            pub fn to_zeroizing(&self) -> Zeroizing<Vec<u8>> {
                Zeroizing::new(self.0.clone())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                #[cfg(feature = "crypto-debug")]
                {
                    write!(f, concat!(stringify!($name), "("))?;
                    for b in &self.0 {
                        write!(f, "{b:02x}")?;
                    }
                    write!(f, ")")
                }
                #[cfg(not(feature = "crypto-debug"))]
                {
                    write!(f, concat!(stringify!($name), "(<{} bytes redacted>)"), self.0.len())
                }
            }
        }
    };
}

secret_type!(
    /// A symmetric secret: KDF outputs, epoch secrets, ratchet secrets,
    /// AEAD keys and nonces, decrypted plaintexts.
    Secret
);
secret_type!(
    /// An HPKE private key in `SerializePrivateKey` form (RFC 9180 §7.1.2).
    HpkePrivateKey
);
secret_type!(
    /// A signature private key (EdDSA seed or big-endian ECDSA scalar).
    SignaturePrivateKey
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(vec![0xab; 4]);
        let d = format!("{s:?}");
        #[cfg(not(feature = "crypto-debug"))]
        assert!(!d.contains("ab"), "{d}");
        assert!(d.starts_with("Secret("));
    }

    #[test]
    fn constant_time_eq_compares_contents() {
        assert_eq!(Secret::from_slice(b"abc"), Secret::from_slice(b"abc"));
        assert_ne!(Secret::from_slice(b"abc"), Secret::from_slice(b"abd"));
        assert_ne!(Secret::from_slice(b"abc"), Secret::from_slice(b"ab"));
    }
}
