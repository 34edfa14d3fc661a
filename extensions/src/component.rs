//! Application components (§4.1): the [`Component`] trait an application
//! implements, and [`ComponentKey`], the proof that the code holding it is
//! the component registered under an id.

use std::fmt;

use mlsx_base::codec::Sender;
use mlsx_base::crypto::Secret;
use mlsx_base::group::hooks::ExtensionContext;

use crate::codec::ComponentId;

/// Why a component refused data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection(pub String);

impl Rejection {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where proposal data a component judges comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Who proposed (the committer for proposals by value).
    pub sender: Sender,
    /// Who commits: `Sender::Member`, or `Sender::NewMemberCommit` for an
    /// external commit.
    pub committer: Sender,
    /// The epoch the commit leaves.
    pub epoch: u64,
}

impl Origin {
    /// Whether the data arrives in an external commit or from an external
    /// sender (components may refuse those, §4.7, §4.8).
    pub fn is_external(&self) -> bool {
        !matches!(self.sender, Sender::Member(_)) || !matches!(self.committer, Sender::Member(_))
    }
}

/// An application component (§4.1): one independently written part of an
/// application sharing an MLS group with others. Each callback sees only
/// this component's own data; a component never sees another's entries,
/// items or proposals.
///
/// Every callback must be deterministic in its inputs: all members run it
/// on the same commit and must reach the same group state (§4.7).
/// Callbacks run while a commit is validated, before it is merged; the
/// application acts on the result only once the commit is merged
/// ([`crate::app_ephemeral_of`] reads a commit's AppEphemeral data).
pub trait Component: Send + Sync + fmt::Debug {
    /// The component's id.
    fn id(&self) -> ComponentId;

    /// Checks this component's entry in an `app_data_dictionary` (§4.6)
    /// of a KeyPackage, LeafNode, GroupContext or GroupInfo.
    fn validate_data(&self, place: ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        let _ = (place, data);
        Ok(())
    }

    /// Computes this component's new GroupContext entry from its current
    /// one (`None` if absent) and the `update` fields of a commit's
    /// AppDataUpdate proposals with their origins, in commit order (§4.7).
    /// The default refuses: a component that keeps no GroupContext state
    /// takes no updates.
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let _ = (current, updates);
        Err(Rejection::new("this component takes no AppDataUpdate"))
    }

    /// Whether a commit may remove this component's GroupContext entry
    /// (§4.7). Allowed by default.
    fn allow_remove(&self, current: &[u8], origin: &Origin) -> Result<(), Rejection> {
        let _ = (current, origin);
        Ok(())
    }

    /// Checks the data of an AppEphemeral proposal for this component
    /// (§4.8). The default refuses: a component that expects no ephemeral
    /// data takes none.
    fn check_ephemeral(&self, data: &[u8], origin: &Origin) -> Result<(), Rejection> {
        let _ = (data, origin);
        Err(Rejection::new("this component takes no AppEphemeral data"))
    }

    /// Whether this component puts items in SafeAAD (§4.9); listed in the
    /// `safe_aad` component of our leaves.
    fn uses_safe_aad(&self) -> bool {
        false
    }

    /// Checks this component's SafeAAD item of a received message (§4.9).
    fn check_aad_item(&self, data: &[u8]) -> Result<(), Rejection> {
        let _ = data;
        Ok(())
    }

    /// The value of this component's application PSK `psk_id` (§4.5), if
    /// it holds it.
    fn psk(&self, psk_id: &[u8]) -> Option<Secret> {
        let _ = psk_id;
        None
    }
}

/// The capability to act as one component: issued once, when the
/// component is registered ([`crate::Extensions::register`]), and
/// required by every operation that uses the member's secret keys or its
/// export secret under that component's id (§4.2, §4.3, §4.4: such
/// operations MUST use the caller's own id). It cannot be made otherwise.
#[derive(Debug)]
pub struct ComponentKey {
    id: ComponentId,
    issuer: u64,
}

impl ComponentKey {
    pub(crate) fn new(id: ComponentId, issuer: u64) -> Self {
        Self { id, issuer }
    }

    /// The number of the [`crate::Extensions`] that issued the key.
    pub(crate) fn issuer(&self) -> u64 {
        self.issuer
    }

    /// The id of the component this key belongs to.
    pub fn id(&self) -> ComponentId {
        self.id
    }
}
