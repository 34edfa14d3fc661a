//! `passive-client-*.json`: join by Welcome, then follow every commit and
//! check the epoch authenticator after each (RFC 9420 §12.4.2, §12.4.3.1).

use std::collections::BTreeMap;
use std::sync::Arc;

use mlsx_base::codec::{KeyPackage, MlsMessage, MlsMessageBody, RatchetTreeNodes};
use mlsx_base::crypto::{CipherSuiteProvider, HpkePrivateKey, Secret, SignaturePrivateKey};
use mlsx_base::group::{Group, GroupConfig, Identity, KeyPackageBundle, Observed, PublicGroup, Received};
use serde::{Deserialize, Serialize};

use super::{check, ctx, decode};
use crate::{Hex, Report};
use mlsx_base::codec::encode;

#[derive(Deserialize, Serialize)]
struct ExternalPsk {
    psk_id: Hex,
    psk: Hex,
}

#[derive(Deserialize, Serialize)]
struct Epoch {
    proposals: Vec<Hex>,
    commit: Hex,
    epoch_authenticator: Hex,
}

#[derive(Deserialize, Serialize)]
struct Case {
    cipher_suite: u16,
    external_psks: Vec<ExternalPsk>,
    key_package: Hex,
    signature_priv: Hex,
    encryption_priv: Hex,
    init_priv: Hex,
    welcome: Hex,
    ratchet_tree: Option<Hex>,
    initial_epoch_authenticator: Hex,
    epochs: Vec<Epoch>,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    super::run_per_suite(json, provider, report, |c: &Case| c.cipher_suite, check_case)
}

/// How far an observer ([`PublicGroup`]) followed the scenarios of a
/// passive-client file beside the passive member.
#[derive(Debug, Default)]
pub struct ObserverReport {
    /// Scenarios whose every handshake the observer followed.
    pub followed: usize,
    /// Scenarios the observer followed until their first PrivateMessage
    /// handshake (which it cannot open), and stopped there.
    pub stopped_at_private: usize,
    /// Scenarios whose suite the provider lacks.
    pub skipped: usize,
    /// Epochs (commits) the observer followed in all, each ending at the
    /// passive member's GroupContext and tree.
    pub epochs: usize,
    /// One message per scenario where the observer and the member
    /// disagreed, or the member itself failed.
    pub failures: Vec<String>,
}

/// Runs each scenario of a `passive-client-*.json` file with an observer
/// beside the passive member: the observer starts from a GroupInfo the
/// member signs after joining, takes every PublicMessage proposal and
/// commit, and must reach the member's GroupContext and tree after each
/// commit and accept the member's GroupInfo of each epoch.
pub fn observe(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider) -> Result<ObserverReport, serde_json::Error> {
    let cases: Vec<Case> = serde_json::from_str(json)?;
    let mut report = ObserverReport::default();
    for (i, c) in cases.iter().enumerate() {
        let Some(cs) = provider.cipher_suite_provider(mlsx_base::codec::CipherSuite(c.cipher_suite)) else {
            report.skipped += 1;
            continue;
        };
        match observe_case(cs, c) {
            Ok((epochs, complete)) => {
                report.epochs += epochs;
                if complete {
                    report.followed += 1;
                } else {
                    report.stopped_at_private += 1;
                }
            }
            Err(e) => report.failures.push(format!("case {i}: {e}")),
        }
    }
    Ok(report)
}

/// One scenario with an observer; returns the epochs followed and whether
/// it followed all of them.
fn observe_case(cs: Arc<dyn CipherSuiteProvider>, c: &Case) -> Result<(usize, bool), String> {
    let mut group = join(cs.clone(), c)?;
    let config = || GroupConfig {
        check_received_lifetimes: false,
        ..GroupConfig::default()
    };
    let gi = group.group_info().map_err(ctx("group info"))?;
    let mut observer = PublicGroup::from_group_info(cs, &gi, None, config()).map_err(ctx("observer"))?;
    let agree = |observer: &PublicGroup, group: &Group, n: usize| -> Result<(), String> {
        if observer.context() != group.context() || observer.tree().to_nodes() != group.tree().to_nodes() {
            return Err(format!("epoch {n}: the observer's state differs from the member's"));
        }
        let gi = group.group_info().map_err(ctx("group info"))?;
        observer
            .check_group_info(&gi)
            .map_err(|e| format!("epoch {n}: the member's GroupInfo refused: {e}"))
    };
    agree(&observer, &group, 0)?;
    for (n, e) in c.epochs.iter().enumerate() {
        let mut messages = Vec::with_capacity(e.proposals.len() + 1);
        for p in &e.proposals {
            messages.push(decode::<MlsMessage>("proposal", p)?);
        }
        let commit = decode::<MlsMessage>("commit", &e.commit)?;
        if messages
            .iter()
            .chain([&commit])
            .any(|m| !matches!(m.body, MlsMessageBody::PublicMessage(_)))
        {
            return Ok((n, false));
        }
        for msg in &messages {
            let _ = group.process_message(msg).map_err(|err| format!("epoch {n}: proposal: {err}"))?;
            match observer.process_message(msg) {
                Ok(Observed::Proposal(_)) => {}
                Ok(Observed::Commit(_)) => return Err(format!("epoch {n}: a proposal observed as a commit")),
                Err(err) => return Err(format!("epoch {n}: observer: proposal: {err}")),
            }
        }
        match group.process_message(&commit).map_err(|err| format!("epoch {n}: commit: {err}"))? {
            Received::Commit(staged) => group
                .merge_staged_commit(staged)
                .map_err(|err| format!("epoch {n}: merge: {err}"))?,
            _ => return Err(format!("epoch {n}: commit message is not a commit")),
        }
        match observer.process_message(&commit) {
            Ok(Observed::Commit(staged)) => observer.merge_staged_commit(staged).map_err(ctx("observer merge"))?,
            Ok(Observed::Proposal(_)) => return Err(format!("epoch {n}: a commit observed as a proposal")),
            Err(err) => return Err(format!("epoch {n}: observer: commit: {err}")),
        }
        if !group.is_active() {
            // Removed, or a ReInit: the member stops following.
            return Ok((n + 1, true));
        }
        agree(&observer, &group, n + 1)?;
    }
    Ok((c.epochs.len(), true))
}

fn join(cs: Arc<dyn CipherSuiteProvider>, c: &Case) -> Result<Group, String> {
    let kp: KeyPackage = match decode::<MlsMessage>("key_package", &c.key_package) {
        Ok(MlsMessage {
            body: MlsMessageBody::KeyPackage(kp),
            ..
        }) => kp,
        Ok(_) => return Err("key_package is not a KeyPackage".into()),
        Err(_) => decode("key_package", &c.key_package)?,
    };
    let signer = SignaturePrivateKey::from_slice(&c.signature_priv);
    let init_key = HpkePrivateKey::from_slice(&c.init_priv);
    let leaf_key = HpkePrivateKey::from_slice(&c.encryption_priv);
    check(
        "signature key",
        &cs.signature_public_key(&signer).map_err(ctx("signature key"))?,
        kp.leaf_node.signature_key.as_slice(),
    )?;
    check(
        "init key",
        &cs.kem_public_key(&init_key).map_err(ctx("init key"))?,
        kp.init_key.as_slice(),
    )?;
    check(
        "encryption key",
        &cs.kem_public_key(&leaf_key).map_err(ctx("encryption key"))?,
        kp.leaf_node.encryption_key.as_slice(),
    )?;
    let identity = Identity {
        credential: kp.leaf_node.credential.clone(),
        signature_key: kp.leaf_node.signature_key.as_slice().to_vec(),
        signer,
        capabilities: kp.leaf_node.capabilities.clone(),
        key_package_lifetime: 0,
        grease: false,
        grease_extensions: false,
        leaf_extensions: vec![],
        key_package_extensions: vec![],
    };
    let bundle = KeyPackageBundle {
        key_package: kp,
        init_key,
        leaf_key,
        identity,
    };
    let psks: BTreeMap<Vec<u8>, Secret> = c
        .external_psks
        .iter()
        .map(|p| (p.psk_id.0.clone(), Secret::from_slice(&p.psk)))
        .collect();
    let tree = match &c.ratchet_tree {
        Some(t) => Some(decode::<RatchetTreeNodes>("ratchet_tree", t)?),
        None => None,
    };
    let welcome = decode::<MlsMessage>("welcome", &c.welcome)?;
    // Recorded scenarios carry KeyPackages whose lifetimes may have ended
    // since they were generated: receiving-side lifetime checks are
    // RECOMMENDED, not required (RFC 9420 §7.3), so they are off here.
    let config = GroupConfig {
        check_received_lifetimes: false,
        ..GroupConfig::default()
    };
    Group::join_with_psks(cs, &welcome, bundle, tree, config, psks).map_err(ctx("join"))
}

fn check_case(cs: Arc<dyn CipherSuiteProvider>, c: &Case) -> Result<(), String> {
    let mut group = join(cs, c)?;
    check(
        "initial epoch authenticator",
        group.epoch_authenticator(),
        &c.initial_epoch_authenticator,
    )?;
    for (n, e) in c.epochs.iter().enumerate() {
        for p in &e.proposals {
            let msg = decode::<MlsMessage>("proposal", p)?;
            let _ = group.process_message(&msg).map_err(|err| format!("epoch {n}: proposal: {err}"))?;
        }
        let msg = decode::<MlsMessage>("commit", &e.commit)?;
        match group.process_message(&msg).map_err(|err| format!("epoch {n}: commit: {err}"))? {
            Received::Commit(staged) => group
                .merge_staged_commit(staged)
                .map_err(|err| format!("epoch {n}: merge: {err}"))?,
            _ => return Err(format!("epoch {n}: commit message is not a commit")),
        }
        check(
            &format!("epoch {n} authenticator"),
            group.epoch_authenticator(),
            &e.epoch_authenticator,
        )?;
    }
    Ok(())
}

/// Members driven by mlsx while it records a passive-client scenario.
struct Recorder {
    members: Vec<Group>,
    epochs: Vec<Epoch>,
    pending: Vec<Hex>,
}

impl Recorder {
    /// Sends `msg` from member `from` to every other member.
    fn deliver(&mut self, from: usize, msg: &MlsMessage) -> Result<(), String> {
        for (i, g) in self.members.iter_mut().enumerate() {
            if i == from {
                continue;
            }
            if let Received::Commit(staged) = g.process_message(msg).map_err(ctx("member"))? {
                g.merge_staged_commit(staged).map_err(ctx("member merge"))?;
            }
        }
        Ok(())
    }

    /// Member `from` proposes; the proposal goes to everyone and to the record.
    fn propose(&mut self, from: usize, make: impl FnOnce(&mut Group) -> Result<MlsMessage, mlsx_base::Error>) -> Result<(), String> {
        let g = self.members.get_mut(from).ok_or("no such member")?;
        let msg = make(g).map_err(ctx("propose"))?;
        self.deliver(from, &msg)?;
        self.pending.push(encode(&msg).map_err(ctx("encode"))?.into());
        Ok(())
    }

    /// Member `from` commits (pending proposals by reference, plus
    /// `options`); the commit goes to everyone and closes an epoch.
    fn commit(&mut self, from: usize, options: mlsx_base::group::CommitOptions) -> Result<Option<MlsMessage>, String> {
        let g = self.members.get_mut(from).ok_or("no such member")?;
        let out = g.commit(options).map_err(ctx("commit"))?;
        g.merge_pending_commit().map_err(ctx("merge"))?;
        let authenticator = g.epoch_authenticator().to_vec();
        self.deliver(from, &out.commit)?;
        self.epochs.push(Epoch {
            proposals: std::mem::take(&mut self.pending),
            commit: encode(&out.commit).map_err(ctx("encode"))?.into(),
            epoch_authenticator: authenticator.into(),
        });
        Ok(out.welcome)
    }
}

/// A handling-commit scenario for `cs`, recorded from mlsx members: Alice,
/// Bob, Carol and the passive client join by one Welcome (tree inside);
/// then a path commit, an Update by reference, an Add by value (Dave
/// joins), a Remove by reference, a path commit by the newcomer and a
/// Remove by value, with PublicMessage handshakes.
pub(crate) fn generate(cs: &Arc<dyn CipherSuiteProvider>) -> Result<serde_json::Value, String> {
    use mlsx_base::codec::{Proposal, ProtocolVersion, Remove, encode as enc};
    use mlsx_base::group::CommitOptions;
    use mlsx_base::tree::math::LeafIndex;

    let id = |name: &str| Identity::basic(cs.as_ref(), name.as_bytes()).map_err(ctx("identity"));
    let bundle = |name: &str| id(name)?.key_package(cs.as_ref()).map_err(ctx("key package"));
    let mut alice = Group::create(cs.clone(), id("alice")?, b"passive vector".to_vec(), GroupConfig::default()).map_err(ctx("create"))?;
    let (bob, carol, passive) = (bundle("bob")?, bundle("carol")?, bundle("passive")?);
    let out = alice
        .commit(CommitOptions::add(vec![
            bob.key_package.clone(),
            carol.key_package.clone(),
            passive.key_package.clone(),
        ]))
        .map_err(ctx("add"))?;
    alice.merge_pending_commit().map_err(ctx("merge"))?;
    let welcome = out.welcome.ok_or("no Welcome")?;
    let initial_epoch_authenticator = alice.epoch_authenticator().to_vec();
    let mut members = vec![alice];
    for b in [bob, carol] {
        members.push(Group::join(cs.clone(), &welcome, b, None, GroupConfig::default()).map_err(ctx("join"))?);
    }
    let mut r = Recorder {
        members,
        epochs: Vec::new(),
        pending: Vec::new(),
    };
    // Leaves: alice 0, bob 1, carol 2, passive 3.
    r.commit(1, CommitOptions::default())?;
    r.propose(2, Group::propose_update)?;
    r.commit(0, CommitOptions::default())?;
    let dave = bundle("dave")?;
    let welcome_dave = r
        .commit(1, CommitOptions::add(vec![dave.key_package.clone()]))?
        .ok_or("no Welcome")?;
    r.members
        .push(Group::join(cs.clone(), &welcome_dave, dave, None, GroupConfig::default()).map_err(ctx("join dave"))?);
    r.propose(2, |g| g.propose(Proposal::Remove(Remove { removed: LeafIndex(1) }), b""))?;
    r.commit(0, CommitOptions::default())?;
    r.members.remove(1); // Bob is gone; Dave (leaf 4) is now index 2... of the members vector
    let dave_index = r.members.len() - 1;
    r.commit(dave_index, CommitOptions::default())?;
    r.commit(0, CommitOptions::remove(vec![LeafIndex(4)]))?;

    let key_package = MlsMessage {
        version: ProtocolVersion::MLS10,
        body: MlsMessageBody::KeyPackage(passive.key_package.clone()),
    };
    serde_json::to_value(Case {
        cipher_suite: cs.cipher_suite().value(),
        external_psks: Vec::new(),
        key_package: enc(&key_package).map_err(ctx("encode"))?.into(),
        signature_priv: passive.identity.signer.as_bytes().into(),
        encryption_priv: passive.leaf_key.as_bytes().into(),
        init_priv: passive.init_key.as_bytes().into(),
        welcome: enc(&welcome).map_err(ctx("encode"))?.into(),
        ratchet_tree: None,
        initial_epoch_authenticator: initial_epoch_authenticator.into(),
        epochs: r.epochs,
    })
    .map_err(|e| e.to_string())
}
