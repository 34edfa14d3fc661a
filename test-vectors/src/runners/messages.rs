//! `messages.json`: every wire struct decodes and re-encodes byte-exact.

use mlsx_base::codec::{
    Add, Commit, ExternalInit, GroupContextExtensions, GroupSecrets, MlsMessage, PreSharedKeyProposal, RatchetTreeNodes, ReInit, Remove,
    Update, WireFormat,
};
use serde::Deserialize;
use tls_codec::{DeserializeBytes, Serialize};

use crate::{Hex, Report};

#[derive(Deserialize)]
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

fn round_trip<T: DeserializeBytes + Serialize>(name: &str, bytes: &[u8]) -> Result<T, String> {
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
