//! Helpers shared by the combiner's integration tests.

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mlsx_base::codec::{CipherSuite, MlsMessage, MlsMessageBody};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::{CryptoError, MisuseError, PeerError};
use mlsx_combiner::{ApqClient, ApqMessagePair, ApqReceived, ApqSession, ApqSetup, CommitKind, Error, Mode};
use mlsx_pq_suites::PqSuite;

/// Reasons to refuse that only a member can find: they need an epoch's
/// secrets (confirmation and membership tags, path secrets, the value of
/// `apq_psk`) or the member's own state.
pub fn only_members_see(e: &Error) -> bool {
    match e {
        Error::MissingApqPsk | Error::Removed => true,
        Error::Base(b) => matches!(
            b,
            mlsx_base::Error::Peer(
                PeerError::InvalidConfirmationTag
                    | PeerError::InvalidMembershipTag
                    | PeerError::MissingPsk
                    | PeerError::PathKeyMismatch
                    | PeerError::NoPathSecretForUs
                    | PeerError::InvalidProposals(mlsx_base::ProposalListError::UnknownUpdateForUs)
            ) | mlsx_base::Error::Crypto(CryptoError::DecryptionFailed)
                | mlsx_base::Error::Misuse(MisuseError::OwnCommit)
        ),
        _ => false,
    }
}

fn private(msg: &MlsMessage) -> bool {
    let is_private = |m: &MlsMessage| matches!(m.body, MlsMessageBody::PrivateMessage(_));
    is_private(msg) || ApqMessagePair::from_message(msg).is_ok_and(|p| is_private(&p.t_message) || is_private(&p.pq_message))
}

/// `member_err` is why `member` refused `msg`: an observer at the member's
/// (unchanged) public state refuses it too, for the same reason, unless
/// the reason needs secrets or the message is encrypted; a refused message
/// leaves the observer as it was.
pub fn observer_agrees(member: &ApqSession, msg: &MlsMessage, member_err: &Error) {
    let mut observer = member.observer().unwrap();
    let before = (observer.t_group().save().unwrap(), observer.pq_group().save().unwrap());
    match observer.process(msg) {
        Err(e) => {
            assert!(
                (observer.t_group().save().unwrap(), observer.pq_group().save().unwrap()) == before,
                "a refused message changed the observer"
            );
            assert!(
                private(msg) || only_members_see(member_err) || format!("{e:?}") == format!("{member_err:?}"),
                "the member refused with {member_err:?}, the observer with {e:?}"
            );
        }
        Ok(o) => assert!(
            only_members_see(member_err),
            "the member refused ({member_err:?}) what an observer accepted ({o:?})"
        ),
    }
}

pub fn classical(code: u16) -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new().cipher_suite_provider(CipherSuite(code)).unwrap()
}

/// The suite pairs and modes of the issue.
pub fn setups() -> Vec<ApqSetup> {
    vec![
        ApqSetup::new(classical(1), PqSuite::Tbd6.provider().unwrap(), Mode::ConfidentialityOnly).unwrap(),
        ApqSetup::new(
            classical(7),
            PqSuite::Tbd11.provider().unwrap(),
            Mode::ConfidentialityAndAuthenticity,
        )
        .unwrap(),
    ]
}

/// Alice creates a session and adds `n - 1` others in one FULL commit.
pub fn session(setup: &ApqSetup, n: usize) -> Vec<ApqSession> {
    let alice = ApqClient::new(setup.clone(), b"member0").unwrap();
    let mut a = alice.create_session(b"T group".to_vec(), b"PQ group".to_vec()).unwrap();
    if n == 1 {
        return vec![a];
    }
    let clients: Vec<ApqClient> = (1..n)
        .map(|i| ApqClient::new(setup.clone(), format!("member{i}").as_bytes()).unwrap())
        .collect();
    let kps: Vec<_> = clients.iter().map(|c| c.key_packages().unwrap()).collect();
    let out = a.add(kps.iter().map(|(p, _)| p.clone()).collect()).unwrap();
    assert_eq!(out.kind, CommitKind::Full);
    a.confirm().unwrap();
    let welcome = out.welcome.unwrap();
    let mut all = vec![a];
    for (c, (_, b)) in clients.into_iter().zip(kps) {
        all.push(c.join(&welcome, b).unwrap());
    }
    assert_agree(&all);
    all
}

/// Every member that joined by the Welcome makes its first commit, FULL
/// (§3.2), so that all of them may make PARTIAL commits afterwards.
pub fn settle(s: &mut [ApqSession]) {
    for i in 1..s.len() {
        let out = s[i].full_commit(vec![], vec![]).unwrap();
        s[i].confirm().unwrap();
        deliver(s, i, &out.message);
    }
    assert_agree(s);
}

pub fn assert_agree(s: &[ApqSession]) {
    for x in s {
        assert_eq!(x.t_group().epoch_authenticator(), s[0].t_group().epoch_authenticator());
        assert_eq!(x.pq_group().epoch_authenticator(), s[0].pq_group().epoch_authenticator());
        assert_eq!(x.info().unwrap(), s[0].info().unwrap());
    }
}

/// Sends `msg` from member `from` to the others.
pub fn deliver(s: &mut [ApqSession], from: usize, msg: &MlsMessage) -> Vec<Option<ApqReceived>> {
    s.iter_mut()
        .enumerate()
        .map(|(i, x)| (i != from).then(|| x.process(msg).unwrap_or_else(|e| panic!("member {i} from {from}: {e:?}"))))
        .collect()
}
