"""Type stubs of the Rust extension module (``python/src/lib.rs``)."""

from typing import Dict, List, Optional, Protocol, Sequence, Tuple

class MlsxError(Exception):
    """Every error of mlsx."""

    kind: str
    """The Rust error's variant: "Malformed", "WrongEpoch", "CommitPending", …"""
    family: str
    """"protocol", "usage", "storage" or "service"."""

class ProtocolError(MlsxError):
    """An input was refused; the group is unchanged."""

class UsageError(MlsxError):
    """The call cannot be done as asked; nothing changed."""

class StorageError(MlsxError):
    """The store failed, cannot be read, or another handle holds it."""

class ServiceError(MlsxError):
    """The delivery service refused or failed."""

class Component(Protocol):
    """A component written in Python (draft-ietf-mls-extensions §4.1).

    Only ``id`` is required. Each callback may be left out: then
    AppDataUpdate and AppEphemeral data are refused and everything else is
    accepted. A callback refuses by raising; every member runs it on the
    same data and must decide the same way."""

    id: int

class Outgoing:
    """A message to send, with what the delivery service needs."""

    group: bytes
    epoch: int
    kind: str
    """"commit" or "message"."""
    commit_kind: Optional[str]
    """"FULL" or "PARTIAL" (hybrid sessions) or "commit"; None for messages."""
    message: bytes
    welcome: Optional[bytes]
    recipients: List[str]
    welcome_to: List[str]
    removed: List[str]

class Event:
    """What happened; ``kind`` says which attributes are set."""

    kind: str
    """"message", "epoch_changed", "member_added", "member_removed",
    "removed_self", "proposal", "joined", "app_data_changed" or
    "app_ephemeral"."""
    sender: Optional[str]
    data: Optional[bytes]
    epoch: Optional[int]
    commit_kind: Optional[str]
    name: Optional[str]
    component: Optional[int]
    safe_aad: List[Tuple[int, bytes]]
    media_type: Optional[str]
    group: Optional[str]

class KeyPackageOffer:
    """A KeyPackage (or hybrid pair) to be added with."""

    @staticmethod
    def from_bytes(data: bytes) -> KeyPackageOffer: ...
    def to_bytes(self) -> bytes: ...
    @property
    def owner(self) -> str: ...
    @property
    def kind(self) -> str: ...

class Client:
    """A client: identities, KeyPackages and groups, in memory or in an
    SQLite file (``path``)."""

    def __init__(
        self,
        name: str,
        path: Optional[str] = None,
        *,
        t_suite: int = 1,
        pq_suite: int = 6,
        mode: int = 0,
        components: Sequence[object] = ...,
    ) -> None: ...
    @staticmethod
    def open(path: str, *, components: Sequence[object] = ...) -> Client: ...
    @property
    def name(self) -> str: ...
    def key_packages(self, kind: str = "plain", count: int = 1, last_resort: bool = False) -> List[KeyPackageOffer]: ...
    def create_group(
        self,
        group_id: bytes,
        kind: str = "plain",
        *,
        name: Optional[str] = None,
        require_components: Sequence[int] = ...,
        require_safe_aad: Sequence[int] = ...,
        media_types: Sequence[str] = ...,
        app_data: Dict[int, bytes] = ...,
    ) -> Group: ...
    def join(self, welcome: bytes) -> Group: ...
    def group(self, group_id: bytes) -> Group: ...
    def groups(self) -> List[bytes]: ...
    def add_psk(self, psk_id: bytes, secret: bytes) -> None: ...

class Group:
    """A group of a client; every change is stored before a call returns."""

    @property
    def id(self) -> bytes: ...
    @property
    def kind(self) -> str: ...
    @property
    def epoch(self) -> int: ...
    @property
    def pq_epoch(self) -> Optional[int]: ...
    @property
    def roster(self) -> List[str]: ...
    @property
    def epoch_authenticator(self) -> bytes: ...
    @property
    def pending(self) -> Optional[Outgoing]: ...
    def add(self, offers: Sequence[KeyPackageOffer]) -> Outgoing: ...
    def remove(self, names: Sequence[str]) -> Outgoing: ...
    def update(self, full: bool = False) -> Outgoing: ...
    def accepted(self) -> List[Event]: ...
    def refused(self) -> None: ...
    def send(
        self, data: bytes, *, aad: Sequence[Tuple[int, bytes]] = ..., media_type: Optional[str] = None
    ) -> Outgoing: ...
    def process(self, message: bytes) -> List[Event]: ...
    def export(self, label: bytes, context: bytes, length: int) -> bytes: ...
    def group_info(self) -> bytes: ...
    def update_app_data(self, component: int, update: bytes) -> Outgoing: ...
    def send_app_ephemeral(self, component: int, data: bytes) -> Outgoing: ...
    def app_data(self, component: int) -> Optional[bytes]: ...
    def safe_export_secret(self, component: int) -> bytes: ...
    def inject_psks(self, psk_ids: Sequence[bytes]) -> Outgoing: ...

def simulate_json(
    members: Sequence[int],
    epochs: int,
    full_every: Sequence[int],
    t_suite: int,
    pq_suite: int,
    mode: int,
    workload: str,
    messages: int,
    sample: Optional[int],
) -> str: ...
def verify_vectors(paths: Sequence[str] = ...) -> Tuple[int, int, int, str]: ...
