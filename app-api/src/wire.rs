//! Request and response bodies of the delivery service's HTTP API, shared
//! by the service ([`crate::ds`]) and its client ([`crate::remote`]).

use serde::{Deserialize, Serialize};

/// `POST /v1/register`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Register {
    /// The client's name (its basic credential).
    pub name: String,
    /// Its signature public key in its default traditional suite,
    /// base64 (one of `keys`).
    pub signature_key: String,
    /// Every signature key the name starts with, one per suite, each
    /// with its proof of possession ([`crate::directory`]).
    #[serde(default)]
    pub keys: Vec<KeyProof>,
}

/// A signature key and its proof of possession: the key's signature
/// over the name, suite and key ([`crate::directory::KEY_PROOF_LABEL`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyProof {
    /// The cipher suite (code point).
    pub suite: u16,
    /// The signature public key, base64.
    pub signature_key: String,
    /// The proof, base64.
    pub proof: String,
}

/// `POST /v1/keys`: a new key for the caller's name, in a suite it has
/// no key in yet or replacing the suite's current key (rotation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddKey {
    /// The new key.
    pub key: KeyProof,
    /// The suite of the key that authorizes it: for a rotation, the
    /// new key's suite (its current key signs).
    pub authorizer_suite: u16,
    /// That key (current, of the caller), base64.
    pub authorizer_key: String,
    /// Its signature over the name, the new key's suite and the new
    /// key ([`crate::directory::KEY_AUTHORIZATION_LABEL`]), base64.
    pub authorization: String,
}

/// `GET /v1/directory/{name}`: the keys bound to a name.
#[derive(Debug, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// The name.
    pub name: String,
    /// Its keys, rotated-out ones included.
    pub keys: Vec<DirectoryKey>,
}

/// One key of a [`DirectoryEntry`].
#[derive(Debug, Serialize, Deserialize)]
pub struct DirectoryKey {
    /// The suite (code point; 0 for a key registered before the
    /// directory recorded suites, good for any).
    pub suite: u16,
    /// The signature public key, base64.
    pub signature_key: String,
    /// Whether it is the suite's current key.
    pub current: bool,
}

/// The answer to [`Register`]. `Debug` does not show the token.
#[derive(Serialize, Deserialize)]
pub struct Registered {
    /// The bearer token.
    pub token: String,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered").field("token", &"<hidden>").finish()
    }
}

/// `POST /v1/key-packages`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Publish {
    /// [`crate::KeyPackageOffer::to_bytes`], base64.
    pub offers: Vec<String>,
}

/// A count.
#[derive(Debug, Serialize, Deserialize)]
pub struct Count {
    /// How many.
    pub count: usize,
}

/// `GET /v1/key-packages/{name}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Offer {
    /// [`crate::KeyPackageOffer::to_bytes`], base64.
    pub offer: String,
}

/// `POST /v1/groups/{group}/messages`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Post {
    /// The epoch the message was made in.
    pub epoch: u64,
    /// "commit" or "message".
    pub kind: String,
    /// The MLSMessage, base64.
    pub message: String,
    /// Recipients' names.
    pub recipients: Vec<String>,
    /// A Welcome, base64.
    pub welcome: Option<String>,
    /// Its recipients.
    pub welcome_to: Vec<String>,
    /// Of a commit: the members it removes, who may no longer post
    /// to the group once it is accepted (each must be a recipient).
    #[serde(default)]
    pub removed: Vec<String>,
}

/// The answer to [`Post`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Posted {
    /// The message's place in the group's log.
    pub seq: i64,
}

/// `POST` and `GET /v1/groups/{group}/group-info`.
#[derive(Debug, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The epoch it is of.
    pub epoch: u64,
    /// The GroupInfo (or pair), base64.
    pub group_info: String,
    /// SelfRemove proposals of that epoch, base64 (in answers only).
    #[serde(default)]
    pub self_removes: Vec<String>,
}

/// `GET /v1/queue`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Poll {
    /// Entries after this queue id.
    pub after: i64,
    /// Seconds to wait for one if there is none (at most 30).
    #[serde(default)]
    pub wait: u64,
    /// At most this many (default and cap 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A queue entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// Queue id (ack up to it).
    pub id: i64,
    /// The group id, hex.
    pub group: String,
    /// "commit", "message" or "welcome".
    pub kind: String,
    /// The sender's name.
    pub sender: String,
    /// The epoch the sender gave.
    pub epoch: u64,
    /// The bytes, base64.
    pub body: String,
}

/// The answer to [`Poll`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Deliveries {
    /// In queue order.
    pub messages: Vec<Delivery>,
}

/// `POST /v1/queue/ack`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ack {
    /// Deletes the caller's entries up to this id.
    pub upto: i64,
}

/// An error.
#[derive(Debug, Serialize, Deserialize)]
pub struct Failure {
    /// Why.
    pub error: String,
}

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::client::{Outgoing, OutgoingKind};

/// For [`Outgoing`]: the request body.
pub fn post_body(out: &Outgoing) -> Post {
    Post {
        epoch: out.epoch,
        kind: match out.kind {
            OutgoingKind::Commit => "commit".into(),
            OutgoingKind::Message => "message".into(),
        },
        message: B64.encode(&out.message),
        recipients: out.recipients.clone(),
        welcome: out.welcome.as_ref().map(|w| B64.encode(w)),
        welcome_to: out.welcome_to.clone(),
        removed: out.removed.clone(),
    }
}

/// Whether a refusal's status means "another commit won".
pub fn is_conflict(status: u16) -> bool {
    status == 409
}
