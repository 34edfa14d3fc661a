//! The `mlsx` commands that run a client from a folder (`--dir`): each
//! opens the client's SQLite store, does one thing, and reports it as
//! lines for people or one JSON value (`--json`).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::client::{Client, ClientConfig, Event, GroupKind, KeyPackageOffer, Outgoing, OutgoingKind, Suites, show};
use crate::error::{Error, Result};
use crate::remote::{self, Answer, DsClient};
use crate::store::SqliteStore;

/// The database file in a client's folder.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("mlsx.db")
}

/// Opens the client in `dir`.
pub fn open(dir: &Path) -> Result<Client> {
    let path = db_path(dir);
    if !path.exists() {
        return Err(Error::NoClient);
    }
    warn_if_shared(dir);
    Client::open(Box::new(LockedStore::open(dir)?))
}

/// Reports, on standard error, a client folder or database that others
/// than its owner may read or enter: it holds signature and KeyPackage
/// private keys, group secrets, PSKs and the service token. The command
/// still runs (the user may share the folder on purpose); the message
/// says how to close it.
fn warn_if_shared(dir: &Path) {
    for (path, private) in [(dir.to_path_buf(), "700"), (db_path(dir), "600")] {
        if let Some(mode) = crate::store::wider_than_private(&path) {
            eprintln!(
                "warning: {} is open to other users (mode {mode:o}); it holds private keys: chmod {private} {}",
                path.display(),
                path.display()
            );
        }
    }
}

/// Creates the client folder (and its parents) if needed, the folder
/// itself with 0700 on Unix.
fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::DirBuilder::new().mode(0o700).create(dir)?;
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    warn_if_shared(dir);
    Ok(())
}

/// The store of a client folder, held by one process at a time: two
/// commands on the same client (two shells) would otherwise each load a
/// group, change it, and the second write would drop the first's epoch.
/// The lock (on `mlsx.lock`, released when the process ends, also by a
/// crash) is taken for the whole command; a second command waits.
#[derive(Debug)]
struct LockedStore {
    store: SqliteStore,
    _lock: std::fs::File,
}

impl LockedStore {
    fn open(dir: &Path) -> Result<Self> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("mlsx.lock"))?;
        lock.lock()?;
        Ok(Self {
            store: SqliteStore::open(&db_path(dir))?,
            _lock: lock,
        })
    }
}

impl crate::store::Store for LockedStore {
    fn get(&self, table: crate::store::Table, key: &[u8]) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        self.store.get(table, key)
    }

    fn list(&self, table: crate::store::Table) -> Result<crate::store::Records> {
        self.store.list(table)
    }

    fn apply(&mut self, batch: crate::store::Batch) -> Result<()> {
        self.store.apply(batch)
    }
}

/// What a command reports.
#[derive(Debug)]
pub struct Report {
    /// Lines for people.
    pub lines: Vec<String>,
    /// The same as JSON.
    pub json: Value,
}

impl Report {
    fn new(line: String, json: Value) -> Self {
        Self { lines: vec![line], json }
    }
}

/// `mlsx init`.
pub fn init(dir: &Path, config: ClientConfig, ds: Option<&str>, ds_ca: Option<&Path>) -> Result<Report> {
    // Read before anything is created: a wrong path leaves no client behind.
    let ca = ds_ca
        .map(|p| std::fs::read(p).map_err(|e| Error::Config(format!("{}: {e}", p.display()))))
        .transpose()?;
    create_private_dir(dir)?;
    let mut client = Client::create(Box::new(LockedStore::open(dir)?), config)?;
    match (ds, ca) {
        (Some(url), Some(ca)) => DsClient::new(url, None).register_with_ca(&mut client, &ca)?,
        (Some(url), None) => DsClient::new(url, None).register(&mut client)?,
        (None, Some(_)) => return Err(Error::Config("--ds-ca needs --ds".into())),
        (None, None) => {}
    }
    let c = client.config().clone();
    Ok(Report::new(
        format!(
            "initialized {} in {} (suite {:#06x}, PQ suite TBD{}, mode {}){}",
            c.name,
            dir.display(),
            c.t_suite,
            c.pq_suite,
            c.mode,
            ds.map(|u| format!(", registered at {u}")).unwrap_or_default()
        ),
        json!({"name": c.name, "t_suite": c.t_suite, "pq_suite": c.pq_suite, "mode": c.mode, "ds": ds}),
    ))
}

/// `mlsx key-package publish`: `count` of each kind, to the delivery
/// service or to `out` (one offer per line, hex).
pub fn publish(
    dir: &Path,
    kinds: &[GroupKind],
    suites: Option<Suites>,
    count: usize,
    last_resort: bool,
    out: Option<&Path>,
    tick: &dyn Fn(),
) -> Result<Report> {
    let mut client = open(dir)?;
    let suites = suites.unwrap_or_else(|| client.config().suites());
    let mut offers = vec![];
    for kind in kinds {
        for _ in 0..count {
            offers.extend(client.key_packages_in(*kind, suites, 1, last_resort)?);
            tick();
        }
    }
    let place = if let Some(path) = out {
        let text: Vec<String> = offers.iter().map(|o| o.to_bytes().map(hex::encode)).collect::<Result<_>>()?;
        std::fs::write(path, text.join("\n") + "\n")?;
        path.display().to_string()
    } else {
        remote::connect(&mut client)?.publish(&offers)?;
        "the delivery service".to_owned()
    };
    Ok(Report::new(
        format!("published {} KeyPackage offer(s) to {place}", offers.len()),
        json!({"published": offers.len(), "last_resort": last_resort}),
    ))
}

/// The group this client knows as `group`: its label, or (for groups
/// made through the library) its id as text or in hex.
fn resolve(client: &Client, group: &str) -> Result<Vec<u8>> {
    if let Some(id) = client.group_by_label(group)? {
        return Ok(id);
    }
    let ours = |id: &[u8]| -> Result<bool> { Ok(client.store().get(crate::store::Table::Group, id)?.is_some()) };
    if ours(group.as_bytes())? {
        return Ok(group.as_bytes().to_vec());
    }
    if let Ok(id) = hex::decode(group)
        && ours(&id)?
    {
        return Ok(id);
    }
    Err(Error::UnknownGroup(group.into()))
}

/// Another client's group given by its id (hex, as `mlsx group info`
/// prints it; text that is not hex is taken as the id itself).
fn group_id_arg(group: &str) -> Vec<u8> {
    hex::decode(group).unwrap_or_else(|_| group.as_bytes().to_vec())
}

/// `mlsx group create`.
pub fn create(dir: &Path, group: &str, kind: GroupKind, suites: Option<Suites>, media_types: &[String]) -> Result<Report> {
    let mut client = open(dir)?;
    let options = crate::client::GroupOptions {
        media_types: media_types.to_vec(),
        suites,
        ..Default::default()
    };
    // A random id: two clients' "team" never collide, and nobody can take
    // a group's id before its creator (or guess it).
    let info = client.create_named_group(group, kind, &options)?.info()?;
    Ok(Report::new(
        format!("created {} group {} at epoch {}", kind.as_str(), info.group, info.epoch),
        serde_json::to_value(&info).unwrap_or(Value::Null),
    ))
}

/// How a commit or message leaves.
#[derive(Debug, Clone)]
pub enum Route {
    /// Through the client's delivery service.
    Ds,
    /// Into files: the message at this path, a Welcome beside it
    /// (`.welcome`). A commit is final at once (the user orders commits).
    File(PathBuf),
}

fn route_of(out: Option<&Path>) -> Route {
    out.map_or(Route::Ds, |p| Route::File(p.to_path_buf()))
}

/// Sends `out` along `route` and settles it.
fn deliver(client: &mut Client, out: &Outgoing, route: &Route) -> Result<Vec<Event>> {
    match route {
        Route::Ds => {
            let ds = remote::connect(client)?;
            match remote::send(client, &ds, out)? {
                Answer::Accepted(_) => Ok(vec![]),
                Answer::Conflict(reason) => Err(Error::Ds(format!(
                    "refused our commit ({reason}); it was rolled back: run mlsx receive, then try again"
                ))),
                Answer::Refused(reason) => Err(Error::Ds(format!(
                    "refused our message for good ({reason}); a commit was rolled back"
                ))),
            }
        }
        Route::File(path) => {
            std::fs::write(path, &out.message)?;
            if let Some(w) = &out.welcome {
                std::fs::write(path.with_extension("welcome"), w)?;
            }
            if out.kind == OutgoingKind::Commit {
                client.group(&out.group)?.accepted()?;
            }
            Ok(vec![])
        }
    }
}

fn commit_report(client: &mut Client, verb: &str, out: &Outgoing) -> Result<Report> {
    let info = client.group(&out.group)?.info()?;
    let kind = match (info.pq_epoch, decode_is_pair(&out.message)) {
        (None, _) => "commit",
        (Some(_), true) => "FULL commit",
        (Some(_), false) => "PARTIAL commit",
    };
    Ok(Report::new(
        format!("{verb}: {kind}, group {} now at epoch {}", info.group, info.epoch),
        json!({"group": info.group, "epoch": info.epoch, "pq_epoch": info.pq_epoch, "commit": kind, "members": info.members, "bytes": out.message.len()}),
    ))
}

fn decode_is_pair(message: &[u8]) -> bool {
    mlsx_base::codec::decode::<mlsx_base::codec::MlsMessage>(message)
        .is_ok_and(|m| matches!(m.body, mlsx_base::codec::MlsMessageBody::Custom(_)))
}

/// `mlsx group add`: members by name (their offers from the delivery
/// service) or from offer files.
pub fn add(dir: &Path, group: &str, names: &[String], offer_files: &[PathBuf], out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let info = client.group(&resolve(&client, group)?)?.info()?;
    let kind = info.kind;
    let mut offers = vec![];
    for f in offer_files {
        let text = std::fs::read_to_string(f)?;
        let line = text
            .lines()
            .next()
            .ok_or_else(|| Error::Codec(format!("{}: no offer", f.display())))?;
        let bytes = hex::decode(line.trim()).map_err(|_| Error::Codec(format!("{}: not hex", f.display())))?;
        offers.push(KeyPackageOffer::from_bytes(&bytes)?);
    }
    if !names.is_empty() {
        let ds = remote::connect(&mut client)?;
        for n in names {
            offers.push(ds.key_package_in(n, kind, info.cipher_suite, info.pq_cipher_suite)?);
        }
    }
    let outgoing = client.group(&resolve(&client, group)?)?.add(&offers)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    let who: Vec<String> = offers.iter().map(|o| o.owner.clone()).collect();
    commit_report(&mut client, &format!("added {}", who.join(", ")), &outgoing)
}

/// `mlsx group join-external`: from the GroupInfo at the delivery service
/// (with the SelfRemoves of its epoch), or from a file
/// (`mlsx group group-info --out`); the commit goes to the delivery
/// service or, with `out`, to a file (then it is final at once).
pub fn join_external(dir: &Path, group: &str, kind: GroupKind, group_info: Option<&Path>, out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let target = group_id_arg(group);
    match (group_info, out) {
        (None, None) => {
            let ds = remote::connect(&mut client)?;
            match remote::join_external(&mut client, &ds, kind, &target)? {
                Answer::Accepted(_) => {}
                Answer::Conflict(reason) | Answer::Refused(reason) => {
                    return Err(Error::Ds(format!("refused our external commit ({reason}); try again")));
                }
            }
        }
        (Some(file), route) => {
            let info = std::fs::read(file)?;
            let outgoing = client.join_external(kind, &info, &[])?;
            // The group asked for: by its id, or by its name (the label
            // the join gave it).
            if outgoing.group != target && client.label_of(&outgoing.group)?.as_deref() != Some(group) {
                // Nothing sent yet: forget the pending join.
                let found = client.display(&outgoing.group);
                client.group(&outgoing.group)?.refused()?;
                return Err(Error::WrongGroup {
                    found,
                    expected: group.into(),
                });
            }
            deliver(&mut client, &outgoing, &route_of(route))?;
        }
        (None, Some(_)) => {
            return Err(Error::Config(
                "--out needs --group-info (the delivery service keeps GroupInfos)".into(),
            ));
        }
    }
    let id = match client.group_by_label(group)? {
        Some(id) if group_info.is_some() => id,
        _ => target,
    };
    let info = client.group(&id)?.info()?;
    Ok(Report::new(
        format!("joined {} by external commit at epoch {}", info.group, info.epoch),
        serde_json::to_value(&info).unwrap_or(Value::Null),
    ))
}

/// `mlsx group group-info`: writes the signed GroupInfo of the current
/// epoch (a pair in a hybrid session) for an external joiner.
pub fn group_info(dir: &Path, group: &str, out: &Path) -> Result<Report> {
    let mut client = open(dir)?;
    let g = client.group(&resolve(&client, group)?)?;
    let bytes = g.group_info()?;
    std::fs::write(out, &bytes)?;
    Ok(Report::new(
        format!("wrote the GroupInfo of {group} at epoch {} to {}", g.epoch(), out.display()),
        json!({"group": group, "epoch": g.epoch(), "bytes": bytes.len()}),
    ))
}

/// `mlsx group remove`.
pub fn remove(dir: &Path, group: &str, names: &[String], out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let outgoing = client.group(&resolve(&client, group)?)?.remove(names)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    commit_report(&mut client, &format!("removed {}", names.join(", ")), &outgoing)
}

/// `mlsx group update` / `mlsx group commit`.
pub fn update(dir: &Path, group: &str, full: bool, out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let outgoing = client.group(&resolve(&client, group)?)?.update(full)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    commit_report(&mut client, "committed", &outgoing)
}

/// `mlsx group external-joins`: opens the group to external joins, or
/// closes it, by a commit.
pub fn external_joins(dir: &Path, group: &str, open: bool, out: Option<&Path>) -> Result<Report> {
    let mut client = self::open(dir)?;
    let outgoing = client.group(&resolve(&client, group)?)?.set_external_joins(open)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    let what = if open {
        "opened to external joins"
    } else {
        "closed to external joins"
    };
    commit_report(&mut client, what, &outgoing)
}

/// `mlsx group psk`: a commit with PreSharedKey proposals for external
/// PSKs the client holds (`mlsx psk add`).
pub fn inject_psks(dir: &Path, group: &str, ids: &[String], out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let ids: Vec<Vec<u8>> = ids.iter().map(|i| i.as_bytes().to_vec()).collect();
    let outgoing = client.group(&resolve(&client, group)?)?.inject_psks(&ids)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    commit_report(&mut client, "injected the PSK(s)", &outgoing)
}

/// `mlsx psk add`: stores an external PSK shared out of band, given as hex
/// or read from a file (raw bytes), so that it does not show in the
/// process list.
pub fn psk_add(dir: &Path, id: &str, hex_secret: Option<&str>, file: Option<&Path>) -> Result<Report> {
    // `-` reads standard input, keeping the secret out of the process
    // list and the shell's history.
    let stdin = || -> Result<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(vec![]);
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        Ok(buf)
    };
    let secret = Zeroizing::new(match (hex_secret, file) {
        (Some("-"), None) => {
            let text = stdin()?;
            let text = std::str::from_utf8(&text).map_err(|_| Error::Config("--hex -: not hex".into()))?;
            hex::decode(text.trim()).map_err(|_| Error::Config("--hex -: not hex".into()))?
        }
        (Some(h), None) => hex::decode(h.trim()).map_err(|_| Error::Config("--hex: not hex".into()))?,
        (None, Some(f)) if f.as_os_str() == "-" => stdin()?.to_vec(),
        (None, Some(f)) => std::fs::read(f)?,
        _ => return Err(Error::Config("give the secret with --hex or --file".into())),
    });
    let mut client = open(dir)?;
    client.add_psk(id.as_bytes(), &secret)?;
    Ok(Report::new(
        format!("stored PSK {id} ({} bytes)", secret.len()),
        json!({"psk": id, "bytes": secret.len()}),
    ))
}

/// `mlsx psk remove`: deletes an external PSK (zeroed in the file).
pub fn psk_remove(dir: &Path, id: &str) -> Result<Report> {
    let mut client = open(dir)?;
    if !client.remove_psk(id.as_bytes())? {
        return Err(Error::UnknownPsk(id.into()));
    }
    Ok(Report::new(format!("removed PSK {id}"), json!({"psk": id})))
}

/// A suite given as a code point, decimal or `0x` hex.
fn suite_number(s: &str) -> Result<u16> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| Error::Config(format!("not a suite code point: {s}")))
}

/// A key as printed: its suite and the first bytes of its SHA-256.
fn key_line(suite: u16, key: &[u8], note: &str) -> (String, serde_json::Value) {
    use sha2::Digest;
    let fingerprint = hex::encode(sha2::Sha256::digest(key).get(..8).unwrap_or_default());
    (
        format!("suite {suite:#06x} key {fingerprint}{note}"),
        json!({"suite": suite, "signature_key": hex::encode(key), "fingerprint": fingerprint}),
    )
}

/// `mlsx key rotate`: a new signature key in `suite` (default the
/// client's traditional suite), bound to the name at the delivery service
/// (if any) by an authorization of the old key.
pub fn key_rotate(dir: &Path, suite: Option<&str>) -> Result<Report> {
    let mut client = open(dir)?;
    let suite = match suite {
        Some(s) => suite_number(s)?,
        None => client.config().t_suite,
    };
    let key = client.rotate_signature_key(suite)?;
    let registered = remote::has_service(&client)?;
    if registered {
        remote::connect(&mut client)?;
    }
    let (line, mut value) = key_line(suite, &key, if registered { ", bound at the delivery service" } else { "" });
    value["registered"] = json!(registered);
    Ok(Report::new(format!("new signature key: {line}"), value))
}

/// `mlsx key show`: the client's keys, or those the directory binds to
/// `name`.
pub fn key_show(dir: &Path, name: Option<&str>) -> Result<Report> {
    let mut client = open(dir)?;
    let lines: Vec<(String, serde_json::Value)> = match name {
        None => client.signature_keys()?.iter().map(|(s, k)| key_line(*s, k, "")).collect(),
        Some(name) => {
            let ds = remote::connect(&mut client)?;
            let keys = ds
                .directory(name)?
                .ok_or_else(|| Error::Ds(format!("no client {name} in the directory")))?;
            keys.iter()
                .map(|k| key_line(k.suite, &k.signature_key, if k.current { "" } else { " (rotated out)" }))
                .collect()
        }
    };
    Ok(Report {
        lines: lines.iter().map(|(l, _)| l.clone()).collect(),
        json: json!(lines.into_iter().map(|(_, v)| v).collect::<Vec<_>>()),
    })
}

/// `mlsx psk list`: the ids of the stored PSKs (never their secrets).
pub fn psk_list(dir: &Path) -> Result<Report> {
    let client = open(dir)?;
    let ids: Vec<String> = client.psk_ids()?.iter().map(|i| show(i)).collect();
    Ok(Report {
        lines: ids.clone(),
        json: json!(ids),
    })
}

/// `mlsx group propose`: Adds (members' offers from the delivery
/// service), Removes, or an Update (an Update pair in a hybrid session);
/// `mlsx group commit` (by anyone) commits them.
pub fn propose(dir: &Path, group: &str, add: &[String], remove: &[String], update: bool) -> Result<Report> {
    let mut client = open(dir)?;
    let mut offers = vec![];
    if !add.is_empty() {
        let kind = client.group(&resolve(&client, group)?)?.info()?.kind;
        let ds = remote::connect(&mut client)?;
        for n in add {
            offers.push(ds.key_package(n, kind)?);
        }
    }
    let outgoing = client.group(&resolve(&client, group)?)?.propose(&offers, remove, update)?;
    for o in &outgoing {
        deliver(&mut client, o, &Route::Ds)?;
    }
    Ok(Report::new(
        format!("sent {} proposal(s) to {group}", outgoing.len()),
        json!({"group": group, "proposals": outgoing.len()}),
    ))
}

/// `mlsx group leave`: a SelfRemove proposal (extended groups); another
/// member's next commit removes us.
pub fn leave(dir: &Path, group: &str, out: Option<&Path>) -> Result<Report> {
    let mut client = open(dir)?;
    let outgoing = client.group(&resolve(&client, group)?)?.leave()?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    Ok(Report::new(
        format!("asked to leave {group}: the next commit removes us"),
        json!({"group": group, "epoch": outgoing.epoch}),
    ))
}

/// `mlsx send`, with SafeAAD items (`component:text`) in extended groups.
pub fn send(dir: &Path, group: &str, text: &str, media_type: Option<&str>, aad: &[String], out: Option<&Path>) -> Result<Report> {
    let mut items = vec![];
    for a in aad {
        let (c, d) = a
            .split_once(':')
            .ok_or_else(|| Error::Config(format!("--aad {a}: give COMPONENT:TEXT")))?;
        let c = c.trim_start_matches("0x");
        let id = u16::from_str_radix(c, 16).map_err(|_| Error::Config(format!("--aad {a}: the component id is hex")))?;
        items.push((id, d.as_bytes().to_vec()));
    }
    let mut client = open(dir)?;
    if out.is_none() {
        // Settle a commit a crash left pending before sending in its epoch.
        let ds = remote::connect(&mut client)?;
        remote::resolve_pending(&mut client, &ds)?;
    }
    let outgoing = client
        .group(&resolve(&client, group)?)?
        .send_media(text.as_bytes(), media_type, &items)?;
    deliver(&mut client, &outgoing, &route_of(out))?;
    Ok(Report::new(
        format!("sent {} bytes to {} in epoch {}", text.len(), group, outgoing.epoch),
        json!({"group": group, "epoch": outgoing.epoch, "bytes": outgoing.message.len(), "recipients": outgoing.recipients}),
    ))
}

fn event_line(group: &str, sender: &str, e: &Event) -> String {
    match e {
        Event::Message {
            sender: s,
            data,
            safe_aad,
            media_type,
        } => {
            let aad: String = safe_aad
                .iter()
                .map(|(c, d)| format!(" [aad {c:#06x}: {}]", String::from_utf8_lossy(d)))
                .collect();
            let t = media_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default();
            format!("[{group}] {s}{t}: {}{aad}", String::from_utf8_lossy(data))
        }
        Event::EpochChanged { epoch, kind } => format!("[{group}] {kind} by {sender}: epoch {epoch}"),
        Event::MemberAdded { name } => format!("[{group}] {name} joined"),
        Event::MemberRemoved { name } => format!("[{group}] {name} left"),
        Event::RemovedSelf => format!("[{group}] we were removed by {sender}"),
        Event::Proposal => format!("[{group}] proposal from {sender}"),
        Event::Joined { group } => format!("[{group}] joined (Welcome from {sender})"),
        Event::AppDataChanged { component } => format!("[{group}] component {component:#06x}'s data changed by {sender}"),
        Event::AppEphemeral {
            component,
            sender: s,
            data,
        } => format!("[{group}] {s} to component {component:#06x}: {}", String::from_utf8_lossy(data)),
    }
}

/// `mlsx receive`: the queue at the delivery service, or one message file
/// (a Welcome needs no `group`). From a file, a refused message is an
/// error and the store is unchanged; from the queue, it is reported and
/// skipped.
///
/// From the queue, every entry's outcome is kept in the client's store with
/// the entry's effects (one transaction) and handed to `display` before it
/// is deleted (not when `display` fails): a crash at any point loses
/// nothing, and shows again at most what `display` had when the process
/// died. With `out`, the outcomes are
/// appended to that file as JSON lines exactly once, crashes included
/// ([`remote::InboxSink`]), and `display` gets a summary. A group whose state
/// cannot be loaded stops the receipt with an error naming it, after
/// showing what came before; its messages stay queued.
pub fn receive(
    dir: &Path,
    wait: u64,
    file: Option<&Path>,
    group: Option<&str>,
    out: Option<&Path>,
    display: &mut dyn FnMut(&Report) -> Result<()>,
) -> Result<()> {
    let mut client = open(dir)?;
    if let Some(path) = file {
        let bytes = std::fs::read(path)?;
        let is_welcome = mlsx_base::codec::decode::<mlsx_base::codec::MlsMessage>(&bytes).is_ok_and(|m| match &m.body {
            mlsx_base::codec::MlsMessageBody::Welcome(_) => true,
            mlsx_base::codec::MlsMessageBody::Custom(_) => mlsx_combiner::ApqMessagePair::from_message(&m)
                .is_ok_and(|p| matches!(p.t_message.body, mlsx_base::codec::MlsMessageBody::Welcome(_))),
            _ => false,
        });
        let (g, events) = if is_welcome {
            let (id, ev) = client.join(&bytes)?;
            (client.display(&id), ev)
        } else {
            let g = group.ok_or_else(|| Error::Config("--group is needed for a message that is not a Welcome".into()))?;
            (g.to_owned(), client.group(&resolve(&client, g)?)?.process(&bytes)?)
        };
        let lines = events.iter().map(|e| event_line(&g, "file", e)).collect();
        return display(&Report {
            lines,
            json: json!([{"group": g, "events": events}]),
        });
    }
    let ds = remote::connect(&mut client)?;
    // Entries a crashed run kept but did not show come first.
    let received = remote::receive_to_inbox(&mut client, &ds, wait);
    if let Some(path) = out {
        let n = remote::InboxSink::open(&client, path)?.drain(&mut client)?;
        display(&Report::new(
            format!("{n} entries written to {}", path.display()),
            json!({"written": n, "file": path.display().to_string()}),
        ))?;
        return received.map(|_| ());
    }
    let entries = remote::inbox(&client)?;
    let mut lines = vec![];
    let mut json = vec![];
    for r in &entries {
        match &r.outcome {
            Ok(events) => {
                lines.extend(events.iter().map(|e| event_line(&r.group, &r.sender, e)));
                json.push(json!({"id": r.id, "group": r.group, "sender": r.sender, "events": events}));
            }
            Err(e) => {
                lines.push(format!("[{}] refused a message from {}: {e}", r.group, r.sender));
                json.push(json!({"id": r.id, "group": r.group, "sender": r.sender, "error": e}));
            }
        }
    }
    if lines.is_empty() && received.is_ok() {
        lines.push("nothing new".into());
    }
    if !lines.is_empty() {
        display(&Report {
            lines,
            json: Value::Array(json),
        })?;
    }
    if let Some(last) = entries.last() {
        remote::forget_inbox(&mut client, last.id)?;
    }
    received.map(|_| ())
}

/// `mlsx group info`.
pub fn info(dir: &Path, group: &str) -> Result<Report> {
    let mut client = open(dir)?;
    let info = client.group(&resolve(&client, group)?)?.info()?;
    let mut lines = vec![
        format!("group {} ({})", info.group, info.kind.as_str()),
        format!(
            "epoch {}{}",
            info.epoch,
            info.pq_epoch.map(|e| format!(", PQ epoch {e}")).unwrap_or_default()
        ),
        format!(
            "suite {:#06x}{}",
            info.cipher_suite,
            info.pq_cipher_suite.map(|s| format!(", PQ suite {s:#06x}")).unwrap_or_default()
        ),
        format!("members {}", info.members.join(", ")),
        format!("epoch authenticator {}", info.epoch_authenticator),
    ];
    if info.commit_pending {
        lines.push("a commit of ours waits for the delivery service".into());
    }
    Ok(Report {
        lines,
        json: serde_json::to_value(&info).unwrap_or(Value::Null),
    })
}

/// `mlsx group list`.
pub fn list(dir: &Path) -> Result<Report> {
    let client = open(dir)?;
    let groups: Vec<String> = client.groups()?.iter().map(|g| client.display(g)).collect();
    Ok(Report {
        lines: if groups.is_empty() {
            vec!["no groups".into()]
        } else {
            groups.clone()
        },
        json: json!(groups),
    })
}
