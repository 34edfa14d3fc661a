//! `transcript-hashes.json`: confirmation tag and transcript hashes (RFC 9420 §8.1, §8.2).

use mlsx_base::codec::{AuthenticatedContent, ContentType};
use mlsx_base::crypto::CipherSuiteProvider;
use mlsx_base::schedule::{confirmed_transcript_hash, interim_transcript_hash, verify_confirmation_tag};
use serde::Deserialize;
use tls_codec::DeserializeBytes;

use super::{check, ctx};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    confirmation_key: Hex,
    authenticated_content: Hex,
    interim_transcript_hash_before: Hex,
    confirmed_transcript_hash_after: Hex,
    interim_transcript_hash_after: Hex,
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
    let ac = AuthenticatedContent::tls_deserialize_exact_bytes(&c.authenticated_content).map_err(|e| format!("decode: {e:?}"))?;
    if ac.content.content_type() != ContentType::COMMIT {
        return Err("authenticated_content is not a commit".into());
    }
    let tag = ac.auth.confirmation_tag.as_ref().ok_or("commit without confirmation tag")?;
    let confirmed = confirmed_transcript_hash(cs, &c.interim_transcript_hash_before, &ac).map_err(ctx("confirmed"))?;
    check("confirmed_transcript_hash_after", &confirmed, &c.confirmed_transcript_hash_after)?;
    verify_confirmation_tag(cs, &c.confirmation_key, &confirmed, tag.as_slice()).map_err(ctx("confirmation tag"))?;
    let interim = interim_transcript_hash(cs, &confirmed, tag.as_slice()).map_err(ctx("interim"))?;
    check("interim_transcript_hash_after", &interim, &c.interim_transcript_hash_after)
}
