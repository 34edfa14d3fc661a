//! Open code-point newtypes (RFC 9420 §17): unknown values decode and
//! round-trip; the constants name the registered ones.

use serde::{Deserialize, Serialize};
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

macro_rules! codepoint {
    ($(#[$doc:meta])* $name:ident($repr:ty) { $($(#[$cdoc:meta])* $cname:ident = $val:expr,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, TlsSerialize, TlsDeserializeBytes, TlsSize, Serialize, Deserialize)]
        pub struct $name(pub $repr);

        impl $name {
            $($(#[$cdoc])* pub const $cname: Self = Self($val);)*

            /// The raw value.
            pub const fn value(self) -> $repr {
                self.0
            }

            /// The registered name, if this value is one of the constants.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$cname => Some(stringify!($cname)),)*
                    _ => None,
                }
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({n})", stringify!($name)),
                    None => write!(f, "{}({:#06x})", stringify!($name), self.0),
                }
            }
        }
    };
}

codepoint!(
    /// `ProtocolVersion` (RFC 9420 §6).
    ProtocolVersion(u16) {
        /// `mls10`.
        MLS10 = 1,
    }
);

codepoint!(
    /// `CipherSuite` (RFC 9420 §17.1).
    CipherSuite(u16) {
        /// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (mandatory to implement).
        MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519 = 0x0001,
        /// MLS_128_DHKEMP256_AES128GCM_SHA256_P256.
        MLS_128_DHKEMP256_AES128GCM_SHA256_P256 = 0x0002,
        /// MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519.
        MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_ED25519 = 0x0003,
        /// MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448.
        MLS_256_DHKEMX448_AES256GCM_SHA512_ED448 = 0x0004,
        /// MLS_256_DHKEMP521_AES256GCM_SHA512_P521.
        MLS_256_DHKEMP521_AES256GCM_SHA512_P521 = 0x0005,
        /// MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448.
        MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_ED448 = 0x0006,
        /// MLS_256_DHKEMP384_AES256GCM_SHA384_P384.
        MLS_256_DHKEMP384_AES256GCM_SHA384_P384 = 0x0007,
    }
);

impl CipherSuite {
    /// The seven suites of RFC 9420 §17.1.
    pub const RFC9420: [CipherSuite; 7] = [
        Self::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,
        Self::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
        Self::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_ED25519,
        Self::MLS_256_DHKEMX448_AES256GCM_SHA512_ED448,
        Self::MLS_256_DHKEMP521_AES256GCM_SHA512_P521,
        Self::MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_ED448,
        Self::MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
    ];

    /// Whether this is a GREASE value (RFC 9420 §13.5).
    pub const fn is_grease(self) -> bool {
        is_grease(self.0)
    }
}

/// GREASE values have the form `0x?A?A` (RFC 9420 §13.5).
pub const fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 12) == ((v >> 4) & 0xf) && (v >> 12) != 0xf
}

codepoint!(
    /// `WireFormat` (RFC 9420 §17.2).
    WireFormat(u16) {
        /// `mls_public_message`.
        PUBLIC_MESSAGE = 1,
        /// `mls_private_message`.
        PRIVATE_MESSAGE = 2,
        /// `mls_welcome`.
        WELCOME = 3,
        /// `mls_group_info`.
        GROUP_INFO = 4,
        /// `mls_key_package`.
        KEY_PACKAGE = 5,
    }
);

codepoint!(
    /// `ExtensionType` (RFC 9420 §17.3).
    ExtensionType(u16) {
        /// `application_id` (LeafNode).
        APPLICATION_ID = 1,
        /// `ratchet_tree` (GroupInfo).
        RATCHET_TREE = 2,
        /// `required_capabilities` (GroupContext).
        REQUIRED_CAPABILITIES = 3,
        /// `external_pub` (GroupInfo).
        EXTERNAL_PUB = 4,
        /// `external_senders` (GroupContext).
        EXTERNAL_SENDERS = 5,
    }
);

impl ExtensionType {
    /// Whether RFC 9420 defines this type (such types MUST NOT be listed
    /// in `Capabilities.extensions`, §7.2).
    pub const fn is_default(self) -> bool {
        self.0 >= 1 && self.0 <= 5
    }
}

codepoint!(
    /// `ProposalType` (RFC 9420 §17.4).
    ProposalType(u16) {
        /// `add`.
        ADD = 1,
        /// `update`.
        UPDATE = 2,
        /// `remove`.
        REMOVE = 3,
        /// `psk`.
        PSK = 4,
        /// `reinit`.
        REINIT = 5,
        /// `external_init`.
        EXTERNAL_INIT = 6,
        /// `group_context_extensions`.
        GROUP_CONTEXT_EXTENSIONS = 7,
    }
);

impl ProposalType {
    /// Whether RFC 9420 defines this type (§7.2: not listed in capabilities).
    pub const fn is_default(self) -> bool {
        self.0 >= 1 && self.0 <= 7
    }
}

codepoint!(
    /// `CredentialType` (RFC 9420 §17.5).
    CredentialType(u16) {
        /// `basic`.
        BASIC = 1,
        /// `x509`.
        X509 = 2,
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        for i in 0..15u16 {
            let v = (i << 12) | 0x0a00 | (i << 4) | 0x0a;
            assert!(is_grease(v), "{v:#x}");
        }
        assert!(!is_grease(0x0001));
        assert!(!is_grease(0x1a2a));
        assert!(!is_grease(0xfafa));
    }

    #[test]
    fn unknown_values_round_trip() {
        use tls_codec::{DeserializeBytes, Serialize};
        let cs = CipherSuite(0xf123);
        let bytes = cs.tls_serialize_detached().unwrap();
        assert_eq!(bytes, [0xf1, 0x23]);
        assert_eq!(CipherSuite::tls_deserialize_exact_bytes(&bytes).unwrap(), cs);
        assert!(CipherSuite::tls_deserialize_exact_bytes(&[0xf1]).is_err());
        assert!(CipherSuite::tls_deserialize_exact_bytes(&[0, 1, 0]).is_err());
        assert_eq!(format!("{cs:?}"), "CipherSuite(0xf123)");
    }
}
