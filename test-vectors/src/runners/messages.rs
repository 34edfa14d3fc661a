//! `messages.json`: every wire struct decodes and re-encodes byte-exact.

use mlsx_base::codec::{
    Add, Commit, ExternalInit, GroupContextExtensions, GroupSecrets, MlsMessage, PreSharedKeyProposal, RatchetTreeNodes, ReInit, Remove,
    Update, WireFormat,
};
use serde::{Deserialize, Serialize};
use tls_codec::DeserializeBytes;

use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct Case {
    mls_welcome: Hex,
    mls_group_info: Hex,
    mls_key_package: Hex,
    ratchet_tree: Hex,
    group_secrets: Hex,
    add_proposal: Hex,
    update_proposal: Hex,
    remove_proposal: Hex,
    pre_shared_key_proposal: Hex,
    re_init_proposal: Hex,
    external_init_proposal: Hex,
    group_context_extensions_proposal: Hex,
    commit: Hex,
    public_message_application: Hex,
    public_message_proposal: Hex,
    public_message_commit: Hex,
    private_message: Hex,
}

fn round_trip<T: DeserializeBytes + tls_codec::Serialize>(name: &str, bytes: &[u8]) -> Result<T, String> {
    let v = T::tls_deserialize_exact_bytes(bytes).map_err(|e| format!("{name}: decode: {e:?}"))?;
    let again = v.tls_serialize_detached().map_err(|e| format!("{name}: encode: {e:?}"))?;
    if again != bytes {
        return Err(format!("{name}: re-encoding differs"));
    }
    Ok(v)
}

fn message(name: &str, bytes: &[u8], want: WireFormat) -> Result<(), String> {
    let m: MlsMessage = round_trip(name, bytes)?;
    if m.body.wire_format() != want {
        return Err(format!("{name}: wire format {:?}", m.body.wire_format()));
    }
    Ok(())
}

fn check(c: &Case) -> Result<(), String> {
    message("mls_welcome", &c.mls_welcome, WireFormat::WELCOME)?;
    message("mls_group_info", &c.mls_group_info, WireFormat::GROUP_INFO)?;
    message("mls_key_package", &c.mls_key_package, WireFormat::KEY_PACKAGE)?;
    message(
        "public_message_application",
        &c.public_message_application,
        WireFormat::PUBLIC_MESSAGE,
    )?;
    message("public_message_proposal", &c.public_message_proposal, WireFormat::PUBLIC_MESSAGE)?;
    message("public_message_commit", &c.public_message_commit, WireFormat::PUBLIC_MESSAGE)?;
    message("private_message", &c.private_message, WireFormat::PRIVATE_MESSAGE)?;
    round_trip::<RatchetTreeNodes>("ratchet_tree", &c.ratchet_tree)?;
    round_trip::<GroupSecrets>("group_secrets", &c.group_secrets)?;
    round_trip::<Add>("add_proposal", &c.add_proposal)?;
    round_trip::<Update>("update_proposal", &c.update_proposal)?;
    round_trip::<Remove>("remove_proposal", &c.remove_proposal)?;
    round_trip::<PreSharedKeyProposal>("pre_shared_key_proposal", &c.pre_shared_key_proposal)?;
    round_trip::<ReInit>("re_init_proposal", &c.re_init_proposal)?;
    round_trip::<ExternalInit>("external_init_proposal", &c.external_init_proposal)?;
    round_trip::<GroupContextExtensions>("group_context_extensions_proposal", &c.group_context_extensions_proposal)?;
    round_trip::<Commit>("commit", &c.commit)?;
    Ok(())
}

pub(crate) fn run(json: &str, report: &mut Report) -> Result<(), serde_json::Error> {
    let cases: Vec<Case> = serde_json::from_str(json)?;
    for (i, c) in cases.iter().enumerate() {
        report.record(i, check(c));
    }
    Ok(())
}

/// A `messages.json` case for one suite (the generator behind
/// `mlsx vectors generate`): every message and struct comes from a real
/// two-member group in that suite, with handshake messages sent as
/// PublicMessages, plus a third client's external commit (for the
/// ExternalInit proposal). The application PublicMessage, which RFC 9420 §6
/// forbids sending, is built by hand from the group's real signing key and
/// membership key so that it is well-formed to the byte.
pub(crate) fn generate(
    cs: &std::sync::Arc<dyn mlsx_base::crypto::CipherSuiteProvider>,
    rng: &mut super::generate::Inputs,
) -> Result<serde_json::Value, String> {
    use mlsx_base::codec::{
        Extension, ExtensionType, FramedContent, FramedContentAuthData, FramedContentBody, MlsMessageBody, PreSharedKeyId, Proposal,
        ProposalOrRef, ProtocolVersion, Psk, RequiredCapabilities, Sender, encode,
    };
    use mlsx_base::crypto::LabeledCrypto;
    use mlsx_base::crypto::labeled::KEY_PACKAGE_REF_LABEL;
    use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity};

    use super::ctx;

    let c = cs.as_ref();
    let config = GroupConfig {
        encrypt_handshake: false,
        ..GroupConfig::default()
    };
    let group_id = rng.bytes(16);
    let alice = Identity::basic(c, b"alice").map_err(ctx("identity"))?;
    let alice_signer = alice.signer.duplicate();
    let mut alice_group = Group::create(cs.clone(), alice, group_id.clone(), config.clone()).map_err(ctx("create"))?;
    let bob = Identity::basic(c, b"bob")
        .and_then(|id| id.key_package(c))
        .map_err(ctx("key package"))?;
    let kp_message = MlsMessage {
        version: ProtocolVersion::MLS10,
        body: MlsMessageBody::KeyPackage(bob.key_package.clone()),
    };
    let out = alice_group
        .commit(CommitOptions::add(vec![bob.key_package.clone()]))
        .map_err(ctx("commit"))?;
    alice_group.merge_pending_commit().map_err(ctx("merge"))?;
    let welcome = out.welcome.ok_or("no Welcome")?;
    let commit_message = out.commit;
    let MlsMessageBody::PublicMessage(pm) = &commit_message.body else {
        return Err("the commit is not a PublicMessage".into());
    };
    let FramedContentBody::Commit(commit) = &pm.content.body else {
        return Err("the commit message holds no Commit".into());
    };

    // The GroupSecrets Bob's entry of the Welcome carries (RFC 9420 §12.4.3.1).
    let MlsMessageBody::Welcome(w) = &welcome.body else {
        return Err("the Welcome is not a Welcome".into());
    };
    let kp_ref = c
        .ref_hash(KEY_PACKAGE_REF_LABEL, &encode(&bob.key_package).map_err(ctx("encode"))?)
        .map_err(ctx("ref"))?;
    let entry = w
        .secrets
        .iter()
        .find(|s| s.new_member.as_slice() == kp_ref)
        .ok_or("no entry for Bob")?;
    let group_secrets = c
        .decrypt_with_label(
            &bob.init_key,
            mlsx_base::group::WELCOME_LABEL,
            w.encrypted_group_info.as_slice(),
            &entry.encrypted_group_secrets,
        )
        .map_err(ctx("group secrets"))?;

    let mut bob_group = Group::join(cs.clone(), &welcome, bob.duplicate(), None, config.clone()).map_err(ctx("join"))?;
    let update_message = bob_group.propose_update().map_err(ctx("update"))?;
    let MlsMessageBody::PublicMessage(upm) = &update_message.body else {
        return Err("the Update is not a PublicMessage".into());
    };
    let FramedContentBody::Proposal(Proposal::Update(update)) = &upm.content.body else {
        return Err("the Update message holds no Update".into());
    };

    let group_info = alice_group.group_info().map_err(ctx("group info"))?;
    let carol = Identity::basic(c, b"carol").map_err(ctx("identity"))?;
    let (_, external_commit) = Group::join_external(cs.clone(), &group_info, None, carol, None, config).map_err(ctx("external commit"))?;
    let external_init = match &external_commit.body {
        MlsMessageBody::PublicMessage(m) => match &m.content.body {
            FramedContentBody::Commit(ec) => ec.proposals.iter().find_map(|p| match p {
                ProposalOrRef::Proposal(Proposal::ExternalInit(e)) => Some(e.clone()),
                _ => None,
            }),
            _ => None,
        },
        _ => None,
    }
    .ok_or("the external commit has no ExternalInit")?;

    let dave = Identity::basic(c, b"dave")
        .and_then(|id| id.key_package(c))
        .map_err(ctx("key package"))?;
    let nh = c.hash_len();
    let psk = PreSharedKeyProposal {
        psk: PreSharedKeyId {
            psk: Psk::External(mlsx_base::codec::ExternalPsk {
                psk_id: rng.bytes(16).into(),
            }),
            psk_nonce: rng.bytes(nh).into(),
        },
    };
    let reinit = ReInit {
        group_id: rng.bytes(16).into(),
        version: ProtocolVersion::MLS10,
        cipher_suite: c.cipher_suite(),
        extensions: vec![],
    };
    let required = RequiredCapabilities {
        extension_types: vec![],
        proposal_types: vec![],
        credential_types: vec![mlsx_base::codec::CredentialType::BASIC],
    };
    let gce = GroupContextExtensions {
        extensions: vec![Extension {
            extension_type: ExtensionType::REQUIRED_CAPABILITIES,
            extension_data: encode(&required).map_err(ctx("encode"))?.into(),
        }],
    };

    // An application message as a PublicMessage: signed and tagged like a
    // real one (§6.1, §6.2), which the engine itself never sends.
    let context = alice_group.context().clone();
    let content = FramedContent {
        group_id: group_id.clone().into(),
        epoch: context.epoch,
        sender: Sender::Member(alice_group.own_leaf()),
        authenticated_data: rng.bytes(8).into(),
        body: FramedContentBody::Application(b"public application data".to_vec().into()),
    };
    let signature =
        mlsx_base::framing::sign_content(c, &alice_signer, WireFormat::PUBLIC_MESSAGE, &content, &context).map_err(ctx("sign"))?;
    let public_app = mlsx_base::framing::seal_public(
        c,
        content,
        FramedContentAuthData {
            signature: signature.into(),
            confirmation_tag: None,
        },
        &context,
        Some(alice_group.membership_key().as_bytes()),
    )
    .map_err(ctx("seal"))?;
    let public_app = MlsMessage {
        version: ProtocolVersion::MLS10,
        body: MlsMessageBody::PublicMessage(public_app),
    };
    let private_message = alice_group
        .encrypt_application(b"private application data", b"")
        .map_err(ctx("encrypt"))?;
    let group_info_message = MlsMessage {
        version: ProtocolVersion::MLS10,
        body: MlsMessageBody::GroupInfo(group_info),
    };

    let e = |what: &'static str| ctx(what);
    let case = Case {
        mls_welcome: encode(&welcome).map_err(e("welcome"))?.into(),
        mls_group_info: encode(&group_info_message).map_err(e("group info"))?.into(),
        mls_key_package: encode(&kp_message).map_err(e("key package"))?.into(),
        ratchet_tree: encode(&alice_group.tree().to_nodes()).map_err(e("tree"))?.into(),
        group_secrets: group_secrets.as_bytes().to_vec().into(),
        add_proposal: encode(&Add::new(dave.key_package.clone())).map_err(e("add"))?.into(),
        update_proposal: encode(update).map_err(e("update"))?.into(),
        remove_proposal: encode(&Remove {
            removed: bob_group.own_leaf(),
        })
        .map_err(e("remove"))?
        .into(),
        pre_shared_key_proposal: encode(&psk).map_err(e("psk"))?.into(),
        re_init_proposal: encode(&reinit).map_err(e("reinit"))?.into(),
        external_init_proposal: encode(&external_init).map_err(e("external init"))?.into(),
        group_context_extensions_proposal: encode(&gce).map_err(e("gce"))?.into(),
        commit: encode(commit).map_err(e("commit"))?.into(),
        public_message_application: encode(&public_app).map_err(e("public application"))?.into(),
        public_message_proposal: encode(&update_message).map_err(e("public proposal"))?.into(),
        public_message_commit: encode(&commit_message).map_err(e("public commit"))?.into(),
        private_message: encode(&private_message).map_err(e("private message"))?.into(),
    };
    serde_json::to_value(&case).map_err(|e| e.to_string())
}
