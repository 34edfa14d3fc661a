//! Multi-credentials and weak multi-credentials (draft-ietf-mls-extensions
//! §6.5, the same text as draft-mls-addl-creds §4): a LeafNode credential
//! made of credential bindings, each a credential with its own key that
//! signs the LeafNode's `signature_key`, possibly under another cipher
//! suite than the group's (a PQ one, for instance).
//!
//! - [`bind`] signs a binding, [`verify_binding`] checks one;
//! - [`MultiCredential`] converts to and from a [`Credential`];
//! - [`MultiCredentialValidator`] is the Authentication Service of both
//!   types: it checks every binding it must (all for `multi`, those it
//!   supports for `weak-multi`) with the application's own validator for the
//!   inner credentials, and the members' support through the engine's
//!   [`CredentialValidator::check_members`] hook.
//!
//! Code points: the extensions draft's `multi` 0x0003 and `weak-multi`
//! 0x0004 by default; draft-mls-addl-creds gives 0x0004 and 0x0005 (and
//! 0x0003 to userinfo-vc), available as [`MultiCredentialTypes::ADDL_CREDS`].
//! A binding whose credential is itself a multi-credential is refused (the
//! drafts are silent; nesting would let bindings escape the support rules).

use std::sync::Arc;

use mlsx_base::codec::{Capabilities, CipherSuite, Credential, CredentialType, DeserializeBytes, VLBytes, encode};
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, LabeledCrypto, SignaturePrivateKey};
use mlsx_base::group::CredentialValidator;
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

use crate::Error;

/// The signature label of a binding.
pub const BINDING_TBS_LABEL: &[u8] = b"CredentialBindingTBS";

/// The credential types of the two kinds of multi-credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MultiCredentialTypes {
    /// `multi`.
    pub multi: CredentialType,
    /// `weak-multi`.
    pub weak_multi: CredentialType,
}

impl MultiCredentialTypes {
    /// draft-ietf-mls-extensions §7.3 (suggested): 0x0003 and 0x0004.
    pub const EXTENSIONS: Self = Self {
        multi: CredentialType(0x0003),
        weak_multi: CredentialType(0x0004),
    };
    /// draft-mls-addl-creds §7.1: 0x0004 and 0x0005.
    pub const ADDL_CREDS: Self = Self {
        multi: CredentialType(0x0004),
        weak_multi: CredentialType(0x0005),
    };

    fn is_multi(&self, t: CredentialType) -> bool {
        t == self.multi || t == self.weak_multi
    }
}

impl Default for MultiCredentialTypes {
    fn default() -> Self {
        Self::EXTENSIONS
    }
}

/// `CredentialBinding`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct CredentialBinding {
    /// The suite of `credential_key` and `signature`.
    pub cipher_suite: CipherSuite,
    /// The bound credential.
    pub credential: Credential,
    /// The key that belongs to `credential`.
    pub credential_key: VLBytes,
    /// `SignWithLabel(credential key, "CredentialBindingTBS", CredentialBindingTBS)`.
    pub signature: VLBytes,
}

/// `CredentialBindingTBS`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
struct CredentialBindingTbs {
    cipher_suite: CipherSuite,
    credential: Credential,
    credential_key: VLBytes,
    signature_key: VLBytes,
}

/// A `MultiCredential` or `WeakMultiCredential`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultiCredential {
    /// Whether it is the weak kind.
    pub weak: bool,
    /// The bindings.
    pub bindings: Vec<CredentialBinding>,
}

impl MultiCredential {
    /// The LeafNode credential (`bindings<V>` is the credential's body).
    pub fn to_credential(&self, types: MultiCredentialTypes) -> Result<Credential, Error> {
        let mut data = vec![];
        for b in &self.bindings {
            data.extend(encode(b)?);
        }
        Ok(Credential::Other {
            credential_type: if self.weak { types.weak_multi } else { types.multi },
            data: data.into(),
        })
    }

    /// The multi-credential in a credential, or `None` for other types.
    pub fn from_credential(credential: &Credential, types: MultiCredentialTypes) -> Result<Option<Self>, Error> {
        let Credential::Other { credential_type, data } = credential else {
            return Ok(None);
        };
        if !types.is_multi(*credential_type) {
            return Ok(None);
        }
        let mut rest = data.as_slice();
        let mut bindings = vec![];
        while !rest.is_empty() {
            let (b, r) = CredentialBinding::tls_deserialize_bytes(rest)?;
            bindings.push(b);
            rest = r;
        }
        Ok(Some(Self {
            weak: *credential_type == types.weak_multi,
            bindings,
        }))
    }
}

fn tbs(binding: &CredentialBinding, signature_key: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(encode(&CredentialBindingTbs {
        cipher_suite: binding.cipher_suite,
        credential: binding.credential.clone(),
        credential_key: binding.credential_key.clone(),
        signature_key: signature_key.to_vec().into(),
    })?)
}

/// Binds `credential` (whose key is `credential_key`, private part
/// `credential_sk`, in the suite `cs`) to a LeafNode's `signature_key`.
pub fn bind(
    cs: &(impl CipherSuiteProvider + ?Sized),
    credential: Credential,
    credential_key: &[u8],
    credential_sk: &SignaturePrivateKey,
    signature_key: &[u8],
) -> Result<CredentialBinding, Error> {
    let mut b = CredentialBinding {
        cipher_suite: cs.cipher_suite(),
        credential,
        credential_key: credential_key.to_vec().into(),
        signature: VLBytes::default(),
    };
    b.signature = cs
        .sign_with_label(credential_sk, BINDING_TBS_LABEL, &tbs(&b, signature_key)?)?
        .into();
    Ok(b)
}

/// Checks a binding's signature over the LeafNode's `signature_key`, with
/// `cs` the provider of the binding's suite.
pub fn verify_binding(cs: &(impl CipherSuiteProvider + ?Sized), binding: &CredentialBinding, signature_key: &[u8]) -> Result<(), Error> {
    if cs.cipher_suite() != binding.cipher_suite {
        return Err(Error::BindingSuiteUnsupported(binding.cipher_suite.value()));
    }
    cs.verify_with_label(
        binding.credential_key.as_slice(),
        BINDING_TBS_LABEL,
        &tbs(binding, signature_key)?,
        binding.signature.as_slice(),
    )?;
    Ok(())
}

/// The Authentication Service of `multi` and `weak-multi` (§6.5).
///
/// A binding is supported by this client if `providers` has its suite and
/// `supported` lists its credential type; it is valid if `inner` (the
/// application's AS for the bound credential types) accepts the credential
/// with `credential_key`, and the signature verifies. Register it for both
/// types in [`CredentialValidators`](mlsx_base::group::CredentialValidators).
#[derive(Debug, Clone)]
pub struct MultiCredentialValidator {
    inner: Arc<dyn CredentialValidator>,
    providers: Arc<dyn CryptoProvider>,
    supported: Vec<CredentialType>,
    types: MultiCredentialTypes,
}

impl MultiCredentialValidator {
    /// The validator with the application's AS for bound credentials, the
    /// suites it can verify and the bound credential types it supports.
    pub fn new(inner: Arc<dyn CredentialValidator>, providers: Arc<dyn CryptoProvider>, supported: Vec<CredentialType>) -> Self {
        Self {
            inner,
            providers,
            supported,
            types: MultiCredentialTypes::default(),
        }
    }

    /// Other code points.
    #[must_use]
    pub fn with_types(mut self, types: MultiCredentialTypes) -> Self {
        self.types = types;
        self
    }

    fn parse(&self, credential: &Credential) -> Result<MultiCredential, Error> {
        let m = MultiCredential::from_credential(credential, self.types)?.ok_or(Error::NotAMultiCredential)?;
        if m.bindings.is_empty() {
            return Err(Error::EmptyMultiCredential);
        }
        if m.bindings.iter().any(|b| self.types.is_multi(b.credential.credential_type())) {
            return Err(Error::NestedMultiCredential);
        }
        Ok(m)
    }

    fn supports(&self, b: &CredentialBinding) -> Option<Arc<dyn CipherSuiteProvider>> {
        if !self.supported.contains(&b.credential.credential_type()) {
            return None;
        }
        self.providers.cipher_suite_provider(b.cipher_suite)
    }

    fn check(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), Error> {
        let m = self.parse(credential)?;
        let mut checked = 0;
        for b in &m.bindings {
            let Some(cs) = self.supports(b) else {
                // multi: every member, this one included, must support
                // every binding; weak-multi: unsupported bindings are not
                // checked.
                if m.weak {
                    continue;
                }
                return Err(Error::BindingSuiteUnsupported(b.cipher_suite.value()));
            };
            self.inner.validate(&b.credential, b.credential_key.as_slice())?;
            verify_binding(cs.as_ref(), b, signature_key)?;
            checked += 1;
        }
        if checked == 0 {
            return Err(Error::NoSupportedBinding);
        }
        Ok(())
    }
}

/// Whether a member supports a binding: its suite and credential type.
fn member_supports(caps: &Capabilities, b: &CredentialBinding) -> bool {
    caps.cipher_suites.contains(&b.cipher_suite) && caps.credentials.contains(&b.credential.credential_type())
}

impl CredentialValidator for MultiCredentialValidator {
    fn validate(&self, credential: &Credential, signature_key: &[u8]) -> Result<(), mlsx_base::Error> {
        Ok(self.check(credential, signature_key)?)
    }

    fn needs_members(&self, credential: &Credential) -> bool {
        self.types.is_multi(credential.credential_type())
    }

    /// multi: every member supports `multi` and every binding; weak-multi:
    /// every member supports `weak-multi` and at least one binding.
    fn check_members(&self, credential: &Credential, members: &[&Capabilities]) -> Result<(), mlsx_base::Error> {
        let m = self.parse(credential)?;
        let own = credential.credential_type();
        for caps in members {
            if !caps.credentials.contains(&own) {
                return Err(Error::MultiCredentialUnsupportedByMember("the credential type").into());
            }
            let ok = if m.weak {
                m.bindings.iter().any(|b| member_supports(caps, b))
            } else {
                m.bindings.iter().all(|b| member_supports(caps, b))
            };
            if !ok {
                return Err(Error::MultiCredentialUnsupportedByMember(if m.weak { "any binding" } else { "a binding" }).into());
            }
        }
        Ok(())
    }

    /// The same kind, and the same bound credentials (the member's
    /// identities), in any order.
    fn valid_successor(&self, predecessor: &Credential, successor: &Credential) -> Result<(), mlsx_base::Error> {
        let (a, b) = (self.parse(predecessor)?, self.parse(successor)?);
        let same = a.weak == b.weak
            && a.bindings.len() == b.bindings.len()
            && a.bindings.iter().all(|x| b.bindings.iter().any(|y| y.credential == x.credential));
        if same { Ok(()) } else { Err(Error::MultiCredentialChanged.into()) }
    }
}
