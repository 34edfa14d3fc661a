//! `mlsx._native`: the Python face of `mlsx-app` (PyO3). A thin layer: every
//! protocol decision is `mlsx-app`'s; this file converts arguments and
//! results, maps errors to a small exception hierarchy, and calls
//! components written in Python.
//!
//! A [`Group`] here is a name for a group of a [`Client`] (the client and
//! the group's id): each call loads the group from the client's store, acts,
//! and the group is stored before the call returns, as in `mlsx-app`. No
//! state is kept anywhere else.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use mlsx_app::client::GroupOptions;
use mlsx_app::{ClientBuilder, ClientConfig, ComponentKey, ErrorFamily, GroupKind, MemoryStore, Origin, Rejection, SqliteStore};
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

pyo3::create_exception!(
    _native,
    MlsxError,
    PyException,
    "Every error of mlsx; `kind` names the Rust error, `family` its family."
);
pyo3::create_exception!(
    _native,
    ProtocolError,
    MlsxError,
    "An input was refused (malformed, another group or epoch, a rule broken); nothing changed."
);
pyo3::create_exception!(
    _native,
    UsageError,
    MlsxError,
    "The call cannot be done as asked (a pending commit, an unknown name, the wrong kind of group)."
);
pyo3::create_exception!(
    _native,
    StorageError,
    MlsxError,
    "The store failed, cannot be read, or is held by another handle."
);
pyo3::create_exception!(mlsx, ServiceError, MlsxError, "The delivery service refused or failed.");

/// An `mlsx-app` error as the exception of its family, with `kind` (the
/// variant's name) and `family` attributes.
fn py_err(e: mlsx_app::Error) -> PyErr {
    let message = e.to_string();
    let (err, family) = match e.family() {
        ErrorFamily::Protocol => (ProtocolError::new_err(message), "protocol"),
        ErrorFamily::Storage => (StorageError::new_err(message), "storage"),
        ErrorFamily::Service => (ServiceError::new_err(message), "service"),
        _ => (UsageError::new_err(message), "usage"),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // Setting attributes on a fresh exception cannot fail in practice;
        // if it did, the exception is still the right class.
        let _ = value.setattr("kind", e.kind());
        let _ = value.setattr("family", family);
    });
    err
}

fn usage(message: impl Into<String>) -> PyErr {
    py_err(mlsx_app::Error::Config(message.into()))
}

fn bytes<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, b)
}

fn kind_of(name: &str) -> PyResult<GroupKind> {
    GroupKind::from_name(name).ok_or_else(|| usage(format!("no group kind {name:?} (plain, extended or hybrid)")))
}

// ---------------------------------------------------------------- components

thread_local! {
    /// Set while a component's callback runs on this thread: a callback
    /// may not call into any client (it would wait for a client held by
    /// the call it runs in, or for one whose callback waits for it).
    static IN_CALLBACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// What a callback raised that is not a refusal (an interrupt, an
    /// error of mlsx itself): raised again once the call that ran the
    /// callback has failed, instead of that call's error.
    static STASHED: std::cell::RefCell<Option<PyErr>> = const { std::cell::RefCell::new(None) };
}

/// Keeps `e` (the first of a call) to raise once the call has failed, and
/// makes the refusal that fails it.
fn stash(e: PyErr) -> Rejection {
    let text = e.to_string();
    STASHED.with(|s| {
        s.borrow_mut().get_or_insert(e);
    });
    Rejection::new(text)
}

/// The error a call that ran callbacks ends with: what a callback stashed,
/// if anything, else the call's own.
fn unstash<T>(result: PyResult<T>) -> PyResult<T> {
    match STASHED.with(|s| s.borrow_mut().take()) {
        Some(e) => Err(e),
        None => result,
    }
}

/// A component written in Python: an object with an `id` (int) and any of
/// `validate_data(place, data)`, `apply_updates(current, updates)`,
/// `allow_remove(current)`, `check_ephemeral(data)`, `check_aad_item(data)`
/// and `psk(psk_id)`, and `uses_safe_aad` (bool, or a method returning
/// one). A callback that raises an `Exception` refuses, with the
/// exception's text. Anything else it raises (`KeyboardInterrupt`, an
/// `MlsxError` from calling into a client) is not a refusal: the call
/// that ran the callback fails, changes nothing, and raises it.
#[derive(Debug)]
struct PyComponent {
    id: u16,
    safe_aad: bool,
    object: Py<PyAny>,
}

impl PyComponent {
    /// Calls `name(*args)` if the object has it: `None` if it does not.
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        args: impl pyo3::call::PyCallArgs<'py>,
    ) -> Option<Result<Bound<'py, PyAny>, Rejection>> {
        let object = self.object.bind(py);
        let result = match object.hasattr(name) {
            Ok(false) => return None,
            Ok(true) => {
                IN_CALLBACK.with(|c| c.set(true));
                let r = object.call_method1(name, args);
                IN_CALLBACK.with(|c| c.set(false));
                r
            }
            Err(e) => Err(e),
        };
        Some(result.map_err(|e| {
            if e.is_instance_of::<PyException>(py) && !e.is_instance_of::<MlsxError>(py) {
                Rejection::new(e.to_string())
            } else {
                stash(e)
            }
        }))
    }

    fn check(&self, name: &str, data: &[u8], default: Result<(), Rejection>) -> Result<(), Rejection> {
        Python::attach(|py| match self.call(py, name, (bytes(py, data),)) {
            None => default,
            Some(r) => r.map(|_| ()),
        })
    }
}

impl mlsx_app::Component for PyComponent {
    fn id(&self) -> u16 {
        self.id
    }

    fn validate_data(&self, place: mlsx_app::ExtensionContext, data: &[u8]) -> Result<(), Rejection> {
        let place = match place {
            mlsx_app::ExtensionContext::KeyPackage => "key_package",
            mlsx_app::ExtensionContext::LeafNode => "leaf_node",
            mlsx_app::ExtensionContext::GroupContext => "group_context",
            mlsx_app::ExtensionContext::GroupInfo => "group_info",
        };
        Python::attach(|py| match self.call(py, "validate_data", (place, bytes(py, data))) {
            None => Ok(()),
            Some(r) => r.map(|_| ()),
        })
    }

    fn apply_updates(&self, current: Option<&[u8]>, updates: &[(&[u8], Origin)]) -> Result<Vec<u8>, Rejection> {
        Python::attach(|py| {
            let list = PyList::new(py, updates.iter().map(|(u, _)| bytes(py, u))).map_err(|e| Rejection::new(e.to_string()))?;
            let current = current.map(|c| bytes(py, c));
            match self.call(py, "apply_updates", (current, list)) {
                None => Err(Rejection::new("this component takes no AppDataUpdate")),
                Some(r) => match r?.cast::<PyBytes>() {
                    Ok(out) => Ok(out.as_bytes().to_vec()),
                    // A programming error, not a refusal: raised once the
                    // call has failed.
                    Err(_) => Err(stash(PyTypeError::new_err("apply_updates must return bytes"))),
                },
            }
        })
    }

    fn allow_remove(&self, current: &[u8], _: &Origin) -> Result<(), Rejection> {
        self.check("allow_remove", current, Ok(()))
    }

    fn check_ephemeral(&self, data: &[u8], _: &Origin) -> Result<(), Rejection> {
        self.check(
            "check_ephemeral",
            data,
            Err(Rejection::new("this component takes no AppEphemeral data")),
        )
    }

    fn uses_safe_aad(&self) -> bool {
        self.safe_aad
    }

    fn check_aad_item(&self, data: &[u8]) -> Result<(), Rejection> {
        self.check("check_aad_item", data, Ok(()))
    }

    fn psk(&self, psk_id: &[u8]) -> Option<mlsx_app::Secret> {
        Python::attach(|py| {
            let r = self.call(py, "psk", (bytes(py, psk_id),))?.ok()?;
            if r.is_none() {
                return None;
            }
            match r.cast::<PyBytes>() {
                Ok(b) => Some(mlsx_app::Secret::new(b.as_bytes().to_vec())),
                Err(_) => {
                    stash(PyTypeError::new_err("psk must return bytes or None"));
                    None
                }
            }
        })
    }
}

/// Registers Python components with a builder; their keys, by id.
fn register(builder: &mut ClientBuilder, components: Vec<Py<PyAny>>) -> PyResult<HashMap<u16, ComponentKey>> {
    let mut keys = HashMap::new();
    Python::attach(|py| -> PyResult<()> {
        for object in components {
            let bound = object.bind(py);
            let id: u16 = bound.getattr("id")?.extract()?;
            let safe_aad = match bound.getattr("uses_safe_aad") {
                Ok(v) if v.is_callable() => v.call0()?.is_truthy()?,
                Ok(v) => v.is_truthy()?,
                Err(_) => false,
            };
            let key = builder.component(Arc::new(PyComponent { id, safe_aad, object })).map_err(py_err)?;
            keys.insert(id, key);
        }
        Ok(())
    })?;
    Ok(keys)
}

// ------------------------------------------------------------------- values

/// A message to send, with what the delivery service needs to route it.
#[pyclass(module = "mlsx._native", frozen, get_all)]
#[derive(Debug)]
struct Outgoing {
    /// The group (the traditional group's id in a hybrid session).
    group: Py<PyBytes>,
    /// The epoch the message was made in.
    epoch: u64,
    /// "commit" or "message".
    kind: &'static str,
    /// For a commit: "FULL" or "PARTIAL" in a hybrid session, "commit"
    /// otherwise; `None` for other messages.
    commit_kind: Option<&'static str>,
    /// The MLSMessage's bytes.
    message: Py<PyBytes>,
    /// The Welcome (or pair of Welcomes) of a commit that adds members.
    welcome: Option<Py<PyBytes>>,
    /// Who receives the message.
    recipients: Vec<String>,
    /// Who receives the Welcome.
    welcome_to: Vec<String>,
    /// Who the commit removes.
    removed: Vec<String>,
}

#[pymethods]
impl Outgoing {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Outgoing(kind={:?}, commit_kind={:?}, epoch={}, message={} bytes, welcome={})",
            self.kind,
            self.commit_kind,
            self.epoch,
            self.message.bind(py).as_bytes().len(),
            self.welcome
                .as_ref()
                .map_or("None".into(), |w| format!("{} bytes", w.bind(py).as_bytes().len()))
        )
    }
}

fn outgoing(py: Python<'_>, o: &mlsx_app::Outgoing, commit_kind: Option<&'static str>) -> Outgoing {
    Outgoing {
        group: bytes(py, &o.group).unbind(),
        epoch: o.epoch,
        kind: match o.kind {
            mlsx_app::OutgoingKind::Commit => "commit",
            mlsx_app::OutgoingKind::Message => "message",
        },
        commit_kind,
        message: bytes(py, &o.message).unbind(),
        welcome: o.welcome.as_ref().map(|w| bytes(py, w).unbind()),
        recipients: o.recipients.clone(),
        welcome_to: o.welcome_to.clone(),
        removed: o.removed.clone(),
    }
}

/// What happened, as the application sees it. `kind` is one of "message",
/// "epoch_changed", "member_added", "member_removed", "removed_self",
/// "proposal", "joined", "app_data_changed", "app_ephemeral"; the other
/// attributes are set where they apply, else `None`.
#[pyclass(module = "mlsx._native", frozen, get_all)]
#[derive(Debug)]
struct Event {
    kind: &'static str,
    sender: Option<String>,
    data: Option<Py<PyBytes>>,
    epoch: Option<u64>,
    /// "commit", "FULL" or "PARTIAL" for "epoch_changed".
    commit_kind: Option<String>,
    name: Option<String>,
    component: Option<u16>,
    safe_aad: Vec<(u16, Py<PyBytes>)>,
    media_type: Option<String>,
    group: Option<String>,
}

#[pymethods]
impl Event {
    fn __repr__(&self, py: Python<'_>) -> String {
        let mut parts = vec![format!("kind={:?}", self.kind)];
        if let Some(s) = &self.sender {
            parts.push(format!("sender={s:?}"));
        }
        if let Some(d) = &self.data {
            parts.push(format!("data={} bytes", d.bind(py).as_bytes().len()));
        }
        if let Some(e) = self.epoch {
            parts.push(format!("epoch={e}"));
        }
        if let Some(k) = &self.commit_kind {
            parts.push(format!("commit_kind={k:?}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("name={n:?}"));
        }
        if let Some(c) = self.component {
            parts.push(format!("component={c:#06x}"));
        }
        format!("Event({})", parts.join(", "))
    }
}

fn event(py: Python<'_>, e: &mlsx_app::Event) -> Event {
    let mut out = Event {
        kind: "",
        sender: None,
        data: None,
        epoch: None,
        commit_kind: None,
        name: None,
        component: None,
        safe_aad: vec![],
        media_type: None,
        group: None,
    };
    match e {
        mlsx_app::Event::Message {
            sender,
            data,
            safe_aad,
            media_type,
        } => {
            out.kind = "message";
            out.sender = Some(sender.clone());
            out.data = Some(bytes(py, data).unbind());
            out.safe_aad = safe_aad.iter().map(|(c, d)| (*c, bytes(py, d).unbind())).collect();
            out.media_type = media_type.clone();
        }
        mlsx_app::Event::EpochChanged { epoch, kind } => {
            out.kind = "epoch_changed";
            out.epoch = Some(*epoch);
            out.commit_kind = Some(kind.clone());
        }
        mlsx_app::Event::MemberAdded { name } => {
            out.kind = "member_added";
            out.name = Some(name.clone());
        }
        mlsx_app::Event::MemberRemoved { name } => {
            out.kind = "member_removed";
            out.name = Some(name.clone());
        }
        mlsx_app::Event::RemovedSelf => out.kind = "removed_self",
        mlsx_app::Event::Proposal => out.kind = "proposal",
        mlsx_app::Event::Joined { group } => {
            out.kind = "joined";
            out.group = Some(group.clone());
        }
        mlsx_app::Event::AppDataChanged { component } => {
            out.kind = "app_data_changed";
            out.component = Some(*component);
        }
        mlsx_app::Event::AppEphemeral { component, sender, data } => {
            out.kind = "app_ephemeral";
            out.component = Some(*component);
            out.sender = Some(sender.clone());
            out.data = Some(bytes(py, data).unbind());
        }
        _ => out.kind = "unknown",
    }
    out
}

fn events(py: Python<'_>, list: &[mlsx_app::Event]) -> Vec<Event> {
    list.iter().map(|e| event(py, e)).collect()
}

/// A KeyPackage (or a hybrid pair) a client offers to be added with.
#[pyclass(module = "mlsx._native", frozen)]
#[derive(Debug)]
struct KeyPackageOffer {
    inner: mlsx_app::KeyPackageOffer,
}

#[pymethods]
impl KeyPackageOffer {
    /// Reads an offer's bytes (`to_bytes`); `ProtocolError` if malformed.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Self {
            inner: mlsx_app::KeyPackageOffer::from_bytes(data).map_err(py_err)?,
        })
    }

    /// The offer as bytes, to publish or pass around.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(bytes(py, &self.inner.to_bytes().map_err(py_err)?))
    }

    /// Its owner's name.
    #[getter]
    fn owner(&self) -> String {
        self.inner.owner.clone()
    }

    /// "plain", "extended" or "hybrid".
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }

    fn __repr__(&self) -> String {
        format!("KeyPackageOffer(owner={:?}, kind={:?})", self.inner.owner, self.inner.kind.as_str())
    }
}

// -------------------------------------------------------------------- client

/// A client: its identities, KeyPackages and groups, in memory or in an
/// SQLite file.
#[pyclass(module = "mlsx._native", frozen)]
#[derive(Debug)]
struct Client {
    inner: Mutex<mlsx_app::Client>,
    keys: HashMap<u16, ComponentKey>,
}

impl Client {
    /// Holds the client for one call. Another thread's call is waited for
    /// without holding the interpreter (its component callbacks need it).
    /// This thread can hold it already only from a component callback of
    /// the call in progress, which is refused first (`IN_CALLBACK`), so the
    /// wait never waits for itself.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, mlsx_app::Client>> {
        if IN_CALLBACK.with(std::cell::Cell::get) {
            return Err(usage("a component callback cannot call into a client"));
        }
        // What an earlier call's callback stashed and nothing raised is
        // not this call's.
        STASHED.with(|s| s.borrow_mut().take());
        loop {
            match self.inner.try_lock() {
                Ok(guard) => return Ok(guard),
                // Each change is stored in one transaction, so a client
                // whose call panicked is still consistent.
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => py.detach(|| std::thread::sleep(std::time::Duration::from_millis(1))),
            }
        }
    }

    fn key(&self, component: u16) -> PyResult<&ComponentKey> {
        self.keys
            .get(&component)
            .ok_or_else(|| py_err(mlsx_app::Error::UnknownComponent(component)))
    }
}

fn store(path: Option<&str>) -> PyResult<Box<dyn mlsx_app::Store>> {
    Ok(match path {
        Some(p) => Box::new(SqliteStore::open(std::path::Path::new(p)).map_err(py_err)?),
        None => Box::new(MemoryStore::new()),
    })
}

#[pymethods]
impl Client {
    /// Creates a client named `name`, in memory or in the SQLite file at
    /// `path`, with its traditional suite, PQ suite (TBD number) and
    /// combiner mode, and the application's components.
    #[new]
    #[pyo3(signature = (name, path=None, *, t_suite=1, pq_suite=6, mode=0, components=vec![]))]
    fn new(name: &str, path: Option<&str>, t_suite: u16, pq_suite: u16, mode: u8, components: Vec<Py<PyAny>>) -> PyResult<Self> {
        let mut builder = ClientBuilder::new();
        let keys = register(&mut builder, components)?;
        let config = ClientConfig::new(name).t_suite(t_suite).pq_suite(pq_suite).mode(mode);
        let inner = builder.create(store(path)?, config).map_err(py_err)?;
        Ok(Self {
            inner: Mutex::new(inner),
            keys,
        })
    }

    /// Opens the client stored at `path`, with the same components it was
    /// created with.
    #[staticmethod]
    #[pyo3(signature = (path, *, components=vec![]))]
    fn open(path: &str, components: Vec<Py<PyAny>>) -> PyResult<Self> {
        let mut builder = ClientBuilder::new();
        let keys = register(&mut builder, components)?;
        let inner = builder.open(store(Some(path))?).map_err(py_err)?;
        Ok(Self {
            inner: Mutex::new(inner),
            keys,
        })
    }

    /// The client's name.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        Ok(self.lock(py)?.name().to_owned())
    }

    /// Fresh KeyPackage offers for groups of `kind`.
    #[pyo3(signature = (kind="plain", count=1, last_resort=false))]
    fn key_packages(&self, py: Python<'_>, kind: &str, count: usize, last_resort: bool) -> PyResult<Vec<KeyPackageOffer>> {
        let offers = self.lock(py)?.key_packages(kind_of(kind)?, count, last_resort).map_err(py_err)?;
        Ok(offers.into_iter().map(|inner| KeyPackageOffer { inner }).collect())
    }

    /// Creates a group of `kind` ("plain", "extended" or "hybrid"). In an
    /// extended group: the components and SafeAAD components every member
    /// must support, the media types of its messages, and the components'
    /// first app data.
    #[pyo3(signature = (group_id, kind="plain", *, name=None, require_components=vec![], require_safe_aad=vec![], media_types=vec![], app_data=HashMap::new()))]
    #[allow(clippy::too_many_arguments)]
    fn create_group(
        slf: Bound<'_, Self>,
        group_id: &[u8],
        kind: &str,
        name: Option<String>,
        require_components: Vec<u16>,
        require_safe_aad: Vec<u16>,
        media_types: Vec<String>,
        app_data: HashMap<u16, Vec<u8>>,
    ) -> PyResult<Group> {
        let mut options = GroupOptions::default()
            .require_components(&require_components)
            .require_safe_aad(&require_safe_aad);
        options.media_types = media_types;
        options.name = name;
        let mut entries: Vec<_> = app_data.into_iter().collect();
        entries.sort();
        for (component, data) in entries {
            options = options.app_data(component, &data);
        }
        let kind = kind_of(kind)?;
        let created = slf
            .get()
            .lock(slf.py())?
            .create_group_with(group_id, kind, &options)
            .map(|_| ())
            .map_err(py_err);
        unstash(created)?;
        Ok(Group {
            client: slf.unbind(),
            id: group_id.to_vec(),
        })
    }

    /// Joins from a Welcome (or a pair of Welcomes): the group.
    fn join(slf: Bound<'_, Self>, welcome: &[u8]) -> PyResult<Group> {
        let joined = slf.get().lock(slf.py())?.join(welcome).map_err(py_err);
        let (id, _) = unstash(joined)?;
        Ok(Group { client: slf.unbind(), id })
    }

    /// A stored group.
    fn group(slf: Bound<'_, Self>, group_id: &[u8]) -> PyResult<Group> {
        slf.get().lock(slf.py())?.group(group_id).map_err(py_err)?;
        Ok(Group {
            client: slf.unbind(),
            id: group_id.to_vec(),
        })
    }

    /// The ids of the client's groups.
    fn groups<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        Ok(self.lock(py)?.groups().map_err(py_err)?.iter().map(|g| bytes(py, g)).collect())
    }

    /// Stores an external PSK shared out of band.
    fn add_psk(&self, py: Python<'_>, psk_id: &[u8], secret: &[u8]) -> PyResult<()> {
        self.lock(py)?.add_psk(psk_id, secret).map_err(py_err)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Client(name={:?})", self.lock(py)?.name()))
    }
}

// --------------------------------------------------------------------- group

/// A group of a client. Each call loads the group from the client's store
/// and stores it before returning.
#[pyclass(module = "mlsx._native", frozen)]
#[derive(Debug)]
struct Group {
    client: Py<Client>,
    id: Vec<u8>,
}

impl Group {
    /// Runs `f` on the loaded group.
    fn with<T>(&self, py: Python<'_>, f: impl FnOnce(&mut mlsx_app::Group<'_>, &Client) -> mlsx_app::Result<T>) -> PyResult<T> {
        let client = self.client.bind(py).get();
        let mut inner = client.lock(py)?;
        let result = inner.group(&self.id).and_then(|mut group| f(&mut group, client)).map_err(py_err);
        drop(inner);
        unstash(result)
    }

    /// A commit, with its kind: FULL if the PQ epoch moved, PARTIAL if
    /// not (hybrid sessions), "commit" otherwise.
    fn commit(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut mlsx_app::Group<'_>) -> mlsx_app::Result<mlsx_app::Outgoing>,
    ) -> PyResult<Outgoing> {
        let (out, kind) = self.with(py, |g, _| {
            let pq_epoch = |g: &mlsx_app::Group<'_>| g.session().map(|s| s.pq_group().epoch());
            let before = pq_epoch(g);
            let out = f(g)?;
            let kind = match (before, pq_epoch(g)) {
                (Some(b), Some(a)) if a != b => "FULL",
                (Some(_), _) => "PARTIAL",
                (None, _) => "commit",
            };
            Ok((out, kind))
        })?;
        Ok(outgoing(py, &out, Some(kind)))
    }
}

#[pymethods]
impl Group {
    /// The group's id.
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        bytes(py, &self.id)
    }

    /// "plain", "extended" or "hybrid".
    #[getter]
    fn kind(&self, py: Python<'_>) -> PyResult<&'static str> {
        self.with(py, |g, _| Ok(g.info()?.kind.as_str()))
    }

    /// The epoch (of the traditional group in a hybrid session).
    #[getter]
    fn epoch(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |g, _| Ok(g.epoch()))
    }

    /// The PQ group's epoch in a hybrid session, else `None`.
    #[getter]
    fn pq_epoch(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with(py, |g, _| Ok(g.info()?.pq_epoch))
    }

    /// The members' names.
    #[getter]
    fn roster(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with(py, |g, _| Ok(g.roster()))
    }

    /// The epoch authenticator (RFC 9420 §8.7), to compare out of band.
    #[getter]
    fn epoch_authenticator<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let a = self.with(py, |g, _| Ok(g.mls_group().epoch_authenticator().to_vec()))?;
        Ok(bytes(py, &a))
    }

    /// Our commit waiting for the delivery service's answer, if any.
    #[getter]
    fn pending(&self, py: Python<'_>) -> PyResult<Option<Outgoing>> {
        let p = self.with(py, |g, _| Ok(g.pending().cloned()))?;
        Ok(p.map(|o| outgoing(py, &o, None)))
    }

    /// Adds members from their offers (a FULL commit in a hybrid session).
    fn add(&self, py: Python<'_>, offers: Vec<PyRef<'_, KeyPackageOffer>>) -> PyResult<Outgoing> {
        let offers: Vec<_> = offers.iter().map(|o| o.inner.clone()).collect();
        self.commit(py, |g| g.add(&offers))
    }

    /// Removes members by name (a FULL commit in a hybrid session).
    fn remove(&self, py: Python<'_>, names: Vec<String>) -> PyResult<Outgoing> {
        self.commit(py, |g| g.remove(&names))
    }

    /// An update commit: FULL or PARTIAL as the session's policy says in a
    /// hybrid session, or FULL if `full`.
    #[pyo3(signature = (full=false))]
    fn update(&self, py: Python<'_>, full: bool) -> PyResult<Outgoing> {
        self.commit(py, |g| g.update(full))
    }

    /// The delivery service took our pending commit.
    fn accepted(&self, py: Python<'_>) -> PyResult<Vec<Event>> {
        let e = self.with(py, |g, _| g.accepted())?;
        Ok(events(py, &e))
    }

    /// The delivery service refused our pending commit: back to the epoch
    /// before it.
    fn refused(&self, py: Python<'_>) -> PyResult<()> {
        let client = self.client.bind(py).get();
        let mut inner = client.lock(py)?;
        let result = inner.group(&self.id).and_then(mlsx_app::Group::refused).map_err(py_err);
        drop(inner);
        unstash(result)
    }

    /// Encrypts application data; in an extended group with SafeAAD items
    /// (component id, bytes) and a media type.
    #[pyo3(signature = (data, *, aad=vec![], media_type=None))]
    fn send(&self, py: Python<'_>, data: &[u8], aad: Vec<(u16, Vec<u8>)>, media_type: Option<&str>) -> PyResult<Outgoing> {
        let out = self.with(py, |g, _| g.send_media(data, media_type, &aad))?;
        Ok(outgoing(py, &out, None))
    }

    /// Processes a message for this group: what happened. A refused message
    /// raises and leaves the group as it was.
    fn process(&self, py: Python<'_>, message: &[u8]) -> PyResult<Vec<Event>> {
        let e = self.with(py, |g, _| g.process(message))?;
        Ok(events(py, &e))
    }

    /// An exported secret of the current epoch (RFC 9420 §8.5).
    fn export<'py>(&self, py: Python<'py>, label: &[u8], context: &[u8], length: usize) -> PyResult<Bound<'py, PyBytes>> {
        let s = self.with(py, |g, _| g.export(label, context, length))?;
        Ok(bytes(py, &s))
    }

    /// The signed GroupInfo of the current epoch (a pair in a hybrid
    /// session).
    fn group_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let gi = self.with(py, |g, _| g.group_info())?;
        Ok(bytes(py, &gi))
    }

    /// A commit with an AppDataUpdate for `component` (extended groups).
    fn update_app_data(&self, py: Python<'_>, component: u16, update: &[u8]) -> PyResult<Outgoing> {
        self.commit(py, |g| g.update_app_data(component, update))
    }

    /// A commit with AppEphemeral data for `component` (extended groups).
    fn send_app_ephemeral(&self, py: Python<'_>, component: u16, data: &[u8]) -> PyResult<Outgoing> {
        self.commit(py, |g| g.send_app_ephemeral(component, data))
    }

    /// A component's entry in the app data dictionary, if any.
    fn app_data<'py>(&self, py: Python<'py>, component: u16) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let d = self.with(py, |g, _| g.app_data(component))?;
        Ok(d.map(|d| bytes(py, &d)))
    }

    /// `SafeExportSecret` of a component this client registered: once per
    /// epoch.
    fn safe_export_secret<'py>(&self, py: Python<'py>, component: u16) -> PyResult<Bound<'py, PyBytes>> {
        let s = self.with(py, |g, client| {
            let key = client.key(component).map_err(|_| mlsx_app::Error::UnknownComponent(component))?;
            g.safe_export_secret(key)
        })?;
        Ok(bytes(py, &s))
    }

    /// A commit with a PreSharedKey proposal for each external PSK named
    /// (`Client.add_psk`).
    fn inject_psks(&self, py: Python<'_>, psk_ids: Vec<Vec<u8>>) -> PyResult<Outgoing> {
        self.commit(py, |g| g.inject_psks(&psk_ids))
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match self.with(py, |g, _| g.info()) {
            Ok(i) => format!(
                "Group(id={:?}, kind={:?}, epoch={}, members={:?})",
                i.id,
                i.kind.as_str(),
                i.epoch,
                i.members
            ),
            Err(_) => "Group(<unavailable>)".into(),
        }
    }
}

// ------------------------------------------------------ simulator and vectors

/// `mlsx simulate --json` for these options: the JSON text.
#[pyfunction]
#[pyo3(signature = (members, epochs, full_every, t_suite, pq_suite, mode, workload, messages, sample))]
#[allow(clippy::too_many_arguments)]
fn simulate_json(
    py: Python<'_>,
    members: Vec<usize>,
    epochs: usize,
    full_every: Vec<u32>,
    t_suite: u16,
    pq_suite: u16,
    mode: u8,
    workload: &str,
    messages: usize,
    sample: Option<usize>,
) -> PyResult<String> {
    use mlsx_app::simulate::{SimulateOptions, Workload};
    let options = SimulateOptions {
        members: members.first().copied().unwrap_or(10),
        epochs,
        full_every,
        t_suite,
        pq_suite: mlsx_pq_suites::PqSuite::from_number(pq_suite).ok_or_else(|| usage(format!("no PQ suite TBD{pq_suite}")))?,
        mode: match mode {
            0 => mlsx_combiner::Mode::ConfidentialityOnly,
            1 => mlsx_combiner::Mode::ConfidentialityAndAuthenticity,
            m => return Err(usage(format!("no combiner mode {m}"))),
        },
        workload: Workload::from_name(workload)
            .ok_or_else(|| usage(format!("unknown workload {workload:?} (updates, churn, messages or mixed)")))?,
        messages,
        sample,
    };
    // The simulation runs without the interpreter: other Python threads go
    // on meanwhile.
    let json = py.detach(|| -> Result<serde_json::Value, String> {
        match members.as_slice() {
            [] | [_] => Ok(mlsx_app::simulate::run(&options, &|| ()).map_err(|e| e.to_string())?.to_json()),
            sizes => {
                let (_, points) = mlsx_app::simulate::sweep(&options, sizes, &|| ()).map_err(|e| e.to_string())?;
                Ok(mlsx_app::simulate::sweep_json(&options, &points))
            }
        }
    });
    let json = json.map_err(usage)?;
    serde_json::to_string(&json).map_err(|e| usage(e.to_string()))
}

/// `mlsx vectors verify` over `paths` (the repository's vector folders if
/// empty): (passed, failed, skipped, report text).
#[pyfunction]
#[pyo3(signature = (paths=vec![]))]
fn verify_vectors(py: Python<'_>, paths: Vec<String>) -> PyResult<(usize, usize, usize, String)> {
    let paths: Vec<std::path::PathBuf> = paths.into_iter().map(Into::into).collect();
    py.detach(|| {
        let provider = mlsx_pq_suites::PqProvider::new(mlsx_pq_suites::Profile::draft());
        let providers = mlsx_base::crypto::CryptoProviders::new()
            .with(Arc::new(mlsx_base::crypto::rustcrypto::RustCryptoProvider::new()))
            .with(Arc::new(provider));
        let mut text = Vec::new();
        let totals = mlsx_app::verify_vectors(&paths, &providers, &mut text).map_err(|e| e.to_string())?;
        Ok::<_, String>((
            totals.passed,
            totals.failed,
            totals.skipped,
            String::from_utf8_lossy(&text).into_owned(),
        ))
    })
    .map_err(usage)
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Client>()?;
    m.add_class::<Group>()?;
    m.add_class::<KeyPackageOffer>()?;
    m.add_class::<Outgoing>()?;
    m.add_class::<Event>()?;
    m.add("MlsxError", py.get_type::<MlsxError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("UsageError", py.get_type::<UsageError>())?;
    m.add("StorageError", py.get_type::<StorageError>())?;
    m.add("ServiceError", py.get_type::<ServiceError>())?;
    m.add_function(wrap_pyfunction!(simulate_json, m)?)?;
    m.add_function(wrap_pyfunction!(verify_vectors, m)?)?;
    Ok(())
}
