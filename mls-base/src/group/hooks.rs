//! Extension hooks: how documents beyond RFC 9420 plug into a [`Group`]
//! without changing the engine (RFC 9420 §13).
//!
//! A [`Hooks`] value lives in [`GroupConfig::hooks`](super::GroupConfig) and
//! holds the handlers a group consults:
//!
//! - [`ProposalHandler`]: a new proposal type (§13.2) — who may send it,
//!   whether it needs an UpdatePath, whether it may appear in external
//!   commits, where it is applied relative to the RFC 9420 types, and what
//!   it does (it may change GroupContext extensions or remove members);
//! - [`ExtensionHandler`]: validation of a new extension type (§13.3) in
//!   KeyPackages, LeafNodes, GroupContexts and GroupInfos, and of changes to
//!   it in the GroupContext;
//! - [`WireFormatHandler`]: a new wire format (§13.2), such as an envelope
//!   whose body carries other messages;
//! - [`FramingHandler`]: structure imposed on `authenticated_data` and
//!   `application_data` (§6);
//! - [`PskStore`]: PSK values the group does not hold itself (external,
//!   application and other groups' resumption PSKs, §8.4), consulted when
//!   creating and processing commits and when joining by Welcome.
//!
//! New credential types go through
//! [`CredentialValidators`](super::CredentialValidators), extra epoch secrets
//! through [`EpochSecretRegistry`](crate::schedule::EpochSecretRegistry),
//! and the syntax of new proposal types and wire formats through
//! [`codec::syntax`](crate::codec::syntax).
//!
//! Handlers are shared (`Arc`) and called with the group borrowed
//! read-only; a handler that rejects returns an error and the message or
//! commit is rejected with the group unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{Group, PublicGroup};
use crate::codec::{Extension, ExtensionType, GroupContext, LeafNode, MlsMessage, ProposalType, Psk, Sender, WireFormat};
use crate::crypto::Secret;
use crate::error::Error;
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;

/// Where a new proposal type is applied within a commit (RFC 9420 §12.3
/// fixes the order of its own types: GroupContextExtensions, Update,
/// Remove, Add, PreSharedKey).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProposalStage {
    /// After the Updates and before the Removes: for proposals that remove
    /// members, so that a Remove of the same leaf is caught as a second
    /// change to that leaf.
    AfterUpdates,
    /// After all RFC 9420 proposals. Handlers of this stage run in the order
    /// of the number, then of the proposal type.
    AfterDefault(u16),
}

/// What a proposal type allows (RFC 9420 §17.4 columns, and the rules
/// drafts add).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ProposalFlags {
    /// External senders may send it (§17.4 "External").
    pub external_senders: bool,
    /// A commit that includes it needs an UpdatePath (§17.4 "Path Required").
    pub requires_path: bool,
    /// It may appear by value in an external commit (§12.2).
    pub in_external_commit: bool,
    /// It may be committed by reference in an external commit.
    pub by_reference_in_external_commit: bool,
    /// It may only be committed by reference.
    pub by_reference_only: bool,
    /// When sent as a standalone proposal it must be a PublicMessage.
    pub public_message_only: bool,
}

/// One proposal of a handler's type in the list being applied.
#[derive(Clone, Copy, Debug)]
pub struct ProposalItem<'a> {
    /// Who proposed it (the committer for proposals by value).
    pub sender: Sender,
    /// The body's wire bytes.
    pub body: &'a [u8],
    /// Whether it was committed by reference.
    pub by_reference: bool,
}

/// The state a [`ProposalHandler`] may read and change while a commit's
/// proposals are applied (RFC 9420 §12.3).
#[derive(Debug)]
pub struct ProposalState<'a> {
    pub(super) group: &'a PublicGroup,
    pub(super) committer: Sender,
    pub(super) tree: &'a RatchetTree,
    pub(super) extensions: &'a mut Vec<Extension>,
    pub(super) removals: Vec<LeafIndex>,
    pub(super) path_required: bool,
    pub(super) records: &'a mut Vec<(ProposalType, Vec<u8>)>,
    pub(super) proposal_type: ProposalType,
    pub(super) extensions_changed: bool,
}

impl ProposalState<'_> {
    /// The group in its current (old) epoch.
    pub fn group(&self) -> &PublicGroup {
        self.group
    }

    /// Who commits: `Sender::Member`, or `Sender::NewMemberCommit` for an
    /// external commit (whose joiner is added after the
    /// [`ProposalStage::AfterUpdates`] handlers run).
    pub fn committer(&self) -> Sender {
        self.committer
    }

    /// The tree with the proposals of earlier stages applied.
    pub fn tree(&self) -> &RatchetTree {
        self.tree
    }

    /// The new epoch's GroupContext extensions so far.
    pub fn extensions(&self) -> &[Extension] {
        self.extensions
    }

    /// Sets a GroupContext extension: replaces the one of the same type, or
    /// appends it at the end of the list.
    pub fn set_extension(&mut self, extension: Extension) {
        self.extensions_changed = true;
        match self.extensions.iter_mut().find(|e| e.extension_type == extension.extension_type) {
            Some(e) => *e = extension,
            None => self.extensions.push(extension),
        }
    }

    /// Removes a GroupContext extension; returns whether it was present.
    pub fn remove_extension(&mut self, extension_type: ExtensionType) -> bool {
        let before = self.extensions.len();
        self.extensions.retain(|e| e.extension_type != extension_type);
        let removed = self.extensions.len() != before;
        self.extensions_changed |= removed;
        removed
    }

    /// Removes a member, with the same checks as a Remove proposal (not the
    /// committer, not a blank leaf, not a leaf changed by another proposal).
    pub fn remove_member(&mut self, leaf: LeafIndex) {
        self.removals.push(leaf);
    }

    /// Makes the commit require an UpdatePath.
    pub fn require_path(&mut self) {
        self.path_required = true;
    }

    /// Attaches data to the staged commit, for the application to read with
    /// [`StagedCommit::hook_records`](super::StagedCommit::hook_records)
    /// (for example the data of ephemeral proposals).
    pub fn record(&mut self, data: Vec<u8>) {
        self.records.push((self.proposal_type, data));
    }
}

/// A handler for a proposal type not defined by RFC 9420.
///
/// The body's syntax must also be registered with
/// [`codec::syntax::register_proposal_syntax`](crate::codec::syntax::register_proposal_syntax)
/// unless it is `opaque<V>`.
pub trait ProposalHandler: Send + Sync + fmt::Debug {
    /// The type handled.
    fn proposal_type(&self) -> ProposalType;

    /// What the type allows.
    fn flags(&self) -> ProposalFlags;

    /// Where it is applied.
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterDefault(0)
    }

    /// Checks one proposal when it is received as a proposal message or
    /// committed (syntax and sender-independent rules).
    fn validate(&self, group: &PublicGroup, sender: &Sender, body: &[u8]) -> Result<(), Error>;

    /// Checks a standalone proposal against the group's pending proposals
    /// ([`PublicGroup::pending_proposals`]), when it is received and before we
    /// send one: rules such as "at most one per sender and epoch". Not
    /// called when the proposal is committed (it is pending itself then).
    fn check_pending(&self, group: &PublicGroup, sender: &Sender, body: &[u8]) -> Result<(), Error> {
        let _ = (group, sender, body);
        Ok(())
    }

    /// The leaf this proposal removes from the group, if it removes one
    /// (its sender's, for a proposal that removes its sender). When we
    /// commit pending proposals, the engine leaves out those it would make
    /// invalid (RFC 9420 §12.2: one change per leaf): pending Remove and
    /// Update proposals of that leaf, and this proposal itself if the leaf
    /// is ours (a committer cannot remove itself).
    fn removed_leaf(&self, sender: &Sender, body: &[u8]) -> Option<LeafIndex> {
        let _ = (sender, body);
        None
    }

    /// Applies all proposals of this type in a commit, in commit order.
    /// Returning an error makes the whole commit invalid.
    fn apply(&self, state: &mut ProposalState<'_>, proposals: &[ProposalItem<'_>]) -> Result<(), Error>;
}

/// Where an extension appears (RFC 9420 §13.3 "Message(s)").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionContext {
    /// `KeyPackage.extensions`.
    KeyPackage,
    /// `LeafNode.extensions`.
    LeafNode,
    /// `GroupContext.extensions`.
    GroupContext,
    /// `GroupInfo.extensions`.
    GroupInfo,
}

/// A handler for an extension type not defined by RFC 9420.
pub trait ExtensionHandler: Send + Sync + fmt::Debug {
    /// The type handled.
    fn extension_type(&self) -> ExtensionType;

    /// Whether the extension may appear in this context. Unknown extension
    /// types are ignored in KeyPackages, LeafNodes and GroupInfos (§13.4);
    /// a registered type outside its contexts is rejected.
    fn allowed_in(&self, context: ExtensionContext) -> bool;

    /// Checks the extension's data in a context.
    fn validate(&self, context: ExtensionContext, data: &[u8]) -> Result<(), Error>;

    /// Checks a change of the extension in the GroupContext made by a
    /// proposal of type `cause` (GroupContextExtensions or a new type).
    /// `None` means absent.
    fn validate_change(&self, old: Option<&[u8]>, new: Option<&[u8]>, cause: ProposalType, group: &PublicGroup) -> Result<(), Error> {
        let _ = (old, new, cause, group);
        Ok(())
    }

    /// Checks that a leaf meets what this extension, present in the
    /// GroupContext with `context_data`, requires of every member, as
    /// `required_capabilities` does (RFC 9420 §11.1). Called for each leaf
    /// the group validates (an Add's KeyPackage, an Update, a commit's
    /// UpdatePath, every leaf of a tree joined by Welcome or external
    /// commit) and for every member when a commit changes the GroupContext
    /// extensions.
    fn check_member(&self, context_data: &[u8], leaf: &LeafNode) -> Result<(), Error> {
        let _ = (context_data, leaf);
        Ok(())
    }
}

/// What a [`WireFormatHandler`] found in an incoming message.
#[derive(Debug, Default)]
pub struct Envelope {
    /// The authenticated sender, if the format has one.
    pub sender: Option<LeafIndex>,
    /// Data for the application.
    pub data: Vec<u8>,
    /// Authenticated but unencrypted data that came with it, if the format
    /// has any.
    pub authenticated_data: Vec<u8>,
    /// Messages carried inside, for the application to process (possibly
    /// in other groups).
    pub inner: Vec<MlsMessage>,
}

/// A handler for a wire format not defined by RFC 9420, processed by
/// [`Group::process_message`].
///
/// The body's syntax must also be registered with
/// [`codec::syntax::register_wire_format_syntax`](crate::codec::syntax::register_wire_format_syntax)
/// unless it extends to the end of the message.
pub trait WireFormatHandler: Send + Sync + fmt::Debug {
    /// The format handled.
    fn wire_format(&self) -> WireFormat;

    /// Authenticates and opens a message body addressed to `group`.
    fn process(&self, group: &Group, body: &[u8]) -> Result<Envelope, Error>;
}

/// Structure imposed on `authenticated_data` and `application_data`
/// (RFC 9420 §6). Several handlers run in registration order.
pub trait FramingHandler: Send + Sync + fmt::Debug {
    /// Transforms the `authenticated_data` of a message we send (any
    /// content type), or rejects it.
    fn frame_authenticated_data(&self, context: &GroupContext, authenticated_data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let _ = context;
        Ok(authenticated_data)
    }

    /// Checks the `authenticated_data` of a message we receive.
    fn check_authenticated_data(&self, context: &GroupContext, authenticated_data: &[u8]) -> Result<(), Error> {
        let _ = (context, authenticated_data);
        Ok(())
    }

    /// Transforms `application_data` we send, or rejects it.
    fn frame_application_data(&self, context: &GroupContext, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let _ = context;
        Ok(data)
    }

    /// Checks `application_data` we receive.
    fn check_application_data(&self, context: &GroupContext, data: &[u8]) -> Result<(), Error> {
        let _ = (context, data);
        Ok(())
    }
}

/// PSK values a group does not hold itself (RFC 9420 §8.4): external PSKs
/// shared out of band, application PSKs (`psktype` values beyond RFC
/// 9420), resumption PSKs of other groups. Consulted when a commit or
/// Welcome names such a PSK, after the group's own PSKs.
pub trait PskStore: Send + Sync + fmt::Debug {
    /// The secret of a PSK, if known.
    fn psk(&self, id: &Psk) -> Option<Secret>;
}

/// The handlers a group consults. Cheap to clone (shared handlers).
#[derive(Clone, Default)]
pub struct Hooks {
    proposals: BTreeMap<ProposalType, Arc<dyn ProposalHandler>>,
    extensions: BTreeMap<ExtensionType, Arc<dyn ExtensionHandler>>,
    wire_formats: BTreeMap<WireFormat, Arc<dyn WireFormatHandler>>,
    framing: Vec<Arc<dyn FramingHandler>>,
    psk_store: Option<Arc<dyn PskStore>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("proposals", &self.proposals.keys().collect::<Vec<_>>())
            .field("extensions", &self.extensions.keys().collect::<Vec<_>>())
            .field("wire_formats", &self.wire_formats.keys().collect::<Vec<_>>())
            .field("framing", &self.framing.len())
            .field("psk_store", &self.psk_store.is_some())
            .finish()
    }
}

impl Hooks {
    /// No handlers: plain RFC 9420.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the handler of a proposal type.
    pub fn with_proposal(mut self, handler: Arc<dyn ProposalHandler>) -> Self {
        self.proposals.insert(handler.proposal_type(), handler);
        self
    }

    /// Adds (or replaces) the handler of an extension type.
    pub fn with_extension(mut self, handler: Arc<dyn ExtensionHandler>) -> Self {
        self.extensions.insert(handler.extension_type(), handler);
        self
    }

    /// Adds (or replaces) the handler of a wire format.
    pub fn with_wire_format(mut self, handler: Arc<dyn WireFormatHandler>) -> Self {
        self.wire_formats.insert(handler.wire_format(), handler);
        self
    }

    /// Appends a framing handler.
    pub fn with_framing(mut self, handler: Arc<dyn FramingHandler>) -> Self {
        self.framing.push(handler);
        self
    }

    /// Sets the PSK store.
    pub fn with_psk_store(mut self, store: Arc<dyn PskStore>) -> Self {
        self.psk_store = Some(store);
        self
    }

    /// The handler of a proposal type.
    pub fn proposal(&self, t: ProposalType) -> Option<&Arc<dyn ProposalHandler>> {
        self.proposals.get(&t)
    }

    /// The handler of an extension type.
    pub fn extension(&self, t: ExtensionType) -> Option<&Arc<dyn ExtensionHandler>> {
        self.extensions.get(&t)
    }

    /// The handler of a wire format.
    pub fn wire_format(&self, w: WireFormat) -> Option<&Arc<dyn WireFormatHandler>> {
        self.wire_formats.get(&w)
    }

    /// The framing handlers, in order.
    pub fn framing(&self) -> &[Arc<dyn FramingHandler>] {
        &self.framing
    }

    /// The PSK store.
    pub fn psk_store(&self) -> Option<&Arc<dyn PskStore>> {
        self.psk_store.as_ref()
    }

    /// Validates the registered extensions of a list in a context (RFC 9420
    /// §13.4: unregistered types are left to the caller's rules).
    pub fn validate_extensions(&self, context: ExtensionContext, extensions: &[Extension]) -> Result<(), Error> {
        for e in extensions {
            if let Some(h) = self.extensions.get(&e.extension_type) {
                if !h.allowed_in(context) {
                    return Err(crate::error::PeerError::ExtensionNotAllowed {
                        extension_type: e.extension_type.0,
                        context,
                    }
                    .into());
                }
                h.validate(context, e.extension_data.as_slice())?;
            }
        }
        Ok(())
    }

    /// Checks a leaf against the requirements of the registered extensions
    /// in a GroupContext extension list ([`ExtensionHandler::check_member`]).
    pub fn check_member(&self, context_extensions: &[Extension], leaf: &LeafNode) -> Result<(), Error> {
        for e in context_extensions {
            if let Some(h) = self.extensions.get(&e.extension_type) {
                h.check_member(e.extension_data.as_slice(), leaf)?;
            }
        }
        Ok(())
    }

    /// Frames outgoing authenticated data through every framing handler.
    pub(super) fn frame_aad(&self, context: &GroupContext, aad: &[u8]) -> Result<Vec<u8>, Error> {
        let mut aad = aad.to_vec();
        for h in &self.framing {
            aad = h.frame_authenticated_data(context, aad)?;
        }
        Ok(aad)
    }

    /// Checks incoming authenticated data with every framing handler.
    pub(super) fn check_aad(&self, context: &GroupContext, aad: &[u8]) -> Result<(), Error> {
        self.framing.iter().try_for_each(|h| h.check_authenticated_data(context, aad))
    }
}
