//! The application API: a [`Client`] and its [`Group`] handles, for plain
//! RFC 9420 groups and hybrid sessions (draft-ietf-mls-combiner), with
//! every change written to a [`Store`] before the call returns.
//!
//! # Commits and the delivery service
//!
//! A commit is applied optimistically: [`Group::commit`] and the calls
//! built on it move the group to the new epoch in memory and store, in one
//! transaction, both the state before the commit and the state after it,
//! with the message to send ([`Outgoing`]). The application then sends
//! the message; when the delivery service takes it, [`Group::accepted`]
//! drops the old state; when it refuses it (another commit won the
//! epoch), [`Group::refused`] goes back to the old state, ready to process
//! the winner. A process killed in between finds the pending commit on
//! restart ([`Group::pending`]) and sends the same bytes again: the
//! delivery service answers for it exactly as the first time. Nothing
//! else may change the group while a commit is pending.
//!
//! ```
//! use mlsx_app::{Client, ClientConfig, GroupKind, MemoryStore};
//!
//! let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice"))?;
//! let mut bob = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("bob"))?;
//! let offer = bob.key_packages(GroupKind::Plain, 1, false)?.remove(0);
//!
//! let mut group = alice.create_group(b"team", GroupKind::Plain)?;
//! let out = group.add(&[offer])?;
//! group.accepted()?; // the delivery service took the commit
//! let (id, _) = bob.join(out.welcome.as_deref().ok_or("no Welcome")?)?;
//!
//! let hello = alice.group(b"team")?.send(b"hello")?;
//! let events = bob.group(&id)?.process(&hello.message)?;
//! assert!(matches!(&events[0], mlsx_app::Event::Message { data, .. } if data == b"hello"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mlsx_base::codec::{
    CipherSuite, Credential, ExtensionType, ExternalPsk, KeyPackage, MlsMessage, MlsMessageBody, PreSharedKeyId, PreSharedKeyProposal,
    Proposal, Psk, decode, encode,
};
use mlsx_base::crypto::labeled::KEY_PACKAGE_REF_LABEL;
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, HpkePrivateKey, LabeledCrypto, Secret, SignaturePrivateKey};
use mlsx_base::group::hooks::PskStore;
use mlsx_base::group::{CommitOptions, GroupConfig, Identity, KeyPackageBundle, Received};
use mlsx_combiner::{
    ApqClient, ApqIdentity, ApqKeyPackageBundles, ApqKeyPackages, ApqMessagePair, ApqReceived, ApqSession, ApqSetup, Mode,
};
use mlsx_pq_suites::PqSuite;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::store::{Batch, Store, Table, Write};

/// Which kind of group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupKind {
    /// An RFC 9420 group in the client's traditional suite.
    Plain,
    /// An RFC 9420 group with draft-ietf-mls-extensions: the client's
    /// [`Extensions`](mlsx_extensions::Extensions) installed and advertised
    /// (its components, the app data dictionary, SelfRemove), SafeAAD on.
    Extended,
    /// A hybrid session: a traditional group and a PQ group
    /// (draft-ietf-mls-combiner).
    Hybrid,
}

/// A client's settings, fixed at [`Client::create`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The name in the client's basic credential.
    pub name: String,
    /// The traditional suite (RFC 9420 code point).
    pub t_suite: u16,
    /// The PQ suite of hybrid sessions (its TBD number).
    pub pq_suite: u16,
    /// The combiner mode of hybrid sessions: 0 (PQ confidentiality) or 1
    /// (and PQ authenticity).
    pub mode: u8,
    /// The media types the client can receive, advertised in its leaves
    /// of extended groups (draft-ietf-mls-extensions §6.2).
    #[serde(default = "default_media_types")]
    pub media_types: Vec<String>,
}

fn default_media_types() -> Vec<String> {
    vec!["text/plain; charset=utf-8".into()]
}

/// The suites of a group or KeyPackage: the traditional suite (RFC 9420
/// code point), the PQ suite of hybrid sessions (TBD number) and the
/// combiner mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suites {
    /// The traditional suite.
    pub t_suite: u16,
    /// The PQ suite (TBD number).
    pub pq_suite: u16,
    /// The combiner mode, 0 or 1.
    pub mode: u8,
}

/// Options of a new group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupOptions {
    /// In an extended group: the media types the group requires
    /// (`content_media_types`, draft-ietf-mls-extensions §6.2); then every
    /// application message is framed with its type. Empty: unframed.
    pub media_types: Vec<String>,
    /// The group's suites; the client's ([`ClientConfig`]) if `None`.
    pub suites: Option<Suites>,
    /// The group's name, as its members see it ([`GROUP_NAME`]), and this
    /// client's label for it ([`Client::group_by_label`]). `None`: no name.
    pub name: Option<String>,
    /// In an extended group: the components every member must support
    /// (`app_components`, draft-ietf-mls-extensions §5), whose
    /// AppDataUpdate, AppEphemeral and SafeAAD data every member then
    /// checks the same way.
    pub components: Vec<mlsx_extensions::ComponentId>,
    /// In an extended group: the SafeAAD components every member must
    /// support (`safe_aad`, §4.9).
    pub safe_aad_components: Vec<mlsx_extensions::ComponentId>,
    /// In an extended group: the components' first entries in the app data
    /// dictionary (§4.6), each checked by its component.
    pub app_data: Vec<(mlsx_extensions::ComponentId, Vec<u8>)>,
}

impl GroupOptions {
    /// Uses these suites instead of the client's.
    #[must_use]
    pub fn suites(mut self, suites: Suites) -> Self {
        self.suites = Some(suites);
        self
    }

    /// Names the group ([`GROUP_NAME`]) and labels it so for this client.
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Requires these media types (extended groups).
    #[must_use]
    pub fn media_types(mut self, types: &[&str]) -> Self {
        self.media_types = types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// Requires these components of every member (extended groups).
    #[must_use]
    pub fn require_components(mut self, ids: &[mlsx_extensions::ComponentId]) -> Self {
        self.components = ids.to_vec();
        self
    }

    /// Requires these SafeAAD components of every member (extended
    /// groups).
    #[must_use]
    pub fn require_safe_aad(mut self, ids: &[mlsx_extensions::ComponentId]) -> Self {
        self.safe_aad_components = ids.to_vec();
        self
    }

    /// Starts the group with this entry of a component in its app data
    /// dictionary (extended groups).
    #[must_use]
    pub fn app_data(mut self, component: mlsx_extensions::ComponentId, data: &[u8]) -> Self {
        self.app_data.retain(|(c, _)| *c != component);
        self.app_data.push((component, data.to_vec()));
        self
    }

    fn asks_extensions(&self) -> bool {
        !(self.media_types.is_empty() && self.components.is_empty() && self.safe_aad_components.is_empty() && self.app_data.is_empty())
    }
}

impl ClientConfig {
    /// Suite 0x0001 (X25519, AES-128-GCM, Ed25519), PQ suite TBD6
    /// (ML-KEM-768), mode 0.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            t_suite: 1,
            pq_suite: 6,
            mode: 0,
            media_types: default_media_types(),
        }
    }

    /// Sets the media types the client can receive.
    #[must_use]
    pub fn media_types(mut self, types: &[&str]) -> Self {
        self.media_types = types.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    /// The default suites of the client's groups and KeyPackages.
    pub fn suites(&self) -> Suites {
        Suites {
            t_suite: self.t_suite,
            pq_suite: self.pq_suite,
            mode: self.mode,
        }
    }

    /// Sets the traditional suite.
    #[must_use]
    pub fn t_suite(mut self, suite: u16) -> Self {
        self.t_suite = suite;
        self
    }

    /// Sets the PQ suite (TBD number).
    #[must_use]
    pub fn pq_suite(mut self, tbd: u16) -> Self {
        self.pq_suite = tbd;
        self
    }

    /// Sets the combiner mode.
    #[must_use]
    pub fn mode(mut self, mode: u8) -> Self {
        self.mode = mode;
        self
    }
}

/// Adds to a [`Batch`], from the events a message produced, what must be
/// written in the same transaction as the message's effects.
pub type Recorder<'a> = dyn FnMut(&[Event], &mut Batch) -> Result<()> + 'a;

/// What happened, as the application sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// An application message.
    Message {
        /// The sender's name.
        sender: String,
        /// The data (in JSON: text if it is UTF-8, else `base64:` and
        /// its base64).
        #[serde(serialize_with = "text_or_base64", deserialize_with = "from_text_or_base64")]
        data: Vec<u8>,
        /// SafeAAD items (extended groups): component id and data.
        safe_aad: Vec<(u16, Vec<u8>)>,
        /// The content's media type, in an extended group that frames
        /// content (draft-ietf-mls-extensions §6.2).
        media_type: Option<String>,
    },
    /// A commit moved the group to a new epoch.
    EpochChanged {
        /// The new epoch (of the traditional group, for hybrid sessions).
        epoch: u64,
        /// "commit", "FULL" or "PARTIAL".
        kind: String,
    },
    /// A member joined.
    MemberAdded {
        /// Its name.
        name: String,
    },
    /// A member left or was removed.
    MemberRemoved {
        /// Its name.
        name: String,
    },
    /// We were removed; the group is deleted from the store.
    RemovedSelf,
    /// A proposal was cached for the next commit.
    Proposal,
    /// A commit changed a component's entry in the app data dictionary
    /// (draft-ietf-mls-extensions §4.7); [`Group::app_data`] reads it.
    AppDataChanged {
        /// The component.
        component: u16,
    },
    /// A commit carried AppEphemeral data for a component (§4.8).
    AppEphemeral {
        /// The component.
        component: u16,
        /// Who proposed it (the committer, for proposals by value).
        sender: String,
        /// The data.
        #[serde(serialize_with = "text_or_base64", deserialize_with = "from_text_or_base64")]
        data: Vec<u8>,
    },
    /// We joined the group.
    Joined {
        /// The group's id.
        group: String,
    },
}

/// UTF-8 data as its text, other data (and text that itself starts with
/// `base64:`, which would otherwise read back as base64) as `base64:` and
/// its base64.
fn text_or_base64<S: serde::Serializer>(data: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    use base64::Engine;
    match std::str::from_utf8(data) {
        Ok(t) if !t.starts_with(BASE64_PREFIX) => s.serialize_str(t),
        _ => s.serialize_str(&format!(
            "{BASE64_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(data)
        )),
    }
}

const BASE64_PREFIX: &str = "base64:";

/// The inverse of [`text_or_base64`].
fn from_text_or_base64<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    use base64::Engine;
    let text = String::deserialize(d)?;
    match text.strip_prefix(BASE64_PREFIX) {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(serde::de::Error::custom),
        None => Ok(text.into_bytes()),
    }
}

/// What a message is, for the delivery service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutgoingKind {
    /// A commit (or an APQMessagePair of commits): one per epoch wins.
    Commit,
    /// Application data or a proposal.
    Message,
}

/// A message to send, with what the delivery service needs to route it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// The group (the traditional group's id for hybrid sessions).
    pub group: Vec<u8>,
    /// The epoch the message was made in.
    pub epoch: u64,
    /// Commit or other message.
    pub kind: OutgoingKind,
    /// The MLSMessage.
    pub message: Vec<u8>,
    /// Who receives it: every other member, before and after a commit.
    pub recipients: Vec<String>,
    /// The Welcome (or pair of Welcomes) of a commit that adds members.
    pub welcome: Option<Vec<u8>>,
    /// Who receives the Welcome.
    pub welcome_to: Vec<String>,
    /// The members a commit removes (Removes, SelfRemoves taken by
    /// reference): the delivery service stops taking their messages for
    /// the group once the commit is accepted. Empty for other messages.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// A KeyPackage (or a hybrid pair) to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPackageOffer {
    /// Plain or hybrid.
    pub kind: GroupKind,
    /// Its owner's name.
    pub owner: String,
    /// The traditional KeyPackage.
    pub t: KeyPackage,
    /// The PQ KeyPackage of a hybrid pair.
    pub pq: Option<KeyPackage>,
}

impl KeyPackageOffer {
    /// The offer as bytes: a kind byte, then each KeyPackage as an
    /// MLSMessage with a 4-byte length.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut parts = vec![encode(&MlsMessage::new(MlsMessageBody::KeyPackage(self.t.clone())))?];
        if let Some(pq) = &self.pq {
            parts.push(encode(&MlsMessage::new(MlsMessageBody::KeyPackage(pq.clone())))?);
        }
        let mut out = vec![kind_byte(self.kind)];
        frame(&mut out, self.owner.as_bytes());
        for p in &parts {
            frame(&mut out, p);
        }
        Ok(out)
    }

    /// Whether every KeyPackage of the offer carries the basic credential
    /// `name`.
    pub fn names(&self, name: &str) -> bool {
        let c = basic(name);
        self.t.leaf_node.credential == c && self.pq.as_ref().is_none_or(|pq| pq.leaf_node.credential == c)
    }

    /// Reads [`Self::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "KeyPackage offer";
        let bad = |offset: usize, expected: String, found: Option<String>| Error::Malformed {
            what: WHAT,
            offset,
            expected,
            found,
        };
        let &kind = bytes.first().ok_or_else(|| bad(0, "a kind byte".into(), None))?;
        let (kind, count) = match kind {
            0 => (GroupKind::Plain, 2),
            2 => (GroupKind::Extended, 2),
            1 => (GroupKind::Hybrid, 3),
            k => return Err(bad(0, "kind 0 (plain), 1 (hybrid) or 2 (extended)".into(), Some(k.to_string()))),
        };
        // Parts: the owner's name, then each KeyPackage as an MLSMessage,
        // each after its 4-byte length.
        let mut parts = vec![];
        let mut at = 1;
        while at < bytes.len() {
            let len = bytes
                .get(at..at + 4)
                .and_then(|l| <[u8; 4]>::try_from(l).ok())
                .ok_or_else(|| bad(at, "a 4-byte length".into(), None))?;
            let start = at + 4;
            let part = usize::try_from(u32::from_be_bytes(len))
                .ok()
                .and_then(|len| bytes.get(start..start.checked_add(len)?))
                .ok_or_else(|| {
                    bad(
                        bytes.len(),
                        format!("{} bytes of part {}", u32::from_be_bytes(len), parts.len() + 1),
                        None,
                    )
                })?;
            parts.push((start, part));
            at = start + part.len();
        }
        if parts.len() != count {
            return Err(bad(
                bytes.len(),
                format!("{count} parts (the owner's name, then the KeyPackages)"),
                Some(format!("{} parts", parts.len())),
            ));
        }
        let kp = |(start, b): (usize, &[u8])| -> Result<KeyPackage> {
            match crate::input::message(b, WHAT, &[WIRE_KEY_PACKAGE]) {
                Ok(MlsMessage {
                    body: MlsMessageBody::KeyPackage(k),
                    ..
                }) => Ok(k),
                Ok(m) => Err(bad(
                    start + 2,
                    "a KeyPackage".into(),
                    Some(format!("wire format {}", m.body.wire_format().0)),
                )),
                Err(Error::Malformed {
                    offset, expected, found, ..
                }) => Err(bad(start + offset, expected, found)),
                Err(e) => Err(e),
            }
        };
        let mut parts = parts.into_iter();
        let owner = parts
            .next()
            .map(|(_, o)| String::from_utf8_lossy(o).into_owned())
            .unwrap_or_default();
        let t = parts.next().map(kp).transpose()?;
        let pq = parts.next().map(kp).transpose()?;
        let t = t.ok_or_else(|| bad(bytes.len(), "a KeyPackage".into(), None))?;
        Ok(Self { kind, owner, t, pq })
    }
}

impl GroupKind {
    /// `plain`, `extended` or `hybrid`: the kind's name on the command
    /// line and at the delivery service.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Plain => "plain",
            GroupKind::Extended => "extended",
            GroupKind::Hybrid => "hybrid",
        }
    }

    /// Reads [`Self::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [GroupKind::Plain, GroupKind::Extended, GroupKind::Hybrid]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// The kind's number in offers and at the delivery service.
pub(crate) fn kind_byte(kind: GroupKind) -> u8 {
    match kind {
        GroupKind::Plain => 0,
        GroupKind::Hybrid => 1,
        GroupKind::Extended => 2,
    }
}

fn frame(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(part);
}

/// A stored group: its state, and while a commit of ours waits for the
/// delivery service, the state that commit leads to and the message.
#[derive(Serialize, Deserialize)]
struct GroupRecord {
    kind: GroupKind,
    suites: Suites,
    state: Vec<u8>,
    pending: Option<PendingRecord>,
}

#[derive(Serialize, Deserialize)]
struct PendingRecord {
    next_state: Vec<u8>,
    outgoing: Outgoing,
}

impl Drop for GroupRecord {
    fn drop(&mut self) {
        self.state.zeroize();
        if let Some(p) = &mut self.pending {
            p.next_state.zeroize();
        }
    }
}

impl GroupRecord {
    fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        seal_record(self, "group")
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        open_record(bytes, "group")
    }
}

/// The format of stored records: a version byte, then postcard. A change
/// of a record's fields bumps it (and reads the older versions).
const RECORD_VERSION: u8 = 1;

/// A record's bytes, written into a buffer of the exact size (postcard
/// would otherwise grow it and leave copies of the secrets in freed
/// memory) that is zeroized when dropped.
fn seal_record<T: Serialize>(record: &T, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    let size = postcard::serialize_with_flavor(record, postcard::ser_flavors::Size::default()).map_err(|_| Error::Corrupt(what))?;
    let mut buf = Vec::with_capacity(size.saturating_add(1));
    buf.push(RECORD_VERSION);
    postcard::to_extend(record, buf)
        .map(Zeroizing::new)
        .map_err(|_| Error::Corrupt(what))
}

fn open_record<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => postcard::from_bytes(rest).map_err(|_| Error::Corrupt(what)),
        Some((&v, _)) if v > RECORD_VERSION => Err(Error::SchemaTooNew {
            found: i64::from(v),
            supported: i64::from(RECORD_VERSION),
        }),
        _ => Err(Error::Corrupt(what)),
    }
}

/// A stored KeyPackage's private side.
#[derive(Serialize, Deserialize)]
struct KeyPackageRecord {
    kind: GroupKind,
    suites: Suites,
    last_resort: bool,
    t: Vec<u8>,
    t_init: Vec<u8>,
    t_leaf: Vec<u8>,
    pq: Vec<u8>,
    pq_init: Vec<u8>,
    pq_leaf: Vec<u8>,
}

impl KeyPackageRecord {
    /// The record of a KeyPackage (and of the PQ one of a hybrid pair).
    fn new(kind: GroupKind, suites: Suites, last_resort: bool, t: &KeyPackageBundle, pq: Option<&KeyPackageBundle>) -> Result<Self> {
        let (pq, pq_init, pq_leaf) = match pq {
            Some(b) => (
                encode(&b.key_package)?,
                b.init_key.as_bytes().to_vec(),
                b.leaf_key.as_bytes().to_vec(),
            ),
            None => (vec![], vec![], vec![]),
        };
        Ok(Self {
            kind,
            suites,
            last_resort,
            t: encode(&t.key_package)?,
            t_init: t.init_key.as_bytes().to_vec(),
            t_leaf: t.leaf_key.as_bytes().to_vec(),
            pq,
            pq_init,
            pq_leaf,
        })
    }
}

impl Drop for KeyPackageRecord {
    fn drop(&mut self) {
        self.t_init.zeroize();
        self.t_leaf.zeroize();
        self.pq_init.zeroize();
        self.pq_leaf.zeroize();
    }
}

/// A stored signature key pair.
#[derive(Serialize, Deserialize)]
struct IdentityRecord {
    public: Vec<u8>,
    private: Vec<u8>,
}

impl Drop for IdentityRecord {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

const CONFIG_KEY: &[u8] = b"config";

/// A client: its identity in both suites, its KeyPackages and its groups,
/// all in one [`Store`].
#[derive(Debug)]
pub struct Client {
    store: Box<dyn Store>,
    config: ClientConfig,
    t_cs: Arc<dyn CipherSuiteProvider>,
    pq_cs: Arc<dyn CipherSuiteProvider>,
    mode: Mode,
    /// The suites `t_cs`, `pq_cs` and `mode` are of: those of the group or
    /// KeyPackage being worked on ([`Self::use_suites`]).
    current: Suites,
    ext: Arc<mlsx_extensions::Extensions>,
    /// Where credentials are checked ([`crate::directory`]), when the
    /// client knows a directory.
    directory: Option<Arc<dyn crate::directory::KeyDirectory>>,
}

/// Builds a [`Client`] with the application's own components
/// (draft-ietf-mls-extensions §4.1), installed once for every group the
/// client creates, joins or opens. The client's default machinery
/// ([`mlsx_extensions::ContentMediaTypes`]) is installed too, so a client
/// with components and one without handle media types alike.
///
/// The store remembers which components its client advertised; opening it
/// with one of them missing is refused ([`Error::MissingComponents`])
/// rather than failing later on the first group that needs it.
///
/// ```
/// use std::sync::Arc;
/// use mlsx_app::{ClientBuilder, ClientConfig, Component, Error, MemoryStore};
///
/// #[derive(Debug)]
/// struct Pins;
/// impl Component for Pins {
///     fn id(&self) -> u16 { 0x8001 }
/// }
///
/// let mut builder = ClientBuilder::new();
/// let pins = builder.component(Arc::new(Pins))?;
/// assert_eq!(pins.id(), 0x8001);
/// let alice = builder.create(Box::new(MemoryStore::new()), ClientConfig::new("alice"))?;
///
/// // Opened again without its component: refused, with the ids missing.
/// let store = alice.into_store();
/// assert!(matches!(ClientBuilder::new().open(store), Err(Error::MissingComponents(ids)) if ids == [0x8001]));
/// # Ok::<(), mlsx_app::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    ext: mlsx_extensions::Extensions,
}

impl ClientBuilder {
    /// A builder with no component of the application's.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a component and returns its key, the only one issued
    /// ([`mlsx_extensions::ComponentKey`]): the key is what
    /// [`Group::safe_export_secret`], [`Group::safe_sign`] and
    /// [`Group::inject_app_psk`] ask for. Refused for reserved and GREASE
    /// ids and for an id registered twice.
    pub fn component(&mut self, component: Arc<dyn mlsx_extensions::Component>) -> Result<mlsx_extensions::ComponentKey> {
        Ok(self.ext.register(component)?)
    }

    /// Creates a client in `store` ([`Client::create`]) with these
    /// components.
    pub fn create(self, store: Box<dyn Store>, config: ClientConfig) -> Result<Client> {
        let ext = self.finish()?;
        Client::create_inner(store, config, ext)
    }

    /// Opens the client in `store` ([`Client::open`]) with these
    /// components: refused if the client advertised a component that is
    /// not among them.
    pub fn open(self, store: Box<dyn Store>) -> Result<Client> {
        let ext = self.finish()?;
        let mut client = Client::open_inner(store, ext)?;
        client.remember_components()?;
        Ok(client)
    }

    fn finish(mut self) -> Result<Arc<mlsx_extensions::Extensions>> {
        if self.ext.component(mlsx_extensions::CONTENT_MEDIA_TYPES).is_none() {
            self.ext.register(Arc::new(mlsx_extensions::ContentMediaTypes))?;
        }
        Ok(Arc::new(self.ext))
    }
}

/// The key under which the store keeps the ids of the components its
/// client advertised (JSON list).
const COMPONENTS_KEY: &[u8] = b"components";

impl Client {
    /// A builder for a client with the application's components.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The store, given back (to open it again, say).
    pub fn into_store(self) -> Box<dyn Store> {
        self.store
    }

    /// Adds to `batch` the record of the components registered now.
    fn record_components(&self, batch: &mut Batch) -> Result<()> {
        let ids = serde_json::to_vec(&self.ext.component_ids()).map_err(|e| Error::Config(e.to_string()))?;
        batch.put(Table::Meta, COMPONENTS_KEY, ids);
        Ok(())
    }

    /// Checks that every component the store's client advertised is
    /// registered, and records those registered now.
    fn remember_components(&mut self) -> Result<()> {
        let stored: Vec<u16> = match self.store.get(Table::Meta, COMPONENTS_KEY)? {
            Some(b) => serde_json::from_slice(&b).map_err(|_| Error::Corrupt("components"))?,
            None => vec![],
        };
        let now = self.ext.component_ids();
        let missing: Vec<u16> = stored.iter().copied().filter(|id| !now.contains(id)).collect();
        if !missing.is_empty() {
            return Err(Error::MissingComponents(missing));
        }
        if stored != now {
            let mut batch = Batch::new();
            self.record_components(&mut batch)?;
            self.store.apply(batch)?;
        }
        Ok(())
    }

    /// Creates a client with fresh signature keys in its traditional and
    /// PQ suites and stores it. Refused if the store already holds one.
    pub fn create(store: Box<dyn Store>, config: ClientConfig) -> Result<Self> {
        ClientBuilder::new().create(store, config)
    }

    fn create_inner(store: Box<dyn Store>, config: ClientConfig, ext: Arc<mlsx_extensions::Extensions>) -> Result<Self> {
        if let Some(existing) = store.get(Table::Meta, CONFIG_KEY)? {
            let c: ClientConfig = serde_json::from_slice(&existing).map_err(|_| Error::Corrupt("config"))?;
            return Err(Error::ClientExists(c.name));
        }
        let mut client = Self::from_config(store, config, ext)?;
        // Checks the suite rules of the combiner (§7) for this pair once.
        client.setup()?;
        let mut batch = Batch::new();
        batch.put(
            Table::Meta,
            CONFIG_KEY,
            serde_json::to_vec(&client.config).map_err(|e| Error::Config(e.to_string()))?,
        );
        // The components the client advertises, with its config: a later
        // open without one of them is refused.
        client.record_components(&mut batch)?;
        let (t_cs, pq_cs) = (client.t_cs.clone(), client.pq_cs.clone());
        client.missing_identities(&[&t_cs, &pq_cs], &mut batch)?;
        client.store.apply(batch)?;
        Ok(client)
    }

    /// Opens the client in `store`, without components of the
    /// application's ([`ClientBuilder::open`] with them).
    pub fn open(store: Box<dyn Store>) -> Result<Self> {
        ClientBuilder::new().open(store)
    }

    fn open_inner(store: Box<dyn Store>, ext: Arc<mlsx_extensions::Extensions>) -> Result<Self> {
        let bytes = store.get(Table::Meta, CONFIG_KEY)?.ok_or(Error::NoClient)?;
        let config: ClientConfig = serde_json::from_slice(&bytes).map_err(|_| Error::Corrupt("config"))?;
        Self::from_config(store, config, ext)
    }

    fn from_config(store: Box<dyn Store>, config: ClientConfig, ext: Arc<mlsx_extensions::Extensions>) -> Result<Self> {
        let (t_cs, pq_cs, mode) = providers(config.suites())?;
        Ok(Self {
            store,
            current: config.suites(),
            config,
            t_cs,
            pq_cs,
            mode,
            ext,
            directory: None,
        })
    }

    /// Adds to `batch` fresh signature keys for those of `suites` that
    /// have none in the store yet.
    fn missing_identities(&self, suites: &[&Arc<dyn CipherSuiteProvider>], batch: &mut Batch) -> Result<()> {
        for cs in suites {
            let key = cs.cipher_suite().0.to_be_bytes().to_vec();
            if self.store.get(Table::Identity, &key)?.is_some()
                || batch.0.iter().any(|w| matches!(w, Write::Put(Table::Identity, k, _) if *k == key))
            {
                continue;
            }
            let id = Identity::basic(cs.as_ref(), self.config.name.as_bytes())?;
            let record = IdentityRecord {
                public: id.signature_key.clone(),
                private: id.signer.as_bytes().to_vec(),
            };
            batch.put(Table::Identity, key, seal_record(&record, "identity")?.to_vec());
        }
        Ok(())
    }

    /// Checks every credential the client meets from now on against
    /// `directory` (a leaf's signature key must be bound to the name in its
    /// basic credential for the group's suite, [`crate::directory`]);
    /// `None` accepts every basic credential, as without a service.
    pub fn set_directory(&mut self, directory: Option<Arc<dyn crate::directory::KeyDirectory>>) {
        self.directory = directory;
    }

    /// The directory's last failure to answer, cleared
    /// ([`crate::directory::KeyDirectory::take_fault`]).
    pub fn take_directory_fault(&self) -> Option<String> {
        self.directory.as_ref().and_then(|d| d.take_fault())
    }

    /// The credential validator of groups in `cs`'s suite.
    fn validator(&self, cs: &Arc<dyn CipherSuiteProvider>) -> Option<Arc<dyn mlsx_base::group::CredentialValidator>> {
        self.directory.as_ref().map(|d| {
            Arc::new(crate::directory::DirectoryValidator::new(cs.cipher_suite().0, d.clone()))
                as Arc<dyn mlsx_base::group::CredentialValidator>
        })
    }

    /// The client's current signature keys, one per suite it has used: the
    /// suite (code point) and the public key.
    pub fn signature_keys(&self) -> Result<Vec<(u16, Vec<u8>)>> {
        let mut out = vec![];
        for (key, value) in self.store.list(Table::Identity)? {
            let Ok(suite) = <[u8; 2]>::try_from(key.as_slice()) else {
                continue;
            };
            let record: IdentityRecord = open_record(&value, "identity")?;
            out.push((u16::from_be_bytes(suite), record.public.clone()));
        }
        Ok(out)
    }

    /// Signs the client's name and `signature_key` for `suite` under
    /// `label`, with the client's key of `signer.0` whose public key is
    /// `signer.1` (the current one if `None`; a rotated-out one is kept for
    /// this and for joins by older KeyPackages): a proof of possession
    /// ([`crate::directory::KEY_PROOF_LABEL`], the key signing itself) or
    /// an authorization of a new key
    /// ([`crate::directory::KEY_AUTHORIZATION_LABEL`]).
    pub fn sign_key(&self, signer: (u16, Option<&[u8]>), label: &[u8], suite: u16, signature_key: &[u8]) -> Result<Vec<u8>> {
        let cs = crate::directory::provider(signer.0).ok_or_else(|| Error::Config(format!("unsupported suite {:#06x}", signer.0)))?;
        let mut id = self.identity(&cs)?;
        if let Some(public) = signer.1 {
            id = self.with_key(&cs, id, public)?;
        }
        crate::directory::sign_key_of(cs.as_ref(), &id.signer, label, (&self.config.name, suite, signature_key))
    }

    /// `id` signing with the client's key of `cs`'s suite whose public key
    /// is `public`: the current one, or one rotated out.
    fn with_key(&self, cs: &Arc<dyn CipherSuiteProvider>, mut id: Identity, public: &[u8]) -> Result<Identity> {
        if id.signature_key == public {
            return Ok(id);
        }
        let key = [cs.cipher_suite().0.to_be_bytes().as_slice(), public].concat();
        let bytes = self
            .store
            .get(Table::Identity, &key)?
            .ok_or(Error::Corrupt("identity (no such signature key)"))?;
        let record: IdentityRecord = open_record(&bytes, "identity")?;
        id.signature_key = record.public.clone();
        id.signer = SignaturePrivateKey::from_slice(&record.private);
        Ok(id)
    }

    /// One of our KeyPackages (its bytes, init and leaf private keys) with
    /// `identity` signing by the key the KeyPackage carries (rotated out
    /// since, perhaps).
    fn own_bundle(
        &self,
        cs: &Arc<dyn CipherSuiteProvider>,
        (kp, init, leaf): (&[u8], &[u8], &[u8]),
        identity: Identity,
    ) -> Result<KeyPackageBundle> {
        let key_package: KeyPackage = decode(kp)?;
        let identity = self.with_key(cs, identity, key_package.leaf_node.signature_key.as_slice())?;
        Ok(KeyPackageBundle {
            key_package,
            init_key: HpkePrivateKey::from_slice(init),
            leaf_key: HpkePrivateKey::from_slice(leaf),
            identity,
        })
    }

    /// Replaces the client's signature key in `suite` (a code point) by a
    /// fresh one, for new KeyPackages and groups; the old one is kept for
    /// the groups and KeyPackages that carry it. With a delivery service,
    /// [`crate::remote::sync_keys`] (run by [`crate::remote::connect`])
    /// binds the new key to the name, authorized by the old one. Returns
    /// the new public key.
    pub fn rotate_signature_key(&mut self, suite: u16) -> Result<Vec<u8>> {
        let cs = crate::directory::provider(suite).ok_or_else(|| Error::Config(format!("unsupported suite {suite:#06x}")))?;
        let current = self
            .store
            .get(Table::Identity, &suite.to_be_bytes())?
            .ok_or_else(|| Error::Config(format!("no signature key in suite {suite:#06x}")))?;
        let old: IdentityRecord = open_record(&current, "identity")?;
        let (private, public) = cs.signature_generate_key_pair().map_err(mlsx_base::Error::from)?;
        let record = IdentityRecord {
            public: public.clone(),
            private: private.as_bytes().to_vec(),
        };
        let mut batch = Batch::new();
        batch
            .put(
                Table::Identity,
                [suite.to_be_bytes().as_slice(), &old.public].concat(),
                current.to_vec(),
            )
            .put(
                Table::Identity,
                suite.to_be_bytes().to_vec(),
                seal_record(&record, "identity")?.to_vec(),
            );
        self.store.apply(batch)?;
        Ok(public)
    }

    /// The signature public key of the client's traditional identity.
    pub fn signature_key(&self) -> Result<Vec<u8>> {
        let (t_cs, _, _) = providers(self.config.suites())?;
        Ok(self.identity(&t_cs)?.signature_key)
    }

    /// Works in `suites` from now on: the providers, and identities in
    /// both suites (made and stored the first time a suite is used).
    fn use_suites(&mut self, suites: Suites) -> Result<()> {
        if suites == self.current {
            return Ok(());
        }
        let (t_cs, pq_cs, mode) = providers(suites)?;
        let mut batch = Batch::new();
        self.missing_identities(&[&t_cs, &pq_cs], &mut batch)?;
        if !batch.0.is_empty() {
            self.store.apply(batch)?;
        }
        (self.t_cs, self.pq_cs, self.mode, self.current) = (t_cs, pq_cs, mode, suites);
        Ok(())
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The client's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The store, for application records of its own (written through
    /// [`Store::apply`]).
    pub fn store_mut(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// The store, read-only.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn identity(&self, cs: &Arc<dyn CipherSuiteProvider>) -> Result<Identity> {
        let bytes = self
            .store
            .get(Table::Identity, &cs.cipher_suite().0.to_be_bytes())?
            .ok_or(Error::Corrupt("identity"))?;
        let record: IdentityRecord = open_record(&bytes, "identity")?;
        let mut id = Identity::basic(cs.as_ref(), self.config.name.as_bytes())?;
        // Every leaf we make can be in a group open to external joins.
        id.capabilities.extensions.extend([EXTERNAL_JOINS, GROUP_NAME]);
        id.signature_key = record.public.clone();
        id.signer = SignaturePrivateKey::from_slice(&record.private);
        Ok(id)
    }

    fn setup(&self) -> Result<ApqSetup> {
        let mut setup = ApqSetup::new(self.t_cs.clone(), self.pq_cs.clone(), self.mode)?;
        let psks = self.psk_store()?;
        setup.t_config.hooks = setup.t_config.hooks.clone().with_psk_store(psks.clone());
        setup.pq_config.hooks = setup.pq_config.hooks.clone().with_psk_store(psks);
        if let Some(v) = self.validator(&self.t_cs) {
            setup.t_config.validator = v;
        }
        if let Some(v) = self.validator(&self.pq_cs) {
            setup.pq_config.validator = v;
        }
        Ok(setup)
    }

    /// Stores an external PSK (RFC 9420 §8.4), a secret shared out of band
    /// under an id the members agree on, replacing any secret stored under
    /// the same id. Every group of the client can then follow a commit or
    /// Welcome that names it, and [`Group::inject_psks`] can name it.
    ///
    /// ```
    /// use mlsx_app::{Client, ClientConfig, MemoryStore};
    ///
    /// let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice"))?;
    /// alice.add_psk(b"board-2026", &[7; 32])?;
    /// assert_eq!(alice.psk_ids()?, vec![b"board-2026".to_vec()]);
    /// assert!(alice.remove_psk(b"board-2026")?);
    /// # Ok::<(), mlsx_app::Error>(())
    /// ```
    pub fn add_psk(&mut self, psk_id: &[u8], secret: &[u8]) -> Result<()> {
        if psk_id.is_empty() || secret.is_empty() {
            return Err(Error::Config("a PSK needs a non-empty id and secret".into()));
        }
        let mut batch = Batch::new();
        batch.put(Table::Psk, psk_id.to_vec(), secret.to_vec());
        self.store.apply(batch)
    }

    /// Deletes an external PSK from the store (its bytes are zeroed in an
    /// SQLite file). Returns whether it was there. Groups whose epochs
    /// already used it are not affected; commits that name it can no longer
    /// be followed.
    pub fn remove_psk(&mut self, psk_id: &[u8]) -> Result<bool> {
        if self.store.get(Table::Psk, psk_id)?.is_none() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        batch.delete(Table::Psk, psk_id.to_vec());
        self.store.apply(batch)?;
        Ok(true)
    }

    /// The ids of the stored external PSKs.
    pub fn psk_ids(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.store.list(Table::Psk)?.into_iter().map(|(k, _)| k).collect())
    }

    /// The stored external PSKs, as the groups' [`PskStore`]: read when a
    /// group is opened, so a PSK added later is seen by the next
    /// [`Self::group`] call.
    fn psk_store(&self) -> Result<Arc<StoredPsks>> {
        let psks = self
            .store
            .list(Table::Psk)?
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v.to_vec())))
            .collect();
        Ok(Arc::new(StoredPsks(psks)))
    }

    fn apq_client(&self) -> Result<ApqClient> {
        let identity = ApqIdentity {
            t: self.identity(&self.t_cs)?,
            pq: self.identity(&self.pq_cs)?,
        };
        Ok(ApqClient::with_identity(self.setup()?, identity)?)
    }

    /// The configuration of a plain or extended group.
    fn group_config(&self, kind: GroupKind) -> Result<GroupConfig> {
        let mut config = GroupConfig::default();
        // Before the extensions, whose own PSK store falls back to it.
        config.hooks = config.hooks.with_psk_store(self.psk_store()?);
        if kind == GroupKind::Extended {
            self.ext.install(&mut config)?;
        }
        if let Some(v) = self.validator(&self.t_cs) {
            config.validator = v;
        }
        Ok(config)
    }

    /// The identity of a plain or extended group (advertising the
    /// extensions in the latter).
    fn group_identity(&self, kind: GroupKind) -> Result<Identity> {
        let mut id = self.identity(&self.t_cs)?;
        if kind == GroupKind::Extended {
            self.ext.advertise(&mut id)?;
            let types = mlsx_extensions::MediaTypeList::parse(self.config.media_types.iter().map(String::as_str))?;
            self.ext.advertise_media_types(&mut id, &types)?;
        }
        Ok(id)
    }

    /// Makes `count` KeyPackages (or hybrid pairs) and stores their private
    /// keys. A last-resort KeyPackage (draft-ietf-mls-extensions §6.4) is
    /// marked as such, kept after a join, and may be handed out more than
    /// once by the delivery service.
    pub fn key_packages(&mut self, kind: GroupKind, count: usize, last_resort: bool) -> Result<Vec<KeyPackageOffer>> {
        self.key_packages_in(kind, self.config.suites(), count, last_resort)
    }

    /// [`Self::key_packages`] in other suites than the client's defaults
    /// (for groups in those suites; a hybrid pair is accepted only into a
    /// session of `suites.mode`).
    pub fn key_packages_in(&mut self, kind: GroupKind, suites: Suites, count: usize, last_resort: bool) -> Result<Vec<KeyPackageOffer>> {
        self.use_suites(suites)?;
        if kind == GroupKind::Hybrid {
            self.setup()?;
        }
        let ext = mlsx_extensions::Extensions::new();
        let mut batch = Batch::new();
        let mut offers = vec![];
        for _ in 0..count {
            let record = match kind {
                GroupKind::Plain | GroupKind::Extended => {
                    let mut id = self.group_identity(kind)?;
                    if last_resort {
                        ext.mark_last_resort(&mut id)?;
                    }
                    let b = id.key_package(self.t_cs.as_ref())?;
                    KeyPackageRecord::new(kind, self.current, last_resort, &b, None)?
                }
                GroupKind::Hybrid => {
                    let client = self.apq_client()?;
                    let (mut t_id, pq_id) = (client.identity().t.duplicate(), client.identity().pq.duplicate());
                    if last_resort {
                        ext.mark_last_resort(&mut t_id)?;
                    }
                    let t = t_id.key_package(self.t_cs.as_ref())?;
                    let pq = pq_id.key_package(self.pq_cs.as_ref())?;
                    KeyPackageRecord::new(kind, self.current, last_resort, &t, Some(&pq))?
                }
            };
            let t: KeyPackage = decode(&record.t)?;
            let reference = self.t_cs.ref_hash(KEY_PACKAGE_REF_LABEL, &record.t)?;
            offers.push(KeyPackageOffer {
                kind,
                owner: self.config.name.clone(),
                t,
                pq: if record.pq.is_empty() { None } else { Some(decode(&record.pq)?) },
            });
            batch.put(Table::KeyPackage, reference, seal_record(&record, "key package")?.to_vec());
        }
        self.store.apply(batch)?;
        Ok(offers)
    }

    /// Creates a group (a hybrid session: its T group has id `group_id`,
    /// its PQ group `group_id` + "/pq").
    pub fn create_group(&mut self, group_id: &[u8], kind: GroupKind) -> Result<Group<'_>> {
        self.create_group_with(group_id, kind, &GroupOptions::default())
    }

    /// Creates a group with a random 16-byte id, named `name` for its
    /// members ([`GROUP_NAME`]) and labelled `name` for this client: two
    /// clients' groups of one name never collide, and nobody can take or
    /// guess the id before its creator uses it.
    ///
    /// ```
    /// use mlsx_app::{Client, ClientConfig, GroupKind, GroupOptions, MemoryStore};
    ///
    /// let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice"))?;
    /// let id = alice.create_named_group("team", GroupKind::Plain, &GroupOptions::default())?.id().to_vec();
    /// assert_eq!(id.len(), 16);
    /// assert_eq!(alice.group_by_label("team")?, Some(id.clone()));
    /// assert_eq!(alice.display(&id), "team");
    /// # Ok::<(), mlsx_app::Error>(())
    /// ```
    pub fn create_named_group(&mut self, name: &str, kind: GroupKind, options: &GroupOptions) -> Result<Group<'_>> {
        let mut id = [0u8; 16];
        rand::fill(&mut id);
        let options = GroupOptions {
            name: Some(name.to_owned()),
            ..options.clone()
        };
        self.create_group_with(&id, kind, &options)
    }

    /// [`Self::create_group`] with options.
    pub fn create_group_with(&mut self, group_id: &[u8], kind: GroupKind, options: &GroupOptions) -> Result<Group<'_>> {
        self.use_suites(options.suites.unwrap_or_else(|| self.config.suites()))?;
        if options.asks_extensions() && kind != GroupKind::Extended {
            return Err(Error::WrongKind(
                "required media types, components and app data need an extended group",
            ));
        }
        if self.store.get(Table::Group, group_id)?.is_some() {
            return Err(Error::Config(format!("group {} exists", show(group_id))));
        }
        let mut batch = Batch::new();
        let mut named = vec![];
        if let Some(name) = &options.name {
            check_label(name)?;
            if self.group_by_label(name)?.is_some() {
                return Err(Error::Config(format!("this client already has a group labelled {name}")));
            }
            named.push(mlsx_base::codec::Extension::new(GROUP_NAME, name.as_bytes().to_vec()));
            label_writes(&mut batch, group_id, name);
        }
        let inner = match kind {
            GroupKind::Plain | GroupKind::Extended => {
                let mut requirements = mlsx_extensions::GroupRequirements {
                    components: options.components.clone(),
                    safe_aad: Some(options.safe_aad_components.clone()),
                    wire_formats: vec![],
                    data: options.app_data.clone(),
                };
                // A requirement this client could not meet itself would
                // make a group nobody, its creator included, can join.
                let ours = self.ext.component_ids();
                if let Some(id) = options
                    .components
                    .iter()
                    .chain(&options.safe_aad_components)
                    .chain(options.app_data.iter().map(|(c, _)| c))
                    .find(|c| !ours.contains(c))
                {
                    return Err(Error::UnknownComponent(*id));
                }
                for (component, data) in &options.app_data {
                    if let Some(c) = self.ext.component(*component) {
                        c.validate_data(mlsx_base::group::hooks::ExtensionContext::GroupContext, data)
                            .map_err(|r| mlsx_extensions::Error::ComponentRejected {
                                component: *component,
                                reason: r.0,
                            })?;
                    }
                }
                if !options.media_types.is_empty() {
                    let list = mlsx_extensions::MediaTypeList::parse(options.media_types.iter().map(String::as_str))?;
                    requirements.components.push(mlsx_extensions::CONTENT_MEDIA_TYPES);
                    requirements.data.push((mlsx_extensions::CONTENT_MEDIA_TYPES, list.to_data()?));
                }
                let mut extensions = if kind == GroupKind::Extended {
                    self.ext.group_context_extensions(&requirements)?
                } else {
                    vec![]
                };
                extensions.extend(named);
                Inner::Plain(
                    Box::new(mlsx_base::group::Group::create_with_extensions(
                        self.t_cs.clone(),
                        self.group_identity(kind)?,
                        group_id.to_vec(),
                        extensions,
                        self.group_config(kind)?,
                    )?),
                    kind,
                )
            }
            GroupKind::Hybrid => Inner::Hybrid(Box::new(self.apq_client()?.create_session_with_extensions(
                group_id.to_vec(),
                pq_id(group_id),
                named,
            )?)),
        };
        let mut group = Group {
            client: self,
            id: group_id.to_vec(),
            inner,
            pending: None,
            gone: false,
        };
        group.store_state(batch)?;
        Ok(group)
    }

    /// Joins from a Welcome (or a pair of Welcomes): finds our KeyPackage
    /// it names, joins, and stores the group while deleting that
    /// KeyPackage (unless it is last resort), in one transaction.
    pub fn join(&mut self, welcome: &[u8]) -> Result<(Vec<u8>, Vec<Event>)> {
        self.join_with(welcome, Batch::new())
    }

    /// [`Self::join`], writing `batch`'s other changes in the same
    /// transaction.
    pub fn join_with(&mut self, welcome: &[u8], batch: Batch) -> Result<(Vec<u8>, Vec<Event>)> {
        self.join_recording(welcome, batch, &mut |_, _| Ok(()))
    }

    /// [`Self::join_with`], where `record` adds to the batch what must be
    /// written with the join's events (see [`Group::process_recording`]).
    pub fn join_recording(&mut self, welcome: &[u8], mut batch: Batch, recorder: &mut Recorder<'_>) -> Result<(Vec<u8>, Vec<Event>)> {
        let msg = crate::input::message(welcome, "Welcome", &[WIRE_WELCOME, mlsx_combiner::APQ_MESSAGE_PAIR.0])?;
        let (t_welcome, hybrid) = match &msg.body {
            MlsMessageBody::Welcome(w) => (w.clone(), false),
            MlsMessageBody::Custom(_) => match ApqMessagePair::from_message(&msg)?.t_message.body {
                MlsMessageBody::Welcome(w) => (w, true),
                _ => return Err(Error::WrongInput("a pair that does not hold a Welcome")),
            },
            _ => return Err(Error::WrongInput("not a Welcome")),
        };
        let mut found = None;
        for s in &t_welcome.secrets {
            if let Some(r) = self.store.get(Table::KeyPackage, s.new_member.as_slice())? {
                found = Some((s.new_member.as_slice().to_vec(), r));
                break;
            }
        }
        let (reference, record) = found.ok_or(Error::NoKeyPackageForWelcome)?;
        let record: KeyPackageRecord = open_record(&record, "key package")?;
        self.use_suites(record.suites)?;
        let inner = if hybrid {
            if record.kind != GroupKind::Hybrid {
                return Err(Error::WrongInput("a hybrid Welcome for a plain KeyPackage"));
            }
            let client = self.apq_client()?;
            let bundles = ApqKeyPackageBundles {
                t: self.own_bundle(
                    &self.t_cs,
                    (&record.t, &record.t_init, &record.t_leaf),
                    client.identity().t.duplicate(),
                )?,
                pq: self.own_bundle(
                    &self.pq_cs,
                    (&record.pq, &record.pq_init, &record.pq_leaf),
                    client.identity().pq.duplicate(),
                )?,
            };
            Inner::Hybrid(Box::new(client.join(&msg, bundles)?))
        } else {
            if record.kind == GroupKind::Hybrid {
                return Err(Error::WrongInput("a plain Welcome for a hybrid KeyPackage"));
            }
            let b = self.own_bundle(
                &self.t_cs,
                (&record.t, &record.t_init, &record.t_leaf),
                self.group_identity(record.kind)?,
            )?;
            Inner::Plain(
                Box::new(mlsx_base::group::Group::join(
                    self.t_cs.clone(),
                    &msg,
                    b,
                    None,
                    self.group_config(record.kind)?,
                )?),
                record.kind,
            )
        };
        let id = inner.group_id();
        if self.store.get(Table::Group, &id)?.is_some() {
            return Err(Error::Config(format!("already in group {}", show(&id))));
        }
        if !record.last_resort {
            batch.delete(Table::KeyPackage, reference);
        }
        let label = self.label_for_joined(&id, inner.t().context())?;
        label_writes(&mut batch, &id, &label);
        let mut group = Group {
            client: self,
            id: id.clone(),
            inner,
            pending: None,
            gone: false,
        };
        let events = vec![Event::Joined { group: label }];
        recorder(&events, &mut batch)?;
        group.store_state(batch)?;
        Ok((id.clone(), events))
    }

    /// Joins by external commit (RFC 9420 §12.4.3.2; a pair of them for a
    /// hybrid session, draft-ietf-mls-combiner §3.2.2) from a GroupInfo
    /// ([`Group::group_info`]). In an extended group, `self_removes` are
    /// the SelfRemove proposals of the GroupInfo's epoch, which the joiner
    /// must commit (draft-ietf-mls-extensions §6.3). The join is pending
    /// like any commit: [`Group::accepted`] when the delivery service takes
    /// it, [`Group::refused`] (which forgets the group) when not.
    pub fn join_external(&mut self, kind: GroupKind, group_info: &[u8], self_removes: &[Vec<u8>]) -> Result<Outgoing> {
        let msg = crate::input::message(group_info, "GroupInfo", &[WIRE_GROUP_INFO, mlsx_combiner::APQ_MESSAGE_PAIR.0])?;
        // The members before the join (some may leave by it): the names in
        // the GroupInfo's tree (of the T group, for a pair).
        let before: BTreeSet<String> = match &msg.body {
            MlsMessageBody::GroupInfo(gi) => roster_of(gi),
            MlsMessageBody::Custom(_) => match ApqMessagePair::from_message(&msg)?.t_message.body {
                MlsMessageBody::GroupInfo(gi) => roster_of(&gi),
                _ => BTreeSet::new(),
            },
            _ => BTreeSet::new(),
        };
        self.use_suites(self.suites_of_group_info(&msg)?)?;
        let (inner, commit, epoch) = match (kind, &msg.body) {
            (GroupKind::Hybrid, MlsMessageBody::Custom(_)) => {
                if !self_removes.is_empty() {
                    return Err(Error::WrongKind("SelfRemove is not used in hybrid sessions"));
                }
                let pair = ApqMessagePair::from_message(&msg)?;
                let MlsMessageBody::GroupInfo(t_gi) = &pair.t_message.body else {
                    return Err(Error::WrongInput("not a GroupInfo pair"));
                };
                let epoch = t_gi.group_context.epoch;
                let (session, commit) = self.apq_client()?.join_external(&msg)?;
                (Inner::Hybrid(Box::new(session)), commit, epoch)
            }
            (GroupKind::Plain | GroupKind::Extended, MlsMessageBody::GroupInfo(gi)) => {
                let proposals_by_reference = self_removes
                    .iter()
                    .map(|p| decode::<MlsMessage>(p))
                    .collect::<Result<Vec<_>, _>>()?;
                let options = mlsx_base::group::ExternalJoinOptions {
                    proposals_by_reference,
                    ..Default::default()
                };
                let (group, commit) = mlsx_base::group::Group::join_external_with(
                    self.t_cs.clone(),
                    gi,
                    None,
                    self.group_identity(kind)?,
                    options,
                    self.group_config(kind)?,
                )?;
                (Inner::Plain(Box::new(group), kind), commit, gi.group_context.epoch)
            }
            _ => return Err(Error::WrongKind("a GroupInfo of another kind of group")),
        };
        let id = inner.group_id();
        if self.store.get(Table::Group, &id)?.is_some() {
            return Err(Error::Config(format!("already in group {}", show(&id))));
        }
        let me = self.config.name.clone();
        let outgoing = Outgoing {
            group: id.clone(),
            epoch,
            kind: OutgoingKind::Commit,
            message: encode(&commit)?,
            recipients: before.union(&inner.roster()).filter(|n| **n != me).cloned().collect(),
            welcome: None,
            welcome_to: vec![],
            removed: before.difference(&inner.roster()).filter(|n| **n != me).cloned().collect(),
        };
        let record = GroupRecord {
            kind,
            suites: self.current,
            state: vec![],
            pending: Some(PendingRecord {
                next_state: inner.save()?.to_vec(),
                outgoing: outgoing.clone(),
            }),
        };
        let mut batch = Batch::new();
        let label = self.label_for_joined(&id, inner.t().context())?;
        label_writes(&mut batch, &id, &label);
        batch.put(Table::Group, id, record.to_bytes()?.to_vec());
        self.store.apply(batch)?;
        Ok(outgoing)
    }

    /// The group this client labels `label` (its name when the client
    /// created or joined it, made unique among the client's labels).
    pub fn group_by_label(&self, label: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store
            .get(Table::Meta, &label_key(LABEL_PREFIX, label.as_bytes()))?
            .map(|id| id.to_vec()))
    }

    /// This client's label for group `id`, if it has one.
    pub fn label_of(&self, id: &[u8]) -> Result<Option<String>> {
        Ok(self
            .store
            .get(Table::Meta, &label_key(LABEL_OF_PREFIX, id))?
            .map(|l| String::from_utf8_lossy(&l).into_owned()))
    }

    /// Group `id` as this client shows it: its label, or the id itself.
    pub fn display(&self, id: &[u8]) -> String {
        self.label_of(id).ok().flatten().unwrap_or_else(|| show(id))
    }

    /// Labels group `id` `label` for this client (replacing its former
    /// label); refused if another group has that label.
    pub fn set_label(&mut self, id: &[u8], label: &str) -> Result<()> {
        check_label(label)?;
        match self.group_by_label(label)? {
            Some(other) if other != id => return Err(Error::Config(format!("this client already has a group labelled {label}"))),
            _ => {}
        }
        let mut batch = Batch::new();
        if let Some(old) = self.label_of(id)? {
            batch.delete(Table::Meta, label_key(LABEL_PREFIX, old.as_bytes()));
        }
        label_writes(&mut batch, id, label);
        self.store.apply(batch)
    }

    /// Adds to `batch` the deletion of group `id`'s label.
    fn forget_label(&self, id: &[u8], batch: &mut Batch) -> Result<()> {
        if let Some(label) = self.label_of(id)? {
            batch
                .delete(Table::Meta, label_key(LABEL_PREFIX, label.as_bytes()))
                .delete(Table::Meta, label_key(LABEL_OF_PREFIX, id));
        }
        Ok(())
    }

    /// The label a group the client joins gets: the name its members gave
    /// it ([`GROUP_NAME`]) or else its id (as text if it is text), made
    /// unique among the client's labels (`team`, `team-2`, …).
    fn label_for_joined(&self, id: &[u8], context: &mlsx_base::codec::GroupContext) -> Result<String> {
        if let Some(label) = self.label_of(id)? {
            return Ok(label);
        }
        let wanted = group_name(context)
            .or_else(|| Some(show(id)))
            .filter(|n| check_label(n).is_ok())
            .unwrap_or_else(|| hex::encode(id.get(..8).unwrap_or(id)));
        for n in 1u32.. {
            let label = if n == 1 { wanted.clone() } else { format!("{wanted}-{n}") };
            if self.group_by_label(&label)?.is_none() {
                return Ok(label);
            }
        }
        Err(Error::Config("no free label".into()))
    }

    /// Opens a stored group.
    pub fn group(&mut self, group_id: &[u8]) -> Result<Group<'_>> {
        let bytes = self
            .store
            .get(Table::Group, group_id)?
            .ok_or_else(|| Error::UnknownGroup(show(group_id)))?;
        let record = GroupRecord::from_bytes(&bytes)?;
        self.use_suites(record.suites)?;
        // With a commit pending, the state after it (the optimistic one);
        // `Group::refused` goes back.
        let inner = match &record.pending {
            Some(p) => self.load_inner(record.kind, &p.next_state)?,
            None => self.load_inner(record.kind, &record.state)?,
        };
        let pending = record.pending.as_ref().map(|p| p.outgoing.clone());
        Ok(Group {
            client: self,
            id: group_id.to_vec(),
            inner,
            pending,
            gone: false,
        })
    }

    /// The suites of a GroupInfo (pair): its cipher suites, and the mode
    /// in its APQInfo (the client's default mode if it has none).
    fn suites_of_group_info(&self, msg: &MlsMessage) -> Result<Suites> {
        let mut suites = self.config.suites();
        match &msg.body {
            MlsMessageBody::GroupInfo(gi) => suites.t_suite = gi.group_context.cipher_suite.0,
            MlsMessageBody::Custom(_) => {
                let pair = ApqMessagePair::from_message(msg)?;
                if let (MlsMessageBody::GroupInfo(t), MlsMessageBody::GroupInfo(pq)) = (&pair.t_message.body, &pair.pq_message.body) {
                    suites.t_suite = t.group_context.cipher_suite.0;
                    let profile = mlsx_pq_suites::PqProvider::default();
                    suites.pq_suite = PqSuite::ALL
                        .into_iter()
                        .find(|s| profile.code_point(*s) == Some(pq.group_context.cipher_suite))
                        .map(PqSuite::number)
                        .ok_or_else(|| Error::Config(format!("unknown PQ suite {:#06x}", pq.group_context.cipher_suite.0)))?;
                    if let Some(info) = apq_info_of(&t.group_context) {
                        suites.mode = info.mode as u8;
                    }
                }
            }
            _ => return Err(Error::WrongInput("not a GroupInfo")),
        }
        Ok(suites)
    }

    fn load_inner(&self, kind: GroupKind, state: &[u8]) -> Result<Inner> {
        Ok(match kind {
            GroupKind::Plain | GroupKind::Extended => Inner::Plain(
                Box::new(mlsx_base::group::Group::load(self.t_cs.clone(), state, self.group_config(kind)?)?),
                kind,
            ),
            GroupKind::Hybrid => Inner::Hybrid(Box::new(ApqSession::load(self.setup()?, state)?)),
        })
    }

    /// The ids of the stored groups.
    pub fn groups(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self.store.list(Table::Group)?.into_iter().map(|(k, _)| k).collect())
    }

    /// How many KeyPackages the store holds private keys for: those not
    /// yet used, and last-resort ones (kept after use).
    pub fn key_package_count(&self) -> Result<usize> {
        Ok(self.store.list(Table::KeyPackage)?.len())
    }
}

type Providers = (Arc<dyn CipherSuiteProvider>, Arc<dyn CipherSuiteProvider>, Mode);

/// The APQInfo in a GroupContext's `app_data_dictionary`, if any
/// (draft-ietf-mls-combiner §5.1).
fn apq_info_of(context: &mlsx_base::codec::GroupContext) -> Option<mlsx_combiner::ApqInfo> {
    let t = mlsx_extensions::CodePoints::default().app_data_dictionary;
    let d = mlsx_extensions::AppDataDictionary::find(&context.extensions, t).ok()??;
    decode(d.get(mlsx_extensions::APQ_MLS_INFO)?).ok()
}

fn providers(config: Suites) -> Result<Providers> {
    let t_cs = RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite(config.t_suite))
        .ok_or_else(|| Error::Config(format!("unsupported traditional suite {:#06x}", config.t_suite)))?;
    let pq = PqSuite::from_number(config.pq_suite).ok_or_else(|| Error::Config(format!("no PQ suite TBD{}", config.pq_suite)))?;
    let pq_cs = pq.provider()?;
    let mode = match config.mode {
        0 => Mode::ConfidentialityOnly,
        1 => Mode::ConfidentialityAndAuthenticity,
        m => return Err(Error::Config(format!("no combiner mode {m}"))),
    };
    Ok((t_cs, pq_cs, mode))
}

fn pq_id(group_id: &[u8]) -> Vec<u8> {
    let mut id = group_id.to_vec();
    id.extend_from_slice(b"/pq");
    id
}

/// A GroupContext extension (RFC 9420 §13.3, private-use type 0xF1A0, empty
/// data) by which the members of a group open it to external joins. Without
/// it a group is closed: its members refuse an external commit (RFC 9420
/// §12.4.3.2) unless it is the resync of a member's own leaf, and so does
/// a delivery service that follows the group, which also hands its
/// GroupInfo to members only. It is part of the group's state, agreed by
/// its members through a GroupContextExtensions commit
/// ([`Group::set_external_joins`]); every leaf this client makes lists it
/// in its capabilities.
pub const EXTERNAL_JOINS: ExtensionType = ExtensionType(0xF1A0);

/// A GroupContext extension (RFC 9420 §13.3, private-use type 0xF1A1)
/// holding the group's name, UTF-8, as its creator gave it. Clients label a
/// group they join by it ([`Client::group_by_label`]); the name is not the
/// group's id (ids are random, so a name can neither collide nor be
/// squatted). Being in the GroupContext, it is seen by every member and by
/// a delivery service that follows the group's public handshakes.
pub const GROUP_NAME: ExtensionType = ExtensionType(0xF1A1);

/// The name of a group ([`GROUP_NAME`]), if it has one.
pub fn group_name(context: &mlsx_base::codec::GroupContext) -> Option<String> {
    mlsx_base::codec::find_extension(&context.extensions, GROUP_NAME)
        .and_then(|e| String::from_utf8(e.extension_data.as_slice().to_vec()).ok())
}

const LABEL_PREFIX: &[u8] = b"label\0";
const LABEL_OF_PREFIX: &[u8] = b"label-of\0";

fn label_key(prefix: &[u8], key: &[u8]) -> Vec<u8> {
    [prefix, key].concat()
}

fn label_writes(batch: &mut Batch, id: &[u8], label: &str) {
    batch.put(Table::Meta, label_key(LABEL_PREFIX, label.as_bytes()), id.to_vec()).put(
        Table::Meta,
        label_key(LABEL_OF_PREFIX, id),
        label.as_bytes().to_vec(),
    );
}

/// A label or group name: 1 to 255 bytes, no control characters.
fn check_label(label: &str) -> Result<()> {
    if label.is_empty() || label.len() > 255 || label.chars().any(char::is_control) {
        return Err(Error::Config("a group name is 1 to 255 bytes without control characters".into()));
    }
    Ok(())
}

/// Whether a GroupContext opens its group to external joins.
pub fn external_joins_open(context: &mlsx_base::codec::GroupContext) -> bool {
    mlsx_base::codec::find_extension(&context.extensions, EXTERNAL_JOINS).is_some()
}

/// Whether `msg` (a T message, or the pair holding it) may be taken by a
/// group whose tree is `tree` and context `context`: anything but an
/// external commit, an external commit if the group is open, or the resync
/// of a member's own leaf (its Remove names a leaf with the joiner's
/// credential).
pub fn external_join_allowed(msg: &MlsMessage, context: &mlsx_base::codec::GroupContext, tree: &mlsx_base::tree::RatchetTree) -> bool {
    use mlsx_base::codec::{FramedContentBody, ProposalOrRef, Sender};
    let t;
    let msg = match &msg.body {
        MlsMessageBody::Custom(_) => match ApqMessagePair::from_message(msg) {
            Ok(p) => {
                t = p.t_message;
                &t
            }
            Err(_) => return true,
        },
        _ => msg,
    };
    let MlsMessageBody::PublicMessage(m) = &msg.body else { return true };
    let (Sender::NewMemberCommit, FramedContentBody::Commit(c)) = (&m.content.sender, &m.content.body) else {
        return true;
    };
    if external_joins_open(context) {
        return true;
    }
    let Some(joiner) = c.path.as_ref().map(|p| &p.leaf_node.credential) else {
        return false;
    };
    c.proposals
        .iter()
        .any(|p| matches!(p, ProposalOrRef::Proposal(Proposal::Remove(r)) if tree.leaf(r.removed).is_some_and(|l| l.credential == *joiner)))
}

/// A group id for people: UTF-8 as is, otherwise hex.
pub fn show(id: &[u8]) -> String {
    // An id from a hostile message may be as long as the message: shown
    // in part.
    const MAX: usize = 64;
    let (id, cut) = if id.len() > MAX { (&id[..MAX], "…") } else { (id, "") };
    match std::str::from_utf8(id) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => format!("{s}{cut}"),
        _ => format!("{}{cut}", hex::encode(id)),
    }
}

/// Members' names in a GroupInfo's `ratchet_tree` extension (empty if it
/// has none).
fn roster_of(gi: &mlsx_base::codec::GroupInfo) -> BTreeSet<String> {
    let Some(ext) = mlsx_base::codec::find_extension(&gi.extensions, mlsx_base::codec::ExtensionType::RATCHET_TREE) else {
        return BTreeSet::new();
    };
    let Ok(nodes) = decode::<mlsx_base::codec::RatchetTreeNodes>(ext.extension_data.as_slice()) else {
        return BTreeSet::new();
    };
    nodes
        .iter()
        .filter_map(|n| match n {
            Some(mlsx_base::codec::Node::Leaf(leaf)) => Some(name_of(&leaf.credential)),
            _ => None,
        })
        .collect()
}

/// The basic credential of a name.
fn basic(name: &str) -> Credential {
    Credential::Basic(name.as_bytes().to_vec().into())
}

fn name_of(c: &Credential) -> String {
    match c {
        Credential::Basic(b) => String::from_utf8_lossy(b.as_slice()).into_owned(),
        other => format!("<{:?} credential>", other.credential_type()),
    }
}

#[derive(Debug)]
enum Inner {
    /// A plain or extended group.
    Plain(Box<mlsx_base::group::Group>, GroupKind),
    Hybrid(Box<ApqSession>),
}

impl Inner {
    /// The signed GroupInfo of the current epoch (a pair for a session).
    fn group_info(&self) -> Result<Vec<u8>> {
        Ok(match self {
            Inner::Plain(g, _) => encode(&MlsMessage::new(MlsMessageBody::GroupInfo(g.group_info()?)))?,
            Inner::Hybrid(s) => encode(&s.group_info()?)?,
        })
    }

    fn t(&self) -> &mlsx_base::group::Group {
        match self {
            Inner::Plain(g, _) => g,
            Inner::Hybrid(s) => s.t_group(),
        }
    }

    fn kind(&self) -> GroupKind {
        match self {
            Inner::Plain(_, kind) => *kind,
            Inner::Hybrid(_) => GroupKind::Hybrid,
        }
    }

    fn group_id(&self) -> Vec<u8> {
        self.t().context().group_id.as_slice().to_vec()
    }

    fn save(&self) -> Result<Zeroizing<Vec<u8>>> {
        Ok(match self {
            Inner::Plain(g, _) => g.save()?,
            Inner::Hybrid(s) => s.save()?,
        })
    }

    fn roster(&self) -> BTreeSet<String> {
        self.t().members().map(|(_, leaf)| name_of(&leaf.credential)).collect()
    }
}

/// Facts about a group, for display.
#[derive(Clone, Debug, Serialize)]
pub struct GroupInfo {
    /// The group as this client shows it: its label, or its id.
    pub group: String,
    /// The group's id, hex.
    pub id: String,
    /// The group's name ([`GROUP_NAME`]), if it has one.
    pub name: Option<String>,
    /// Plain or hybrid.
    pub kind: GroupKind,
    /// The (traditional group's) epoch.
    pub epoch: u64,
    /// The PQ group's epoch, for hybrid sessions.
    pub pq_epoch: Option<u64>,
    /// The traditional suite.
    pub cipher_suite: u16,
    /// The PQ group's suite.
    pub pq_cipher_suite: Option<u16>,
    /// Members' names.
    pub members: Vec<String>,
    /// Whether a commit of ours waits for the delivery service.
    pub commit_pending: bool,
    /// The epoch authenticator (hex), to compare out of band.
    pub epoch_authenticator: String,
}

/// One group of a [`Client`], loaded. Every call that changes the group
/// stores it before returning.
#[derive(Debug)]
pub struct Group<'c> {
    client: &'c mut Client,
    id: Vec<u8>,
    inner: Inner,
    pending: Option<Outgoing>,
    /// We were removed: the record is deleted and the handle unusable.
    gone: bool,
}

impl Group<'_> {
    /// The group's id.
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The epoch (of the traditional group, for hybrid sessions).
    pub fn epoch(&self) -> u64 {
        self.inner.t().epoch()
    }

    /// Members' names.
    pub fn roster(&self) -> Vec<String> {
        self.inner.roster().into_iter().collect()
    }

    /// Our pending commit, waiting for the delivery service's answer.
    pub fn pending(&self) -> Option<&Outgoing> {
        self.pending.as_ref()
    }

    /// The plain group, or the hybrid session's traditional group.
    pub fn mls_group(&self) -> &mlsx_base::group::Group {
        self.inner.t()
    }

    /// The hybrid session, if this is one.
    pub fn session(&self) -> Option<&ApqSession> {
        match &self.inner {
            Inner::Hybrid(s) => Some(s),
            Inner::Plain(..) => None,
        }
    }

    /// Facts for display.
    pub fn info(&self) -> Result<GroupInfo> {
        let t = self.inner.t();
        let pq = self.session().map(ApqSession::pq_group);
        Ok(GroupInfo {
            group: self.client.display(&self.id),
            id: hex::encode(&self.id),
            name: group_name(t.context()),
            kind: self.inner.kind(),
            epoch: t.epoch(),
            pq_epoch: pq.map(|g| g.epoch()),
            cipher_suite: t.cipher_suite().0,
            pq_cipher_suite: pq.map(|g| g.cipher_suite().0),
            members: self.roster(),
            commit_pending: self.pending.is_some(),
            epoch_authenticator: hex::encode(t.epoch_authenticator()),
        })
    }

    /// An exported secret (RFC 9420 §8.5) of the current epoch (of the
    /// traditional group, which is keyed by both in a hybrid session).
    pub fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(
            self.inner.t().export_secret(label, context, len)?.as_bytes().to_vec(),
        ))
    }

    fn no_pending(&self) -> Result<()> {
        if self.gone {
            return Err(Error::UnknownGroup(show(&self.id)));
        }
        if self.pending.is_some() {
            return Err(Error::CommitPending(show(&self.id)));
        }
        Ok(())
    }

    /// Writes the current state, with `batch`'s other changes, in one
    /// transaction.
    fn store_state(&mut self, mut batch: Batch) -> Result<()> {
        if self.gone {
            return Err(Error::UnknownGroup(show(&self.id)));
        }
        let record = GroupRecord {
            kind: self.inner.kind(),
            suites: self.client.current,
            state: self.inner.save()?.to_vec(),
            pending: None,
        };
        batch.put(Table::Group, self.id.clone(), record.to_bytes()?.to_vec());
        self.client.store.apply(batch)
    }

    /// Encrypts application data for the group and stores the advanced
    /// ratchet.
    pub fn send(&mut self, data: &[u8]) -> Result<Outgoing> {
        self.send_with_aad(data, &[])
    }

    /// [`Self::send`] with SafeAAD items (draft-ietf-mls-extensions §4.9)
    /// in an extended group: authenticated, not encrypted, each under its
    /// component's id.
    pub fn send_with_aad(&mut self, data: &[u8], aad: &[(mlsx_extensions::ComponentId, Vec<u8>)]) -> Result<Outgoing> {
        self.send_media(data, None, aad)
    }

    /// Sends content of a media type in an extended group that frames
    /// content (draft-ietf-mls-extensions §6.2; `None`: the group's first
    /// type), with SafeAAD items. In such a group every message is framed,
    /// also those sent with [`Self::send`].
    pub fn send_media(
        &mut self,
        data: &[u8],
        media_type: Option<&str>,
        aad: &[(mlsx_extensions::ComponentId, Vec<u8>)],
    ) -> Result<Outgoing> {
        self.no_pending()?;
        let result = self.send_unchecked(data, media_type, aad);
        self.reload_on_error(result)
    }

    fn send_unchecked(
        &mut self,
        data: &[u8],
        media_type: Option<&str>,
        aad: &[(mlsx_extensions::ComponentId, Vec<u8>)],
    ) -> Result<Outgoing> {
        if (!aad.is_empty() || media_type.is_some()) && self.inner.kind() != GroupKind::Extended {
            return Err(Error::WrongKind("SafeAAD and media types need an extended group"));
        }
        let framed;
        let data = if self.inner.kind() == GroupKind::Extended {
            let context = self.inner.t().context();
            let required = self.client.ext.required_media_types(context)?;
            let mt = media_type.map(mlsx_extensions::MediaType::parse).transpose()?;
            match (&required, &mt) {
                (None, Some(_)) => return Err(Error::WrongKind("this group does not frame content (no content_media_types)")),
                (Some(list), Some(t)) if !list.supports(t) => {
                    return Err(Error::Extensions(mlsx_extensions::Error::MediaTypeUnsupported(t.to_text())));
                }
                _ => {}
            }
            framed = self.client.ext.frame_content(context, mt.as_ref(), data)?;
            &framed[..]
        } else {
            data
        };
        let epoch = self.epoch();
        let msg = match &mut self.inner {
            Inner::Plain(g, GroupKind::Extended) => {
                let aad = mlsx_extensions::SafeAad::build(aad.iter().cloned())?;
                g.encrypt_application(data, &aad)?
            }
            Inner::Plain(g, _) => g.encrypt_application(data, &[])?,
            Inner::Hybrid(s) => s.encrypt_application(data, &[])?,
        };
        let out = self.to_others(epoch, &msg)?;
        self.store_state(Batch::new())?;
        Ok(out)
    }

    /// A message (not a commit) of `epoch` for every other member.
    fn to_others(&self, epoch: u64, msg: &MlsMessage) -> Result<Outgoing> {
        let me = &self.client.config.name;
        Ok(Outgoing {
            group: self.id.clone(),
            epoch,
            kind: OutgoingKind::Message,
            message: encode(msg)?,
            recipients: self.inner.roster().into_iter().filter(|n| n != me).collect(),
            welcome: None,
            welcome_to: vec![],
            removed: vec![],
        })
    }

    /// Proposes changes for the next commit (anyone's): in a plain or
    /// extended group, Adds (from offers) and Removes (by name) as
    /// separate proposals; in a hybrid session, an Update pair, which makes
    /// the next commit FULL (draft-ietf-mls-combiner §3.1). Returns the
    /// messages to send.
    pub fn propose(&mut self, add: &[KeyPackageOffer], remove: &[String], update: bool) -> Result<Vec<Outgoing>> {
        self.no_pending()?;
        let result = self.propose_unchecked(add, remove, update);
        self.reload_on_error(result)
    }

    /// After a failed change: back to the stored state, so that nothing
    /// made in memory before the failure (a cached proposal, a merged
    /// commit) is kept, stored later or built upon.
    fn reload_on_error<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() && self.pending.is_none() && !self.gone {
            // The original error is the one to report; a failed reload
            // leaves the handle unusable, which the next call reports.
            if self.reload().is_err() {
                self.gone = true;
            }
        }
        result
    }

    fn propose_unchecked(&mut self, add: &[KeyPackageOffer], remove: &[String], update: bool) -> Result<Vec<Outgoing>> {
        let epoch = self.epoch();
        let mut messages = vec![];
        match &mut self.inner {
            Inner::Plain(g, kind) => {
                if update {
                    messages.push(g.propose_update()?);
                }
                for o in add {
                    if o.kind != *kind {
                        return Err(Error::WrongKind("a KeyPackage of another kind of group"));
                    }
                    let p = Proposal::Add(mlsx_base::codec::Add::new(o.t.clone()));
                    messages.push(g.propose(p, &[])?);
                }
                for n in remove {
                    let c = basic(n);
                    let removed = g.member_by_credential(&c).ok_or_else(|| Error::UnknownMember(n.clone()))?;
                    messages.push(g.propose(Proposal::Remove(mlsx_base::codec::Remove { removed }), &[])?);
                }
            }
            Inner::Hybrid(s) => {
                if !add.is_empty() || !remove.is_empty() {
                    return Err(Error::WrongKind("in a hybrid session, add and remove members by commit"));
                }
                if update {
                    messages.push(s.propose_update_pair()?);
                }
            }
        }
        let out = messages.iter().map(|m| self.to_others(epoch, m)).collect::<Result<Vec<_>>>()?;
        self.store_state(Batch::new())?;
        Ok(out)
    }

    /// Opens the group to external joins, or closes it
    /// ([`EXTERNAL_JOINS`]), by a GroupContextExtensions commit (in both
    /// groups of a hybrid session, by a FULL commit).
    pub fn set_external_joins(&mut self, open: bool) -> Result<Outgoing> {
        let with = |context: &mlsx_base::codec::GroupContext| {
            let mut extensions: Vec<_> = context
                .extensions
                .iter()
                .filter(|e| e.extension_type != EXTERNAL_JOINS)
                .cloned()
                .collect();
            if open {
                extensions.push(mlsx_base::codec::Extension::new(EXTERNAL_JOINS, vec![]));
            }
            Proposal::GroupContextExtensions(mlsx_base::codec::GroupContextExtensions { extensions })
        };
        let proposals = match &self.inner {
            Inner::Plain(g, _) => (vec![with(g.context())], vec![]),
            Inner::Hybrid(s) => (vec![with(s.t_group().context())], vec![with(s.pq_group().context())]),
        };
        self.commit(Change::Extensions(proposals.0, proposals.1))
    }

    /// Asks to leave an extended group with a SelfRemove proposal
    /// (draft-ietf-mls-extensions §6.3): the next commit of another member
    /// removes us ([`Event::RemovedSelf`] then).
    pub fn leave(&mut self) -> Result<Outgoing> {
        self.no_pending()?;
        let result = self.leave_unchecked();
        self.reload_on_error(result)
    }

    fn leave_unchecked(&mut self) -> Result<Outgoing> {
        let epoch = self.epoch();
        let Inner::Plain(g, GroupKind::Extended) = &mut self.inner else {
            return Err(Error::WrongKind("leaving by SelfRemove needs an extended group"));
        };
        let msg = self.client.ext.leave(g)?;
        let out = self.to_others(epoch, &msg)?;
        self.store_state(Batch::new())?;
        Ok(out)
    }

    /// Adds members from their KeyPackage offers (a FULL commit in a hybrid
    /// session).
    pub fn add(&mut self, offers: &[KeyPackageOffer]) -> Result<Outgoing> {
        self.commit(Change::Add(offers.to_vec()))
    }

    /// Removes members by name (a FULL commit in a hybrid session).
    pub fn remove(&mut self, names: &[String]) -> Result<Outgoing> {
        self.commit(Change::Remove(names.to_vec()))
    }

    /// An update commit with a fresh path: in a hybrid session FULL or
    /// PARTIAL as the policy says, or FULL if `full`.
    pub fn update(&mut self, full: bool) -> Result<Outgoing> {
        self.commit(Change::Update { full })
    }

    /// A commit with a PreSharedKey proposal for each of these external
    /// PSKs ([`Client::add_psk`]), each with a fresh nonce (RFC 9420 §8.4,
    /// §12.1.4): the new epoch's secrets depend on them, so only members
    /// that hold them can follow it (the others' processing fails and
    /// leaves their state as it was). In a hybrid session the PSKs enter
    /// the traditional group's key schedule, by a commit of the kind the
    /// policy picks.
    pub fn inject_psks(&mut self, psk_ids: &[Vec<u8>]) -> Result<Outgoing> {
        if psk_ids.is_empty() {
            return Err(Error::Config("name at least one PSK".into()));
        }
        let mut proposals = vec![];
        for id in psk_ids {
            if self.client.store.get(Table::Psk, id)?.is_none() {
                return Err(Error::UnknownPsk(show(id)));
            }
            let nonce = self
                .client
                .t_cs
                .random_vec(self.client.t_cs.hash_len())
                .map_err(mlsx_base::Error::from)?;
            proposals.push(Proposal::PreSharedKey(PreSharedKeyProposal {
                psk: PreSharedKeyId {
                    psk: Psk::External(ExternalPsk { psk_id: id.clone().into() }),
                    psk_nonce: nonce.into(),
                },
            }));
        }
        self.commit(Change::Psks(proposals))
    }

    /// A commit with these changes to the application's components
    /// (draft-ietf-mls-extensions §4.7, §4.8), in an extended group. Each
    /// change is judged by its component here, as every member's component
    /// will judge it: an update the component refuses is refused before
    /// anything is sent, with the error a receiver would report, and the
    /// group stays as it was.
    pub fn commit_app(&mut self, changes: &[AppChange]) -> Result<Outgoing> {
        self.extended_only("AppDataUpdate and AppEphemeral need an extended group")?;
        if changes.is_empty() {
            return Err(Error::Config("name at least one change".into()));
        }
        let ext = self.client.ext.clone();
        let mut proposals = vec![];
        for change in changes {
            let component = change.component();
            if ext.component(component).is_none() {
                return Err(Error::UnknownComponent(component));
            }
            proposals.push(match change {
                AppChange::Update { component, data } => ext.app_data_update(*component, data.clone())?,
                AppChange::Remove { component } => ext.app_data_remove(*component)?,
                AppChange::Ephemeral { component, data } => ext.app_ephemeral(*component, data.clone())?,
            });
        }
        self.commit(Change::App(proposals))
    }

    /// A commit with one AppDataUpdate (§4.7) for `component`: its
    /// [`Component::apply_updates`](mlsx_extensions::Component::apply_updates)
    /// computes the new entry from the current one and `update`.
    pub fn update_app_data(&mut self, component: mlsx_extensions::ComponentId, update: &[u8]) -> Result<Outgoing> {
        self.commit_app(&[AppChange::Update {
            component,
            data: update.to_vec(),
        }])
    }

    /// A commit with one AppEphemeral proposal (§4.8) carrying `data` for
    /// `component`; receivers see it as [`Event::AppEphemeral`].
    pub fn send_app_ephemeral(&mut self, component: mlsx_extensions::ComponentId, data: &[u8]) -> Result<Outgoing> {
        self.commit_app(&[AppChange::Ephemeral {
            component,
            data: data.to_vec(),
        }])
    }

    /// A component's entry in the group's app data dictionary (§4.6), if
    /// it has one.
    pub fn app_data(&self, component: mlsx_extensions::ComponentId) -> Result<Option<Vec<u8>>> {
        self.extended_only("the app data dictionary needs an extended group")?;
        let dictionary = self.client.ext.dictionary(self.inner.t().context())?;
        Ok(dictionary.get(component).map(<[u8]>::to_vec))
    }

    /// `SafeExportSecret` (§4.4) of the component holding `key`, in the
    /// current epoch: a secret of the hash's length that every member's
    /// component gets alike and no other component can get. Once per
    /// component and epoch: the secret is deleted from the group, and the
    /// deletion is stored before the secret is returned, so a restart
    /// cannot give it out twice.
    pub fn safe_export_secret(&mut self, key: &mlsx_extensions::ComponentKey) -> Result<Zeroizing<Vec<u8>>> {
        self.no_pending()?;
        // Only the key this client's components were issued: another
        // builder's key for the same id is not this component's.
        if !self.client.ext.issued(key) {
            return Err(Error::UnknownComponent(key.id()));
        }
        let Inner::Plain(g, GroupKind::Extended) = &mut self.inner else {
            return Err(Error::WrongKind("SafeExportSecret needs an extended group"));
        };
        // A failure after the slot was taken goes back to the stored
        // state, so nothing half-exported is stored later.
        let result = key
            .safe_export_secret(g)
            .map_err(Error::from)
            .map(|s| Zeroizing::new(s.as_bytes().to_vec()))
            .and_then(|secret| self.store_state(Batch::new()).map(|()| secret));
        self.reload_on_error(result)
    }

    /// `SafeSignWithLabel` (§4.3) of `content` under the component holding
    /// `key`, with our leaf's signature key; others check it against our
    /// leaf's key with
    /// [`safe_verify_with_label`](mlsx_extensions::safe_verify_with_label).
    pub fn safe_sign(&self, key: &mlsx_extensions::ComponentKey, label: &[u8], content: &[u8]) -> Result<Vec<u8>> {
        self.extended_only("safe signatures need an extended group")?;
        if !self.client.ext.issued(key) {
            return Err(Error::UnknownComponent(key.id()));
        }
        Ok(key.sign_in_group(self.inner.t(), label, content)?)
    }

    /// A commit with a PreSharedKey proposal for the application PSK
    /// `psk_id` of the component holding `key` (§4.5), with a fresh nonce:
    /// the new epoch's secrets depend on it, so only members whose
    /// component holds the same value
    /// ([`Component::psk`](mlsx_extensions::Component::psk)) can follow.
    /// Refused here, before sending, if our own component does not hold
    /// it.
    pub fn inject_app_psk(&mut self, key: &mlsx_extensions::ComponentKey, psk_id: &[u8]) -> Result<Outgoing> {
        self.extended_only("application PSKs need an extended group")?;
        if !self.client.ext.issued(key) {
            return Err(Error::UnknownComponent(key.id()));
        }
        let component = self.client.ext.component(key.id()).ok_or(Error::UnknownComponent(key.id()))?;
        if component.psk(psk_id).is_none() {
            return Err(Error::UnknownPsk(show(psk_id)));
        }
        let proposal = self
            .client
            .ext
            .application_psk(self.client.t_cs.as_ref(), key.id(), psk_id.to_vec())?;
        self.commit(Change::Psks(vec![proposal]))
    }

    fn extended_only(&self, what: &'static str) -> Result<()> {
        if self.gone {
            return Err(Error::UnknownGroup(show(&self.id)));
        }
        match self.inner.kind() {
            GroupKind::Extended => Ok(()),
            _ => Err(Error::WrongKind(what)),
        }
    }

    fn commit(&mut self, change: Change) -> Result<Outgoing> {
        self.no_pending()?;
        let result = self.commit_unchecked(change);
        self.reload_on_error(result)
    }

    fn commit_unchecked(&mut self, change: Change) -> Result<Outgoing> {
        let before_state = self.inner.save()?;
        let before = self.inner.roster();
        let epoch = self.epoch();
        let mut added = vec![];
        let (message, welcome) = match (&mut self.inner, change) {
            (Inner::Plain(g, kind), change) => {
                let options = match change {
                    Change::Add(offers) => {
                        let mut kps = vec![];
                        for o in offers {
                            if o.kind != *kind {
                                return Err(Error::WrongKind("a KeyPackage of another kind of group"));
                            }
                            added.push(o.owner.clone());
                            kps.push(o.t);
                        }
                        if *kind == GroupKind::Extended {
                            // §6.2 SHOULD NOT: not adding whoever cannot
                            // read the group's media types.
                            self.client.ext.check_media_type_support(g, &kps, &[])?;
                        }
                        CommitOptions::add(kps)
                    }
                    Change::Remove(names) => {
                        let mut leaves = vec![];
                        for n in names {
                            let c = basic(&n);
                            leaves.push(g.member_by_credential(&c).ok_or(Error::UnknownMember(n))?);
                        }
                        CommitOptions::remove(leaves)
                    }
                    Change::Update { .. } => CommitOptions::default(),
                    Change::Psks(proposals) | Change::Extensions(proposals, _) | Change::App(proposals) => CommitOptions {
                        proposals,
                        ..CommitOptions::default()
                    },
                };
                let out = g.commit(options)?;
                g.merge_pending_commit()?;
                (out.commit, out.welcome)
            }
            (Inner::Hybrid(s), change) => {
                let out = match change {
                    Change::Add(offers) => {
                        let mut pairs = vec![];
                        for o in offers {
                            let (GroupKind::Hybrid, Some(pq)) = (o.kind, o.pq) else {
                                return Err(Error::WrongKind("a plain KeyPackage for a hybrid session"));
                            };
                            added.push(o.owner.clone());
                            pairs.push(ApqKeyPackages { t: o.t, pq });
                        }
                        s.add(pairs)
                    }
                    Change::Remove(names) => {
                        let creds = names
                            .into_iter()
                            .map(|n| {
                                let c = basic(&n);
                                s.t_leaf_of(&c).map(|_| c).ok_or(Error::UnknownMember(n))
                            })
                            .collect::<Result<Vec<_>>>()?;
                        s.remove(&creds)
                    }
                    Change::Update { full: true } => s.full_commit(vec![], vec![]),
                    Change::Update { full: false } => s.commit(vec![]),
                    Change::Psks(proposals) => s.commit(proposals),
                    Change::Extensions(t, pq) => s.full_commit(t, pq),
                    Change::App(_) => return Err(Error::WrongKind("AppDataUpdate and AppEphemeral need an extended group")),
                };
                let out = match out {
                    Ok(o) => o,
                    Err(e) => {
                        s.discard();
                        return Err(e.into());
                    }
                };
                s.confirm()?;
                (out.message, out.welcome)
            }
        };
        let me = self.client.config.name.clone();
        let after = self.inner.roster();
        // The new members, whether named here or added by others'
        // proposals this commit takes by reference.
        let mut joined: Vec<String> = after.difference(&before).cloned().collect();
        joined.sort_by_key(|n| added.iter().position(|a| a == n).unwrap_or(usize::MAX));
        let outgoing = Outgoing {
            group: self.id.clone(),
            epoch,
            kind: OutgoingKind::Commit,
            message: encode(&message)?,
            recipients: before.union(&after).filter(|n| **n != me && !joined.contains(n)).cloned().collect(),
            welcome: welcome.map(|w| encode(&w)).transpose()?,
            welcome_to: joined,
            removed: before.difference(&after).filter(|n| **n != me).cloned().collect(),
        };
        let record = GroupRecord {
            kind: self.inner.kind(),
            suites: self.client.current,
            state: before_state.to_vec(),
            pending: Some(PendingRecord {
                next_state: self.inner.save()?.to_vec(),
                outgoing: outgoing.clone(),
            }),
        };
        let mut batch = Batch::new();
        batch.put(Table::Group, self.id.clone(), record.to_bytes()?.to_vec());
        if let Err(e) = self.client.store.apply(batch) {
            // Not stored: back to the state before, in memory too.
            self.inner = self.client.load_inner(self.inner.kind(), &before_state)?;
            return Err(e);
        }
        self.pending = Some(outgoing.clone());
        Ok(outgoing)
    }

    /// The delivery service took our pending commit: the new epoch is
    /// final (the state before it is deleted from the store).
    pub fn accepted(&mut self) -> Result<Vec<Event>> {
        let Some(out) = self.pending.clone() else {
            return Err(Error::Mls(mlsx_base::MisuseError::NothingToMerge.into()));
        };
        self.store_state(Batch::new())?;
        self.pending = None;
        let mut events = vec![Event::EpochChanged {
            epoch: self.epoch(),
            kind: self.kind_label(&out),
        }];
        events.extend(out.welcome_to.iter().map(|n| Event::MemberAdded { name: n.clone() }));
        Ok(events)
    }

    fn kind_label(&self, out: &Outgoing) -> String {
        match &self.inner {
            Inner::Plain(..) => "commit".into(),
            Inner::Hybrid(_) => {
                let pair = decode::<MlsMessage>(&out.message).is_ok_and(|m| matches!(m.body, MlsMessageBody::Custom(_)));
                if pair { "FULL".into() } else { "PARTIAL".into() }
            }
        }
    }

    /// The delivery service refused our pending commit (another won the
    /// epoch): back to the state before it; for an external join, out of
    /// the group (the record is deleted; join again from a newer GroupInfo).
    pub fn refused(mut self) -> Result<()> {
        if self.pending.take().is_none() {
            return Err(Error::Mls(mlsx_base::MisuseError::NothingToMerge.into()));
        }
        let bytes = self
            .client
            .store
            .get(Table::Group, &self.id)?
            .ok_or_else(|| Error::UnknownGroup(show(&self.id)))?;
        if GroupRecord::from_bytes(&bytes)?.state.is_empty() {
            let mut batch = Batch::new();
            batch.delete(Table::Group, self.id.clone());
            self.client.forget_label(&self.id, &mut batch)?;
            return self.client.store.apply(batch);
        }
        self.reload()?;
        self.store_state(Batch::new())
    }

    /// The epoch and signed GroupInfo (with the ratchet tree) of the
    /// state a pending commit starts from, or of the current epoch without
    /// one: what introduces the group to a delivery service that follows
    /// groups, before the commit that founds it.
    pub fn base_group_info(&self) -> Result<(u64, Vec<u8>)> {
        if self.pending.is_none() {
            return Ok((self.epoch(), self.group_info()?));
        }
        let bytes = self
            .client
            .store
            .get(Table::Group, &self.id)?
            .ok_or_else(|| Error::UnknownGroup(show(&self.id)))?;
        let record = GroupRecord::from_bytes(&bytes)?;
        if record.state.is_empty() {
            return Err(Error::Config("an external join has no state before its commit".into()));
        }
        let before = self.client.load_inner(record.kind, &record.state)?;
        Ok((before.t().epoch(), before.group_info()?))
    }

    /// The signed GroupInfo of the current epoch (a pair of them for a
    /// hybrid session), for external joiners, with the ratchet tree and
    /// the external public key.
    pub fn group_info(&self) -> Result<Vec<u8>> {
        self.inner.group_info()
    }

    /// Processes a message from the group and stores the result, with
    /// `batch`'s other changes (a delivery-queue position, say), in one
    /// transaction. A message that fails leaves the store unchanged.
    pub fn process_with(&mut self, message: &[u8], batch: Batch) -> Result<Vec<Event>> {
        self.process_recording(message, batch, &mut |_, _| Ok(()))
    }

    /// [`Self::process_with`], where `record` adds to the batch, from the
    /// message's events, what must be written with them (an inbox entry
    /// that keeps them until they are shown, say).
    pub fn process_recording(&mut self, message: &[u8], batch: Batch, record: &mut Recorder<'_>) -> Result<Vec<Event>> {
        self.no_pending()?;
        // Whatever moved in memory before a failure (a ratchet step before
        // the content was refused, say) goes back to what the store holds;
        // the message's error is the one reported.
        let result = self
            .process_unchecked(message, batch, record)
            .map_err(|e| self.name_epoch(e, message));
        self.reload_on_error(result)
    }

    /// An engine's wrong-epoch error as [`Error::WrongEpoch`]: with the
    /// group it is about (the T or the PQ group of a hybrid session) and
    /// the epoch [`Self::epoch`] shows.
    fn name_epoch(&self, e: Error, message: &[u8]) -> Error {
        let wrong = |b: &mlsx_base::Error| match b {
            mlsx_base::Error::Peer(mlsx_base::PeerError::WrongEpoch { message, group }) => Some((*message, *group)),
            _ => None,
        };
        let found = match &e {
            Error::Mls(b) | Error::Combiner(mlsx_combiner::Error::Base(b)) => wrong(b),
            _ => None,
        };
        let Some((message_epoch, current)) = found else {
            return e;
        };
        let visible = self.epoch();
        let group = match &self.inner {
            Inner::Plain(..) => "MLS",
            Inner::Hybrid(s) => {
                let (t, pq) = decode::<MlsMessage>(message).map(|m| Self::headers(&m)).unwrap_or((None, None));
                let t_epoch = s.t_group().epoch();
                let pq_epoch = s.pq_group().epoch();
                // The group whose current epoch the error names and whose
                // message has the epoch it names; when both fit, the
                // numbers are the same for either.
                let is_t = current == t_epoch && t.is_none_or(|(_, e)| e == message_epoch);
                let is_pq = current == pq_epoch && pq.is_some_and(|(_, e)| e == message_epoch);
                if is_pq && !is_t { "PQ" } else { "T" }
            }
        };
        Error::WrongEpoch {
            group,
            message: message_epoch,
            current,
            visible,
        }
    }

    fn reload(&mut self) -> Result<()> {
        let bytes = self
            .client
            .store
            .get(Table::Group, &self.id)?
            .ok_or_else(|| Error::UnknownGroup(show(&self.id)))?;
        let record = GroupRecord::from_bytes(&bytes)?;
        self.inner = self.client.load_inner(record.kind, &record.state)?;
        Ok(())
    }

    /// Refuses a message for another group ([`Error::WrongGroup`], with
    /// both ids) before anything is processed.
    fn check_addressed(&self, msg: &MlsMessage) -> Result<()> {
        let (t, pq) = Self::headers(msg);
        let mut expected = vec![(t, self.id.clone())];
        if let Inner::Hybrid(s) = &self.inner {
            let pq_id = s.pq_group().context().group_id.as_slice().to_vec();
            // A lone message of the PQ group is the combiner's to refuse
            // (it names its group rightly, but not alone).
            if pq.is_none() && expected[0].0.as_ref().is_some_and(|(id, _)| *id == pq_id) {
                return Ok(());
            }
            expected.push((pq, pq_id));
        }
        for (header, ours) in expected {
            if let Some((id, _)) = header
                && id != ours
            {
                return Err(Error::WrongGroup {
                    found: show(&id),
                    expected: show(&ours),
                });
            }
        }
        Ok(())
    }

    /// The (group id, epoch) a message names in clear: of the message, or
    /// of the T and PQ messages of a hybrid pair.
    fn headers(msg: &MlsMessage) -> (Option<Header>, Option<Header>) {
        fn header(msg: &MlsMessage) -> Option<Header> {
            match &msg.body {
                MlsMessageBody::PublicMessage(p) => Some((p.content.group_id.as_slice().to_vec(), p.content.epoch)),
                MlsMessageBody::PrivateMessage(p) => Some((p.group_id.as_slice().to_vec(), p.epoch)),
                _ => None,
            }
        }
        match &msg.body {
            // A pair that does not decode is refused when processed.
            MlsMessageBody::Custom(c) if c.wire_format == mlsx_combiner::APQ_MESSAGE_PAIR => {
                match decode::<mlsx_combiner::ApqMessagePair>(c.body.as_slice()) {
                    Ok(pair) => (header(&pair.t_message), header(&pair.pq_message)),
                    Err(_) => (None, None),
                }
            }
            _ => (header(msg), None),
        }
    }

    fn process_unchecked(&mut self, message: &[u8], mut batch: Batch, record: &mut Recorder<'_>) -> Result<Vec<Event>> {
        let accepted: &[u16] = match self.inner {
            Inner::Plain(..) => &[WIRE_PUBLIC, WIRE_PRIVATE],
            Inner::Hybrid(_) => &[WIRE_PUBLIC, WIRE_PRIVATE, mlsx_combiner::APQ_MESSAGE_PAIR.0],
        };
        let msg = crate::input::message(message, "message", accepted)?;
        self.check_addressed(&msg)?;
        let t = self.inner.t();
        if !external_join_allowed(&msg, t.context(), t.tree()) {
            return Err(Error::ExternalJoinsClosed);
        }
        let before = self.inner.roster();
        let mut events = vec![];
        let mut removed = false;
        // The epoch a commit leaves (of the T group in a hybrid session).
        let left = self.inner.t().epoch();
        match &mut self.inner {
            Inner::Plain(g, kind) => match g.process_message(&msg)? {
                Received::Application {
                    sender_credential,
                    data,
                    authenticated_data,
                    ..
                } => {
                    let (media_type, data) = match self.client.ext.required_media_types(g.context())? {
                        Some(_) if *kind == GroupKind::Extended => {
                            let (t, content) = self.client.ext.unframe_content(g.context(), &data)?;
                            (Some(t.to_text()), content)
                        }
                        _ => (None, data),
                    };
                    events.push(Event::Message {
                        sender: name_of(&sender_credential),
                        data,
                        media_type,
                        safe_aad: if *kind == GroupKind::Extended {
                            mlsx_extensions::SafeAad::parse(&authenticated_data)?
                                .aad_items
                                .into_iter()
                                .map(|i| (i.component_id, i.aad_item_data.as_slice().to_vec()))
                                .collect()
                        } else {
                            vec![]
                        },
                    })
                }
                Received::Proposal(_) => events.push(Event::Proposal),
                Received::Commit(staged) => {
                    removed = staged.removes_self();
                    let mut app_events = vec![];
                    if *kind == GroupKind::Extended {
                        for (sender, e) in self.client.ext.app_ephemeral_with_senders(&staged)? {
                            app_events.push(Event::AppEphemeral {
                                component: e.component_id,
                                sender: sender_name(g, sender),
                                data: e.data.as_slice().to_vec(),
                            });
                        }
                    }
                    let dictionary_before = (*kind == GroupKind::Extended)
                        .then(|| self.client.ext.dictionary(g.context()))
                        .transpose()?;
                    g.merge_staged_commit(staged)?;
                    events.push(Event::EpochChanged {
                        // A member the commit removes does not enter the
                        // new epoch, but the commit made it all the same.
                        epoch: g.epoch().max(left.saturating_add(1)),
                        kind: "commit".into(),
                    });
                    if let Some(before) = dictionary_before {
                        let after = self.client.ext.dictionary(g.context())?;
                        events.extend(changed_components(&before, &after).map(|component| Event::AppDataChanged { component }));
                    }
                    events.extend(app_events);
                }
                Received::Envelope { .. } => return Err(Error::WrongInput("a message of a wire format this group does not use")),
            },
            Inner::Hybrid(s) => match s.process(&msg)? {
                ApqReceived::Application { sender, data } => events.push(Event::Message {
                    sender: name_of(&sender),
                    data,
                    safe_aad: vec![],
                    media_type: None,
                }),
                ApqReceived::Proposal => events.push(Event::Proposal),
                ApqReceived::Full { removed_self } => {
                    removed = removed_self;
                    events.push(Event::EpochChanged {
                        // As for a plain group: the epoch the commit made.
                        epoch: s.t_group().epoch().max(left.saturating_add(1)),
                        kind: "FULL".into(),
                    });
                }
                ApqReceived::Partial => events.push(Event::EpochChanged {
                    epoch: s.t_group().epoch(),
                    kind: "PARTIAL".into(),
                }),
                _ => return Err(Error::WrongInput("a message this version does not know how to report")),
            },
        }
        if removed {
            events.push(Event::RemovedSelf);
            record(&events, &mut batch)?;
            batch.delete(Table::Group, self.id.clone());
            self.client.forget_label(&self.id, &mut batch)?;
            self.client.store.apply(batch)?;
            self.gone = true;
            return Ok(events);
        }
        let after = self.inner.roster();
        // A name in two leaves (two users under one name, or a second leaf
        // of one): refused, as the delivery service refuses it; nothing is
        // stored, `process_recording` goes back to what the store holds.
        if after.len() != self.inner.t().members().count() {
            return Err(Error::DuplicateName);
        }
        events.extend(after.difference(&before).map(|n| Event::MemberAdded { name: n.clone() }));
        events.extend(before.difference(&after).map(|n| Event::MemberRemoved { name: n.clone() }));
        record(&events, &mut batch)?;
        // Not stored: `process_recording` goes back to what the store holds.
        self.store_state(batch)?;
        Ok(events)
    }

    /// [`Self::process_with`] with nothing else to write.
    pub fn process(&mut self, message: &[u8]) -> Result<Vec<Event>> {
        self.process_with(message, Batch::new())
    }
}

impl Client {
    /// The pending commit of a stored group, if any, without loading the
    /// group.
    pub fn pending_commit(&self, group_id: &[u8]) -> Result<Option<Outgoing>> {
        let Some(bytes) = self.store.get(Table::Group, group_id)? else {
            return Ok(None);
        };
        Ok(GroupRecord::from_bytes(&bytes)?.pending.as_ref().map(|p| p.outgoing.clone()))
    }
}

enum Change {
    Add(Vec<KeyPackageOffer>),
    Remove(Vec<String>),
    Update {
        full: bool,
    },
    Psks(Vec<Proposal>),
    /// GroupContextExtensions: for the T (or only) group, and the PQ group.
    Extensions(Vec<Proposal>, Vec<Proposal>),
    /// AppDataUpdate and AppEphemeral proposals (extended groups).
    App(Vec<Proposal>),
}

/// A change to a component's data, committed with [`Group::commit_app`]
/// (draft-ietf-mls-extensions §4.7, §4.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppChange {
    /// An AppDataUpdate `update` of the component's dictionary entry.
    Update {
        /// The component.
        component: mlsx_extensions::ComponentId,
        /// The update, interpreted by the component.
        data: Vec<u8>,
    },
    /// An AppDataUpdate `remove` of the component's dictionary entry.
    Remove {
        /// The component.
        component: mlsx_extensions::ComponentId,
    },
    /// An AppEphemeral proposal: data for this commit only.
    Ephemeral {
        /// The component.
        component: mlsx_extensions::ComponentId,
        /// The data.
        data: Vec<u8>,
    },
}

impl AppChange {
    /// The component the change is for.
    pub fn component(&self) -> mlsx_extensions::ComponentId {
        match self {
            AppChange::Update { component, .. } | AppChange::Remove { component } | AppChange::Ephemeral { component, .. } => *component,
        }
    }
}

/// A message's group id and epoch, as its header names them.
type Header = (Vec<u8>, u64);

// RFC 9420 §6 wire formats.
const WIRE_PUBLIC: u16 = 1;
const WIRE_PRIVATE: u16 = 2;
const WIRE_WELCOME: u16 = 3;
const WIRE_GROUP_INFO: u16 = 4;
const WIRE_KEY_PACKAGE: u16 = 5;

/// The name of a sender of a proposal in `group`, before its commit is
/// merged: a member's name, or how an external party is described.
fn sender_name(group: &mlsx_base::group::Group, sender: mlsx_base::codec::Sender) -> String {
    match sender {
        mlsx_base::codec::Sender::Member(leaf) => group
            .tree()
            .leaf(leaf)
            .map_or_else(|| format!("leaf {}", leaf.0), |l| name_of(&l.credential)),
        mlsx_base::codec::Sender::External(i) => format!("external sender {i}"),
        mlsx_base::codec::Sender::NewMemberCommit | mlsx_base::codec::Sender::NewMemberProposal => "a new member".into(),
    }
}

/// The components whose dictionary entries differ between two
/// dictionaries.
fn changed_components<'a>(
    before: &'a mlsx_extensions::AppDataDictionary,
    after: &'a mlsx_extensions::AppDataDictionary,
) -> impl Iterator<Item = u16> + 'a {
    let ids: BTreeSet<u16> = before.ids().chain(after.ids()).collect();
    ids.into_iter().filter(move |id| before.get(*id) != after.get(*id))
}

/// A snapshot of the client's external PSKs, consulted by its groups when
/// a commit or Welcome names a PSK the group does not hold itself (RFC 9420
/// §8.4). `Debug` shows how many, never the secrets.
struct StoredPsks(BTreeMap<Vec<u8>, Secret>);

impl std::fmt::Debug for StoredPsks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredPsks").field("count", &self.0.len()).finish()
    }
}

impl PskStore for StoredPsks {
    fn psk(&self, id: &Psk) -> Option<Secret> {
        match id {
            Psk::External(e) => self.0.get(e.psk_id.as_slice()).map(Secret::duplicate),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_their_version() {
        let record = IdentityRecord {
            public: vec![1, 2],
            private: vec![3; 32],
        };
        let bytes = seal_record(&record, "identity").map(|b| b.to_vec()).unwrap_or_default();
        assert_eq!(bytes.first(), Some(&RECORD_VERSION));
        assert_eq!(bytes.len(), bytes.capacity(), "written in place, never grown");
        let back: Result<IdentityRecord> = open_record(&bytes, "identity");
        assert!(back.is_ok_and(|r| r.private == vec![3; 32]));
        let mut newer = bytes.clone();
        newer[0] = RECORD_VERSION + 1;
        assert!(matches!(
            open_record::<IdentityRecord>(&newer, "identity"),
            Err(Error::SchemaTooNew { .. })
        ));
        assert!(matches!(open_record::<IdentityRecord>(&[], "identity"), Err(Error::Corrupt(_))));
        assert!(matches!(
            open_record::<IdentityRecord>(&bytes[..bytes.len() - 1], "identity"),
            Err(Error::Corrupt(_))
        ));
    }
}
