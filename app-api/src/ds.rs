//! The delivery service (`mlsx ds`): an HTTP service on axum and tokio,
//! state in SQLite (one process) or PostgreSQL (any number of processes
//! on one database), behind [`storage`]. It sees ciphertext only and
//! never holds a group secret.
//!
//! - Registration: `POST /v1/register {name, signature_key, keys}` binds
//!   the name to its signature keys, each with a proof of possession, and
//!   returns a bearer token (only its SHA-256 is stored); every other call
//!   carries it, and a client reads only its own queue.
//! - Directory (the authentication service, [`crate::directory`]):
//!   `GET /v1/directory/{name}` answers the keys bound to a name;
//!   `POST /v1/keys` binds a new one, authorized by a key the caller holds
//!   (a rotation by the suite's current key). Leaves of the groups the
//!   service follows, and KeyPackages it hands out, carry bound keys.
//! - KeyPackage directory: `POST /v1/key-packages` stores offers made by
//!   the caller; `GET /v1/key-packages/{name}?kind=plain|extended|hybrid` hands out
//!   one and deletes it, except a last-resort KeyPackage
//!   (draft-ietf-mls-extensions §6.4), which is kept and handed out when
//!   nothing else is left.
//! - Messages: `POST /v1/groups/{group}/messages` takes an [`Outgoing`].
//!   The service follows each group with an observer of its public
//!   handshakes (`PublicGroup`, or `ApqObserver` for hybrid sessions): a
//!   group is unknown (412) until a member uploads its GroupInfo, a
//!   handshake must be a PublicMessage posted by its own sender, and a
//!   proposal or commit is taken only if it is valid for the group's
//!   current state (RFC 9420 §12.4.2 minus the secrets). A commit is
//!   accepted only if it is the first for its group and epoch (RFC 9420
//!   §14: the DS orders commits); a later one is refused with 409, and its
//!   sender goes back ([`crate::Group::refused`]). The same bytes sent
//!   again get the same answer as the first time, so a client that crashed
//!   before reading the answer (or whose service process died) can ask
//!   again, here or at another process: a commit's while the service
//!   keeps it (`Limits::commits_kept`), any other message's while one of
//!   its recipients has not acknowledged it, and it is not delivered twice. Accepted messages go to a
//!   per-group ordered log and to the queue of each member the observer
//!   holds; a Welcome goes to the members the commit adds.
//! - GroupInfos: `POST /v1/groups/{group}/group-info` (the first starts
//!   the group's observer; later ones, from a committer after its commit
//!   was taken, must be of the current epoch) and `GET` of the same, for
//!   external joiners,
//!   with the SelfRemove proposals sent in that epoch
//!   (draft-ietf-mls-extensions §6.3), which the joiner must commit.
//! - Queues: `GET /v1/queue?after=ID&wait=SECONDS` (long-poll, up to 30 s)
//!   and `POST /v1/queue/ack {upto}`; an entry every recipient has
//!   acknowledged is deleted from the log.
//! - Membership: what the observer holds, never the poster's word. With
//!   `--private-handshakes` ([`Limits::private_handshakes`]) the service
//!   also takes handshakes it cannot read and then knows a group's members
//!   from the commits it takes (the poster who created it, Welcome
//!   recipients, external joiners, and the members a commit says it
//!   removes); only members post, except a non-member's external commit.
//!   `drafts/delivery-service.md` says what the service checks, what it
//!   cannot, and what it trusts.
//! - Limits: request body size, requests per second per client, recipients
//!   per message, queue depth per client, open long-polls per client.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::client::KeyPackageOffer;

pub mod cluster;
mod observer;
pub mod storage;
use observer::{Observer, Refused};
pub use storage::{Database, Storage, StorageError};
use storage::{LogEntry, StoredOffer, Tx};

/// What the service allows.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Requests per second per client (a token bucket of twice this size).
    pub requests_per_second: u32,
    /// Recipients of one message.
    pub max_recipients: usize,
    /// Undelivered messages per client. A message or a Welcome to a full
    /// queue is refused (429); a commit is not, since refusing it would
    /// stop the group for one absent member.
    pub max_queue: i64,
    /// Largest signature key a client registers, bytes (ML-DSA-87's is
    /// 2,592).
    pub max_signature_key: usize,
    /// Signature keys bound to one name, rotated-out ones included
    /// ([`crate::directory`]).
    pub max_keys: i64,
    /// Bytes one client may have stored at once: its KeyPackage offers,
    /// its messages not yet delivered to everyone, and the GroupInfos and
    /// observer states of the groups it introduced. A request that would
    /// go beyond is refused (429) and stores nothing.
    pub max_stored_bytes: i64,
    /// KeyPackage offers one client may have stored.
    pub max_key_packages: i64,
    /// KeyPackages one client may take of one other client per hour (and
    /// at once): draining a user of its KeyPackages takes that user's new
    /// offers or this long (per service process).
    pub key_package_fetches_per_hour: u32,
    /// Groups one client may introduce to the service.
    pub max_groups: i64,
    /// Requests per second per source address that carry no token
    /// (registration, and every request refused as unauthenticated), a
    /// token bucket of twice this size.
    pub anonymous_requests_per_second: u32,
    /// Commits kept per group for answering a resend with the first
    /// answer; an older commit sent again is answered as stale (409).
    pub commits_kept: i64,
    /// Open connections at once; more are closed as they come.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (slowloris), and to
    /// send the next request's on an idle kept-alive connection.
    pub header_timeout: Duration,
    /// Time one request may take in all, its body included (a long-poll
    /// waits at most 30 s of it).
    pub request_timeout: Duration,
    /// Accept handshakes the service cannot read (PrivateMessage commits
    /// and proposals) and order them on the poster's word, as before the
    /// service followed groups: it then checks nothing but the header, and
    /// membership is what committers say (`mlsx ds --private-handshakes`).
    /// Off by default: groups send handshakes as PublicMessage, and the
    /// service follows each group with an observer (`drafts/delivery-service.md`).
    pub private_handshakes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: 1 << 20,
            requests_per_second: 1000,
            max_recipients: 10_000,
            max_queue: 100_000,
            max_signature_key: 4096,
            max_keys: 32,
            max_stored_bytes: 64 << 20,
            max_key_packages: 1000,
            key_package_fetches_per_hour: 20,
            max_groups: 1000,
            anonymous_requests_per_second: 20,
            commits_kept: 64,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            private_handshakes: false,
        }
    }
}

/// What the service reads of a message without any key: the group and
/// epoch in its header (RFC 9420 §6), and whether it is an external commit
/// (a PublicMessage from `new_member_commit`). For an APQMessagePair, the
/// T group's message (draft-ietf-mls-combiner §6).
struct Header {
    group_id: Vec<u8>,
    epoch: u64,
    external_commit: bool,
}

fn header(body: &[u8]) -> Option<Header> {
    use mlsx_base::codec::{MlsMessage, MlsMessageBody, Sender, decode};
    let m: MlsMessage = decode(body).ok()?;
    let m = match &m.body {
        MlsMessageBody::Custom(_) => mlsx_combiner::ApqMessagePair::from_message(&m).ok()?.t_message,
        _ => m,
    };
    match &m.body {
        MlsMessageBody::PublicMessage(p) => Some(Header {
            group_id: p.content.group_id.as_slice().to_vec(),
            epoch: p.content.epoch,
            external_commit: p.content.sender == Sender::NewMemberCommit,
        }),
        MlsMessageBody::PrivateMessage(p) => Some(Header {
            group_id: p.group_id.as_slice().to_vec(),
            epoch: p.epoch,
            external_commit: false,
        }),
        _ => None,
    }
}

/// The group and epoch of a GroupInfo (or of the T GroupInfo of a pair).
fn group_info_header(body: &[u8]) -> Option<(Vec<u8>, u64)> {
    use mlsx_base::codec::{MlsMessage, MlsMessageBody, decode};
    let m: MlsMessage = decode(body).ok()?;
    let m = match &m.body {
        MlsMessageBody::Custom(_) => mlsx_combiner::ApqMessagePair::from_message(&m).ok()?.t_message,
        _ => m,
    };
    match &m.body {
        MlsMessageBody::GroupInfo(gi) => Some((gi.group_context.group_id.as_slice().to_vec(), gi.group_context.epoch)),
        _ => None,
    }
}

/// Refuses `name` if the group has members and `name` is not one of them
/// (unless `external_commit`: a joiner's own commit). Returns whether
/// the group has members at all (if not, the poster creates it).
fn may_post(tx: &mut dyn Tx, group_id: &[u8], name: &str, external_commit: bool) -> Result<bool, Refusal> {
    let (known, member) = tx.membership(group_id, name)?;
    if known && !member && !external_commit {
        return Err(Refusal(StatusCode::FORBIDDEN, "not a member of this group".into()));
    }
    Ok(known)
}

/// Request and response bodies, shared by the service and [`crate::remote`].
pub use crate::wire;
pub use crate::wire::{is_conflict, post_body};

/// An answer other than success.
#[derive(Debug)]
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(wire::Failure { error: self.1 })).into_response()
    }
}

/// The message of a refusal that is a storage conflict: the request is
/// run again (a few times) before it is answered.
const RETRY: &str = "storage conflict";

impl From<StorageError> for Refusal {
    fn from(e: StorageError) -> Self {
        match e {
            // The client may try again, here or at another service process.
            StorageError::Unavailable(why) => Refusal(StatusCode::SERVICE_UNAVAILABLE, format!("storage unavailable: {why}")),
            StorageError::Retry(_) => Refusal(StatusCode::SERVICE_UNAVAILABLE, RETRY.into()),
            StorageError::Failed(why) => Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("storage: {why}")),
        }
    }
}

fn bad(msg: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, msg.into())
}

struct Bucket {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

struct Shared {
    store: Arc<dyn Storage>,
    /// Each waiting client's wake-up, and how many long-polls it has open.
    waiters: Mutex<HashMap<String, (Arc<tokio::sync::Notify>, usize)>>,
    limits: Limits,
    buckets: Mutex<HashMap<String, Bucket>>,
    ext: mlsx_extensions::Extensions,
    /// Clients by the SHA-256 of their token, as found (at most
    /// [`TOKENS_CACHED`]).
    tokens: Mutex<HashMap<Vec<u8>, String>>,
}

/// Tokens a process remembers the client of.
const TOKENS_CACHED: usize = 1 << 16;

type St = Arc<Shared>;

/// Long-polls one client may have open at once.
const POLLS_PER_CLIENT: usize = 4;

/// A client's open long-poll: its wake-up, released when dropped.
struct Waiting {
    st: St,
    name: String,
    notify: Arc<tokio::sync::Notify>,
}

impl Waiting {
    fn new(st: &St, name: &str) -> Result<Self, Refusal> {
        let mut waiters = st.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (notify, open) = waiters
            .entry(name.to_owned())
            .or_insert_with(|| (Arc::new(tokio::sync::Notify::new()), 0));
        if *open >= POLLS_PER_CLIENT {
            return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, "too many open polls".into()));
        }
        *open += 1;
        Ok(Self {
            st: st.clone(),
            name: name.to_owned(),
            notify: notify.clone(),
        })
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut waiters = self.st.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, open)) = waiters.get_mut(&self.name) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                waiters.remove(&self.name);
            }
        }
    }
}

/// Wakes the long-polls of these clients (only theirs) in this process;
/// the storage wakes those in the others ([`Tx::notify`]).
fn wake<'a>(sh: &Shared, names: impl IntoIterator<Item = &'a String>) {
    let waiters = sh.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for n in names {
        if let Some((notify, _)) = waiters.get(n) {
            notify.notify_waiters();
        }
    }
}

/// A wake-up from another process: `name`'s long-polls, or all of them.
fn wake_here(sh: &Shared, name: Option<&str>) {
    match name {
        Some(n) => wake(sh, [&n.to_owned()]),
        None => {
            let waiters = sh.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            waiters.values().for_each(|(notify, _)| notify.notify_waiters());
        }
    }
}

/// Remembers the client a token (its SHA-256) belongs to, in this
/// process ([`TOKENS_CACHED`] at most: forgotten all at once when full).
fn remember_token(sh: &Shared, hash: Vec<u8>, name: &str) {
    let mut tokens = sh.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if tokens.len() >= TOKENS_CACHED {
        tokens.clear();
    }
    tokens.insert(hash, name.to_owned());
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// Longest group id the service takes, bytes (RFC 9420 sets none; ours
/// are 16).
pub const MAX_GROUP_ID: usize = 255;

/// A group id from a URL: hex, at most [`MAX_GROUP_ID`] bytes.
fn group_param(group: &str) -> Result<Vec<u8>, Refusal> {
    let id = hex::decode(group).map_err(|_| bad("the group id is hex"))?;
    if id.is_empty() || id.len() > MAX_GROUP_ID {
        return Err(bad(format!("a group id is 1 to {MAX_GROUP_ID} bytes")));
    }
    Ok(id)
}

fn decode64(s: &str) -> Result<Vec<u8>, Refusal> {
    B64.decode(s).map_err(|_| bad("not base64"))
}

/// Runs `f` in a transaction off the async threads, and commits if it
/// succeeds. A transaction the database aborted for a conflict (a
/// deadlock between service processes) is run again, up to 5 times; `f`
/// must therefore read its input, not consume it.
async fn with_db<T: Send + 'static>(
    st: &St,
    f: impl Fn(&mut dyn Tx, &Shared) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    run_db(st, false, f).await
}

/// [`with_db`] for `f` that reads with one statement ([`Storage::read`]).
async fn with_read<T: Send + 'static>(
    st: &St,
    f: impl Fn(&mut dyn Tx, &Shared) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    run_db(st, true, f).await
}

async fn run_db<T: Send + 'static>(
    st: &St,
    read: bool,
    f: impl Fn(&mut dyn Tx, &Shared) -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    let st = st.clone();
    tokio::task::spawn_blocking(move || {
        let mut tries = 0;
        loop {
            tries += 1;
            let attempt = (|| {
                let mut tx = if read { st.store.read()? } else { st.store.begin()? };
                let value = f(&mut *tx, &st)?;
                tx.commit()?;
                Ok(value)
            })();
            match attempt {
                Err(Refusal(StatusCode::SERVICE_UNAVAILABLE, why)) if why == RETRY && tries < 5 => {}
                done => return done,
            }
        }
    })
    .await
    .map_err(|_| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "worker failed".into()))?
}

/// The caller, from its bearer token; charges its rate bucket.
async fn caller(st: &St, peer: &Peer, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        charge_anonymous(st, peer)?;
        return Err(Refusal(StatusCode::UNAUTHORIZED, "no bearer token".into()));
    };
    let hash = digest(token.as_bytes());
    // Tokens are never reissued to another name: a name, once found, is
    // kept in this process (bounded: forgotten all at once when full).
    let cached = st
        .tokens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&hash)
        .cloned();
    let name = match cached {
        Some(name) => Some(name),
        None => {
            // A token not seen yet costs a database read: not when its
            // source address has no budget left for unknown tokens.
            if anonymous_spent(st, peer) {
                return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, "rate limit (unauthenticated)".into()));
            }
            let key = hash.clone();
            let name = with_read(st, move |tx, _| Ok(tx.client_of_token(&key)?)).await?;
            if let Some(n) = &name {
                remember_token(st, hash, n);
            }
            name
        }
    };
    let Some(name) = name else {
        // Guessing tokens costs the guesser's address.
        charge_anonymous(st, peer)?;
        return Err(Refusal(StatusCode::UNAUTHORIZED, "unknown token".into()));
    };
    charge(st, &name)?;
    Ok(name)
}

/// Takes a token from `name`'s rate bucket.
fn charge(st: &St, name: &str) -> Result<(), Refusal> {
    let rate = f64::from(st.limits.requests_per_second);
    charge_at(st, name, rate, rate * 2.0, "rate limit")
}

/// Takes a token from the bucket `key`, which refills at `rate` tokens a
/// second up to `burst` (at least one).
fn charge_at(st: &St, key: &str, rate: f64, burst: f64, why: &str) -> Result<(), Refusal> {
    let burst = burst.max(1.0);
    let mut buckets = st.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let now = Instant::now();
    if buckets.len() > 4096 {
        // A full bucket is the same as a new one: forget those.
        buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * b.rate < b.burst);
    }
    let b = buckets.entry(key.to_owned()).or_insert(Bucket {
        tokens: burst,
        at: now,
        rate,
        burst,
    });
    b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(burst);
    b.at = now;
    if b.tokens < 1.0 {
        return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, why.into()));
    }
    b.tokens -= 1.0;
    Ok(())
}

/// The source address of a request, when the service knows it (it does
/// behind [`serve`]; a router driven directly does not).
struct Peer(Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        ))
    }
}

/// The bucket of requests without a valid token from `peer`.
fn anonymous_key(peer: &Peer) -> String {
    match peer.0 {
        Some(ip) => format!("\u{0}addr {ip}"),
        None => "\u{0}addr".to_owned(),
    }
}

/// Whether `peer`'s bucket for requests without a valid token is empty
/// (without taking from it).
fn anonymous_spent(st: &St, peer: &Peer) -> bool {
    let buckets = st.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    buckets
        .get(&anonymous_key(peer))
        .is_some_and(|b| b.tokens + Instant::now().duration_since(b.at).as_secs_f64() * b.rate < 1.0)
}

/// Charges the bucket of a request without a valid token: its source
/// address's.
fn charge_anonymous(st: &St, peer: &Peer) -> Result<(), Refusal> {
    let key = anonymous_key(peer);
    let rate = f64::from(st.limits.anonymous_requests_per_second);
    charge_at(st, &key, rate, rate * 2.0, "rate limit (unauthenticated)")
}

async fn register(State(st): State<St>, peer: Peer, Json(req): Json<wire::Register>) -> Result<Json<wire::Registered>, Refusal> {
    // Registrations carry no token yet: their source address pays.
    charge_anonymous(&st, &peer)?;
    if req.name.is_empty() || req.name.len() > crate::directory::MAX_NAME || req.name.chars().any(char::is_control) {
        return Err(bad("a name is 1 to 255 bytes without control characters"));
    }
    let key = decode64(&req.signature_key)?;
    if req.keys.is_empty() || i64::try_from(req.keys.len()).map_or(true, |n| n > st.limits.max_keys) {
        return Err(bad(format!(
            "a registration binds 1 to {} signature keys, each with its proof",
            st.limits.max_keys
        )));
    }
    let mut keys: Vec<(u16, Vec<u8>)> = vec![];
    for k in &req.keys {
        let public = proven_key(&st, &req.name, k)?;
        if keys.iter().any(|(s, _)| *s == k.suite) {
            return Err(bad("one key per suite"));
        }
        keys.push((k.suite, public));
    }
    if !keys.iter().any(|(_, k)| *k == key) {
        return Err(bad("the signature key is one of the keys"));
    }
    let mut raw = [0u8; 32];
    rand::fill(&mut raw);
    let token = hex::encode(raw);
    let hash = digest(token.as_bytes());
    let name = req.name.clone();
    with_db(&st, move |tx, _| {
        let now = now_seconds();
        if !tx.insert_client(&req.name, &hash, &key, now)? {
            return Err(Refusal(StatusCode::CONFLICT, format!("name {} is taken", req.name)));
        }
        for (suite, k) in &keys {
            tx.bind_key(&req.name, *suite, k, now)?;
        }
        Ok(())
    })
    .await?;
    // Its first requests here need no database read (nor the address's
    // budget for unknown tokens).
    remember_token(&st, digest(token.as_bytes()), &name);
    Ok(Json(wire::Registered { token }))
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// The key of a [`wire::KeyProof`] for `name`, once its size and its proof
/// of possession are checked (400 otherwise).
fn proven_key(st: &St, name: &str, k: &wire::KeyProof) -> Result<Vec<u8>, Refusal> {
    let public = decode64(&k.signature_key)?;
    if public.is_empty() || public.len() > st.limits.max_signature_key {
        return Err(bad(format!("a signature key is 1 to {} bytes", st.limits.max_signature_key)));
    }
    let proof = decode64(&k.proof)?;
    crate::directory::verify_key(
        (k.suite, &public),
        crate::directory::KEY_PROOF_LABEL,
        (name, k.suite, &public),
        &proof,
    )
    .map_err(|e| {
        bad(format!(
            "the proof of possession of the key for suite {:#06x} does not verify ({e})",
            k.suite
        ))
    })?;
    Ok(public)
}

/// `POST /v1/keys`: binds a new key to the caller's name, authorized by a
/// key it holds; a rotation (a suite that has a current key) only by that
/// key.
async fn add_key(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    Json(req): Json<wire::AddKey>,
) -> Result<Json<wire::Count>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let public = proven_key(&st, &me, &req.key)?;
    let authorizer = decode64(&req.authorizer_key)?;
    let authorization = decode64(&req.authorization)?;
    crate::directory::verify_key(
        (req.authorizer_suite, &authorizer),
        crate::directory::KEY_AUTHORIZATION_LABEL,
        (&me, req.key.suite, &public),
        &authorization,
    )
    .map_err(|e| Refusal(StatusCode::FORBIDDEN, format!("the authorization does not verify ({e})")))?;
    let suite = req.key.suite;
    let count = with_db(&st, move |tx, sh| {
        // One change of a name's keys at a time (two rotations signed by
        // the same key would both see it current).
        tx.lock_client(&me)?;
        if !tx.key_is_bound(&me, req.authorizer_suite, &authorizer, true)? {
            return Err(Refusal(
                StatusCode::FORBIDDEN,
                "the authorizing key is not a current key of this name".into(),
            ));
        }
        match tx.current_key(&me, suite)? {
            Some(k) if k == public => return Ok(0),
            Some(k) if k != authorizer || req.authorizer_suite != suite => {
                return Err(Refusal(
                    StatusCode::FORBIDDEN,
                    "a rotation is authorized by the suite's current key".into(),
                ));
            }
            _ => {}
        }
        if tx.key_was_bound(&me, suite, &public)? {
            return Err(Refusal(StatusCode::CONFLICT, "a rotated-out key does not come back".into()));
        }
        if tx.key_count(&me)? >= sh.limits.max_keys {
            return Err(Refusal(
                StatusCode::TOO_MANY_REQUESTS,
                format!("at most {} signature keys per name", sh.limits.max_keys),
            ));
        }
        tx.bind_key(&me, suite, &public, now_seconds())?;
        Ok(1)
    })
    .await?;
    Ok(Json(wire::Count { count }))
}

/// `GET /v1/directory/{name}`: the keys bound to a name (404 if none).
async fn directory(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
) -> Result<Json<wire::DirectoryEntry>, Refusal> {
    caller(&st, &peer, &headers).await?;
    let keys = with_db(&st, move |tx, _| {
        let keys: Vec<wire::DirectoryKey> = tx
            .keys(&name)?
            .into_iter()
            .map(|(suite, key, current)| wire::DirectoryKey {
                suite,
                signature_key: B64.encode(key),
                current,
            })
            .collect();
        if keys.is_empty() {
            return Err(Refusal(StatusCode::NOT_FOUND, format!("no client {name}")));
        }
        Ok(wire::DirectoryEntry { name: name.clone(), keys })
    })
    .await?;
    Ok(Json(keys))
}

/// Refuses (429) the transaction `db` is in if it leaves `name` with more
/// bytes stored than [`Limits::max_stored_bytes`]: checked after the
/// writes, which the usage triggers have counted.
fn check_stored(tx: &mut dyn Tx, limits: &Limits, name: &str) -> Result<(), Refusal> {
    if tx.stored_bytes(name)? > limits.max_stored_bytes {
        return Err(Refusal(
            StatusCode::TOO_MANY_REQUESTS,
            format!("at most {} bytes stored per client", limits.max_stored_bytes),
        ));
    }
    Ok(())
}

/// Refuses leaves whose signature key is not bound to their name for
/// their suite (the directory, [`crate::directory`]).
fn check_bound<'a>(tx: &mut dyn Tx, keys: impl IntoIterator<Item = &'a observer::LeafKey>, current: bool) -> Result<(), Refusal> {
    for (name, suite, key) in keys {
        if !tx.key_is_bound(name, *suite, key, current)? {
            let what = if current { "current" } else { "registered" };
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!("the signature key of {name}'s leaf is not {what} for that name in suite {suite:#06x}"),
            ));
        }
    }
    Ok(())
}

async fn publish(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    Json(req): Json<wire::Publish>,
) -> Result<Json<wire::Count>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let mut rows = vec![];
    let mut keys = BTreeSet::new();
    for o in &req.offers {
        let bytes = decode64(o)?;
        let offer = KeyPackageOffer::from_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
        if offer.owner != me || !offer.names(&me) {
            return Err(Refusal(StatusCode::FORBIDDEN, "an offer for another client".into()));
        }
        let last_resort = st.ext.is_last_resort(&offer.t).map_err(|e| bad(e.to_string()))?;
        let suites = (offer.t.cipher_suite.0, offer.pq.as_ref().map_or(0, |p| p.cipher_suite.0));
        for kp in std::iter::once(&offer.t).chain(offer.pq.as_ref()) {
            keys.insert((me.clone(), kp.cipher_suite.0, kp.leaf_node.signature_key.as_slice().to_vec()));
        }
        rows.push((i64::from(crate::client::kind_byte(offer.kind)), last_resort, bytes, suites));
    }
    let count = rows.len();
    with_db(&st, move |tx, sh| {
        // One publication of a client's at a time: the count below holds.
        tx.lock_client(&me)?;
        // New KeyPackages carry the name's current keys.
        check_bound(tx, &keys, true).map_err(|Refusal(status, why)| match status {
            StatusCode::BAD_REQUEST => Refusal(StatusCode::FORBIDDEN, why),
            _ => Refusal(status, why),
        })?;
        if tx.offer_count(&me)?.saturating_add(i64::try_from(rows.len()).unwrap_or(i64::MAX)) > sh.limits.max_key_packages {
            return Err(Refusal(
                StatusCode::TOO_MANY_REQUESTS,
                format!("at most {} KeyPackages stored per client", sh.limits.max_key_packages),
            ));
        }
        for (kind, last_resort, body, (t_suite, pq_suite)) in &rows {
            tx.insert_offer(&StoredOffer {
                owner: &me,
                kind: *kind,
                last_resort: *last_resort,
                body,
                t_suite: *t_suite,
                pq_suite: *pq_suite,
            })?;
        }
        check_stored(tx, &sh.limits, &me)?;
        Ok(())
    })
    .await?;
    Ok(Json(wire::Count { count }))
}

#[derive(Deserialize)]
struct KindQuery {
    kind: Option<String>,
    /// Only offers in this traditional suite.
    t_suite: Option<u16>,
    /// Only pairs in this PQ suite.
    pq_suite: Option<u16>,
}

async fn fetch_key_package(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<KindQuery>,
) -> Result<Json<wire::Offer>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    // Taking others' KeyPackages is metered per requester and owner.
    charge_at(
        &st,
        &format!("\u{0}kp {me}\u{0}{name}"),
        f64::from(st.limits.key_package_fetches_per_hour) / 3600.0,
        f64::from(st.limits.key_package_fetches_per_hour),
        "too many KeyPackages taken of this client",
    )?;
    let name_of_kind = q.kind.as_deref().unwrap_or("plain");
    let kind = crate::client::GroupKind::from_name(name_of_kind)
        .map(|k| i64::from(crate::client::kind_byte(k)))
        .ok_or_else(|| bad(format!("no KeyPackage kind {name_of_kind}")))?;
    let body = with_db(&st, move |tx, _| {
        // Ordinary ones first, oldest first; a last-resort one only when
        // none is left, and it stays.
        tx.take_offer(&name, kind, q.t_suite, q.pq_suite)?
            .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, format!("no KeyPackage of {name} left")))
    })
    .await?;
    Ok(Json(wire::Offer { offer: B64.encode(body) }))
}

async fn post_message(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    UrlPath(group): UrlPath<String>,
    Json(req): Json<wire::Post>,
) -> Result<Json<wire::Posted>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let group_id = group_param(&group)?;
    let commit = match req.kind.as_str() {
        "commit" => true,
        "message" => false,
        k => return Err(bad(format!("no message kind {k}"))),
    };
    if req.recipients.len() + req.welcome_to.len() + req.removed.len() > st.limits.max_recipients {
        return Err(Refusal(StatusCode::PAYLOAD_TOO_LARGE, "too many recipients".into()));
    }
    let recipients: std::collections::HashSet<&String> = req.recipients.iter().collect();
    let mut everyone = recipients.clone();
    if recipients.len() != req.recipients.len() || !req.welcome_to.iter().all(|n| everyone.insert(n)) {
        return Err(bad("a recipient is named twice"));
    }
    if !req.removed.is_empty() && (!commit || req.removed.iter().any(|n| *n == me || !recipients.contains(n))) {
        return Err(bad(
            "only a commit removes members, others than its sender, each of whom it goes to",
        ));
    }
    let body = decode64(&req.message)?;
    let welcome = req.welcome.as_deref().map(decode64).transpose()?;
    let epoch = i64::try_from(req.epoch).map_err(|_| bad("epoch out of range"))?;
    // The routing the sender claims must be what the message says.
    let h = header(&body).ok_or_else(|| bad("not a PublicMessage, PrivateMessage or APQMessagePair"))?;
    if h.group_id != group_id || h.epoch != req.epoch {
        return Err(bad("the message's group or epoch is not the one given"));
    }
    if h.external_commit && !commit {
        return Err(bad("an external commit is a commit"));
    }
    // Decoded here, not under the database lock. Public framing only: a
    // SelfRemove proposal is a PublicMessage.
    let self_remove =
        !commit && mlsx_base::codec::decode::<mlsx_base::codec::MlsMessage>(&body).is_ok_and(|m| st.ext.is_self_remove_message(&m));
    if !st.limits.private_handshakes {
        let post = Observed {
            me,
            group_id,
            epoch,
            commit,
            external_commit: h.external_commit,
            body,
            welcome,
            self_remove,
        };
        let (seq, woken) = with_db(&st, move |tx, sh| post_observed(tx, sh, &post)).await?;
        wake(&st, &woken);
        return Ok(Json(wire::Posted { seq }));
    }
    let (seq, woken) = with_db(&st, move |tx, sh| {
        post_private(tx, sh, &me, &h, &req, (&body, welcome.as_deref(), self_remove))
    })
    .await?;
    wake(&st, &woken);
    Ok(Json(wire::Posted { seq }))
}

/// [`post_message`] for a service that takes handshakes it cannot read
/// (`--private-handshakes`): ordered on the poster's word.
fn post_private(
    tx: &mut dyn Tx,
    sh: &Shared,
    me: &str,
    h: &Header,
    req: &wire::Post,
    (body, welcome, self_remove): (&[u8], Option<&[u8]>, bool),
) -> Result<(i64, Vec<String>), Refusal> {
    let commit = req.kind == "commit";
    let group_id = h.group_id.as_slice();
    let epoch = i64::try_from(h.epoch).map_err(|_| bad("epoch out of range"))?;
    let d = digest(body);
    tx.lock_group(group_id)?;
    // The same commit again (its sender lost our answer): the same
    // answer, whatever changed since (its sender may have been removed
    // by a later commit). The same message again, while it is in the
    // log: the same answer, and it is not delivered twice.
    let again = if commit {
        tx.commit_seq(group_id, epoch, &d)?
    } else {
        tx.logged(group_id, me, &d)?
    };
    if let Some(seq) = again {
        return Ok((seq, vec![]));
    }
    // Members post; the first poster creates the group; a non-member
    // may post only an external commit.
    let known = may_post(tx, group_id, me, h.external_commit)?;
    if !known && !req.recipients.is_empty() {
        return Err(bad("a new group's first message goes to nobody but the Welcome's recipients"));
    }
    if commit {
        if tx.epoch_taken(group_id, epoch)? {
            return Err(Refusal(StatusCode::CONFLICT, format!("epoch {epoch} already has a commit")));
        }
        match tx.last_commit_epoch(group_id)? {
            Some(l) if epoch < l => return Err(Refusal(StatusCode::CONFLICT, format!("epoch {epoch} is over"))),
            // After the commit of epoch l the group is at l + 1.
            Some(l) if epoch > l.saturating_add(1) => return Err(bad(format!("epoch {epoch} is ahead of the group's {}", l + 1))),
            _ => {}
        }
    }
    // Recipients must be clients; those the service does not know as
    // members of the group get nothing (a sender that has not yet seen a
    // removal still names the removed member).
    let mut deliver_to: Vec<&str> = vec![];
    for r in &req.recipients {
        let (_, member) = tx.membership(group_id, r)?;
        if tx.queue_depth(r)?.is_none() {
            return Err(bad(format!("no client {r}")));
        }
        if r != me && member {
            deliver_to.push(r);
        }
    }
    let welcome_to: Vec<&str> = req.welcome_to.iter().map(String::as_str).collect();
    let everyone: Vec<&str> = deliver_to.iter().chain(&welcome_to).copied().collect();
    let depths = tx.lock_queues(&everyone)?;
    for (r, depth) in everyone.iter().zip(depths) {
        let depth = depth.ok_or_else(|| bad(format!("no client {r}")))?;
        // A full queue refuses messages, never a commit: refusing it
        // would stop the group for one absent member.
        if !commit && depth >= sh.limits.max_queue {
            return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, format!("the queue of {r} is full")));
        }
    }
    let seq = tx.append(&LogEntry {
        group_id,
        epoch,
        kind: if commit { "commit" } else { "message" },
        sender: me,
        digest: &d,
        body,
        self_remove,
    })?;
    if commit && !tx.take_epoch(group_id, epoch, &d, seq)? {
        return Err(Refusal(StatusCode::CONFLICT, format!("epoch {epoch} already has a commit")));
    }
    if !known || (commit && h.external_commit) {
        tx.add_member(group_id, me)?;
    }
    if commit {
        for n in &welcome_to {
            tx.add_member(group_id, n)?;
        }
    }
    // Not an external committer's word: it is not a member yet.
    if commit && !h.external_commit {
        // The committer's word, as for everything the service knows of
        // membership: a removed member can no longer post to the group,
        // so it cannot take the next epoch's commit slot.
        for n in &req.removed {
            tx.remove_member(group_id, n)?;
        }
    }
    tx.enqueue(seq, &deliver_to)?;
    if let Some(w) = welcome {
        log_welcome(tx, group_id, epoch, me, w, &welcome_to)?;
    }
    check_stored(tx, &sh.limits, me)?;
    tx.notify(&everyone)?;
    Ok((seq, everyone.into_iter().map(str::to_owned).collect()))
}

/// Logs a commit's Welcome and queues it for those it adds.
fn log_welcome(tx: &mut dyn Tx, group_id: &[u8], epoch: i64, sender: &str, welcome: &[u8], to: &[&str]) -> Result<(), Refusal> {
    let seq = tx.append(&LogEntry {
        group_id,
        epoch,
        kind: "welcome",
        sender,
        digest: &digest(welcome),
        body: welcome,
        self_remove: false,
    })?;
    tx.enqueue(seq, to)?;
    Ok(())
}

/// A message posted to a group the service follows.
struct Observed {
    me: String,
    group_id: Vec<u8>,
    epoch: i64,
    commit: bool,
    external_commit: bool,
    body: Vec<u8>,
    welcome: Option<Vec<u8>>,
    self_remove: bool,
}

fn internal(e: Refused) -> Refusal {
    let (Refused::Invalid(r) | Refused::Stale(r)) = e;
    Refusal(StatusCode::INTERNAL_SERVER_ERROR, format!("stored group state: {r}"))
}

fn refused(e: Refused) -> Refusal {
    match e {
        Refused::Invalid(r) => bad(r),
        Refused::Stale(r) => Refusal(StatusCode::CONFLICT, r),
    }
}

/// The observer of a group the service follows, or 412: the group is
/// unknown until one of its members uploads a GroupInfo.
fn load_observer(tx: &mut dyn Tx, group_id: &[u8]) -> Result<Observer, Refusal> {
    let (kind, state) = tx.observer(group_id)?.ok_or_else(|| {
        Refusal(
            StatusCode::PRECONDITION_FAILED,
            "unknown group: a member uploads its GroupInfo first".into(),
        )
    })?;
    Observer::load(kind, &state).map_err(internal)
}

/// Stores a group's observer and its members (who may post).
fn store_observer(tx: &mut dyn Tx, group_id: &[u8], observer: &Observer, introducer: &str) -> Result<(), Refusal> {
    let (kind, state) = observer.save().map_err(internal)?;
    tx.store_observer(group_id, kind, &state, introducer)?;
    tx.set_members(group_id, &observer.members().map_err(internal)?)?;
    Ok(())
}

/// Whether a message is a handshake the service cannot read: a
/// PrivateMessage proposal or commit, or a pair holding one.
fn private_handshake(msg: &mlsx_base::codec::MlsMessage) -> bool {
    use mlsx_base::codec::{ContentType, MlsMessageBody};
    let private = |m: &mlsx_base::codec::MlsMessage| matches!(&m.body, MlsMessageBody::PrivateMessage(p) if p.content_type != ContentType::APPLICATION);
    match &msg.body {
        MlsMessageBody::Custom(_) => {
            mlsx_combiner::ApqMessagePair::from_message(msg).is_ok_and(|p| private(&p.t_message) || private(&p.pq_message))
        }
        _ => private(msg),
    }
}

/// [`post_message`] for a group the service follows: a handshake is
/// checked by the group's observer and must be its poster's own; the
/// recipients are the members before it, the Welcome's those it adds, and
/// membership is what the observer then holds. What the poster names as
/// recipients is not used.
fn post_observed(tx: &mut dyn Tx, sh: &Shared, p: &Observed) -> Result<(i64, Vec<String>), Refusal> {
    use mlsx_base::codec::MlsMessageBody;
    let d = digest(&p.body);
    // The same message again (its sender lost our answer, say to a
    // service process that died): the same answer (see post_private).
    // Asked again under the locks below, for a first copy that another
    // process is still taking.
    let again = |tx: &mut dyn Tx| -> Result<Option<i64>, Refusal> {
        Ok(if p.commit {
            tx.commit_seq(&p.group_id, p.epoch, &d)?
        } else {
            tx.logged(&p.group_id, &p.me, &d)?
        })
    };
    if let Some(seq) = again(tx)? {
        return Ok((seq, vec![]));
    }
    let msg: mlsx_base::codec::MlsMessage = mlsx_base::codec::decode(&p.body).map_err(|e| bad(e.to_string()))?;
    if private_handshake(&msg) {
        return Err(bad(
            "this service checks handshakes: send them as PublicMessage (or run the service with --private-handshakes)",
        ));
    }
    let application = matches!(msg.body, MlsMessageBody::PrivateMessage(_));
    // Application data needs only the members, which the service keeps
    // beside the observer's state (`store_observer`): the state itself is
    // read for handshakes only.
    // A handshake is checked against the group's state and changes it:
    // one request of the group at a time, whichever process serves it.
    let mut obs = if application {
        None
    } else {
        // Strangers do not queue for the group's lock (only a joiner's
        // external commit comes from outside).
        if !p.external_commit && tx.membership(&p.group_id, &p.me)? == (true, false) {
            return Err(Refusal(StatusCode::FORBIDDEN, "not a member of this group".into()));
        }
        tx.lock_group(&p.group_id)?;
        if let Some(seq) = again(tx)? {
            return Ok((seq, vec![]));
        }
        Some(load_observer(tx, &p.group_id)?)
    };
    let members: BTreeSet<String> = match &obs {
        Some(o) => o.members().map_err(internal)?,
        None => {
            if !tx.followed(&p.group_id)? {
                return Err(Refusal(
                    StatusCode::PRECONDITION_FAILED,
                    "unknown group: a member uploads its GroupInfo first".into(),
                ));
            }
            tx.members(&p.group_id)?
        }
    };
    let (before, after) = if application {
        if !members.contains(&p.me) {
            return Err(Refusal(StatusCode::FORBIDDEN, "not a member of this group".into()));
        }
        if p.commit {
            return Err(bad("a commit is a handshake"));
        }
        (members.clone(), members)
    } else {
        let obs = obs.as_mut().ok_or_else(|| internal(Refused::Invalid("no observer".into())))?;
        if obs.sender_of(&msg).as_deref() != Some(p.me.as_str()) {
            return Err(Refusal(StatusCode::FORBIDDEN, "a handshake is posted by its own sender".into()));
        }
        if !members.contains(&p.me) && !p.external_commit {
            return Err(Refusal(StatusCode::FORBIDDEN, "not a member of this group".into()));
        }
        if !obs.external_join_allowed(&msg) {
            return Err(Refusal(StatusCode::FORBIDDEN, "this group is closed to external joins".into()));
        }
        let out = obs.process(&msg).map_err(refused)?;
        check_bound(tx, &out.new_keys, false)?;
        if out.commit != p.commit {
            return Err(bad("the kind given is not the message's"));
        }
        (out.before, out.after)
    };
    let deliver_to: Vec<String> = before.iter().filter(|n| **n != p.me).cloned().collect();
    let welcome_to: Vec<String> = if p.commit {
        after.difference(&before).filter(|n| **n != p.me).cloned().collect()
    } else {
        vec![]
    };
    if welcome_to.is_empty() != p.welcome.is_none() {
        return Err(bad("a commit that adds members carries their Welcome, and no other message does"));
    }
    let deliver_to: Vec<&str> = deliver_to.iter().map(String::as_str).collect();
    let welcome_to: Vec<&str> = welcome_to.iter().map(String::as_str).collect();
    let everyone: Vec<&str> = deliver_to.iter().chain(&welcome_to).copied().collect();
    let depths = tx.lock_queues(&everyone)?;
    // Two copies of one application message go to the same queues: the
    // second waits for the first's locks, then finds it.
    if application && let Some(seq) = again(tx)? {
        return Ok((seq, vec![]));
    }
    for (r, depth) in everyone.iter().zip(depths) {
        let depth = depth.ok_or_else(|| bad(format!("no client {r}")))?;
        // A full queue refuses messages and Welcomes, never a commit to a
        // member (see post_private).
        if (!p.commit || welcome_to.contains(r)) && depth >= sh.limits.max_queue {
            return Err(Refusal(StatusCode::TOO_MANY_REQUESTS, format!("the queue of {r} is full")));
        }
    }
    let seq = tx.append(&LogEntry {
        group_id: &p.group_id,
        epoch: p.epoch,
        kind: if p.commit { "commit" } else { "message" },
        sender: &p.me,
        digest: &d,
        body: &p.body,
        self_remove: p.self_remove,
    })?;
    if p.commit {
        // Under the group's lock, the observer has refused any other
        // commit for this epoch; the key refuses it anyway.
        if !tx.take_epoch(&p.group_id, p.epoch, &d, seq)? {
            return Err(Refusal(StatusCode::CONFLICT, format!("epoch {} already has a commit", p.epoch)));
        }
        // Garbage: the commits too old to be resent, and the SelfRemoves
        // of the epoch this commit ends that no queue holds any more.
        tx.forget_commits(&p.group_id, p.epoch.saturating_sub(sh.limits.commits_kept))?;
        tx.drop_self_removes(&p.group_id, p.epoch)?;
    }
    if let Some(obs) = &obs {
        store_observer(tx, &p.group_id, obs, &p.me)?;
    }
    tx.enqueue(seq, &deliver_to)?;
    // A message to nobody (a group's first commit, a lone member's message)
    // keeps only its place in the order; a SelfRemove stays for joiners.
    if deliver_to.is_empty() && !p.self_remove {
        tx.delete_entry(seq)?;
    }
    if let Some(w) = &p.welcome {
        log_welcome(tx, &p.group_id, p.epoch, &p.me, w, &welcome_to)?;
    }
    check_stored(tx, &sh.limits, &p.me)?;
    tx.notify(&everyone)?;
    Ok((seq, everyone.into_iter().map(str::to_owned).collect()))
}

/// [`put_group_info`] for a service that follows groups: the first
/// GroupInfo of a group starts its observer (checked as a joiner would,
/// and the uploader must be in it under its name); later ones must
/// describe the group's current epoch exactly.
fn put_group_info_observed(tx: &mut dyn Tx, sh: &Shared, me: &str, group_id: &[u8], epoch: i64, body: &[u8]) -> Result<(), Refusal> {
    tx.lock_group(group_id)?;
    let known = tx.followed(group_id)?;
    if known {
        let obs = load_observer(tx, group_id)?;
        obs.check_group_info(body).map_err(refused)?;
        if !obs.members().map_err(internal)?.contains(me) {
            return Err(Refusal(StatusCode::FORBIDDEN, "not a member of this group".into()));
        }
    } else {
        tx.lock_client(me)?;
        if tx.groups_introduced(me)? >= sh.limits.max_groups {
            return Err(Refusal(
                StatusCode::TOO_MANY_REQUESTS,
                format!("at most {} groups introduced per client", sh.limits.max_groups),
            ));
        }
        let obs = Observer::start(body).map_err(refused)?;
        // Under its name; every leaf's key is bound to its name.
        if obs.signature_key_of(me).is_none() {
            return Err(Refusal(StatusCode::FORBIDDEN, "the GroupInfo does not hold the uploader".into()));
        }
        check_bound(tx, &obs.keys(), false)?;
        store_observer(tx, group_id, &obs, me)?;
    }
    tx.put_group_info(group_id, epoch, body, false)?;
    if !known {
        check_stored(tx, &sh.limits, me)?;
    }
    Ok(())
}

async fn put_group_info(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    UrlPath(group): UrlPath<String>,
    Json(req): Json<wire::GroupInfo>,
) -> Result<Json<wire::Count>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let group_id = group_param(&group)?;
    let body = decode64(&req.group_info)?;
    let epoch = i64::try_from(req.epoch).map_err(|_| bad("epoch out of range"))?;
    if group_info_header(&body) != Some((group_id.clone(), req.epoch)) {
        return Err(bad("not a GroupInfo of this group and epoch"));
    }
    if !st.limits.private_handshakes {
        with_db(&st, move |tx, sh| put_group_info_observed(tx, sh, &me, &group_id, epoch, &body)).await?;
        return Ok(Json(wire::Count { count: 1 }));
    }
    with_db(&st, move |tx, _| {
        tx.lock_group(&group_id)?;
        if !may_post(tx, &group_id, &me, false)? {
            tx.add_member(&group_id, &me)?;
        }
        // No GroupInfo of an epoch the service has not seen a commit lead to.
        if tx.last_commit_epoch(&group_id)?.is_some_and(|l| epoch > l.saturating_add(1)) {
            return Err(bad(format!("epoch {epoch} is ahead of the group")));
        }
        // Only forward: an older GroupInfo never replaces a newer one.
        tx.put_group_info(&group_id, epoch, &body, true)?;
        Ok(())
    })
    .await?;
    Ok(Json(wire::Count { count: 1 }))
}

async fn get_group_info(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    UrlPath(group): UrlPath<String>,
) -> Result<Json<wire::GroupInfo>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let group_id = group_param(&group)?;
    let (epoch, body, removes) = with_db(&st, move |tx, sh| {
        // A group the service follows hands its GroupInfo to its members,
        // and to anyone once its members open it to external joins.
        if !sh.limits.private_handshakes {
            let obs = load_observer(tx, &group_id).map_err(|r| match r.0 {
                StatusCode::PRECONDITION_FAILED => Refusal(StatusCode::NOT_FOUND, "no GroupInfo for this group".into()),
                _ => r,
            })?;
            if !obs.open_to_external_joins() && !obs.members().map_err(internal)?.contains(&me) {
                return Err(Refusal(StatusCode::FORBIDDEN, "this group is closed to external joins".into()));
            }
        }
        let (epoch, body) = tx
            .group_info(&group_id)?
            .ok_or_else(|| Refusal(StatusCode::NOT_FOUND, "no GroupInfo for this group".into()))?;
        let removes = tx.self_removes(&group_id, epoch)?;
        Ok((epoch, body, removes))
    })
    .await?;
    Ok(Json(wire::GroupInfo {
        epoch: u64::try_from(epoch).unwrap_or(0),
        group_info: B64.encode(body),
        self_removes: removes.into_iter().map(|r| B64.encode(r)).collect(),
    }))
}

async fn poll(
    State(st): State<St>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<wire::Poll>,
) -> Result<Json<wire::Deliveries>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    let deadline = Instant::now() + Duration::from_secs(q.wait.min(30));
    let limit = i64::from(q.limit.unwrap_or(1000).clamp(1, 1000));
    // An answer of at most about 4 MiB of message bytes (always at least
    // one entry), so that a client's response limit is never reached.
    let max_bytes = 4usize << 20;
    // Without a wait, nothing wakes us: the first answer is the answer.
    let waiting = if q.wait > 0 { Some(Waiting::new(&st, &me)?) } else { None };
    let idle = tokio::sync::Notify::new();
    let notify: &tokio::sync::Notify = waiting.as_ref().map_or(&idle, |w| &w.notify);
    loop {
        // Registered before the query, so that a message posted between
        // the query and the wait still wakes us.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (name, after) = (me.clone(), q.after);
        let messages = with_read(&st, move |tx, _| {
            let rows = tx.deliveries(&name, after, limit, max_bytes)?;
            Ok(rows
                .into_iter()
                .map(|m| wire::Delivery {
                    id: m.id,
                    group: hex::encode(m.group_id),
                    kind: m.kind,
                    sender: m.sender,
                    epoch: u64::try_from(m.epoch).unwrap_or(0),
                    body: B64.encode(m.body),
                })
                .collect::<Vec<_>>())
        })
        .await?;
        let now = Instant::now();
        if !messages.is_empty() || now >= deadline {
            return Ok(Json(wire::Deliveries { messages }));
        }
        let _ = tokio::time::timeout(deadline - now, notified).await;
    }
}

async fn ack(State(st): State<St>, peer: Peer, headers: HeaderMap, Json(req): Json<wire::Ack>) -> Result<Json<wire::Count>, Refusal> {
    let me = caller(&st, &peer, &headers).await?;
    // An entry no queue holds any more leaves the log: the service keeps
    // no history. A SelfRemove stays, for the external joiners of its
    // epoch; a commit's answer to a resend is in commit_epoch.
    let count = with_db(&st, move |tx, _| Ok(tx.ack(&me, req.upto)?)).await?;
    Ok(Json(wire::Count { count }))
}

/// The service's routes over its state.
pub fn router(store: Arc<dyn Storage>, limits: Limits) -> Router {
    let max_body = limits.max_body;
    // To read headers of pairs and of commits carrying the extensions'
    // proposals, outside any group.
    mlsx_combiner::register_syntax();
    let shared = Arc::new(Shared {
        store: store.clone(),
        waiters: Mutex::new(HashMap::new()),
        limits,
        buckets: Mutex::new(HashMap::new()),
        ext: mlsx_extensions::Extensions::new(),
        tokens: Mutex::new(HashMap::new()),
    });
    // Wake-ups sent by the other processes on the same database.
    let (weak, alive) = (Arc::downgrade(&shared), Arc::downgrade(&shared));
    store.listen(
        Arc::new(move |name: Option<&str>| {
            if let Some(st) = weak.upgrade() {
                wake_here(&st, name);
            }
        }),
        Arc::new(move || alive.strong_count() > 0),
    );
    Router::new()
        .route("/v1/register", post(register))
        .route("/v1/keys", post(add_key))
        .route("/v1/directory/{name}", get(directory))
        .route("/v1/key-packages", post(publish))
        .route("/v1/key-packages/{name}", get(fetch_key_package))
        .route("/v1/groups/{group}/messages", post(post_message))
        .route("/v1/groups/{group}/group-info", post(put_group_info).get(get_group_info))
        .route("/v1/queue", get(poll))
        .route("/v1/queue/ack", post(ack))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

/// Opens (or creates) the service's SQLite database.
pub fn open_db(path: &Path) -> crate::Result<Arc<dyn Storage>> {
    Database::Sqlite(path.to_owned()).open()
}

/// The service's TLS configuration from PEM files: its certificate chain
/// (leaf first) and private key. rustls on ring, TLS 1.2 and 1.3.
pub fn tls_config(cert: &Path, key: &Path) -> crate::Result<Arc<rustls::ServerConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| crate::Error::Config(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(crate::Error::Config(format!("{}: no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| crate::Error::Config(format!("{}: {e}", key.display())))?;
    // ring, as the client side (ureq) uses: its key exchange is classical
    // (X25519, P-256). rustls deprecates it for lacking X25519MLKEM768,
    // which needs aws-lc-rs (a C and CMake build) or a provider of our own
    // over the ML-KEM crates this workspace has: not done yet.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| crate::Error::Config(format!("TLS: {e}")))?;
    Ok(Arc::new(config))
}

/// Serves on `listener` until the process ends, in the clear (for
/// loopback: clients send tokens in the clear only there).
pub async fn serve(listener: tokio::net::TcpListener, db: Arc<dyn Storage>, limits: Limits) -> std::io::Result<()> {
    serve_with(listener, db, limits, None).await
}

/// Serves on `listener` until the process ends, over TLS when `tls` is
/// given: one task per connection, at most [`Limits::max_connections`] at
/// once (more are closed as they come), each with
/// [`Limits::header_timeout`] for its TLS handshake and for each
/// request's headers, and [`Limits::request_timeout`] for each request
/// (408 after it).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    db: Arc<dyn Storage>,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<()> {
    let timeouts = (limits.header_timeout, limits.request_timeout);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let app = router(db, limits);
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(c) => c,
            // Out of file descriptors, say: wait, and go on serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            match acceptor {
                None => serve_connection(stream, app, addr, timeouts).await,
                Some(a) => {
                    if let Ok(Ok(stream)) = tokio::time::timeout(timeouts.0, a.accept(stream)).await {
                        serve_connection(stream, app, addr, timeouts).await;
                    }
                }
            }
            drop(slot);
        });
    }
}

/// Serves one connection's requests (see [`serve_with`]).
async fn serve_connection<I>(io: I, app: Router, addr: SocketAddr, (header_timeout, request_timeout): (Duration, Duration))
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let service = hyper::service::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        let app = app.clone();
        async move {
            let req = req.map(axum::body::Body::new);
            match tokio::time::timeout(request_timeout, app.oneshot(req)).await {
                Ok(response) => response,
                Err(_) => Ok(Refusal(StatusCode::REQUEST_TIMEOUT, "request took too long".into()).into_response()),
            }
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    let _ = connection.await;
}

/// A service on its own thread (for tests and benchmarks): its address.
/// It runs until the process ends.
pub fn spawn(db_path: &Path, limits: Limits) -> crate::Result<SocketAddr> {
    spawn_with(db_path, limits, None)
}

/// [`spawn`], over TLS when `tls` is given.
pub fn spawn_with(db_path: &Path, limits: Limits, tls: Option<Arc<rustls::ServerConfig>>) -> crate::Result<SocketAddr> {
    spawn_on(&Database::Sqlite(db_path.to_owned()), limits, tls)
}

/// [`spawn_with`] on any [`Database`].
pub fn spawn_on(db: &Database, limits: Limits, tls: Option<Arc<rustls::ServerConfig>>) -> crate::Result<SocketAddr> {
    let db = db.open()?;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    std::thread::Builder::new().name("mlsx-ds".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            if let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) {
                let _ = serve_with(listener, db, limits, tls).await;
            }
        });
    })?;
    Ok(addr)
}
