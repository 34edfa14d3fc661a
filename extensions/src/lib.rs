//! draft-ietf-mls-extensions (editor's copy after -09) for `mlsx-base`: the
//! Safe Application Interface that lets independently written application
//! components share one MLS group.
//!
//! - [`Component`]s (§4.1) registered in [`Extensions`], each with an
//!   unforgeable [`ComponentKey`] for what needs the member's secrets;
//! - safe HPKE and signatures (§4.2, §4.3, [`safe`]);
//! - the Exporter Tree and `SafeExportSecret` (§4.4, [`exporter`]),
//!   usable once per component and epoch, also from a staged commit;
//! - application PSKs (§4.5, [`Extensions::application_psk`]);
//! - the `app_data_dictionary` extension (§4.6) and the AppDataUpdate
//!   (§4.7) and AppEphemeral (§4.8) proposals;
//! - SafeAAD (§4.9, [`SafeAad`]);
//! - negotiation (§5): `app_components`, `safe_aad`,
//!   `supported_wire_formats`, `required_wire_formats`, GREASE.
//!
//! Everything plugs into `mlsx-base` through its hooks
//! ([`Extensions::install`]); the engine knows nothing of this draft.
//!
//! # Example: two components sharing a group
//!
//! "Reactions" keeps a counter in the GroupContext through AppDataUpdate;
//! "read receipts" attaches data to commits through AppEphemeral. Neither
//! sees the other's data.
//!
//! ```
//! use std::sync::Arc;
//! use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
//! use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
//! use mlsx_base::codec::CipherSuite;
//! use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, Received};
//! use mlsx_extensions::{Component, Extensions, GroupRequirements, Origin, Rejection};
//!
//! const REACTIONS: u16 = 0x8001;
//! const RECEIPTS: u16 = 0x8002;
//!
//! /// Counts reactions: each update adds its one-byte count.
//! #[derive(Debug)]
//! struct Reactions;
//! impl Component for Reactions {
//!     fn id(&self) -> u16 { REACTIONS }
//!     fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
//!         let mut n = current.map_or(0, |c| c.first().copied().unwrap_or(0));
//!         for (u, _) in updates {
//!             n = n.checked_add(*u.first().ok_or(Rejection::new("empty"))?).ok_or(Rejection::new("overflow"))?;
//!         }
//!         Ok(vec![n])
//!     }
//! }
//!
//! /// Read receipts: ephemeral data of at most 8 bytes.
//! #[derive(Debug)]
//! struct Receipts;
//! impl Component for Receipts {
//!     fn id(&self) -> u16 { RECEIPTS }
//!     fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
//!         if data.len() <= 8 { Ok(()) } else { Err(Rejection::new("too long")) }
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cs: Arc<dyn CipherSuiteProvider> = RustCryptoProvider::new()
//!     .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
//!     .ok_or("suite")?;
//! let mut ext = Extensions::new();
//! let reactions = ext.register(Arc::new(Reactions))?;
//! let receipts = ext.register(Arc::new(Receipts))?;
//! let mut config = GroupConfig::default();
//! ext.install(&mut config)?;
//!
//! let member = |name: &[u8]| -> Result<Identity, Box<dyn std::error::Error>> {
//!     let mut id = Identity::basic(cs.as_ref(), name)?;
//!     ext.advertise(&mut id)?;
//!     Ok(id)
//! };
//! let requirements = GroupRequirements { components: vec![REACTIONS, RECEIPTS], ..Default::default() };
//! let mut alice = Group::create_with_extensions(
//!     cs.clone(), member(b"alice")?, b"group".to_vec(), ext.group_context_extensions(&requirements)?, config.clone())?;
//! let bob_kp = member(b"bob")?.key_package(cs.as_ref())?;
//! let out = alice.commit(CommitOptions::add(vec![bob_kp.key_package.clone()]))?;
//! alice.merge_pending_commit()?;
//! let mut bob = Group::join(cs.clone(), out.welcome_message()?, bob_kp, None, config)?;
//!
//! // One commit: a reaction (AppDataUpdate) and a read receipt (AppEphemeral).
//! let out = alice.commit(CommitOptions {
//!     proposals: vec![ext.app_data_update(REACTIONS, vec![3])?, ext.app_ephemeral(RECEIPTS, b"msg-42".to_vec())?],
//!     ..CommitOptions::default()
//! })?;
//! alice.merge_pending_commit()?;
//! let Received::Commit(staged) = bob.process_message(&out.commit)? else { unreachable!() };
//! let ephemeral = ext.app_ephemeral_of(&staged)?;
//! bob.merge_staged_commit(staged)?;
//!
//! assert_eq!(ext.dictionary(bob.context())?.get(REACTIONS), Some(&[3u8][..]));
//! assert_eq!(ephemeral[0].data.as_slice(), b"msg-42");
//! // Each component exports its own secret once per epoch; both members agree.
//! assert_eq!(
//!     reactions.safe_export_secret(&mut alice)?.as_bytes(),
//!     reactions.safe_export_secret(&mut bob)?.as_bytes(),
//! );
//! assert!(reactions.safe_export_secret(&mut bob).is_err());
//! let _ = receipts;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod app_ack;
pub mod codec;
mod component;
mod dictionary;
mod error;
pub mod exporter;
mod handlers;
mod last_resort;
pub mod media;
pub mod multi;
pub mod safe;
mod safe_aad;
mod self_remove;
pub mod targeted;
pub mod userinfo_vc;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use mlsx_base::codec::syntax::{BodySyntax, register_proposal_syntax};
use mlsx_base::codec::{
    CustomProposal, DeserializeBytes, Extension, ExtensionType, FramedContentBody, GroupContext, MlsMessage, MlsMessageBody,
    PreSharedKeyId, PreSharedKeyProposal, Proposal, ProposalType, Psk, RequiredCapabilities, Sender, VLBytes, WireFormat, decode, encode,
};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::group::{Group, GroupConfig, Identity, StagedCommit};

pub use app_ack::{AckTracker, AppAckComponent, Losses};
pub use codec::{
    AppAck, AppDataChange, AppDataDictionary, AppDataUpdate, AppDataUpdateOperation, AppEphemeral, ApplicationFraming, ComponentData,
    ComponentId, ComponentOperationLabel, ComponentsList, MediaType, MediaTypeList, MessageRange, Parameter, SafeAad, SafeAadItem,
    WireFormats,
};
pub use component::{Component, ComponentKey, Origin, Rejection};
pub use error::Error;
pub use exporter::{APPLICATION_EXPORT_LABEL, ExporterTree};
pub use last_resort::{LastResortKeyPackages, LastResortPolicy};
pub use media::ContentMediaTypes;
pub use safe::{GroupKey, safe_encrypt_with_label, safe_verify_with_label};

use handlers::{
    AppDataUpdateHandler, AppEphemeralHandler, ComponentPsks, DictionaryHandler, RequiredWireFormatsHandler, SafeAadFraming, Shared,
    SupportedWireFormatsHandler,
};

/// `app_components` (§5; component registry §7.5): in a LeafNode the
/// components its client supports, in the GroupContext those every member
/// must support.
pub const APP_COMPONENTS: ComponentId = 0x0001;
/// `safe_aad` (§5): in a LeafNode the SafeAAD components its client
/// supports, in the GroupContext the required ones; its presence in the
/// GroupContext turns SafeAAD framing on (§4.9).
pub const SAFE_AAD: ComponentId = 0x0002;
/// `content_media_types` (§6.2).
pub const CONTENT_MEDIA_TYPES: ComponentId = 0x0003;
/// `last_resort_key_package` (§6.4).
pub const LAST_RESORT_KEY_PACKAGE: ComponentId = 0x0004;
/// `app_ack` (§6.1).
pub const APP_ACK: ComponentId = 0x0005;
/// `apq_mls_info` (draft-ietf-mls-combiner).
pub const APQ_MLS_INFO: ComponentId = 0x0006;
/// The GREASE component ids (§5.1): `0x?A?A` below the private-use range.
pub const GREASE_COMPONENTS: [ComponentId; 8] = [0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A];

/// Whether a component id is a GREASE value.
pub fn is_grease_component(id: ComponentId) -> bool {
    GREASE_COMPONENTS.contains(&id)
}

/// The SelfRemove proposal type of mls-rs (0.57, feature
/// `self_remove_proposal`): a private-use value, not the draft's 0x000a.
/// Set [`CodePoints::self_remove`] to it for groups with mls-rs clients.
pub const MLS_RS_SELF_REMOVE: ProposalType = ProposalType(0xF003);

/// The code points this crate uses. None is assigned by IANA yet; the
/// defaults are the draft's suggestions (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodePoints {
    /// `app_data_dictionary` extension (suggested 0x0006).
    pub app_data_dictionary: ExtensionType,
    /// `supported_wire_formats` extension (suggested 0x0007).
    pub supported_wire_formats: ExtensionType,
    /// `required_wire_formats` extension (suggested 0x0008).
    pub required_wire_formats: ExtensionType,
    /// AppDataUpdate proposal (suggested 0x0008).
    pub app_data_update: ProposalType,
    /// AppEphemeral proposal (suggested 0x0009).
    pub app_ephemeral: ProposalType,
    /// SelfRemove proposal (suggested 0x000a; mls-rs uses
    /// [`MLS_RS_SELF_REMOVE`]).
    pub self_remove: ProposalType,
}

impl Default for CodePoints {
    fn default() -> Self {
        Self {
            app_data_dictionary: ExtensionType(0x0006),
            supported_wire_formats: ExtensionType(0x0007),
            required_wire_formats: ExtensionType(0x0008),
            app_data_update: ProposalType(0x0008),
            app_ephemeral: ProposalType(0x0009),
            self_remove: ProposalType(0x000a),
        }
    }
}

/// What a new group requires of its members and starts with (§5).
#[derive(Clone, Debug, Default)]
pub struct GroupRequirements {
    /// Components every member must support (`app_components` in the
    /// GroupContext).
    pub components: Vec<ComponentId>,
    /// `Some` turns SafeAAD on (§4.9) and lists the SafeAAD components
    /// every member must support (possibly none).
    pub safe_aad: Option<Vec<ComponentId>>,
    /// Wire formats every member must support (`required_wire_formats`).
    pub wire_formats: Vec<WireFormat>,
    /// Initial GroupContext entries of components.
    pub data: Vec<(ComponentId, Vec<u8>)>,
}

/// Where a commit's AppDataUpdates leave the `app_data_dictionary`
/// extension in the new GroupContext's extension list. The position is
/// part of the GroupContext's bytes, so every member of a group must use
/// the same placement, or they split at the first AppDataUpdate that finds
/// the dictionary elsewhere than last (`drafts/interop.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DictionaryPlacement {
    /// The draft's rule (draft-ietf-mls-extensions §4.7): a dictionary that
    /// is present has its entries set where it stands; an absent one is
    /// added at the end of the list.
    #[default]
    InPlace,
    /// OpenMLS 0.9's behaviour: the dictionary is taken out and appended at
    /// the end of the list on every commit with an AppDataUpdate. For
    /// groups shared with OpenMLS members whose creator did not list the
    /// dictionary last.
    MoveToEnd,
}

/// The components of an application and the draft's machinery, to install
/// in a [`GroupConfig`] and to advertise in an [`Identity`].
#[derive(Debug)]
pub struct Extensions {
    components: BTreeMap<ComponentId, Arc<dyn Component>>,
    code_points: CodePoints,
    wire_formats: Vec<WireFormat>,
    placement: DictionaryPlacement,
    /// This value's own number, in every [`ComponentKey`] it issues
    /// ([`Self::issued`]).
    issuer: u64,
}

impl Default for Extensions {
    fn default() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            components: BTreeMap::new(),
            code_points: CodePoints::default(),
            wire_formats: vec![],
            placement: DictionaryPlacement::default(),
            issuer: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }
}

impl Extensions {
    /// No components, the suggested code points.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `key` was issued by this value's [`Self::register`] (not by
    /// another `Extensions` for a component of the same id): what an
    /// application layer checks before acting for a component.
    pub fn issued(&self, key: &ComponentKey) -> bool {
        key.issuer() == self.issuer && self.components.contains_key(&key.id())
    }

    /// Other code points (for peers that use other values).
    #[must_use]
    pub fn with_code_points(mut self, code_points: CodePoints) -> Self {
        self.code_points = code_points;
        self
    }

    /// The code points in use.
    pub fn code_points(&self) -> CodePoints {
        self.code_points
    }

    /// Where AppDataUpdates leave the dictionary in the GroupContext
    /// ([`DictionaryPlacement::InPlace`], the draft's rule, by default).
    /// Set it before [`Self::install`]; every member of a group must use
    /// the same.
    #[must_use]
    pub fn with_dictionary_placement(mut self, placement: DictionaryPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// The placement in use.
    pub fn dictionary_placement(&self) -> DictionaryPlacement {
        self.placement
    }

    /// Registers a component and returns its [`ComponentKey`], the only
    /// one issued. Register every component before [`Self::install`]. An id
    /// may be registered once; 0 (reserved), `app_components` and
    /// `safe_aad` (this crate's own) and the GREASE ids are refused.
    pub fn register(&mut self, component: Arc<dyn Component>) -> Result<ComponentKey, Error> {
        let id = component.id();
        if id == 0 || id == APP_COMPONENTS || id == SAFE_AAD || is_grease_component(id) {
            return Err(Error::ReservedComponent(id));
        }
        if self.components.contains_key(&id) {
            return Err(Error::DuplicateComponent(id));
        }
        self.components.insert(id, component);
        Ok(ComponentKey::new(id, self.issuer))
    }

    /// The ids of the registered components, ascending.
    pub fn component_ids(&self) -> Vec<ComponentId> {
        self.components.keys().copied().collect()
    }

    /// The registered component with this id.
    pub fn component(&self, id: ComponentId) -> Option<&Arc<dyn Component>> {
        self.components.get(&id)
    }

    /// Declares support for a wire format beyond RFC 9420's, advertised in
    /// `supported_wire_formats` (§5); its handler is installed separately.
    pub fn support_wire_format(&mut self, wire_format: WireFormat) {
        if !self.wire_formats.contains(&wire_format) {
            self.wire_formats.push(wire_format);
        }
    }

    /// Declares the wire syntax of the AppDataUpdate and AppEphemeral
    /// proposal bodies to the decoder (process-wide, see
    /// [`mlsx_base::codec::syntax`]); [`Self::install`] does it too. Call it
    /// before decoding messages that may carry them outside a group.
    pub fn register_syntax(&self) {
        register_proposal_syntax(self.code_points.app_data_update, BodySyntax::Parser(body_len::<AppDataUpdate>));
        register_proposal_syntax(self.code_points.app_ephemeral, BodySyntax::Parser(body_len::<AppEphemeral>));
        register_proposal_syntax(self.code_points.self_remove, BodySyntax::Empty);
    }

    /// Plugs the draft into a group configuration: the
    /// `application_export` epoch secret, the AppDataUpdate and
    /// AppEphemeral handlers, the extension handlers, SafeAAD framing and
    /// application PSKs (chained before any PSK store already set), and a
    /// GREASE `app_data_dictionary` in GroupInfos when `config.grease`.
    pub fn install(&self, config: &mut GroupConfig) -> Result<(), Error> {
        let shared = Arc::new(Shared {
            components: self.components.clone(),
            code_points: self.code_points,
            placement: self.placement,
        });
        self.register_syntax();
        config.epoch_secrets.register(APPLICATION_EXPORT_LABEL)?;
        let previous = config.hooks.psk_store().cloned();
        config.hooks = std::mem::take(&mut config.hooks)
            .with_proposal(Arc::new(AppDataUpdateHandler(shared.clone())))
            .with_proposal(Arc::new(AppEphemeralHandler(shared.clone())))
            .with_proposal(Arc::new(self_remove::SelfRemoveHandler(shared.clone())))
            .with_extension(Arc::new(DictionaryHandler(shared.clone())))
            .with_extension(Arc::new(SupportedWireFormatsHandler(shared.clone())))
            .with_extension(Arc::new(RequiredWireFormatsHandler(shared.clone())))
            .with_framing(Arc::new(SafeAadFraming(shared.clone())))
            .with_framing(Arc::new(handlers::ContentFraming(shared.clone())))
            .with_psk_store(Arc::new(ComponentPsks { shared, previous }));
        // GroupInfo: the application's entries stay; a GREASE entry is
        // added (drawn once per installation).
        let t = self.code_points.app_data_dictionary;
        let mut d = AppDataDictionary::find(&config.group_info_extensions, t)?.unwrap_or_default();
        d.component_data.retain(|c| !is_grease_component(c.component_id));
        config.group_info_extensions.retain(|e| e.extension_type != t);
        if config.grease {
            d.set(grease_component(), vec![]);
        }
        if !d.component_data.is_empty() {
            config.group_info_extensions.push(d.to_extension(t)?);
        }
        Ok(())
    }

    /// Makes an identity's leaves and KeyPackages advertise the draft
    /// (§4.6, §5): the extension and proposal types in `capabilities`, and
    /// an `app_data_dictionary` leaf extension whose `app_components` lists
    /// `app_components`, `safe_aad` and every registered component and
    /// whose `safe_aad` lists the components that use SafeAAD, with GREASE
    /// values (§5.1) when `identity.grease`; `supported_wire_formats` when
    /// wire formats were declared. Entries the application put in the
    /// leaf's or KeyPackage's dictionary before the call stay.
    pub fn advertise(&self, identity: &mut Identity) -> Result<(), Error> {
        let cp = self.code_points;
        let caps = &mut identity.capabilities;
        for t in [cp.app_data_dictionary, cp.supported_wire_formats, cp.required_wire_formats] {
            if !caps.extensions.contains(&t) {
                caps.extensions.push(t);
            }
        }
        for t in [cp.app_data_update, cp.app_ephemeral, cp.self_remove] {
            if !caps.proposals.contains(&t) {
                caps.proposals.push(t);
            }
        }
        let grease = identity.grease;
        let mut supported: Vec<ComponentId> = [APP_COMPONENTS, SAFE_AAD]
            .into_iter()
            .chain(self.components.keys().copied())
            .collect();
        let mut safe_aad: Vec<ComponentId> = self.components.values().filter(|c| c.uses_safe_aad()).map(|c| c.id()).collect();
        // The application's own entries stay; GREASE entries of an earlier
        // call are replaced.
        let mut dictionary = AppDataDictionary::find(&identity.leaf_extensions, cp.app_data_dictionary)?.unwrap_or_default();
        dictionary.component_data.retain(|c| !is_grease_component(c.component_id));
        if grease {
            supported.push(grease_component());
            safe_aad.push(grease_component());
            dictionary.set(grease_component(), vec![]);
        }
        dictionary.set(APP_COMPONENTS, encode_list(supported)?);
        dictionary.set(SAFE_AAD, encode_list(safe_aad)?);
        let mut extensions: Vec<Extension> = identity
            .leaf_extensions
            .drain(..)
            .filter(|e| e.extension_type != cp.app_data_dictionary && e.extension_type != cp.supported_wire_formats)
            .collect();
        extensions.push(dictionary.to_extension(cp.app_data_dictionary)?);
        if !self.wire_formats.is_empty() {
            let wf = WireFormats {
                wire_formats: self.wire_formats.clone(),
            };
            extensions.push(Extension::new(cp.supported_wire_formats, encode(&wf)?));
        }
        identity.leaf_extensions = extensions;
        let mut d = AppDataDictionary::find(&identity.key_package_extensions, cp.app_data_dictionary)?.unwrap_or_default();
        d.component_data.retain(|c| !is_grease_component(c.component_id));
        identity
            .key_package_extensions
            .retain(|e| e.extension_type != cp.app_data_dictionary);
        if grease {
            d.set(grease_component(), vec![]);
        }
        if !d.component_data.is_empty() {
            identity.key_package_extensions.push(d.to_extension(cp.app_data_dictionary)?);
        }
        Ok(())
    }

    /// The GroupContext extensions of a new group with these requirements:
    /// `required_capabilities` naming the draft's extension and proposal
    /// types, the `app_data_dictionary` (with `app_components`, `safe_aad`
    /// when requested, and the initial entries) and `required_wire_formats`
    /// when formats are required. Pass them to
    /// [`Group::create_with_extensions`](mlsx_base::group::Group::create_with_extensions).
    pub fn group_context_extensions(&self, requirements: &GroupRequirements) -> Result<Vec<Extension>, Error> {
        let cp = self.code_points;
        let mut extension_types = vec![cp.app_data_dictionary];
        if !requirements.wire_formats.is_empty() {
            extension_types.push(cp.required_wire_formats);
        }
        let required = RequiredCapabilities {
            extension_types,
            proposal_types: vec![cp.app_data_update, cp.app_ephemeral],
            credential_types: vec![],
        };
        let mut dictionary = AppDataDictionary::default();
        dictionary.set(APP_COMPONENTS, encode_list(requirements.components.clone())?);
        if let Some(list) = &requirements.safe_aad {
            dictionary.set(SAFE_AAD, encode_list(list.clone())?);
        }
        for (id, data) in &requirements.data {
            dictionary.set(*id, data.clone());
        }
        let mut out = vec![Extension::new(ExtensionType::REQUIRED_CAPABILITIES, encode(&required)?)];
        if !requirements.wire_formats.is_empty() {
            let wf = WireFormats {
                wire_formats: requirements.wire_formats.clone(),
            };
            out.push(Extension::new(cp.required_wire_formats, encode(&wf)?));
        }
        // Last: OpenMLS 0.9 moves the dictionary to the end of the list on
        // every AppDataUpdate (the draft replaces it in place); starting
        // there keeps both GroupContexts equal.
        out.push(dictionary.to_extension(cp.app_data_dictionary)?);
        Ok(out)
    }

    /// An AppDataUpdate proposal that updates a component's entry (§4.7).
    pub fn app_data_update(&self, component_id: ComponentId, update: Vec<u8>) -> Result<Proposal, Error> {
        self.custom(
            self.code_points.app_data_update,
            &AppDataUpdate {
                component_id,
                change: AppDataChange::Update(update.into()),
            },
        )
    }

    /// An AppDataUpdate proposal that removes a component's entry (§4.7).
    pub fn app_data_remove(&self, component_id: ComponentId) -> Result<Proposal, Error> {
        self.custom(
            self.code_points.app_data_update,
            &AppDataUpdate {
                component_id,
                change: AppDataChange::Remove,
            },
        )
    }

    /// An AppEphemeral proposal (§4.8).
    pub fn app_ephemeral(&self, component_id: ComponentId, data: Vec<u8>) -> Result<Proposal, Error> {
        self.custom(
            self.code_points.app_ephemeral,
            &AppEphemeral {
                component_id,
                data: data.into(),
            },
        )
    }

    /// Advertises the media types a client can receive (§6.2: SHOULD): the
    /// `content_media_types` entry of its leaves' `app_data_dictionary`.
    /// Register [`ContentMediaTypes`] too, so that `advertise` lists the
    /// component in `app_components`.
    pub fn advertise_media_types(&self, identity: &mut Identity, list: &MediaTypeList) -> Result<(), Error> {
        let t = self.code_points.app_data_dictionary;
        let mut d = AppDataDictionary::find(&identity.leaf_extensions, t)?.unwrap_or_default();
        d.set(CONTENT_MEDIA_TYPES, list.to_data()?);
        identity.leaf_extensions.retain(|e| e.extension_type != t);
        identity.leaf_extensions.push(d.to_extension(t)?);
        if !identity.capabilities.extensions.contains(&t) {
            identity.capabilities.extensions.push(t);
        }
        Ok(())
    }

    /// The media types a GroupContext requires, if any (§6.2).
    pub fn required_media_types(&self, context: &GroupContext) -> Result<Option<MediaTypeList>, Error> {
        media::framed(context, self.code_points.app_data_dictionary)
    }

    /// The media types a leaf advertises, if any.
    pub fn leaf_media_types(&self, leaf: &mlsx_base::codec::LeafNode) -> Result<Option<MediaTypeList>, Error> {
        match AppDataDictionary::find(&leaf.extensions, self.code_points.app_data_dictionary)? {
            Some(d) => media::required(&d),
            None => Ok(None),
        }
    }

    /// §6.2: "SHOULD NOT add an MLS client … unless all the members …
    /// advertise support for all the required media types". Checks the
    /// group's members, less those `removed`, and the clients of
    /// `key_packages` before a commit that adds them. Receivers do not
    /// apply this rule (it is not a MUST), so groups made by other
    /// implementations stay usable.
    pub fn check_media_type_support(
        &self,
        group: &Group,
        key_packages: &[mlsx_base::codec::KeyPackage],
        removed: &[mlsx_base::tree::math::LeafIndex],
    ) -> Result<(), Error> {
        let Some(required) = self.required_media_types(group.context())? else {
            return Ok(());
        };
        let leaves = group
            .members()
            .filter(|(l, _)| !removed.contains(l))
            .map(|(_, leaf)| leaf)
            .chain(key_packages.iter().map(|kp| &kp.leaf_node));
        for leaf in leaves {
            let theirs = self.leaf_media_types(leaf)?.unwrap_or_default();
            if let Some(t) = required.media_type_list.iter().find(|t| !theirs.supports(t)) {
                return Err(Error::MediaTypeUnsupported(t.to_text()));
            }
        }
        Ok(())
    }

    /// Frames content for a group that requires it (§6.2): `media_type`
    /// `None` sends the empty type, which stands for the group's first one.
    /// In a group without `content_media_types` the content goes unframed.
    pub fn frame_content(&self, context: &GroupContext, media_type: Option<&MediaType>, content: &[u8]) -> Result<Vec<u8>, Error> {
        match self.required_media_types(context)? {
            Some(_) => media::frame(media_type, content),
            None => Ok(content.to_vec()),
        }
    }

    /// Reads received application data of a group that frames it: the
    /// content's media type (the group's first for the empty type) and the
    /// content.
    pub fn unframe_content(&self, context: &GroupContext, data: &[u8]) -> Result<(MediaType, Vec<u8>), Error> {
        let required = self.required_media_types(context)?.ok_or(Error::NoContentMediaTypes)?;
        media::unframe(&required, data)
    }

    /// Marks the KeyPackages an identity makes as last resort (§6.4): an
    /// empty `last_resort_key_package` entry in their `app_data_dictionary`.
    /// Call it after [`Self::advertise`] (which keeps the entry).
    pub fn mark_last_resort(&self, identity: &mut Identity) -> Result<(), Error> {
        let t = self.code_points.app_data_dictionary;
        let mut d = AppDataDictionary::find(&identity.key_package_extensions, t)?.unwrap_or_default();
        d.set(LAST_RESORT_KEY_PACKAGE, vec![]);
        identity.key_package_extensions.retain(|e| e.extension_type != t);
        identity.key_package_extensions.push(d.to_extension(t)?);
        if !identity.capabilities.extensions.contains(&t) {
            identity.capabilities.extensions.push(t);
        }
        Ok(())
    }

    /// Whether a KeyPackage is marked last resort (§6.4).
    pub fn is_last_resort(&self, key_package: &mlsx_base::codec::KeyPackage) -> Result<bool, Error> {
        Ok(
            AppDataDictionary::find(&key_package.extensions, self.code_points.app_data_dictionary)?
                .is_some_and(|d| d.get(LAST_RESORT_KEY_PACKAGE).is_some()),
        )
    }

    /// A SelfRemove proposal (§6.3), for [`Group::propose`](mlsx_base::group::Group::propose);
    /// [`Self::leave`] checks the group first.
    pub fn self_remove(&self) -> Proposal {
        Proposal::Custom(CustomProposal::new(self.code_points.self_remove, vec![]))
    }

    /// Whether every member of the group supports SelfRemove (§6.3: a
    /// "self-remove-capable group").
    pub fn is_self_remove_capable(&self, group: &Group) -> bool {
        group
            .members()
            .all(|(_, leaf)| leaf.capabilities.proposals.contains(&self.code_points.self_remove))
    }

    /// Asks to leave the group with a SelfRemove proposal (§6.3), sent as
    /// a PublicMessage so that external joiners can include it. Another
    /// member's next commit, or an external joiner's, removes us; the
    /// staged commit says so ([`StagedCommit::removes_self`]). At most one
    /// per epoch; the group must be self-remove-capable.
    pub fn leave(&self, group: &mut Group) -> Result<MlsMessage, Error> {
        if !self.is_self_remove_capable(group) {
            return Err(Error::NotSelfRemoveCapable);
        }
        Ok(group.propose(self.self_remove(), &[])?)
    }

    /// Whether a message is a SelfRemove proposal in a PublicMessage, the
    /// form a delivery service attaches to GroupInfos for external joiners
    /// (§6.3) and that they pass in
    /// [`ExternalJoinOptions::proposals_by_reference`](mlsx_base::group::ExternalJoinOptions).
    pub fn is_self_remove_message(&self, message: &MlsMessage) -> bool {
        match &message.body {
            MlsMessageBody::PublicMessage(m) => matches!(
                &m.content.body,
                FramedContentBody::Proposal(Proposal::Custom(c)) if c.proposal_type == self.code_points.self_remove
            ),
            _ => false,
        }
    }

    /// A PreSharedKey proposal for a component's application PSK (§4.5),
    /// with a fresh nonce; every member's component must hold its value
    /// ([`Component::psk`]).
    pub fn application_psk(
        &self,
        cs: &(impl CipherSuiteProvider + ?Sized),
        component_id: ComponentId,
        psk_id: Vec<u8>,
    ) -> Result<Proposal, Error> {
        let nonce = cs.random_vec(cs.hash_len()).map_err(mlsx_base::Error::from)?;
        Ok(Proposal::PreSharedKey(PreSharedKeyProposal {
            psk: PreSharedKeyId {
                psk: Psk::Application(mlsx_base::codec::ApplicationPsk {
                    component_id,
                    psk_id: VLBytes::new(psk_id),
                }),
                psk_nonce: VLBytes::new(nonce),
            },
        }))
    }

    /// The `app_data_dictionary` of a GroupContext (empty if absent).
    pub fn dictionary(&self, context: &GroupContext) -> Result<AppDataDictionary, Error> {
        Ok(AppDataDictionary::find(&context.extensions, self.code_points.app_data_dictionary)?.unwrap_or_default())
    }

    /// The AppEphemeral proposals of a staged commit, in the order they
    /// were applied (commit order, §4.8).
    pub fn app_ephemeral_of(&self, staged: &StagedCommit) -> Result<Vec<AppEphemeral>, Error> {
        Ok(self.app_ephemeral_with_senders(staged)?.into_iter().map(|(_, e)| e).collect())
    }

    /// [`Self::app_ephemeral_of`] with the sender of each proposal (the
    /// committer for proposals by value).
    pub fn app_ephemeral_with_senders(&self, staged: &StagedCommit) -> Result<Vec<(Sender, AppEphemeral)>, Error> {
        staged
            .hook_records()
            .iter()
            .filter(|(t, _)| *t == self.code_points.app_ephemeral)
            .map(|(_, record)| {
                let (sender, body) = Sender::tls_deserialize_bytes(record)?;
                Ok((sender, decode(body)?))
            })
            .collect()
    }

    fn custom(&self, proposal_type: ProposalType, body: &impl mlsx_base::codec::TlsSerializeTrait) -> Result<Proposal, Error> {
        Ok(Proposal::Custom(CustomProposal::new(proposal_type, encode(body)?)))
    }
}

/// The length of a `T` at the start of `bytes` (a proposal body's syntax).
fn body_len<T: DeserializeBytes>(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = T::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

fn encode_list(ids: Vec<ComponentId>) -> Result<Vec<u8>, Error> {
    Ok(encode(&ComponentsList { component_ids: ids })?)
}

/// A GREASE component id picked at random (not secret: std's per-process
/// random hasher keys suffice).
fn grease_component() -> ComponentId {
    let r = RandomState::new().hash_one(0u8);
    GREASE_COMPONENTS[(r % GREASE_COMPONENTS.len() as u64) as usize]
}
