//! A member of a mixed group, whichever implementation it runs on (mlsx,
//! mls-rs 0.57 or OpenMLS 0.9), driven through one interface. Only
//! serialized messages cross between implementations.

#![allow(clippy::unwrap_used, clippy::panic, dead_code)]

use std::sync::Arc;

use mls_rs::client_builder::{MlsConfig, PaddingMode};
use mls_rs::extension::built_in::RequiredCapabilitiesExt;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential as RsBasicCredential, BasicIdentityProvider};
use mls_rs::mls_rules::{DefaultMlsRules, EncryptionOptions};
use mls_rs::psk::{ExternalPskId, PreSharedKey};
use mls_rs::storage_provider::in_memory::InMemoryPreSharedKeyStorage;
use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList};
use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;
use mlsx_base::codec::{
    CipherSuite, Extension as XExtension, ExtensionType as XExtensionType, KeyPackage as XKeyPackage, MlsMessage, MlsMessageBody,
    PreSharedKeyId as XPreSharedKeyId, Proposal as XProposal, Psk as XPsk, RequiredCapabilities, VLBytes, decode, encode,
};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, Secret};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Received};
use mlsx_base::tree::math::LeafIndex;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls::schedule::PreSharedKeyId;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

/// The external PSK every member holds.
pub const PSK_ID: &[u8] = b"interop external psk";
pub const PSK_VALUE: [u8; 32] = [0x42; 32];

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    X,
    R,
    O,
}

/// A proposal or the by-value part of a commit.
#[derive(Clone, Debug)]
pub enum Op {
    /// Add the KeyPackage (an `MLSMessage`, serialized).
    Add(Vec<u8>),
    /// The proposer's own Update (proposals only).
    Update,
    /// Remove this leaf.
    Remove(u32),
    /// The external PSK with a fresh nonce.
    Psk,
    /// GroupContextExtensions: with an (empty) required_capabilities or with no extensions.
    Gce(bool),
}

pub fn xcs(suite: u16) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(CipherSuite(suite)).unwrap()
}

pub fn rs_peer(suite: u16, name: &str, encrypt: bool) -> Client<impl MlsConfig + use<>> {
    let crypto = MlsRsCrypto::default();
    let cs = crypto.cipher_suite_provider(mls_rs::CipherSuite::from(suite)).unwrap();
    let (secret, public) = cs.signature_key_generate().unwrap();
    let identity = SigningIdentity::new(RsBasicCredential::new(name.as_bytes().to_vec()).into_credential(), public);
    let mut psks = InMemoryPreSharedKeyStorage::default();
    psks.insert(ExternalPskId::new(PSK_ID.to_vec()), PreSharedKey::new(PSK_VALUE.to_vec()));
    Client::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .psk_store(psks)
        .mls_rules(DefaultMlsRules::new().with_encryption_options(EncryptionOptions::new(encrypt, PaddingMode::None)))
        .signing_identity(identity, secret, suite.into())
        .build()
}

/// An OpenMLS client: provider (with its storage) and signer.
pub struct OPeer {
    pub provider: OpenMlsRustCrypto,
    pub signer: SignatureKeyPair,
}

/// An OpenMLS client with a fresh signature key stored in its provider,
/// and its basic credential.
pub fn openmls_client(os: Ciphersuite, name: &str) -> (OPeer, CredentialWithKey) {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(os.signature_algorithm()).unwrap();
    signer.store(provider.storage()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    (OPeer { provider, signer }, credential)
}

pub fn openmls_suite(suite: u16) -> Ciphersuite {
    Ciphersuite::try_from(suite).unwrap()
}

pub fn openmls_policy(encrypt: bool) -> WireFormatPolicy {
    if encrypt {
        MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY
    } else {
        MIXED_PLAINTEXT_WIRE_FORMAT_POLICY
    }
}

pub fn openmls_join_config(encrypt: bool) -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(openmls_policy(encrypt))
        .build()
}

fn openmls_store_psk(p: &OPeer) {
    PreSharedKeyId::external(PSK_ID.to_vec(), vec![0; 32])
        .store(&p.provider, &PSK_VALUE)
        .unwrap();
}

pub fn xconfig(encrypt: bool) -> GroupConfig {
    GroupConfig {
        encrypt_handshake: encrypt,
        ..GroupConfig::default()
    }
}

pub enum Member<C: MlsConfig> {
    X(Box<Group>),
    R(Box<mls_rs::Group<C>>),
    O(Box<(OPeer, MlsGroup)>),
}

pub enum Joiner<C: MlsConfig> {
    X(Box<KeyPackageBundle>),
    R(Client<C>),
    O(Box<OPeer>),
}

/// A KeyPackage as an `MLSMessage` in bytes.
pub fn kp_message(kp: XKeyPackage) -> Vec<u8> {
    encode(&MlsMessage::new(MlsMessageBody::KeyPackage(kp))).unwrap()
}

/// A new client of `kind` and its KeyPackage message.
pub fn new_joiner<C: MlsConfig>(kind: Kind, suite: u16, name: &str, make_rs: &impl Fn(&str) -> Client<C>) -> (Joiner<C>, Vec<u8>) {
    match kind {
        Kind::X => {
            let cs = xcs(suite);
            let b = Identity::basic(cs.as_ref(), name.as_bytes())
                .unwrap()
                .key_package(cs.as_ref())
                .unwrap();
            let kp = kp_message(b.key_package.clone());
            (Joiner::X(Box::new(b)), kp)
        }
        Kind::R => {
            let c = make_rs(name);
            let kp = c
                .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
                .unwrap()
                .to_bytes()
                .unwrap();
            (Joiner::R(c), kp)
        }
        Kind::O => {
            let os = openmls_suite(suite);
            let (peer, credential) = openmls_client(os, name);
            let bundle = KeyPackage::builder().build(os, &peer.provider, &peer.signer, credential).unwrap();
            let kp = kp_message(decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap());
            (Joiner::O(Box::new(peer)), kp)
        }
    }
}

/// Joins from a Welcome message.
pub fn join<C: MlsConfig>(j: Joiner<C>, suite: u16, welcome: &[u8], encrypt: bool) -> Member<C> {
    match j {
        Joiner::X(b) => {
            let psks = std::collections::BTreeMap::from([(PSK_ID.to_vec(), Secret::new(PSK_VALUE.to_vec()))]);
            let g = Group::join_with_psks(xcs(suite), &decode(welcome).unwrap(), *b, None, xconfig(encrypt), psks).unwrap();
            Member::X(Box::new(g))
        }
        Joiner::R(c) => Member::R(Box::new(
            c.join_group(None, &mls_rs::MlsMessage::from_bytes(welcome).unwrap(), None)
                .unwrap()
                .0,
        )),
        Joiner::O(p) => {
            let MlsMessageBodyIn::Welcome(w) = MlsMessageIn::tls_deserialize_exact(welcome).unwrap().extract() else {
                panic!()
            };
            openmls_store_psk(&p);
            let g = StagedWelcome::new_from_welcome(&p.provider, &openmls_join_config(encrypt), w, None)
                .unwrap()
                .into_group(&p.provider)
                .unwrap();
            Member::O(Box::new((*p, g)))
        }
    }
}

/// A group founded by an mlsx member.
pub fn founder<C: MlsConfig>(suite: u16, encrypt: bool) -> Member<C> {
    let cs = xcs(suite);
    let mut g = Group::create(
        cs.clone(),
        Identity::basic(cs.as_ref(), b"founder").unwrap(),
        b"interop".to_vec(),
        xconfig(encrypt),
    )
    .unwrap();
    g.add_external_psk(PSK_ID.to_vec(), Secret::new(PSK_VALUE.to_vec()));
    Member::X(Box::new(g))
}

fn xproposal(op: &Op, cs: &dyn CipherSuiteProvider) -> XProposal {
    match op {
        Op::Add(kp) => {
            let MlsMessageBody::KeyPackage(kp) = decode::<MlsMessage>(kp).unwrap().body else {
                panic!()
            };
            XProposal::Add(mlsx_base::codec::Add::new(kp))
        }
        Op::Remove(r) => XProposal::Remove(mlsx_base::codec::Remove { removed: LeafIndex(*r) }),
        Op::Psk => XProposal::PreSharedKey(mlsx_base::codec::PreSharedKeyProposal {
            psk: XPreSharedKeyId {
                psk: XPsk::External(mlsx_base::codec::ExternalPsk {
                    psk_id: VLBytes::new(PSK_ID.to_vec()),
                }),
                psk_nonce: VLBytes::new(cs.random_vec(cs.hash_len()).unwrap()),
            },
        }),
        Op::Gce(with_rc) => XProposal::GroupContextExtensions(mlsx_base::codec::GroupContextExtensions {
            extensions: if *with_rc {
                vec![XExtension::new(
                    XExtensionType::REQUIRED_CAPABILITIES,
                    encode(&RequiredCapabilities::default()).unwrap(),
                )]
            } else {
                vec![]
            },
        }),
        Op::Update => panic!("Update is proposed with propose_update"),
    }
}

fn rs_extensions(with_rc: bool) -> ExtensionList {
    let mut l = ExtensionList::new();
    if with_rc {
        l.set_from(RequiredCapabilitiesExt::default()).unwrap();
    }
    l
}

fn o_extensions(with_rc: bool) -> Extensions<openmls::prelude::GroupContext> {
    if with_rc {
        Extensions::single(Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(&[], &[], &[]))).unwrap()
    } else {
        Extensions::empty()
    }
}

fn o_key_package(p: &OPeer, kp: &[u8]) -> KeyPackage {
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(kp).unwrap().extract() else {
        panic!()
    };
    kp.validate(p.provider.crypto(), ProtocolVersion::Mls10).unwrap()
}

fn o_psk_id(p: &OPeer, suite: Ciphersuite) -> PreSharedKeyId {
    let nonce = p.provider.rand().random_vec(suite.hash_length()).unwrap();
    PreSharedKeyId::external(PSK_ID.to_vec(), nonce)
}

impl<C: MlsConfig> Member<C> {
    pub fn kind(&self) -> Kind {
        match self {
            Member::X(_) => Kind::X,
            Member::R(_) => Kind::R,
            Member::O(_) => Kind::O,
        }
    }

    pub fn leaf(&self) -> u32 {
        match self {
            Member::X(g) => g.own_leaf().0,
            Member::R(g) => g.current_member_index(),
            Member::O(b) => b.1.own_leaf_index().u32(),
        }
    }

    pub fn auth(&self) -> Vec<u8> {
        match self {
            Member::X(g) => g.epoch_authenticator().to_vec(),
            Member::R(g) => g.epoch_authenticator().unwrap().to_vec(),
            Member::O(b) => b.1.epoch_authenticator().as_slice().to_vec(),
        }
    }

    /// Sends a proposal; it is kept for the next commit by reference.
    pub fn propose(&mut self, op: &Op) -> Vec<u8> {
        match self {
            Member::X(g) => {
                let m = match op {
                    Op::Update => g.propose_update().unwrap(),
                    op => {
                        let cs = xcs(g.cipher_suite().0);
                        g.propose(xproposal(op, cs.as_ref()), b"").unwrap()
                    }
                };
                encode(&m).unwrap()
            }
            Member::R(g) => {
                let m = match op {
                    Op::Add(kp) => g.propose_add(mls_rs::MlsMessage::from_bytes(kp).unwrap(), vec![]).unwrap(),
                    Op::Update => g.propose_update(vec![]).unwrap(),
                    Op::Remove(r) => g.propose_remove(*r, vec![]).unwrap(),
                    Op::Psk => g.propose_external_psk(ExternalPskId::new(PSK_ID.to_vec()), vec![]).unwrap(),
                    Op::Gce(rc) => g.propose_group_context_extensions(rs_extensions(*rc), vec![]).unwrap(),
                };
                m.to_bytes().unwrap()
            }
            Member::O(b) => {
                let (p, g) = &mut **b;
                let suite = g.ciphersuite();
                let (m, _) = match op {
                    Op::Add(kp) => g.propose_add_member(&p.provider, &p.signer, &o_key_package(p, kp)).unwrap(),
                    Op::Update => g
                        .propose_self_update(&p.provider, &p.signer, LeafNodeParameters::default())
                        .unwrap(),
                    Op::Remove(r) => g.propose_remove_member(&p.provider, &p.signer, LeafNodeIndex::new(*r)).unwrap(),
                    Op::Psk => g.propose_pre_shared_key(&p.provider, &p.signer, o_psk_id(p, suite)).unwrap(),
                    Op::Gce(rc) => g
                        .propose_group_context_extensions(&p.provider, o_extensions(*rc), &p.signer)
                        .unwrap(),
                };
                m.to_bytes().unwrap()
            }
        }
    }

    /// Commits the pending proposals (by reference) and `ops` (by value),
    /// with a path; merges it. Returns the commit and the Welcome.
    pub fn commit(&mut self, ops: &[Op]) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Member::X(g) => {
                let cs = xcs(g.cipher_suite().0);
                let proposals = ops.iter().map(|op| xproposal(op, cs.as_ref())).collect();
                let out = g
                    .commit(CommitOptions {
                        proposals,
                        ..CommitOptions::default()
                    })
                    .unwrap();
                g.merge_pending_commit().unwrap();
                (encode(&out.commit).unwrap(), out.welcome.map(|w| encode(&w).unwrap()))
            }
            Member::R(g) => {
                let mut b = g.commit_builder();
                for op in ops {
                    b = match op {
                        Op::Add(kp) => b.add_member(mls_rs::MlsMessage::from_bytes(kp).unwrap()).unwrap(),
                        Op::Remove(r) => b.remove_member(*r).unwrap(),
                        Op::Psk => b.add_external_psk(ExternalPskId::new(PSK_ID.to_vec())).unwrap(),
                        Op::Gce(rc) => b.set_group_context_ext(rs_extensions(*rc)).unwrap(),
                        Op::Update => panic!("no Update by value"),
                    };
                }
                let out = b.build().unwrap();
                g.apply_pending_commit().unwrap();
                (
                    out.commit_message.to_bytes().unwrap(),
                    out.welcome_messages.first().map(|w| w.to_bytes().unwrap()),
                )
            }
            Member::O(b) => {
                let (p, g) = &mut **b;
                let suite = g.ciphersuite();
                let mut builder = g.commit_builder().consume_proposal_store(true).force_self_update(true);
                for op in ops {
                    builder = match op {
                        Op::Add(kp) => builder.propose_adds([o_key_package(p, kp)]),
                        Op::Remove(r) => builder.propose_removals([LeafNodeIndex::new(*r)]),
                        Op::Psk => builder.add_proposal(Proposal::PreSharedKey(Box::new(PreSharedKeyProposal::new(o_psk_id(p, suite))))),
                        Op::Gce(rc) => builder.propose_group_context_extensions(o_extensions(*rc)).unwrap(),
                        Op::Update => panic!("no Update by value"),
                    };
                }
                let bundle = builder
                    .load_psks(p.provider.storage())
                    .unwrap()
                    .build(p.provider.rand(), p.provider.crypto(), &p.signer, |_| true)
                    .unwrap()
                    .stage_commit(&p.provider)
                    .unwrap();
                g.merge_pending_commit(&p.provider).unwrap();
                let (commit, welcome, _) = bundle.into_messages();
                (commit.to_bytes().unwrap(), welcome.map(|w| w.to_bytes().unwrap()))
            }
        }
    }

    /// Processes a message, merging commits; returns application data if it was one.
    pub fn process(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        match self {
            Member::X(g) => match g.process_message(&decode(msg).unwrap()).unwrap() {
                Received::Commit(staged) => {
                    g.merge_staged_commit(staged).unwrap();
                    None
                }
                Received::Application { data, .. } => Some(data),
                Received::Proposal(_) | Received::Envelope { .. } => None,
            },
            Member::R(g) => match g.process_incoming_message(mls_rs::MlsMessage::from_bytes(msg).unwrap()).unwrap() {
                ReceivedMessage::ApplicationMessage(d) => Some(d.data().to_vec()),
                _ => None,
            },
            Member::O(b) => {
                let (p, g) = &mut **b;
                let m = MlsMessageIn::tls_deserialize_exact(msg)
                    .unwrap()
                    .try_into_protocol_message()
                    .unwrap();
                match g.process_message(&p.provider, m).unwrap().into_content() {
                    ProcessedMessageContent::StagedCommitMessage(staged) => {
                        g.merge_staged_commit(&p.provider, *staged).unwrap();
                        None
                    }
                    ProcessedMessageContent::ApplicationMessage(a) => Some(a.into_bytes()),
                    ProcessedMessageContent::ProposalMessage(q) => {
                        g.store_pending_proposal(p.provider.storage(), *q).unwrap();
                        None
                    }
                    _ => None,
                }
            }
        }
    }

    pub fn encrypt(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Member::X(g) => encode(&g.encrypt_application(data, b"").unwrap()).unwrap(),
            Member::R(g) => g.encrypt_application_message(data, vec![]).unwrap().to_bytes().unwrap(),
            Member::O(b) => {
                let (p, g) = &mut **b;
                g.create_message(&p.provider, &p.signer, data).unwrap().to_bytes().unwrap()
            }
        }
    }
}

/// Delivers `msg` from member `from` to all others; returns what each got.
pub fn deliver<C: MlsConfig>(members: &mut [Member<C>], from: usize, msg: &[u8]) -> Vec<Option<Vec<u8>>> {
    members
        .iter_mut()
        .enumerate()
        .map(|(i, m)| if i == from { None } else { m.process(msg) })
        .collect()
}

/// Every member reports the same epoch authenticator.
pub fn assert_agree<C: MlsConfig>(members: &[Member<C>], what: &str) {
    let auth = members[0].auth();
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m.auth(), auth, "{what}: member {i} ({:?}) disagrees", m.kind());
    }
}

/// One member's application message decrypts at every other member.
pub fn assert_messages<C: MlsConfig>(members: &mut [Member<C>], from: usize, what: &str) {
    let text = format!("{what}: from {from}");
    let msg = members[from].encrypt(text.as_bytes());
    for (i, got) in deliver(members, from, &msg).into_iter().enumerate() {
        if i != from {
            assert_eq!(got.as_deref(), Some(text.as_bytes()), "{what}: member {i}");
        }
    }
}
