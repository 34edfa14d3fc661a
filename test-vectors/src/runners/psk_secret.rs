//! `psk_secret.json`: PSK chaining (RFC 9420 §8.4).

use mlsx_base::codec::{ExternalPsk, PreSharedKeyId, Psk, VLBytes};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::schedule::psk_secret;
use serde::Deserialize;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct PskEntry {
    psk_id: Hex,
    psk: Hex,
    psk_nonce: Hex,
}

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    psks: Vec<PskEntry>,
    psk_secret: Hex,
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
    let ids: Vec<PreSharedKeyId> = c
        .psks
        .iter()
        .map(|p| PreSharedKeyId {
            psk: Psk::External(ExternalPsk {
                psk_id: VLBytes::new(p.psk_id.0.clone()),
            }),
            psk_nonce: VLBytes::new(p.psk_nonce.0.clone()),
        })
        .collect();
    let input: Vec<(&PreSharedKeyId, &[u8])> = ids.iter().zip(&c.psks).map(|(id, p)| (id, p.psk.0.as_slice())).collect();
    let secret = psk_secret(cs, &input).map_err(ctx("psk_secret"))?;
    let zeros = vec![0u8; cs.hash_len()];
    check("psk_secret", secret.as_ref().map_or(&zeros[..], |s| s.as_bytes()), &c.psk_secret)
}
