//! Writes seed corpora for the fuzz targets into `fuzz/corpus/<target>/`:
//! every field of the official and mlsx-generated `messages.json` files
//! that matches a target, and the valid messages of the stateful scenario.
//!
//! Usage: `cargo run --bin seed -- <corpus dir> <vector dir>...`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// `messages.json` field → fuzz targets it seeds.
const FIELDS: &[(&str, &[&str])] = &[
    ("mls_welcome", &["mls_message", "welcome"]),
    ("mls_group_info", &["mls_message", "group_info"]),
    ("mls_key_package", &["mls_message", "key_package"]),
    ("ratchet_tree", &["ratchet_tree"]),
    ("group_secrets", &["group_secrets"]),
    ("add_proposal", &["proposal_add"]),
    ("update_proposal", &["proposal_update", "leaf_node"]),
    ("remove_proposal", &["proposal_remove"]),
    ("pre_shared_key_proposal", &["proposal_psk"]),
    ("re_init_proposal", &["proposal_reinit"]),
    ("external_init_proposal", &["proposal_external_init"]),
    ("group_context_extensions_proposal", &["proposal_gce", "extensions"]),
    ("commit", &["commit"]),
    ("public_message_application", &["mls_message", "public_message"]),
    ("public_message_proposal", &["mls_message", "public_message"]),
    ("public_message_commit", &["mls_message", "public_message"]),
    ("private_message", &["mls_message", "private_message"]),
];

fn write(corpus: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().unwrap_or_else(|| "corpus".into()));
    let mut n = 0;
    for dir in args {
        for file in ["messages.json", "rfc9420/messages.json"] {
            let path = Path::new(&dir).join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let cases: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(&text).expect("messages.json");
            for (i, case) in cases.iter().enumerate() {
                for (field, targets) in FIELDS {
                    let Some(bytes) = case.get(*field).and_then(|v| v.as_str()).and_then(|h| hex::decode(h).ok()) else {
                        continue;
                    };
                    for t in *targets {
                        write(
                            &corpus,
                            t,
                            &format!("{}-{i}-{field}", path.display().to_string().replace('/', "_")),
                            &bytes,
                        );
                        n += 1;
                    }
                }
            }
        }
    }
    // The stateful scenario's valid messages, as raw (even first byte) and
    // as mutation bases (odd first byte, then the message index).
    let pq = mlsx_pq_suites::PqProvider::default();
    let tbd9 = pq
        .code_point(mlsx_pq_suites::PqSuite::Tbd9)
        .and_then(|c| mlsx_base::crypto::CryptoProvider::cipher_suite_provider(&pq, c))
        .expect("TBD9");
    let pq_scenario = mlsx_fuzz::harness::Scenario::build(tbd9);
    for (target, scenario) in [("stateful", mlsx_fuzz::harness::Scenario::get()), ("stateful_pq", &pq_scenario)] {
        for (i, m) in scenario.encoded_messages().iter().enumerate() {
            let mut raw = vec![0u8];
            raw.extend_from_slice(m);
            write(&corpus, target, &format!("raw-{i}"), &raw);
            write(&corpus, target, &format!("mutate-{i}"), &[1, i as u8]);
            write(&corpus, "mls_message", &format!("{target}-{i}"), m);
            n += 3;
        }
    }
    // Saved states, raw (even first byte) and as edit bases (odd, then the
    // member: Alice, Bob, Carol).
    for (i, state) in mlsx_fuzz::harness::Scenario::get().saved_states().iter().enumerate() {
        let mut raw = vec![0u8];
        raw.extend_from_slice(state);
        write(&corpus, "group_state", &format!("raw-{i}"), &raw);
        write(&corpus, "group_state", &format!("edit-{i}"), &[1, i as u8]);
        n += 2;
    }
    println!("wrote {n} seed files under {}", corpus.display());
}
