//! Shared setup: members with their own registries of the test components.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::panic_in_result_fn)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mlsx_base::codec::{CipherSuite, Commit, FramedContent, FramedContentBody, MlsMessage, MlsMessageBody, Proposal, ProposalOrRef};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider, Secret};
use mlsx_base::framing;
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Received, StagedCommit};
use mlsx_extensions::{Component, ComponentKey, Extensions, GroupRequirements, Origin, Rejection};

/// Keeps its entry as the concatenation of its updates (order visible);
/// refuses the update "bad", the update "members-only" from an external
/// sender or committer, and entries beyond 64 bytes.
pub const COUNTER: u16 = 0x8001;
/// Takes ephemeral data of at most 16 bytes; puts items in SafeAAD and
/// refuses the item "forbidden".
pub const RECEIPTS: u16 = 0x8002;
/// Holds the application PSK "pw" when the member was given its value.
pub const VAULT: u16 = 0x8003;
/// Logs the order of its callbacks.
pub const LOG: u16 = 0x8004;

#[derive(Debug)]
pub struct Counter;

impl Component for Counter {
    fn id(&self) -> u16 {
        COUNTER
    }
    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let mut data = current.unwrap_or_default().to_vec();
        for (u, origin) in updates {
            if *u == b"bad" {
                return Err(Rejection::new("bad update"));
            }
            if *u == b"members-only" && origin.is_external() {
                return Err(Rejection::new("members only"));
            }
            data.extend_from_slice(u);
        }
        if data.len() > 64 {
            return Err(Rejection::new("too long"));
        }
        Ok(data)
    }
}

#[derive(Debug)]
pub struct Receipts;

impl Component for Receipts {
    fn id(&self) -> u16 {
        RECEIPTS
    }
    fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
        if data.len() <= 16 {
            Ok(())
        } else {
            Err(Rejection::new("too long"))
        }
    }
    fn uses_safe_aad(&self) -> bool {
        true
    }
    fn check_aad_item(&self, data: &[u8]) -> Result<(), Rejection> {
        if data == b"forbidden" {
            Err(Rejection::new("forbidden item"))
        } else {
            Ok(())
        }
    }
}

#[derive(Debug)]
pub struct Vault(pub Option<Vec<u8>>);

impl Component for Vault {
    fn id(&self) -> u16 {
        VAULT
    }
    fn psk(&self, psk_id: &[u8]) -> Option<Secret> {
        (psk_id == b"pw").then(|| self.0.as_ref().map(|v| Secret::from_slice(v))).flatten()
    }
}

#[derive(Debug, Default)]
pub struct Log(pub Arc<Mutex<Vec<String>>>);

impl Component for Log {
    fn id(&self) -> u16 {
        LOG
    }
    fn apply_updates(&self, _: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        let mut log = self.0.lock().unwrap();
        for (u, _) in updates {
            log.push(format!("update {}", String::from_utf8_lossy(u)));
        }
        Ok(updates.last().map(|(u, _)| u.to_vec()).unwrap_or_default())
    }
    fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
        self.0.lock().unwrap().push(format!("ephemeral {}", String::from_utf8_lossy(data)));
        Ok(())
    }
}

pub fn suite1() -> Arc<dyn CipherSuiteProvider> {
    RustCryptoProvider::new()
        .cipher_suite_provider(CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519)
        .unwrap()
}

/// One client: its registry, the keys of its components, its group.
pub struct Member {
    pub ext: Extensions,
    pub keys: BTreeMap<u16, ComponentKey>,
    pub config: GroupConfig,
    pub log: Arc<Mutex<Vec<String>>>,
    pub group: Option<Group>,
}

impl Member {
    /// A client with the four test components; `psk` is its Vault value.
    pub fn new(psk: Option<&[u8]>) -> Self {
        Self::with(psk, vec![])
    }

    /// [`Member::new`] with more components.
    pub fn with(psk: Option<&[u8]>, extra: Vec<Arc<dyn Component>>) -> Self {
        Self::with_extensions(Extensions::new(), psk, extra)
    }

    /// [`Member::with`] over an `Extensions` configured by the caller.
    pub fn with_extensions(mut ext: Extensions, psk: Option<&[u8]>, extra: Vec<Arc<dyn Component>>) -> Self {
        let log = Arc::new(Mutex::new(vec![]));
        let mut keys = BTreeMap::new();
        for c in [
            Arc::new(Counter) as Arc<dyn Component>,
            Arc::new(Receipts),
            Arc::new(Vault(psk.map(<[u8]>::to_vec))),
            Arc::new(Log(log.clone())),
        ]
        .into_iter()
        .chain(extra)
        {
            let id = c.id();
            keys.insert(id, ext.register(c).unwrap());
        }
        let mut config = GroupConfig::default();
        ext.install(&mut config).unwrap();
        Self {
            ext,
            keys,
            config,
            log,
            group: None,
        }
    }

    pub fn identity(&self, cs: &dyn CipherSuiteProvider, name: &str) -> Identity {
        let mut id = Identity::basic(cs, name.as_bytes()).unwrap();
        self.ext.advertise(&mut id).unwrap();
        id
    }

    pub fn key_package(&self, cs: &dyn CipherSuiteProvider, name: &str) -> KeyPackageBundle {
        self.identity(cs, name).key_package(cs).unwrap()
    }

    pub fn gr(&self) -> &Group {
        self.group.as_ref().unwrap()
    }

    pub fn g(&mut self) -> &mut Group {
        self.group.as_mut().unwrap()
    }

    /// `SafeExportSecret` of component `id` in the current epoch.
    pub fn export(&mut self, id: u16) -> Result<Secret, mlsx_extensions::Error> {
        self.keys[&id].safe_export_secret(self.group.as_mut().unwrap())
    }

    /// `SafeExportSecret` of component `id` from our pending commit.
    pub fn export_pending(&mut self, id: u16) -> Result<Secret, mlsx_extensions::Error> {
        let g = self.group.as_mut().unwrap();
        let cs = g.cipher_suite_provider_handle();
        self.keys[&id].safe_export_secret_staged(cs.as_ref(), g.pending_commit_mut().unwrap())
    }

    pub fn key(&self, id: u16) -> &ComponentKey {
        &self.keys[&id]
    }
}

/// Alice creates the group with `requirements` and adds the others in one
/// commit; every member gets the Vault PSK value `b"secret"`.
pub fn group(cs: &Arc<dyn CipherSuiteProvider>, n: usize, requirements: &GroupRequirements) -> Vec<Member> {
    group_of(cs, (0..n).map(|_| Member::new(Some(b"secret"))).collect(), requirements)
}

/// [`group`] of the given members.
pub fn group_of(cs: &Arc<dyn CipherSuiteProvider>, mut members: Vec<Member>, requirements: &GroupRequirements) -> Vec<Member> {
    let n = members.len();
    let context = members[0].ext.group_context_extensions(requirements).unwrap();
    let alice_id = members[0].identity(cs.as_ref(), "member0");
    let alice = Group::create_with_extensions(
        cs.clone(),
        alice_id,
        b"extensions group".to_vec(),
        context,
        members[0].config.clone(),
    )
    .unwrap();
    members[0].group = Some(alice);
    if n > 1 {
        let bundles: Vec<KeyPackageBundle> = (1..n).map(|i| members[i].key_package(cs.as_ref(), &format!("member{i}"))).collect();
        let out = members[0]
            .g()
            .commit(CommitOptions::add(bundles.iter().map(|b| b.key_package.clone()).collect()))
            .unwrap();
        members[0].g().merge_pending_commit().unwrap();
        for (i, b) in bundles.into_iter().enumerate() {
            let m = &mut members[i + 1];
            m.group = Some(Group::join(cs.clone(), out.welcome_message().unwrap(), b, None, m.config.clone()).unwrap());
        }
    }
    members
}

/// Sends `msg` from member `from` to all others; returns each one's staged
/// commit (merged unless `merge` is false) or panics on a non-commit.
pub fn deliver_commit(members: &mut [Member], from: usize, msg: &MlsMessage) -> Vec<Option<Vec<mlsx_extensions::AppEphemeral>>> {
    let mut out = vec![];
    for (i, m) in members.iter_mut().enumerate() {
        if i == from {
            out.push(None);
            continue;
        }
        let Received::Commit(staged) = m.g().process_message(msg).unwrap() else {
            panic!("not a commit")
        };
        out.push(Some(m.ext.app_ephemeral_of(&staged).unwrap()));
        m.g().merge_staged_commit(staged).unwrap();
    }
    out
}

/// Processes a commit at member `i` without merging.
pub fn stage(m: &mut Member, msg: &MlsMessage) -> Result<StagedCommit, mlsx_base::Error> {
    match m.g().process_message(msg)? {
        Received::Commit(s) => Ok(s),
        other => panic!("not a commit: {other:?}"),
    }
}

/// Every member has the same GroupContext and epoch authenticator.
pub fn assert_agree(members: &mut [Member]) {
    let first = members[0].g().context().clone();
    let auth = members[0].g().epoch_authenticator().to_vec();
    for m in members.iter_mut() {
        assert_eq!(m.g().context(), &first);
        assert_eq!(m.g().epoch_authenticator(), auth.as_slice());
    }
}

pub fn ext_error(e: &mlsx_base::Error) -> &mlsx_extensions::Error {
    mlsx_extensions::Error::of(e).unwrap_or_else(|| panic!("not an extensions error: {e:?}"))
}

pub fn commit_with(m: &mut Member, proposals: Vec<Proposal>) -> Result<MlsMessage, mlsx_base::Error> {
    let out = m.g().commit(CommitOptions {
        proposals,
        ..CommitOptions::default()
    })?;
    Ok(out.commit)
}

/// Re-signs a PublicMessage of member `m` (current epoch) after `edit`:
/// a commit or proposal no honest sender would make.
pub fn forge(m: &mut Member, msg: &MlsMessage, edit: impl FnOnce(&mut FramedContent)) -> MlsMessage {
    let MlsMessageBody::PublicMessage(pm) = &msg.body else {
        panic!("not public")
    };
    let mut content = pm.content.clone();
    edit(&mut content);
    let g = m.g();
    let cs = g.cipher_suite_provider();
    let out = framing::protect_public(
        cs,
        &g.identity().signer,
        content,
        pm.auth.confirmation_tag.clone(),
        g.context(),
        Some(g.membership_key().as_bytes()),
    )
    .unwrap();
    MlsMessage::new(MlsMessageBody::PublicMessage(out))
}

pub fn push_proposal(p: Proposal) -> impl FnOnce(&mut FramedContent) {
    move |c| {
        let FramedContentBody::Commit(Commit { proposals, .. }) = &mut c.body else {
            panic!("not a commit")
        };
        proposals.push(ProposalOrRef::Proposal(p));
    }
}
