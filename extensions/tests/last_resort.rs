//! Last-resort KeyPackages (draft-ietf-mls-extensions §6.4) in groups of
//! three: the mark, its reuse, the members' policy on Adds, and a
//! malformed mark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::*;
use mlsx_base::codec::Extension;
use mlsx_base::group::{CommitOptions, Group, KeyPackageBundle};
use mlsx_extensions::{AppDataDictionary, Error, GroupRequirements, LAST_RESORT_KEY_PACKAGE, LastResortKeyPackages, LastResortPolicy};

fn requirements() -> GroupRequirements {
    GroupRequirements {
        components: vec![COUNTER, RECEIPTS],
        ..GroupRequirements::default()
    }
}

fn member(policy: LastResortPolicy) -> Member {
    Member::with(Some(b"secret"), vec![Arc::new(LastResortKeyPackages::new(policy))])
}

/// A two-member group (`policies` of its members).
fn pair(policies: [LastResortPolicy; 2]) -> Vec<Member> {
    group_of(&suite1(), policies.into_iter().map(member).collect(), &requirements())
}

/// Bob's last-resort KeyPackage.
fn last_resort(bob: &Member) -> KeyPackageBundle {
    let cs = suite1();
    let mut id = bob.identity(cs.as_ref(), "bob");
    bob.ext.mark_last_resort(&mut id).unwrap();
    id.key_package(cs.as_ref()).unwrap()
}

/// Member 0 adds `kp`; member 1 stages the commit. Returns member 1's
/// result and the Welcome.
fn add(m: &mut [Member], kp: &KeyPackageBundle) -> (Result<(), mlsx_base::Error>, mlsx_base::codec::MlsMessage) {
    let out = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap();
    m[0].g().merge_pending_commit().unwrap();
    let r = stage(&mut m[1], &out.commit).and_then(|s| m[1].g().merge_staged_commit(s));
    (r, out.welcome_message().unwrap().clone())
}

/// The error is the last-resort component's refusal.
fn assert_refused_by_last_resort(err: &mlsx_base::Error) {
    assert!(
        matches!(
            ext_error(err),
            Error::ComponentRejected {
                component: LAST_RESORT_KEY_PACKAGE,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_last_resort_key_package_joins_two_groups() {
    let cs = suite1();
    let bob = member(LastResortPolicy::Accept);
    let kp = last_resort(&bob);
    assert!(bob.ext.is_last_resort(&kp.key_package).unwrap());
    assert!(!bob.ext.is_last_resort(&bob.key_package(cs.as_ref(), "bob").key_package).unwrap());
    // The mark is signed with the KeyPackage and survives in the Add.
    for _ in 0..2 {
        let mut m = pair([LastResortPolicy::Accept; 2]);
        let (r, welcome) = add(&mut m, &kp);
        r.unwrap();
        let joined = Group::join(cs.clone(), &welcome, kp.duplicate(), None, bob.config.clone()).unwrap();
        assert_eq!(joined.epoch_authenticator(), m[1].gr().epoch_authenticator());
        assert_eq!(m[0].gr().members().count(), 3);
    }
}

#[test]
fn members_may_refuse_last_resort_key_packages() {
    let bob = member(LastResortPolicy::Accept);
    let kp = last_resort(&bob);
    // Member 1 refuses them: the commit that adds one is invalid for it.
    let mut m = pair([LastResortPolicy::Accept, LastResortPolicy::Refuse]);
    let (r, _) = add(&mut m, &kp);
    let err = r.unwrap_err();
    assert_refused_by_last_resort(&err);
    // An ordinary KeyPackage of the same client is fine for it.
    let mut m = pair([LastResortPolicy::Accept, LastResortPolicy::Refuse]);
    let plain = bob.key_package(suite1().as_ref(), "bob");
    add(&mut m, &plain).0.unwrap();
    // A committer that refuses them cannot add one.
    let mut m = pair([LastResortPolicy::Refuse, LastResortPolicy::Accept]);
    let err = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap_err();
    assert_refused_by_last_resort(&err);
}

/// §6.4: the component "contains the component_id with an empty data field".
#[test]
fn a_mark_with_data_is_refused() {
    let cs = suite1();
    let bob = member(LastResortPolicy::Accept);
    let mut id = bob.identity(cs.as_ref(), "bob");
    let t = bob.ext.code_points().app_data_dictionary;
    let mut d = AppDataDictionary::default();
    d.set(LAST_RESORT_KEY_PACKAGE, vec![1]);
    id.key_package_extensions.retain(|e: &Extension| e.extension_type != t);
    id.key_package_extensions.push(d.to_extension(t).unwrap());
    let kp = id.key_package(cs.as_ref()).unwrap();
    let mut m = pair([LastResortPolicy::Accept; 2]);
    let err = m[0].g().commit(CommitOptions::add(vec![kp.key_package.clone()])).unwrap_err();
    assert_refused_by_last_resort(&err);
}
