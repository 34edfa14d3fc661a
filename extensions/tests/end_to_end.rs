//! draft-ietf-mls-extensions end to end, in groups of three or more
//! members, each with its own registry of the test components
//! (`common`): every commit is received by at least one other member, and
//! each MUST has a negative test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::panic_in_result_fn,
    clippy::needless_range_loop
)]

mod common;

use std::sync::Arc;

use common::*;
use mlsx_base::codec::{
    Credential, Extension, ExtensionType, ExternalSender, FramedContent, FramedContentBody, GroupContextExtensions, MlsMessage,
    MlsMessageBody, Proposal, RequiredCapabilities, Sender, VLBytes, WireFormat, encode,
};
use mlsx_base::crypto::{CipherSuiteProvider, LabeledCrypto};
use mlsx_base::group::{CommitOptions, Group, Received};
use mlsx_base::{PeerError, framing};
use mlsx_extensions::codec::{ComponentData, SafeAadItem};
use mlsx_extensions::safe::{hazmat, operation_label};
use mlsx_extensions::{
    APP_COMPONENTS, APPLICATION_EXPORT_LABEL, AppDataDictionary, ComponentsList, Error, ExporterTree, Extensions, GroupKey,
    GroupRequirements, SAFE_AAD, SafeAad, is_grease_component, safe_encrypt_with_label, safe_verify_with_label,
};

fn requirements() -> GroupRequirements {
    GroupRequirements {
        components: vec![COUNTER, RECEIPTS],
        ..GroupRequirements::default()
    }
}

fn counter(m: &mut Member) -> Option<Vec<u8>> {
    let d = m.ext.dictionary(m.group.as_ref().unwrap().context()).unwrap();
    d.get(COUNTER).map(<[u8]>::to_vec)
}

// ------------------------------------------------------------ AppDataUpdate

#[test]
fn app_data_update_keeps_every_member_in_step() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let p = |m: &Member, d: &[u8]| m.ext.app_data_update(COUNTER, d.to_vec()).unwrap();
    let ps = vec![p(&m[0], b"a"), p(&m[0], b"b")];
    let c = commit_with(&mut m[0], ps).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    for i in 0..3 {
        assert_eq!(counter(&mut m[i]).as_deref(), Some(&b"ab"[..]), "member {i}");
    }
    // The entry is inserted in order: app_components (1) first.
    let d = m[1].ext.dictionary(m[1].gr().context()).unwrap();
    assert_eq!(d.ids().collect::<Vec<_>>(), vec![APP_COMPONENTS, COUNTER]);
    // Bob removes it, Carol sets it again.
    let ps = vec![m[1].ext.app_data_remove(COUNTER).unwrap()];
    let c = commit_with(&mut m[1], ps).unwrap();
    m[1].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 1, &c);
    assert_eq!(counter(&mut m[2]), None);
    let ps = vec![p(&m[2], b"c")];
    let c = commit_with(&mut m[2], ps).unwrap();
    m[2].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 2, &c);
    assert_agree(&mut m);
    assert_eq!(counter(&mut m[0]).as_deref(), Some(&b"c"[..]));
}

#[test]
fn app_data_update_needs_no_update_path() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let proposals = vec![m[0].ext.app_data_update(COUNTER, b"x".to_vec()).unwrap()];
    let out = m[0]
        .g()
        .commit(CommitOptions {
            proposals,
            force_path: false,
            ..CommitOptions::default()
        })
        .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let MlsMessageBody::PublicMessage(pm) = &out.commit.body else {
        panic!()
    };
    let FramedContentBody::Commit(c) = &pm.content.body else { panic!() };
    assert!(c.path.is_none());
    deliver_commit(&mut m, 0, &out.commit);
    assert_agree(&mut m);
}

#[test]
fn app_ephemeral_runs_after_default_proposals_and_before_app_data_update() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let e = &m[0].ext;
    let proposals = vec![
        e.app_data_update(LOG, b"u1".to_vec()).unwrap(),
        e.app_ephemeral(LOG, b"e1".to_vec()).unwrap(),
        e.app_data_update(LOG, b"u2".to_vec()).unwrap(),
        e.app_ephemeral(RECEIPTS, b"r".to_vec()).unwrap(),
        e.app_ephemeral(LOG, b"e2".to_vec()).unwrap(),
    ];
    let c = commit_with(&mut m[0], proposals).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let ephemeral = deliver_commit(&mut m, 0, &c);
    assert_eq!(
        *m[1].log.lock().unwrap(),
        ["ephemeral e1", "ephemeral e2", "update u1", "update u2"]
    );
    let got: Vec<(u16, Vec<u8>)> = ephemeral[2]
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| (a.component_id, a.data.as_slice().to_vec()))
        .collect();
    // Commit order, across components.
    assert_eq!(got, [(LOG, b"e1".to_vec()), (RECEIPTS, b"r".to_vec()), (LOG, b"e2".to_vec())]);
    assert_eq!(m[2].ext.dictionary(m[2].gr().context()).unwrap().get(LOG), Some(&b"u2"[..]));
    assert_agree(&mut m);
}

#[test]
fn app_data_update_rules_are_enforced_by_the_committer() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let upd = |m: &Member, d: &[u8]| m.ext.app_data_update(COUNTER, d.to_vec()).unwrap();
    let rm = |m: &Member| m.ext.app_data_remove(COUNTER).unwrap();
    let epoch = m[0].g().epoch();
    // Removing an entry that does not exist.
    let ps = vec![rm(&m[0])];
    let err = commit_with(&mut m[0], ps).unwrap_err();
    assert!(matches!(ext_error(&err), Error::RemoveOfAbsentEntry(COUNTER)), "{err:?}");
    // Update and remove of one component, and two removes.
    let ps = vec![upd(&m[0], b"a")];
    let c = commit_with(&mut m[0], ps).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    for list in [vec![upd(&m[0], b"b"), rm(&m[0])], vec![rm(&m[0]), rm(&m[0])]] {
        let err = commit_with(&mut m[0], list).unwrap_err();
        assert!(matches!(ext_error(&err), Error::ConflictingAppDataUpdates(COUNTER)), "{err:?}");
    }
    // A component unknown to the application.
    let ps = vec![m[0].ext.app_data_update(0x9999, b"x".to_vec()).unwrap()];
    let err = commit_with(&mut m[0], ps).unwrap_err();
    assert!(matches!(ext_error(&err), Error::UnknownComponent(0x9999)), "{err:?}");
    // The component refuses the update.
    let ps = vec![upd(&m[0], b"bad")];
    let err = commit_with(&mut m[0], ps).unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::ComponentRejected { component: COUNTER, .. }),
        "{err:?}"
    );
    // A component that takes no updates.
    let ps = vec![m[0].ext.app_data_update(RECEIPTS, b"x".to_vec()).unwrap()];
    let err = commit_with(&mut m[0], ps).unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::ComponentRejected { component: RECEIPTS, .. }),
        "{err:?}"
    );
    assert_eq!(m[0].g().epoch(), epoch + 1);
    assert!(m[0].g().pending_commit().is_none());
}

#[test]
fn app_data_update_rules_are_enforced_by_receivers() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let ps = vec![m[0].ext.app_data_update(COUNTER, b"a".to_vec()).unwrap()];
    let c = commit_with(&mut m[0], ps).unwrap();
    let before = m[1].g().context().clone();
    let forged_lists = [
        (m[0].ext.app_data_remove(COUNTER).unwrap(), "update+remove"),
        (m[0].ext.app_data_update(0x9999, b"x".to_vec()).unwrap(), "unknown"),
        (m[0].ext.app_ephemeral(0x9999, b"x".to_vec()).unwrap(), "unknown ephemeral"),
        (m[0].ext.app_ephemeral(COUNTER, b"x".to_vec()).unwrap(), "refused ephemeral"),
    ];
    for (p, what) in forged_lists {
        let forged = forge(&mut m[0], &c, push_proposal(p));
        let err = stage(&mut m[1], &forged).unwrap_err();
        let e = ext_error(&err);
        let ok = match what {
            "update+remove" => matches!(e, Error::ConflictingAppDataUpdates(COUNTER)),
            "unknown" | "unknown ephemeral" => matches!(e, Error::UnknownComponent(0x9999)),
            _ => matches!(e, Error::ComponentRejected { component: COUNTER, .. }),
        };
        assert!(ok, "{what}: {err:?}");
        assert_eq!(m[1].g().context(), &before);
    }
    // The honest commit still goes through afterwards.
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
}

#[test]
fn app_data_update_from_an_external_sender() {
    let cs = suite1();
    let (ds_sk, ds_pk) = cs.signature_generate_key_pair().unwrap();
    let senders = vec![ExternalSender {
        signature_key: ds_pk.into(),
        credential: Credential::Basic(VLBytes::new(b"ds".to_vec())),
    }];
    let mut members: Vec<Member> = (0..3).map(|_| Member::new(Some(b"secret"))).collect();
    let mut context = members[0].ext.group_context_extensions(&requirements()).unwrap();
    context.insert(0, Extension::new(ExtensionType::EXTERNAL_SENDERS, encode(&senders).unwrap()));
    let id = members[0].identity(cs.as_ref(), "a");
    members[0].group = Some(Group::create_with_extensions(cs.clone(), id, b"g".to_vec(), context, members[0].config.clone()).unwrap());
    let bundles: Vec<_> = (1..3).map(|i| members[i].key_package(cs.as_ref(), "x")).collect();
    let out = members[0]
        .g()
        .commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))
        .unwrap();
    members[0].g().merge_pending_commit().unwrap();
    for (i, b) in bundles.into_iter().enumerate() {
        let c = members[i + 1].config.clone();
        members[i + 1].group = Some(Group::join(cs.clone(), out.welcome_message().unwrap(), b, None, c).unwrap());
    }
    let g = members[0].group.as_ref().unwrap();
    let content = FramedContent {
        group_id: g.context().group_id.clone(),
        epoch: g.epoch(),
        sender: Sender::External(0),
        authenticated_data: VLBytes::default(),
        body: FramedContentBody::Proposal(members[0].ext.app_data_update(COUNTER, b"ds".to_vec()).unwrap()),
    };
    let msg = MlsMessage::new(MlsMessageBody::PublicMessage(
        framing::protect_public(cs.as_ref(), &ds_sk, content, None, g.context(), None).unwrap(),
    ));
    for m in &mut members {
        assert!(matches!(m.g().process_message(&msg).unwrap(), Received::Proposal(_)));
    }
    let c = commit_with(&mut members[1], vec![]).unwrap();
    members[1].g().merge_pending_commit().unwrap();
    deliver_commit(&mut members, 1, &c);
    assert_agree(&mut members);
    assert_eq!(counter(&mut members[2]).as_deref(), Some(&b"ds"[..]));
}

// ------------------------------------------- dictionary, GroupContextExtensions

fn gce_with(m: &mut Member, edit: impl FnOnce(&mut Vec<Extension>)) -> Proposal {
    let mut extensions = m.g().context().extensions.clone();
    edit(&mut extensions);
    Proposal::GroupContextExtensions(GroupContextExtensions { extensions })
}

fn dictionary_extension(entries: &[(u16, &[u8])]) -> Extension {
    let d = AppDataDictionary {
        component_data: entries
            .iter()
            .map(|(id, data)| ComponentData {
                component_id: *id,
                data: data.to_vec().into(),
            })
            .collect(),
    };
    Extension::new(ExtensionType(0x0006), encode(&d).unwrap())
}

fn app_components(ids: &[u16]) -> Vec<u8> {
    encode(&ComponentsList::of(ids.iter().copied())).unwrap()
}

#[test]
fn group_context_extensions_may_not_change_the_dictionary_when_app_data_update_is_required() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let list = app_components(&[COUNTER, RECEIPTS]);
    let changed = gce_with(&mut m[0], |e| {
        e.retain(|x| x.extension_type != ExtensionType(0x0006));
        e.push(dictionary_extension(&[(APP_COMPONENTS, &list), (COUNTER, b"gce")]));
    });
    let err = commit_with(&mut m[0], vec![changed.clone()]).unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::DictionaryChangedByGroupContextExtensions),
        "{err:?}"
    );
    // Receivers refuse it too.
    let honest = commit_with(&mut m[0], vec![]).unwrap();
    let forged = forge(&mut m[0], &honest, push_proposal(changed));
    let err = stage(&mut m[1], &forged).unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::DictionaryChangedByGroupContextExtensions),
        "{err:?}"
    );
    m[0].g().clear_pending_commit();
    // A GroupContextExtensions that leaves the dictionary alone may share a
    // commit with AppDataUpdates.
    let other = gce_with(&mut m[0], |e| {
        for x in e.iter_mut().filter(|x| x.extension_type == ExtensionType::REQUIRED_CAPABILITIES) {
            let mut rc: RequiredCapabilities = mlsx_base::codec::decode(x.extension_data.as_slice()).unwrap();
            rc.credential_types.push(mlsx_base::codec::CredentialType::BASIC);
            *x = Extension::new(ExtensionType::REQUIRED_CAPABILITIES, encode(&rc).unwrap());
        }
    });
    let upd = m[0].ext.app_data_update(COUNTER, b"z".to_vec()).unwrap();
    let c = commit_with(&mut m[0], vec![other, upd]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    assert_eq!(counter(&mut m[1]).as_deref(), Some(&b"z"[..]));
}

/// A group whose `required_capabilities` does not list AppDataUpdate.
fn group_without_required_app_data_update(cs: &Arc<dyn CipherSuiteProvider>) -> Vec<Member> {
    let mut m = group(cs, 3, &requirements());
    let gce = gce_with(&mut m[0], |e| {
        e.retain(|x| x.extension_type != ExtensionType::REQUIRED_CAPABILITIES)
    });
    let c = commit_with(&mut m[0], vec![gce]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    m
}

#[test]
fn group_context_extensions_may_change_the_dictionary_otherwise() {
    let cs = suite1();
    let mut m = group_without_required_app_data_update(&cs);
    let list = app_components(&[COUNTER]);
    let gce = gce_with(&mut m[0], |e| {
        e.retain(|x| x.extension_type != ExtensionType(0x0006));
        e.push(dictionary_extension(&[(APP_COMPONENTS, &list), (COUNTER, b"gce")]));
    });
    let c = commit_with(&mut m[0], vec![gce]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    assert_eq!(counter(&mut m[2]).as_deref(), Some(&b"gce"[..]));
}

#[test]
fn unsorted_or_duplicated_dictionaries_are_rejected() {
    let cs = suite1();
    let mut m = group_without_required_app_data_update(&cs);
    let list = app_components(&[]);
    for entries in [
        vec![(COUNTER, &b"x"[..]), (APP_COMPONENTS, &list[..])],
        vec![(APP_COMPONENTS, &list[..]), (COUNTER, b"x"), (COUNTER, b"y")],
    ] {
        let gce = gce_with(&mut m[0], |e| {
            e.retain(|x| x.extension_type != ExtensionType(0x0006));
            e.push(dictionary_extension(&entries));
        });
        let err = commit_with(&mut m[0], vec![gce.clone()]).unwrap_err();
        assert!(matches!(ext_error(&err), Error::UnsortedDictionary(_)), "{err:?}");
        let honest = commit_with(&mut m[0], vec![]).unwrap();
        let forged = forge(&mut m[0], &honest, push_proposal(gce));
        let err = stage(&mut m[1], &forged).unwrap_err();
        assert!(matches!(ext_error(&err), Error::UnsortedDictionary(_)), "{err:?}");
        m[0].g().clear_pending_commit();
    }
    // In a KeyPackage's leaf: the Add is refused.
    let dave = Member::new(None);
    let mut id = dave.identity(cs.as_ref(), "dave");
    id.leaf_extensions = vec![dictionary_extension(&[(COUNTER, b""), (APP_COMPONENTS, b"\0")])];
    let kp = id.key_package(cs.as_ref()).unwrap();
    let err = m[0].g().commit(CommitOptions::add(vec![kp.key_package])).unwrap_err();
    assert!(matches!(ext_error(&err), Error::UnsortedDictionary(_)), "{err:?}");
}

#[test]
fn a_component_id_is_registered_once() {
    let mut ext = Extensions::new();
    ext.register(Arc::new(Counter)).unwrap();
    assert!(matches!(ext.register(Arc::new(Counter)), Err(Error::DuplicateComponent(COUNTER))));
}

// ----------------------------------------------------------------- SafeAAD

fn safe_aad_requirements() -> GroupRequirements {
    GroupRequirements {
        safe_aad: Some(vec![RECEIPTS]),
        ..requirements()
    }
}

fn receive_app(m: &mut Member, msg: &MlsMessage) -> Result<(Vec<u8>, Vec<u8>), mlsx_base::Error> {
    match m.g().process_message(msg)? {
        Received::Application {
            data, authenticated_data, ..
        } => Ok((data, authenticated_data)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn safe_aad_frames_the_whole_authenticated_data() {
    let cs = suite1();
    let mut m = group(&cs, 3, &safe_aad_requirements());
    let aad = SafeAad::build([(RECEIPTS, b"read:7".to_vec()), (COUNTER, b"c".to_vec())]).unwrap();
    let msg = m[0].g().encrypt_application(b"hi", &aad).unwrap();
    for i in 1..3 {
        let (data, got) = receive_app(&mut m[i], &msg).unwrap();
        assert_eq!(data, b"hi");
        let parsed = SafeAad::parse(&got).unwrap();
        assert_eq!(parsed.get(RECEIPTS), Some(&b"read:7"[..]));
        assert_eq!(
            parsed.aad_items.iter().map(|i| i.component_id).collect::<Vec<_>>(),
            [COUNTER, RECEIPTS]
        );
    }
    // Nothing to send: an empty SafeAAD, not empty bytes.
    let msg = m[1].g().encrypt_application(b"x", &[]).unwrap();
    let (_, got) = receive_app(&mut m[2], &msg).unwrap();
    assert_eq!(got, [0]);
    // Commits too.
    let c = commit_with(&mut m[2], vec![]).unwrap();
    let MlsMessageBody::PublicMessage(pm) = &c.body else { panic!() };
    assert_eq!(pm.content.authenticated_data.as_slice(), [0]);
    m[2].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 2, &c);
    // Unframed or unsorted AAD is refused when sending.
    let unsorted = encode(&SafeAad {
        aad_items: vec![
            SafeAadItem {
                component_id: RECEIPTS,
                aad_item_data: b"a".to_vec().into(),
            },
            SafeAadItem {
                component_id: COUNTER,
                aad_item_data: b"b".to_vec().into(),
            },
        ],
    })
    .unwrap();
    for bad in [b"raw bytes".to_vec(), unsorted.clone(), [aad.clone(), b"trailer".to_vec()].concat()] {
        let err = m[0].g().encrypt_application(b"x", &bad).unwrap_err();
        assert!(matches!(ext_error(&err), Error::AadNotSafe), "{err:?}");
        let err = m[0]
            .g()
            .commit(CommitOptions {
                authenticated_data: bad,
                ..CommitOptions::default()
            })
            .unwrap_err();
        assert!(matches!(ext_error(&err), Error::AadNotSafe), "{err:?}");
    }
    // And when receiving (a proposal re-signed with such AAD).
    let update = m[0].g().propose_update().unwrap();
    for bad in [b"raw bytes".to_vec(), unsorted, vec![]] {
        let forged = forge(&mut m[0], &update, |c| c.authenticated_data = bad.into());
        let err = m[1].g().process_message(&forged).unwrap_err();
        assert!(matches!(ext_error(&err), Error::AadNotSafe), "{err:?}");
    }
    // A component refuses its item: the sender's own component first, with
    // the error a receiver reports, so nothing is sent ...
    let bad = SafeAad::build([(RECEIPTS, b"forbidden".to_vec())]).unwrap();
    let sent = m[2].g().encrypt_application(b"x", &bad).unwrap_err();
    assert!(
        matches!(ext_error(&sent), Error::ComponentRejected { component: RECEIPTS, .. }),
        "{sent:?}"
    );
    // ... and a receiver, from a sender that sends it anyway (re-signed);
    // the receiver is unchanged and takes the next message.
    let forged = forge(&mut m[0], &update, |c| c.authenticated_data = bad.clone().into());
    let err = m[1].g().process_message(&forged).unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::ComponentRejected { component: RECEIPTS, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), sent.to_string());
    let msg = m[2].g().encrypt_application(b"after", &[]).unwrap();
    assert_eq!(receive_app(&mut m[1], &msg).unwrap().0, b"after");
}

#[test]
fn without_safe_aad_the_authenticated_data_is_free() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let msg = m[0].g().encrypt_application(b"hi", b"raw bytes").unwrap();
    assert_eq!(receive_app(&mut m[1], &msg).unwrap().1, b"raw bytes");
}

// ----------------------------------------------------------------- exports

#[test]
fn exporter_tree_paths_follow_the_component_id_bits() {
    let cs = suite1();
    let root = mlsx_base::crypto::Secret::from_slice(&[7u8; 32]);
    let step = |s: &mlsx_base::crypto::Secret, right: bool| {
        cs.expand_with_label(s.as_bytes(), b"tree", if right { b"right" } else { b"left" }, 32)
            .unwrap()
    };
    for id in [0u16, 1, 0x0006, 0x8000, 0xffff] {
        let mut s = root.duplicate();
        for bit in (0..16).rev() {
            s = step(&s, (id >> bit) & 1 == 1);
        }
        let mut tree = ExporterTree::new(root.duplicate());
        assert_eq!(tree.export(cs.as_ref(), id).unwrap().as_bytes(), s.as_bytes(), "id {id:#06x}");
        assert!(matches!(tree.export(cs.as_ref(), id), Err(Error::AlreadyExported(x)) if x == id));
    }
    // Exports of several components from one tree match fresh trees.
    let mut tree = ExporterTree::new(root.duplicate());
    for id in [5u16, 4, 6, 0xfffe, 0] {
        let alone = ExporterTree::new(root.duplicate()).export(cs.as_ref(), id).unwrap();
        assert_eq!(tree.export(cs.as_ref(), id).unwrap().as_bytes(), alone.as_bytes());
    }
    assert!(tree.is_available(7) && !tree.is_available(6));
}

#[test]
fn safe_export_secret_is_shared_once_per_component_and_epoch() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let root = m[0].g().extra_epoch_secret(APPLICATION_EXPORT_LABEL).unwrap().as_bytes().to_vec();
    let exports: Vec<Vec<u8>> = m.iter_mut().map(|x| x.export(COUNTER).unwrap().as_bytes().to_vec()).collect();
    assert!(exports.iter().all(|e| *e == exports[0]));
    assert_ne!(exports[0], root);
    assert!(matches!(m[0].export(COUNTER), Err(Error::AlreadyExported(COUNTER))));
    // Another component still exports, its own secret.
    let receipts = m[0].export(RECEIPTS).unwrap();
    assert_ne!(receipts.as_bytes(), exports[0].as_slice());
    // Saved state holds neither the root nor what was exported, and the
    // export stays consumed after loading.
    let saved = m[0].gr().save().unwrap();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(&saved, &root));
    assert!(!contains(&saved, &exports[0]));
    assert!(!contains(&saved, receipts.as_bytes()));
    let mut loaded = Group::load(cs.clone(), &saved, m[0].config.clone()).unwrap();
    assert!(matches!(
        m[0].keys[&COUNTER].safe_export_secret(&mut loaded),
        Err(Error::AlreadyExported(COUNTER))
    ));
    let vault = m[0].keys[&VAULT].safe_export_secret(&mut loaded).unwrap();
    assert_eq!(m[1].export(VAULT).unwrap().as_bytes(), vault.as_bytes());
}

#[test]
fn safe_export_secret_from_staged_commits_and_after_a_welcome() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let dave = Member::new(Some(b"secret"));
    let kp = dave.key_package(cs.as_ref(), "dave");
    let out = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    // The committer, from its pending commit before the DS confirms it.
    let from_pending = m[0].export_pending(COUNTER).unwrap();
    // A receiver, from the staged commit before merging.
    let mut staged = stage(&mut m[1], &out.commit).unwrap();
    let from_staged = m[1].keys[&COUNTER].safe_export_secret_staged(cs.as_ref(), &mut staged).unwrap();
    assert!(matches!(
        m[1].keys[&COUNTER].safe_export_secret_staged(cs.as_ref(), &mut staged),
        Err(Error::AlreadyExported(COUNTER))
    ));
    m[1].g().merge_staged_commit(staged).unwrap();
    // Consumed before merging stays consumed after.
    assert!(matches!(m[1].export(COUNTER), Err(Error::AlreadyExported(COUNTER))));
    m[0].g().merge_pending_commit().unwrap();
    assert!(matches!(m[0].export(COUNTER), Err(Error::AlreadyExported(COUNTER))));
    // A member after merging, and the joiner right after its Welcome.
    let mut staged = stage(&mut m[2], &out.commit).unwrap();
    let _ = &mut staged;
    m[2].g().merge_staged_commit(staged).unwrap();
    let merged = m[2].export(COUNTER).unwrap();
    let mut joined = Group::join(cs.clone(), out.welcome_message().unwrap(), kp, None, dave.config.clone()).unwrap();
    let joiner = dave.keys[&COUNTER].safe_export_secret(&mut joined).unwrap();
    for s in [&from_staged, &merged, &joiner] {
        assert_eq!(s.as_bytes(), from_pending.as_bytes());
    }
    // The next epoch has a new tree.
    let c = commit_with(&mut m[2], vec![]).unwrap();
    m[2].g().merge_pending_commit().unwrap();
    assert_ne!(m[2].export(COUNTER).unwrap().as_bytes(), merged.as_bytes());
    let _ = c;
}

// ------------------------------------------------------- safe HPKE, signing

#[test]
fn operation_label_is_the_encoded_component_operation_label() {
    let label = operation_label(0x0006, b"op").unwrap();
    let mut want = vec![13];
    want.extend_from_slice(b"MLS Component");
    want.extend_from_slice(&[0x00, 0x06, 2]);
    want.extend_from_slice(b"op");
    assert_eq!(label, want);
}

#[test]
fn safe_hpke_and_signatures_are_bound_to_the_component() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let bob_leaf = m[1].g().own_leaf();
    let bob_pk = m[0].g().tree().leaf(bob_leaf).unwrap().encryption_key.as_slice().to_vec();
    // To Bob's leaf, for RECEIPTS: only RECEIPTS decrypts.
    let ct = safe_encrypt_with_label(cs.as_ref(), &bob_pk, RECEIPTS, b"note", b"ctx", b"secret note").unwrap();
    let g1 = m[1].group.as_ref().unwrap();
    let pt = m[1].keys[&RECEIPTS]
        .decrypt_in_group(g1, GroupKey::OwnLeaf, b"note", b"ctx", &ct)
        .unwrap();
    assert_eq!(pt.as_bytes(), b"secret note");
    assert!(
        m[1].keys[&COUNTER]
            .decrypt_in_group(g1, GroupKey::OwnLeaf, b"note", b"ctx", &ct)
            .is_err()
    );
    assert!(
        m[1].keys[&RECEIPTS]
            .decrypt_in_group(g1, GroupKey::OwnLeaf, b"other", b"ctx", &ct)
            .is_err()
    );
    assert!(
        m[1].keys[&RECEIPTS]
            .decrypt_in_group(g1, GroupKey::OwnLeaf, b"note", b"other", &ct)
            .is_err()
    );
    // The leaf node index works the same.
    let node = bob_leaf.node().unwrap();
    assert!(
        m[1].keys[&RECEIPTS]
            .decrypt_in_group(g1, GroupKey::Node(node), b"note", b"ctx", &ct)
            .is_ok()
    );
    // To the external key pair: every member decrypts.
    let (_, external_pub) = m[0].g().external_key_pair().unwrap();
    let ct = safe_encrypt_with_label(cs.as_ref(), &external_pub, COUNTER, b"all", b"", b"to everyone").unwrap();
    for x in &m {
        let g = x.group.as_ref().unwrap();
        assert_eq!(
            x.keys[&COUNTER]
                .decrypt_in_group(g, GroupKey::External, b"all", b"", &ct)
                .unwrap()
                .as_bytes(),
            b"to everyone"
        );
    }
    // To a KeyPackage's init key.
    let dave = Member::new(None);
    let kp = dave.key_package(cs.as_ref(), "dave");
    let ct = safe_encrypt_with_label(cs.as_ref(), kp.key_package.init_key.as_slice(), VAULT, b"kp", b"", b"hello dave").unwrap();
    assert_eq!(
        dave.keys[&VAULT]
            .safe_decrypt_with_label(cs.as_ref(), &kp.init_key, b"kp", b"", &ct)
            .unwrap()
            .as_bytes(),
        b"hello dave"
    );
    assert!(
        dave.keys[&COUNTER]
            .safe_decrypt_with_label(cs.as_ref(), &kp.init_key, b"kp", b"", &ct)
            .is_err()
    );
    // Signatures: Alice signs as COUNTER; anyone verifies with her leaf key,
    // only as COUNTER.
    let g0 = m[0].group.as_ref().unwrap();
    let sig = m[0].keys[&COUNTER].sign_in_group(g0, b"vote", b"yes").unwrap();
    let alice_key = m[2]
        .gr()
        .tree()
        .leaf(m[0].gr().own_leaf())
        .unwrap()
        .signature_key
        .as_slice()
        .to_vec();
    safe_verify_with_label(cs.as_ref(), &alice_key, COUNTER, b"vote", b"yes", &sig).unwrap();
    assert!(safe_verify_with_label(cs.as_ref(), &alice_key, RECEIPTS, b"vote", b"yes", &sig).is_err());
    assert!(safe_verify_with_label(cs.as_ref(), &alice_key, COUNTER, b"vote", b"no", &sig).is_err());
    // A plain SignWithLabel under the operation label is the same thing.
    let plain = cs
        .verify_with_label(&alice_key, &operation_label(COUNTER, b"vote").unwrap(), b"yes", &sig)
        .is_ok();
    assert!(plain);
    // The hazmat forms take any id, for vectors.
    let g0 = m[0].group.as_ref().unwrap();
    let sig = hazmat::safe_sign_with_label(cs.as_ref(), &g0.identity().signer, RECEIPTS, b"vote", b"yes").unwrap();
    safe_verify_with_label(cs.as_ref(), &alice_key, RECEIPTS, b"vote", b"yes", &sig).unwrap();
}

// ---------------------------------------------------------- application PSK

#[test]
fn application_psks_in_commits_and_welcomes() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let psk = m[0].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap();
    let c = commit_with(&mut m[0], vec![psk]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    // In a Welcome: Dave holds the value and joins; Erin does not.
    let dave = Member::new(Some(b"secret"));
    let erin = Member::new(None);
    let kd = dave.key_package(cs.as_ref(), "dave");
    let ke = erin.key_package(cs.as_ref(), "erin");
    let psk = m[1].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap();
    let out = m[1]
        .g()
        .commit(CommitOptions {
            proposals: vec![
                Proposal::Add(mlsx_base::codec::Add::new(kd.key_package.clone())),
                Proposal::Add(mlsx_base::codec::Add::new(ke.key_package.clone())),
                psk,
            ],
            ..CommitOptions::default()
        })
        .unwrap();
    m[1].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 1, &out.commit);
    let welcome = out.welcome_message().unwrap();
    let joined = Group::join(cs.clone(), welcome, kd, None, dave.config.clone()).unwrap();
    assert_eq!(joined.epoch_authenticator(), m[0].g().epoch_authenticator());
    let err = Group::join(cs.clone(), welcome, ke, None, erin.config.clone()).unwrap_err();
    assert!(matches!(err, mlsx_base::Error::Peer(PeerError::MissingPsk)), "{err:?}");
    // A member without the value cannot follow a commit that injects it.
    let mut m = group(&cs, 2, &requirements());
    let mut carol = Member::new(None);
    let kc = carol.key_package(cs.as_ref(), "carol");
    let out = m[0].g().commit(CommitOptions::add(vec![kc.key_package.clone()])).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &out.commit);
    carol.group = Some(Group::join(cs.clone(), out.welcome_message().unwrap(), kc, None, carol.config.clone()).unwrap());
    let psk = m[0].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap();
    let c = commit_with(&mut m[0], vec![psk]).unwrap();
    let err = stage(&mut carol, &c).unwrap_err();
    assert!(matches!(err, mlsx_base::Error::Peer(PeerError::MissingPsk)), "{err:?}");
    assert!(stage(&mut m[1], &c).is_ok());
}

// -------------------------------------------------------------- negotiation

#[test]
fn our_leaves_advertise_components_with_grease() {
    let cs = suite1();
    let mut m = group(&cs, 3, &safe_aad_requirements());
    let leaf = m[0].gr().tree().leaf(m[1].gr().own_leaf()).unwrap().clone();
    let d = AppDataDictionary::find(&leaf.extensions, ExtensionType(0x0006)).unwrap().unwrap();
    let supported = ComponentsList::parse(d.get(APP_COMPONENTS).unwrap()).unwrap();
    for id in [APP_COMPONENTS, SAFE_AAD, COUNTER, RECEIPTS, VAULT, LOG] {
        assert!(supported.contains(id), "{id:#06x}");
    }
    assert!(supported.component_ids.iter().any(|&i| is_grease_component(i)));
    let safe = ComponentsList::parse(d.get(SAFE_AAD).unwrap()).unwrap();
    assert!(safe.contains(RECEIPTS) && !safe.contains(COUNTER));
    assert!(safe.component_ids.iter().any(|&i| is_grease_component(i)));
    assert!(d.ids().any(is_grease_component));
    // GroupInfos carry a GREASE dictionary; joiners ignore it.
    let gi = m[0].g().group_info().unwrap();
    let d = AppDataDictionary::find(&gi.extensions, ExtensionType(0x0006)).unwrap().unwrap();
    assert!(d.ids().all(is_grease_component));
}

#[test]
fn adds_are_checked_against_required_components() {
    let cs = suite1();
    for (req, missing) in [(requirements(), COUNTER), (safe_aad_requirements(), RECEIPTS)] {
        let mut m = group(&cs, 3, &req);
        // Dave registered everything but the component required.
        let mut ext = Extensions::new();
        if missing != COUNTER {
            ext.register(Arc::new(Counter)).unwrap();
        }
        ext.register(Arc::new(Vault(None))).unwrap();
        if missing != RECEIPTS {
            ext.register(Arc::new(Receipts)).unwrap();
        }
        let mut id = mlsx_base::group::Identity::basic(cs.as_ref(), b"dave").unwrap();
        ext.advertise(&mut id).unwrap();
        if missing == RECEIPTS {
            // Supports RECEIPTS as a component but not in SafeAAD.
            let mut d = AppDataDictionary::find(&id.leaf_extensions, ExtensionType(0x0006))
                .unwrap()
                .unwrap();
            d.set(
                APP_COMPONENTS,
                app_components(&[APP_COMPONENTS, SAFE_AAD, COUNTER, RECEIPTS, VAULT]),
            );
            id.leaf_extensions = vec![d.to_extension(ExtensionType(0x0006)).unwrap()];
        }
        let kp = id.key_package(cs.as_ref()).unwrap();
        let err = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap_err();
        assert!(
            matches!(ext_error(&err), Error::MissingRequiredComponent(x) if *x == missing),
            "{err:?}"
        );
        // Receivers refuse such an Add as well.
        let honest = commit_with(&mut m[0], vec![]).unwrap();
        let forged = forge(
            &mut m[0],
            &honest,
            push_proposal(Proposal::Add(mlsx_base::codec::Add::new(kp.key_package))),
        );
        let err = stage(&mut m[1], &forged).unwrap_err();
        assert!(
            matches!(ext_error(&err), Error::MissingRequiredComponent(x) if *x == missing),
            "{err:?}"
        );
    }
}

#[test]
fn required_wire_formats_are_checked_on_adds() {
    const ENVELOPE: WireFormat = WireFormat(0xf0d0);
    let cs = suite1();
    let req = GroupRequirements {
        wire_formats: vec![ENVELOPE, WireFormat::PRIVATE_MESSAGE],
        ..requirements()
    };
    let mut members: Vec<Member> = (0..3)
        .map(|_| {
            let mut m = Member::new(None);
            m.ext.support_wire_format(ENVELOPE);
            m
        })
        .collect();
    let context = members[0].ext.group_context_extensions(&req).unwrap();
    let id = members[0].identity(cs.as_ref(), "a");
    members[0].group = Some(Group::create_with_extensions(cs.clone(), id, b"wf".to_vec(), context, members[0].config.clone()).unwrap());
    let kps: Vec<_> = (1..3).map(|i| members[i].key_package(cs.as_ref(), "x")).collect();
    let out = members[0]
        .g()
        .commit(CommitOptions::add(kps.iter().map(|k| k.key_package.clone()).collect()))
        .unwrap();
    members[0].g().merge_pending_commit().unwrap();
    for (i, k) in kps.into_iter().enumerate() {
        let c = members[i + 1].config.clone();
        members[i + 1].group = Some(Group::join(cs.clone(), out.welcome_message().unwrap(), k, None, c).unwrap());
    }
    // Dave does not support the envelope format.
    let dave = Member::new(None);
    let kp = dave.key_package(cs.as_ref(), "dave");
    let err = members[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap_err();
    assert!(matches!(ext_error(&err), Error::MissingRequiredWireFormat(ENVELOPE)), "{err:?}");
    let honest = commit_with(&mut members[0], vec![]).unwrap();
    let forged = forge(
        &mut members[0],
        &honest,
        push_proposal(Proposal::Add(mlsx_base::codec::Add::new(kp.key_package))),
    );
    let err = stage(&mut members[1], &forged).unwrap_err();
    assert!(matches!(ext_error(&err), Error::MissingRequiredWireFormat(ENVELOPE)), "{err:?}");
    members[0].g().clear_pending_commit();
    // Erin does.
    let mut erin = Member::new(None);
    erin.ext.support_wire_format(ENVELOPE);
    let kp = erin.key_package(cs.as_ref(), "erin");
    let out = members[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    members[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut members, 0, &out.commit);
    assert!(Group::join(cs.clone(), out.welcome_message().unwrap(), kp, None, erin.config.clone()).is_ok());
}

// ------------------------------------------------------- more of §4.6–§4.9

#[test]
fn app_data_update_and_app_ephemeral_in_an_external_commit() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    let mut dave = Member::new(Some(b"secret"));
    let gi = m[0].g().group_info().unwrap();
    // A component may refuse what comes from outside the group.
    let options = mlsx_base::group::ExternalJoinOptions {
        proposals: vec![dave.ext.app_data_update(COUNTER, b"members-only".to_vec()).unwrap()],
        ..Default::default()
    };
    let err = Group::join_external_with(
        cs.clone(),
        &gi,
        None,
        dave.identity(cs.as_ref(), "dave"),
        options,
        dave.config.clone(),
    )
    .unwrap_err();
    assert!(
        matches!(ext_error(&err), Error::ComponentRejected { component: COUNTER, .. }),
        "{err:?}"
    );
    // Otherwise both proposal types may come by value in an external commit.
    let options = mlsx_base::group::ExternalJoinOptions {
        proposals: vec![
            dave.ext.app_data_update(COUNTER, b"hello".to_vec()).unwrap(),
            dave.ext.app_ephemeral(RECEIPTS, b"joined".to_vec()).unwrap(),
        ],
        ..Default::default()
    };
    let (joined, commit) = Group::join_external_with(
        cs.clone(),
        &gi,
        None,
        dave.identity(cs.as_ref(), "dave"),
        options,
        dave.config.clone(),
    )
    .unwrap();
    dave.group = Some(joined);
    let seen = deliver_commit(&mut m, usize::MAX, &commit);
    for s in seen {
        let e = s.unwrap();
        assert_eq!((e[0].component_id, e[0].data.as_slice()), (RECEIPTS, &b"joined"[..]));
    }
    m.push(dave);
    assert_agree(&mut m);
    assert_eq!(counter(&mut m[3]).as_deref(), Some(&b"hello"[..]));
    // The joiner's exports agree with the members'.
    let secrets: Vec<Vec<u8>> = m.iter_mut().map(|x| x.export(COUNTER).unwrap().as_bytes().to_vec()).collect();
    assert!(secrets.iter().all(|s| *s == secrets[0]));
}

#[test]
fn more_receiver_side_rules() {
    let cs = suite1();
    let mut m = group(&cs, 3, &safe_aad_requirements());
    let before = m[1].gr().context().clone();
    let honest = commit_with(&mut m[0], vec![]).unwrap();
    // Removing an entry that does not exist.
    let rm = m[0].ext.app_data_remove(VAULT).unwrap();
    let forged = forge(&mut m[0], &honest, push_proposal(rm));
    let err = stage(&mut m[1], &forged).unwrap_err();
    assert!(matches!(ext_error(&err), Error::RemoveOfAbsentEntry(VAULT)), "{err:?}");
    // AppDataUpdate with op invalid(0): not decodable.
    let op0 = Proposal::Custom(mlsx_base::codec::CustomProposal::new(
        mlsx_base::codec::ProposalType(0x0008),
        vec![0x80, 0x01, 0x00],
    ));
    let forged = forge(&mut m[0], &honest, push_proposal(op0));
    assert!(stage(&mut m[1], &forged).is_err());
    assert_eq!(m[1].gr().context(), &before);
    // SafeAAD with one component twice: refused when sending and receiving.
    assert!(matches!(
        SafeAad::build([(RECEIPTS, vec![1]), (RECEIPTS, vec![2])]),
        Err(Error::AadNotSafe)
    ));
    let twice = encode(&SafeAad {
        aad_items: vec![
            SafeAadItem {
                component_id: RECEIPTS,
                aad_item_data: vec![1].into(),
            },
            SafeAadItem {
                component_id: RECEIPTS,
                aad_item_data: vec![2].into(),
            },
        ],
    })
    .unwrap();
    let err = m[2].g().encrypt_application(b"x", &twice).unwrap_err();
    assert!(matches!(ext_error(&err), Error::AadNotSafe), "{err:?}");
    let forged = forge(&mut m[0], &honest, |c| c.authenticated_data = twice.into());
    let err = stage(&mut m[1], &forged).unwrap_err();
    assert!(matches!(ext_error(&err), Error::AadNotSafe), "{err:?}");
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &honest);
    assert_agree(&mut m);
}

#[test]
fn reserved_component_ids_cannot_be_registered() {
    #[derive(Debug)]
    struct Any(u16);
    impl mlsx_extensions::Component for Any {
        fn id(&self) -> u16 {
            self.0
        }
    }
    let mut ext = Extensions::new();
    for id in [0, APP_COMPONENTS, SAFE_AAD, 0x0a0a, 0x7a7a] {
        assert!(matches!(ext.register(Arc::new(Any(id))), Err(Error::ReservedComponent(x)) if x == id));
    }
    ext.register(Arc::new(Any(0x0006))).unwrap();
}

#[test]
fn initial_component_data_and_the_applications_own_leaf_entries() {
    let cs = suite1();
    let req = GroupRequirements {
        data: vec![(COUNTER, b"start".to_vec())],
        ..requirements()
    };
    let mut m = group(&cs, 3, &req);
    assert_eq!(counter(&mut m[2]).as_deref(), Some(&b"start"[..]));
    let ps = vec![m[0].ext.app_data_update(COUNTER, b"+".to_vec()).unwrap()];
    let c = commit_with(&mut m[0], ps).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_eq!(counter(&mut m[1]).as_deref(), Some(&b"start+"[..]));
    // An entry the application puts in its leaf's dictionary survives
    // `advertise`, and travels in the KeyPackage.
    let dave = Member::new(None);
    let mut id = mlsx_base::group::Identity::basic(cs.as_ref(), b"dave").unwrap();
    let mut d = AppDataDictionary::default();
    d.set(COUNTER, b"my leaf data".to_vec());
    id.leaf_extensions = vec![d.to_extension(ExtensionType(0x0006)).unwrap()];
    dave.ext.advertise(&mut id).unwrap();
    dave.ext.advertise(&mut id).unwrap();
    let kp = id.key_package(cs.as_ref()).unwrap();
    let leaf = AppDataDictionary::find(&kp.key_package.leaf_node.extensions, ExtensionType(0x0006))
        .unwrap()
        .unwrap();
    assert_eq!(leaf.get(COUNTER), Some(&b"my leaf data"[..]));
    assert!(leaf.get(APP_COMPONENTS).is_some());
    assert_eq!(leaf.ids().filter(|&i| is_grease_component(i)).count(), 1);
    let out = m[0].g().commit(CommitOptions::add(vec![kp.key_package])).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &out.commit);
}

#[test]
fn safe_decryption_with_a_parent_node_key() {
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    // Alice's Add commit gave Bob (leaf 1) the key of node 1, the parent of
    // leaves 0 and 1; Carol (leaf 2) does not hold it.
    let node = mlsx_base::tree::math::NodeIndex(1);
    let pk = m[0].gr().tree().parent_node(node).unwrap().encryption_key.as_slice().to_vec();
    let ct = safe_encrypt_with_label(cs.as_ref(), &pk, VAULT, b"subtree", b"", b"for leaves 0 and 1").unwrap();
    for i in [0, 1] {
        let pt = m[i].keys[&VAULT]
            .decrypt_in_group(m[i].gr(), GroupKey::Node(node), b"subtree", b"", &ct)
            .unwrap();
        assert_eq!(pt.as_bytes(), b"for leaves 0 and 1");
    }
    let err = m[2].keys[&VAULT]
        .decrypt_in_group(m[2].gr(), GroupKey::Node(node), b"subtree", b"", &ct)
        .unwrap_err();
    assert!(matches!(err, Error::NoPrivateKey));
    let _ = m[2].g();
}

#[test]
fn application_psks_of_unregistered_components_come_from_the_earlier_store() {
    #[derive(Debug)]
    struct Store;
    impl mlsx_base::group::hooks::PskStore for Store {
        fn psk(&self, id: &mlsx_base::codec::Psk) -> Option<mlsx_base::crypto::Secret> {
            match id {
                mlsx_base::codec::Psk::Application(a) if a.component_id == 0x9000 => Some(mlsx_base::crypto::Secret::from_slice(b"other")),
                _ => None,
            }
        }
    }
    let cs = suite1();
    let mut m = group(&cs, 3, &requirements());
    for x in &mut m {
        let mut config = mlsx_base::group::GroupConfig::default();
        config.hooks = config.hooks.with_psk_store(Arc::new(Store));
        x.ext.install(&mut config).unwrap();
        let saved = x.gr().save().unwrap();
        x.group = Some(Group::load(cs.clone(), &saved, config.clone()).unwrap());
        x.config = config;
    }
    let p = m[0].ext.application_psk(cs.as_ref(), 0x9000, b"x".to_vec()).unwrap();
    let c = commit_with(&mut m[0], vec![p]).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
    // The components' own PSKs still work after chaining.
    let p = m[1].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap();
    let c = commit_with(&mut m[1], vec![p]).unwrap();
    m[1].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 1, &c);
    assert_agree(&mut m);
}

// -------------------------------------------------------------- PQ suites

/// The same machinery in PQ suites (ML-KEM-768 with X25519 and Ed25519;
/// pure ML-KEM-768 with ML-DSA-65): AppDataUpdate, AppEphemeral, exports
/// from a staged commit, safe HPKE to the external key (an ML-KEM key) and
/// ML-DSA safe signatures, application PSKs.
#[test]
fn pq_suites_run_the_same_machinery() {
    for suite in [mlsx_pq_suites::PqSuite::Tbd1, mlsx_pq_suites::PqSuite::Tbd10] {
        let cs = suite.provider().unwrap();
        let mut m = group(&cs, 3, &safe_aad_requirements());
        let ps = vec![
            m[0].ext.app_data_update(COUNTER, b"pq".to_vec()).unwrap(),
            m[0].ext.app_ephemeral(RECEIPTS, b"r".to_vec()).unwrap(),
            m[0].ext.application_psk(cs.as_ref(), VAULT, b"pw".to_vec()).unwrap(),
        ];
        let c = commit_with(&mut m[0], ps).unwrap();
        let staged_secret = m[0].export_pending(COUNTER).unwrap();
        m[0].g().merge_pending_commit().unwrap();
        deliver_commit(&mut m, 0, &c);
        assert_agree(&mut m);
        assert_eq!(counter(&mut m[2]).as_deref(), Some(&b"pq"[..]), "{suite:?}");
        assert_eq!(m[1].export(COUNTER).unwrap().as_bytes(), staged_secret.as_bytes());
        let (_, external_pub) = m[0].g().external_key_pair().unwrap();
        let ct = safe_encrypt_with_label(cs.as_ref(), &external_pub, VAULT, b"pq", b"", b"post-quantum").unwrap();
        let pt = m[2].keys[&VAULT]
            .decrypt_in_group(m[2].gr(), GroupKey::External, b"pq", b"", &ct)
            .unwrap();
        assert_eq!(pt.as_bytes(), b"post-quantum");
        let sig = m[1].keys[&COUNTER].sign_in_group(m[1].gr(), b"pq", b"content").unwrap();
        let key = m[0]
            .gr()
            .tree()
            .leaf(m[1].gr().own_leaf())
            .unwrap()
            .signature_key
            .as_slice()
            .to_vec();
        safe_verify_with_label(cs.as_ref(), &key, COUNTER, b"pq", b"content", &sig).unwrap();
        assert!(safe_verify_with_label(cs.as_ref(), &key, RECEIPTS, b"pq", b"content", &sig).is_err());
        let aad = SafeAad::build([(RECEIPTS, b"x".to_vec())]).unwrap();
        let msg = m[2].g().encrypt_application(b"hello", &aad).unwrap();
        assert_eq!(receive_app(&mut m[0], &msg).unwrap().1, aad);
    }
}
