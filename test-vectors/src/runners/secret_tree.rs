//! `secret-tree.json`: sender-data keys and the hash ratchets (RFC 9420 §6.3.2, §9).

use mlsx_base::crypto::{CipherSuiteProvider, Secret};
use mlsx_base::schedule::secret_tree::sender_data_key_nonce;
use mlsx_base::schedule::{RatchetType, SecretTree, SecretTreeConfig};
use serde::{Deserialize, Serialize};

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize, Serialize)]
struct SenderData {
    sender_data_secret: Hex,
    ciphertext: Hex,
    key: Hex,
    nonce: Hex,
}

#[derive(Deserialize, Serialize)]
struct Generation {
    generation: u32,
    handshake_key: Hex,
    handshake_nonce: Hex,
    application_key: Hex,
    application_nonce: Hex,
}

#[derive(Deserialize, Serialize)]
struct Case {
    cipher_suite: u16,
    sender_data: SenderData,
    encryption_secret: Hex,
    leaves: Vec<Vec<Generation>>,
}

pub(crate) fn run(json: &str, provider: &dyn mlsx_base::crypto::CryptoProvider, report: &mut Report) -> Result<(), serde_json::Error> {
    super::run_per_suite(
        json,
        provider,
        report,
        |c: &Case| c.cipher_suite,
        |cs, c| check_case(cs.as_ref(), c),
    )
}

fn check_case(cs: &dyn CipherSuiteProvider, c: &Case) -> Result<(), String> {
    let sd = &c.sender_data;
    let (key, nonce) = sender_data_key_nonce(cs, &sd.sender_data_secret, &sd.ciphertext).map_err(ctx("sender data"))?;
    check("sender_data key", key.as_bytes(), &sd.key)?;
    check("sender_data nonce", nonce.as_bytes(), &sd.nonce)?;

    let n_leaves = u32::try_from(c.leaves.len()).map_err(|_| "too many leaves".to_string())?;
    // Generations in the vectors jump far ahead: allow any distance.
    let config = SecretTreeConfig {
        out_of_order_tolerance: 0,
        max_forward_distance: u32::MAX,
    };
    let mut tree = SecretTree::new(Secret::from_slice(&c.encryption_secret), n_leaves, config).map_err(ctx("secret tree"))?;
    for (leaf, gens) in (0u32..).zip(&c.leaves) {
        for g in gens {
            for (t, want_key, want_nonce) in [
                (RatchetType::Handshake, &g.handshake_key, &g.handshake_nonce),
                (RatchetType::Application, &g.application_key, &g.application_nonce),
            ] {
                let k = tree.key_for(cs, leaf, t, g.generation).map_err(ctx("ratchet"))?;
                check(&format!("leaf {leaf} {t:?} key at {}", g.generation), k.key.as_bytes(), want_key)?;
                check(
                    &format!("leaf {leaf} {t:?} nonce at {}", g.generation),
                    k.nonce.as_bytes(),
                    want_nonce,
                )?;
            }
        }
    }
    Ok(())
}

/// New cases for `cs` with 1, 8 and 32 leaves, as the official file has.
pub(crate) fn generate(cs: &dyn CipherSuiteProvider, rng: &mut super::generate::Inputs) -> Result<Vec<serde_json::Value>, String> {
    let nh = cs.hash_len();
    let mut out = Vec::new();
    for n_leaves in [1u32, 8, 32] {
        let (sender_data_secret, ciphertext) = (rng.bytes(nh), rng.bytes(77));
        let (key, nonce) = sender_data_key_nonce(cs, &sender_data_secret, &ciphertext).map_err(ctx("sender data"))?;
        let sender_data = SenderData {
            sender_data_secret: sender_data_secret.into(),
            ciphertext: ciphertext.into(),
            key: key.as_bytes().into(),
            nonce: nonce.as_bytes().into(),
        };
        let encryption_secret = rng.bytes(nh);
        let config = SecretTreeConfig {
            out_of_order_tolerance: 0,
            max_forward_distance: u32::MAX,
        };
        let mut tree = SecretTree::new(Secret::from_slice(&encryption_secret), n_leaves, config).map_err(ctx("secret tree"))?;
        let mut leaves = Vec::new();
        for leaf in 0..n_leaves {
            let mut gens = Vec::new();
            for generation in [0u32, 1, 15, 32] {
                let h = tree.key_for(cs, leaf, RatchetType::Handshake, generation).map_err(ctx("ratchet"))?;
                let a = tree
                    .key_for(cs, leaf, RatchetType::Application, generation)
                    .map_err(ctx("ratchet"))?;
                gens.push(Generation {
                    generation,
                    handshake_key: h.key.as_bytes().into(),
                    handshake_nonce: h.nonce.as_bytes().into(),
                    application_key: a.key.as_bytes().into(),
                    application_nonce: a.nonce.as_bytes().into(),
                });
            }
            leaves.push(gens);
        }
        out.push(
            serde_json::to_value(Case {
                cipher_suite: cs.cipher_suite().value(),
                sender_data,
                encryption_secret: encryption_secret.into(),
                leaves,
            })
            .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}
