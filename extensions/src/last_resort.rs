//! Last-resort KeyPackages (§6.4): the `last_resort_key_package`
//! component (0x0004), an empty entry in a KeyPackage's
//! `app_data_dictionary`, marks a KeyPackage that may be used more than
//! once when all others are gone (RFC 9420 §16.8). Being in the
//! KeyPackage, the mark is signed and still present in Add proposals, so
//! members may apply a policy to it.

use crate::component::{Component, Rejection};
use crate::{ComponentId, LAST_RESORT_KEY_PACKAGE};
use mlsx_base::group::hooks::ExtensionContext;

/// What members do with an Add whose KeyPackage is marked last resort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LastResortPolicy {
    /// Accept it like any other KeyPackage.
    #[default]
    Accept,
    /// Refuse the Add (and so the commit or proposal that carries it).
    Refuse,
}

/// The `last_resort_key_package` component. Register it
/// ([`Extensions::register`](crate::Extensions::register)) to check the
/// mark's format and apply a [`LastResortPolicy`] to Adds.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastResortKeyPackages {
    policy: LastResortPolicy,
}

impl LastResortKeyPackages {
    /// The component with a policy.
    pub fn new(policy: LastResortPolicy) -> Self {
        Self { policy }
    }
}

impl Component for LastResortKeyPackages {
    fn id(&self) -> ComponentId {
        LAST_RESORT_KEY_PACKAGE
    }

    /// §6.4: the entry carries no data. In a KeyPackage (and so in every
    /// Add), the policy decides.
    fn validate_data(&self, place: ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        if !data.is_empty() {
            return Err(Rejection::new("last_resort_key_package carries no data"));
        }
        match (place, self.policy) {
            (ExtensionContext::KeyPackage, LastResortPolicy::Refuse) => Err(Rejection::new("last-resort KeyPackages are refused here")),
            _ => Ok(()),
        }
    }
}
