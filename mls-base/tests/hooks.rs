//! The extension hooks of `mlsx_base::group::hooks`, each exercised end to
//! end by a small test extension defined here:
//!
//! - `TagSet` (0xf0a0): a proposal that edits a GroupContext extension
//!   (`Tags`, 0xf0b0) that GroupContextExtensions may not touch; external
//!   senders allowed; a body of its own syntax (registered parser);
//! - `Leave` (0xf0a1): an empty proposal, by reference only, PublicMessage
//!   only, path required, that removes its sender (applied between Updates
//!   and Removes);
//! - `Note` (0xf0a2): an opaque proposal whose data is recorded on the
//!   staged commit (applied before `TagSet`);
//! - `Short` (0xf0b1): a LeafNode-only extension of at most 4 bytes;
//! - a framing handler that versions `authenticated_data` and tags
//!   `application_data`;
//! - a PSK store holding an application PSK (`psktype` 3);
//! - two wire formats: `Sealed` (0xf0d0), a note HPKE-encrypted to one
//!   member's leaf key and signed with the sender's leaf key, and `Bundle`
//!   (0xf0d1), an envelope carrying two MLSMessages;
//! - a credential type (0xf0e0) with its own validator;
//! - extra epoch secrets read from a staged commit and after a Welcome join.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Once};

use mlsx_base::codec::syntax::{BodySyntax, register_proposal_syntax};
use mlsx_base::codec::{
    ApplicationPsk, CipherSuite, Credential, CredentialType, CustomBody, CustomProposal, Extension, ExtensionType, ExternalSender,
    FramedContent, FramedContentBody, GroupContext, GroupContextExtensions, HpkeCiphertext, MlsMessage, MlsMessageBody, PreSharedKeyId,
    PreSharedKeyProposal, Proposal, ProposalType, Psk, Sender, VLBytes, WireFormat, decode, encode, find_extension,
};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, LabeledCrypto, Secret};
use mlsx_base::group::hooks::{
    Envelope, ExtensionContext, ExtensionHandler, FramingHandler, ProposalFlags, ProposalHandler, ProposalItem, ProposalStage,
    ProposalState, PskStore, WireFormatHandler,
};
use mlsx_base::group::{
    BasicCredentialValidator, CommitOptions, CredentialValidator, CredentialValidators, Group, GroupConfig, Hooks, Identity, PublicGroup,
    Received,
};
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{Error, PeerError, ProposalListError};
use tls_codec::{DeserializeBytes, TlsDeserializeBytes, TlsSerialize, TlsSize};

const TAG_SET: ProposalType = ProposalType(0xf0a0);
const LEAVE: ProposalType = ProposalType(0xf0a1);
const NOTE: ProposalType = ProposalType(0xf0a2);
const TAGS: ExtensionType = ExtensionType(0xf0b0);
const SHORT: ExtensionType = ExtensionType(0xf0b1);
const SEALED: WireFormat = WireFormat(0xf0d0);
const BUNDLE: WireFormat = WireFormat(0xf0d1);
const TOKEN: CredentialType = CredentialType(0xf0e0);

fn rejected(reason: &str) -> Error {
    PeerError::ProposalRejected {
        proposal_type: TAG_SET.0,
        reason: reason.into(),
    }
    .into()
}

// ---------------------------------------------------------------- TagSet

/// `struct { uint16 key; opaque value<V>; }` (not `opaque<V>` as a whole).
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
struct TagEntry {
    key: u16,
    value: VLBytes,
}

fn tag_entry_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = TagEntry::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

fn register_syntax() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_proposal_syntax(TAG_SET, BodySyntax::Parser(tag_entry_len));
        register_proposal_syntax(LEAVE, BodySyntax::Empty);
    });
}

fn tags_of(extensions: &[Extension]) -> Vec<TagEntry> {
    find_extension(extensions, TAGS).map_or_else(Vec::new, |e| decode(e.extension_data.as_slice()).unwrap())
}

#[derive(Debug)]
struct TagSetHandler;

impl ProposalHandler for TagSetHandler {
    fn proposal_type(&self) -> ProposalType {
        TAG_SET
    }
    fn flags(&self) -> ProposalFlags {
        ProposalFlags {
            external_senders: true,
            in_external_commit: true,
            ..ProposalFlags::default()
        }
    }
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterDefault(1)
    }
    fn validate(&self, _: &PublicGroup, _: &Sender, body: &[u8]) -> Result<(), Error> {
        let e: TagEntry = decode(body)?;
        if e.key == 0 { Err(rejected("key 0 is reserved")) } else { Ok(()) }
    }
    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), Error> {
        let mut tags = tags_of(state.extensions());
        for item in items {
            let e: TagEntry = decode(item.body)?;
            tags.retain(|t| t.key != e.key);
            tags.push(e);
        }
        tags.sort_by_key(|t| t.key);
        state.record(format!("tags={}", tags.len()).into_bytes());
        state.set_extension(Extension::new(TAGS, encode(&tags)?));
        Ok(())
    }
}

/// The `Tags` GroupContext extension: sorted keys; only `TagSet` may change it.
#[derive(Debug)]
struct TagsExtension;

impl ExtensionHandler for TagsExtension {
    fn extension_type(&self) -> ExtensionType {
        TAGS
    }
    fn allowed_in(&self, context: ExtensionContext) -> bool {
        context == ExtensionContext::GroupContext
    }
    fn validate(&self, _: ExtensionContext, data: &[u8]) -> Result<(), Error> {
        let tags: Vec<TagEntry> = decode(data)?;
        if tags.windows(2).all(|w| w[0].key < w[1].key) {
            Ok(())
        } else {
            Err(PeerError::ExtensionRejected {
                extension_type: TAGS.0,
                reason: "unsorted".into(),
            }
            .into())
        }
    }
    fn validate_change(&self, _: Option<&[u8]>, _: Option<&[u8]>, cause: ProposalType, _: &PublicGroup) -> Result<(), Error> {
        if cause == TAG_SET {
            Ok(())
        } else {
            Err(PeerError::ExtensionRejected {
                extension_type: TAGS.0,
                reason: "only TagSet may change tags".into(),
            }
            .into())
        }
    }
}

// ---------------------------------------------------------------- Leave

#[derive(Debug)]
struct LeaveHandler;

impl ProposalHandler for LeaveHandler {
    fn proposal_type(&self) -> ProposalType {
        LEAVE
    }
    fn flags(&self) -> ProposalFlags {
        ProposalFlags {
            requires_path: true,
            by_reference_only: true,
            public_message_only: true,
            by_reference_in_external_commit: true,
            ..ProposalFlags::default()
        }
    }
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterUpdates
    }
    fn validate(&self, _: &PublicGroup, sender: &Sender, body: &[u8]) -> Result<(), Error> {
        match (sender, body.is_empty()) {
            (Sender::Member(_), true) => Ok(()),
            _ => Err(PeerError::InvalidSender.into()),
        }
    }
    /// One Leave per member and epoch.
    fn check_pending(&self, group: &PublicGroup, sender: &Sender, _: &[u8]) -> Result<(), Error> {
        let twice = group
            .pending_proposals()
            .iter()
            .any(|p| p.sender == *sender && matches!(&p.proposal, Proposal::Custom(c) if c.proposal_type == LEAVE));
        if twice { Err(rejected("second leave")) } else { Ok(()) }
    }
    fn removed_leaf(&self, sender: &Sender, _: &[u8]) -> Option<LeafIndex> {
        match sender {
            Sender::Member(l) => Some(*l),
            _ => None,
        }
    }
    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), Error> {
        for item in items {
            if let Sender::Member(l) = item.sender {
                state.remove_member(l);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- Note

#[derive(Debug)]
struct NoteHandler;

impl ProposalHandler for NoteHandler {
    fn proposal_type(&self) -> ProposalType {
        NOTE
    }
    fn flags(&self) -> ProposalFlags {
        ProposalFlags::default()
    }
    fn stage(&self) -> ProposalStage {
        ProposalStage::AfterDefault(0)
    }
    fn validate(&self, _: &PublicGroup, _: &Sender, body: &[u8]) -> Result<(), Error> {
        decode::<VLBytes>(body).map(|_| ())
    }
    fn apply(&self, state: &mut ProposalState<'_>, items: &[ProposalItem<'_>]) -> Result<(), Error> {
        for item in items {
            state.record(decode::<VLBytes>(item.body)?.as_slice().to_vec());
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- Short

#[derive(Debug)]
struct ShortExtension;

impl ExtensionHandler for ShortExtension {
    fn extension_type(&self) -> ExtensionType {
        SHORT
    }
    fn allowed_in(&self, context: ExtensionContext) -> bool {
        context == ExtensionContext::LeafNode
    }
    fn validate(&self, _: ExtensionContext, data: &[u8]) -> Result<(), Error> {
        if data.len() <= 4 {
            Ok(())
        } else {
            Err(PeerError::ExtensionRejected {
                extension_type: SHORT.0,
                reason: "too long".into(),
            }
            .into())
        }
    }
}

// ---------------------------------------------------------------- framing

#[derive(Debug)]
struct Versioned;

impl FramingHandler for Versioned {
    fn frame_authenticated_data(&self, _: &GroupContext, aad: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok([b"v1:".as_slice(), &aad].concat())
    }
    fn check_authenticated_data(&self, _: &GroupContext, aad: &[u8]) -> Result<(), Error> {
        if aad.starts_with(b"v1:") {
            Ok(())
        } else {
            Err(PeerError::AuthenticatedDataRejected("no version".into()).into())
        }
    }
    fn frame_application_data(&self, _: &GroupContext, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok([[0x01].as_slice(), &data].concat())
    }
    fn check_application_data(&self, _: &GroupContext, data: &[u8]) -> Result<(), Error> {
        if data.first() == Some(&0x01) {
            Ok(())
        } else {
            Err(PeerError::ApplicationDataRejected("unknown content tag".into()).into())
        }
    }
}

// ---------------------------------------------------------------- PSKs

#[derive(Debug, Default)]
struct MapStore(BTreeMap<Vec<u8>, Secret>);

impl PskStore for MapStore {
    fn psk(&self, id: &Psk) -> Option<Secret> {
        self.0.get(&encode(id).ok()?).map(Secret::duplicate)
    }
}

fn app_psk() -> Psk {
    Psk::Application(ApplicationPsk {
        component_id: 0x8001,
        psk_id: VLBytes::new(b"room key".to_vec()),
    })
}

fn store_with_app_psk() -> Arc<MapStore> {
    let mut m = MapStore::default();
    m.0.insert(encode(&app_psk()).unwrap(), Secret::new(vec![7; 32]));
    Arc::new(m)
}

// ---------------------------------------------------------------- wire formats

/// The body of a `Sealed` message.
#[derive(Clone, Debug, PartialEq, Eq, TlsSerialize, TlsDeserializeBytes, TlsSize)]
struct SealedBody {
    sender: u32,
    recipient: u32,
    ciphertext: HpkeCiphertext,
    signature: VLBytes,
}

fn sealed_tbs(group: &Group, b: &SealedBody) -> Vec<u8> {
    let mut tbs = encode(&group.context().group_id).unwrap();
    tbs.extend_from_slice(&b.sender.to_be_bytes());
    tbs.extend_from_slice(&b.recipient.to_be_bytes());
    tbs.extend_from_slice(&encode(&b.ciphertext).unwrap());
    tbs
}

/// Sends a note to one member, encrypted to its leaf key and signed with ours.
fn seal_note(group: &Group, to: LeafIndex, text: &[u8]) -> MlsMessage {
    let cs = group.cipher_suite_provider();
    let pk = group.tree().leaf(to).unwrap().encryption_key.as_slice().to_vec();
    let ciphertext = cs
        .encrypt_with_label(&pk, b"SealedNote", group.context().group_id.as_slice(), text)
        .unwrap();
    let mut body = SealedBody {
        sender: group.own_leaf().0,
        recipient: to.0,
        ciphertext,
        signature: VLBytes::default(),
    };
    body.signature = cs
        .sign_with_label(&group.identity().signer, b"SealedNoteTBS", &sealed_tbs(group, &body))
        .unwrap()
        .into();
    MlsMessage::new(MlsMessageBody::Custom(CustomBody {
        wire_format: SEALED,
        body: encode(&body).unwrap(),
    }))
}

#[derive(Debug)]
struct SealedHandler;

impl WireFormatHandler for SealedHandler {
    fn wire_format(&self) -> WireFormat {
        SEALED
    }
    fn process(&self, group: &Group, body: &[u8]) -> Result<Envelope, Error> {
        let reject = |reason: &str| -> Error {
            PeerError::WireFormatRejected {
                wire_format: SEALED.0,
                reason: reason.into(),
            }
            .into()
        };
        let b: SealedBody = decode(body)?;
        if b.recipient != group.own_leaf().0 {
            return Err(reject("not for us"));
        }
        let cs = group.cipher_suite_provider();
        let sender = group.tree().leaf(LeafIndex(b.sender)).ok_or_else(|| reject("unknown sender"))?;
        cs.verify_with_label(
            sender.signature_key.as_slice(),
            b"SealedNoteTBS",
            &sealed_tbs(group, &b),
            b.signature.as_slice(),
        )
        .map_err(|_| reject("signature"))?;
        let sk = group.own_leaf_private_key().ok_or_else(|| reject("no leaf key"))?;
        let pt = cs.decrypt_with_label(sk, b"SealedNote", group.context().group_id.as_slice(), &b.ciphertext)?;
        Ok(Envelope {
            sender: Some(LeafIndex(b.sender)),
            data: pt.as_bytes().to_vec(),
            inner: vec![],
            ..Envelope::default()
        })
    }
}

#[derive(Debug)]
struct BundleHandler;

impl WireFormatHandler for BundleHandler {
    fn wire_format(&self) -> WireFormat {
        BUNDLE
    }
    fn process(&self, _: &Group, body: &[u8]) -> Result<Envelope, Error> {
        let (first, rest) = MlsMessage::tls_deserialize_bytes(body)?;
        let second: MlsMessage = decode(rest)?;
        Ok(Envelope {
            inner: vec![first, second],
            ..Envelope::default()
        })
    }
}

// ---------------------------------------------------------------- credentials

#[derive(Debug)]
struct TokenValidator;

impl CredentialValidator for TokenValidator {
    fn validate(&self, credential: &Credential, _: &[u8]) -> Result<(), Error> {
        match credential {
            Credential::Other { data, .. } if data.as_slice().starts_with(b"ok:") => Ok(()),
            _ => Err(PeerError::InvalidLeaf(mlsx_base::group::LeafError::CredentialRejected("bad token")).into()),
        }
    }
}

// ---------------------------------------------------------------- helpers

fn cs() -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
        .unwrap()
}

fn hooks() -> Hooks {
    register_syntax();
    Hooks::new()
        .with_proposal(Arc::new(TagSetHandler))
        .with_proposal(Arc::new(LeaveHandler))
        .with_proposal(Arc::new(NoteHandler))
        .with_extension(Arc::new(TagsExtension))
        .with_extension(Arc::new(ShortExtension))
        .with_wire_format(Arc::new(SealedHandler))
        .with_wire_format(Arc::new(BundleHandler))
}

fn config() -> GroupConfig {
    GroupConfig {
        hooks: hooks(),
        ..GroupConfig::default()
    }
}

fn identity(cs: &dyn CipherSuiteProvider, name: &str) -> Identity {
    let mut id = Identity::basic(cs, name.as_bytes()).unwrap();
    id.capabilities.proposals = vec![TAG_SET, LEAVE, NOTE];
    id.capabilities.extensions = vec![TAGS, SHORT];
    id
}

/// A group of `n` members made with `config`; member 0 created it.
fn group(n: usize, config: impl Fn() -> GroupConfig) -> Vec<Group> {
    let cs = cs();
    let mut a = Group::create(cs.clone(), identity(cs.as_ref(), "m0"), b"hooks".to_vec(), config()).unwrap();
    let kps: Vec<_> = (1..n)
        .map(|i| identity(cs.as_ref(), &format!("m{i}")).key_package(cs.as_ref()).unwrap())
        .collect();
    let mut all = vec![];
    if !kps.is_empty() {
        let out = a
            .commit(CommitOptions::add(kps.iter().map(|k| k.key_package.clone()).collect()))
            .unwrap();
        a.merge_pending_commit().unwrap();
        for kp in kps {
            all.push(Group::join(cs.clone(), out.welcome.as_ref().unwrap(), kp, None, config()).unwrap());
        }
    }
    all.insert(0, a);
    all
}

/// Delivers a message to every member but `from`; returns what each
/// received (commits are not merged).
fn deliver(groups: &mut [Group], from: usize, msg: &MlsMessage) -> Vec<Option<Received>> {
    let mut out = vec![];
    for (i, g) in groups.iter_mut().enumerate() {
        if i == from {
            out.push(None);
            continue;
        }
        match g.process_message(msg).unwrap() {
            Received::Commit(s) => {
                out.push(Some(Received::Commit(s)));
            }
            other => out.push(Some(other)),
        }
    }
    out
}

/// Commits from `from`, delivers, merges everywhere; returns the staged
/// commit seen by each receiver (for inspection).
fn commit_all(groups: &mut [Group], from: usize, options: CommitOptions) {
    let out = groups[from].commit(options).unwrap();
    groups[from].merge_pending_commit().unwrap();
    let received = deliver(groups, from, &out.commit);
    for (g, r) in groups.iter_mut().zip(received) {
        if let Some(Received::Commit(s)) = r {
            g.merge_staged_commit(s).unwrap();
        }
    }
    let auth = groups[from].epoch_authenticator().to_vec();
    for g in groups.iter().filter(|g| g.is_active()) {
        assert_eq!(g.epoch_authenticator(), auth.as_slice());
    }
}

fn tag_set(key: u16, value: &[u8]) -> Proposal {
    Proposal::Custom(CustomProposal::new(
        TAG_SET,
        encode(&TagEntry {
            key,
            value: VLBytes::new(value.to_vec()),
        })
        .unwrap(),
    ))
}

fn note(text: &[u8]) -> Proposal {
    Proposal::Custom(CustomProposal::opaque(NOTE, text).unwrap())
}

fn leave() -> Proposal {
    Proposal::Custom(CustomProposal::new(LEAVE, vec![]))
}

fn cs_ref(g: &Group) -> &dyn CipherSuiteProvider {
    g.cipher_suite_provider()
}

fn expect_err<T: std::fmt::Debug>(r: Result<T, Error>) -> Error {
    r.expect_err("expected an error")
}

// ---------------------------------------------------------------- tests

#[test]
fn proposal_syntax_registry_decodes_custom_bodies() {
    register_syntax();
    // A TagSet by value inside a Commit: the body is not length-prefixed,
    // so only the registered parser can find where it ends.
    let p = tag_set(5, b"blue");
    let bytes = encode(&p).unwrap();
    assert_eq!(&bytes[..2], &[0xf0, 0xa0]);
    assert_eq!(bytes.len(), 2 + 2 + 1 + 4);
    assert_eq!(decode::<Proposal>(&bytes).unwrap(), p);
    // Empty syntax.
    assert_eq!(encode(&leave()).unwrap(), vec![0xf0, 0xa1]);
    assert_eq!(decode::<Proposal>(&[0xf0, 0xa1]).unwrap(), leave());
    // Unregistered types default to opaque<V> (the mls-rs / OpenMLS custom proposal encoding).
    let p = Proposal::Custom(CustomProposal::opaque(ProposalType(0xf0ff), b"xyz").unwrap());
    assert_eq!(encode(&p).unwrap(), vec![0xf0, 0xff, 3, b'x', b'y', b'z']);
    assert_eq!(decode::<Proposal>(&[0xf0, 0xff, 3, b'x', b'y', b'z']).unwrap(), p);
    assert!(decode::<Proposal>(&[0xf0, 0xff, 4, b'x', b'y', b'z']).is_err());
    // A truncated registered body is an error, not a panic.
    assert!(decode::<Proposal>(&[0xf0, 0xa0, 0, 5, 4, b'b']).is_err());
}

#[test]
fn custom_proposal_changes_group_context_and_records_in_stage_order() {
    let mut g = group(3, config);
    // Member 1 proposes a Note; member 0 commits it with a TagSet by value.
    let msg = g[1].propose(note(b"hello"), b"").unwrap();
    deliver(&mut g, 1, &msg);
    let out = g[0]
        .commit(CommitOptions {
            proposals: vec![tag_set(9, b"x"), tag_set(3, b"y")],
            force_path: false,
            ..CommitOptions::default()
        })
        .unwrap();
    g[0].merge_pending_commit().unwrap();
    let Received::Commit(staged) = g[2].process_message(&out.commit).unwrap() else {
        panic!()
    };
    // Note (stage 0) runs before TagSet (stage 1) whatever the list order.
    assert_eq!(staged.hook_records(), &[(NOTE, b"hello".to_vec()), (TAG_SET, b"tags=2".to_vec())]);
    let tags = tags_of(&staged.context().extensions);
    assert_eq!(tags.iter().map(|t| t.key).collect::<Vec<_>>(), vec![3, 9]);
    g[2].merge_staged_commit(staged).unwrap();
    let Received::Commit(staged) = g[1].process_message(&out.commit).unwrap() else {
        panic!()
    };
    g[1].merge_staged_commit(staged).unwrap();
    assert_eq!(g[0].context(), g[1].context());
    assert_eq!(g[0].epoch_authenticator(), g[2].epoch_authenticator());

    // A GroupContextExtensions that changes Tags is rejected by the
    // extension handler; the state does not move.
    let mut exts = g[0].context().extensions.clone();
    exts.retain(|e| e.extension_type != TAGS);
    let err = expect_err(g[0].commit(CommitOptions {
        proposals: vec![Proposal::GroupContextExtensions(GroupContextExtensions { extensions: exts })],
        ..CommitOptions::default()
    }));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::ExtensionRejected {
                extension_type: 0xf0b0,
                ..
            })
        ),
        "{err:?}"
    );
    // A TagSet the handler rejects on validation.
    let err = expect_err(g[0].commit(CommitOptions {
        proposals: vec![tag_set(0, b"no")],
        ..CommitOptions::default()
    }));
    assert!(
        matches!(err, Error::Peer(PeerError::ProposalRejected { proposal_type: 0xf0a0, .. })),
        "{err:?}"
    );
}

#[test]
fn leave_proposal_removes_its_sender_by_reference_only() {
    let mut g = group(4, config);
    // By value: invalid.
    let err = expect_err(g[0].commit(CommitOptions {
        proposals: vec![leave()],
        ..CommitOptions::default()
    }));
    assert!(
        matches!(err, Error::Peer(PeerError::InvalidProposals(ProposalListError::ByReferenceOnly))),
        "{err:?}"
    );

    // Member 2 leaves; a Remove of member 2 in the same commit is a second
    // change to the leaf.
    let msg = g[2].propose(leave(), b"").unwrap();
    assert!(matches!(msg.body, MlsMessageBody::PublicMessage(_)));
    deliver(&mut g, 2, &msg);
    let err = expect_err(g[0].commit(CommitOptions::remove(vec![LeafIndex(2)])));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::InvalidProposals(ProposalListError::MultipleChangesToLeaf))
        ),
        "{err:?}"
    );
    // Committed by reference (path required even when not forced).
    let out = g[0]
        .commit(CommitOptions {
            force_path: false,
            ..CommitOptions::default()
        })
        .unwrap();
    g[0].merge_pending_commit().unwrap();
    let MlsMessageBody::PublicMessage(pm) = &out.commit.body else {
        panic!()
    };
    let FramedContentBody::Commit(c) = &pm.content.body else { panic!() };
    assert!(c.path.is_some());
    let mut removed_seen = false;
    for i in [1, 2, 3] {
        let Received::Commit(s) = g[i].process_message(&out.commit).unwrap() else {
            panic!()
        };
        assert_eq!(s.removed(), &[LeafIndex(2)]);
        removed_seen |= s.removes_self();
        g[i].merge_staged_commit(s).unwrap();
    }
    assert!(removed_seen && !g[2].is_active());
    assert_eq!(g[0].members().count(), 3);
    assert_eq!(g[0].epoch_authenticator(), g[3].epoch_authenticator());
}

#[test]
fn leave_must_be_public_once_per_epoch_and_left_out_of_own_commit() {
    // Member 1 has no Leave handler, so it sends the type like any other,
    // encrypted; the others refuse it (public_message_only), unchanged.
    let calls = std::cell::Cell::new(0);
    let mut g = group(3, || {
        calls.set(calls.get() + 1);
        let mut c = GroupConfig {
            encrypt_handshake: true,
            ..config()
        };
        if calls.get() == 2 {
            register_syntax();
            c.hooks = Hooks::new()
                .with_proposal(Arc::new(TagSetHandler))
                .with_extension(Arc::new(TagsExtension));
        }
        c
    });
    let msg = g[1].propose(leave(), b"").unwrap();
    assert!(matches!(msg.body, MlsMessageBody::PrivateMessage(_)));
    let before = g[0].save().unwrap();
    let err = expect_err(g[0].process_message(&msg));
    assert!(matches!(err, Error::Peer(PeerError::InvalidWireFormatForContent)), "{err:?}");
    assert_eq!(*g[0].save().unwrap(), *before);
    // With the handler, the sender sends it public although it encrypts
    // its other handshake messages; a second one in the epoch is refused
    // by the sender (check_pending) and by the receivers.
    let first = g[2].propose(leave(), b"").unwrap();
    assert!(matches!(first.body, MlsMessageBody::PublicMessage(_)));
    let err = expect_err(g[2].propose(leave(), b"again"));
    assert!(matches!(err, Error::Peer(PeerError::ProposalRejected { .. })), "{err:?}");
    let _ = g[0].process_message(&first).unwrap();
    // Our own pending Leave is left out of our own commit (removed_leaf
    // names the committer), so the commit is valid and keeps us.
    let mut g = group(2, config);
    g[0].propose(leave(), b"").unwrap();
    let out = g[0].commit(CommitOptions::default()).unwrap();
    let MlsMessageBody::PublicMessage(pm) = &out.commit.body else {
        panic!()
    };
    let FramedContentBody::Commit(c) = &pm.content.body else { panic!() };
    assert!(c.proposals.is_empty());
    g[0].merge_pending_commit().unwrap();
    let Received::Commit(staged) = g[1].process_message(&out.commit).unwrap() else {
        panic!()
    };
    assert!(staged.removed().is_empty());
}

#[test]
fn unknown_or_unsupported_proposal_types_are_rejected() {
    // A receiver without handlers rejects the TagSet proposal and stays unchanged.
    let cs = cs();
    let mut a = Group::create(cs.clone(), identity(cs.as_ref(), "a"), b"g".to_vec(), config()).unwrap();
    let kp = identity(cs.as_ref(), "b").key_package(cs.as_ref()).unwrap();
    let out = a.commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    a.merge_pending_commit().unwrap();
    register_syntax();
    let mut b = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), kp, None, GroupConfig::default()).unwrap();
    let msg = a.propose(tag_set(4, b"v"), b"").unwrap();
    let before = b.save().unwrap();
    let err = expect_err(b.process_message(&msg));
    assert!(matches!(err, Error::Peer(PeerError::UnsupportedProposalType(0xf0a0))), "{err:?}");
    assert_eq!(*b.save().unwrap(), *before);

    // A member that does not list the type in its capabilities makes it
    // unusable (RFC 9420 §12.2).
    let mut a = Group::create(cs.clone(), identity(cs.as_ref(), "a"), b"g".to_vec(), config()).unwrap();
    let kp = Identity::basic(cs.as_ref(), b"plain").unwrap().key_package(cs.as_ref()).unwrap();
    a.commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    a.merge_pending_commit().unwrap();
    let err = expect_err(a.commit(CommitOptions {
        proposals: vec![tag_set(4, b"v")],
        ..CommitOptions::default()
    }));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::InvalidProposals(ProposalListError::ProposalTypeUnsupportedByMember))
        ),
        "{err:?}"
    );
}

#[test]
fn external_sender_flags_are_enforced() {
    let cs = cs();
    let (ds_sk, ds_pk) = cs.signature_generate_key_pair().unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds_pk.into(),
        credential: Credential::Basic(VLBytes::new(b"ds".to_vec())),
    }];
    let ext = Extension::new(ExtensionType::EXTERNAL_SENDERS, encode(&senders).unwrap());
    let mut a = Group::create_with_extensions(cs.clone(), identity(cs.as_ref(), "a"), b"g".to_vec(), vec![ext], config()).unwrap();
    let external = |a: &Group, p: Proposal| {
        let content = FramedContent {
            group_id: a.context().group_id.clone(),
            epoch: a.epoch(),
            sender: Sender::External(0),
            authenticated_data: VLBytes::default(),
            body: FramedContentBody::Proposal(p),
        };
        let m = mlsx_base::framing::protect_public(cs.as_ref(), &ds_sk, content, None, a.context(), None).unwrap();
        MlsMessage::new(MlsMessageBody::PublicMessage(m))
    };
    // TagSet allows external senders; Note does not.
    assert!(matches!(
        a.process_message(&external(&a, tag_set(2, b"ds"))).unwrap(),
        Received::Proposal(_)
    ));
    let err = expect_err(a.process_message(&external(&a, note(b"no"))));
    assert!(matches!(err, Error::Peer(PeerError::ProposalSenderNotAllowed(_))), "{err:?}");
    a.commit(CommitOptions::default()).unwrap();
    a.merge_pending_commit().unwrap();
    assert_eq!(tags_of(&a.context().extensions).len(), 1);
}

#[test]
fn external_commit_flags_are_enforced() {
    // RFC 9420 §12.2 allows only RFC types in an external commit; a new
    // type is allowed there only with its `in_external_commit` flag.
    let mut g = group(2, config);
    let gi = g[0].group_info().unwrap();
    let (joined, commit) = Group::join_external(cs(), &gi, None, identity(cs_ref(&g[0]), "ext"), None, config()).unwrap();
    let signer = joined.identity().signer.duplicate();
    let context = g[0].context().clone();
    let cs = cs();
    let with = |p: Proposal| {
        let MlsMessageBody::PublicMessage(pm) = &commit.body else {
            panic!()
        };
        let mut content = pm.content.clone();
        let FramedContentBody::Commit(c) = &mut content.body else {
            panic!()
        };
        c.proposals.push(mlsx_base::codec::ProposalOrRef::Proposal(p));
        let m =
            mlsx_base::framing::protect_public(cs.as_ref(), &signer, content, pm.auth.confirmation_tag.clone(), &context, None).unwrap();
        MlsMessage::new(MlsMessageBody::PublicMessage(m))
    };
    // Note has no in_external_commit flag.
    let err = expect_err(g[1].process_message(&with(note(b"no"))));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::InvalidProposals(ProposalListError::NotAllowedInExternalCommit))
        ),
        "{err:?}"
    );
    // TagSet has it: the list passes, and the forged commit fails only
    // later: TagSet changed the provisional GroupContext, under which the
    // joiner's path secret no longer decrypts.
    let err = expect_err(g[1].process_message(&with(tag_set(3, b"ext"))));
    assert!(matches!(err, Error::Crypto(mlsx_base::CryptoError::DecryptionFailed)), "{err:?}");
    // Unedited, the external commit is accepted.
    assert!(matches!(g[1].process_message(&commit).unwrap(), Received::Commit(_)));
}

#[test]
fn extension_handlers_validate_leaves_key_packages_and_contexts() {
    let cs = cs();
    let mut g = group(1, config);
    // A KeyPackage whose leaf carries a too-long Short extension is rejected on Add.
    let id = identity(cs.as_ref(), "long");
    let mut bundle = id.key_package(cs.as_ref()).unwrap();
    bundle.key_package.leaf_node.extensions = vec![Extension::new(SHORT, vec![1, 2, 3, 4, 5])];
    let tbs_leaf = bundle.key_package.leaf_node.tbs(None).unwrap();
    bundle.key_package.leaf_node.signature = cs
        .sign_with_label(&id.signer, mlsx_base::tree::LEAF_NODE_TBS_LABEL, &tbs_leaf)
        .unwrap()
        .into();
    bundle.key_package.signature = cs
        .sign_with_label(
            &id.signer,
            mlsx_base::group::KEY_PACKAGE_TBS_LABEL,
            &bundle.key_package.tbs().unwrap(),
        )
        .unwrap()
        .into();
    let err = expect_err(g[0].commit(CommitOptions::add(vec![bundle.key_package.clone()])));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::ExtensionRejected {
                extension_type: 0xf0b1,
                ..
            })
        ),
        "{err:?}"
    );
    // Short is LeafNode-only: not allowed in a GroupContext.
    let err = expect_err(Group::create_with_extensions(
        cs.clone(),
        identity(cs.as_ref(), "a"),
        b"g".to_vec(),
        vec![Extension::new(SHORT, vec![1])],
        config(),
    ));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::ExtensionNotAllowed {
                extension_type: 0xf0b1,
                ..
            })
        ),
        "{err:?}"
    );
    // Without the handler the same extension is just an unknown one.
    assert!(
        Group::create_with_extensions(
            cs.clone(),
            identity(cs.as_ref(), "a"),
            b"g".to_vec(),
            vec![Extension::new(SHORT, vec![1])],
            GroupConfig::default(),
        )
        .is_ok()
    );
}

#[test]
fn framing_handlers_shape_authenticated_and_application_data() {
    let with_framing = || GroupConfig {
        hooks: hooks().with_framing(Arc::new(Versioned)),
        ..GroupConfig::default()
    };
    let mut g = group(2, with_framing);
    let msg = g[0].encrypt_application(b"hi", b"meta").unwrap();
    let Received::Application {
        data, authenticated_data, ..
    } = g[1].process_message(&msg).unwrap()
    else {
        panic!()
    };
    assert_eq!(data, b"\x01hi");
    assert_eq!(authenticated_data, b"v1:meta");
    // Handshake messages are framed too, including an external joiner's commit.
    commit_all(&mut g, 1, CommitOptions::default());
    let gi = g[0].group_info().unwrap();
    let ext = identity(cs_ref(&g[0]), "ext");
    let (joined, commit) = Group::join_external(cs(), &gi, None, ext, None, with_framing()).unwrap();
    let MlsMessageBody::PublicMessage(pm) = &commit.body else {
        panic!()
    };
    assert!(pm.content.authenticated_data.as_slice().starts_with(b"v1:"));
    for m in g.iter_mut() {
        let Received::Commit(s) = m.process_message(&commit).unwrap() else {
            panic!()
        };
        m.merge_staged_commit(s).unwrap();
    }
    assert_eq!(joined.epoch_authenticator(), g[0].epoch_authenticator());

    // A member without the handler sends raw data: rejected, state unchanged.
    let cs = cs();
    let mut plain = group(1, GroupConfig::default);
    let kp = identity(cs.as_ref(), "f").key_package(cs.as_ref()).unwrap();
    let out = plain
        .get_mut(0)
        .unwrap()
        .commit(CommitOptions::add(vec![kp.key_package.clone()]))
        .unwrap();
    plain[0].merge_pending_commit().unwrap();
    let mut framed = Group::join(cs, out.welcome.as_ref().unwrap(), kp, None, with_framing()).unwrap();
    let msg = plain[0].encrypt_application(b"raw", b"").unwrap();
    let before = framed.save().unwrap();
    let err = expect_err(framed.process_message(&msg));
    assert!(matches!(err, Error::Peer(PeerError::AuthenticatedDataRejected(_))), "{err:?}");
    assert_eq!(*framed.save().unwrap(), *before);
}

#[test]
fn psk_store_supplies_application_psks_to_commits_and_welcomes() {
    let with_store = || GroupConfig {
        hooks: hooks().with_psk_store(store_with_app_psk()),
        ..GroupConfig::default()
    };
    let mut g = group(2, with_store);
    let cs = cs();
    let psk_proposal = || {
        Proposal::PreSharedKey(PreSharedKeyProposal {
            psk: PreSharedKeyId {
                psk: app_psk(),
                psk_nonce: VLBytes::new(cs.random_vec(32).unwrap()),
            },
        })
    };
    // A commit with the application PSK and an Add: the joiner resolves it
    // through its store too.
    let kp = identity(cs.as_ref(), "c").key_package(cs.as_ref()).unwrap();
    let out = g[0]
        .commit(CommitOptions {
            proposals: vec![psk_proposal(), Proposal::Add(mlsx_base::codec::Add::new(kp.key_package.clone()))],
            ..CommitOptions::default()
        })
        .unwrap();
    g[0].merge_pending_commit().unwrap();
    let Received::Commit(s) = g[1].process_message(&out.commit).unwrap() else {
        panic!()
    };
    g[1].merge_staged_commit(s).unwrap();
    let joiner = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), kp.duplicate(), None, with_store()).unwrap();
    assert_eq!(joiner.epoch_authenticator(), g[0].epoch_authenticator());
    assert_eq!(g[1].epoch_authenticator(), g[0].epoch_authenticator());
    // Without the store the joiner cannot derive the welcome secret.
    let err = expect_err(Group::join(cs.clone(), out.welcome.as_ref().unwrap(), kp, None, config()));
    assert!(matches!(err, Error::Peer(PeerError::MissingPsk)), "{err:?}");
    // And a member without it rejects such a commit.
    let mut h = group(2, config);
    let err = expect_err(h[0].commit(CommitOptions {
        proposals: vec![psk_proposal()],
        ..CommitOptions::default()
    }));
    assert!(matches!(err, Error::Peer(PeerError::MissingPsk)), "{err:?}");
}

#[test]
fn wire_format_handlers_open_envelopes_with_member_keys() {
    let mut g = group(3, config);
    // A note sealed to member 2's leaf key and signed by member 0.
    let msg = seal_note(&g[0], LeafIndex(2), b"for you");
    let bytes = encode(&msg).unwrap();
    let msg: MlsMessage = decode(&bytes).unwrap();
    let Received::Envelope { wire_format, envelope } = g[2].process_message(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(wire_format, SEALED);
    assert_eq!(envelope.sender, Some(LeafIndex(0)));
    assert_eq!(envelope.data, b"for you");
    // Member 1 is not the recipient.
    let err = expect_err(g[1].process_message(&msg));
    assert!(
        matches!(err, Error::Peer(PeerError::WireFormatRejected { wire_format: 0xf0d0, .. })),
        "{err:?}"
    );
    // A group without the handler does not accept the wire format.
    let mut plain = group(1, GroupConfig::default);
    let err = expect_err(plain[0].process_message(&msg));
    assert!(matches!(err, Error::Peer(PeerError::UnexpectedWireFormat(0xf0d0))), "{err:?}");

    // A bundle of two application messages: the handler returns them and
    // the application processes each.
    let m1 = g[0].encrypt_application(b"one", b"").unwrap();
    let m2 = g[0].encrypt_application(b"two", b"").unwrap();
    let bundle = MlsMessage::new(MlsMessageBody::Custom(CustomBody {
        wire_format: BUNDLE,
        body: [encode(&m1).unwrap(), encode(&m2).unwrap()].concat(),
    }));
    let bundle: MlsMessage = decode(&encode(&bundle).unwrap()).unwrap();
    let Received::Envelope { envelope, .. } = g[1].process_message(&bundle).unwrap() else {
        panic!()
    };
    let texts: Vec<Vec<u8>> = envelope
        .inner
        .iter()
        .map(|m| match g[1].process_message(m).unwrap() {
            Received::Application { data, .. } => data,
            _ => panic!(),
        })
        .collect();
    assert_eq!(texts, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[test]
fn credential_validators_route_new_credential_types() {
    let cs = cs();
    let with_tokens = || GroupConfig {
        validator: Arc::new(CredentialValidators::new(Arc::new(BasicCredentialValidator)).with(TOKEN, Arc::new(TokenValidator))),
        ..config()
    };
    let token_identity = |data: &[u8]| {
        let mut id = identity(cs.as_ref(), "t");
        id.credential = Credential::Other {
            credential_type: TOKEN,
            data: VLBytes::new(data.to_vec()),
        };
        id.capabilities.credentials = vec![CredentialType::BASIC, TOKEN];
        id
    };
    let creator = || {
        let mut id = identity(cs.as_ref(), "a");
        id.capabilities.credentials = vec![CredentialType::BASIC, TOKEN];
        id
    };
    let mut a = Group::create(cs.clone(), creator(), b"g".to_vec(), with_tokens()).unwrap();
    let good = token_identity(b"ok:alice").key_package(cs.as_ref()).unwrap();
    let bad = token_identity(b"forged").key_package(cs.as_ref()).unwrap();
    let err = expect_err(a.commit(CommitOptions::add(vec![bad.key_package.clone()])));
    assert!(matches!(err, Error::Peer(PeerError::InvalidLeaf(_))), "{err:?}");
    let out = a.commit(CommitOptions::add(vec![good.key_package.clone()])).unwrap();
    a.merge_pending_commit().unwrap();
    let b = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), good.duplicate(), None, with_tokens()).unwrap();
    assert_eq!(a.epoch_authenticator(), b.epoch_authenticator());
    // The default validator (basic only) rejects the token member's tree.
    let err = expect_err(Group::join(cs.clone(), out.welcome.as_ref().unwrap(), good, None, config()));
    assert!(matches!(err, Error::Peer(PeerError::InvalidLeaf(_))), "{err:?}");
}

#[test]
fn extra_epoch_secrets_from_staged_commits_and_welcome_joins() {
    let with_secret = || {
        let mut c = config();
        c.epoch_secrets.register(b"test export").unwrap();
        c
    };
    let mut g = group(2, with_secret);
    assert_eq!(
        g[0].extra_epoch_secret(b"test export").unwrap().as_bytes(),
        g[1].extra_epoch_secret(b"test export").unwrap().as_bytes()
    );
    let cs = cs();
    let kp = identity(cs.as_ref(), "c").key_package(cs.as_ref()).unwrap();
    let out = g[0].commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    // Readable from the staged, unmerged commit …
    let Received::Commit(staged) = g[1].process_message(&out.commit).unwrap() else {
        panic!()
    };
    let staged_secret = staged.extra_epoch_secret(b"test export").unwrap().as_bytes().to_vec();
    let old = g[1].extra_epoch_secret(b"test export").unwrap().as_bytes().to_vec();
    assert_ne!(staged_secret, old);
    // … and right after joining by Welcome, equal to what the members get.
    let joiner = Group::join(cs, out.welcome.as_ref().unwrap(), kp, None, with_secret()).unwrap();
    assert_eq!(
        joiner.extra_epoch_secret(b"test export").unwrap().as_bytes(),
        staged_secret.as_slice()
    );
    g[1].merge_staged_commit(staged).unwrap();
    g[0].merge_pending_commit().unwrap();
    assert_eq!(
        g[0].extra_epoch_secret(b"test export").unwrap().as_bytes(),
        staged_secret.as_slice()
    );
}

#[test]
fn own_keys_and_external_key_pair_are_accessible() {
    let g = group(2, config);
    let cs = cs();
    // The leaf private key matches the leaf's public key.
    let sk = g[1].own_leaf_private_key().unwrap();
    let pk = g[1].tree().leaf(g[1].own_leaf()).unwrap().encryption_key.as_slice().to_vec();
    let ct = cs.encrypt_with_label(&pk, b"probe", b"", b"x").unwrap();
    assert_eq!(cs.decrypt_with_label(sk, b"probe", b"", &ct).unwrap().as_bytes(), b"x");
    // Both members derive the same external key pair.
    let (_, pub0) = g[0].external_key_pair().unwrap();
    let (_, pub1) = g[1].external_key_pair().unwrap();
    assert_eq!(pub0, pub1);
}

/// An external joiner may put proposals by value in its commit
/// (`Group::join_external_with`): a new type whose handler allows it, and
/// a PreSharedKey found through the PSK store. The joiner applies the list
/// with the members' code, so all reach the same epoch; a type that does
/// not allow external commits is refused before anything is sent.
#[test]
fn external_commit_with_proposals_by_value() {
    let cs = cs();
    let with_store = || GroupConfig {
        hooks: hooks().with_psk_store(store_with_app_psk()),
        ..GroupConfig::default()
    };
    let mut g = group(3, with_store);
    let gi = g[0].group_info().unwrap();
    let psk = Proposal::PreSharedKey(PreSharedKeyProposal {
        psk: PreSharedKeyId {
            psk: app_psk(),
            psk_nonce: VLBytes::new(vec![1; 32]),
        },
    });
    let options = mlsx_base::group::ExternalJoinOptions {
        proposals: vec![tag_set(9, b"joiner"), psk],
        ..Default::default()
    };
    let (mut joined, commit) =
        Group::join_external_with(cs.clone(), &gi, None, identity(cs.as_ref(), "ext"), options, with_store()).unwrap();
    assert_eq!(
        tags_of(&joined.context().extensions),
        vec![TagEntry {
            key: 9,
            value: VLBytes::new(b"joiner".to_vec())
        }]
    );
    for m in &mut g {
        let Received::Commit(staged) = m.process_message(&commit).unwrap() else {
            panic!()
        };
        m.merge_staged_commit(staged).unwrap();
        assert_eq!(m.epoch_authenticator(), joined.epoch_authenticator());
        assert_eq!(m.context(), joined.context());
    }
    // The group goes on with the joiner.
    let out = joined.commit(CommitOptions::default()).unwrap();
    joined.merge_pending_commit().unwrap();
    for m in &mut g {
        let Received::Commit(staged) = m.process_message(&out.commit).unwrap() else {
            panic!()
        };
        m.merge_staged_commit(staged).unwrap();
        assert_eq!(m.epoch_authenticator(), joined.epoch_authenticator());
    }

    // Note does not allow external commits: refused by the joiner itself.
    let gi = g[0].group_info().unwrap();
    let options = mlsx_base::group::ExternalJoinOptions {
        proposals: vec![note(b"no")],
        ..Default::default()
    };
    let err = expect_err(Group::join_external_with(
        cs.clone(),
        &gi,
        None,
        identity(cs.as_ref(), "x"),
        options,
        with_store(),
    ));
    assert!(
        matches!(
            err,
            Error::Peer(PeerError::InvalidProposals(ProposalListError::NotAllowedInExternalCommit))
        ),
        "{err:?}"
    );
    // Without the PSK's value the joiner cannot build the commit.
    let options = mlsx_base::group::ExternalJoinOptions {
        proposals: vec![Proposal::PreSharedKey(PreSharedKeyProposal {
            psk: PreSharedKeyId {
                psk: app_psk(),
                psk_nonce: VLBytes::new(vec![2; 32]),
            },
        })],
        ..Default::default()
    };
    let err = expect_err(Group::join_external_with(
        cs.clone(),
        &gi,
        None,
        identity(cs.as_ref(), "y"),
        options,
        config(),
    ));
    assert!(matches!(err, Error::Peer(PeerError::MissingPsk)), "{err:?}");
}
