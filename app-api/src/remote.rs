//! A client of the delivery service ([`crate::ds`]), and the loops an
//! application runs over it: send a commit and settle it, resolve a commit
//! left pending by a crash, receive and process the queue.
//!
//! ```
//! use mlsx_app::remote::{self, Answer, DsClient};
//! use mlsx_app::{Client, ClientConfig, Event, GroupKind, MemoryStore};
//!
//! let db = std::env::temp_dir().join(format!("mlsx-doc-ds-{}.db", std::process::id()));
//! let url = format!("http://{}", mlsx_app::ds::spawn(&db, Default::default())?);
//! let mut alice = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("alice"))?;
//! let mut bob = Client::create(Box::new(MemoryStore::new()), ClientConfig::new("bob"))?;
//! DsClient::new(&url, None).register(&mut alice)?;
//! DsClient::new(&url, None).register(&mut bob)?;
//! // Each checks the credentials it meets against the service's directory.
//! let (ads, bds) = (remote::connect(&mut alice)?, remote::connect(&mut bob)?);
//!
//! bds.publish(&bob.key_packages(GroupKind::Hybrid, 1, false)?)?;
//! let offer = ads.key_package("bob", GroupKind::Hybrid)?;
//! let out = alice.create_group(b"team", GroupKind::Hybrid)?.add(&[offer])?;
//! assert!(matches!(remote::send(&mut alice, &ads, &out)?, Answer::Accepted(_)));
//! let hello = alice.group(b"team")?.send(b"hello")?;
//! remote::send(&mut alice, &ads, &hello)?;
//!
//! // bob's queue: the Welcome, then the message.
//! let events: Vec<Event> = remote::receive(&mut bob, &bds, 5)?
//!     .into_iter()
//!     .flat_map(|r| r.outcome.unwrap_or_default())
//!     .collect();
//! assert!(events.iter().any(|e| matches!(e, Event::Message { data, .. } if data == b"hello")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Client, Event, GroupKind, KeyPackageOffer, Outgoing, OutgoingKind, show};
use crate::error::{Error, Result};
use crate::store::{Batch, Table};
use crate::wire;

/// How a delivery service answered a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Taken, at this place in the group's log.
    Accepted(i64),
    /// Refused because another commit won the epoch.
    Conflict(String),
    /// Refused for good (malformed, not a member, too large): the same
    /// bytes will never be taken.
    Refused(String),
}

/// A connection to a delivery service. `Debug` does not show the token.
#[derive(Clone)]
pub struct DsClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

const URL_KEY: &[u8] = b"ds_url";
/// The certificates (PEM) a client trusts for its service, when not the
/// public web's roots.
const CA_KEY: &[u8] = b"ds_ca";
const TOKEN_KEY: &[u8] = b"ds_token";
/// The signature keys the service holds for this client (JSON list of
/// suite and hex key), so that only new ones are sent.
const KEYS_KEY: &[u8] = b"ds_keys";
const CURSOR_KEY: &[u8] = b"ds_cursor";
/// The queue position last acknowledged to the service (behind the
/// cursor when an acknowledgment failed: it is sent again).
const ACKED_KEY: &[u8] = b"ds_acked";

impl std::fmt::Debug for DsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DsClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish_non_exhaustive()
    }
}

impl DsClient {
    /// A connection to the service at `base` (`https://host:port`, or
    /// `http://` on loopback), trusting the public web's root certificates
    /// (Mozilla's, compiled in) for `https`.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self::build(base, token, ureq::tls::RootCerts::WebPki)
    }

    /// [`Self::new`], trusting only the certificates in `ca_pem` (PEM) for
    /// `https`: a service with a certificate of the deployment's own CA.
    pub fn with_ca(base: &str, token: Option<String>, ca_pem: &[u8]) -> Result<Self> {
        let certs = ureq::tls::parse_pem(ca_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                Ok(_) => None,
                Err(e) => Some(Err(Error::Config(format!("CA file: {e}")))),
            })
            .collect::<Result<Vec<_>>>()?;
        if certs.is_empty() {
            return Err(Error::Config("CA file: no certificate in it".into()));
        }
        Ok(Self::build(base, token, ureq::tls::RootCerts::new_with_certs(&certs)))
    }

    fn build(base: &str, token: Option<String>, roots: ureq::tls::RootCerts) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            agent,
        }
    }

    /// Refuses to send a token in the clear beyond this machine: `http://`
    /// only to a loopback host.
    fn check_transport(&self) -> Result<()> {
        let Some(rest) = self.base.strip_prefix("http://") else {
            return if self.base.starts_with("https://") {
                Ok(())
            } else {
                Err(Error::Config(format!(
                    "{}: the service's address is https://… or http://… on loopback",
                    self.base
                )))
            };
        };
        let host = rest.split('/').next().unwrap_or_default();
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "{}: plain http is for loopback only (tokens would travel in clear): use https://",
                self.base
            )))
        }
    }

    /// The same client (token and trusted roots) at another address of
    /// the same service: another `mlsx ds` process on the same PostgreSQL
    /// database. A client may move between them at any request.
    pub fn at(&self, base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: self.token.clone(),
            agent: self.agent.clone(),
        }
    }

    /// The connection stored in a client's store by [`Self::register`].
    pub fn of(client: &Client) -> Result<Self> {
        let url = client
            .store()
            .get(Table::Meta, URL_KEY)?
            .ok_or_else(|| Error::Config("no delivery service for this client (mlsx init --ds URL)".into()))?;
        let token = client.store().get(Table::Meta, TOKEN_KEY)?.ok_or(Error::Corrupt("ds token"))?;
        let (url, token) = (String::from_utf8_lossy(&url), Some(String::from_utf8_lossy(&token).into_owned()));
        match client.store().get(Table::Meta, CA_KEY)? {
            Some(ca) => Self::with_ca(&url, token, &ca),
            None => Ok(Self::new(&url, token)),
        }
    }

    /// [`Self::register`] with the service's CA certificates (PEM), kept
    /// in the client's store for later connections.
    pub fn register_with_ca(&mut self, client: &mut Client, ca_pem: &[u8]) -> Result<()> {
        *self = Self::with_ca(&self.base, self.token.take(), ca_pem)?;
        self.register(client)?;
        let mut batch = Batch::new();
        batch.put(Table::Meta, CA_KEY, ca_pem.to_vec());
        client.store_mut().apply(batch)
    }

    /// Registers `client` and stores the service's address and token in
    /// its store.
    pub fn register(&mut self, client: &mut Client) -> Result<()> {
        let keys = client.signature_keys()?;
        let proofs = keys
            .iter()
            .map(|(suite, key)| key_proof(client, *suite, key))
            .collect::<Result<Vec<_>>>()?;
        let token = self.register_keys(client.name(), &client.signature_key()?, proofs)?;
        let mut batch = Batch::new();
        batch.put(Table::Meta, KEYS_KEY, keys_record(&keys)?);
        // A new registration starts a new queue.
        batch
            .put(Table::Meta, URL_KEY, self.base.as_bytes().to_vec())
            .put(Table::Meta, TOKEN_KEY, token.as_bytes().to_vec())
            .delete(Table::Meta, CA_KEY)
            .delete(Table::Meta, CURSOR_KEY)
            .delete(Table::Meta, ACKED_KEY);
        client.store_mut().apply(batch)?;
        Ok(())
    }

    /// Registers a name with its signature keys, each with its proof of
    /// possession (`signature_key` is one of them), and uses the token it
    /// gets from now on (also returned).
    pub fn register_keys(&mut self, name: &str, signature_key: &[u8], keys: Vec<wire::KeyProof>) -> Result<String> {
        let r: wire::Registered = self.call(
            "POST",
            "/v1/register",
            Some(&wire::Register {
                name: name.to_owned(),
                signature_key: B64.encode(signature_key),
                keys,
            }),
        )?;
        self.token = Some(r.token.clone());
        Ok(r.token)
    }

    /// Registers `name` with a fresh Ed25519 key (suite 0x0001) that is
    /// then forgotten: a name for a program that reads and posts but never
    /// signs (a [`Client`] registers with [`Self::register`]). Returns the
    /// token, which this connection uses from now on.
    pub fn register_name(&mut self, name: &str) -> Result<String> {
        let cs = crate::directory::provider(1).ok_or_else(|| Error::Config("no suite 0x0001".into()))?;
        let (private, public) = cs.signature_generate_key_pair().map_err(mlsx_base::Error::from)?;
        let proof = crate::directory::sign_key(cs.as_ref(), &private, crate::directory::KEY_PROOF_LABEL, name, &public)?;
        let keys = vec![wire::KeyProof {
            suite: 1,
            signature_key: B64.encode(&public),
            proof: B64.encode(proof),
        }];
        self.register_keys(name, &public, keys)
    }

    /// The keys bound to `name` in the service's directory (`None` for an
    /// unknown name).
    pub fn directory(&self, name: &str) -> Result<Option<Vec<crate::directory::BoundKey>>> {
        match self.call_status::<wire::DirectoryEntry>("GET", &format!("/v1/directory/{}", path_segment(name)), None::<&()>)? {
            Ok(entry) => entry
                .keys
                .into_iter()
                .map(|k| {
                    Ok(crate::directory::BoundKey {
                        suite: k.suite,
                        signature_key: B64
                            .decode(&k.signature_key)
                            .map_err(|_| Error::Ds("a directory key is not base64".into()))?,
                        current: k.current,
                    })
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
            Err((404, _)) => Ok(None),
            Err((status, reason)) => Err(Error::Ds(format!("{reason} (HTTP {status})"))),
        }
    }

    /// Binds a new signature key to the caller's name ([`wire::AddKey`]).
    pub fn add_key(&self, request: &wire::AddKey) -> Result<()> {
        let _: wire::Count = self.call("POST", "/v1/keys", Some(request))?;
        Ok(())
    }

    fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<&impl Serialize>) -> Result<T> {
        match self.call_status(method, path, body)? {
            Ok(t) => Ok(t),
            Err((status, reason)) => Err(Error::Ds(format!("{reason} (HTTP {status})"))),
        }
    }

    fn call_status<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<Result<T, (u16, String)>> {
        self.check_transport()?;
        let url = format!("{}{}", self.base, path);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}")).unwrap_or_default();
        let response = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).header("authorization", &auth).send_json(b),
            _ => self.agent.get(&url).header("authorization", &auth).call(),
        };
        let mut response = response.map_err(|e| Error::Ds(format!("{url}: {e}")))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(Ok(response
                .body_mut()
                .read_json::<T>()
                .map_err(|e| Error::Ds(format!("{url}: {e}")))?))
        } else {
            let reason = response
                .body_mut()
                .read_json::<wire::Failure>()
                .map_or_else(|_| "no reason given".to_owned(), |f| f.error);
            Ok(Err((status, reason)))
        }
    }

    /// Publishes KeyPackage offers.
    pub fn publish(&self, offers: &[KeyPackageOffer]) -> Result<usize> {
        let offers = offers.iter().map(|o| Ok(B64.encode(o.to_bytes()?))).collect::<Result<Vec<_>>>()?;
        let r: wire::Count = self.call("POST", "/v1/key-packages", Some(&wire::Publish { offers }))?;
        Ok(r.count)
    }

    /// Takes one of `name`'s KeyPackage offers.
    pub fn key_package(&self, name: &str, kind: GroupKind) -> Result<KeyPackageOffer> {
        self.fetch_offer(name, kind, String::new())
    }

    /// Takes one of `name`'s offers in the given suites (code points; the
    /// PQ one for hybrid pairs).
    pub fn key_package_in(&self, name: &str, kind: GroupKind, t_suite: u16, pq_suite: Option<u16>) -> Result<KeyPackageOffer> {
        let mut q = format!("&t_suite={t_suite}");
        if let Some(pq) = pq_suite {
            q.push_str(&format!("&pq_suite={pq}"));
        }
        self.fetch_offer(name, kind, q)
    }

    fn fetch_offer(&self, name: &str, kind: GroupKind, filter: String) -> Result<KeyPackageOffer> {
        let kind = kind.as_str();
        let path = format!("/v1/key-packages/{}?kind={kind}{filter}", path_segment(name));
        let r: wire::Offer = self.call("GET", &path, None::<&()>)?;
        let offer = KeyPackageOffer::from_bytes(&B64.decode(r.offer).map_err(|_| Error::Ds("bad base64".into()))?)?;
        if offer.owner != name || !offer.names(name) {
            return Err(Error::Ds(format!("the service gave an offer that is not {name}'s")));
        }
        Ok(offer)
    }

    /// Sends a message. A group the service does not follow yet is an
    /// error (HTTP 412): [`send`] first uploads its GroupInfo.
    pub fn post(&self, out: &Outgoing) -> Result<Answer> {
        self.post_or_unknown(out)?
            .ok_or_else(|| Error::Ds("unknown group: a member uploads its GroupInfo first (HTTP 412)".into()))
    }

    /// [`Self::post`], with `None` for a group the service does not follow.
    fn post_or_unknown(&self, out: &Outgoing) -> Result<Option<Answer>> {
        let path = format!("/v1/groups/{}/messages", hex::encode(&out.group));
        Ok(Some(
            match self.call_status::<wire::Posted>("POST", &path, Some(&wire::post_body(out)))? {
                Ok(p) => Answer::Accepted(p.seq),
                Err((412, _)) => return Ok(None),
                Err((status, reason)) if wire::is_conflict(status) => Answer::Conflict(reason),
                // Malformed, forbidden, too large: for good.
                Err((status @ (400 | 403 | 413), reason)) => Answer::Refused(format!("{reason} (HTTP {status})")),
                Err((status, reason)) => return Err(Error::Ds(format!("{reason} (HTTP {status})"))),
            },
        ))
    }

    /// Stores the GroupInfo of `epoch` for external joiners.
    pub fn put_group_info(&self, group: &[u8], epoch: u64, group_info: &[u8]) -> Result<()> {
        let _: wire::Count = self.call(
            "POST",
            &format!("/v1/groups/{}/group-info", hex::encode(group)),
            Some(&wire::GroupInfo {
                epoch,
                group_info: B64.encode(group_info),
                self_removes: vec![],
            }),
        )?;
        Ok(())
    }

    /// The latest GroupInfo of a group and the SelfRemove proposals of its
    /// epoch.
    pub fn group_info(&self, group: &[u8]) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
        let r: wire::GroupInfo = self.call("GET", &format!("/v1/groups/{}/group-info", hex::encode(group)), None::<&()>)?;
        let d = |s: &str| B64.decode(s).map_err(|_| Error::Ds("bad base64".into()));
        Ok((d(&r.group_info)?, r.self_removes.iter().map(|s| d(s)).collect::<Result<_>>()?))
    }

    /// Queue entries after `after`, waiting up to `wait` seconds for one.
    pub fn poll(&self, after: i64, wait: u64) -> Result<Vec<wire::Delivery>> {
        let r: wire::Deliveries = self.call("GET", &format!("/v1/queue?after={after}&wait={wait}"), None::<&()>)?;
        Ok(r.messages)
    }

    /// Deletes queue entries up to `upto`.
    pub fn ack(&self, upto: i64) -> Result<()> {
        let _: wire::Count = self.call("POST", "/v1/queue/ack", Some(&wire::Ack { upto }))?;
        Ok(())
    }
}

/// The proof of possession of `client`'s `key` for `suite`.
fn key_proof(client: &Client, suite: u16, key: &[u8]) -> Result<wire::KeyProof> {
    Ok(wire::KeyProof {
        suite,
        signature_key: B64.encode(key),
        proof: B64.encode(client.sign_key((suite, Some(key)), crate::directory::KEY_PROOF_LABEL, suite, key)?),
    })
}

fn keys_record(keys: &[(u16, Vec<u8>)]) -> Result<Vec<u8>> {
    let hex: Vec<(u16, String)> = keys.iter().map(|(s, k)| (*s, hex::encode(k))).collect();
    serde_json::to_vec(&hex).map_err(|e| Error::Config(e.to_string()))
}

/// The keys the service holds for `client`, as far as it knows.
fn registered_keys(client: &Client) -> Result<Vec<(u16, Vec<u8>)>> {
    let Some(bytes) = client.store().get(Table::Meta, KEYS_KEY)? else {
        // Registered before the directory had suites: the service holds
        // the traditional key (as good for any suite).
        return Ok(vec![(client.config().t_suite, client.signature_key()?)]);
    };
    let hex: Vec<(u16, String)> = serde_json::from_slice(&bytes).map_err(|_| Error::Corrupt("ds keys"))?;
    hex.into_iter()
        .map(|(s, k)| Ok((s, hex::decode(k).map_err(|_| Error::Corrupt("ds keys"))?)))
        .collect()
}

/// Whether `client` is registered at a delivery service.
pub fn has_service(client: &Client) -> Result<bool> {
    Ok(client.store().get(Table::Meta, URL_KEY)?.is_some())
}

/// The connection of a registered client ([`DsClient::of`]), set up as
/// the client of a service should be: every credential the client meets
/// is checked against the service's directory ([`crate::directory`],
/// through a cache), and the signature keys the client made since it
/// registered (for groups in other suites) are bound to its name first.
pub fn connect(client: &mut Client) -> Result<DsClient> {
    let ds = DsClient::of(client)?;
    let lookup = ds.clone();
    let directory = crate::directory::CachedDirectory::new(Box::new(move |name: &str| lookup.directory(name)));
    client.set_directory(Some(std::sync::Arc::new(directory)));
    sync_keys(client, &ds)?;
    Ok(ds)
}

/// Binds to the client's name every current signature key the service
/// does not hold yet, each authorized by a key it does (the first
/// registered). A key that replaces a suite's registered key is a
/// rotation: the old key authorizes it ([`crate::directory`]).
pub fn sync_keys(client: &mut Client, ds: &DsClient) -> Result<usize> {
    let mut registered = registered_keys(client)?;
    let mut added = 0;
    for (suite, key) in client.signature_keys()? {
        if registered.iter().any(|(s, k)| *s == suite && *k == key) {
            continue;
        }
        // A rotation is signed by the suite's key; a new suite by the
        // first key the service took.
        let (by_suite, by_key) = registered
            .iter()
            .rev()
            .find(|(s, _)| *s == suite)
            .or_else(|| registered.first())
            .cloned()
            .ok_or_else(|| Error::Config("no key of this client is registered: register again".into()))?;
        let authorization = client.sign_key((by_suite, Some(&by_key)), crate::directory::KEY_AUTHORIZATION_LABEL, suite, &key)?;
        ds.add_key(&wire::AddKey {
            key: key_proof(client, suite, &key)?,
            authorizer_suite: by_suite,
            authorizer_key: B64.encode(&by_key),
            authorization: B64.encode(authorization),
        })?;
        registered.retain(|(s, _)| *s != suite);
        registered.push((suite, key));
        let mut batch = Batch::new();
        batch.put(Table::Meta, KEYS_KEY, keys_record(&registered)?);
        client.store_mut().apply(batch)?;
        added += 1;
    }
    Ok(added)
}

/// Sends `out` and settles it: a commit the service takes is final, one it
/// refuses is rolled back (an error saying so is returned). Other messages
/// are simply sent.
///
/// A group the service does not follow yet (a new group's first message)
/// is introduced first: its current GroupInfo, with the ratchet tree,
/// starts the service's observer of it.
pub fn send(client: &mut Client, ds: &DsClient, out: &Outgoing) -> Result<Answer> {
    let answer = match ds.post_or_unknown(out)? {
        Some(a) => a,
        None => {
            let (epoch, info) = client.group(&out.group)?.base_group_info()?;
            ds.put_group_info(&out.group, epoch, &info)?;
            ds.post(out)?
        }
    };
    if out.kind == OutgoingKind::Commit {
        let mut g = client.group(&out.group)?;
        match &answer {
            Answer::Accepted(_) => {
                g.accepted()?;
                // For external joiners: the new epoch's GroupInfo. The
                // commit is final whatever happens to this upload; a
                // failed one leaves the previous GroupInfo (external
                // joiners then fail and retry after the next commit).
                if let Ok(info) = g.group_info() {
                    let _ = ds.put_group_info(&out.group, g.epoch(), &info);
                }
            }
            Answer::Conflict(_) | Answer::Refused(_) => g.refused()?,
        }
    }
    Ok(answer)
}

/// Joins a group by external commit from the GroupInfo the delivery
/// service holds, and settles the commit.
pub fn join_external(client: &mut Client, ds: &DsClient, kind: GroupKind, group: &[u8]) -> Result<Answer> {
    let (info, self_removes) = ds.group_info(group)?;
    let self_removes = if kind == GroupKind::Extended { self_removes } else { vec![] };
    let out = client.join_external(kind, &info, &self_removes)?;
    send(client, ds, &out)
}

/// Settles every commit left pending (by a crash, or a lost answer) by
/// sending the same bytes again: the service answers as it did the first
/// time.
///
/// A group whose record cannot be read is [`Error::GroupUnavailable`].
pub fn resolve_pending(client: &mut Client, ds: &DsClient) -> Result<Settled> {
    let (done, unavailable) = resolve_what_loads(client, ds)?;
    match unavailable {
        Some(e) => Err(e),
        None => Ok(done),
    }
}

/// The commits [`resolve_pending`] settled: the group, and the answer.
type Settled = Vec<(Vec<u8>, Answer)>;

/// [`resolve_pending`] for every group whose record loads; the first that
/// does not, as [`Error::GroupUnavailable`], beside what was done.
fn resolve_what_loads(client: &mut Client, ds: &DsClient) -> Result<(Settled, Option<Error>)> {
    let mut done = vec![];
    let mut unavailable = None;
    for id in client.groups()? {
        match client.pending_commit(&id) {
            Ok(Some(out)) => {
                let answer = send(client, ds, &out)?;
                done.push((id, answer));
            }
            Ok(None) => {}
            Err(e) => {
                unavailable.get_or_insert(Error::GroupUnavailable {
                    group: show(&id),
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok((done, unavailable))
}

/// What [`receive`] did with one queue entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Received {
    /// The entry's position in the client's queue at the service.
    #[serde(default)]
    pub id: i64,
    /// The group.
    pub group: String,
    /// The sender.
    pub sender: String,
    /// The events, or why the message was refused (it is skipped).
    pub outcome: std::result::Result<Vec<Event>, String>,
}

impl Received {
    fn key(&self) -> Vec<u8> {
        self.id.to_be_bytes().to_vec()
    }

    /// Adds this outcome to the inbox in `batch`.
    fn keep_in(&self, batch: &mut Batch) -> Result<()> {
        let record = serde_json::to_vec(self).map_err(|e| Error::Codec(e.to_string()))?;
        batch.put(crate::store::Table::Inbox, self.key(), record);
        Ok(())
    }
}

/// The batch of a queue entry: the cursor past it and, when `kept`, its
/// outcome in the inbox.
fn entry_batch(id: i64, kept: Option<&Received>) -> Result<Batch> {
    let mut batch = Batch::new();
    batch.put(Table::Meta, CURSOR_KEY, id.to_be_bytes().to_vec());
    if let Some(r) = kept {
        r.keep_in(&mut batch)?;
    }
    Ok(batch)
}

/// Resolves pending commits, then fetches the queue (waiting up to `wait`
/// seconds for something) and processes every entry in order, each with
/// the queue position in the same transaction, so that a crash neither
/// loses nor repeats one. A message that fails is reported and skipped.
///
/// What is returned lives in memory only: a process that dies before
/// using it loses it (the queue has moved on). Applications that show
/// messages to people use [`receive_to_inbox`] and [`inbox`].
///
/// A group whose stored state cannot be loaded (a corrupt record, a
/// storage failure) stops the receipt at its first entry with
/// [`Error::GroupUnavailable`]: what came before is processed and
/// acknowledged, nothing from that entry on is, so the service keeps it.
pub fn receive(client: &mut Client, ds: &DsClient, wait: u64) -> Result<Vec<Received>> {
    receive_entries(client, ds, wait, false)
}

/// [`receive`], keeping each entry's outcome in the client's inbox
/// ([`Table::Inbox`](crate::store::Table::Inbox)) in the transaction
/// that processes the entry: a crash at any point after that loses
/// nothing, and [`inbox`] and [`forget_inbox`] hand each kept outcome to
/// the application. Returns how many entries were processed.
pub fn receive_to_inbox(client: &mut Client, ds: &DsClient, wait: u64) -> Result<usize> {
    Ok(receive_entries(client, ds, wait, true)?.len())
}

/// The outcomes kept by [`receive_to_inbox`] and not yet shown, in queue
/// order. Show them, then [`forget_inbox`] them: a crash in between shows
/// them again, never loses them ([`InboxSink`] writes a file of them
/// exactly once).
pub fn inbox(client: &Client) -> Result<Vec<Received>> {
    client
        .store()
        .list(crate::store::Table::Inbox)?
        .iter()
        .map(|(_, v)| serde_json::from_slice(v).map_err(|_| Error::Corrupt("inbox")))
        .collect()
}

/// Deletes the inbox's outcomes up to queue position `through`, once shown.
pub fn forget_inbox(client: &mut Client, through: i64) -> Result<()> {
    let mut batch = Batch::new();
    for r in inbox(client)?.iter().filter(|r| r.id <= through) {
        batch.delete(crate::store::Table::Inbox, r.key());
    }
    client.store_mut().apply(batch)
}

fn receive_entries(client: &mut Client, ds: &DsClient, wait: u64, keep: bool) -> Result<Vec<Received>> {
    // A group that cannot be loaded is reported at the end (or where its
    // first entry stops the receipt); the others go on.
    let (_, unavailable) = resolve_what_loads(client, ds)?;
    let cursor = cursor(client)?;
    // An acknowledgment that failed last time (the service process died
    // after answering the poll): again, or the entries stay queued.
    if read_position(client, ACKED_KEY)? < cursor && ds.ack(cursor).is_ok() {
        client.store_mut().apply(acked_batch(cursor))?;
    }
    let entries = ds.poll(cursor, wait)?;
    let mut out = vec![];
    let mut done = cursor;
    let mut stopped = None;
    for d in entries {
        // A service that repeats or rewinds positions does not move the
        // cursor back or overwrite a kept outcome.
        if d.id <= done {
            continue;
        }
        let decoded = match (B64.decode(&d.body), hex::decode(&d.group)) {
            (Ok(body), Ok(group)) => Some((body, group)),
            _ => None,
        };
        let base = Received {
            id: d.id,
            group: decoded.as_ref().map_or_else(|| d.group.clone(), |(_, g)| client.display(g)),
            sender: d.sender.clone(),
            outcome: Ok(vec![]),
        };
        // A fault of an earlier call is not this entry's.
        let _ = client.take_directory_fault();
        // The entry's effects, its queue position and (kept) its outcome:
        // one transaction.
        let batch = entry_batch(d.id, None)?;
        let mut record = |events: &[Event], batch: &mut Batch| -> Result<()> {
            if keep {
                let r = Received {
                    group: joined_as(events).unwrap_or_else(|| base.group.clone()),
                    outcome: Ok(events.to_vec()),
                    ..base.clone()
                };
                r.keep_in(batch)?;
            }
            Ok(())
        };
        let outcome = match decoded {
            // A malformed entry: skip it rather than block the queue.
            None => Err(Error::Codec("malformed queue entry".into())),
            Some((body, _)) if d.kind == "welcome" => client.join_recording(&body, batch, &mut record).map(|(_, ev)| ev),
            Some((body, group)) => match client.group(&group) {
                Ok(mut g) => g.process_recording(&body, batch, &mut record),
                // Not (or no longer) ours: refused, skipped.
                Err(e @ Error::UnknownGroup(_)) => Err(e),
                // Ours, but unreadable: stop before this entry, so that
                // neither it nor anything after it is lost.
                Err(e) => {
                    stopped = Some(Error::GroupUnavailable {
                        group: show(&group),
                        reason: e.to_string(),
                    });
                    break;
                }
            },
        };
        let mut received = base;
        received.outcome = match outcome {
            Ok(ev) => {
                if let Some(label) = joined_as(&ev) {
                    received.group = label;
                }
                Ok(ev)
            }
            // The directory could not be asked about a credential: no
            // answer, so no refusal; stop here, the entry is read again.
            Err(e)
                if e.is_refusal()
                    && let Some(fault) = client.take_directory_fault() =>
            {
                stopped = Some(Error::Ds(format!("the directory could not be asked ({fault}); {e}")));
                break;
            }
            // The message is refused: skip it for good (kept as refused).
            Err(e) if e.is_refusal() => {
                received.outcome = Err(e.to_string());
                client.store_mut().apply(entry_batch(d.id, keep.then_some(&received))?)?;
                received.outcome
            }
            // Storage or the like: stop here; the entry is read again.
            Err(e) => {
                stopped = Some(e);
                break;
            }
        };
        done = d.id;
        out.push(received);
    }
    // A failed acknowledgment loses nothing: the outcomes are processed
    // and returned (or kept), and the next call acknowledges again.
    if done > cursor {
        match ds.ack(done) {
            Ok(()) => client.store_mut().apply(acked_batch(done))?,
            Err(e) => stopped = stopped.or(Some(e)),
        }
    }
    match stopped.or(unavailable) {
        // Without the inbox, the processed outcomes live only in what is
        // returned: return them, and the error comes back on the next call
        // (the cursor stopped before its entry).
        Some(_) if !keep && !out.is_empty() => Ok(out),
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The label a Welcome's group got, from the events of the join.
fn joined_as(events: &[Event]) -> Option<String> {
    events.iter().find_map(|e| match e {
        Event::Joined { group } => Some(group.clone()),
        _ => None,
    })
}

/// An append-only file that receives each inbox entry exactly once, as one
/// JSON line (the [`Received`] entry and `"to"`, the client's name),
/// across crashes. The file itself says how far it got: before writing,
/// an incomplete last line (a write cut short by a crash) is cut off, and
/// inbox entries up to the `id` of the last complete line (written, but
/// not yet deleted from the inbox when the process died) are deleted
/// without being written again. A file whose last line is not one of this
/// client's entries is refused: one file per client. Created 0600 on Unix
/// (it holds decrypted messages).
#[derive(Debug)]
pub struct InboxSink {
    file: std::fs::File,
    owner: String,
    last_written: Option<i64>,
}

/// The longest last line [`InboxSink`] reads back (a message's JSON line;
/// messages are bounded by the service's body limit).
const MAX_SINK_LINE: u64 = 16 << 20;

impl InboxSink {
    /// Opens (or creates) the file at `path`.
    pub fn open(client: &Client, path: &std::path::Path) -> Result<Self> {
        use std::io::{Read, Seek};
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).read(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        let owner = client.config().name.clone();
        let len = file.metadata()?.len();
        let start = len.saturating_sub(MAX_SINK_LINE);
        file.seek(std::io::SeekFrom::Start(start))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let not_ours = |why: &str| Error::Config(format!("{}: {why}: not this client's inbox file", path.display()));
        // Cut off an incomplete last line.
        let complete = match tail.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if start == 0 => 0,
            None => return Err(not_ours("last line too long")),
        };
        if complete < tail.len() {
            let keep = start + u64::try_from(complete).map_err(|_| Error::Corrupt("inbox file"))?;
            file.set_len(keep)?;
            file.sync_all()?;
        }
        let lines = tail.get(..complete).unwrap_or_default();
        let last_line = lines
            .strip_suffix(b"\n")
            .map(|l| l.rsplit(|b| *b == b'\n').next().unwrap_or(l))
            .filter(|l| !l.is_empty());
        let last_written = match last_line {
            None if start == 0 => None,
            None => return Err(not_ours("no complete line")),
            Some(line) => {
                let v: serde_json::Value = serde_json::from_slice(line).map_err(|_| not_ours("last line is not JSON"))?;
                if v.get("to").and_then(serde_json::Value::as_str) != Some(owner.as_str()) {
                    return Err(not_ours("last line is for another client"));
                }
                Some(
                    v.get("id")
                        .and_then(serde_json::Value::as_i64)
                        .ok_or_else(|| not_ours("last line has no id"))?,
                )
            }
        };
        Ok(Self { file, owner, last_written })
    }

    /// Writes every inbox entry not yet in the file as a line, deleting
    /// each from the inbox once written; returns how many were written.
    pub fn drain(&mut self, client: &mut Client) -> Result<usize> {
        use std::io::{Seek, Write};
        let mut n = 0;
        for r in inbox(client)? {
            if self.last_written.is_none_or(|last| r.id > last) {
                let mut v = serde_json::to_value(&r).map_err(|e| Error::Codec(e.to_string()))?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("to".into(), serde_json::Value::String(self.owner.clone()));
                }
                let mut line = serde_json::to_vec(&v).map_err(|e| Error::Codec(e.to_string()))?;
                line.push(b'\n');
                self.file.seek(std::io::SeekFrom::End(0))?;
                self.file.write_all(&line)?;
                self.file.sync_data()?;
                self.last_written = Some(r.id);
                n += 1;
            }
            let mut batch = Batch::new();
            batch.delete(crate::store::Table::Inbox, r.key());
            client.store_mut().apply(batch)?;
        }
        Ok(n)
    }
}

fn cursor(client: &Client) -> Result<i64> {
    read_position(client, CURSOR_KEY)
}

/// A queue position kept in the client's store (0 if none).
fn read_position(client: &Client, key: &[u8]) -> Result<i64> {
    Ok(match client.store().get(Table::Meta, key)? {
        Some(b) => i64::from_be_bytes(b.as_slice().try_into().map_err(|_| Error::Corrupt("queue position"))?),
        None => 0,
    })
}

fn acked_batch(upto: i64) -> Batch {
    let mut batch = Batch::new();
    batch.put(Table::Meta, ACKED_KEY, upto.to_be_bytes().to_vec());
    batch
}

/// `s` as one URL path segment: every byte but RFC 3986's unreserved
/// characters percent-encoded (names may hold `/`, `?`, `#`, spaces).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
