//! Content advertisement (draft-ietf-mls-extensions §6.2) in groups of
//! three: media types parsed and compared per RFC 6838 and RFC 2045, the
//! `content_media_types` lists, the ApplicationFraming of application data,
//! and the committer's check before an Add.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

mod common;

use std::sync::Arc;

use common::*;
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Received};
use mlsx_extensions::{CONTENT_MEDIA_TYPES, ContentMediaTypes, Error, GroupRequirements, MediaType, MediaTypeList, media};

fn t(s: &str) -> MediaType {
    MediaType::parse(s).unwrap()
}

#[test]
fn media_types_parse_and_compare_as_rfc_6838_says() {
    // The draft's example: the value without its quotes.
    let plain = t(r#"text/plain ;charset="UTF-8""#);
    assert_eq!(plain.media_type.as_slice(), b"text/plain");
    assert_eq!(plain.parameters.len(), 1);
    assert_eq!(plain.parameters[0].parameter_name.as_slice(), b"charset");
    assert_eq!(plain.parameters[0].parameter_value.as_slice(), b"UTF-8");
    // Type, subtype and names without regard to case; charset values too.
    assert!(plain.same_as(&t("TEXT/Plain; CHARSET=utf-8")));
    // Other parameter values are compared exactly; order does not matter;
    // a missing parameter makes another type.
    let flowed = t("text/plain; charset=utf-8; format=flowed");
    assert!(flowed.same_as(&t("text/plain; format=flowed; charset=UTF-8")));
    assert!(!flowed.same_as(&t("text/plain; charset=utf-8; format=Flowed")));
    assert!(!flowed.same_as(&plain));
    // Structured-syntax suffixes and vendor trees.
    assert_eq!(
        t("application/vnd.example.msgbus+cbor").media_type.as_slice(),
        b"application/vnd.example.msgbus+cbor"
    );
    // A quoted-pair loses its backslash; writing it out quotes again.
    let quoted = t(r#"text/x-note; title="say \"hi\"""#);
    assert_eq!(quoted.parameters[0].parameter_value.as_slice(), br#"say "hi""#);
    assert!(quoted.same_as(&t(&quoted.to_text())));
    assert_eq!(t("image/png").to_text(), "image/png");
    for bad in ["nonsense", "text/", "/plain", ""] {
        assert!(matches!(MediaType::parse(bad), Err(Error::InvalidMediaType(_))), "{bad:?}");
    }
}

fn list(types: &[&str]) -> MediaTypeList {
    MediaTypeList::parse(types.iter().copied()).unwrap()
}

/// Members that register the component and advertise `types`.
fn member(types: &[&str]) -> (Member, MediaTypeList) {
    (Member::with(Some(b"secret"), vec![Arc::new(ContentMediaTypes)]), list(types))
}

/// A group of three whose GroupContext requires text/plain and image/png.
fn framed_group() -> Vec<Member> {
    let cs = suite1();
    let required = list(&["text/plain; charset=UTF-8", "image/png"]);
    let members: Vec<(Member, MediaTypeList)> = (0..3)
        .map(|_| member(&["image/png", "text/plain; charset=utf-8", "application/json"]))
        .collect();
    let req = GroupRequirements {
        components: vec![COUNTER, RECEIPTS, CONTENT_MEDIA_TYPES],
        data: vec![(CONTENT_MEDIA_TYPES, required.to_data().unwrap())],
        ..GroupRequirements::default()
    };
    let mut out: Vec<Member> = vec![];
    let mut lists = vec![];
    for (m, l) in members {
        out.push(m);
        lists.push(l);
    }
    // Each member's leaves carry its list.
    let context = out[0].ext.group_context_extensions(&req).unwrap();
    let mut id = out[0].identity(cs.as_ref(), "member0");
    out[0].ext.advertise_media_types(&mut id, &lists[0]).unwrap();
    out[0].group = Some(Group::create_with_extensions(cs.clone(), id, b"media".to_vec(), context, out[0].config.clone()).unwrap());
    let mut bundles = vec![];
    for i in 1..3 {
        let mut id = out[i].identity(cs.as_ref(), &format!("member{i}"));
        out[i].ext.advertise_media_types(&mut id, &lists[i]).unwrap();
        bundles.push(id.key_package(cs.as_ref()).unwrap());
    }
    let kps: Vec<_> = bundles.iter().map(|b| b.key_package.clone()).collect();
    out[0].ext.check_media_type_support(out[0].gr(), &kps, &[]).unwrap();
    let c = out[0].g().commit(CommitOptions::add(kps)).unwrap();
    out[0].g().merge_pending_commit().unwrap();
    for (i, b) in bundles.into_iter().enumerate() {
        let m = &mut out[i + 1];
        m.group = Some(Group::join(cs.clone(), c.welcome_message().unwrap(), b, None, m.config.clone()).unwrap());
    }
    out
}

fn receive(m: &mut Member, msg: &mlsx_base::codec::MlsMessage) -> Result<Vec<u8>, mlsx_base::Error> {
    match m.g().process_message(msg)? {
        Received::Application { data, .. } => Ok(data),
        other => panic!("not application data: {other:?}"),
    }
}

#[test]
fn application_data_is_framed_when_the_group_requires_media_types() {
    let mut m = framed_group();
    let ctx = m[0].gr().context().clone();
    let required = m[0].ext.required_media_types(&ctx).unwrap().unwrap();
    assert_eq!(required.media_type_list.len(), 2);
    // The empty type stands for the group's first type.
    let data = m[0].ext.frame_content(&ctx, None, b"hello").unwrap();
    let msg = m[0].g().encrypt_application(&data, b"").unwrap();
    let got = receive(&mut m[1], &msg).unwrap();
    let (mt, content) = m[1].ext.unframe_content(&ctx, &got).unwrap();
    assert!(mt.same_as(&t("text/plain; charset=utf-8")));
    assert_eq!(content, b"hello");
    // An explicit type.
    let png = t("image/png");
    let data = m[2].ext.frame_content(&ctx, Some(&png), &[0x89, b'P']).unwrap();
    let msg = m[2].g().encrypt_application(&data, b"").unwrap();
    let got = receive(&mut m[0], &msg).unwrap();
    let (mt, _) = m[0].ext.unframe_content(&ctx, &got).unwrap();
    assert!(mt.same_as(&png));
    // Unframed data is refused when sending ...
    let err = m[0].g().encrypt_application(b"raw", b"").unwrap_err();
    assert!(matches!(ext_error(&err), Error::UnframedApplicationData), "{err:?}");
    // ... and when received (from a client that does not frame: member 1's
    // state loaded without the draft's handlers).
    let cs = suite1();
    let saved = m[1].gr().save().unwrap();
    let mut bare = Group::load(cs, &saved, GroupConfig::default()).unwrap();
    let raw = bare.encrypt_application(b"raw", b"").unwrap();
    let err = receive(&mut m[2], &raw).unwrap_err();
    assert!(matches!(ext_error(&err), Error::UnframedApplicationData), "{err:?}");
}

/// §6.2: "SHOULD NOT add an MLS client … unless all the members …
/// advertise support for all the required media types" — the committer
/// checks; receivers, for whom it is no MUST, accept such a commit.
#[test]
fn the_committer_checks_media_type_support_before_adding() {
    let cs = suite1();
    let mut m = framed_group();
    let (dave, dave_list) = member(&["text/plain; charset=UTF-8"]);
    let mut id = dave.identity(cs.as_ref(), "dave");
    dave.ext.advertise_media_types(&mut id, &dave_list).unwrap();
    let kp = id.key_package(cs.as_ref()).unwrap();
    let err = m[0]
        .ext
        .check_media_type_support(m[0].gr(), std::slice::from_ref(&kp.key_package), &[])
        .unwrap_err();
    assert!(matches!(&err, Error::MediaTypeUnsupported(t) if t == "image/png"), "{err:?}");
    // A client that advertises nothing is not supported either.
    let plain = dave.key_package(cs.as_ref(), "erin");
    assert!(
        m[0].ext
            .check_media_type_support(m[0].gr(), std::slice::from_ref(&plain.key_package), &[])
            .is_err()
    );
    // Receivers do not enforce the SHOULD NOT.
    let c = commit_with(
        &mut m[0],
        vec![mlsx_base::codec::Proposal::Add(mlsx_base::codec::Add::new(kp.key_package.clone()))],
    )
    .unwrap();
    m[0].g().merge_pending_commit().unwrap();
    deliver_commit(&mut m, 0, &c);
    assert_agree(&mut m);
}

/// §6.2: the lists "must contain at least one item".
#[test]
fn empty_media_type_lists_are_refused() {
    let cs = suite1();
    let mut m = framed_group();
    let (dave, _) = member(&[]);
    let mut id = dave.identity(cs.as_ref(), "dave");
    dave.ext.advertise_media_types(&mut id, &MediaTypeList::default()).unwrap();
    let kp = id.key_package(cs.as_ref()).unwrap();
    let err = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap_err();
    assert!(
        matches!(
            ext_error(&err),
            Error::ComponentRejected {
                component: CONTENT_MEDIA_TYPES,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(MediaTypeList::from_data(&MediaTypeList::default().to_data().unwrap()).is_err());
    // A frame whose data is not an ApplicationFraming does not unframe.
    let ctx = m[0].gr().context().clone();
    assert!(m[0].ext.unframe_content(&ctx, b"\xff").is_err());
    assert!(media::unframe(&list(&["text/plain"]), &media::frame(None, b"x").unwrap()).is_ok());
}
