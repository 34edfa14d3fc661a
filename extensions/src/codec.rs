//! Wire structures of draft-ietf-mls-extensions (editor's copy after -09),
//! in the TLS presentation language encoding of RFC 9420 §2.1.

use mlsx_base::codec::{VLBytes, WireFormat};
use tls_codec::{TlsDeserializeBytes, TlsSerialize, TlsSize};

/// `uint16 ComponentID` (§4.1).
pub type ComponentId = u16;

/// The fixed `base_label` of [`ComponentOperationLabel`] (§4.1; -07 and -08
/// used "Application").
pub const COMPONENT_BASE_LABEL: &[u8] = b"MLS Component";

/// `ComponentOperationLabel` (§4.1): its encoding is the `Label` argument
/// of `SignWithLabel` and `EncryptWithLabel` in the safe operations.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ComponentOperationLabel {
    /// Always [`COMPONENT_BASE_LABEL`].
    pub base_label: VLBytes,
    /// The component performing the operation.
    pub component_id: ComponentId,
    /// The operation.
    pub label: VLBytes,
}

impl ComponentOperationLabel {
    /// The label of `component_id`'s operation `label`.
    pub fn new(component_id: ComponentId, label: &[u8]) -> Self {
        Self {
            base_label: VLBytes::new(COMPONENT_BASE_LABEL.to_vec()),
            component_id,
            label: VLBytes::new(label.to_vec()),
        }
    }
}

/// `ComponentData` (§4.6): one component's entry in an
/// [`AppDataDictionary`].
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ComponentData {
    /// The component.
    pub component_id: ComponentId,
    /// Its data, opaque to MLS.
    pub data: VLBytes,
}

/// `AppDataDictionary` (§4.6), the content of the `app_data_dictionary`
/// extension. Entries MUST be sorted by `component_id`, at most one each.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct AppDataDictionary {
    /// The entries, sorted by component id.
    pub component_data: Vec<ComponentData>,
}

/// `AppDataUpdateOperation` (§4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum AppDataUpdateOperation {
    /// `update(1)`.
    Update = 1,
    /// `remove(2)`.
    Remove = 2,
}

/// The `op`-selected body of an [`AppDataUpdate`].
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
#[repr(u8)]
pub enum AppDataChange {
    /// `update(1)`: data the component turns into its new entry.
    #[tls_codec(discriminant = 1)]
    Update(VLBytes),
    /// `remove(2)`: delete the component's entry.
    #[tls_codec(discriminant = 2)]
    Remove,
}

/// `AppDataUpdate` (§4.7), the body of the AppDataUpdate proposal.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct AppDataUpdate {
    /// The component whose entry changes.
    pub component_id: ComponentId,
    /// `op` and what it selects.
    pub change: AppDataChange,
}

impl AppDataUpdate {
    /// The operation.
    pub fn op(&self) -> AppDataUpdateOperation {
        match self.change {
            AppDataChange::Update(_) => AppDataUpdateOperation::Update,
            AppDataChange::Remove => AppDataUpdateOperation::Remove,
        }
    }
}

/// `AppEphemeral` (§4.8), the body of the AppEphemeral proposal.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct AppEphemeral {
    /// The component the data is for.
    pub component_id: ComponentId,
    /// The data.
    pub data: VLBytes,
}

/// `MessageRange` (§6.1): the application messages of one sender whose
/// generations run from `first_generation` to `last_generation`,
/// inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct MessageRange {
    /// The sender's leaf index.
    pub sender: u32,
    /// The first generation.
    pub first_generation: u32,
    /// The last generation.
    pub last_generation: u32,
}

/// `AppAck` (§6.1): the data of an AppEphemeral proposal of component
/// `app_ack`, acknowledging application messages received in the epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct AppAck {
    /// The ranges received.
    pub received_ranges: Vec<MessageRange>,
}

/// `Parameter` (§6.2): one parameter of a media type; the value without
/// the quotes of an RFC 2045 quoted-string or the backslash of a
/// quoted-pair.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct Parameter {
    /// The name.
    pub parameter_name: VLBytes,
    /// The value.
    pub parameter_value: VLBytes,
}

/// `MediaType` (§6.2): `type/subtype` and its parameters. An empty type in
/// [`ApplicationFraming`] stands for the first type of the group's list.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct MediaType {
    /// The IANA top-level type, "/", and the subtype (the field `type`).
    pub media_type: VLBytes,
    /// Zero or more parameters.
    pub parameters: Vec<Parameter>,
}

/// `MediaTypeList` (§6.2), the data of the `content_media_types`
/// component: in a LeafNode the types its client can receive, in the
/// GroupContext those every member must support. Never empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct MediaTypeList {
    /// The types, in order.
    pub media_type_list: Vec<MediaType>,
}

/// `ApplicationFraming` (§6.2): the `application_data` of a group whose
/// GroupContext has `content_media_types`.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ApplicationFraming {
    /// The content's type (empty: the group's first type).
    pub media_type: MediaType,
    /// The content.
    pub inner_application_content: VLBytes,
}

/// `SafeAADItem` (§4.9).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct SafeAadItem {
    /// The component.
    pub component_id: ComponentId,
    /// Its item.
    pub aad_item_data: VLBytes,
}

/// `SafeAAD` (§4.9): the whole `authenticated_data` of every message when
/// the group has the `safe_aad` component; items sorted by component id.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct SafeAad {
    /// The items, sorted by component id.
    pub aad_items: Vec<SafeAadItem>,
}

/// `WireFormats` (§5): the content of `supported_wire_formats` and
/// `required_wire_formats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct WireFormats {
    /// The wire formats.
    pub wire_formats: Vec<WireFormat>,
}

/// `ComponentsList` (§5): the data of the `app_components` and `safe_aad`
/// components.
#[derive(Clone, Debug, Default, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
pub struct ComponentsList {
    /// The component ids.
    pub component_ids: Vec<ComponentId>,
}
