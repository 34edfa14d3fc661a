//! Live interop with OpenMLS 0.9 (feature `extensions-draft`) where the
//! two texts agree: the app_data_dictionary, AppDataUpdate and AppEphemeral
//! both ways, SafeAAD both ways, application PSKs, and the Exporter Tree
//! (both export the same secret for a component in a shared epoch), and
//! SelfRemove (0x000a) both ways, through a member's commit and through an
//! external joiner's. Where
//! OpenMLS follows an older text (the "Application" base label of -07 and
//! -08), the difference is shown and mlsx keeps the newest one
//! (`drafts/extensions.md`). Only serialized bytes cross between the two.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Member;
use common::*;
use mlsx_base::codec::{CipherSuite, HpkeCiphertext, MlsMessage, VLBytes as XVLBytes, decode, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CryptoProvider, LabeledCrypto};
use mlsx_base::group::{CommitOptions, Group, Received};
use mlsx_extensions::codec::ComponentOperationLabel;
use mlsx_extensions::{GroupKey, GroupRequirements, SafeAad};
use openmls::component::ComponentData;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls::schedule::PreSharedKeyId as OPsk;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

struct Peer {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn peer(name: &str) -> Peer {
    let provider = OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SUITE.signature_algorithm()).unwrap();
    signer.store(provider.storage()).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(name.as_bytes().to_vec()).into(),
        signature_key: signer.to_public_vec().into(),
    };
    Peer {
        provider,
        signer,
        credential,
    }
}

fn to_ours(m: &MlsMessageOut) -> MlsMessage {
    decode(&m.to_bytes().unwrap()).unwrap()
}

fn to_peer(m: &MlsMessage) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(encode(m).unwrap()).unwrap()
}

fn process(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) -> ProcessedMessage {
    let msg = to_peer(m).try_into_protocol_message().unwrap();
    g.process_message(&p.provider, msg).unwrap()
}

/// OpenMLS's side of the vector components' rule (`common::Counter`): the
/// new data is the current data followed by each update, in commit order;
/// a remove deletes the entry.
fn concat_updates<'a>(updater: &mut AppDataDictionaryUpdater<'a>, proposals: impl Iterator<Item = &'a AppDataUpdateProposal>) {
    let mut lists: std::collections::BTreeMap<u16, Vec<&AppDataUpdateOperation>> = Default::default();
    for p in proposals {
        lists.entry(p.component_id()).or_default().push(p.operation());
    }
    for (id, ops) in lists {
        let mut data = updater.old_value(id).map(<[u8]>::to_vec).unwrap_or_default();
        for op in ops {
            match op {
                AppDataUpdateOperation::Update(u) => data.extend_from_slice(u.as_slice()),
                AppDataUpdateOperation::Remove => {
                    updater.remove(&id);
                    continue;
                }
            }
            updater.set(ComponentData::from_parts(id, data.clone().into()));
        }
    }
}

/// OpenMLS follows a commit (resolving AppDataUpdates with the rule
/// above); returns the AppEphemeral data it saw.
fn openmls_follow(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) -> Vec<(u16, Vec<u8>)> {
    let staged = match process(p, g, m).into_content() {
        ProcessedMessageContent::StagedCommitMessage(s) => *s,
        ProcessedMessageContent::UnresolvedAppDataCommit(u) => {
            let mut updater = g.app_data_dictionary_updater();
            concat_updates(&mut updater, u.app_data_update_proposals());
            let changes = updater.changes();
            g.stage_app_data_commit(&p.provider, *u, changes).unwrap()
        }
        _ => panic!("not a commit"),
    };
    let ephemeral = staged
        .queued_app_ephemeral_proposals()
        .map(|q| {
            (
                q.app_ephemeral_proposal().component_id(),
                q.app_ephemeral_proposal().data().to_vec(),
            )
        })
        .collect();
    g.merge_staged_commit(&p.provider, staged).unwrap();
    ephemeral
}

/// mlsx member `i` follows a commit.
fn mlsx_follow(m: &mut Member, msg: &MlsMessage) {
    let Received::Commit(staged) = m.g().process_message(msg).unwrap() else {
        panic!("not a commit")
    };
    m.g().merge_staged_commit(staged).unwrap();
}

fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        None,
        Some(&[ExtensionType::AppDataDictionary]),
        Some(&[ProposalType::AppDataUpdate, ProposalType::AppEphemeral, ProposalType::SelfRemove]),
        None,
    )
}

/// Alice (mlsx) creates a group with `requirements` and adds Bob
/// (OpenMLS) and Carol (mlsx) in one commit.
fn setup(requirements: &GroupRequirements) -> (Vec<Member>, Peer, MlsGroup) {
    let cs = suite1();
    let mut m = vec![Member::new(Some(b"secret")), Member::new(Some(b"secret"))];
    let context = m[0].ext.group_context_extensions(requirements).unwrap();
    let id = m[0].identity(cs.as_ref(), "alice");
    m[0].group = Some(Group::create_with_extensions(cs.clone(), id, b"interop".to_vec(), context, m[0].config.clone()).unwrap());
    let bob = peer("bob");
    let bundle = KeyPackage::builder()
        .leaf_node_capabilities(capabilities())
        .build(SUITE, &bob.provider, &bob.signer, bob.credential.clone())
        .unwrap();
    let bob_kp = decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap();
    let carol = m[1].key_package(cs.as_ref(), "carol");
    let out = m[0]
        .g()
        .commit(CommitOptions::add(vec![bob_kp, carol.key_package.clone()]))
        .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let MlsMessageBodyIn::Welcome(welcome) = to_peer(out.welcome_message().unwrap()).extract() else {
        panic!()
    };
    let join = MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build();
    let theirs = StagedWelcome::new_from_welcome(&bob.provider, &join, welcome, None)
        .unwrap()
        .into_group(&bob.provider)
        .unwrap();
    m[1].group = Some(Group::join(cs, out.welcome_message().unwrap(), carol, None, m[1].config.clone()).unwrap());
    (m, bob, theirs)
}

fn agree(m: &[Member], theirs: &MlsGroup, what: &str) {
    for x in m {
        assert_eq!(x.gr().epoch_authenticator(), theirs.epoch_authenticator().as_slice(), "{what}");
    }
}

#[test]
fn app_data_update_and_app_ephemeral_both_ways() {
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    agree(&m, &theirs, "after the Welcome");

    // mlsx commits two updates of one component and an AppEphemeral.
    let e = &m[0].ext;
    let proposals = vec![
        e.app_data_update(COUNTER, b"a".to_vec()).unwrap(),
        e.app_ephemeral(RECEIPTS, b"read".to_vec()).unwrap(),
        e.app_data_update(COUNTER, b"b".to_vec()).unwrap(),
    ];
    let out = m[0]
        .g()
        .commit(CommitOptions {
            proposals,
            ..CommitOptions::default()
        })
        .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let ephemeral = openmls_follow(&bob, &mut theirs, &out.commit);
    assert_eq!(ephemeral, [(RECEIPTS, b"read".to_vec())]);
    mlsx_follow(&mut m[1], &out.commit);
    agree(&m, &theirs, "after mlsx's AppDataUpdate");
    let dict = theirs.extensions().app_data_dictionary().unwrap();
    assert_eq!(dict.dictionary().get(&COUNTER).map(<[u8]>::to_vec), Some(b"ab".to_vec()));

    // OpenMLS commits an update and an AppEphemeral; both mlsx members follow.
    let commit = openmls_commits(
        &bob,
        &mut theirs,
        vec![
            Proposal::AppDataUpdate(Box::new(AppDataUpdateProposal::update(COUNTER, b"c".to_vec()))),
            Proposal::AppEphemeral(Box::new(AppEphemeralProposal::new(RECEIPTS, b"seen".to_vec()))),
        ],
    );
    for x in &mut m {
        let Received::Commit(staged) = x.g().process_message(&commit).unwrap() else {
            panic!()
        };
        let ephemeral = x.ext.app_ephemeral_of(&staged).unwrap();
        assert_eq!(ephemeral[0].data.as_slice(), b"seen");
        x.g().merge_staged_commit(staged).unwrap();
    }
    agree(&m, &theirs, "after OpenMLS's AppDataUpdate");
    assert_eq!(m[1].ext.dictionary(m[1].gr().context()).unwrap().get(COUNTER), Some(&b"abc"[..]));

    // A remove from mlsx.
    let p = m[1].ext.app_data_remove(COUNTER).unwrap();
    let out = m[1]
        .g()
        .commit(CommitOptions {
            proposals: vec![p],
            ..CommitOptions::default()
        })
        .unwrap();
    m[1].g().merge_pending_commit().unwrap();
    openmls_follow(&bob, &mut theirs, &out.commit);
    mlsx_follow(&mut m[0], &out.commit);
    agree(&m, &theirs, "after a remove");
}

#[test]
fn exporter_tree_secrets_match() {
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    for id in [COUNTER, RECEIPTS] {
        let theirs_secret = theirs
            .safe_export_secret(bob.provider.crypto(), bob.provider.storage(), id)
            .unwrap();
        for x in &mut m {
            assert_eq!(x.export(id).unwrap().as_bytes(), theirs_secret.as_slice(), "component {id:#06x}");
        }
        assert!(
            theirs
                .safe_export_secret(bob.provider.crypto(), bob.provider.storage(), id)
                .is_err()
        );
    }
    // And in the next epoch, after an OpenMLS commit.
    let bundle = theirs.self_update(&bob.provider, &bob.signer, Default::default()).unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    for x in &mut m {
        mlsx_follow(x, &to_ours(bundle.commit()));
    }
    let theirs_secret = theirs
        .safe_export_secret(bob.provider.crypto(), bob.provider.storage(), COUNTER)
        .unwrap();
    for x in &mut m {
        assert_eq!(x.export(COUNTER).unwrap().as_bytes(), theirs_secret.as_slice(), "next epoch");
    }
}

#[test]
fn application_psks_both_ways() {
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    // OpenMLS holds the component's PSK (its store ignores the nonce).
    OPsk::application(VAULT, b"pw".to_vec(), vec![0; 32])
        .store(&bob.provider, b"secret")
        .unwrap();
    let cs = suite1();
    let p = m[0].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap();
    let out = m[0]
        .g()
        .commit(CommitOptions {
            proposals: vec![p],
            ..CommitOptions::default()
        })
        .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    openmls_follow(&bob, &mut theirs, &out.commit);
    mlsx_follow(&mut m[1], &out.commit);
    agree(&m, &theirs, "after mlsx's application PSK");

    // OpenMLS injects it.
    let nonce = bob.provider.rand().random_vec(32).unwrap();
    let psk = OPsk::application(VAULT, b"pw".to_vec(), nonce);
    let bundle = theirs
        .commit_builder()
        .add_proposal(Proposal::PreSharedKey(Box::new(PreSharedKeyProposal::new(psk))))
        .load_psks(bob.provider.storage())
        .unwrap()
        .build(bob.provider.rand(), bob.provider.crypto(), &bob.signer, |_| true)
        .unwrap()
        .stage_commit(&bob.provider)
        .unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    for x in &mut m {
        mlsx_follow(x, &to_ours(bundle.commit()));
    }
    agree(&m, &theirs, "after OpenMLS's application PSK");
}

#[test]
fn safe_aad_both_ways() {
    let req = GroupRequirements {
        safe_aad: Some(vec![]),
        ..GroupRequirements::default()
    };
    let (mut m, bob, mut theirs) = setup(&req);
    let aad = SafeAad::build([(RECEIPTS, b"read:1".to_vec())]).unwrap();
    let msg = m[0].g().encrypt_application(b"from mlsx", &aad).unwrap();
    let processed = process(&bob, &mut theirs, &msg);
    assert_eq!(processed.safe_aad_item(RECEIPTS), Some(&b"read:1"[..]));
    let ProcessedMessageContent::ApplicationMessage(a) = processed.into_content() else {
        panic!()
    };
    assert_eq!(a.into_bytes(), b"from mlsx");

    theirs.set_safe_aad(vec![SafeAadItem::new(COUNTER, b"c".to_vec())]).unwrap();
    let out = theirs.create_message(&bob.provider, &bob.signer, b"from openmls").unwrap();
    for x in &mut m {
        let Received::Application {
            data, authenticated_data, ..
        } = x.g().process_message(&to_ours(&out)).unwrap()
        else {
            panic!()
        };
        assert_eq!(data, b"from openmls");
        assert_eq!(SafeAad::parse(&authenticated_data).unwrap().get(COUNTER), Some(&b"c"[..]));
    }
    // With nothing set, OpenMLS sends the empty SafeAAD; a commit too.
    let out = theirs.create_message(&bob.provider, &bob.signer, b"plain").unwrap();
    assert!(matches!(
        m[0].g().process_message(&to_ours(&out)).unwrap(),
        Received::Application { .. }
    ));
    let bundle = theirs.self_update(&bob.provider, &bob.signer, Default::default()).unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    for x in &mut m {
        mlsx_follow(x, &to_ours(bundle.commit()));
    }
    agree(&m, &theirs, "after a commit with SafeAAD");
}

/// OpenMLS 0.9 labels safe operations with the base label "Application"
/// (-07, -08); the editor's copy says "MLS Component". A ciphertext from
/// OpenMLS does not open under mlsx's label, and opens under the old one.
#[test]
fn openmls_uses_the_older_base_label() {
    let (m, bob, theirs) = setup(&GroupRequirements::default());
    let _ = theirs;
    let carol_leaf = m[1].gr().own_leaf();
    let carol_pk = m[0].gr().tree().leaf(carol_leaf).unwrap().encryption_key.as_slice().to_vec();
    let context = openmls::ciphersuite::SafeEncryptionContext {
        component_id: RECEIPTS,
        label: "note",
        context: b"ctx",
    };
    let ct = openmls::ciphersuite::safe_encrypt_with_label(&carol_pk, b"hello", SUITE, context, bob.provider.crypto()).unwrap();
    let ct: HpkeCiphertext = decode(&ct.tls_serialize_detached().unwrap()).unwrap();
    let err = m[1].keys[&RECEIPTS].decrypt_in_group(m[1].gr(), GroupKey::OwnLeaf, b"note", b"ctx", &ct);
    assert!(err.is_err(), "OpenMLS now uses the newest label: update drafts/extensions.md");
    let old = ComponentOperationLabel {
        base_label: XVLBytes::new(b"Application".to_vec()),
        component_id: RECEIPTS,
        label: XVLBytes::new(b"note".to_vec()),
    };
    let cs = RustCryptoProvider::new().cipher_suite_provider(CipherSuite(1)).unwrap();
    let sk = m[1].gr().own_leaf_private_key().unwrap();
    let pt = cs.decrypt_with_label(sk, &encode(&old).unwrap(), b"ctx", &ct).unwrap();
    assert_eq!(pt.as_bytes(), b"hello");
}

/// Splits a member's borrows for `Extensions::leave`.
fn leave(m: &mut Member) -> MlsMessage {
    let Member { ext, group, .. } = m;
    ext.leave(group.as_mut().unwrap()).unwrap()
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

/// OpenMLS processes a commit that removes it.
fn openmls_removed(p: &Peer, g: &mut MlsGroup, m: &MlsMessage) {
    let ProcessedMessageContent::StagedCommitMessage(staged) = process(p, g, m).into_content() else {
        panic!("not a commit")
    };
    assert!(staged.self_removed());
    g.merge_staged_commit(&p.provider, *staged).unwrap();
    assert!(!g.is_active());
}

#[test]
fn self_remove_both_ways() {
    // OpenMLS (Bob, leaf 1) leaves; mlsx commits its SelfRemove.
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    assert!(m[0].ext.is_self_remove_capable(m[0].gr()));
    let out = theirs.leave_group_via_self_remove(&bob.provider, &bob.signer).unwrap();
    let request = to_ours(&out);
    assert!(m[0].ext.is_self_remove_message(&request));
    for x in &mut m {
        let Received::Proposal(p) = x.g().process_message(&request).unwrap() else {
            panic!()
        };
        assert_eq!(p.sender, mlsx_base::codec::Sender::Member(mlsx_base::tree::math::LeafIndex(1)));
    }
    let out = m[0].g().commit(CommitOptions::default()).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    openmls_removed(&bob, &mut theirs, &out.commit);
    mlsx_follow(&mut m[1], &out.commit);
    assert_eq!(m[1].gr().members().count(), 2);
    assert_eq!(m[0].gr().epoch_authenticator(), m[1].gr().epoch_authenticator());

    // mlsx (Carol, leaf 2) leaves; OpenMLS commits her SelfRemove.
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    let request = leave(&mut m[1]);
    let ProcessedMessageContent::ProposalMessage(q) = process(&bob, &mut theirs, &request).into_content() else {
        panic!("not a proposal")
    };
    theirs.store_pending_proposal(bob.provider.storage(), *q).unwrap();
    let _ = m[0].g().process_message(&request).unwrap();
    let (commit, _, _) = theirs.commit_to_pending_proposals(&bob.provider, &bob.signer).unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    let commit = to_ours(&commit);
    let Received::Commit(staged) = m[1].g().process_message(&commit).unwrap() else {
        panic!()
    };
    assert!(staged.removes_self());
    mlsx_follow(&mut m[0], &commit);
    agree(&m[..1], &theirs, "after OpenMLS commits mlsx's SelfRemove");
    assert_eq!(theirs.members().count(), 2);
}

#[test]
fn external_joiners_include_each_others_self_removes() {
    let cs = suite1();
    // An OpenMLS joiner includes mlsx's SelfRemove.
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    let request = leave(&mut m[1]);
    let _ = m[0].g().process_message(&request).unwrap();
    let ProcessedMessageContent::ProposalMessage(q) = process(&bob, &mut theirs, &request).into_content() else {
        panic!()
    };
    theirs.store_pending_proposal(bob.provider.storage(), *q).unwrap();
    let gi = m[0].g().group_info().unwrap();
    let MlsMessageBodyIn::GroupInfo(gi) = to_peer(&MlsMessage::new(mlsx_base::codec::MlsMessageBody::GroupInfo(gi))).extract() else {
        panic!()
    };
    let MlsMessageBodyIn::PublicMessage(pm) = to_peer(&request).extract() else {
        panic!()
    };
    let dave = peer("dave");
    let (dave_group, bundle) = MlsGroup::external_commit_builder()
        .with_proposals(vec![pm])
        .with_config(join_config())
        .build_group(&dave.provider, gi, dave.credential.clone())
        .unwrap()
        .leaf_node_parameters(LeafNodeParameters::builder().with_capabilities(capabilities()).build())
        .load_psks(dave.provider.storage())
        .unwrap()
        .build(dave.provider.rand(), dave.provider.crypto(), &dave.signer, |_| true)
        .unwrap()
        .finalize(&dave.provider)
        .unwrap();
    let commit = to_ours(bundle.commit());
    let Received::Commit(staged) = m[1].g().process_message(&commit).unwrap() else {
        panic!()
    };
    assert!(staged.removes_self());
    mlsx_follow(&mut m[0], &commit);
    openmls_follow(&bob, &mut theirs, &commit);
    agree(&m[..1], &theirs, "after OpenMLS's external commit");
    agree(&m[..1], &dave_group, "the OpenMLS joiner");

    // An mlsx joiner includes OpenMLS's SelfRemove.
    let (mut m, bob, mut theirs) = setup(&GroupRequirements::default());
    let request = to_ours(&theirs.leave_group_via_self_remove(&bob.provider, &bob.signer).unwrap());
    for x in &mut m {
        let _ = x.g().process_message(&request).unwrap();
    }
    let gi = m[1].g().group_info().unwrap();
    let mut erin = Member::new(Some(b"secret"));
    let (joined, commit) = Group::join_external_with(
        cs.clone(),
        &gi,
        None,
        erin.identity(cs.as_ref(), "erin"),
        mlsx_base::group::ExternalJoinOptions {
            proposals_by_reference: vec![request],
            ..Default::default()
        },
        erin.config.clone(),
    )
    .unwrap();
    erin.group = Some(joined);
    openmls_removed(&bob, &mut theirs, &commit);
    for x in &mut m {
        mlsx_follow(x, &commit);
    }
    m.push(erin);
    assert_agree(&mut m);
    assert_eq!(m[0].gr().members().count(), 3);
}

/// OpenMLS (Bob) creates a group whose GroupContext lists the
/// `app_data_dictionary` *before* another extension, and adds two mlsx
/// members: Alice configured with `DictionaryPlacement::MoveToEnd`
/// (OpenMLS's behaviour), Carol with the draft's in-place rule.
fn openmls_creates_with_dictionary_first() -> (Vec<Member>, Peer, MlsGroup) {
    use mlsx_extensions::DictionaryPlacement;
    let cs = suite1();
    let bob = peer("bob");
    let mut dictionary = AppDataDictionary::new();
    dictionary.insert(COUNTER, b"0".to_vec());
    let extensions = Extensions::from_vec(vec![
        Extension::AppDataDictionary(AppDataDictionaryExtension::new(dictionary)),
        Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
            &[ExtensionType::AppDataDictionary],
            &[ProposalType::AppDataUpdate],
            &[],
        )),
    ])
    .unwrap();
    let mut theirs = MlsGroup::builder()
        .ciphersuite(SUITE)
        .use_ratchet_tree_extension(true)
        .with_wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .with_capabilities(capabilities())
        .with_group_context_extensions(extensions)
        .build(&bob.provider, &bob.signer, bob.credential.clone())
        .unwrap();
    let mut m = vec![
        Member::with_extensions(
            mlsx_extensions::Extensions::new().with_dictionary_placement(DictionaryPlacement::MoveToEnd),
            Some(b"secret"),
            vec![],
        ),
        Member::new(Some(b"secret")),
    ];
    let bundles = [m[0].key_package(cs.as_ref(), "alice"), m[1].key_package(cs.as_ref(), "carol")];
    let kps: Vec<KeyPackage> = bundles
        .iter()
        .map(|b| {
            KeyPackageIn::tls_deserialize_exact(encode(&b.key_package).unwrap())
                .unwrap()
                .validate(bob.provider.crypto(), ProtocolVersion::Mls10)
                .unwrap()
        })
        .collect();
    let (_, welcome, _) = theirs.add_members(&bob.provider, &bob.signer, &kps).unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    let welcome = to_ours(&welcome);
    for (x, b) in m.iter_mut().zip(bundles) {
        x.group = Some(Group::join(cs.clone(), &welcome, b, None, x.config.clone()).unwrap());
    }
    agree(&m, &theirs, "after OpenMLS's Welcome");
    let ours = &m[0].gr().context().extensions;
    assert_eq!(
        ours[0].extension_type,
        m[0].ext.code_points().app_data_dictionary,
        "the dictionary comes first"
    );
    (m, bob, theirs)
}

/// OpenMLS commits `proposals` (resolving AppDataUpdates with the rule
/// of `concat_updates`) and merges its commit.
fn openmls_commits(bob: &Peer, theirs: &mut MlsGroup, proposals: Vec<Proposal>) -> MlsMessage {
    let mut builder = theirs.commit_builder();
    for p in proposals {
        builder = builder.add_proposal(p);
    }
    let mut stage = builder.load_psks(bob.provider.storage()).unwrap();
    let mut updater = stage.app_data_dictionary_updater();
    concat_updates(&mut updater, stage.app_data_update_proposals());
    let changes = updater.changes();
    stage.with_app_data_dictionary_updates(changes);
    let bundle = stage
        .build(bob.provider.rand(), bob.provider.crypto(), &bob.signer, |_| true)
        .unwrap()
        .stage_commit(&bob.provider)
        .unwrap();
    theirs.merge_pending_commit(&bob.provider).unwrap();
    to_ours(bundle.commit())
}

/// OpenMLS commits one AppDataUpdate of COUNTER.
fn openmls_commits_update(bob: &Peer, theirs: &mut MlsGroup, data: &[u8]) -> MlsMessage {
    let update = AppDataUpdateProposal::update(COUNTER, data.to_vec());
    openmls_commits(bob, theirs, vec![Proposal::AppDataUpdate(Box::new(update))])
}

/// The interop gap of `drafts/interop.md`: with the dictionary listed
/// first by an OpenMLS creator, OpenMLS moves it to the end on every
/// AppDataUpdate and the draft's rule keeps it in place. Under
/// `DictionaryPlacement::MoveToEnd`, mlsx and OpenMLS agree with
/// AppDataUpdates committed from both sides, whoever commits first; an
/// mlsx member on the default rule refuses the first such commit, which
/// is why the whole group must use one placement.
#[test]
fn dictionary_listed_first_by_an_openmls_creator() {
    // OpenMLS commits the first AppDataUpdate.
    let (mut m, bob, mut theirs) = openmls_creates_with_dictionary_first();
    let commit = openmls_commits_update(&bob, &mut theirs, b"1");
    mlsx_follow(&mut m[0], &commit);
    agree(&m[..1], &theirs, "MoveToEnd after OpenMLS's first AppDataUpdate");
    let e = m[1].g().process_message(&commit).unwrap_err();
    assert!(format!("{e:?}").contains("Confirmation"), "the in-place member splits: {e:?}");
    let last = m[0].gr().context().extensions.last().unwrap().extension_type;
    assert_eq!(last, m[0].ext.code_points().app_data_dictionary);
    // Then mlsx commits one; OpenMLS follows.
    let p = m[0].ext.app_data_update(COUNTER, b"2".to_vec()).unwrap();
    let commit = commit_with(&mut m[0], vec![p]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    openmls_follow(&bob, &mut theirs, &commit);
    agree(&m[..1], &theirs, "after mlsx's AppDataUpdate");
    assert_eq!(m[0].ext.dictionary(m[0].gr().context()).unwrap().get(COUNTER), Some(&b"012"[..]));

    // mlsx commits the first AppDataUpdate (the dictionary still first).
    let (mut m, bob, mut theirs) = openmls_creates_with_dictionary_first();
    let p = m[0].ext.app_data_update(COUNTER, b"a".to_vec()).unwrap();
    let commit = commit_with(&mut m[0], vec![p]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    openmls_follow(&bob, &mut theirs, &commit);
    agree(&m[..1], &theirs, "after mlsx's first AppDataUpdate");
    assert!(m[1].g().process_message(&commit).is_err(), "the in-place member splits");
    let commit = openmls_commits_update(&bob, &mut theirs, b"b");
    mlsx_follow(&mut m[0], &commit);
    agree(&m[..1], &theirs, "after OpenMLS's AppDataUpdate");
    assert_eq!(m[0].ext.dictionary(m[0].gr().context()).unwrap().get(COUNTER), Some(&b"0ab"[..]));
}
