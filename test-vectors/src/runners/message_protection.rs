//! `message-protection.json`: PublicMessage and PrivateMessage protection (RFC 9420 §6).

use mlsx_base::codec::{
    CipherSuite, Commit, FramedContent, FramedContentBody, GroupContext, Mac, MlsMessage, MlsMessageBody, Proposal, ProtocolVersion,
    Sender, VLBytes,
};
use mlsx_base::crypto::{CipherSuiteProvider, Secret, SignaturePrivateKey};
use mlsx_base::framing::{protect_private, protect_public, unprotect_private, verify_public};
use mlsx_base::schedule::{SecretTree, SecretTreeConfig};
use mlsx_base::tree::math::LeafIndex;
use serde::Deserialize;

use super::{ctx, decode};
use crate::{Hex, Report};

#[derive(Deserialize)]
struct Case {
    cipher_suite: u16,
    group_id: Hex,
    epoch: u64,
    tree_hash: Hex,
    confirmed_transcript_hash: Hex,
    signature_priv: Hex,
    signature_pub: Hex,
    encryption_secret: Hex,
    sender_data_secret: Hex,
    membership_key: Hex,
    proposal: Hex,
    proposal_pub: Hex,
    proposal_priv: Hex,
    commit: Hex,
    commit_pub: Hex,
    commit_priv: Hex,
    application: Hex,
    application_priv: Hex,
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
    let context = GroupContext {
        version: ProtocolVersion::MLS10,
        cipher_suite: CipherSuite(c.cipher_suite),
        group_id: VLBytes::new(c.group_id.0.clone()),
        epoch: c.epoch,
        tree_hash: VLBytes::new(c.tree_hash.0.clone()),
        confirmed_transcript_hash: VLBytes::new(c.confirmed_transcript_hash.0.clone()),
        extensions: vec![],
    };
    let proposal = FramedContentBody::Proposal(decode::<Proposal>("proposal", &c.proposal)?);
    let commit = FramedContentBody::Commit(decode::<Commit>("commit", &c.commit)?);
    let application = FramedContentBody::Application(VLBytes::new(c.application.0.clone()));
    let case = Checker { cs, c, context: &context };
    case.public("proposal", &c.proposal_pub, &proposal)?;
    case.public("commit", &c.commit_pub, &commit)?;
    case.private("proposal", &c.proposal_priv, &proposal)?;
    case.private("commit", &c.commit_priv, &commit)?;
    case.private("application", &c.application_priv, &application)?;
    // Application data MUST NOT travel in a PublicMessage (RFC 9420 §6).
    if protect_public(cs, &case.sk(), case.content(application), None, &context, Some(&c.membership_key)).is_ok() {
        return Err("application data was protected as a PublicMessage".into());
    }
    Ok(())
}

struct Checker<'a> {
    cs: &'a dyn CipherSuiteProvider,
    c: &'a Case,
    context: &'a GroupContext,
}

impl Checker<'_> {
    fn sk(&self) -> SignaturePrivateKey {
        SignaturePrivateKey::from_slice(&self.c.signature_priv)
    }

    fn content(&self, body: FramedContentBody) -> FramedContent {
        FramedContent {
            group_id: VLBytes::new(self.c.group_id.0.clone()),
            epoch: self.c.epoch,
            sender: Sender::Member(LeafIndex(1)),
            authenticated_data: VLBytes::default(),
            body,
        }
    }

    fn tag(&self, body: &FramedContentBody) -> Option<Mac> {
        matches!(body, FramedContentBody::Commit(_)).then(|| vec![0x5a; self.cs.hash_len()].into())
    }

    fn tree(&self) -> Result<SecretTree, String> {
        SecretTree::new(Secret::from_slice(&self.c.encryption_secret), 2, SecretTreeConfig::default()).map_err(ctx("secret tree"))
    }

    fn public(&self, what: &str, msg: &[u8], want: &FramedContentBody) -> Result<(), String> {
        let MlsMessageBody::PublicMessage(m) = decode::<MlsMessage>(what, msg)?.body else {
            return Err(format!("{what}_pub is not a PublicMessage"));
        };
        let ac =
            verify_public(self.cs, &m, self.context, Some(&self.c.membership_key), &self.c.signature_pub).map_err(ctx("verify given"))?;
        if &ac.content.body != want {
            return Err(format!("{what}_pub content differs"));
        }
        let ours = protect_public(
            self.cs,
            &self.sk(),
            self.content(want.clone()),
            self.tag(want),
            self.context,
            Some(&self.c.membership_key),
        )
        .map_err(ctx("protect_public"))?;
        let ac =
            verify_public(self.cs, &ours, self.context, Some(&self.c.membership_key), &self.c.signature_pub).map_err(ctx("verify own"))?;
        if &ac.content.body != want {
            return Err(format!("{what}: own PublicMessage content differs"));
        }
        Ok(())
    }

    fn private(&self, what: &str, msg: &[u8], want: &FramedContentBody) -> Result<(), String> {
        let MlsMessageBody::PrivateMessage(m) = decode::<MlsMessage>(what, msg)?.body else {
            return Err(format!("{what}_priv is not a PrivateMessage"));
        };
        let tree = self.tree()?;
        let (dec, _) = unprotect_private(self.cs, &m, self.context, &tree, &self.c.sender_data_secret).map_err(ctx("unprotect given"))?;
        let ac = dec
            .verify(self.cs, &self.c.signature_pub, self.context)
            .map_err(ctx("signature of given"))?;
        if &ac.content.body != want {
            return Err(format!("{what}_priv content differs"));
        }
        let mut sender_tree = self.tree()?;
        let ours = protect_private(
            self.cs,
            &self.sk(),
            self.content(want.clone()),
            self.tag(want),
            self.context,
            &mut sender_tree,
            &self.c.sender_data_secret,
            17,
        )
        .map_err(ctx("protect_private"))?;
        let mut receiver_tree = self.tree()?;
        let (dec, staged) =
            unprotect_private(self.cs, &ours, self.context, &receiver_tree, &self.c.sender_data_secret).map_err(ctx("unprotect own"))?;
        let ac = dec
            .verify(self.cs, &self.c.signature_pub, self.context)
            .map_err(ctx("signature of own"))?;
        if &ac.content.body != want {
            return Err(format!("{what}: own PrivateMessage content differs"));
        }
        // Until the staged ratchet is applied, the message can be decrypted again.
        unprotect_private(self.cs, &ours, self.context, &receiver_tree, &self.c.sender_data_secret)
            .map_err(ctx("unprotect own, before apply"))?;
        receiver_tree.apply(staged);
        // A second decryption of the same message fails: its key is consumed (§9.2).
        if unprotect_private(self.cs, &ours, self.context, &receiver_tree, &self.c.sender_data_secret).is_ok() {
            return Err(format!("{what}: replayed PrivateMessage decrypted twice"));
        }
        Ok(())
    }
}
