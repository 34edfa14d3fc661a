//! The handlers that plug the draft into `mlsx-base`'s hooks: the
//! AppDataUpdate and AppEphemeral proposals, the `app_data_dictionary`,
//! `supported_wire_formats` and `required_wire_formats` extensions, SafeAAD
//! framing and application PSKs.

use std::collections::BTreeMap;
use std::sync::Arc;

use mlsx_base::codec::{
    ExtensionType, GroupContext, LeafNode, ProposalType, Psk, RequiredCapabilities, Sender, WireFormat, decode, find_extension,
};
use mlsx_base::crypto::Secret;
use mlsx_base::group::PublicGroup;
use mlsx_base::group::hooks::{
    ExtensionContext, ExtensionHandler, FramingHandler, ProposalFlags, ProposalHandler, ProposalItem, ProposalStage, ProposalState,
    PskStore,
};

use crate::codec::{AppDataChange, AppDataDictionary, AppDataUpdate, AppEphemeral, ComponentId, ComponentsList, SafeAad, WireFormats};
use crate::component::{Component, Origin, Rejection};
use crate::{APP_COMPONENTS, CodePoints, Error, SAFE_AAD};

/// What the handlers share: the registered components and the code points.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) components: BTreeMap<ComponentId, Arc<dyn Component>>,
    pub(crate) code_points: CodePoints,
    pub(crate) placement: crate::DictionaryPlacement,
}

impl Shared {
    fn component(&self, id: ComponentId) -> Result<&Arc<dyn Component>, Error> {
        self.components.get(&id).ok_or(Error::UnknownComponent(id))
    }
}

fn rejected(component: ComponentId) -> impl Fn(Rejection) -> Error {
    move |r| Error::ComponentRejected { component, reason: r.0 }
}

fn origin(state: &ProposalState<'_>, sender: Sender) -> Origin {
    Origin {
        sender,
        committer: state.committer(),
        epoch: state.group().epoch(),
    }
}

// ------------------------------------------------------------ AppDataUpdate

/// AppDataUpdate (§4.7).
#[derive(Debug)]
pub(crate) struct AppDataUpdateHandler(pub(crate) Arc<Shared>);

impl ProposalHandler for AppDataUpdateHandler {
    fn proposal_type(&self) -> ProposalType {
        self.0.code_points.app_data_update
    }

    /// No UpdatePath; external senders and external commits allowed (§4.7).
    fn flags(&self) -> ProposalFlags {
        ProposalFlags {
            external_senders: true,
            in_external_commit: true,
            ..ProposalFlags::default()
        }
    }

    /// After the RFC 9420 proposals and after AppEphemeral (§4.7).
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterDefault(STAGE_APP_DATA_UPDATE)
    }

    fn validate(&self, _: &PublicGroup, _: &Sender, body: &[u8]) -> Result<(), mlsx_base::Error> {
        let u: AppDataUpdate = decode(body)?;
        self.0.component(u.component_id)?;
        Ok(())
    }

    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), mlsx_base::Error> {
        // Per component, in commit order (§4.7).
        let mut lists: BTreeMap<ComponentId, Vec<(AppDataUpdate, Sender)>> = BTreeMap::new();
        for item in items {
            let u: AppDataUpdate = decode(item.body)?;
            lists.entry(u.component_id).or_default().push((u, item.sender));
        }
        let dictionary_type = self.0.code_points.app_data_dictionary;
        let mut dictionary = AppDataDictionary::find(state.extensions(), dictionary_type)?.unwrap_or_default();
        for (id, list) in &lists {
            let component = self.0.component(*id)?;
            let removes = list.iter().filter(|(u, _)| u.change == AppDataChange::Remove).count();
            match (removes, list.as_slice()) {
                (0, _) => {
                    let updates: Vec<(&[u8], Origin)> = list
                        .iter()
                        .filter_map(|(u, sender)| match &u.change {
                            AppDataChange::Update(d) => Some((d.as_slice(), origin(state, *sender))),
                            AppDataChange::Remove => None,
                        })
                        .collect();
                    let new = component.apply_updates(dictionary.get(*id), &updates).map_err(rejected(*id))?;
                    dictionary.set(*id, new);
                }
                (1, [(_, sender)]) => {
                    let current = dictionary.get(*id).ok_or(Error::RemoveOfAbsentEntry(*id))?;
                    component.allow_remove(current, &origin(state, *sender)).map_err(rejected(*id))?;
                    dictionary.remove(*id);
                }
                _ => return Err(Error::ConflictingAppDataUpdates(*id).into()),
            }
        }
        if self.0.placement == crate::DictionaryPlacement::MoveToEnd {
            state.remove_extension(dictionary_type);
        }
        state.set_extension(dictionary.to_extension(dictionary_type)?);
        Ok(())
    }
}

/// The stages of the two proposal types among the handlers applied after
/// the RFC 9420 proposals: AppEphemeral before AppDataUpdate (§4.8).
pub(crate) const STAGE_APP_EPHEMERAL: u16 = 0x0100;
pub(crate) const STAGE_APP_DATA_UPDATE: u16 = 0x0200;

// ------------------------------------------------------------ AppEphemeral

/// AppEphemeral (§4.8).
#[derive(Debug)]
pub(crate) struct AppEphemeralHandler(pub(crate) Arc<Shared>);

impl ProposalHandler for AppEphemeralHandler {
    fn proposal_type(&self) -> ProposalType {
        self.0.code_points.app_ephemeral
    }

    fn flags(&self) -> ProposalFlags {
        ProposalFlags {
            external_senders: true,
            in_external_commit: true,
            ..ProposalFlags::default()
        }
    }

    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterDefault(STAGE_APP_EPHEMERAL)
    }

    fn validate(&self, _: &PublicGroup, _: &Sender, body: &[u8]) -> Result<(), mlsx_base::Error> {
        let e: AppEphemeral = decode(body)?;
        self.0.component(e.component_id)?;
        Ok(())
    }

    /// Each proposal goes to its component in commit order (§4.8) and is
    /// recorded on the staged commit for the application.
    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), mlsx_base::Error> {
        for item in items {
            let e: AppEphemeral = decode(item.body)?;
            let component = self.0.component(e.component_id)?;
            component
                .check_ephemeral(e.data.as_slice(), &origin(state, item.sender))
                .map_err(rejected(e.component_id))?;
            // The sender first, for Extensions::app_ephemeral_with_senders.
            let mut record = mlsx_base::codec::encode(&item.sender)?;
            record.extend_from_slice(item.body);
            state.record(record);
        }
        Ok(())
    }
}

// ------------------------------------------------------ app_data_dictionary

/// The `app_data_dictionary` extension (§4.6) and what its `app_components`
/// and `safe_aad` entries require of members (§5).
#[derive(Debug)]
pub(crate) struct DictionaryHandler(pub(crate) Arc<Shared>);

impl ExtensionHandler for DictionaryHandler {
    fn extension_type(&self) -> ExtensionType {
        self.0.code_points.app_data_dictionary
    }

    fn allowed_in(&self, _: ExtensionContext) -> bool {
        true
    }

    /// Sorted, one entry per component (§4.6); the lists of §5 decode; a
    /// registered component accepts its entry. Unknown and GREASE entries
    /// are ignored (§5.1).
    fn validate(&self, context: ExtensionContext, data: &[u8]) -> Result<(), mlsx_base::Error> {
        let d = AppDataDictionary::parse(data)?;
        for entry in &d.component_data {
            let id = entry.component_id;
            if id == APP_COMPONENTS || id == SAFE_AAD {
                ComponentsList::parse(entry.data.as_slice())?;
            } else if let Some(c) = self.0.components.get(&id) {
                c.validate_data(context, entry.data.as_slice()).map_err(rejected(id))?;
            }
        }
        Ok(())
    }

    /// With AppDataUpdate in `required_capabilities`, a
    /// GroupContextExtensions proposal MUST NOT change the dictionary
    /// (§4.7).
    fn validate_change(
        &self,
        _: Option<&[u8]>,
        _: Option<&[u8]>,
        cause: ProposalType,
        group: &PublicGroup,
    ) -> Result<(), mlsx_base::Error> {
        if cause != ProposalType::GROUP_CONTEXT_EXTENSIONS {
            return Ok(());
        }
        let required = match find_extension(&group.context().extensions, ExtensionType::REQUIRED_CAPABILITIES) {
            Some(e) => decode::<RequiredCapabilities>(e.extension_data.as_slice())?.proposal_types,
            None => vec![],
        };
        if required.contains(&self.0.code_points.app_data_update) {
            return Err(Error::DictionaryChangedByGroupContextExtensions.into());
        }
        Ok(())
    }

    /// The components the GroupContext requires in `app_components` and
    /// `safe_aad` must be listed in the leaf's own (§5).
    fn check_member(&self, context_data: &[u8], leaf: &LeafNode) -> Result<(), mlsx_base::Error> {
        let required = AppDataDictionary::parse(context_data)?;
        let own = AppDataDictionary::find(&leaf.extensions, self.0.code_points.app_data_dictionary)?.unwrap_or_default();
        for list_id in [APP_COMPONENTS, SAFE_AAD] {
            let Some(r) = required.get(list_id) else { continue };
            let supported = own.get(list_id).map(ComponentsList::parse).transpose()?.unwrap_or_default();
            if let Some(missing) = ComponentsList::parse(r)?
                .component_ids
                .into_iter()
                .find(|&id| !supported.contains(id))
            {
                return Err(Error::MissingRequiredComponent(missing).into());
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ wire formats

/// `supported_wire_formats` (§5), in LeafNodes.
#[derive(Debug)]
pub(crate) struct SupportedWireFormatsHandler(pub(crate) Arc<Shared>);

impl ExtensionHandler for SupportedWireFormatsHandler {
    fn extension_type(&self) -> ExtensionType {
        self.0.code_points.supported_wire_formats
    }
    fn allowed_in(&self, context: ExtensionContext) -> bool {
        context == ExtensionContext::LeafNode
    }
    fn validate(&self, _: ExtensionContext, data: &[u8]) -> Result<(), mlsx_base::Error> {
        decode::<WireFormats>(data)?;
        Ok(())
    }
}

/// `required_wire_formats` (§5), in the GroupContext: every member's
/// `supported_wire_formats` lists each (RFC 9420's own formats are
/// supported by all).
#[derive(Debug)]
pub(crate) struct RequiredWireFormatsHandler(pub(crate) Arc<Shared>);

impl ExtensionHandler for RequiredWireFormatsHandler {
    fn extension_type(&self) -> ExtensionType {
        self.0.code_points.required_wire_formats
    }
    fn allowed_in(&self, context: ExtensionContext) -> bool {
        context == ExtensionContext::GroupContext
    }
    fn validate(&self, _: ExtensionContext, data: &[u8]) -> Result<(), mlsx_base::Error> {
        decode::<WireFormats>(data)?;
        Ok(())
    }
    fn check_member(&self, context_data: &[u8], leaf: &LeafNode) -> Result<(), mlsx_base::Error> {
        let required: WireFormats = decode(context_data)?;
        let supported: WireFormats = match find_extension(&leaf.extensions, self.0.code_points.supported_wire_formats) {
            Some(e) => decode(e.extension_data.as_slice())?,
            None => WireFormats::default(),
        };
        match required
            .wire_formats
            .into_iter()
            .find(|w| !is_rfc9420_wire_format(*w) && !supported.wire_formats.contains(w))
        {
            Some(w) => Err(Error::MissingRequiredWireFormat(w).into()),
            None => Ok(()),
        }
    }
}

fn is_rfc9420_wire_format(w: WireFormat) -> bool {
    (1..=5).contains(&w.0)
}

// ----------------------------------------------------------------- SafeAAD

/// SafeAAD (§4.9): with the `safe_aad` component in the GroupContext's
/// dictionary, the whole `authenticated_data` of every PublicMessage and
/// PrivateMessage is one SafeAAD with items sorted by component id.
#[derive(Debug)]
pub(crate) struct SafeAadFraming(pub(crate) Arc<Shared>);

impl SafeAadFraming {
    fn active(&self, context: &GroupContext) -> Result<bool, Error> {
        Ok(
            AppDataDictionary::find(&context.extensions, self.0.code_points.app_data_dictionary)?
                .is_some_and(|d| d.get(SAFE_AAD).is_some()),
        )
    }
}

impl FramingHandler for SafeAadFraming {
    /// Empty data becomes the empty SafeAAD; anything else must already be
    /// a sorted SafeAAD ([`SafeAad::build`]) whose items our own
    /// components accept: the sender runs the receivers' check
    /// ([`Self::check_items`]), so it never sends a message that every
    /// member with the same components would refuse.
    fn frame_authenticated_data(&self, context: &GroupContext, authenticated_data: Vec<u8>) -> Result<Vec<u8>, mlsx_base::Error> {
        if !self.active(context)? {
            return Ok(authenticated_data);
        }
        if authenticated_data.is_empty() {
            return mlsx_base::codec::encode(&SafeAad::default());
        }
        self.check_items(&authenticated_data)?;
        Ok(authenticated_data)
    }

    fn check_authenticated_data(&self, context: &GroupContext, authenticated_data: &[u8]) -> Result<(), mlsx_base::Error> {
        if !self.active(context)? {
            return Ok(());
        }
        self.check_items(authenticated_data)
    }
}

impl SafeAadFraming {
    /// Parses a SafeAAD (§4.9: sorted, no duplicate ids) and has each
    /// registered component check its own item; items of components this
    /// client does not have are not its to judge.
    fn check_items(&self, authenticated_data: &[u8]) -> Result<(), mlsx_base::Error> {
        let aad = SafeAad::parse(authenticated_data)?;
        for item in &aad.aad_items {
            if let Some(c) = self.0.components.get(&item.component_id) {
                c.check_aad_item(item.aad_item_data.as_slice())
                    .map_err(rejected(item.component_id))?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------- application PSKs

/// Application PSKs (§4.5) from their registered components; other PSKs
/// (and application PSKs of components not registered) from the store that
/// was configured before.
#[derive(Debug)]
pub(crate) struct ComponentPsks {
    pub(crate) shared: Arc<Shared>,
    pub(crate) previous: Option<Arc<dyn PskStore>>,
}

impl PskStore for ComponentPsks {
    fn psk(&self, id: &Psk) -> Option<Secret> {
        match id {
            Psk::Application(a) if self.shared.components.contains_key(&a.component_id) => {
                self.shared.components.get(&a.component_id)?.psk(a.psk_id.as_slice())
            }
            other => self.previous.as_ref()?.psk(other),
        }
    }
}

// ------------------------------------------------------------ content framing

/// §6.2: in a group whose GroupContext has `content_media_types`, every
/// `application_data` is an `ApplicationFraming`, sent and received.
#[derive(Debug)]
pub(crate) struct ContentFraming(pub(crate) Arc<Shared>);

impl ContentFraming {
    fn check(&self, context: &GroupContext, data: &[u8]) -> Result<(), mlsx_base::Error> {
        if crate::media::framed(context, self.0.code_points.app_data_dictionary)?.is_some()
            && decode::<crate::codec::ApplicationFraming>(data).is_err()
        {
            return Err(Error::UnframedApplicationData.into());
        }
        Ok(())
    }
}

impl FramingHandler for ContentFraming {
    fn frame_application_data(&self, context: &GroupContext, data: Vec<u8>) -> Result<Vec<u8>, mlsx_base::Error> {
        self.check(context, &data)?;
        Ok(data)
    }

    fn check_application_data(&self, context: &GroupContext, data: &[u8]) -> Result<(), mlsx_base::Error> {
        self.check(context, data)
    }
}
