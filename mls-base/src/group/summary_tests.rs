//! The member summary a group keeps across update commits stays equal to
//! the one rebuilt from its tree.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use super::*;
use crate::codec::CipherSuite;

#[test]
fn kept_summary_matches_the_tree() {
    let cs: Arc<dyn CipherSuiteProvider> = Arc::new(crate::crypto::rustcrypto::rfc9420_suite(CipherSuite(1)).unwrap());
    let c = cs.as_ref();
    let config = GroupConfig::default();
    let mut alice = Group::create(cs.clone(), Identity::basic(c, b"alice").unwrap(), b"s".to_vec(), config.clone()).unwrap();
    let kps: Vec<_> = ["bob", "carol"]
        .iter()
        .map(|n| Identity::basic(c, n.as_bytes()).unwrap().key_package(c).unwrap())
        .collect();
    let out = alice
        .commit(CommitOptions::add(kps.iter().map(|k| k.key_package.clone()).collect()))
        .unwrap();
    alice.merge_pending_commit().unwrap();
    let mut bob = Group::join(cs.clone(), out.welcome.as_ref().unwrap(), kps[0].duplicate(), None, config.clone()).unwrap();
    let check = |g: &Group| assert_eq!(*g.public.member_summary(), MemberSummary::of(&g.public.tree));
    check(&bob);
    // Update commits from Alice (path only: the summary is updated in
    // place), then one that removes Carol (rebuilt), then updates again.
    for round in 0..4 {
        let options = if round == 2 {
            CommitOptions::remove(vec![LeafIndex(2)])
        } else {
            CommitOptions::default()
        };
        let m = alice.commit(options).unwrap().commit;
        alice.merge_pending_commit().unwrap();
        let Received::Commit(s) = bob.process_message(&m).unwrap() else {
            panic!()
        };
        assert_eq!(s.summary_change.is_some(), round != 2);
        bob.merge_staged_commit(s).unwrap();
        assert!(bob.public.summary.get().is_some() || round == 2);
        check(&bob);
    }
}
