//! Hybrid sessions: a traditional (T) group and a PQ group with the same
//! members, the T group's key schedule fed from the PQ group's exporter on
//! every FULL commit (draft-ietf-mls-combiner §3, §5).

use std::sync::Arc;

use mlsx_base::codec::{
    ApplicationPsk, Commit, ContentType, Credential, Extension, FramedContentBody, GroupContext, KeyPackage, MlsMessage, MlsMessageBody,
    PreSharedKeyId, PreSharedKeyProposal, Proposal, ProposalOrRef, Psk, Sender, VLBytes, WireFormat, decode, encode,
};
use mlsx_base::crypto::{CipherSuiteProvider, LabeledCrypto, Secret};
use mlsx_base::group::{CachedProposal, CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, PublicGroup, Received};
use mlsx_base::tree::RatchetTree;
use mlsx_base::tree::math::LeafIndex;
use mlsx_extensions::{APQ_MLS_INFO, ComponentKey, Extensions, GroupRequirements};
use mlsx_pq_suites::PqProvider;

use crate::Error;
use crate::codec::{APQ_MESSAGE_PAIR, ApqInfo, ApqInfoUpdate, ApqMessagePair, Mode};
use crate::component::ApqComponent;
use crate::policy::{CommitKind, FullCommitPolicy, check_suites};

/// What every member of a session agrees on before it starts: the two
/// suites, the mode, the group configurations and the commit policy.
#[derive(Clone, Debug)]
pub struct ApqSetup {
    /// The traditional suite's provider.
    pub t_cs: Arc<dyn CipherSuiteProvider>,
    /// The PQ suite's provider.
    pub pq_cs: Arc<dyn CipherSuiteProvider>,
    /// The mode (§4).
    pub mode: Mode,
    /// Maps PQ code points to suites, for the suite rules of §7.
    pub pq_profile: PqProvider,
    /// The T group's configuration (the session adds its hooks).
    pub t_config: GroupConfig,
    /// The PQ group's configuration (the session adds its hooks).
    pub pq_config: GroupConfig,
    /// When commits are FULL.
    pub policy: FullCommitPolicy,
    /// Whether our handshake messages (commits and proposals, and so the
    /// two halves of a pair) are sent as PrivateMessage; PublicMessage by
    /// default. The session sets `encrypt_handshake` of both group
    /// configurations from this field, so that a pair's halves always
    /// have the same wire format (§6). Pairs of either kind are accepted.
    pub private_handshake: bool,
}

impl ApqSetup {
    /// Two suites and a mode, default configurations and policy; checks the
    /// suite rules (§7).
    pub fn new(t_cs: Arc<dyn CipherSuiteProvider>, pq_cs: Arc<dyn CipherSuiteProvider>, mode: Mode) -> Result<Self, Error> {
        let setup = Self {
            t_cs,
            pq_cs,
            mode,
            pq_profile: PqProvider::default(),
            t_config: GroupConfig::default(),
            pq_config: GroupConfig::default(),
            policy: FullCommitPolicy::default(),
            private_handshake: false,
        };
        setup.check()?;
        Ok(setup)
    }

    fn check(&self) -> Result<(), Error> {
        check_suites(self.t_cs.cipher_suite(), self.pq_cs.cipher_suite(), self.mode, &self.pq_profile)?;
        self.policy.validate()?;
        // apq_psk_id and apq_psk are DeriveSecret with the T KDF over the
        // PQ export (Nh_PQ bytes); HKDF-Expand needs a key of at least the
        // T hash's length (RFC 5869 §2.3), so a T hash longer than the PQ
        // one cannot work (`drafts/combiner.md`).
        if self.t_cs.hash_len() > self.pq_cs.hash_len() {
            return Err(Error::ExportShorterThanTHash {
                t: self.t_cs.cipher_suite(),
                pq: self.pq_cs.cipher_suite(),
            });
        }
        Ok(())
    }
}

/// One of the two groups of a session, with its extensions machinery.
#[derive(Debug)]
pub(crate) struct Half {
    pub(crate) cs: Arc<dyn CipherSuiteProvider>,
    ext: Extensions,
    key: ComponentKey,
    component: Arc<ApqComponent>,
    pub(crate) config: GroupConfig,
}

/// Declares the wire syntax of `apq_message_pair` bodies to the decoder
/// (process-wide, see [`mlsx_base::codec::syntax`]), and that of the
/// draft-ietf-mls-extensions proposals a session's commits carry: for a
/// program that reads pairs outside any session, such as a delivery
/// service. Every session does it itself. The pair's body has its own
/// syntax so that a pair inside a pair decodes (and is then refused).
pub fn register_syntax() {
    mlsx_base::codec::syntax::register_wire_format_syntax(APQ_MESSAGE_PAIR, mlsx_base::codec::syntax::BodySyntax::Parser(pair_len));
    Extensions::new().register_syntax();
}

impl Half {
    pub(crate) fn new(cs: Arc<dyn CipherSuiteProvider>, base: &GroupConfig, private_handshake: bool) -> Result<Self, Error> {
        register_syntax();
        let mut ext = Extensions::new();
        let component = Arc::new(ApqComponent::default());
        let key = ext.register(component.clone())?;
        ext.support_wire_format(APQ_MESSAGE_PAIR);
        let mut config = base.clone();
        config.hooks = config.hooks.with_wire_format(Arc::new(PairHandler));
        // Both halves of a pair in the same wire format (§6); external
        // commits are PublicMessages whatever this says (RFC 9420 §12.4.3.2).
        config.encrypt_handshake = private_handshake;
        ext.install(&mut config)?;
        Ok(Self {
            cs,
            ext,
            key,
            component,
            config,
        })
    }

    /// `apq_psk_id` and `apq_psk` from an `apq_exporter`, with this
    /// (the T) group's KDF (§5.2); the exporter is dropped (deleted) here.
    fn psk_from(&self, apq_exporter: Secret) -> Result<(Vec<u8>, Secret), Error> {
        let id = self.cs.derive_secret(apq_exporter.as_bytes(), b"psk_id")?;
        let psk = self.cs.derive_secret(apq_exporter.as_bytes(), b"psk")?;
        drop(apq_exporter);
        Ok((id.as_bytes().to_vec(), psk))
    }

    /// §6 MUST: the GroupContext lists `apq_message_pair` in
    /// `required_wire_formats`.
    fn requires_pair(&self, context: &GroupContext, which: &'static str) -> Result<(), Error> {
        let required = mlsx_base::codec::find_extension(&context.extensions, self.ext.code_points().required_wire_formats)
            .map(|e| decode::<mlsx_extensions::WireFormats>(e.extension_data.as_slice()))
            .transpose()?;
        match required {
            Some(r) if r.wire_formats.contains(&APQ_MESSAGE_PAIR) => Ok(()),
            _ => Err(Error::PairNotRequired(which)),
        }
    }

    pub(crate) fn info_of(&self, context: &GroupContext, which: &'static str) -> Result<ApqInfo, Error> {
        let d = self.ext.dictionary(context)?;
        let data = d.get(APQ_MLS_INFO).ok_or(Error::NoApqInfo(which))?;
        Ok(decode(data)?)
    }
}

/// A client's two signing identities, one per group, with one credential
/// (members of the two groups are matched by credential,
/// `drafts/combiner.md`). In mode 1 the PQ identity signs with the PQ
/// suite's ML-DSA.
#[derive(Debug)]
pub struct ApqIdentity {
    /// For the T group.
    pub t: Identity,
    /// For the PQ group.
    pub pq: Identity,
}

/// The two KeyPackages of a client (§3.2), to publish.
#[derive(Clone, Debug)]
pub struct ApqKeyPackages {
    /// For the T group.
    pub t: KeyPackage,
    /// For the PQ group (PQ-signed in mode 1).
    pub pq: KeyPackage,
}

/// The private side of [`ApqKeyPackages`].
#[derive(Debug)]
pub struct ApqKeyPackageBundles {
    /// For the T group.
    pub t: KeyPackageBundle,
    /// For the PQ group.
    pub pq: KeyPackageBundle,
}

/// A client before it is in a session: its setup and identities.
#[derive(Debug)]
pub struct ApqClient {
    setup: ApqSetup,
    t: Half,
    pq: Half,
    identity: ApqIdentity,
}

impl ApqClient {
    /// A client with basic credentials `name` and fresh signature keys in
    /// both suites.
    pub fn new(setup: ApqSetup, name: &[u8]) -> Result<Self, Error> {
        let t_id = Identity::basic(setup.t_cs.as_ref(), name)?;
        let pq_id = Identity::basic(setup.pq_cs.as_ref(), name)?;
        Self::with_identity(setup, ApqIdentity { t: t_id, pq: pq_id })
    }

    /// A client with its own identities (one credential in both).
    pub fn with_identity(setup: ApqSetup, mut identity: ApqIdentity) -> Result<Self, Error> {
        setup.check()?;
        if identity.t.credential != identity.pq.credential {
            return Err(Error::CredentialsDiffer);
        }
        let t = Half::new(setup.t_cs.clone(), &setup.t_config, setup.private_handshake)?;
        let pq = Half::new(setup.pq_cs.clone(), &setup.pq_config, setup.private_handshake)?;
        t.ext.advertise(&mut identity.t)?;
        pq.ext.advertise(&mut identity.pq)?;
        Ok(Self { setup, t, pq, identity })
    }

    /// The client's identities as the session uses them (capabilities
    /// advertising the session's components and wire format): what a
    /// stored KeyPackage's private keys are joined with.
    pub fn identity(&self) -> &ApqIdentity {
        &self.identity
    }

    /// A fresh pair of KeyPackages and their private keys.
    pub fn key_packages(&self) -> Result<(ApqKeyPackages, ApqKeyPackageBundles), Error> {
        let t = self.identity.t.key_package(self.t.cs.as_ref())?;
        let pq = self.identity.pq.key_package(self.pq.cs.as_ref())?;
        Ok((
            ApqKeyPackages {
                t: t.key_package.clone(),
                pq: pq.key_package.clone(),
            },
            ApqKeyPackageBundles { t, pq },
        ))
    }

    /// Creates a session as the draft's default (§3): the PQ group, then
    /// the T group, then the first FULL commit, which puts APQInfo in both
    /// GroupContexts.
    pub fn create_session(self, t_group_id: Vec<u8>, pq_group_id: Vec<u8>) -> Result<ApqSession, Error> {
        self.create_session_with_extensions(t_group_id, pq_group_id, vec![])
    }

    /// [`Self::create_session`] with the application's own GroupContext
    /// extensions in the T group (every member's T leaf must support
    /// them, RFC 9420 §12.1).
    pub fn create_session_with_extensions(
        self,
        t_group_id: Vec<u8>,
        pq_group_id: Vec<u8>,
        t_extensions: Vec<Extension>,
    ) -> Result<ApqSession, Error> {
        let requirements = GroupRequirements {
            components: vec![APQ_MLS_INFO],
            wire_formats: vec![APQ_MESSAGE_PAIR],
            ..GroupRequirements::default()
        };
        let pq_context = self.pq.ext.group_context_extensions(&requirements)?;
        let pq = Group::create_with_extensions(
            self.pq.cs.clone(),
            self.identity.pq,
            pq_group_id,
            pq_context,
            self.pq.config.clone(),
        )?;
        let mut t_context = self.t.ext.group_context_extensions(&requirements)?;
        t_context.extend(t_extensions);
        let t = Group::create_with_extensions(self.t.cs.clone(), self.identity.t, t_group_id, t_context, self.t.config.clone())?;
        let mut session = ApqSession::assemble(self.setup, self.t, self.pq, t, pq);
        session.full_commit(vec![], vec![])?;
        session.confirm()?;
        Ok(session)
    }

    /// Joins a session from a Welcome pair (§3.2): the PQ Welcome first,
    /// `apq_psk` from the PQ group's new epoch, then the T Welcome, whose
    /// GroupSecrets name that PSK. Checks APQInfo in both groups (same
    /// content, the groups' ids, suites and epochs, the suite rules) and
    /// that both groups have the same members.
    pub fn join(self, welcome: &MlsMessage, bundles: ApqKeyPackageBundles) -> Result<ApqSession, Error> {
        let pair = open_pair(welcome)?;
        if pair.wire_format != WireFormat::WELCOME {
            return Err(Error::InnerWireFormat(pair.wire_format));
        }
        let mut pq = Group::join(self.pq.cs.clone(), &pair.pq_message, bundles.pq, None, self.pq.config.clone())?;
        let exporter = self.pq.key.safe_export_secret(&mut pq)?;
        let (psk_id, psk) = self.t.psk_from(exporter)?;
        self.t.component.lend_psk(psk_id, psk);
        let t = Group::join(self.t.cs.clone(), &pair.t_message, bundles.t, None, self.t.config.clone());
        let used = self.t.component.forget_psk();
        let t = t?;
        // §3.2: the T Welcome's GroupSecrets name apq_psk.
        if !used {
            return Err(Error::MissingApqPsk);
        }
        let mut session = ApqSession::assemble(self.setup, self.t, self.pq, t, pq);
        let info = session
            .rules()
            .check_pair_state(session.t_group().context(), session.pq_group().context())?;
        check_suites(info.t_cipher_suite, info.pq_cipher_suite, info.mode, &session.setup.pq_profile)?;
        if info.mode != session.setup.mode {
            return Err(Error::ApqInfoChanged);
        }
        same_members(session.t_group().tree(), session.pq_group().tree())?;
        session.joined_without_full = true;
        Ok(session)
    }
}

impl ApqClient {
    /// Joins a session by a pair of external commits (§3.2.2), from the
    /// session's GroupInfo pair ([`ApqSession::group_info`]): the PQ
    /// external commit first, then `apq_psk` from its new epoch, then the T
    /// external commit with that PSK; both update APQInfo's epochs. Returns
    /// the session and the APQMessagePair to send; if the Delivery Service
    /// refuses it, drop the session and try again with a newer GroupInfo.
    pub fn join_external(self, group_info: &MlsMessage) -> Result<(ApqSession, MlsMessage), Error> {
        let pair = open_pair(group_info)?;
        let (MlsMessageBody::GroupInfo(t_gi), MlsMessageBody::GroupInfo(pq_gi)) = (&pair.t_message.body, &pair.pq_message.body) else {
            return Err(Error::InnerWireFormat(pair.wire_format));
        };
        // Both GroupInfos carry the same APQInfo, for these groups (§3.2.2).
        let t_info = self.t.info_of(&t_gi.group_context, "T")?;
        if self.pq.info_of(&pq_gi.group_context, "PQ")? != t_info {
            return Err(Error::ApqInfoMismatch);
        }
        check_suites(t_info.t_cipher_suite, t_info.pq_cipher_suite, t_info.mode, &self.setup.pq_profile)?;
        if t_info.mode != self.setup.mode
            || t_info.t_session_group_id != t_gi.group_context.group_id
            || t_info.pq_session_group_id != pq_gi.group_context.group_id
            || t_info.t_cipher_suite != t_gi.group_context.cipher_suite
            || t_info.pq_cipher_suite != pq_gi.group_context.cipher_suite
        {
            return Err(Error::ApqInfoChanged);
        }
        let updates = [
            // Saturating: a GroupInfo at the last epoch is refused by the
            // engine when it joins (its epoch cannot advance).
            ApqInfoUpdate::NewTEpoch(t_gi.group_context.epoch.saturating_add(1)),
            ApqInfoUpdate::NewPqEpoch(pq_gi.group_context.epoch.saturating_add(1)),
        ];
        let proposals = |half: &Half| -> Result<Vec<Proposal>, Error> {
            updates
                .iter()
                .map(|u| Ok(half.ext.app_data_update(APQ_MLS_INFO, encode(u)?)?))
                .collect()
        };
        let options = mlsx_base::group::ExternalJoinOptions {
            proposals: proposals(&self.pq)?,
            ..Default::default()
        };
        let (mut pq, pq_commit) =
            Group::join_external_with(self.pq.cs.clone(), pq_gi, None, self.identity.pq, options, self.pq.config.clone())?;
        let exporter = self.pq.key.safe_export_secret(&mut pq)?;
        let (psk_id, psk) = self.t.psk_from(exporter)?;
        let mut t_proposals = vec![apq_psk_proposal(self.t.cs.as_ref(), psk_id.clone())?];
        t_proposals.extend(proposals(&self.t)?);
        let options = mlsx_base::group::ExternalJoinOptions {
            proposals: t_proposals,
            ..Default::default()
        };
        self.t.component.lend_psk(psk_id, psk);
        let t = Group::join_external_with(self.t.cs.clone(), t_gi, None, self.identity.t, options, self.t.config.clone());
        let _ = self.t.component.forget_psk();
        let (t, t_commit) = t?;
        let session = ApqSession::assemble(self.setup, self.t, self.pq, t, pq);
        session
            .rules()
            .check_pair_state(session.t_group().context(), session.pq_group().context())?;
        same_members(session.t_group().tree(), session.pq_group().tree())?;
        let message = make_pair(WireFormat::PUBLIC_MESSAGE, t_commit, pq_commit)?;
        Ok((session, message))
    }
}

/// A traditional group that can become a session later (§3: "a combined
/// session can also be created after a traditional MLS session has already
/// been running"): the T group runs with the session's hooks and
/// requirements, and each member keeps its PQ identity for the upgrade.
#[derive(Debug)]
pub struct UpgradableGroup {
    setup: ApqSetup,
    t: Half,
    pq: Half,
    pq_identity: Identity,
    t_group: Group,
}

/// What the member that upgrades a group sends: the PQ Welcome first (its
/// GroupContext carries APQInfo), then the first FULL commit.
#[derive(Debug)]
pub struct UpgradeOutput {
    /// The PQ group's Welcome for every other member.
    pub pq_welcome: MlsMessage,
    /// The first FULL commit, pending in the session until
    /// [`ApqSession::confirm`].
    pub full_commit: ApqCommitOutput,
}

fn upgrade_requirements() -> GroupRequirements {
    GroupRequirements {
        components: vec![APQ_MLS_INFO],
        wire_formats: vec![APQ_MESSAGE_PAIR],
        ..GroupRequirements::default()
    }
}

impl ApqClient {
    /// Creates a traditional group that can be upgraded to a session later
    /// ([`UpgradableGroup::upgrade`]).
    pub fn create_upgradable(self, t_group_id: Vec<u8>) -> Result<UpgradableGroup, Error> {
        let context = self.t.ext.group_context_extensions(&upgrade_requirements())?;
        let t_group = Group::create_with_extensions(self.t.cs.clone(), self.identity.t, t_group_id, context, self.t.config.clone())?;
        Ok(UpgradableGroup {
            setup: self.setup,
            t: self.t,
            pq: self.pq,
            pq_identity: self.identity.pq,
            t_group,
        })
    }

    /// The T KeyPackage of this client alone, for joining an
    /// [`UpgradableGroup`].
    pub fn t_key_package(&self) -> Result<KeyPackageBundle, Error> {
        Ok(self.identity.t.key_package(self.t.cs.as_ref())?)
    }

    /// Joins an [`UpgradableGroup`] by its (T) Welcome.
    pub fn join_upgradable(self, welcome: &MlsMessage, bundle: KeyPackageBundle) -> Result<UpgradableGroup, Error> {
        let t_group = Group::join(self.t.cs.clone(), welcome, bundle, None, self.t.config.clone())?;
        Ok(UpgradableGroup {
            setup: self.setup,
            t: self.t,
            pq: self.pq,
            pq_identity: self.identity.pq,
            t_group,
        })
    }
}

impl UpgradableGroup {
    /// The T group, for ordinary use (adds, commits, messages) before the
    /// upgrade.
    pub fn t_group_mut(&mut self) -> &mut Group {
        &mut self.t_group
    }

    /// This member's PQ KeyPackage, for the member that upgrades.
    pub fn pq_key_package(&self) -> Result<KeyPackageBundle, Error> {
        Ok(self.pq_identity.key_package(self.pq.cs.as_ref())?)
    }

    /// Upgrades the group (§3): creates the PQ group with APQInfo in its
    /// GroupContext, adds every other member's PQ KeyPackage (one per
    /// member of the T group, matched by credential), and makes the first
    /// FULL commit (pending until [`ApqSession::confirm`]).
    pub fn upgrade(self, pq_group_id: Vec<u8>, pq_key_packages: Vec<KeyPackage>) -> Result<(ApqSession, UpgradeOutput), Error> {
        let info = ApqInfo {
            t_session_group_id: self.t_group.context().group_id.clone(),
            pq_session_group_id: VLBytes::new(pq_group_id.clone()),
            mode: self.setup.mode,
            t_cipher_suite: self.t_group.cipher_suite(),
            pq_cipher_suite: self.pq.cs.cipher_suite(),
            t_epoch: self.t_group.epoch(),
            pq_epoch: 0,
        };
        let mut requirements = upgrade_requirements();
        requirements.data.push((APQ_MLS_INFO, encode(&info)?));
        let context = self.pq.ext.group_context_extensions(&requirements)?;
        let mut pq_group =
            Group::create_with_extensions(self.pq.cs.clone(), self.pq_identity, pq_group_id, context, self.pq.config.clone())?;
        let out = pq_group.commit(CommitOptions::add(pq_key_packages))?;
        pq_group.merge_pending_commit()?;
        same_members(self.t_group.tree(), pq_group.tree())?;
        let pq_welcome = out.welcome.ok_or(Error::MembershipDiffers)?;
        let mut session = ApqSession::assemble(self.setup, self.t, self.pq, self.t_group, pq_group);
        let full_commit = session.full_commit(vec![], vec![])?;
        Ok((session, UpgradeOutput { pq_welcome, full_commit }))
    }

    /// Takes part in an upgrade made by another member: joins the PQ group
    /// by its Welcome (whose APQInfo must name this T group, the setup's
    /// suites and mode) and checks that both groups have the same members.
    /// The first FULL commit then arrives through [`ApqSession::process`].
    pub fn accept_upgrade(self, pq_welcome: &MlsMessage, bundle: KeyPackageBundle) -> Result<ApqSession, Error> {
        let pq_group = Group::join(self.pq.cs.clone(), pq_welcome, bundle, None, self.pq.config.clone())?;
        let info = self.pq.info_of(pq_group.context(), "PQ")?;
        if info.t_session_group_id != self.t_group.context().group_id
            || info.pq_session_group_id != pq_group.context().group_id
            || info.mode != self.setup.mode
            || info.t_cipher_suite != self.t_group.cipher_suite()
            || info.pq_cipher_suite != pq_group.cipher_suite()
        {
            return Err(Error::ApqInfoChanged);
        }
        same_members(self.t_group.tree(), pq_group.tree())?;
        Ok(ApqSession::assemble(self.setup, self.t, self.pq, self.t_group, pq_group))
    }
}

/// A commit this session made, to send.
#[derive(Debug)]
pub struct ApqCommitOutput {
    /// FULL or PARTIAL.
    pub kind: CommitKind,
    /// An APQMessagePair of the two commits (FULL), or the T commit
    /// (PARTIAL).
    pub message: MlsMessage,
    /// For FULL commits that add members: the pair of Welcomes.
    pub welcome: Option<MlsMessage>,
}

/// What [`ApqSession::process`] accepted (and applied).
#[derive(Debug)]
#[non_exhaustive]
pub enum ApqReceived {
    /// Application data (T group only, §3.4).
    Application {
        /// The sender's credential.
        sender: Credential,
        /// The data.
        data: Vec<u8>,
    },
    /// A FULL commit, applied to both groups.
    Full {
        /// Whether it removed us (the session is over).
        removed_self: bool,
    },
    /// A PARTIAL commit, applied to the T group.
    Partial,
    /// A pair of proposals, or a T proposal, cached for the next commit.
    Proposal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Full,
    Partial,
}

/// A hybrid session (§3): the T group carries application messages; the PQ
/// group moves only in FULL commits, each of which keys the T group's next
/// epoch with a PSK exported from the PQ group's.
#[derive(Debug)]
pub struct ApqSession {
    setup: ApqSetup,
    t: Half,
    pq: Half,
    t_group: Group,
    pq_group: Group,
    pending: Option<Pending>,
    commits_since_full: u32,
    last_full: u64,
    joined_without_full: bool,
    active: bool,
    /// Each member's last own FULL commit (or when it was first seen), by
    /// encoded credential: the inactivity rule of §3.
    last_full_by: std::collections::BTreeMap<Vec<u8>, u64>,
}

/// Format version of [`ApqSession::save`].
/// 2: each member's last FULL commit (the inactivity rule).
const SESSION_STATE_VERSION: u16 = 2;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ApqMessagePair {
    /// Reads the pair in an MLSMessage of wire format `apq_message_pair`,
    /// checking the inner wire formats (§6 MUST).
    pub fn from_message(msg: &MlsMessage) -> Result<Self, Error> {
        open_pair(msg)
    }

    /// The pair as an MLSMessage of wire format `apq_message_pair`.
    pub fn to_message(&self) -> Result<MlsMessage, Error> {
        Ok(MlsMessage::new(MlsMessageBody::Custom(mlsx_base::codec::CustomBody {
            wire_format: APQ_MESSAGE_PAIR,
            body: encode(self)?,
        })))
    }
}

pub(crate) fn open_pair(msg: &MlsMessage) -> Result<ApqMessagePair, Error> {
    // RFC 9420 §6: an MLSMessage of any wire format is mls10.
    if msg.version != mlsx_base::codec::ProtocolVersion::MLS10 {
        return Err(Error::Base(mlsx_base::PeerError::UnsupportedVersion(msg.version.0).into()));
    }
    let MlsMessageBody::Custom(c) = &msg.body else {
        return Err(Error::NotAPair(msg.body.wire_format()));
    };
    if c.wire_format != APQ_MESSAGE_PAIR {
        return Err(Error::NotAPair(c.wire_format));
    }
    open_pair_body(&c.body)
}

/// The `apq_message_pair` wire format (§6) through mls-base's wire-format
/// hook: [`Group::process_message`] opens a pair into an
/// [`Envelope`](mlsx_base::group::hooks::Envelope) whose `inner` holds the
/// T and the PQ message, in that order, after checking their wire formats.
/// The group itself is not changed: the two messages belong to two groups,
/// and [`ApqSession::process`] applies them to both or to neither. Every
/// group of a session has it installed; a group used without a session
/// can install it to read pairs.
#[derive(Clone, Copy, Debug, Default)]
pub struct PairHandler;

impl mlsx_base::group::hooks::WireFormatHandler for PairHandler {
    fn wire_format(&self) -> WireFormat {
        APQ_MESSAGE_PAIR
    }

    fn process(&self, _: &Group, body: &[u8]) -> Result<mlsx_base::group::hooks::Envelope, mlsx_base::Error> {
        let pair = open_pair_body(body).map_err(|e| mlsx_base::Error::Hook(Box::new(e)))?;
        Ok(mlsx_base::group::hooks::Envelope {
            inner: vec![pair.t_message, pair.pq_message],
            ..mlsx_base::group::hooks::Envelope::default()
        })
    }
}

/// Decodes an APQMessagePair body; an inner wire format refused while
/// decoding is [`Error::InnerWireFormat`], as when checked after.
fn decode_pair(body: &[u8]) -> Result<ApqMessagePair, Error> {
    decode(body).map_err(|e| match e {
        mlsx_base::Error::Codec(tls_codec::Error::DecodingError(s)) if s == crate::codec::INNER_WIRE_FORMAT => {
            let field = body.get(..2).and_then(|b| b.try_into().ok()).map_or(0, u16::from_be_bytes);
            Error::InnerWireFormat(WireFormat(field))
        }
        e => e.into(),
    })
}

/// §6: both inner formats equal the field, which is an RFC 9420 one;
/// [`ApqMessagePair`]'s decoder refuses anything else.
fn open_pair_body(body: &[u8]) -> Result<ApqMessagePair, Error> {
    decode_pair(body)
}

fn make_pair(wire_format: WireFormat, t: MlsMessage, pq: MlsMessage) -> Result<MlsMessage, Error> {
    let pair = ApqMessagePair {
        wire_format,
        t_message: t,
        pq_message: pq,
    };
    Ok(MlsMessage::new(MlsMessageBody::Custom(mlsx_base::codec::CustomBody {
        wire_format: APQ_MESSAGE_PAIR,
        body: encode(&pair)?,
    })))
}

/// The length of the APQMessagePair at the start of `bytes`.
fn pair_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = <ApqMessagePair as tls_codec::DeserializeBytes>::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

/// Whether a proposal outside a FULL commit's own APQInfo update would
/// change APQInfo or the `apq_message_pair` requirement (§5.1.1, §6): an
/// AppDataUpdate of component 0x0006 (or one that does not decode), or a
/// GroupContextExtensions that does not keep both as they are.
pub(crate) fn touches_apq(half: &Half, group: &PublicGroup, p: &Proposal) -> bool {
    match p {
        Proposal::Custom(c) if c.proposal_type == half.ext.code_points().app_data_update => {
            decode::<mlsx_extensions::AppDataUpdate>(&c.body).map_or(true, |u| u.component_id == APQ_MLS_INFO)
        }
        Proposal::GroupContextExtensions(g) => {
            let mut next = group.context().clone();
            next.extensions.clone_from(&g.extensions);
            half.requires_pair(&next, "").is_err() || half.info_of(&next, "").ok() != half.info_of(group.context(), "").ok()
        }
        _ => false,
    }
}

/// The members of a tree as sorted encoded credentials.
fn credentials(tree: &RatchetTree) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = tree.leaves().map(|(_, l)| encode(&l.credential)).collect::<Result<Vec<_>, _>>()?;
    out.sort();
    Ok(out)
}

/// §3.2.1, §3.3: both groups have the same members (matched by credential).
pub(crate) fn same_members(t: &RatchetTree, pq: &RatchetTree) -> Result<(), Error> {
    if credentials(t)? == credentials(pq)? {
        Ok(())
    } else {
        Err(Error::MembershipDiffers)
    }
}

/// The group id and content type of a handshake message, both in the
/// clear (RFC 9420 §6.2, §6.3).
pub(crate) fn handshake_of(msg: &MlsMessage) -> Option<(&[u8], ContentType)> {
    match &msg.body {
        MlsMessageBody::PublicMessage(m) => Some((m.content.group_id.as_slice(), m.content.body.content_type())),
        MlsMessageBody::PrivateMessage(m) => Some((m.group_id.as_slice(), m.content_type)),
        _ => None,
    }
}

pub(crate) fn group_id_of(msg: &MlsMessage) -> Option<&[u8]> {
    match &msg.body {
        MlsMessageBody::PublicMessage(m) => Some(m.content.group_id.as_slice()),
        MlsMessageBody::PrivateMessage(m) => Some(m.group_id.as_slice()),
        _ => None,
    }
}

fn apq_psk_proposal(cs: &dyn CipherSuiteProvider, psk_id: Vec<u8>) -> Result<Proposal, Error> {
    let nonce = cs.random_vec(cs.hash_len()).map_err(mlsx_base::Error::from)?;
    Ok(Proposal::PreSharedKey(PreSharedKeyProposal {
        psk: PreSharedKeyId {
            psk: Psk::Application(ApplicationPsk {
                component_id: APQ_MLS_INFO,
                psk_id: VLBytes::new(psk_id),
            }),
            psk_nonce: VLBytes::new(nonce),
        },
    }))
}

/// Whether a commit injects the PSK `(application, 0x0006, psk_id)`.
fn injects(commit: &Commit, psk_id: &[u8]) -> bool {
    commit.proposals.iter().any(|p| match p {
        ProposalOrRef::Proposal(Proposal::PreSharedKey(x)) => {
            matches!(&x.psk.psk, Psk::Application(a) if a.component_id == APQ_MLS_INFO && a.psk_id.as_slice() == psk_id)
        }
        _ => false,
    })
}

/// The rules of a session's two groups (§3, §5, §6) over their public
/// state: checked alike by its members ([`ApqSession`]) and by an observer
/// of its public handshakes ([`ApqObserver`]).
pub(crate) struct Rules<'a> {
    pub(crate) mode: Mode,
    pub(crate) t: &'a Half,
    pub(crate) pq: &'a Half,
    pub(crate) t_group: &'a PublicGroup,
    pub(crate) pq_group: &'a PublicGroup,
}

impl Rules<'_> {
    /// The APQInfo of a new epoch pair: present in both, equal, the
    /// session's ids, mode and suites, and the two groups' epochs (§5.1.1,
    /// §5.1.2).
    pub(crate) fn check_pair_state(&self, t: &GroupContext, pq: &GroupContext) -> Result<ApqInfo, Error> {
        self.t.requires_pair(t, "T")?;
        self.pq.requires_pair(pq, "PQ")?;
        let t_info = self.t.info_of(t, "T")?;
        let pq_info = self.pq.info_of(pq, "PQ")?;
        if t_info != pq_info {
            return Err(Error::ApqInfoMismatch);
        }
        let session = ApqInfo {
            t_session_group_id: t.group_id.clone(),
            pq_session_group_id: pq.group_id.clone(),
            mode: self.mode,
            t_cipher_suite: t.cipher_suite,
            pq_cipher_suite: pq.cipher_suite,
            t_epoch: t.epoch,
            pq_epoch: pq.epoch,
        };
        if !t_info.same_session(&session) {
            return Err(Error::ApqInfoChanged);
        }
        if t_info.t_epoch != t.epoch || t_info.pq_epoch != pq.epoch {
            return Err(Error::ApqInfoEpochs {
                t: t_info.t_epoch,
                pq: t_info.pq_epoch,
                t_new: t.epoch,
                pq_new: pq.epoch,
            });
        }
        Ok(t_info)
    }

    /// A proposal outside a FULL commit: no Add, Remove or ExternalInit,
    /// no APQInfo update.
    /// The proposals a session does not support (gap 5): ReInit, and
    /// SelfRemove, whose handler the draft's installation brings into both
    /// groups but which would remove a member from one group only.
    pub(crate) fn unsupported(&self, p: &Proposal) -> Option<&'static str> {
        match p {
            Proposal::ReInit(_) => Some("ReInit"),
            Proposal::Custom(c) if c.proposal_type == self.t.ext.code_points().self_remove => Some("SelfRemove"),
            _ => None,
        }
    }

    /// A T-only message may not change the membership or APQInfo, not
    /// even as a proposal cached for a later commit (§3, checklist 7): the
    /// proposals a PublicMessage shows (an encrypted one is checked once
    /// opened).
    pub(crate) fn check_t_only_message(&self, msg: &MlsMessage) -> Result<(), Error> {
        let MlsMessageBody::PublicMessage(m) = &msg.body else {
            return Ok(());
        };
        match &m.content.body {
            FramedContentBody::Proposal(p) => self.check_t_only_proposal(p),
            FramedContentBody::Commit(c) => c.proposals.iter().try_for_each(|p| match p {
                ProposalOrRef::Proposal(p) => self.check_t_only_proposal(p),
                ProposalOrRef::Reference(_) => Ok(()),
            }),
            FramedContentBody::Application(_) => Ok(()),
        }
    }

    pub(crate) fn check_t_only_proposal(&self, p: &Proposal) -> Result<(), Error> {
        if let Some(what) = self.unsupported(p) {
            return Err(Error::UnsupportedInSession(what));
        }
        match p {
            Proposal::Add(_) | Proposal::Remove(_) | Proposal::ExternalInit(_) => Err(Error::MembershipChangeInPartial),
            _ if touches_apq(self.t, self.t_group, p) => Err(Error::ApqInfoInPartial),
            _ => Ok(()),
        }
    }

    /// A PARTIAL commit's new epoch (`added`, `removed`, `tree`,
    /// `context`): the same members as the PQ group, APQInfo and the pair
    /// requirement unchanged.
    pub(crate) fn check_partial(
        &self,
        added: &[LeafIndex],
        removed: &[LeafIndex],
        tree: &RatchetTree,
        context: &GroupContext,
    ) -> Result<(), Error> {
        // An external commit adds its sender without a list entry (and is
        // refused earlier by its ExternalInit): the member counts of the two
        // groups must also stay equal (a count, not the O(n log n)
        // credential comparison of FULL commits: PARTIAL commits are the
        // cheap path).
        if !added.is_empty() || !removed.is_empty() || tree.leaves().count() != self.pq_group.tree().leaves().count() {
            return Err(Error::MembershipChangeInPartial);
        }
        // Unchanged GroupContext extensions keep APQInfo and the required
        // wire formats as they were (the common case, a slice comparison);
        // otherwise both are checked again.
        if context.extensions == self.t_group.context().extensions {
            return Ok(());
        }
        if self.t.info_of(context, "T")? != self.t.info_of(self.t_group.context(), "T")? {
            return Err(Error::ApqInfoInPartial);
        }
        self.t.requires_pair(context, "T")
    }

    /// §3.1: both commits of a FULL commit are by one member (by its
    /// credential, in each group's new tree), or both by an external
    /// joiner (whose leaves `same_members` matches).
    pub(crate) fn same_committer(t: (&Sender, &RatchetTree), pq: (&Sender, &RatchetTree)) -> Result<(), Error> {
        match (t, pq) {
            ((Sender::Member(a), ta), (Sender::Member(b), tb)) => {
                let (ca, cb) = (ta.leaf(*a).map(|l| &l.credential), tb.leaf(*b).map(|l| &l.credential));
                if ca.is_some() && ca == cb {
                    Ok(())
                } else {
                    Err(Error::CommitPairDiffers)
                }
            }
            ((Sender::NewMemberCommit, _), (Sender::NewMemberCommit, _)) => Ok(()),
            _ => Err(Error::CommitPairDiffers),
        }
    }

    /// The checks a pair of proposals gets on receipt: those the same
    /// proposals would get in the FULL commit that must take them, so that
    /// a cached pair can never make that commit fail and stall the
    /// session. Supported types only (no ReInit, SelfRemove or
    /// ExternalInit); APQInfo and the pair requirement untouched (§5.1.1,
    /// §6); the same sender and the same change of the same member in both
    /// halves (§3.2.1, §3.3).
    pub(crate) fn check_proposal_pair(&self, t: &CachedProposal, pq: &CachedProposal) -> Result<(), Error> {
        for (half, group, p) in [(self.t, self.t_group, &t.proposal), (self.pq, self.pq_group, &pq.proposal)] {
            if let Some(what) = self.unsupported(p) {
                return Err(Error::UnsupportedInSession(what));
            }
            if matches!(p, Proposal::ExternalInit(_)) {
                return Err(Error::UnsupportedInSession("ExternalInit"));
            }
            if touches_apq(half, group, p) {
                return Err(Error::ApqInfoInProposal);
            }
        }
        let sender_of = |group: &PublicGroup, sender: &Sender| match sender {
            Sender::Member(leaf) => group
                .tree()
                .leaf(*leaf)
                .map(|l| Some(l.credential.clone()))
                .ok_or(Error::UnknownMember),
            _ => Ok(None),
        };
        let same_sender = match (&t.sender, &pq.sender) {
            (Sender::Member(_), Sender::Member(_)) => sender_of(self.t_group, &t.sender)? == sender_of(self.pq_group, &pq.sender)?,
            (Sender::External(a), Sender::External(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        };
        if !same_sender {
            return Err(Error::ProposalPairDiffers("senders"));
        }
        let removed = |group: &PublicGroup, leaf: LeafIndex| group.tree().leaf(leaf).map(|l| l.credential.clone());
        match (&t.proposal, &pq.proposal) {
            (Proposal::Add(a), Proposal::Add(b)) if a.key_package.leaf_node.credential != b.key_package.leaf_node.credential => {
                Err(Error::ProposalPairDiffers("added members"))
            }
            (Proposal::Remove(a), Proposal::Remove(b))
                if removed(self.t_group, a.removed).is_none() || removed(self.t_group, a.removed) != removed(self.pq_group, b.removed) =>
            {
                Err(Error::ProposalPairDiffers("removed members"))
            }
            (Proposal::Update(a), Proposal::Update(b)) if a.leaf_node.credential != b.leaf_node.credential => {
                Err(Error::ProposalPairDiffers("updated credentials"))
            }
            (a, b) if a.proposal_type() != b.proposal_type() => Err(Error::ProposalPairDiffers("proposal types")),
            _ => Ok(()),
        }
    }
}

impl ApqSession {
    fn assemble(setup: ApqSetup, t: Half, pq: Half, t_group: Group, pq_group: Group) -> Self {
        Self {
            setup,
            t,
            pq,
            t_group,
            pq_group,
            pending: None,
            commits_since_full: 0,
            last_full: now(),
            joined_without_full: false,
            active: true,
            last_full_by: std::collections::BTreeMap::new(),
        }
        .with_members_seen()
    }

    /// Adds the members not yet tracked (seen now) and forgets those gone.
    fn with_members_seen(mut self) -> Self {
        self.track_members(None);
        self
    }

    /// Keeps `last_full_by` in step with the T tree; `committer` made a
    /// FULL commit now.
    fn track_members(&mut self, committer: Option<Vec<u8>>) {
        let t = now();
        let present: std::collections::BTreeSet<Vec<u8>> = credentials(self.t_group.tree()).unwrap_or_default().into_iter().collect();
        self.last_full_by.retain(|c, _| present.contains(c));
        for c in present {
            self.last_full_by.entry(c).or_insert(t);
        }
        if let Some(c) = committer {
            self.last_full_by.insert(c, t);
        }
    }

    /// Members whose own last FULL commit is older than the policy's
    /// `inactive_after_seconds` (§3: they MUST be considered inactive and
    /// removed); never ourselves.
    pub fn inactive_members(&self) -> Vec<Credential> {
        let Some(limit) = self.setup.policy.inactive_after_seconds else {
            return vec![];
        };
        let t = now();
        let own = encode(&self.t_group.identity().credential).unwrap_or_default();
        self.last_full_by
            .iter()
            .filter(|(c, last)| **c != own && t.saturating_sub(**last) > limit)
            .filter_map(|(c, _)| decode(c).ok())
            .collect()
    }

    /// Removes the inactive members (§3) in one FULL commit, if any.
    pub fn remove_inactive(&mut self) -> Result<Option<ApqCommitOutput>, Error> {
        let inactive = self.inactive_members();
        if inactive.is_empty() {
            return Ok(None);
        }
        self.remove(&inactive).map(Some)
    }

    /// An observer at this session's current public state (both groups'
    /// [`PublicGroup`]s), as a non-member that followed the session so far
    /// would hold it.
    pub fn observer(&self) -> Result<crate::ApqObserver, Error> {
        crate::observer::ApqObserver::of_groups(&self.setup, self.t_group.public().clone(), self.pq_group.public().clone())
    }

    /// The T group (application messages, exports for the application).
    pub fn t_group(&self) -> &Group {
        &self.t_group
    }

    /// The PQ group.
    pub fn pq_group(&self) -> &Group {
        &self.pq_group
    }

    /// The session's mode.
    pub fn mode(&self) -> Mode {
        self.setup.mode
    }

    /// Whether this member is still in the session.
    pub fn is_active(&self) -> bool {
        self.active
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            mode: self.setup.mode,
            t: &self.t,
            pq: &self.pq,
            t_group: self.t_group.public(),
            pq_group: self.pq_group.public(),
        }
    }

    /// The APQInfo of the current epoch (the same in both groups).
    pub fn info(&self) -> Result<ApqInfo, Error> {
        self.t.info_of(self.t_group.context(), "T")
    }

    fn usable(&self) -> Result<(), Error> {
        if !self.active {
            return Err(Error::Removed);
        }
        if self.pending.is_some() {
            return Err(Error::PendingCommit);
        }
        Ok(())
    }

    /// The kind the policy picks for the next commit. Proposals cached in
    /// the PQ group (a pair of proposals, Fig. 1b) can only be committed by
    /// a FULL commit, so they make the next commit FULL whatever the policy
    /// says.
    pub fn next_kind(&self, membership_change: bool) -> CommitKind {
        if !self.pq_group.pending_proposals().is_empty() {
            return CommitKind::Full;
        }
        // The age that matters is that of our own last FULL commit: the
        // session's may be recent while ours ages towards the §3
        // inactivity limit (others' FULL commits do not count for us).
        let own = encode(&self.t_group.identity().credential).ok();
        let own_last_full = own.and_then(|c| self.last_full_by.get(&c).copied()).unwrap_or(self.last_full);
        self.setup.policy.decide(
            membership_change,
            self.commits_since_full,
            now().saturating_sub(own_last_full.min(self.last_full)),
            self.joined_without_full,
        )
    }

    /// A commit of the kind the policy picks, with `proposals` for the T
    /// group (and none for the PQ group).
    pub fn commit(&mut self, proposals: Vec<Proposal>) -> Result<ApqCommitOutput, Error> {
        let change = proposals.iter().any(|p| matches!(p, Proposal::Add(_) | Proposal::Remove(_)));
        match self.next_kind(change) {
            CommitKind::Full => self.full_commit(proposals, vec![]),
            CommitKind::Partial => self.partial_commit(proposals),
        }
    }

    /// A FULL commit (§3.1, §5.2): the PQ commit with its proposals and the
    /// APQInfo update is staged; `apq_exporter = SafeExportSecret(0x0006)`
    /// from its new epoch gives `apq_psk_id` and `apq_psk` (T KDF); the T
    /// commit injects that PSK and updates APQInfo. Both stay pending until
    /// [`Self::confirm`] (the Delivery Service took the pair) or
    /// [`Self::discard`].
    ///
    /// Cached proposals (pairs of proposals, T-only proposals) are taken by
    /// reference. If the commit cannot be made with them (proposals that
    /// conflict, name a member twice, became invalid, or were valid alone
    /// but not together), all of them are dropped from both groups and the
    /// commit is made without them (RFC 9420 §12.2: the committer chooses):
    /// a cached proposal never blocks the session's next commit.
    pub fn full_commit(&mut self, t_proposals: Vec<Proposal>, pq_proposals: Vec<Proposal>) -> Result<ApqCommitOutput, Error> {
        if !self.has_cached_proposals() {
            return self.full_commit_with_updates(t_proposals, pq_proposals, None);
        }
        match self.full_commit_with_updates(t_proposals.clone(), pq_proposals.clone(), None) {
            Err(e) if !matches!(e, Error::PendingCommit | Error::Removed | Error::UnsupportedInSession(_)) => {
                self.drop_cached_proposals();
                self.full_commit_with_updates(t_proposals, pq_proposals, None)
            }
            result => result,
        }
    }

    fn has_cached_proposals(&self) -> bool {
        !self.t_group.pending_proposals().is_empty() || !self.pq_group.pending_proposals().is_empty()
    }

    /// Drops every cached proposal of both groups.
    fn drop_cached_proposals(&mut self) {
        for g in [&mut self.t_group, &mut self.pq_group] {
            let refs: Vec<_> = g.pending_proposals().iter().map(|p| p.reference.clone()).collect();
            for r in &refs {
                g.discard_pending_proposal(r);
            }
        }
    }

    /// [`Self::full_commit`] with the given APQInfo updates instead of the
    /// right ones, and without the sender's own checks: for tests that
    /// need a malformed FULL commit. Never use it otherwise.
    #[doc(hidden)]
    pub fn full_commit_with_updates(
        &mut self,
        t_proposals: Vec<Proposal>,
        pq_proposals: Vec<Proposal>,
        forced: Option<Vec<ApqInfoUpdate>>,
    ) -> Result<ApqCommitOutput, Error> {
        self.usable()?;
        if let Some(what) = t_proposals.iter().chain(&pq_proposals).find_map(|p| self.rules().unsupported(p)) {
            return Err(Error::UnsupportedInSession(what));
        }
        let (t_new, pq_new) = (self.t_group.epoch() + 1, self.pq_group.epoch() + 1);
        let check = forced.is_none();
        let updates = match forced {
            Some(u) => u,
            None => match self.t.info_of(self.t_group.context(), "T") {
                Ok(_) => vec![ApqInfoUpdate::NewTEpoch(t_new), ApqInfoUpdate::NewPqEpoch(pq_new)],
                Err(Error::NoApqInfo(_)) => vec![ApqInfoUpdate::FullUpdate(ApqInfo {
                    t_session_group_id: self.t_group.context().group_id.clone(),
                    pq_session_group_id: self.pq_group.context().group_id.clone(),
                    mode: self.setup.mode,
                    t_cipher_suite: self.t_group.cipher_suite(),
                    pq_cipher_suite: self.pq_group.cipher_suite(),
                    t_epoch: t_new,
                    pq_epoch: pq_new,
                })],
                Err(e) => return Err(e),
            },
        };
        let mut pq_list = pq_proposals;
        for u in &updates {
            pq_list.push(self.pq.ext.app_data_update(APQ_MLS_INFO, encode(u)?)?);
        }
        let pq_out = self.pq_group.commit(CommitOptions {
            proposals: pq_list,
            ..CommitOptions::default()
        })?;
        match self.full_t_commit(t_proposals, &updates, pq_out, check) {
            Ok(out) => {
                self.pending = Some(Pending::Full);
                Ok(out)
            }
            Err(e) => {
                self.pq_group.clear_pending_commit();
                self.t_group.clear_pending_commit();
                let _ = self.t.component.forget_psk();
                Err(e)
            }
        }
    }

    fn full_t_commit(
        &mut self,
        t_proposals: Vec<Proposal>,
        updates: &[ApqInfoUpdate],
        pq_out: mlsx_base::group::CommitOutput,
        check: bool,
    ) -> Result<ApqCommitOutput, Error> {
        let pq_cs = self.pq.cs.clone();
        let staged = self.pq_group.pending_commit_mut().ok_or(Error::NoPendingCommit)?;
        let exporter = self.pq.key.safe_export_secret_staged(pq_cs.as_ref(), staged)?;
        let (psk_id, psk) = self.t.psk_from(exporter)?;
        let mut t_list = t_proposals;
        t_list.push(apq_psk_proposal(self.t.cs.as_ref(), psk_id.clone())?);
        for u in updates {
            t_list.push(self.t.ext.app_data_update(APQ_MLS_INFO, encode(u)?)?);
        }
        self.t.component.lend_psk(psk_id, psk);
        let t_out = self.t_group.commit(CommitOptions {
            proposals: t_list,
            ..CommitOptions::default()
        });
        let _ = self.t.component.forget_psk();
        let t_out = t_out?;
        // What we send must pass our own receiver checks.
        let (t_staged, pq_staged) = match (self.t_group.pending_commit(), self.pq_group.pending_commit()) {
            (Some(t), Some(pq)) => (t, pq),
            _ => return Err(Error::NoPendingCommit),
        };
        if check {
            self.rules().check_pair_state(t_staged.context(), pq_staged.context())?;
            same_members(t_staged.tree(), pq_staged.tree())?;
        }
        let welcome = match (t_out.welcome, pq_out.welcome) {
            (Some(t), Some(pq)) => Some(make_pair(WireFormat::WELCOME, t, pq)?),
            (None, None) => None,
            _ if !check => None,
            _ => return Err(Error::MembershipDiffers),
        };
        let wire_format = t_out.commit.body.wire_format();
        Ok(ApqCommitOutput {
            kind: CommitKind::Full,
            message: make_pair(wire_format, t_out.commit, pq_out.commit)?,
            welcome,
        })
    }

    /// A PARTIAL commit (§3): the T group only. It may not add or remove
    /// members or touch APQInfo.
    ///
    /// A member that joined by a Welcome makes a FULL commit first (§3.2),
    /// as [`Self::commit`] does: this refuses with
    /// [`Error::FirstCommitMustBeFull`] until then. (An external join is
    /// itself a pair of commits, a FULL one.)
    pub fn partial_commit(&mut self, proposals: Vec<Proposal>) -> Result<ApqCommitOutput, Error> {
        self.usable()?;
        if !self.pq_group.pending_proposals().is_empty() {
            return Err(Error::FullCommitRequested);
        }
        if proposals.iter().any(|p| matches!(p, Proposal::Add(_) | Proposal::Remove(_))) {
            return Err(Error::MembershipChangeInPartial);
        }
        if let Some(what) = proposals.iter().find_map(|p| self.rules().unsupported(p)) {
            return Err(Error::UnsupportedInSession(what));
        }
        if self.joined_without_full {
            return Err(Error::FirstCommitMustBeFull);
        }
        // Cached T-only proposals that make the commit fail are dropped
        // and the commit made without them (as in `full_commit`).
        let message = match self.partial_t_commit(proposals.clone()) {
            Err(_) if !self.t_group.pending_proposals().is_empty() => {
                self.drop_cached_proposals();
                self.partial_t_commit(proposals)?
            }
            result => result?,
        };
        self.pending = Some(Pending::Partial);
        Ok(ApqCommitOutput {
            kind: CommitKind::Partial,
            message,
            welcome: None,
        })
    }

    fn partial_t_commit(&mut self, proposals: Vec<Proposal>) -> Result<MlsMessage, Error> {
        let out = self.t_group.commit(CommitOptions {
            proposals,
            ..CommitOptions::default()
        })?;
        let check = match self.t_group.pending_commit() {
            Some(staged) => self
                .rules()
                .check_partial(staged.added(), staged.removed(), staged.tree(), staged.context()),
            None => Err(Error::NoPendingCommit),
        };
        if let Err(e) = check {
            self.t_group.clear_pending_commit();
            return Err(e);
        }
        Ok(out.commit)
    }

    /// Fig. 1b: Update proposals for our leaves in both groups, as one
    /// APQMessagePair. A pair of proposals is mlsx's encoding of the flag
    /// `f` (`drafts/combiner.md` gap 4): whoever commits it makes a FULL
    /// commit ([`Self::next_kind`]), which takes both proposals by
    /// reference. Our new leaf keys take effect when that commit arrives.
    pub fn propose_update_pair(&mut self) -> Result<MlsMessage, Error> {
        self.usable()?;
        let pq = self.pq_group.propose_update()?;
        let t = match self.t_group.propose_update() {
            Ok(t) => t,
            Err(e) => {
                // Neither or both: our PQ proposal leaves the cache again.
                if let Some(r) = self.pq_group.pending_proposals().last().map(|c| c.reference.clone()) {
                    self.pq_group.discard_pending_proposal(&r);
                }
                return Err(e.into());
            }
        };
        make_pair(t.body.wire_format(), t, pq)
    }

    /// Adds clients to both groups in one FULL commit (§3.2); the Welcome
    /// pair is in the output.
    pub fn add(&mut self, key_packages: Vec<ApqKeyPackages>) -> Result<ApqCommitOutput, Error> {
        let (t, pq): (Vec<_>, Vec<_>) = key_packages
            .into_iter()
            .map(|k| {
                (
                    Proposal::Add(mlsx_base::codec::Add::new(k.t)),
                    Proposal::Add(mlsx_base::codec::Add::new(k.pq)),
                )
            })
            .unzip();
        self.full_commit(t, pq)
    }

    /// Removes the members with these credentials from both groups in one
    /// FULL commit (§3.3).
    pub fn remove(&mut self, members: &[Credential]) -> Result<ApqCommitOutput, Error> {
        let mut t = vec![];
        let mut pq = vec![];
        for c in members {
            let (Some(tl), Some(pl)) = (self.t_group.member_by_credential(c), self.pq_group.member_by_credential(c)) else {
                return Err(Error::UnknownMember);
            };
            t.push(Proposal::Remove(mlsx_base::codec::Remove { removed: tl }));
            pq.push(Proposal::Remove(mlsx_base::codec::Remove { removed: pl }));
        }
        self.full_commit(t, pq)
    }

    /// The Delivery Service took our pending commit: both groups (or the T
    /// group, for a PARTIAL commit) move to the new epoch.
    pub fn confirm(&mut self) -> Result<(), Error> {
        match self.pending.take() {
            Some(Pending::Full) => {
                self.pq_group.merge_pending_commit()?;
                self.t_group.merge_pending_commit()?;
                self.after_full();
                let own = encode(&self.t_group.identity().credential).ok();
                self.track_members(own);
                // §3.2: the joiner's own FULL commit, not another's.
                self.joined_without_full = false;
                Ok(())
            }
            Some(Pending::Partial) => {
                self.t_group.merge_pending_commit()?;
                self.commits_since_full = self.commits_since_full.saturating_add(1);
                Ok(())
            }
            None => Err(Error::NoPendingCommit),
        }
    }

    /// The Delivery Service refused our pending commit (another won the
    /// epoch): both pending commits are dropped together.
    pub fn discard(&mut self) {
        self.pending = None;
        self.pq_group.clear_pending_commit();
        self.t_group.clear_pending_commit();
    }

    fn after_full(&mut self) {
        self.commits_since_full = 0;
        self.last_full = now();
    }

    /// Encrypts application data, in the T group only (§3.4).
    pub fn encrypt_application(&mut self, data: &[u8], authenticated_data: &[u8]) -> Result<MlsMessage, Error> {
        self.usable()?;
        Ok(self.t_group.encrypt_application(data, authenticated_data)?)
    }

    /// Processes a message: an APQMessagePair (FULL commit or proposals), a
    /// T-group message (PARTIAL commit, proposal, application data). A
    /// message is applied entirely or not at all: a failed check leaves
    /// both groups as they were.
    pub fn process(&mut self, msg: &MlsMessage) -> Result<ApqReceived, Error> {
        if !self.active {
            return Err(Error::Removed);
        }
        if msg.body.wire_format() == APQ_MESSAGE_PAIR {
            // Opened by the T group's `PairHandler` (size limits, version,
            // inner wire formats); the group is not changed by it.
            let Received::Envelope { envelope, .. } = self.t_group.process_message(msg)? else {
                return Err(Error::NotAPair(msg.body.wire_format()));
            };
            let mut inner = envelope.inner.into_iter();
            let (Some(t_message), Some(pq_message), None) = (inner.next(), inner.next(), inner.next()) else {
                return Err(Error::NotAPair(msg.body.wire_format()));
            };
            let pair = ApqMessagePair {
                wire_format: t_message.body.wire_format(),
                t_message,
                pq_message,
            };
            return self.process_pair(&pair);
        }
        match group_id_of(msg) {
            Some(g) if g == self.pq_group.context().group_id.as_slice() => return Err(Error::LonePqMessage),
            _ => {}
        }
        self.rules().check_t_only_message(msg)?;
        // An encrypted proposal is checked only once decrypted, which
        // consumes its key: the T group is restored if it is refused.
        let saved = match &msg.body {
            MlsMessageBody::PrivateMessage(m) if m.content_type == ContentType::PROPOSAL => Some(self.t_group.save()?),
            _ => None,
        };
        match self.t_group.process_message(msg)? {
            Received::Proposal(cached) => {
                if let Err(e) = self.rules().check_t_only_proposal(&cached.proposal) {
                    match saved {
                        Some(saved) => self.t_group = Group::load(self.t.cs.clone(), &saved, self.t.config.clone())?,
                        None => {
                            self.t_group.discard_pending_proposal(&cached.reference);
                        }
                    }
                    return Err(e);
                }
                Ok(ApqReceived::Proposal)
            }
            Received::Application {
                sender_credential, data, ..
            } => Ok(ApqReceived::Application {
                sender: sender_credential,
                data,
            }),
            Received::Commit(staged) => {
                self.rules()
                    .check_partial(staged.added(), staged.removed(), staged.tree(), staged.context())?;
                self.t_group.merge_staged_commit(staged)?;
                self.commits_since_full = self.commits_since_full.saturating_add(1);
                Ok(ApqReceived::Partial)
            }
            Received::Envelope { .. } => Err(Error::NotAPair(msg.body.wire_format())),
        }
    }

    fn process_pair(&mut self, pair: &ApqMessagePair) -> Result<ApqReceived, Error> {
        // Group ids and content types are in the clear in both
        // PublicMessage and PrivateMessage (RFC 9420 §6.2, §6.3).
        let (Some((t_group_id, t_type)), Some((pq_group_id, pq_type))) = (handshake_of(&pair.t_message), handshake_of(&pair.pq_message))
        else {
            return Err(Error::InnerWireFormat(pair.wire_format));
        };
        for (id, group) in [(t_group_id, &self.t_group), (pq_group_id, &self.pq_group)] {
            if id != group.context().group_id.as_slice() {
                return Err(Error::WrongGroup {
                    expected: group.context().group_id.as_slice().to_vec(),
                    got: id.to_vec(),
                });
            }
        }
        match (t_type, pq_type) {
            (ContentType::COMMIT, ContentType::COMMIT) => self.receive_full(pair),
            (ContentType::PROPOSAL, ContentType::PROPOSAL) => {
                // Both or neither: both proposals are opened (a
                // PrivateMessage shows its proposal only then), checked as
                // a FULL commit would check them, and kept only if all of
                // that passes; otherwise both groups go back to their
                // saved state, byte for byte.
                let (t_saved, pq_saved) = (self.t_group.save()?, self.pq_group.save()?);
                let opened = self.open_proposal_pair(pair);
                if opened.is_err() {
                    self.t_group = Group::load(self.t.cs.clone(), &t_saved, self.t.config.clone())?;
                    self.pq_group = Group::load(self.pq.cs.clone(), &pq_saved, self.pq.config.clone())?;
                }
                opened.map(|()| ApqReceived::Proposal)
            }
            (ContentType::APPLICATION, _) | (_, ContentType::APPLICATION) => Err(Error::ApplicationInPair),
            _ => Err(Error::MixedPair),
        }
    }

    /// Processes both proposals of a pair (caching them) and checks them.
    fn open_proposal_pair(&mut self, pair: &ApqMessagePair) -> Result<(), Error> {
        let Received::Proposal(pq) = self.pq_group.process_message(&pair.pq_message)? else {
            return Err(Error::MixedPair);
        };
        let Received::Proposal(t) = self.t_group.process_message(&pair.t_message)? else {
            return Err(Error::MixedPair);
        };
        self.rules().check_proposal_pair(&t, &pq)
    }

    /// §3.1 and the receiver checklist: PQ commit staged, `apq_psk` from
    /// its new epoch, the T commit must inject it, then staged; APQInfo and
    /// membership checked on both new epochs; both merged, or neither.
    fn receive_full(&mut self, pair: &ApqMessagePair) -> Result<ApqReceived, Error> {
        let Received::Commit(mut pq_staged) = self.pq_group.process_message(&pair.pq_message)? else {
            return Err(Error::MixedPair);
        };
        if pq_staged.reinit().is_some() {
            return Err(Error::UnsupportedInSession("ReInit"));
        }
        if pq_staged.removes_self() {
            // A removed member cannot compute the new epochs (RFC 9420
            // §12.4.2): it checks that the T commit removes it too, and
            // leaves the session.
            match self.t_group.process_message(&pair.t_message) {
                Ok(Received::Commit(t)) if t.removes_self() => {}
                _ => return Err(Error::MembershipDiffers),
            }
            self.pq_group.merge_staged_commit(pq_staged)?;
            self.active = false;
            return Ok(ApqReceived::Full { removed_self: true });
        }
        let pq_cs = self.pq.cs.clone();
        let exporter = self.pq.key.safe_export_secret_staged(pq_cs.as_ref(), &mut pq_staged)?;
        let (psk_id, psk) = self.t.psk_from(exporter)?;
        // A PublicMessage shows its proposals: refuse before the T group's
        // work. A PrivateMessage is checked once staged, below.
        if let MlsMessageBody::PublicMessage(m) = &pair.t_message.body
            && let FramedContentBody::Commit(c) = &m.content.body
            && !injects(c, &psk_id)
        {
            return Err(Error::MissingApqPsk);
        }
        let is_apq_psk = |id: &PreSharedKeyId| matches!(&id.psk, Psk::Application(a) if a.component_id == APQ_MLS_INFO && a.psk_id.as_slice() == psk_id.as_slice());
        self.t.component.lend_psk(psk_id.clone(), psk);
        let t = self.t_group.process_message(&pair.t_message);
        let _ = self.t.component.forget_psk();
        let Received::Commit(t_staged) = t? else {
            return Err(Error::MixedPair);
        };
        if !t_staged.psk_ids().iter().any(is_apq_psk) {
            return Err(Error::MissingApqPsk);
        }
        if t_staged.reinit().is_some() {
            return Err(Error::UnsupportedInSession("ReInit"));
        }
        Rules::same_committer((t_staged.sender(), t_staged.tree()), (pq_staged.sender(), pq_staged.tree()))?;
        self.rules().check_pair_state(t_staged.context(), pq_staged.context())?;
        same_members(t_staged.tree(), pq_staged.tree())?;
        let removed_self = t_staged.removes_self() || pq_staged.removes_self();
        // The committer: a member (by its T leaf before the commit), or an
        // external joiner (tracked as new below).
        let committer = match t_staged.sender() {
            mlsx_base::codec::Sender::Member(leaf) => self.t_group.tree().leaf(*leaf).and_then(|l| encode(&l.credential).ok()),
            _ => None,
        };
        self.pq_group.merge_staged_commit(pq_staged)?;
        self.t_group.merge_staged_commit(t_staged)?;
        self.after_full();
        self.track_members(committer);
        if removed_self {
            self.active = false;
        }
        Ok(ApqReceived::Full { removed_self })
    }

    /// The signed GroupInfos of both groups as an APQMessagePair, for
    /// external joiners (§3.2.2); both carry APQInfo.
    pub fn group_info(&self) -> Result<MlsMessage, Error> {
        let t = MlsMessage::new(MlsMessageBody::GroupInfo(self.t_group.group_info()?));
        let pq = MlsMessage::new(MlsMessageBody::GroupInfo(self.pq_group.group_info()?));
        make_pair(WireFormat::GROUP_INFO, t, pq)
    }

    /// Both groups' state and the session's counters as one blob, for
    /// storage: one write covers both groups, so a crash never leaves them
    /// at different FULL pairings. A pending commit is not saved: confirm
    /// or discard it first.
    pub fn save(&self) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
        if self.pending.is_some() {
            return Err(Error::PendingCommit);
        }
        let t = self.t_group.save()?;
        let pq = self.pq_group.save()?;
        let mut out = zeroize::Zeroizing::new(Vec::with_capacity(t.len() + pq.len() + 32));
        out.extend_from_slice(&SESSION_STATE_VERSION.to_be_bytes());
        for part in [&t[..], &pq[..]] {
            out.extend_from_slice(&u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.commits_since_full.to_be_bytes());
        out.extend_from_slice(&self.last_full.to_be_bytes());
        out.push(u8::from(self.joined_without_full));
        out.push(u8::from(self.active));
        out.extend_from_slice(&u32::try_from(self.last_full_by.len()).unwrap_or(u32::MAX).to_be_bytes());
        for (c, t) in &self.last_full_by {
            out.extend_from_slice(&u32::try_from(c.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(c);
            out.extend_from_slice(&t.to_be_bytes());
        }
        Ok(out)
    }

    /// Restores a session saved with [`Self::save`] under the same setup.
    /// Checks that both groups are at the same FULL pairing: equal APQInfo,
    /// the PQ group at its `pq_epoch`, the T group at or after its
    /// `t_epoch` (PARTIAL commits move it alone).
    pub fn load(setup: ApqSetup, bytes: &[u8]) -> Result<Self, Error> {
        setup.check()?;
        let corrupt = || Error::Base(mlsx_base::StateError::Corrupt.into());
        let mut r = bytes;
        let mut take = |n: usize| -> Result<&[u8], Error> {
            if r.len() < n {
                return Err(corrupt());
            }
            let (a, b) = r.split_at(n);
            r = b;
            Ok(a)
        };
        let version = u16::from_be_bytes(take(2)?.try_into().map_err(|_| corrupt())?);
        if version != SESSION_STATE_VERSION {
            return Err(Error::Base(
                mlsx_base::StateError::FormatVersion {
                    found: version,
                    expected: SESSION_STATE_VERSION,
                }
                .into(),
            ));
        }
        let mut part = || -> Result<Vec<u8>, Error> {
            let n = u64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
            Ok(take(usize::try_from(n).map_err(|_| corrupt())?)?.to_vec())
        };
        let (t_bytes, pq_bytes) = (zeroize::Zeroizing::new(part()?), zeroize::Zeroizing::new(part()?));
        let commits_since_full = u32::from_be_bytes(take(4)?.try_into().map_err(|_| corrupt())?);
        let last_full = u64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
        let flags = take(2)?;
        let (joined_without_full, active) = (flags.first() == Some(&1), flags.get(1) == Some(&1));
        let count = u32::from_be_bytes(take(4)?.try_into().map_err(|_| corrupt())?);
        let mut last_full_by = std::collections::BTreeMap::new();
        for _ in 0..count {
            let n = u32::from_be_bytes(take(4)?.try_into().map_err(|_| corrupt())?);
            let c = take(usize::try_from(n).map_err(|_| corrupt())?)?.to_vec();
            let t = u64::from_be_bytes(take(8)?.try_into().map_err(|_| corrupt())?);
            last_full_by.insert(c, t);
        }
        if !r.is_empty() {
            return Err(corrupt());
        }
        let t = Half::new(setup.t_cs.clone(), &setup.t_config, setup.private_handshake)?;
        let pq = Half::new(setup.pq_cs.clone(), &setup.pq_config, setup.private_handshake)?;
        let t_group = Group::load(t.cs.clone(), &t_bytes, t.config.clone())?;
        let pq_group = Group::load(pq.cs.clone(), &pq_bytes, pq.config.clone())?;
        let mut session = Self::assemble(setup, t, pq, t_group, pq_group);
        session.commits_since_full = commits_since_full;
        session.last_full = last_full;
        session.joined_without_full = joined_without_full;
        session.active = active;
        session.last_full_by = last_full_by;
        session.track_members(None);
        let t_info = session.t.info_of(session.t_group.context(), "T")?;
        let pq_info = session.pq.info_of(session.pq_group.context(), "PQ")?;
        if t_info != pq_info {
            return Err(Error::ApqInfoMismatch);
        }
        if t_info.pq_epoch != session.pq_group.epoch() || t_info.t_epoch > session.t_group.epoch() {
            return Err(Error::ApqInfoEpochs {
                t: t_info.t_epoch,
                pq: t_info.pq_epoch,
                t_new: session.t_group.epoch(),
                pq_new: session.pq_group.epoch(),
            });
        }
        Ok(session)
    }

    /// Both groups, mutable: for tests and tools that build messages no
    /// honest member sends. Changing a group through this desynchronizes
    /// the session. Never use it otherwise.
    #[doc(hidden)]
    pub fn raw_groups_mut(&mut self) -> (&mut Group, &mut Group) {
        (&mut self.t_group, &mut self.pq_group)
    }

    /// The leaf of a member in the T group.
    pub fn t_leaf_of(&self, credential: &Credential) -> Option<LeafIndex> {
        self.t_group.member_by_credential(credential)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use mlsx_base::codec::CipherSuite;
    use mlsx_base::crypto::CryptoProvider;
    use mlsx_base::crypto::rustcrypto::RustCryptoProvider;

    use super::*;

    /// §5.2: `Half::psk_from`, the code the sessions run, gives the
    /// `apq_psk_id` and `apq_psk` of the key-schedule vectors (T KDF over
    /// `apq_exporter`) for every suite pair there.
    #[test]
    fn psk_from_matches_the_key_schedule_vectors() {
        let text = include_str!("../../test-vectors/combiner/key-schedule.json");
        let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        assert!(cases.len() >= 20);
        let hex_of = |c: &serde_json::Value, k: &str| hex::decode(c[k].as_str().unwrap()).unwrap();
        for c in &cases {
            let t_suite = CipherSuite(u16::try_from(c["t_cipher_suite"].as_u64().unwrap()).unwrap());
            let t_cs = RustCryptoProvider::new().cipher_suite_provider(t_suite).unwrap();
            let half = Half::new(t_cs, &GroupConfig::default(), false).unwrap();
            let (id, psk) = half.psk_from(Secret::new(hex_of(c, "apq_exporter"))).unwrap();
            assert_eq!(id, hex_of(c, "apq_psk_id"), "suite {t_suite:?}");
            assert_eq!(psk.as_bytes(), hex_of(c, "apq_psk").as_slice(), "suite {t_suite:?}");
        }
    }
}
