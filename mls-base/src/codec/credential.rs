//! Credentials, keys and extensions (RFC 9420 §5.3, §7.2, §13).

use super::VLBytes;
use tls_codec::{DeserializeBytes, Size, TlsDeserializeBytes, TlsSerialize, TlsSize};

use super::{CipherSuite, CredentialType, ExtensionType, ProposalType, ProtocolVersion};

macro_rules! opaque_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, TlsSerialize, TlsDeserializeBytes, TlsSize)]
        pub struct $name(pub VLBytes);

        impl $name {
            /// The bytes.
            pub fn as_slice(&self) -> &[u8] {
                self.0.as_slice()
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> Self {
                Self(v.into())
            }
        }

        impl From<&[u8]> for $name {
            fn from(v: &[u8]) -> Self {
                Self(v.to_vec().into())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                for b in self.as_slice().iter().take(16) {
                    write!(f, "{b:02x}")?;
                }
                if self.as_slice().len() > 16 {
                    write!(f, "…")?;
                }
                write!(f, ")")
            }
        }
    };
}

opaque_newtype!(
    /// `HPKEPublicKey` = `opaque<V>` (RFC 9420 §5.1.1).
    HpkePublicKey
);
opaque_newtype!(
    /// `SignaturePublicKey` = `opaque<V>` (RFC 9420 §5.1.1).
    SignaturePublicKey
);
opaque_newtype!(
    /// A `HashReference` (`KeyPackageRef`, `ProposalRef`; RFC 9420 §5.2).
    HashReference
);
opaque_newtype!(
    /// A `MAC` value (confirmation and membership tags; RFC 9420 §6.1).
    ///
    /// Equality of this wire type is plain byte equality; protocol code
    /// compares tags with `subtle` before trusting them.
    Mac
);

/// `KeyPackageRef` (RFC 9420 §5.2).
pub type KeyPackageRef = HashReference;
/// `ProposalRef` (RFC 9420 §5.2).
pub type ProposalRef = HashReference;

/// `Certificate { opaque cert_data<V>; }` (RFC 9420 §5.3).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Certificate {
    /// DER-encoded certificate.
    pub cert_data: VLBytes,
}

/// `Credential` (RFC 9420 §5.3).
///
/// Types other than basic and x509 are carried as `opaque<V>` (the
/// convention of the other MLS implementations), so they round-trip and
/// can be interpreted by an application-supplied validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `basic`: an application-defined identity.
    Basic(VLBytes),
    /// `x509`: a certificate chain, leaf first.
    X509(Vec<Certificate>),
    /// Any other credential type. Its body is `opaque<V>` unless another
    /// syntax is registered for the type
    /// ([`register_credential_syntax`](super::syntax::register_credential_syntax)).
    Other {
        /// The type.
        credential_type: CredentialType,
        /// The body: the content of the `opaque<V>` for the default syntax,
        /// or the body's exact wire bytes for a registered one.
        data: VLBytes,
    },
}

impl Credential {
    /// The credential's type.
    pub fn credential_type(&self) -> CredentialType {
        match self {
            Self::Basic(_) => CredentialType::BASIC,
            Self::X509(_) => CredentialType::X509,
            Self::Other { credential_type, .. } => *credential_type,
        }
    }
}

impl Size for Credential {
    fn tls_serialized_len(&self) -> usize {
        2 + match self {
            Self::Basic(id) => id.tls_serialized_len(),
            Self::X509(certs) => certs.tls_serialized_len(),
            Self::Other { credential_type, data } => match super::syntax::credential_syntax(*credential_type) {
                super::syntax::BodySyntax::Opaque => data.tls_serialized_len(),
                _ => data.as_slice().len(),
            },
        }
    }
}

impl tls_codec::Serialize for Credential {
    fn tls_serialize<W: std::io::Write>(&self, w: &mut W) -> Result<usize, tls_codec::Error> {
        let n = self.credential_type().tls_serialize(w)?;
        Ok(n + match self {
            Self::Basic(id) => id.tls_serialize(w)?,
            Self::X509(certs) => certs.tls_serialize(w)?,
            Self::Other { credential_type, data } => match super::syntax::credential_syntax(*credential_type) {
                super::syntax::BodySyntax::Opaque => data.tls_serialize(w)?,
                _ => {
                    w.write_all(data.as_slice())
                        .map_err(|e| tls_codec::Error::EncodingError(e.to_string()))?;
                    data.as_slice().len()
                }
            },
        })
    }
}

impl DeserializeBytes for Credential {
    fn tls_deserialize_bytes(bytes: &[u8]) -> Result<(Self, &[u8]), tls_codec::Error> {
        let (credential_type, rest) = CredentialType::tls_deserialize_bytes(bytes)?;
        Ok(match credential_type {
            CredentialType::BASIC => {
                let (id, rest) = VLBytes::tls_deserialize_bytes(rest)?;
                (Self::Basic(id), rest)
            }
            CredentialType::X509 => {
                let (certs, rest) = Vec::<Certificate>::tls_deserialize_bytes(rest)?;
                (Self::X509(certs), rest)
            }
            credential_type => match super::syntax::credential_syntax(credential_type) {
                super::syntax::BodySyntax::Opaque => {
                    let (data, rest) = VLBytes::tls_deserialize_bytes(rest)?;
                    (Self::Other { credential_type, data }, rest)
                }
                syntax => {
                    let (body, rest) = syntax.split(rest)?;
                    (
                        Self::Other {
                            credential_type,
                            data: VLBytes::new(body.to_vec()),
                        },
                        rest,
                    )
                }
            },
        })
    }
}

/// `Extension { ExtensionType extension_type; opaque extension_data<V>; }` (RFC 9420 §13.4).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Extension {
    /// The type.
    pub extension_type: ExtensionType,
    /// The encoded body.
    pub extension_data: VLBytes,
}

impl Extension {
    /// An extension from its type and encoded body.
    pub fn new(extension_type: ExtensionType, extension_data: Vec<u8>) -> Self {
        Self {
            extension_type,
            extension_data: extension_data.into(),
        }
    }
}

/// A list of extensions (`Extension extensions<V>`). RFC 9420 §13.4: at
/// most one extension of each type; validation of that rule is the job of
/// the protocol layer, so decoding keeps the list as sent.
pub type Extensions = Vec<Extension>;

/// Finds the first extension of a type in a list.
pub fn find_extension(list: &[Extension], t: ExtensionType) -> Option<&Extension> {
    list.iter().find(|e| e.extension_type == t)
}

/// `Capabilities` (RFC 9420 §7.2).
#[derive(Clone, Debug, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Capabilities {
    /// Supported protocol versions.
    pub versions: Vec<ProtocolVersion>,
    /// Supported cipher suites.
    pub cipher_suites: Vec<CipherSuite>,
    /// Supported non-default extension types.
    pub extensions: Vec<ExtensionType>,
    /// Supported non-default proposal types.
    pub proposals: Vec<ProposalType>,
    /// Supported credential types (including basic, if supported).
    pub credentials: Vec<CredentialType>,
}

/// `Lifetime { uint64 not_before; uint64 not_after; }` (RFC 9420 §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Lifetime {
    /// Seconds since the Unix epoch.
    pub not_before: u64,
    /// Seconds since the Unix epoch.
    pub not_after: u64,
}

/// `RequiredCapabilities` (RFC 9420 §11.1), the body of the
/// `required_capabilities` GroupContext extension.
#[derive(Clone, Debug, PartialEq, Eq, Default, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct RequiredCapabilities {
    /// Extension types every member must support.
    pub extension_types: Vec<ExtensionType>,
    /// Proposal types every member must support.
    pub proposal_types: Vec<ProposalType>,
    /// Credential types every member must support.
    pub credential_types: Vec<CredentialType>,
}

/// `ExternalSender { SignaturePublicKey signature_key; Credential credential; }` (RFC 9420 §12.1.8.1).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ExternalSender {
    /// The sender's signature key.
    pub signature_key: SignaturePublicKey,
    /// The sender's credential.
    pub credential: Credential,
}

/// `ExternalPub { HPKEPublicKey external_pub; }` (RFC 9420 §12.4.3.2).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ExternalPub {
    /// The group's external HPKE public key.
    pub external_pub: HpkePublicKey,
}
