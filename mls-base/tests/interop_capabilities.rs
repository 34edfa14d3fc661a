//! Interop on what other implementations put in their leaves, with live
//! mls-rs 0.57 and OpenMLS 0.9 members:
//!
//! * leaves whose `capabilities` omit the group's cipher suite (RFC 9420
//!   §7.3 does not make the listing a MUST; `CapabilityPolicy`): mlsx joins
//!   and follows such groups under the default policy, and refuses them
//!   under `CapabilityPolicy::Strict`;
//! * GREASE (§13.5) both ways: each peer accepts what mlsx sends, and mlsx
//!   accepts what each peer sends.
//!
//! `drafts/interop.md` explains the decisions and the one peer defect met
//! (OpenMLS rejects GREASE *extensions*).

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::sync::Arc;

use mls_rs::client_builder::MlsConfig;
use mls_rs::extension::ExtensionType as RsExtensionType;
use mls_rs::group::ReceivedMessage;
use mls_rs::group::proposal::ProposalType as RsProposalType;
use mls_rs::identity::basic::{BasicCredential as RsBasicCredential, BasicIdentityProvider};
use mls_rs::identity::{CredentialType as RsCredentialType, SigningIdentity};
use mls_rs::time::MlsTime;
use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList};
use mls_rs_core::identity::{IdentityProvider, MemberValidationContext};
use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;
use mlsx_base::codec::{
    CipherSuite, Credential, Extension as XExtension, KeyPackage as XKeyPackage, MlsMessage, MlsMessageBody, VLBytes, decode, encode,
    is_grease,
};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::group::{CapabilityPolicy, CommitOptions, Group, GroupConfig, Identity, LeafError, Received};
use mlsx_base::{Error, PeerError};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

mod common;

fn ours(suite: u16) -> Arc<dyn CipherSuiteProvider> {
    common::xcs(suite)
}

fn strict() -> GroupConfig {
    GroupConfig {
        leaf_capabilities: CapabilityPolicy::Strict,
        ..GroupConfig::default()
    }
}

fn is_unsupported_group_parameters(e: &Error) -> bool {
    matches!(e, Error::Peer(PeerError::InvalidLeaf(LeafError::UnsupportedGroupParameters)))
}

fn committed(mine: &mut Group, m: &MlsMessage) {
    let Received::Commit(staged) = mine.process_message(m).unwrap() else {
        panic!("not a commit")
    };
    mine.merge_staged_commit(staged).unwrap();
}

// ---------------------------------------------------------------------------
// mls-rs

/// mls-rs derives `capabilities.cipher_suites` from its crypto provider's
/// `supported_cipher_suites()` and uses that list for nothing else: this
/// provider advertises `advertised` and still runs every suite of the
/// RustCrypto provider.
#[derive(Clone)]
struct Advertising {
    inner: MlsRsCrypto,
    advertised: Vec<mls_rs::CipherSuite>,
}

impl mls_rs::CryptoProvider for Advertising {
    type CipherSuiteProvider = <MlsRsCrypto as mls_rs::CryptoProvider>::CipherSuiteProvider;

    fn supported_cipher_suites(&self) -> Vec<mls_rs::CipherSuite> {
        self.advertised.clone()
    }

    fn cipher_suite_provider(&self, cipher_suite: mls_rs::CipherSuite) -> Option<Self::CipherSuiteProvider> {
        self.inner.cipher_suite_provider(cipher_suite)
    }
}

/// Basic credentials, advertising a GREASE credential type beside basic.
#[derive(Clone, Debug)]
struct GreaseCredentials(BasicIdentityProvider);

impl IdentityProvider for GreaseCredentials {
    type Error = <BasicIdentityProvider as IdentityProvider>::Error;

    fn validate_member(&self, id: &SigningIdentity, t: Option<MlsTime>, c: MemberValidationContext<'_>) -> Result<(), Self::Error> {
        self.0.validate_member(id, t, c)
    }

    fn validate_external_sender(&self, id: &SigningIdentity, t: Option<MlsTime>, e: Option<&ExtensionList>) -> Result<(), Self::Error> {
        self.0.validate_external_sender(id, t, e)
    }

    fn identity(&self, id: &SigningIdentity, e: &ExtensionList) -> Result<Vec<u8>, Self::Error> {
        self.0.identity(id, e)
    }

    fn valid_successor(&self, p: &SigningIdentity, s: &SigningIdentity, e: &ExtensionList) -> Result<bool, Self::Error> {
        self.0.valid_successor(p, s, e)
    }

    fn supported_types(&self) -> Vec<RsCredentialType> {
        let mut t = self.0.supported_types();
        t.push(RsCredentialType::new(0x4a4a));
        t
    }
}

/// GREASE values an mls-rs member advertises (its `grease` feature is left
/// off, see `drafts/interop.md`: mls-rs's own GREASE KeyPackage extension
/// is not listed in its capabilities, which OpenMLS rejects).
const RS_GREASE_SUITE: u16 = 0x1a1a;
const RS_GREASE_LEAF_EXT: u16 = 0x5a5a;
const RS_GREASE_KP_EXT: u16 = 0x6a6a;
const RS_GREASE_PROPOSAL: u16 = 0x2a2a;

/// An mls-rs client whose capabilities list `advertised` as its suites,
/// plus GREASE values in every extensible list when `grease` is set.
fn rs_peer(suite: u16, name: &str, advertised: &[u16], grease: bool) -> Client<impl MlsConfig + use<>> {
    let inner = MlsRsCrypto::default();
    let cs = inner.cipher_suite_provider(mls_rs::CipherSuite::from(suite)).unwrap();
    let (secret, public) = cs.signature_key_generate().unwrap();
    let identity = SigningIdentity::new(RsBasicCredential::new(name.as_bytes().to_vec()).into_credential(), public);
    let mut advertised: Vec<mls_rs::CipherSuite> = advertised.iter().map(|s| mls_rs::CipherSuite::from(*s)).collect();
    if grease {
        advertised.push(mls_rs::CipherSuite::from(RS_GREASE_SUITE));
    }
    let builder = Client::builder()
        .identity_provider(GreaseCredentials(BasicIdentityProvider))
        .crypto_provider(Advertising { inner, advertised })
        .signing_identity(identity, secret, suite.into());
    let builder = if grease {
        builder
            .extension_types([RsExtensionType::new(RS_GREASE_LEAF_EXT), RsExtensionType::new(RS_GREASE_KP_EXT)])
            .custom_proposal_type(RsProposalType::new(RS_GREASE_PROPOSAL))
    } else {
        builder
    };
    builder.build()
}

fn rs_to_ours(m: &mls_rs::MlsMessage) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn rs_to_peer(m: &MlsMessage) -> mls_rs::MlsMessage {
    mls_rs::MlsMessage::from_bytes(&encode(m).unwrap()).unwrap()
}

fn rs_auth<C: MlsConfig>(g: &mls_rs::Group<C>) -> Vec<u8> {
    g.epoch_authenticator().unwrap().to_vec()
}

fn rs_extensions(t: u16, data: &[u8]) -> ExtensionList {
    let mut l = ExtensionList::new();
    l.set(mls_rs::Extension::new(RsExtensionType::new(t), data.to_vec()));
    l
}

/// An mls-rs KeyPackage, with GREASE extensions in the KeyPackage and its
/// leaf when `grease` is set.
fn rs_key_package<C: MlsConfig>(c: &Client<C>, grease: bool) -> mls_rs::MlsMessage {
    let (kp_ext, leaf_ext) = if grease {
        (
            rs_extensions(RS_GREASE_KP_EXT, b"kp grease"),
            rs_extensions(RS_GREASE_LEAF_EXT, b"leaf grease"),
        )
    } else {
        (ExtensionList::default(), ExtensionList::default())
    };
    c.generate_key_package_message(kp_ext, leaf_ext, None).unwrap()
}

fn rs_messages_both_ways<C: MlsConfig>(mine: &mut Group, theirs: &mut mls_rs::Group<C>) {
    let m = theirs.encrypt_application_message(b"from mls-rs", vec![]).unwrap();
    match mine.process_message(&rs_to_ours(&m)).unwrap() {
        Received::Application { data, .. } => assert_eq!(data, b"from mls-rs"),
        other => panic!("{other:?}"),
    }
    let m = mine.encrypt_application(b"from mlsx", b"").unwrap();
    match theirs.process_incoming_message(rs_to_peer(&m)).unwrap() {
        ReceivedMessage::ApplicationMessage(d) => assert_eq!(d.data(), b"from mlsx"),
        _ => panic!("not an application message"),
    }
}

/// An mls-rs group in `suite` whose every mls-rs leaf omits `suite` from
/// its capabilities: mlsx joins it by Welcome and follows path commits,
/// Updates by reference and Adds from the mls-rs members, commits itself,
/// and adds another such member; a strict mlsx member is refused at the
/// join. The mls-rs members also advertise GREASE in every extensible list
/// and carry GREASE leaf and KeyPackage extensions.
#[test]
fn leaves_without_the_group_suite_from_mls_rs() {
    for (suite, others) in [(1u16, [2u16, 3]), (2, [1, 3]), (3, [1, 2]), (7, [1, 2])] {
        let cs = ours(suite);
        let alice = rs_peer(suite, "alice", &others, true);
        let carol = rs_peer(suite, "carol", &others, true);
        let mut group = alice
            .create_group(ExtensionList::default(), rs_extensions(RS_GREASE_LEAF_EXT, b"alice"), None)
            .unwrap();
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let dan = Identity::basic(cs.as_ref(), b"dan").unwrap().key_package(cs.as_ref()).unwrap();
        let out = group
            .commit_builder()
            .add_member(rs_key_package(&carol, true))
            .unwrap()
            .add_member(rs_to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(bob.key_package.clone()))))
            .unwrap()
            .add_member(rs_to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(dan.key_package.clone()))))
            .unwrap()
            .build()
            .unwrap();
        group.apply_pending_commit().unwrap();
        let welcome = rs_to_ours(&out.welcome_messages[0]);
        let (mut carol_group, _) = carol.join_group(None, &out.welcome_messages[0], None).unwrap();

        // The mls-rs leaves really are as described.
        let mut mine = Group::join(cs.clone(), &welcome, bob, None, GroupConfig::default()).unwrap();
        for name in [b"alice".as_slice(), b"carol"] {
            let leaf = mine.member_by_credential(&Credential::Basic(VLBytes::new(name.to_vec()))).unwrap();
            let (_, leaf) = mine.members().find(|(i, _)| *i == leaf).unwrap();
            assert!(!leaf.capabilities.cipher_suites.contains(&CipherSuite(suite)), "suite {suite}");
            assert!(leaf.capabilities.cipher_suites.iter().any(|s| s.is_grease()), "suite {suite}");
            assert!(leaf.capabilities.credentials.iter().any(|t| is_grease(t.0)), "suite {suite}");
            assert!(leaf.extensions.iter().any(|e| is_grease(e.extension_type.0)), "suite {suite}");
        }
        assert_eq!(mine.epoch_authenticator(), rs_auth(&group), "suite {suite}");
        let e = Group::join(cs.clone(), &welcome, dan, None, strict()).expect_err("strict join refused");
        assert!(is_unsupported_group_parameters(&e), "suite {suite}: {e:?}");
        rs_messages_both_ways(&mut mine, &mut group);

        // Carol commits with a path (her new leaf still omits the suite).
        let out = carol_group.commit_builder().build().unwrap();
        carol_group.apply_pending_commit().unwrap();
        group.process_incoming_message(out.commit_message.clone()).unwrap();
        committed(&mut mine, &rs_to_ours(&out.commit_message));
        assert_eq!(mine.epoch_authenticator(), rs_auth(&group), "suite {suite} after Carol's commit");

        // Alice proposes an Update; mlsx commits it by reference.
        let proposal = group.propose_update(vec![]).unwrap();
        carol_group.process_incoming_message(proposal.clone()).unwrap();
        let Received::Proposal(_) = mine.process_message(&rs_to_ours(&proposal)).unwrap() else {
            panic!()
        };
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        for g in [&mut group, &mut carol_group] {
            g.process_incoming_message(rs_to_peer(&out.commit)).unwrap();
        }
        assert_eq!(mine.epoch_authenticator(), rs_auth(&group), "suite {suite} after mlsx's commit");
        assert_eq!(
            mine.epoch_authenticator(),
            rs_auth(&carol_group),
            "suite {suite} after mlsx's commit"
        );

        // mlsx adds another mls-rs member whose KeyPackage omits the suite.
        let erin = rs_peer(suite, "erin", &others, true);
        let MlsMessageBody::KeyPackage(kp) = rs_to_ours(&rs_key_package(&erin, true)).body else {
            panic!()
        };
        assert!(!kp.leaf_node.capabilities.cipher_suites.contains(&CipherSuite(suite)));
        let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
        mine.merge_pending_commit().unwrap();
        for g in [&mut group, &mut carol_group] {
            g.process_incoming_message(rs_to_peer(&out.commit)).unwrap();
        }
        let (mut erin_group, _) = erin.join_group(None, &rs_to_peer(out.welcome_message().unwrap()), None).unwrap();
        assert_eq!(mine.epoch_authenticator(), rs_auth(&erin_group), "suite {suite} after the Add");
        rs_messages_both_ways(&mut mine, &mut erin_group);

        // The strict policy refuses the same Add when mlsx chooses it.
        let mut strict_mine = Group::load(cs.clone(), &mine.save().unwrap(), strict()).unwrap();
        let frank = rs_peer(suite, "frank", &others, false);
        let MlsMessageBody::KeyPackage(kp) = rs_to_ours(&rs_key_package(&frank, false)).body else {
            panic!()
        };
        let e = strict_mine.commit(CommitOptions::add(vec![kp])).expect_err("strict Add refused");
        assert!(is_unsupported_group_parameters(&e), "suite {suite}: {e:?}");
    }
}

/// mlsx's GREASE, all of it (capabilities, leaf and KeyPackage extensions,
/// GroupInfo extensions), is accepted by mls-rs: mls-rs adds an mlsx
/// KeyPackage, follows mlsx's path commits, joins from mlsx's Welcome and
/// joins by external commit from mlsx's GroupInfo.
#[test]
fn mls_rs_accepts_mlsx_grease() {
    for suite in [1u16, 2, 3, 7] {
        let cs = ours(suite);
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().with_grease_extensions();
        let kp = bob.key_package(cs.as_ref()).unwrap();
        assert_grease_key_package(&kp.key_package, true);

        // mls-rs adds mlsx.
        let alice = rs_peer(suite, "alice", &[suite], false);
        let mut group = alice
            .create_group(ExtensionList::default(), ExtensionList::default(), None)
            .unwrap();
        let out = group
            .commit_builder()
            .add_member(rs_to_peer(&MlsMessage::new(MlsMessageBody::KeyPackage(kp.key_package.clone()))))
            .unwrap()
            .build()
            .unwrap();
        group.apply_pending_commit().unwrap();
        let mut mine = Group::join(cs.clone(), &rs_to_ours(&out.welcome_messages[0]), kp, None, GroupConfig::default()).unwrap();
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        group.process_incoming_message(rs_to_peer(&out.commit)).unwrap();
        assert_eq!(mine.epoch_authenticator(), rs_auth(&group), "suite {suite}");

        // mlsx creates a group (its own leaf greased) and adds mls-rs; the
        // Welcome's GroupInfo carries a GREASE extension.
        let creator = Identity::basic(cs.as_ref(), b"carol").unwrap().with_grease_extensions();
        let mut mine = Group::create(cs.clone(), creator, b"grease".to_vec(), GroupConfig::default()).unwrap();
        let dave = rs_peer(suite, "dave", &[suite], false);
        let MlsMessageBody::KeyPackage(dkp) = rs_to_ours(&rs_key_package(&dave, false)).body else {
            panic!()
        };
        let out = mine.commit(CommitOptions::add(vec![dkp])).unwrap();
        mine.merge_pending_commit().unwrap();
        let gi = out.group_info.as_ref().unwrap();
        assert!(gi.extensions.iter().any(|e| is_grease(e.extension_type.0)), "GroupInfo GREASE");
        let (mut theirs, _) = dave.join_group(None, &rs_to_peer(out.welcome_message().unwrap()), None).unwrap();
        assert_eq!(mine.epoch_authenticator(), rs_auth(&theirs), "suite {suite}: mls-rs joined");
        rs_messages_both_ways(&mut mine, &mut theirs);

        // mls-rs joins by external commit from mlsx's GroupInfo.
        let erin = rs_peer(suite, "erin", &[suite], false);
        let gi = MlsMessage::new(MlsMessageBody::GroupInfo(mine.group_info().unwrap()));
        let (_, commit) = erin.external_commit_builder().unwrap().build(rs_to_peer(&gi)).unwrap();
        committed(&mut mine, &rs_to_ours(&commit));
        theirs.process_incoming_message(commit).unwrap();
        assert_eq!(mine.epoch_authenticator(), rs_auth(&theirs), "suite {suite}: external join");
    }
}

fn assert_grease_key_package(kp: &XKeyPackage, extensions: bool) {
    let caps = &kp.leaf_node.capabilities;
    assert!(caps.cipher_suites.iter().any(|s| s.is_grease()));
    assert!(caps.extensions.iter().any(|t| is_grease(t.0)));
    assert!(caps.proposals.iter().any(|t| is_grease(t.0)));
    assert!(caps.credentials.iter().any(|t| is_grease(t.0)));
    assert!(!caps.versions.iter().any(|v| is_grease(v.0)), "versions are never greased");
    let greased = |l: &[XExtension]| l.iter().any(|e| is_grease(e.extension_type.0));
    assert_eq!(greased(&kp.extensions), extensions);
    assert_eq!(greased(&kp.leaf_node.extensions), extensions);
}

// ---------------------------------------------------------------------------
// OpenMLS

/// An OpenMLS member: the shared test client and its credential.
struct Peer {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn om_peer(suite: Ciphersuite, name: &str) -> Peer {
    let (c, credential) = common::openmls_client(suite, name);
    Peer {
        provider: c.provider,
        signer: c.signer,
        credential,
    }
}

fn om_to_ours(m: &MlsMessageOut) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn om_to_peer(m: &MlsMessage) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(encode(m).unwrap()).unwrap()
}

fn om_process(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) -> ProcessedMessageContent {
    let msg = om_to_peer(m).try_into_protocol_message().unwrap();
    g.process_message(&p.provider, msg).unwrap().into_content()
}

const OM_SUITES: [(u16, Ciphersuite, Ciphersuite); 3] = [
    (
        1,
        Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
        Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
    ),
    (
        2,
        Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256,
        Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
    ),
    (
        3,
        Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
        Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
    ),
];

/// An OpenMLS group whose creator's leaf lists another suite than the
/// group's (and GREASE values, OpenMLS's `with_grease`): mlsx joins and
/// follows it under the default policy; a strict mlsx member is refused.
/// (OpenMLS itself refuses such leaves from others, so only the creator's
/// leaf can be made this way.)
#[test]
fn leaves_without_the_group_suite_from_openmls() {
    for (id, suite, other) in OM_SUITES {
        let cs = ours(id);
        let alice = om_peer(suite, "alice");
        let caps = Capabilities::builder()
            .ciphersuites(vec![other])
            .with_grease(alice.provider.rand())
            .build();
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(suite)
            .capabilities(caps)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let mut group = MlsGroup::new(&alice.provider, &alice.signer, &config, alice.credential.clone()).unwrap();
        let bob = Identity::basic(cs.as_ref(), b"bob").unwrap().key_package(cs.as_ref()).unwrap();
        let dan = Identity::basic(cs.as_ref(), b"dan").unwrap().key_package(cs.as_ref()).unwrap();
        let kps: Vec<_> = [&bob, &dan]
            .iter()
            .map(|b| {
                KeyPackageIn::tls_deserialize_exact(encode(&b.key_package).unwrap())
                    .unwrap()
                    .validate(alice.provider.crypto(), ProtocolVersion::Mls10)
                    .unwrap()
            })
            .collect();
        let (_, welcome, _) = group.add_members(&alice.provider, &alice.signer, &kps).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        let welcome = om_to_ours(&welcome);
        let mut mine = Group::join(cs.clone(), &welcome, bob, None, GroupConfig::default()).unwrap();
        let (_, alice_leaf) = mine.members().next().unwrap();
        assert!(!alice_leaf.capabilities.cipher_suites.contains(&CipherSuite(id)));
        assert!(alice_leaf.capabilities.cipher_suites.iter().any(|s| s.is_grease()));
        assert_eq!(mine.epoch_authenticator(), group.epoch_authenticator().as_slice(), "suite {id}");
        let e = Group::join(cs.clone(), &welcome, dan, None, strict()).expect_err("strict join refused");
        assert!(is_unsupported_group_parameters(&e), "suite {id}: {e:?}");

        // OpenMLS commits with a path; mlsx follows; and back.
        let bundle = group.self_update(&alice.provider, &alice.signer, Default::default()).unwrap();
        group.merge_pending_commit(&alice.provider).unwrap();
        committed(&mut mine, &om_to_ours(bundle.commit()));
        assert_eq!(mine.epoch_authenticator(), group.epoch_authenticator().as_slice(), "suite {id}");
        let out = mine.commit(CommitOptions::default()).unwrap();
        mine.merge_pending_commit().unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = om_process(&alice, &mut group, &out.commit) else {
            panic!()
        };
        group.merge_staged_commit(&alice.provider, *staged).unwrap();
        assert_eq!(mine.epoch_authenticator(), group.epoch_authenticator().as_slice(), "suite {id}");
    }
}

/// GREASE with OpenMLS, both ways: OpenMLS members whose KeyPackages carry
/// OpenMLS's GREASE (`with_grease`) are added by mlsx; OpenMLS accepts
/// mlsx's default GREASE (capabilities, GroupInfo extensions) in a Welcome
/// and an external join. And the one defect: OpenMLS 0.9 refuses a
/// KeyPackage with a GREASE *extension*, listed as RFC 9420 §10 requires
/// (it compares `ExtensionType::Unknown(v)` from the extension with
/// `ExtensionType::Grease(v)` from the capabilities), which is why mlsx
/// sends GREASE extensions only on request.
#[test]
fn grease_with_openmls() {
    for (id, suite, _) in OM_SUITES {
        let cs = ours(id);
        let creator = Identity::basic(cs.as_ref(), b"alice").unwrap();
        let mut mine = Group::create(cs.clone(), creator, b"grease".to_vec(), GroupConfig::default()).unwrap();
        let bob = om_peer(suite, "bob");
        let caps = Capabilities::builder().with_grease(bob.provider.rand()).build();
        let bundle = KeyPackage::builder()
            .leaf_node_capabilities(caps)
            .build(suite, &bob.provider, &bob.signer, bob.credential.clone())
            .unwrap();
        let kp: XKeyPackage = decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap();
        assert!(kp.leaf_node.capabilities.cipher_suites.iter().any(|s| s.is_grease()));
        assert!(kp.leaf_node.capabilities.credentials.iter().any(|t| is_grease(t.0)));
        let out = mine.commit(CommitOptions::add(vec![kp])).unwrap();
        mine.merge_pending_commit().unwrap();
        assert!(
            out.group_info
                .as_ref()
                .unwrap()
                .extensions
                .iter()
                .any(|e| is_grease(e.extension_type.0))
        );
        let MlsMessageBodyIn::Welcome(welcome) = om_to_peer(out.welcome_message().unwrap()).extract() else {
            panic!()
        };
        let mut theirs = StagedWelcome::new_from_welcome(&bob.provider, &common::openmls_join_config(false), welcome, None)
            .unwrap()
            .into_group(&bob.provider)
            .unwrap();
        assert_eq!(mine.epoch_authenticator(), theirs.epoch_authenticator().as_slice(), "suite {id}");

        // OpenMLS commits (its path leaf keeps its GREASE); mlsx follows.
        let bundle = theirs.self_update(&bob.provider, &bob.signer, Default::default()).unwrap();
        theirs.merge_pending_commit(&bob.provider).unwrap();
        committed(&mut mine, &om_to_ours(bundle.commit()));
        assert_eq!(mine.epoch_authenticator(), theirs.epoch_authenticator().as_slice(), "suite {id}");

        // mlsx's KeyPackage with default GREASE validates in OpenMLS...
        let plain = Identity::basic(cs.as_ref(), b"carol").unwrap().key_package(cs.as_ref()).unwrap();
        assert_grease_key_package(&plain.key_package, false);
        KeyPackageIn::tls_deserialize_exact(encode(&plain.key_package).unwrap())
            .unwrap()
            .validate(bob.provider.crypto(), ProtocolVersion::Mls10)
            .unwrap();
        // ...and one with GREASE extensions does not (OpenMLS 0.9 defect).
        let full = Identity::basic(cs.as_ref(), b"dave")
            .unwrap()
            .with_grease_extensions()
            .key_package(cs.as_ref())
            .unwrap();
        assert_grease_key_package(&full.key_package, true);
        let refused = KeyPackageIn::tls_deserialize_exact(encode(&full.key_package).unwrap())
            .unwrap()
            .validate(bob.provider.crypto(), ProtocolVersion::Mls10);
        assert!(refused.is_err(), "OpenMLS now accepts GREASE extensions: update drafts/interop.md");
    }
}
