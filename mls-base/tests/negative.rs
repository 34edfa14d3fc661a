//! One negative test per MUST of RFC 9420 that a receiver checks (§6, §7.3,
//! §7.9, §10.1, §12.2–§12.4): each builds a valid message, changes the one
//! field the rule is about, re-signs and re-tags it where needed so that
//! only that rule can catch it, and asserts the specific error. Every
//! rejection is also checked to leave the receiver's saved state
//! byte-identical. The table of rules is `drafts/negative-tests.md`; test
//! names start with the section (`s6_1_…` is §6.1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{
    CipherSuite, Commit, Extension, ExtensionType, ExternalPsk, ExternalSender, FramedContent, FramedContentAuthData, FramedContentBody,
    GroupContextExtensions, GroupInfo, KeyPackage, LeafNodeSource, Lifetime, MlsMessage, MlsMessageBody, Node, PreSharedKeyId,
    PreSharedKeyProposal, Proposal, ProposalOrRef, ProtocolVersion, Psk, RatchetTreeNodes, ReInit, Remove, RequiredCapabilities,
    ResumptionPsk, ResumptionPskUsage, Sender, Update, VLBytes, WireFormat, decode, encode, find_extension,
};
use mlsx_base::crypto::{CipherSuiteProvider, LabeledCrypto};
use mlsx_base::group::{CapabilityPolicy, CommitOptions, Group, GroupConfig, Identity, KEY_PACKAGE_TBS_LABEL, LeafError, Received};
use mlsx_base::tree::LEAF_NODE_TBS_LABEL;
use mlsx_base::tree::math::LeafIndex;
use mlsx_base::{CryptoError, Error, PeerError, ProposalListError};

// ---------------------------------------------------------------------
// The builder: a three-member group and ways to forge well-formed messages.

fn suite1() -> Arc<dyn CipherSuiteProvider> {
    Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap())
}

fn config() -> GroupConfig {
    GroupConfig {
        encrypt_handshake: false,
        ..GroupConfig::default()
    }
}

/// Alice (leaf 0), Bob (1) and Carol (2), handshake messages in the clear.
struct Net {
    cs: Arc<dyn CipherSuiteProvider>,
    alice: Group,
    bob: Group,
    carol: Group,
}

fn net_with(extensions: Vec<Extension>) -> Net {
    let cs = suite1();
    let c = cs.as_ref();
    let mut alice = Group::create_with_extensions(
        cs.clone(),
        Identity::basic(c, b"alice").unwrap(),
        b"neg".to_vec(),
        extensions,
        config(),
    )
    .unwrap();
    let bob = Identity::basic(c, b"bob").unwrap().key_package(c).unwrap();
    let carol = Identity::basic(c, b"carol").unwrap().key_package(c).unwrap();
    let out = alice
        .commit(CommitOptions::add(vec![bob.key_package.clone(), carol.key_package.clone()]))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let welcome = out.welcome.unwrap();
    let bob = Group::join(cs.clone(), &welcome, bob, None, config()).unwrap();
    let carol = Group::join(cs.clone(), &welcome, carol, None, config()).unwrap();
    Net { cs, alice, bob, carol }
}

fn net() -> Net {
    net_with(vec![])
}

/// The group's config with the strict capability policy (leaves must list
/// the group's version and suite).
fn strict() -> GroupConfig {
    GroupConfig {
        leaf_capabilities: CapabilityPolicy::Strict,
        ..config()
    }
}

/// `n` with Bob reloaded under `config`.
fn with_bob_config(mut n: Net, config: GroupConfig) -> Net {
    n.bob = Group::load(n.cs.clone(), &n.bob.save().unwrap(), config).unwrap();
    n
}

/// The content and auth data of a PublicMessage.
fn parts(m: &MlsMessage) -> (FramedContent, FramedContentAuthData) {
    match &m.body {
        MlsMessageBody::PublicMessage(p) => (p.content.clone(), p.auth.clone()),
        other => panic!("not a PublicMessage: {:?}", other.wire_format()),
    }
}

/// Frames `content` as a PublicMessage signed with `signer`'s key, with the
/// membership tag of `member`'s epoch when the sender is a member, and
/// `confirmation_tag` for commits.
fn frame(
    cs: &dyn CipherSuiteProvider,
    member: &Group,
    signer: &mlsx_base::crypto::SignaturePrivateKey,
    content: FramedContent,
    confirmation_tag: Option<mlsx_base::codec::Mac>,
) -> MlsMessage {
    let sig = mlsx_base::framing::sign_content(cs, signer, WireFormat::PUBLIC_MESSAGE, &content, member.context()).unwrap();
    let key = matches!(content.sender, Sender::Member(_)).then(|| member.membership_key().as_bytes());
    let pm = mlsx_base::framing::seal_public(
        cs,
        content,
        FramedContentAuthData {
            signature: sig.into(),
            confirmation_tag,
        },
        member.context(),
        key,
    )
    .unwrap();
    MlsMessage::new(MlsMessageBody::PublicMessage(pm))
}

/// A valid commit from Alice (her pending commit is cleared, so she stays
/// at the current epoch).
fn alice_commit(n: &mut Net, options: CommitOptions) -> MlsMessage {
    let m = n.alice.commit(options).unwrap().commit;
    n.alice.clear_pending_commit();
    m
}

/// Alice's commit with its Commit replaced by `edit(commit)`, re-signed and
/// re-tagged by Alice (the old confirmation tag is kept: the rules tested
/// this way are checked before it).
fn forged_commit(n: &mut Net, options: CommitOptions, edit: impl FnOnce(&mut Commit)) -> MlsMessage {
    let m = alice_commit(n, options);
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    edit(c);
    frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag)
}

/// Alice's proposal `p`, as she would send it, then edited.
fn forged_proposal(n: &mut Net, edit: impl FnOnce(&mut FramedContent)) -> MlsMessage {
    let m = n.alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), b"").unwrap();
    let (mut content, _) = parts(&m);
    edit(&mut content);
    frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, None)
}

/// `g` rejects `m`, and its saved state is unchanged. An observer at the
/// same state (a copy of `g`'s public part) rejects it too, for the same
/// reason and unchanged, unless the reason needs the epoch's secrets
/// ([`only_members_see`]).
fn rejects(g: &mut Group, m: &MlsMessage) -> Error {
    let before = g.save().unwrap();
    let mut observer = g.public().clone();
    let observed = observer.save().unwrap();
    let err = match g.process_message(m) {
        Ok(_) => panic!("the message was accepted"),
        Err(e) => e,
    };
    assert!(g.save().unwrap() == before, "a rejected message changed the state");
    match observer.process_message(m) {
        Err(e) => {
            assert!(observer.save().unwrap() == observed, "a rejected message changed the observer");
            let private = matches!(m.body, MlsMessageBody::PrivateMessage(_));
            assert!(
                private || only_members_see(&err) || format!("{e:?}") == format!("{err:?}"),
                "the member refused with {err:?}, the observer with {e:?}"
            );
        }
        Ok(_) => assert!(only_members_see(&err), "the member refused ({err:?}) what an observer accepted"),
    }
    err
}

/// Reasons to refuse that only a member can find: they need the epoch's
/// secrets or the member's own keys and proposals.
fn only_members_see(e: &Error) -> bool {
    matches!(
        e,
        Error::Peer(
            PeerError::InvalidConfirmationTag
                | PeerError::InvalidMembershipTag
                | PeerError::MissingPsk
                | PeerError::PathKeyMismatch
                | PeerError::InvalidProposals(ProposalListError::UnknownUpdateForUs)
        ) | Error::Crypto(CryptoError::DecryptionFailed)
            | Error::Misuse(mlsx_base::MisuseError::OwnCommit)
    )
}

macro_rules! assert_peer {
    ($err:expr, $pat:pat) => {{
        let e = $err;
        assert!(matches!(e, Error::Peer($pat)), "got {e:?}");
    }};
}

macro_rules! assert_leaf {
    ($err:expr, $pat:pat) => {{
        let e = $err;
        assert!(matches!(e, Error::Peer(PeerError::InvalidLeaf($pat))), "got {e:?}");
    }};
}

macro_rules! assert_list {
    ($err:expr, $pat:pat) => {{
        let e = $err;
        assert!(matches!(e, Error::Peer(PeerError::InvalidProposals($pat))), "got {e:?}");
    }};
}

/// A KeyPackage for `name`, edited by `edit`, then re-signed (leaf and
/// package) with its own key, so that only the edited field is wrong.
fn key_package(cs: &dyn CipherSuiteProvider, name: &[u8], edit: impl FnOnce(&mut KeyPackage)) -> KeyPackage {
    let id = Identity::basic(cs, name).unwrap();
    let mut kp = id.key_package(cs).unwrap().key_package;
    edit(&mut kp);
    resign(cs, &mut kp, &id.signer);
    kp
}

fn resign(cs: &dyn CipherSuiteProvider, kp: &mut KeyPackage, sk: &mlsx_base::crypto::SignaturePrivateKey) {
    if let Ok(tbs) = kp.leaf_node.tbs(None) {
        kp.leaf_node.signature = cs.sign_with_label(sk, LEAF_NODE_TBS_LABEL, &tbs).unwrap().into();
    }
    kp.signature = cs.sign_with_label(sk, KEY_PACKAGE_TBS_LABEL, &kp.tbs().unwrap()).unwrap().into();
}

/// Alice commits an Add of a valid KeyPackage; Bob receives the commit
/// with that Add's KeyPackage replaced by `kp`.
fn add_commit_with(n: &mut Net, kp: KeyPackage) -> MlsMessage {
    let c = n.cs.clone();
    let valid = Identity::basic(c.as_ref(), b"dave").unwrap().key_package(c.as_ref()).unwrap();
    forged_commit(n, CommitOptions::add(vec![valid.key_package]), |commit| replace_added(commit, &kp))
}

/// A PreSharedKeyId of a resumption PSK of this group, epoch 1.
fn resumption_psk(usage: ResumptionPskUsage) -> PreSharedKeyId {
    PreSharedKeyId {
        psk: Psk::Resumption(ResumptionPsk {
            usage,
            psk_group_id: b"neg".to_vec().into(),
            psk_epoch: 1,
        }),
        psk_nonce: vec![1; 32].into(),
    }
}

/// Re-signs a GroupInfo of the group with Alice's key.
fn resign_group_info(n: &Net, gi: &mut GroupInfo) {
    gi.signature =
        n.cs.sign_with_label(&n.alice.identity().signer, b"GroupInfoTBS", &gi.tbs().unwrap())
            .unwrap()
            .into();
}

/// Replaces the KeyPackage of every Add of `commit` by `kp`.
fn replace_added(commit: &mut Commit, kp: &KeyPackage) {
    for p in &mut commit.proposals {
        if let ProposalOrRef::Proposal(Proposal::Add(a)) = p {
            *a.key_package = kp.clone();
        }
    }
}

/// A `required_capabilities` extension requiring extension type `t`.
fn requiring(t: ExtensionType) -> Extension {
    let required = RequiredCapabilities {
        extension_types: vec![t],
        proposal_types: vec![],
        credential_types: vec![],
    };
    Extension {
        extension_type: ExtensionType::REQUIRED_CAPABILITIES,
        extension_data: encode(&required).unwrap().into(),
    }
}

/// A basic identity whose capabilities list `extensions`.
fn supporting(cs: &dyn CipherSuiteProvider, name: &[u8], extensions: &[ExtensionType]) -> Identity {
    let mut id = Identity::basic(cs, name).unwrap();
    id.capabilities.extensions.extend_from_slice(extensions);
    id
}

fn by_value(p: Proposal) -> CommitOptions {
    CommitOptions {
        proposals: vec![p],
        ..CommitOptions::default()
    }
}

fn psk_id(nonce_len: usize) -> PreSharedKeyId {
    PreSharedKeyId {
        psk: Psk::External(ExternalPsk {
            psk_id: b"psk".to_vec().into(),
        }),
        psk_nonce: vec![7; nonce_len].into(),
    }
}

// ---------------------------------------------------------------------
// §6 Framing

#[test]
fn s6_message_version_must_be_mls10() {
    let mut n = net();
    let mut m = alice_commit(&mut n, CommitOptions::default());
    m.version = ProtocolVersion(2);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnsupportedVersion(2));
}

#[test]
fn s6_welcome_version_must_be_mls10() {
    let n = net();
    let c = n.cs.as_ref();
    let mut alice = n.alice;
    let dave = Identity::basic(c, b"dave").unwrap().key_package(c).unwrap();
    let mut welcome = alice
        .commit(CommitOptions::add(vec![dave.key_package.clone()]))
        .unwrap()
        .welcome
        .unwrap();
    welcome.version = ProtocolVersion(0x0200);
    let err = Group::join(n.cs.clone(), &welcome, dave, None, config()).err().unwrap();
    assert_peer!(err, PeerError::UnsupportedVersion(0x0200));
}

#[test]
fn s6_group_id_must_match() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.group_id = b"another group".to_vec().into());
    assert_peer!(rejects(&mut n.bob, &m), PeerError::WrongGroupId);
}

#[test]
fn s6_epoch_must_match() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.epoch += 1);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::WrongEpoch { .. });
}

#[test]
fn s6_application_data_must_not_be_a_public_message() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.body = FramedContentBody::Application(b"hi".to_vec().into()));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidWireFormatForContent);
}

#[test]
fn s6_1_member_sender_must_be_a_member() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::Member(LeafIndex(3)));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnknownSender);
}

#[test]
fn s6_1_signature_must_verify() {
    let mut n = net();
    let m = n.alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), b"").unwrap();
    let (content, _) = parts(&m);
    // Signed by Carol's key, claimed by Alice: the membership tag is right.
    let carol_sk = n.carol.identity().signer.duplicate();
    let m = frame(n.cs.as_ref(), &n.alice, &carol_sk, content, None);
    let e = rejects(&mut n.bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "got {e:?}");
}

#[test]
fn s6_1_external_sender_needs_the_extension() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::External(0));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnknownSender);
}

#[test]
fn s6_1_external_sender_may_only_propose() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    content.sender = Sender::External(0);
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidSender);
}

#[test]
fn s6_1_external_sender_may_not_send_an_update() {
    let cs = suite1();
    let ds = Identity::basic(cs.as_ref(), b"ds").unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds.signature_key.clone().into(),
        credential: ds.credential.clone(),
    }];
    let ext = Extension {
        extension_type: ExtensionType::EXTERNAL_SENDERS,
        extension_data: encode(&senders).unwrap().into(),
    };
    let mut n = net_with(vec![ext]);
    let leaf = n.bob.tree().leaf(LeafIndex(1)).unwrap().clone();
    let m = forged_proposal(&mut n, |c| {
        c.sender = Sender::External(0);
        c.body = FramedContentBody::Proposal(Proposal::Update(Update::new(leaf)));
    });
    let (content, _) = parts(&m);
    let m = frame(cs.as_ref(), &n.alice, &ds.signer, content, None);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::ProposalSenderNotAllowed(0x0002));
}

#[test]
fn s6_1_new_member_may_only_propose_an_add() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::NewMemberProposal);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::ProposalSenderNotAllowed(0x0003));
}

#[test]
fn s6_1_confirmation_tag_must_verify() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (content, auth) = parts(&m);
    let mut tag = auth.confirmation_tag.unwrap();
    let mut bytes = tag.as_slice().to_vec();
    bytes[0] ^= 1;
    tag = bytes.into();
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, Some(tag));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidConfirmationTag);
}

#[test]
fn s6_2_membership_tag_must_verify() {
    let mut n = net();
    let mut m = n.alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), b"").unwrap();
    let MlsMessageBody::PublicMessage(pm) = &mut m.body else {
        unreachable!()
    };
    let mut tag = pm.membership_tag.clone().unwrap().as_slice().to_vec();
    tag[3] ^= 0x40;
    pm.membership_tag = Some(tag.into());
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidMembershipTag);
}

/// From 256 KiB of content the membership tag and the signature are
/// checked side by side; the outcome must be the same as in order: a bad
/// tag is reported as such even when the signature is bad too.
#[test]
fn s6_2_large_messages_are_checked_as_small_ones() {
    let mut n = net();
    let big = vec![0x5a; 300 * 1024];
    let m = n.alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), &big).unwrap();
    // Signed by Carol's key, claimed by Alice, tagged right (the tag covers
    // the signature, RFC 9420 §6.2): only the signature is wrong.
    let (content, _) = parts(&m);
    let carol_sk = n.carol.identity().signer.duplicate();
    let bad_signature = frame(n.cs.as_ref(), &n.alice, &carol_sk, content, None);
    let bad_tag = |m: &MlsMessage| {
        let mut m = m.clone();
        let MlsMessageBody::PublicMessage(pm) = &mut m.body else {
            unreachable!()
        };
        let mut t = pm.membership_tag.clone().unwrap().as_slice().to_vec();
        t[3] ^= 0x40;
        pm.membership_tag = Some(t.into());
        m
    };
    assert_peer!(rejects(&mut n.bob, &bad_tag(&m)), PeerError::InvalidMembershipTag);
    assert_peer!(rejects(&mut n.bob, &bad_tag(&bad_signature)), PeerError::InvalidMembershipTag);
    let e = rejects(&mut n.bob, &bad_signature);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "got {e:?}");
    assert!(matches!(n.bob.process_message(&m).unwrap(), Received::Proposal(_)));
}

// ---------------------------------------------------------------------
// §7.3 Leaf node validation and §10.1 KeyPackage validation, through Adds

#[test]
fn s10_1_key_package_signature_must_verify() {
    let mut n = net();
    let mut kp = key_package(n.cs.as_ref(), b"dave", |_| {});
    let mut sig = kp.signature.as_slice().to_vec();
    sig[0] ^= 1;
    kp.signature = sig.into();
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidKeyPackageSignature);
}

#[test]
fn s7_3_key_package_leaf_signature_must_verify() {
    let mut n = net();
    let cs = n.cs.clone();
    let id = Identity::basic(cs.as_ref(), b"dave").unwrap();
    let mut kp = id.key_package(cs.as_ref()).unwrap().key_package;
    kp.leaf_node.extensions.push(Extension {
        extension_type: ExtensionType::APPLICATION_ID,
        extension_data: b"changed after signing".to_vec().into(),
    });
    // Only the package is re-signed: the leaf signature no longer covers it.
    kp.signature = cs
        .sign_with_label(&id.signer, KEY_PACKAGE_TBS_LABEL, &kp.tbs().unwrap())
        .unwrap()
        .into();
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidKeyPackageLeafSignature);
}

#[test]
fn s10_1_key_package_suite_must_match() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.cipher_suite = CipherSuite(3));
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::KeyPackageMismatch);
}

#[test]
fn s10_1_key_package_version_must_match() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.version = ProtocolVersion(2));
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::KeyPackageMismatch);
}

#[test]
fn s10_1_init_key_must_differ_from_encryption_key() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.init_key = kp.leaf_node.encryption_key.clone());
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InitKeyReused);
}

#[test]
fn s10_key_package_grease_extensions_are_ignored() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.extensions.push(Extension {
            extension_type: ExtensionType(0x3a3a),
            extension_data: b"grease".to_vec().into(),
        });
        // An unknown type, unlisted: ignored as well.
        kp.extensions.push(Extension {
            extension_type: ExtensionType(0xff01),
            extension_data: VLBytes::default(),
        });
    });
    // The rule is not what rejects this commit (its path was encrypted for
    // the original KeyPackage): any error but an extension one.
    let m = add_commit_with(&mut n, kp);
    let e = rejects(&mut n.bob, &m);
    assert!(
        !matches!(e, Error::Peer(PeerError::InvalidLeaf(LeafError::UnlistedExtension(_)))),
        "got {e:?}"
    );
}

#[test]
fn s7_3_key_package_leaf_source_must_be_key_package() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.leaf_node.leaf_node_source = LeafNodeSource::Update);
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::WrongSource);
}

/// Under the strict capability policy only: RFC 9420 does not make the
/// listing a MUST (see `CapabilityPolicy`), and the default policy accepts
/// such leaves (`capabilities_without_group_suite_accepted_by_default`).
#[test]
fn s7_3_capabilities_must_include_group_suite() {
    let mut n = with_bob_config(net(), strict());
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.capabilities.cipher_suites = vec![CipherSuite(3)]
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::UnsupportedGroupParameters);
}

#[test]
fn s7_3_capabilities_must_include_group_version() {
    let mut n = with_bob_config(net(), strict());
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.capabilities.versions = vec![ProtocolVersion(2)]
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::UnsupportedGroupParameters);
}

#[test]
fn s7_3_required_capabilities_must_be_supported() {
    let ext = requiring(ExtensionType(0xff02));
    // Every member supports 0xff02; Dave does not.
    let cs = suite1();
    let c = cs.as_ref();
    let with = |name: &[u8]| supporting(c, name, &[ExtensionType(0xff02)]);
    let mut alice = Group::create_with_extensions(cs.clone(), with(b"alice"), b"neg".to_vec(), vec![ext], config()).unwrap();
    let bob = with(b"bob").key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, config()).unwrap();
    let carol = with(b"carol");
    let mut n = Net {
        cs: cs.clone(),
        alice,
        bob,
        carol: Group::create(cs.clone(), carol, b"unused".to_vec(), config()).unwrap(),
    };
    let kp = key_package(c, b"dave", |_| {});
    let valid = with(b"erin").key_package(c).unwrap();
    let m = forged_commit(&mut n, CommitOptions::add(vec![valid.key_package]), |commit| {
        replace_added(commit, &kp)
    });
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::MissingRequiredCapability);
}

#[test]
fn s7_3_leaf_must_support_credentials_in_use() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.capabilities.credentials = vec![mlsx_base::codec::CredentialType::X509]
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::MissingCredentialSupport(_));
}

#[test]
fn s7_3_lifetime_must_cover_now() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.leaf_node_source = LeafNodeSource::KeyPackage(Lifetime {
            not_before: 0,
            not_after: 1_000,
        })
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::Expired);
}

#[test]
fn s7_3_leaf_extensions_must_be_in_capabilities() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.extensions.push(Extension {
            extension_type: ExtensionType(0xff03),
            extension_data: VLBytes::default(),
        })
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::UnlistedExtension(ExtensionType(0xff03)));
}

#[test]
fn s7_3_signature_key_must_be_unique() {
    let mut n = net();
    let cs = n.cs.clone();
    let carol_sk = n.carol.identity().signer.duplicate();
    let carol_pk = n.carol.identity().signature_key.clone();
    let id = Identity::basic(cs.as_ref(), b"dave").unwrap();
    let mut kp = id.key_package(cs.as_ref()).unwrap().key_package;
    kp.leaf_node.signature_key = carol_pk.into();
    resign(cs.as_ref(), &mut kp, &carol_sk);
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::DuplicateSignatureKey);
}

#[test]
fn s7_3_encryption_key_must_be_unique() {
    let mut n = net();
    let carol_key = n.bob.tree().leaf(LeafIndex(2)).unwrap().encryption_key.clone();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.leaf_node.encryption_key = carol_key);
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::DuplicateEncryptionKey);
}

/// Carol proposes an Update whose leaf is edited by `edit` (and re-signed);
/// Bob caches it. Returns its reference.
fn bad_update(n: &mut Net, edit: impl FnOnce(&mut mlsx_base::codec::LeafNode)) -> mlsx_base::codec::ProposalRef {
    let cs = n.cs.clone();
    let m = n.carol.propose_update().unwrap();
    let (mut content, _) = parts(&m);
    let FramedContentBody::Proposal(Proposal::Update(u)) = &mut content.body else {
        unreachable!()
    };
    edit(&mut u.leaf_node);
    let tbs = u.leaf_node.tbs(Some((b"neg".as_slice(), LeafIndex(2)))).unwrap();
    u.leaf_node.signature = cs
        .sign_with_label(&n.carol.identity().signer, LEAF_NODE_TBS_LABEL, &tbs)
        .unwrap()
        .into();
    let m = frame(cs.as_ref(), &n.carol, &n.carol.identity().signer.duplicate(), content, None);
    let Received::Proposal(cached) = n.bob.process_message(&m).unwrap() else {
        panic!()
    };
    cached.reference
}

/// Alice's commit (forged) of the proposals `refs`, by reference.
fn commit_of_refs(n: &mut Net, refs: &[&mlsx_base::codec::ProposalRef]) -> MlsMessage {
    forged_commit(n, CommitOptions::default(), |c| {
        c.proposals = refs.iter().map(|r| ProposalOrRef::Reference((*r).clone())).collect()
    })
}

/// Carol's Update edited by `edit`, cached by Bob, committed by Alice.
fn commit_of_bad_update(n: &mut Net, edit: impl FnOnce(&mut mlsx_base::codec::LeafNode)) -> MlsMessage {
    let r = bad_update(n, edit);
    commit_of_refs(n, &[&r])
}

#[test]
fn s7_3_two_updates_must_not_share_an_encryption_key() {
    // Bob proposes an Update; Carol, who sees it, proposes one with Bob's
    // new encryption key. Each is valid against the tree before the commit,
    // but together they would leave two leaves with one key.
    let mut n = net();
    let bob_update = n.bob.propose_update().unwrap();
    let (content, _) = parts(&bob_update);
    let FramedContentBody::Proposal(Proposal::Update(u)) = &content.body else {
        unreachable!()
    };
    let bob_key = u.leaf_node.encryption_key.clone();
    let Received::Proposal(bob_ref) = n.alice.process_message(&bob_update).unwrap() else {
        panic!()
    };
    let carol_ref = bad_update(&mut n, |l| l.encryption_key = bob_key);
    // On its own, Carol's Update passes the proposal checks; the forged
    // commit fails later, at the path built for another proposal list.
    let alone = commit_of_refs(&mut n, &[&carol_ref]);
    assert_peer!(rejects(&mut n.bob, &alone), PeerError::LeafParentHashMismatch);
    let m = commit_of_refs(&mut n, &[&bob_ref.reference, &carol_ref]);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::DuplicateEncryptionKey);
}

#[test]
fn s7_3_update_leaf_source_must_be_update() {
    let mut n = net();
    let m = commit_of_bad_update(&mut n, |l| {
        l.leaf_node_source = LeafNodeSource::KeyPackage(Lifetime {
            not_before: 0,
            not_after: u64::MAX,
        })
    });
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::WrongSource);
}

#[test]
fn s7_3_update_must_change_the_encryption_key() {
    let mut n = net();
    let old = n.bob.tree().leaf(LeafIndex(2)).unwrap().encryption_key.clone();
    let m = commit_of_bad_update(&mut n, |l| l.encryption_key = old);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::EncryptionKeyNotChanged);
}

#[test]
fn s7_3_update_leaf_signature_must_verify() {
    let mut n = net();
    let m = n.carol.propose_update().unwrap();
    let (mut content, _) = parts(&m);
    let FramedContentBody::Proposal(Proposal::Update(u)) = &mut content.body else {
        unreachable!()
    };
    u.leaf_node.extensions.push(Extension {
        extension_type: ExtensionType::APPLICATION_ID,
        extension_data: b"not signed".to_vec().into(),
    });
    let sk = n.carol.identity().signer.duplicate();
    let m = frame(n.cs.as_ref(), &n.carol, &sk, content, None);
    let Received::Proposal(cached) = n.bob.process_message(&m).unwrap() else {
        panic!()
    };
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.proposals = vec![ProposalOrRef::Reference(cached.reference.clone())]
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidLeafSignature(2));
}

// ---------------------------------------------------------------------
// §12.2 Proposal list validation (regular commits)

#[test]
fn s12_2_committer_must_not_remove_itself() {
    let mut n = net();
    let m = forged_commit(&mut n, by_value(Proposal::Remove(Remove { removed: LeafIndex(1) })), |c| {
        c.proposals = vec![ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(0) }))]
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::RemoveOfCommitter);
}

#[test]
fn s12_2_committer_must_not_update_itself() {
    let mut n = net();
    let leaf = n.bob.tree().leaf(LeafIndex(0)).unwrap().clone();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.proposals = vec![ProposalOrRef::Proposal(Proposal::Update(Update::new(leaf)))]
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::UpdateFromCommitter);
}

#[test]
fn s12_2_one_change_per_leaf() {
    let mut n = net();
    let r = ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(2) }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![r.clone(), r.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::MultipleChangesToLeaf);
}

#[test]
fn s12_2_remove_must_name_a_member() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.proposals = vec![ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(3) }))]
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::RemoveOfBlankLeaf);
}

#[test]
fn s12_2_no_duplicate_psk() {
    let mut n = net();
    let p = ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: psk_id(32) }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone(), p.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::DuplicatePsk);
}

#[test]
fn s12_1_4_psk_nonce_must_have_hash_length() {
    let mut n = net();
    let p = ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: psk_id(16) }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone()]);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidPskNonce(16));
}

#[test]
fn s12_1_4_reinit_psk_not_in_a_regular_commit() {
    let mut n = net();
    let id = resumption_psk(ResumptionPskUsage::REINIT);
    let p = ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: id }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ResumptionPskUsageNotAllowed);
}

#[test]
fn s12_2_at_most_one_group_context_extensions() {
    let mut n = net();
    let p = ProposalOrRef::Proposal(Proposal::GroupContextExtensions(GroupContextExtensions { extensions: vec![] }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone(), p.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::MultipleGroupContextExtensions);
}

fn reinit(n: &Net, version: ProtocolVersion) -> Proposal {
    Proposal::ReInit(ReInit {
        group_id: b"next".to_vec().into(),
        version,
        cipher_suite: n.cs.cipher_suite(),
        extensions: vec![],
    })
}

#[test]
fn s12_2_reinit_must_be_alone() {
    let mut n = net();
    let ri = ProposalOrRef::Proposal(reinit(&n, ProtocolVersion::MLS10));
    let rm = ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(2) }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![ri.clone(), rm.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ReInitNotAlone);
}

#[test]
fn s12_1_5_reinit_must_not_downgrade() {
    let mut n = net();
    let ri = ProposalOrRef::Proposal(reinit(&n, ProtocolVersion(0)));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![ri.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ReInitToOlderVersion);
}

#[test]
fn s12_2_no_external_init_in_a_member_commit() {
    let mut n = net();
    let p = ProposalOrRef::Proposal(Proposal::ExternalInit(mlsx_base::codec::ExternalInit {
        kem_output: vec![9; 32].into(),
    }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalInitInRegularCommit);
}

#[test]
fn s12_4_2_proposal_references_must_be_known() {
    let mut n = net();
    let unknown = ProposalOrRef::Reference(vec![0x55; 32].into());
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![unknown.clone()]);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnknownProposalRef);
}

#[test]
fn s12_4_2_path_required_for_remove() {
    let mut n = net();
    let m = forged_commit(&mut n, by_value(Proposal::Remove(Remove { removed: LeafIndex(2) })), |c| {
        c.path = None
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingPath);
}

#[test]
fn s12_4_2_path_required_for_empty_commit() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.path = None);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingPath);
}

// ---------------------------------------------------------------------
// §12.4.2 UpdatePath checks, §7.9.2 parent hash of the committer's leaf

/// Re-signs the committer's (leaf 0) path leaf after an edit.
fn resign_path_leaf(n: &Net, c: &mut Commit) {
    let path = c.path.as_mut().unwrap();
    let tbs = path.leaf_node.tbs(Some((b"neg".as_slice(), LeafIndex(0)))).unwrap();
    path.leaf_node.signature =
        n.cs.sign_with_label(&n.alice.identity().signer, LEAF_NODE_TBS_LABEL, &tbs)
            .unwrap()
            .into();
}

#[test]
fn s12_4_2_path_leaf_must_change_encryption_key() {
    let mut n = net();
    let old = n.bob.tree().leaf(LeafIndex(0)).unwrap().encryption_key.clone();
    let mut m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    c.path.as_mut().unwrap().leaf_node.encryption_key = old;
    resign_path_leaf(&n, c);
    m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::EncryptionKeyNotChanged);
}

#[test]
fn s12_4_2_path_leaf_source_must_be_commit() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    c.path.as_mut().unwrap().leaf_node.leaf_node_source = LeafNodeSource::Update;
    resign_path_leaf(&n, c);
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::WrongSource);
}

#[test]
fn s12_4_2_path_leaf_signature_must_verify() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.path.as_mut().unwrap().leaf_node.extensions.push(Extension {
            extension_type: ExtensionType::APPLICATION_ID,
            extension_data: b"unsigned".to_vec().into(),
        })
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidLeafSignature(0));
}

#[test]
fn s12_4_2_path_keys_must_be_new() {
    let mut n = net();
    let carol_key = n.bob.tree().leaf(LeafIndex(2)).unwrap().encryption_key.clone();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.path.as_mut().unwrap().nodes[0].encryption_key = carol_key.clone()
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::KeyAlreadyInTree);
}

#[test]
fn s12_4_2_path_keys_must_be_distinct() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        let p = c.path.as_mut().unwrap();
        p.nodes[1].encryption_key = p.nodes[0].encryption_key.clone();
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::KeyAlreadyInTree);
}

#[test]
fn s12_4_2_path_must_fit_the_filtered_direct_path() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.path.as_mut().unwrap().nodes.pop();
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidUpdatePath);
}

#[test]
fn s7_9_2_committer_leaf_parent_hash_must_match() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    c.path.as_mut().unwrap().leaf_node.leaf_node_source = LeafNodeSource::Commit(vec![0x11; 32].into());
    resign_path_leaf(&n, c);
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::LeafParentHashMismatch);
}

// ---------------------------------------------------------------------
// §12.2 and §12.4.3.2 External commits

/// A valid external commit by Dave, its content, and Dave's signer.
fn external_commit(n: &Net) -> (FramedContent, FramedContentAuthData, mlsx_base::crypto::SignaturePrivateKey) {
    let gi = n.alice.group_info().unwrap();
    let dave = Identity::basic(n.cs.as_ref(), b"dave").unwrap();
    let sk = dave.signer.duplicate();
    let (_, m) = Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).unwrap();
    let (content, auth) = parts(&m);
    (content, auth, sk)
}

fn forged_external(n: &Net, edit: impl FnOnce(&mut Commit)) -> MlsMessage {
    let (mut content, auth, sk) = external_commit(n);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    edit(c);
    frame(n.cs.as_ref(), &n.alice, &sk, content, auth.confirmation_tag)
}

#[test]
fn s12_2_external_commit_accepted_as_built() {
    // The forging itself leaves a valid external commit valid.
    let mut n = net();
    let m = forged_external(&n, |_| {});
    assert!(matches!(n.bob.process_message(&m).unwrap(), Received::Commit(_)));
}

#[test]
fn s12_2_external_commit_needs_external_init() {
    let mut n = net();
    let m = forged_external(&n, |c| {
        c.proposals
            .retain(|p| !matches!(p, ProposalOrRef::Proposal(Proposal::ExternalInit(_))))
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalCommitWithoutExternalInit);
}

#[test]
fn s12_2_external_commit_one_external_init() {
    let mut n = net();
    let m = forged_external(&n, |c| {
        let first = c.proposals[0].clone();
        c.proposals.push(first);
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalCommitProposalNotAllowed);
}

#[test]
fn s12_2_external_commit_no_add() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"erin", |_| {});
    let m = forged_external(&n, |c| {
        c.proposals
            .push(ProposalOrRef::Proposal(Proposal::Add(mlsx_base::codec::Add::new(kp))))
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalCommitProposalNotAllowed);
}

#[test]
fn s12_4_3_2_external_commit_no_references() {
    let mut n = net();
    // A proposal Bob knows, so that only the by-reference rule applies.
    let p = n.carol.propose(Proposal::Remove(Remove { removed: LeafIndex(1) }), b"").unwrap();
    let Received::Proposal(cached) = n.bob.process_message(&p).unwrap() else {
        panic!()
    };
    let m = forged_external(&n, |c| c.proposals.push(ProposalOrRef::Reference(cached.reference.clone())));
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalCommitByReference);
}

#[test]
fn s12_4_3_2_external_commit_needs_a_path() {
    let mut n = net();
    let m = forged_external(&n, |c| c.path = None);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingPath);
}

#[test]
fn s12_1_4_external_commit_no_branch_psk() {
    let mut n = net();
    let id = resumption_psk(ResumptionPskUsage::BRANCH);
    let m = forged_external(&n, |c| {
        c.proposals
            .push(ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: id })))
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ResumptionPskUsageNotAllowed);
}

#[test]
fn s12_4_3_2_external_commit_signature_must_verify() {
    let mut n = net();
    let (content, auth, _) = external_commit(&n);
    let other = Identity::basic(n.cs.as_ref(), b"mallory").unwrap();
    let m = frame(n.cs.as_ref(), &n.alice, &other.signer, content, auth.confirmation_tag);
    let e = rejects(&mut n.bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "got {e:?}");
}

// ---------------------------------------------------------------------
// §12.4.3 GroupInfo and §12.4.3.1 joining: trees that fail the joiner's checks

/// Alice's GroupInfo with its ratchet tree edited by `edit`, the tree hash
/// recomputed and the GroupInfo re-signed by Alice; Dave joins by
/// external commit with it.
fn join_with_tree(n: &Net, edit: impl FnOnce(&mut RatchetTreeNodes)) -> Error {
    match join_with_tree_config(n, config(), edit) {
        Ok(_) => panic!("the joiner accepted the tree"),
        Err(e) => e,
    }
}

/// As [`join_with_tree`], with the joiner's config given and its outcome.
fn join_with_tree_config(n: &Net, config: GroupConfig, edit: impl FnOnce(&mut RatchetTreeNodes)) -> Result<Group, Error> {
    let cs = n.cs.as_ref();
    let mut gi: GroupInfo = n.alice.group_info().unwrap();
    let ext = find_extension(&gi.extensions, ExtensionType::RATCHET_TREE).unwrap();
    let mut nodes: RatchetTreeNodes = decode(ext.extension_data.as_slice()).unwrap();
    edit(&mut nodes);
    let mut tree = mlsx_base::tree::RatchetTree::from_nodes(nodes.clone()).unwrap();
    gi.group_context.tree_hash = tree.tree_hash(cs).unwrap().into();
    for e in &mut gi.extensions {
        if e.extension_type == ExtensionType::RATCHET_TREE {
            e.extension_data = encode(&nodes).unwrap().into();
        }
    }
    resign_group_info(n, &mut gi);
    let dave = Identity::basic(cs, b"dave").unwrap();
    Group::join_external(n.cs.clone(), &gi, None, dave, None, config).map(|(g, _)| g)
}

/// Alice's group after a commit from Alice (so parent nodes are set).
fn net_with_parents() -> Net {
    let mut n = net();
    let m = n.alice.commit(CommitOptions::default()).unwrap().commit;
    n.alice.merge_pending_commit().unwrap();
    for g in [&mut n.bob, &mut n.carol] {
        let Received::Commit(s) = g.process_message(&m).unwrap() else {
            panic!()
        };
        g.merge_staged_commit(s).unwrap();
    }
    n
}

fn parent(nodes: &mut RatchetTreeNodes, i: usize) -> &mut mlsx_base::codec::ParentNode {
    match nodes[i].as_mut() {
        Some(Node::Parent(p)) => p,
        _ => panic!("node {i} is not a parent"),
    }
}

#[test]
fn s12_4_3_group_info_signature_must_verify() {
    let n = net();
    let mut gi = n.alice.group_info().unwrap();
    gi.group_context.epoch += 1;
    let dave = Identity::basic(n.cs.as_ref(), b"dave").unwrap();
    let e = Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("signature"));
}

#[test]
fn s12_4_3_1_unmerged_leaf_must_be_below_its_parent() {
    let n = net_with_parents();
    // Node 1 is the parent of leaves 0 and 1; leaf 2 is not below it.
    let e = join_with_tree(&n, |nodes| parent(nodes, 1).unmerged_leaves.push(LeafIndex(2)));
    assert_peer!(e, PeerError::InvalidUnmergedLeaf { parent: 1, leaf: 2 });
}

#[test]
fn s12_4_3_1_unmerged_leaf_must_not_be_blank() {
    let n = net_with_parents();
    // Leaf 3 is blank (three members); node 3, the root, is above it.
    let e = join_with_tree(&n, |nodes| {
        if let Some(Some(Node::Parent(p))) = nodes.get_mut(3) {
            p.unmerged_leaves.push(LeafIndex(3));
        }
    });
    assert_peer!(e, PeerError::InvalidUnmergedLeaf { parent: 3, leaf: 3 });
}

#[test]
fn s12_4_3_1_unmerged_leaf_listed_on_the_way_up() {
    let n = net_with_parents();
    // Root (3) lists leaf 0 as unmerged, but node 1 between them does not.
    let e = join_with_tree(&n, |nodes| parent(nodes, 3).unmerged_leaves.push(LeafIndex(0)));
    assert_peer!(e, PeerError::InvalidUnmergedLeaf { parent: 3, leaf: 0 });
}

#[test]
fn s12_4_3_1_parent_keys_must_be_unique() {
    let n = net_with_parents();
    let e = join_with_tree(&n, |nodes| {
        let k = parent(nodes, 1).encryption_key.clone();
        parent(nodes, 3).encryption_key = k;
    });
    assert_peer!(e, PeerError::DuplicateTreeKey { first: 1, second: 3 });
}

#[test]
fn s7_9_2_joiner_checks_parent_hashes() {
    let n = net_with_parents();
    let e = join_with_tree(&n, |nodes| parent(nodes, 1).parent_hash = vec![0x22; 32].into());
    assert_peer!(e, PeerError::InvalidParentHash(_));
}

#[test]
fn s12_4_3_3_tree_must_not_end_blank() {
    let n = net_with_parents();
    let e = join_with_tree_raw(&n, |nodes| nodes.push(None));
    assert_peer!(e, PeerError::MalformedTree(_));
}

/// Like [`join_with_tree`] without rebuilding the tree first (for trees
/// that do not parse); the tree hash is left as it was.
fn join_with_tree_raw(n: &Net, edit: impl FnOnce(&mut RatchetTreeNodes)) -> Error {
    let cs = n.cs.as_ref();
    let mut gi: GroupInfo = n.alice.group_info().unwrap();
    let mut edit = Some(edit);
    for e in &mut gi.extensions {
        if e.extension_type == ExtensionType::RATCHET_TREE {
            let mut nodes: RatchetTreeNodes = decode(e.extension_data.as_slice()).unwrap();
            if let Some(f) = edit.take() {
                f(&mut nodes);
            }
            e.extension_data = encode(&nodes).unwrap().into();
        }
    }
    resign_group_info(n, &mut gi);
    let dave = Identity::basic(cs, b"dave").unwrap();
    Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).err().unwrap()
}

#[test]
fn s12_4_3_1_tree_hash_must_match() {
    let n = net_with_parents();
    let e = join_with_tree_raw(&n, |nodes| parent(nodes, 1).parent_hash = vec![0x33; 32].into());
    assert_peer!(e, PeerError::InvalidGroupInfo("tree hash"));
}

#[test]
fn s12_4_3_1_welcome_must_be_for_us() {
    let mut n = net();
    let c = n.cs.clone();
    let dave = Identity::basic(c.as_ref(), b"dave").unwrap().key_package(c.as_ref()).unwrap();
    let erin = Identity::basic(c.as_ref(), b"erin").unwrap().key_package(c.as_ref()).unwrap();
    let welcome = n
        .alice
        .commit(CommitOptions::add(vec![dave.key_package.clone()]))
        .unwrap()
        .welcome
        .unwrap();
    let e = Group::join(c, &welcome, erin, None, config()).err().unwrap();
    assert_peer!(e, PeerError::WelcomeNotForUs);
}

// ---------------------------------------------------------------------
// Second batch: sender kinds, tags as structs, PSKs, Welcome contents,
// external joins, capabilities.

fn ds_net() -> (Net, Identity) {
    let cs = suite1();
    let ds = Identity::basic(cs.as_ref(), b"ds").unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds.signature_key.clone().into(),
        credential: ds.credential.clone(),
    }];
    let ext = Extension {
        extension_type: ExtensionType::EXTERNAL_SENDERS,
        extension_data: encode(&senders).unwrap().into(),
    };
    (net_with(vec![ext]), ds)
}

#[test]
fn s6_1_external_sender_index_must_exist() {
    let (mut n, ds) = ds_net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::External(1));
    let (content, _) = parts(&m);
    let m = frame(n.cs.as_ref(), &n.alice, &ds.signer, content, None);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnknownSender);
}

#[test]
fn s6_1_external_sender_signature_must_verify() {
    let (mut n, _) = ds_net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::External(0));
    // Signed by Alice, not by the external sender.
    let e = rejects(&mut n.bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "got {e:?}");
}

#[test]
fn s6_1_new_member_commit_sender_only_for_commits() {
    let mut n = net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::NewMemberCommit);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidSender);
}

#[test]
fn s6_1_new_member_proposal_signed_by_its_key_package() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |_| {});
    let m = forged_proposal(&mut n, |c| {
        c.sender = Sender::NewMemberProposal;
        c.body = FramedContentBody::Proposal(Proposal::Add(mlsx_base::codec::Add::new(kp)));
    });
    // forged_proposal signs with Alice's key, not Dave's.
    let e = rejects(&mut n.bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::InvalidSignature)), "got {e:?}");
}

#[test]
fn s6_2_member_message_needs_a_membership_tag() {
    // Decoding real bytes cannot drop the tag of a member sender (the
    // decoder expects it), so this is checked on the struct.
    let mut n = net();
    let mut m = n.alice.propose(Proposal::Remove(Remove { removed: LeafIndex(2) }), b"").unwrap();
    let MlsMessageBody::PublicMessage(pm) = &mut m.body else {
        unreachable!()
    };
    pm.membership_tag = None;
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingMembershipTag);
}

#[test]
fn s6_2_non_member_message_has_no_membership_tag() {
    let (mut n, ds) = ds_net();
    let m = forged_proposal(&mut n, |c| c.sender = Sender::External(0));
    let (content, _) = parts(&m);
    let mut m = frame(n.cs.as_ref(), &n.alice, &ds.signer, content, None);
    let MlsMessageBody::PublicMessage(pm) = &mut m.body else {
        unreachable!()
    };
    pm.membership_tag = Some(vec![0; 32].into());
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnexpectedMembershipTag);
}

#[test]
fn s6_1_commit_needs_a_confirmation_tag() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (content, _) = parts(&m);
    let sig = mlsx_base::framing::sign_content(
        n.cs.as_ref(),
        &n.alice.identity().signer,
        WireFormat::PUBLIC_MESSAGE,
        &content,
        n.alice.context(),
    )
    .unwrap();
    let mut pm = mlsx_base::codec::PublicMessage {
        content,
        auth: FramedContentAuthData {
            signature: sig.into(),
            confirmation_tag: None,
        },
        membership_tag: None,
    };
    pm.membership_tag = Some(
        n.cs.mac(n.alice.membership_key().as_bytes(), &pm.tbm(n.alice.context()).unwrap())
            .unwrap()
            .into(),
    );
    let m = MlsMessage::new(MlsMessageBody::PublicMessage(pm));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingConfirmationTag);
}

#[test]
fn s12_4_2_psks_must_be_available() {
    let mut n = net();
    n.alice
        .add_external_psk(b"alice only".to_vec(), mlsx_base::crypto::Secret::new(vec![5; 32]));
    let id = PreSharedKeyId {
        psk: Psk::External(ExternalPsk {
            psk_id: b"alice only".to_vec().into(),
        }),
        psk_nonce: vec![3; 32].into(),
    };
    let m = alice_commit(&mut n, by_value(Proposal::PreSharedKey(PreSharedKeyProposal { psk: id })));
    assert_peer!(rejects(&mut n.bob, &m), PeerError::MissingPsk);
}

#[test]
fn s12_4_2_path_secret_must_decrypt() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        for node in &mut c.path.as_mut().unwrap().nodes {
            for ct in &mut node.encrypted_path_secret {
                let mut b = ct.ciphertext.as_slice().to_vec();
                b[0] ^= 1;
                ct.ciphertext = b.into();
            }
        }
    });
    let e = rejects(&mut n.bob, &m);
    assert!(matches!(e, Error::Crypto(CryptoError::DecryptionFailed)), "got {e:?}");
}

#[test]
fn s12_1_7_group_context_extensions_must_be_supported() {
    let mut n = net();
    let gce = Proposal::GroupContextExtensions(GroupContextExtensions {
        extensions: vec![requiring(ExtensionType(0xff05))],
    });
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.proposals = vec![ProposalOrRef::Proposal(gce.clone())]
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::UnsupportedGroupContextExtensions);
}

#[test]
fn s12_2_unknown_proposal_types_are_rejected() {
    let mut n = net();
    let custom = Proposal::Custom(mlsx_base::codec::CustomProposal {
        proposal_type: mlsx_base::codec::ProposalType(0xff09),
        body: b"?".to_vec(),
    });
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.proposals = vec![ProposalOrRef::Proposal(custom.clone())]
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::UnsupportedProposalType(0xff09));
}

#[test]
fn s12_2_no_two_adds_of_one_client() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |_| {});
    let add = ProposalOrRef::Proposal(Proposal::Add(mlsx_base::codec::Add::new(kp)));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![add.clone(), add.clone()]);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::DuplicateSignatureKey);
}

#[test]
fn s7_3_credential_must_be_acceptable() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.credential = mlsx_base::codec::Credential::Other {
            credential_type: mlsx_base::codec::CredentialType(0xff11),
            data: b"?".to_vec().into(),
        }
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::UnsupportedCredential(_));
}

#[test]
fn s12_2_external_commit_at_most_one_remove() {
    let mut n = net();
    let m = forged_external(&n, |c| {
        c.proposals
            .push(ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(1) })));
        c.proposals
            .push(ProposalOrRef::Proposal(Proposal::Remove(Remove { removed: LeafIndex(2) })));
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ExternalCommitProposalNotAllowed);
}

#[test]
fn s12_2_resync_must_change_the_encryption_key() {
    let mut n = net();
    let gi = n.alice.group_info().unwrap();
    // Carol resyncs: her new leaf takes position 2 again.
    let carol_id = n.carol.identity().duplicate();
    let sk = carol_id.signer.duplicate();
    let old_key = n.bob.tree().leaf(LeafIndex(2)).unwrap().encryption_key.clone();
    let (_, m) = Group::join_external(n.cs.clone(), &gi, None, carol_id, Some(LeafIndex(2)), config()).unwrap();
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    let path = c.path.as_mut().unwrap();
    path.leaf_node.encryption_key = old_key;
    let tbs = path.leaf_node.tbs(Some((b"neg".as_slice(), LeafIndex(2)))).unwrap();
    path.leaf_node.signature = n.cs.sign_with_label(&sk, LEAF_NODE_TBS_LABEL, &tbs).unwrap().into();
    let m = frame(n.cs.as_ref(), &n.alice, &sk, content, auth.confirmation_tag);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::EncryptionKeyNotChanged);
}

#[test]
fn s12_4_3_2_group_info_suite_must_be_ours() {
    let n = net();
    let gi = n.alice.group_info().unwrap();
    let other: Arc<dyn CipherSuiteProvider> = Arc::new(mlsx_base::crypto::rustcrypto::rfc9420_suite(CipherSuite(3)).unwrap());
    let dave = Identity::basic(other.as_ref(), b"dave").unwrap();
    let e = Group::join_external(other, &gi, None, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("cipher suite"));
}

#[test]
fn s12_4_3_2_group_info_needs_external_pub() {
    let n = net();
    let cs = n.cs.as_ref();
    let mut gi = n.alice.group_info().unwrap();
    gi.extensions.retain(|e| e.extension_type != ExtensionType::EXTERNAL_PUB);
    resign_group_info(&n, &mut gi);
    let dave = Identity::basic(cs, b"dave").unwrap();
    let e = Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("no external_pub"));
}

#[test]
fn s12_4_3_group_info_signer_must_be_a_member() {
    let n = net();
    let cs = n.cs.as_ref();
    let mut gi = n.alice.group_info().unwrap();
    gi.signer = LeafIndex(3);
    resign_group_info(&n, &mut gi);
    let dave = Identity::basic(cs, b"dave").unwrap();
    let e = Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("signer is not a member"));
}

/// Alice adds Dave; the Welcome's GroupSecrets for Dave are decrypted,
/// edited by `edit` and re-encrypted to Dave's init key.
fn welcome_with_secrets(
    n: &mut Net,
    edit: impl FnOnce(&mut mlsx_base::codec::GroupSecrets),
) -> (MlsMessage, mlsx_base::group::KeyPackageBundle) {
    let cs = n.cs.clone();
    let dave = Identity::basic(cs.as_ref(), b"dave").unwrap().key_package(cs.as_ref()).unwrap();
    let mut welcome = n
        .alice
        .commit(CommitOptions::add(vec![dave.key_package.clone()]))
        .unwrap()
        .welcome
        .unwrap();
    n.alice.clear_pending_commit();
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        unreachable!()
    };
    let entry = &mut w.secrets[0];
    let plain = cs
        .decrypt_with_label(
            &dave.init_key,
            mlsx_base::group::WELCOME_LABEL,
            w.encrypted_group_info.as_slice(),
            &entry.encrypted_group_secrets,
        )
        .unwrap();
    let mut gs: mlsx_base::codec::GroupSecrets = decode(plain.as_bytes()).unwrap();
    edit(&mut gs);
    entry.encrypted_group_secrets = cs
        .encrypt_with_label(
            dave.key_package.init_key.as_slice(),
            mlsx_base::group::WELCOME_LABEL,
            w.encrypted_group_info.as_slice(),
            &encode(&gs).unwrap(),
        )
        .unwrap();
    (welcome, dave)
}

#[test]
fn s12_4_3_1_at_most_one_founding_psk() {
    let mut n = net();
    let branch = |epoch| PreSharedKeyId {
        psk: Psk::Resumption(ResumptionPsk {
            usage: ResumptionPskUsage::BRANCH,
            psk_group_id: b"old".to_vec().into(),
            psk_epoch: epoch,
        }),
        psk_nonce: vec![4; 32].into(),
    };
    let (welcome, dave) = welcome_with_secrets(&mut n, |gs| gs.psks = vec![branch(1), branch(2)]);
    let e = Group::join(n.cs.clone(), &welcome, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::MultipleResumptionPsks);
}

#[test]
fn s12_4_3_1_psks_of_a_welcome_must_be_available() {
    let mut n = net();
    let (welcome, dave) = welcome_with_secrets(&mut n, |gs| gs.psks = vec![psk_id(32)]);
    let e = Group::join(n.cs.clone(), &welcome, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::MissingPsk);
}

#[test]
fn s12_4_3_1_psk_nonce_in_a_welcome_must_have_hash_length() {
    let mut n = net();
    let (welcome, dave) = welcome_with_secrets(&mut n, |gs| gs.psks = vec![psk_id(31)]);
    let e = Group::join(n.cs.clone(), &welcome, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidPskNonce(31));
}

#[test]
fn s12_4_3_1_path_secret_must_match_the_tree() {
    // Alice's add commit carries a path, so Dave gets the path secret of
    // his common ancestor with her; a different one derives other keys.
    let mut n = net();
    let (welcome, dave) = welcome_with_secrets(&mut n, |gs| {
        gs.path_secret = Some(mlsx_base::codec::PathSecret {
            path_secret: vec![0x66; 32].into(),
        })
    });
    let e = Group::join(n.cs.clone(), &welcome, dave, None, config()).err().unwrap();
    // The joiner secret is intact, so the GroupInfo decrypts and verifies;
    // the path secret is what fails.
    assert_peer!(e, PeerError::PathKeyMismatch);
}

#[test]
fn s12_4_3_1_group_secrets_must_decrypt() {
    let mut n = net();
    let c = n.cs.clone();
    let dave = Identity::basic(c.as_ref(), b"dave").unwrap().key_package(c.as_ref()).unwrap();
    let mut welcome = n
        .alice
        .commit(CommitOptions::add(vec![dave.key_package.clone()]))
        .unwrap()
        .welcome
        .unwrap();
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        unreachable!()
    };
    let ct = &mut w.secrets[0].encrypted_group_secrets;
    let mut b = ct.ciphertext.as_slice().to_vec();
    b[0] ^= 1;
    ct.ciphertext = b.into();
    let e = Group::join(c, &welcome, dave, None, config()).err().unwrap();
    assert!(matches!(e, Error::Crypto(CryptoError::DecryptionFailed)), "got {e:?}");
}

#[test]
fn s12_4_3_1_welcome_suite_must_match_the_key_package() {
    let mut n = net();
    let c = n.cs.clone();
    let dave = Identity::basic(c.as_ref(), b"dave").unwrap().key_package(c.as_ref()).unwrap();
    let mut welcome = n
        .alice
        .commit(CommitOptions::add(vec![dave.key_package.clone()]))
        .unwrap()
        .welcome
        .unwrap();
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        unreachable!()
    };
    w.cipher_suite = CipherSuite(3);
    let e = Group::join(c, &welcome, dave, None, config()).err().unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("cipher suite differs from the KeyPackage"));
}

/// The support checks of §12.1.7 and §12.2 count the members that stay: a
/// commit that removes the one member lacking an extension can require it.
#[test]
fn s12_1_7_removed_members_are_exempt() {
    let cs = suite1();
    let c = cs.as_ref();
    let with = |name: &[u8], ext: bool| supporting(c, name, if ext { &[ExtensionType(0xff05)] } else { &[] });
    let mut alice = Group::create(cs.clone(), with(b"alice", true), b"neg".to_vec(), config()).unwrap();
    let bob = with(b"bob", true).key_package(c).unwrap();
    let carol = with(b"carol", false).key_package(c).unwrap();
    let out = alice
        .commit(CommitOptions::add(vec![bob.key_package.clone(), carol.key_package.clone()]))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, config()).unwrap();
    let gce = Proposal::GroupContextExtensions(GroupContextExtensions {
        extensions: vec![requiring(ExtensionType(0xff05))],
    });
    let options = |with_remove: bool| CommitOptions {
        proposals: if with_remove {
            vec![gce.clone(), Proposal::Remove(Remove { removed: LeafIndex(2) })]
        } else {
            vec![gce.clone()]
        },
        ..CommitOptions::default()
    };
    // Without the Remove, Carol blocks it (on the sender side too).
    let e = alice.commit(options(false)).err().unwrap();
    assert_list!(e, ProposalListError::UnsupportedGroupContextExtensions);
    let m = alice.commit(options(true)).unwrap().commit;
    alice.merge_pending_commit().unwrap();
    let Received::Commit(staged) = bob.process_message(&m).unwrap() else {
        panic!()
    };
    bob.merge_staged_commit(staged).unwrap();
    assert_eq!(bob.epoch_authenticator(), alice.epoch_authenticator());
}

#[test]
fn s10_init_key_must_be_a_kem_public_key() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.init_key = vec![9; 31].into());
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidInitKey);
}

#[test]
fn s10_encryption_key_must_be_a_kem_public_key() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.leaf_node.encryption_key = vec![9; 33].into());
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidEncryptionKey);
}

/// An X25519 point of order 8 (RFC 7748 §5): every DH with it is zero.
const LOW_ORDER_X25519: [u8; 32] = [
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
    0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
];

#[test]
fn s10_low_order_keys_are_not_kem_public_keys() {
    // A low-order key has the right length, but no one could encrypt to
    // it (RFC 9180 §7.1.4): such a leaf would block every later commit.
    assert_eq!(net().cs.cipher_suite(), CipherSuite(1), "an X25519 suite");
    for low in [LOW_ORDER_X25519.to_vec(), vec![0; 32]] {
        let mut n = net();
        let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.init_key = low.clone().into());
        let m = add_commit_with(&mut n, kp);
        assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidInitKey);
        let mut n = net();
        let kp = key_package(n.cs.as_ref(), b"dave", |kp| kp.leaf_node.encryption_key = low.clone().into());
        let m = add_commit_with(&mut n, kp);
        assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidEncryptionKey);
    }
}

/// Alice's leaf (the last committer's: no parent hash covers its fields)
/// without the group's suite in its capabilities, re-signed by Alice, so
/// that only the capability check can object.
fn drop_alice_suite(n: &Net) -> impl FnOnce(&mut RatchetTreeNodes) {
    let alice_sk = n.alice.identity().signer.duplicate();
    let cs = n.cs.clone();
    move |nodes| {
        if let Some(Some(Node::Leaf(l))) = nodes.get_mut(0) {
            l.capabilities.cipher_suites = vec![CipherSuite(3)];
            let tbs = l.tbs(Some((b"neg".as_slice(), LeafIndex(0)))).unwrap();
            l.signature = cs.sign_with_label(&alice_sk, LEAF_NODE_TBS_LABEL, &tbs).unwrap().into();
        }
    }
}

#[test]
fn s12_4_3_1_every_leaf_of_a_joined_tree_is_valid() {
    let n = net_with_parents();
    let e = match join_with_tree_config(&n, strict(), drop_alice_suite(&n)) {
        Ok(_) => panic!("the strict joiner accepted the tree"),
        Err(e) => e,
    };
    assert_leaf!(e, LeafError::UnsupportedGroupParameters);
}

/// The control of the test above: under the default (liberal) policy the
/// same tree is joined. (The tree is an edited copy, so Alice would not
/// follow Dave; groups really made that way are followed in the interop
/// tests, `interop_mls_rs::leaves_without_the_group_suite` and
/// `interop_openmls::leaves_without_the_group_suite`.)
#[test]
fn capabilities_without_group_suite_accepted_by_default() {
    let n = net_with_parents();
    let dave = join_with_tree_config(&n, config(), drop_alice_suite(&n)).unwrap();
    assert_eq!(dave.epoch(), n.alice.epoch() + 1);
}

#[test]
fn s12_4_3_1_leaf_signatures_of_a_joined_tree_verify() {
    let n = net_with_parents();
    let e = join_with_tree(&n, |nodes| {
        if let Some(Some(Node::Leaf(l))) = nodes.get_mut(2) {
            l.capabilities.extensions.push(ExtensionType(0xff0f));
        }
    });
    assert_peer!(e, PeerError::InvalidLeafSignature(1));
}

#[test]
fn s12_4_3_3_nodes_at_their_positions() {
    let n = net_with_parents();
    let e = join_with_tree_raw(&n, |nodes| nodes.swap(0, 1));
    assert_peer!(e, PeerError::MalformedTree(_));
}

#[test]
fn s12_4_3_unknown_group_info_extensions_are_ignored() {
    let n = net();
    let cs = n.cs.as_ref();
    let mut gi = n.alice.group_info().unwrap();
    gi.extensions.push(Extension {
        extension_type: ExtensionType(0x5a5a),
        extension_data: b"unknown".to_vec().into(),
    });
    resign_group_info(&n, &mut gi);
    let dave = Identity::basic(cs, b"dave").unwrap();
    assert!(Group::join_external(n.cs.clone(), &gi, None, dave, None, config()).is_ok());
}

#[test]
fn s6_1_new_member_proposal_sender_cannot_commit() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    content.sender = Sender::NewMemberProposal;
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidSender);
}

#[test]
fn s12_4_2_one_ciphertext_per_resolution_node() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        let p = c.path.as_mut().unwrap();
        let extra = p.nodes[0].encrypted_path_secret[0].clone();
        p.nodes[0].encrypted_path_secret.push(extra);
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidUpdatePath);
}

#[test]
fn s12_1_4_branch_psk_not_in_a_regular_commit() {
    let mut n = net();
    let id = resumption_psk(ResumptionPskUsage::BRANCH);
    let p = ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: id }));
    let m = forged_commit(&mut n, CommitOptions::default(), |c| c.proposals = vec![p.clone()]);
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ResumptionPskUsageNotAllowed);
}

#[test]
fn s12_1_4_external_commit_no_reinit_psk() {
    let mut n = net();
    let id = resumption_psk(ResumptionPskUsage::REINIT);
    let m = forged_external(&n, |c| {
        c.proposals
            .push(ProposalOrRef::Proposal(Proposal::PreSharedKey(PreSharedKeyProposal { psk: id })))
    });
    assert_list!(rejects(&mut n.bob, &m), ProposalListError::ResumptionPskUsageNotAllowed);
}

/// Alice adds Dave; the Welcome's GroupInfo is decrypted with the welcome
/// key, edited by `edit` (which gets Alice's signer to re-sign with), and
/// re-encrypted; Dave's GroupSecrets are re-encrypted under the new
/// encrypted_group_info, which is their HPKE context.
fn welcome_with_group_info(
    n: &mut Net,
    edit: impl FnOnce(&mut GroupInfo, &dyn Fn(&mut GroupInfo)),
) -> (MlsMessage, mlsx_base::group::KeyPackageBundle) {
    welcome_with_group_info_path(n, true, edit)
}

/// [`welcome_with_group_info`], the add commit with or without a path.
fn welcome_with_group_info_path(
    n: &mut Net,
    force_path: bool,
    edit: impl FnOnce(&mut GroupInfo, &dyn Fn(&mut GroupInfo)),
) -> (MlsMessage, mlsx_base::group::KeyPackageBundle) {
    let cs = n.cs.clone();
    let c = cs.as_ref();
    let dave = Identity::basic(c, b"dave").unwrap().key_package(c).unwrap();
    let options = CommitOptions {
        force_path,
        ..CommitOptions::add(vec![dave.key_package.clone()])
    };
    let mut welcome = n.alice.commit(options).unwrap().welcome.unwrap();
    n.alice.clear_pending_commit();
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        unreachable!()
    };
    let label = mlsx_base::group::WELCOME_LABEL;
    let gs_plain = c
        .decrypt_with_label(
            &dave.init_key,
            label,
            w.encrypted_group_info.as_slice(),
            &w.secrets[0].encrypted_group_secrets,
        )
        .unwrap();
    let gs: mlsx_base::codec::GroupSecrets = decode(gs_plain.as_bytes()).unwrap();
    let ws = mlsx_base::schedule::welcome_secret(c, gs.joiner_secret.as_slice(), None).unwrap();
    let (key, nonce) = mlsx_base::schedule::welcome_key_nonce(c, ws.as_bytes()).unwrap();
    let gi_plain = c
        .aead_open(key.as_bytes(), nonce.as_bytes(), &[], w.encrypted_group_info.as_slice())
        .unwrap();
    let mut gi: GroupInfo = decode(gi_plain.as_bytes()).unwrap();
    let signer = n.alice.identity().signer.duplicate();
    let resign = |gi: &mut GroupInfo| {
        gi.signature = c.sign_with_label(&signer, b"GroupInfoTBS", &gi.tbs().unwrap()).unwrap().into();
    };
    edit(&mut gi, &resign);
    w.encrypted_group_info = c
        .aead_seal(key.as_bytes(), nonce.as_bytes(), &[], &encode(&gi).unwrap())
        .unwrap()
        .into();
    w.secrets[0].encrypted_group_secrets = c
        .encrypt_with_label(
            dave.key_package.init_key.as_slice(),
            label,
            w.encrypted_group_info.as_slice(),
            &encode(&gs).unwrap(),
        )
        .unwrap();
    (welcome, dave)
}

fn join_error(n: &Net, welcome: &MlsMessage, dave: mlsx_base::group::KeyPackageBundle) -> Error {
    Group::join(n.cs.clone(), welcome, dave, None, config()).err().unwrap()
}

#[test]
fn s12_4_3_1_welcome_rebuilt_faithfully_is_accepted() {
    let mut n = net();
    let (welcome, dave) = welcome_with_group_info(&mut n, |gi, resign| resign(gi));
    assert!(Group::join(n.cs.clone(), &welcome, dave, None, config()).is_ok());
}

#[test]
fn s12_4_3_1_group_info_must_decrypt() {
    let mut n = net();
    let cs = n.cs.clone();
    let (mut welcome, dave) = welcome_with_group_info(&mut n, |gi, resign| resign(gi));
    let MlsMessageBody::Welcome(w) = &mut welcome.body else {
        unreachable!()
    };
    // Corrupt the GroupInfo ciphertext, and re-encrypt the GroupSecrets
    // under it so that only the GroupInfo's AEAD can fail.
    let label = mlsx_base::group::WELCOME_LABEL;
    let gs_plain = cs
        .decrypt_with_label(
            &dave.init_key,
            label,
            w.encrypted_group_info.as_slice(),
            &w.secrets[0].encrypted_group_secrets,
        )
        .unwrap();
    let mut ct = w.encrypted_group_info.as_slice().to_vec();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    w.encrypted_group_info = ct.into();
    w.secrets[0].encrypted_group_secrets = cs
        .encrypt_with_label(
            dave.key_package.init_key.as_slice(),
            label,
            w.encrypted_group_info.as_slice(),
            gs_plain.as_bytes(),
        )
        .unwrap();
    let e = join_error(&n, &welcome, dave);
    assert!(matches!(e, Error::Crypto(CryptoError::DecryptionFailed)), "got {e:?}");
}

#[test]
fn s12_4_3_1_group_info_suite_must_match_the_key_package() {
    let mut n = net();
    let (welcome, dave) = welcome_with_group_info(&mut n, |gi, resign| {
        gi.group_context.cipher_suite = CipherSuite(3);
        resign(gi);
    });
    assert_peer!(
        join_error(&n, &welcome, dave),
        PeerError::InvalidGroupInfo("version or cipher suite")
    );
}

#[test]
fn s12_4_3_1_group_info_signature_must_verify() {
    let mut n = net();
    let (welcome, dave) = welcome_with_group_info(&mut n, |gi, _| gi.group_context.epoch += 1);
    assert_peer!(join_error(&n, &welcome, dave), PeerError::InvalidGroupInfo("signature"));
}

#[test]
fn s12_4_3_1_group_info_confirmation_tag_must_verify() {
    let mut n = net();
    let (welcome, dave) = welcome_with_group_info(&mut n, |gi, resign| {
        let mut tag = gi.confirmation_tag.as_slice().to_vec();
        tag[0] ^= 1;
        gi.confirmation_tag = tag.into();
        resign(gi);
    });
    assert_peer!(join_error(&n, &welcome, dave), PeerError::InvalidConfirmationTag);
}

#[test]
fn s12_4_3_1_our_leaf_must_be_in_the_tree() {
    // Dave is added without a path, so he is an unmerged leaf of the root:
    // blanking him and his unmerged entries keeps every parent hash valid
    // (they are computed with unmerged leaves blanked), and the tree hash
    // is recomputed, so only the our-leaf check can object.
    let mut n = net_with_parents();
    let cs = n.cs.clone();
    let (welcome, dave) = welcome_with_group_info_path(&mut n, false, |gi, resign| {
        for e in &mut gi.extensions {
            if e.extension_type == ExtensionType::RATCHET_TREE {
                let mut nodes: RatchetTreeNodes = decode(e.extension_data.as_slice()).unwrap();
                nodes[6] = None;
                for node in nodes.iter_mut().flatten() {
                    if let Node::Parent(p) = node {
                        p.unmerged_leaves.retain(|l| *l != LeafIndex(3));
                    }
                }
                while matches!(nodes.last(), Some(None)) {
                    nodes.pop();
                }
                let mut tree = mlsx_base::tree::RatchetTree::from_nodes(nodes.clone()).unwrap();
                gi.group_context.tree_hash = tree.tree_hash(cs.as_ref()).unwrap().into();
                e.extension_data = encode(&nodes).unwrap().into();
            }
        }
        resign(gi);
    });
    assert_peer!(
        join_error(&n, &welcome, dave),
        PeerError::InvalidGroupInfo("our leaf is not in the tree")
    );
}

#[test]
fn s12_4_3_1_branch_members_come_from_the_old_group() {
    let n = net();
    let c = n.cs.clone();
    let bob_kp = Identity::basic(c.as_ref(), b"bob").unwrap().key_package(c.as_ref()).unwrap();
    let erin_kp = Identity::basic(c.as_ref(), b"erin").unwrap().key_package(c.as_ref()).unwrap();
    let (_, out) = n
        .alice
        .branch(
            b"sub".to_vec(),
            vec![bob_kp.key_package.clone(), erin_kp.key_package.clone()],
            config(),
        )
        .unwrap();
    let e = Group::join_resumed(c, out.welcome.as_ref().unwrap(), bob_kp, None, config(), &n.bob)
        .err()
        .unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("a branch member is not in the old group"));
}

#[test]
fn s12_4_3_1_reinit_keeps_every_member() {
    let mut n = net();
    let c = n.cs.clone();
    let reinit = Proposal::ReInit(ReInit {
        group_id: b"next".to_vec().into(),
        version: ProtocolVersion::MLS10,
        cipher_suite: c.cipher_suite(),
        extensions: vec![],
    });
    let out = n.alice.commit(by_value(reinit)).unwrap();
    n.alice.merge_pending_commit().unwrap();
    let Received::Commit(s) = n.bob.process_message(&out.commit).unwrap() else {
        panic!()
    };
    n.bob.merge_staged_commit(s).unwrap();
    // Alice leaves Carol out of the new group.
    let bob_kp = Identity::basic(c.as_ref(), b"bob").unwrap().key_package(c.as_ref()).unwrap();
    let alice_id = Identity::basic(c.as_ref(), b"alice").unwrap();
    let (_, out) = n
        .alice
        .reinit(c.clone(), alice_id, vec![bob_kp.key_package.clone()], config())
        .unwrap();
    let e = Group::join_resumed(c, out.welcome.as_ref().unwrap(), bob_kp, None, config(), &n.bob)
        .err()
        .unwrap();
    assert_peer!(e, PeerError::InvalidGroupInfo("a member of the old group is missing"));
}

#[test]
fn s12_3_external_init_secret_must_match() {
    // Another valid kem_output (encapsulated to the same external key)
    // gives the receiver another init secret: the confirmation tag fails.
    let mut n = net();
    let gi = n.alice.group_info().unwrap();
    let ext = find_extension(&gi.extensions, ExtensionType::EXTERNAL_PUB).unwrap();
    let external_pub: mlsx_base::codec::ExternalPub = decode(ext.extension_data.as_slice()).unwrap();
    let (kem_output, _) =
        n.cs.hpke_export_sender(external_pub.external_pub.as_slice(), &[], b"MLS 1.0 external init secret", 32)
            .unwrap();
    let m = forged_external(&n, |c| {
        for p in &mut c.proposals {
            if let ProposalOrRef::Proposal(Proposal::ExternalInit(e)) = p {
                e.kem_output = kem_output.clone().into();
            }
        }
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidConfirmationTag);
}

#[test]
fn s7_3_group_context_extensions_must_be_in_capabilities() {
    // The group has a non-default GroupContext extension every member
    // lists; Dave's KeyPackage does not.
    let cs = suite1();
    let c = cs.as_ref();
    let with = |name: &[u8]| supporting(c, name, &[ExtensionType(0xff06)]);
    let ext = Extension {
        extension_type: ExtensionType(0xff06),
        extension_data: b"group data".to_vec().into(),
    };
    let mut alice = Group::create_with_extensions(cs.clone(), with(b"alice"), b"neg".to_vec(), vec![ext], config()).unwrap();
    let bob = with(b"bob").key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, config()).unwrap();
    let carol = Group::create(cs.clone(), Identity::basic(c, b"carol").unwrap(), b"unused".to_vec(), config()).unwrap();
    let mut n = Net {
        cs: cs.clone(),
        alice,
        bob,
        carol,
    };
    let erin = with(b"erin").key_package(c).unwrap();
    let dave = key_package(c, b"dave", |_| {});
    let m = forged_commit(&mut n, CommitOptions::add(vec![erin.key_package]), |commit| {
        replace_added(commit, &dave)
    });
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::MissingRequiredCapability);
}

/// Accepts basic credentials and one private-use type, 0xff20.
#[derive(Debug)]
struct AlsoCustom;

impl mlsx_base::group::CredentialValidator for AlsoCustom {
    fn validate(&self, credential: &mlsx_base::codec::Credential, _: &[u8]) -> Result<(), Error> {
        let t = credential.credential_type();
        if t == mlsx_base::codec::CredentialType::BASIC || t == mlsx_base::codec::CredentialType(0xff20) {
            Ok(())
        } else {
            Err(PeerError::InvalidLeaf(LeafError::UnsupportedCredential(t)).into())
        }
    }
}

#[test]
fn s7_3_credential_type_supported_by_every_member() {
    // The validator accepts type 0xff20, but Bob and Carol do not list it.
    let cs = suite1();
    let c = cs.as_ref();
    let cfg = GroupConfig {
        validator: Arc::new(AlsoCustom),
        ..config()
    };
    let mut n = net();
    n.bob = Group::load(cs.clone(), &n.bob.save().unwrap(), cfg).unwrap();
    let kp = key_package(c, b"dave", |kp| {
        kp.leaf_node.credential = mlsx_base::codec::Credential::Other {
            credential_type: mlsx_base::codec::CredentialType(0xff20),
            data: b"dave".to_vec().into(),
        };
        kp.leaf_node.capabilities.credentials.push(mlsx_base::codec::CredentialType(0xff20));
    });
    let m = add_commit_with(&mut n, kp);
    assert_leaf!(
        rejects(&mut n.bob, &m),
        LeafError::UnsupportedCredential(mlsx_base::codec::CredentialType(0xff20))
    );
}

#[test]
fn s12_3_group_context_extensions_apply_before_adds() {
    // Everyone supports 0xff07; a commit requires it and adds Dave, who
    // does not: the Add is judged against the new extensions.
    let cs = suite1();
    let c = cs.as_ref();
    let with = |name: &[u8]| supporting(c, name, &[ExtensionType(0xff07)]);
    let mut alice = Group::create(cs.clone(), with(b"alice"), b"neg".to_vec(), config()).unwrap();
    let bob = with(b"bob").key_package(c).unwrap();
    let out = alice.commit(CommitOptions::add(vec![bob.key_package.clone()])).unwrap();
    alice.merge_pending_commit().unwrap();
    let bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), bob, None, config()).unwrap();
    let carol = Group::create(cs.clone(), Identity::basic(c, b"carol").unwrap(), b"unused".to_vec(), config()).unwrap();
    let mut n = Net {
        cs: cs.clone(),
        alice,
        bob,
        carol,
    };
    let gce = Proposal::GroupContextExtensions(GroupContextExtensions {
        extensions: vec![requiring(ExtensionType(0xff07))],
    });
    let erin = with(b"erin").key_package(c).unwrap();
    let dave = key_package(c, b"dave", |_| {});
    let options = CommitOptions {
        proposals: vec![gce, Proposal::Add(mlsx_base::codec::Add::new(erin.key_package))],
        ..CommitOptions::default()
    };
    let m = forged_commit(&mut n, options, |commit| replace_added(commit, &dave));
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::MissingRequiredCapability);
}

#[test]
fn s12_3_removes_apply_before_adds() {
    // Listed Add first, Remove second: Dave still takes Carol's leaf,
    // because Removes apply before Adds whatever the list order.
    let mut n = net();
    let c = n.cs.clone();
    let dave = Identity::basic(c.as_ref(), b"dave").unwrap().key_package(c.as_ref()).unwrap();
    let options = CommitOptions {
        proposals: vec![
            Proposal::Add(mlsx_base::codec::Add::new(dave.key_package.clone())),
            Proposal::Remove(Remove { removed: LeafIndex(2) }),
        ],
        ..CommitOptions::default()
    };
    let m = n.alice.commit(options).unwrap().commit;
    n.alice.merge_pending_commit().unwrap();
    let Received::Commit(s) = n.bob.process_message(&m).unwrap() else {
        panic!()
    };
    n.bob.merge_staged_commit(s).unwrap();
    assert_eq!(
        n.bob.tree().leaf(LeafIndex(2)).unwrap().credential,
        dave.key_package.leaf_node.credential
    );
    assert_eq!(n.bob.tree().n_leaves(), 4);
    assert_eq!(n.bob.epoch_authenticator(), n.alice.epoch_authenticator());
}

fn basic(name: &[u8]) -> mlsx_base::codec::Credential {
    mlsx_base::codec::Credential::Basic(name.to_vec().into())
}

#[test]
fn s5_3_1_update_credential_must_be_a_valid_successor() {
    let mut n = net();
    let m = commit_of_bad_update(&mut n, |l| l.credential = basic(b"mallory"));
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidSuccessor);
}

#[test]
fn s5_3_1_path_credential_must_be_a_valid_successor() {
    let mut n = net();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    c.path.as_mut().unwrap().leaf_node.credential = basic(b"mallory");
    resign_path_leaf(&n, c);
    let m = frame(n.cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidSuccessor);
}

#[test]
fn s12_2_resync_credential_must_fit_the_removed_member() {
    let mut n = net();
    let gi = n.alice.group_info().unwrap();
    // Mallory "resyncs" Carol's leaf.
    let mallory = Identity::basic(n.cs.as_ref(), b"mallory").unwrap();
    let (_, m) = Group::join_external(n.cs.clone(), &gi, None, mallory, Some(LeafIndex(2)), config()).unwrap();
    assert_leaf!(rejects(&mut n.bob, &m), LeafError::InvalidSuccessor);
}

#[test]
fn s12_4_2_path_keys_must_match_their_path_secrets() {
    // Bob's ciphertext in Alice's path is replaced by an encryption, under
    // the right provisional GroupContext and to Bob's real key, of another
    // path secret: it decrypts, and the keys derived from it differ from
    // the path's.
    let mut n = net();
    let cs = n.cs.clone();
    let m = alice_commit(&mut n, CommitOptions::default());
    let (mut content, auth) = parts(&m);
    let FramedContentBody::Commit(c) = &mut content.body else {
        unreachable!()
    };
    let path = c.path.as_mut().unwrap();
    let mut merged = n.bob.tree().clone();
    merged.merge_update_path(cs.as_ref(), LeafIndex(0), path).unwrap();
    let mut provisional = n.bob.context().clone();
    provisional.epoch += 1;
    provisional.tree_hash = merged.tree_hash(cs.as_ref()).unwrap().into();
    let bob_key = n.bob.tree().leaf(LeafIndex(1)).unwrap().encryption_key.clone();
    // Alice's filtered direct path is nodes 1 and 3; under node 1 the
    // copath is Bob's leaf alone.
    path.nodes[0].encrypted_path_secret[0] = cs
        .encrypt_with_label(
            bob_key.as_slice(),
            mlsx_base::tree::treekem::UPDATE_PATH_NODE_LABEL,
            &encode(&provisional).unwrap(),
            &[0x42; 32],
        )
        .unwrap();
    let m = frame(cs.as_ref(), &n.alice, &n.alice.identity().signer, content, auth.confirmation_tag);
    assert_peer!(rejects(&mut n.bob, &m), PeerError::PathKeyMismatch);
}

#[test]
fn s7_3_an_expired_key_package_is_not_proposed() {
    let mut n = net();
    let kp = key_package(n.cs.as_ref(), b"dave", |kp| {
        kp.leaf_node.leaf_node_source = LeafNodeSource::KeyPackage(Lifetime {
            not_before: 0,
            not_after: 1_000,
        })
    });
    let before = n.alice.save().unwrap();
    let e = n
        .alice
        .propose(Proposal::Add(mlsx_base::codec::Add::new(kp)), b"")
        .expect_err("proposed");
    assert_leaf!(e, LeafError::Expired);
    assert!(n.alice.save().unwrap() == before);
}

#[test]
fn s12_4_2_path_node_keys_must_be_kem_public_keys() {
    let mut n = net();
    let m = forged_commit(&mut n, CommitOptions::default(), |c| {
        c.path.as_mut().unwrap().nodes[1].encryption_key = vec![5; 31].into()
    });
    assert_peer!(rejects(&mut n.bob, &m), PeerError::InvalidNodeKey);
}

#[test]
fn s12_4_3_1_parent_keys_of_a_joined_tree_must_be_kem_public_keys() {
    let n = net_with_parents();
    let e = join_with_tree(&n, |nodes| parent(nodes, 3).encryption_key = vec![5; 33].into());
    assert_peer!(e, PeerError::InvalidNodeKey);
}
