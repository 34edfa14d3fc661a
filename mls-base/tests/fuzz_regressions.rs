//! The fuzz harness (`fuzz/src/harness.rs`) run as ordinary tests: every
//! input kept in `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! fixed since), and a deterministic sweep of single-byte edits over every
//! valid message of the stateful scenario, so that the transactional and
//! agreement properties are checked in every CI run, not only when fuzzing.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/src/harness.rs"]
mod harness;

use std::path::Path;

use mlsx_base::codec::*;

fn run_target(target: &str, data: &[u8]) {
    use harness::round_trip as rt;
    match target {
        "mls_message" => rt::<MlsMessage>(data),
        "public_message" => rt::<PublicMessage>(data),
        "private_message" => rt::<PrivateMessage>(data),
        "welcome" => rt::<Welcome>(data),
        "group_info" => rt::<GroupInfo>(data),
        "key_package" => rt::<KeyPackage>(data),
        "leaf_node" => rt::<LeafNode>(data),
        "group_secrets" => rt::<GroupSecrets>(data),
        "group_context" => rt::<GroupContext>(data),
        "commit" => rt::<Commit>(data),
        "update_path" => rt::<UpdatePath>(data),
        "proposal" => rt::<Proposal>(data),
        "proposal_add" => rt::<Add>(data),
        "proposal_update" => rt::<Update>(data),
        "proposal_remove" => rt::<Remove>(data),
        "proposal_psk" => rt::<PreSharedKeyProposal>(data),
        "proposal_reinit" => rt::<ReInit>(data),
        "proposal_external_init" => rt::<ExternalInit>(data),
        "proposal_gce" => rt::<GroupContextExtensions>(data),
        "sender_data" => rt::<SenderData>(data),
        "extensions" => rt::<Vec<Extension>>(data),
        "capabilities" => rt::<Capabilities>(data),
        "required_capabilities" => rt::<RequiredCapabilities>(data),
        "external_senders" => rt::<Vec<ExternalSender>>(data),
        "external_pub" => rt::<ExternalPub>(data),
        "credential" => rt::<Credential>(data),
        "ratchet_tree" => harness::ratchet_tree(data),
        "private_content" => harness::private_content(data),
        "stateful" => harness::stateful(data),
        "group_state" => {
            harness::group_state(data);
        }
        // Replayed by pq-suites/tests/fuzz_regressions.rs (needs the PQ suites).
        "stateful_pq" => {}
        // Replayed by app-api/tests/fuzz_all.rs (need the layers above).
        "apq_pair" | "extensions_decoders" | "stateful_hybrid" | "ds_handlers" => {}
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

#[test]
fn kept_fuzz_inputs_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().to_string();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            println!("{}", file.display());
            run_target(&target, &std::fs::read(&file).unwrap());
            n += 1;
        }
    }
    println!("{n} kept inputs");
}

/// Every valid message of the scenario with one byte changed at many
/// positions (all of them in short messages, an even spread in long ones):
/// each must be rejected with Bob's state untouched, or accepted with the
/// members in agreement (`Scenario::feed`).
#[test]
fn single_byte_edits_of_valid_messages() {
    use harness::Outcome;

    let s = harness::Scenario::get();
    for (i, msg) in s.encoded_messages().iter().enumerate() {
        let kind = s.messages[i].body.wire_format();
        if kind != WireFormat::KEY_PACKAGE {
            assert_eq!(s.feed(msg), Outcome::Accepted, "valid message {i} ({kind:?}) was not accepted");
        }
        let step = (msg.len() / 200).max(1);
        let (mut rejected, mut accepted) = (0, 0);
        for pos in (0..msg.len()).step_by(step) {
            let mut bytes = msg.clone();
            for flip in [0x01, 0x80] {
                bytes[pos] ^= flip;
                match s.feed(&bytes) {
                    Outcome::Accepted => accepted += 1,
                    Outcome::Rejected | Outcome::Undecodable => rejected += 1,
                }
                bytes[pos] ^= flip;
            }
        }
        println!(
            "message {i} ({kind:?}): {} bytes, edits every {step}: {rejected} rejected, {accepted} accepted",
            msg.len()
        );
        // Every byte of these messages is covered by a signature, a MAC, an
        // AEAD or a decoding rule (the MLSMessage version included).
        assert_eq!(accepted, 0, "message {i}: an edited message was accepted");
    }
}

/// Bob's saved state with one byte changed at an even spread of positions:
/// loading must not panic, and a state that loads must save, reload to the
/// same bytes and be usable (`harness::group_state`).
#[test]
fn single_byte_edits_of_saved_state() {
    let s = harness::Scenario::get();
    let state = s.saved_states()[1];
    let step = (state.len() / 120).max(1);
    let (mut loaded, mut refused) = (0, 0);
    for pos in (0..state.len()).step_by(step) {
        for flip in [0x01, 0x80] {
            let mut raw = vec![0u8];
            raw.extend_from_slice(state);
            raw[1 + pos] ^= flip;
            if harness::group_state(&raw) {
                loaded += 1;
            } else {
                refused += 1;
            }
        }
    }
    println!(
        "{} bytes, edits every {step}: {loaded} loaded and were used, {refused} refused",
        state.len()
    );
    // Secrets and keys are opaque bytes: many edits load (and are then
    // exercised); lengths and encodings are checked: many do not.
    assert!(loaded > 0 && refused > 0, "{loaded} loaded, {refused} refused");
    // And the state itself, unedited.
    let mut raw = vec![0u8];
    raw.extend_from_slice(state);
    assert!(harness::group_state(&raw));
}
