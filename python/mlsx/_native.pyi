"""Type stubs of the Rust extension module (``python/src/lib.rs``)."""

from typing import Dict, List, Optional, Sequence, Tuple

from .component import Component

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

class Outgoing:
    """A message to send, with what the delivery service needs. Made by
    the library, read-only."""

    @property
    def group(self) -> bytes: ...
    @property
    def epoch(self) -> int: ...
    @property
    def kind(self) -> str:
        """"commit" or "message"."""
    @property
    def commit_kind(self) -> Optional[str]:
        """A commit's kind: "FULL" or "PARTIAL" (hybrid sessions) or
        "commit"; None for other messages, and for a pending commit read
        back (``Group.pending``)."""
    @property
    def message(self) -> bytes: ...
    @property
    def welcome(self) -> Optional[bytes]: ...
    @property
    def recipients(self) -> List[str]: ...
    @property
    def welcome_to(self) -> List[str]: ...
    @property
    def removed(self) -> List[str]: ...

class Event:
    """What happened; ``kind`` says which attributes are set. Made by the
    library, read-only."""

    @property
    def kind(self) -> str:
        """"message", "epoch_changed", "member_added", "member_removed",
        "removed_self", "proposal", "joined", "app_data_changed",
        "app_ephemeral", or "unknown" (an event newer than these bindings)."""
    @property
    def sender(self) -> Optional[str]: ...
    @property
    def data(self) -> Optional[bytes]: ...
    @property
    def epoch(self) -> Optional[int]: ...
    @property
    def commit_kind(self) -> Optional[str]: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def component(self) -> Optional[int]: ...
    @property
    def safe_aad(self) -> List[Tuple[int, bytes]]: ...
    @property
    def media_type(self) -> Optional[str]: ...
    @property
    def group(self) -> Optional[str]: ...

class KeyPackageOffer:
    """A KeyPackage (or hybrid pair) to be added with; from
    ``Client.key_packages`` or ``from_bytes``."""

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
        components: Sequence[Component] = ...,
    ) -> None: ...
    @staticmethod
    def open(path: str, *, components: Sequence[Component] = ...) -> Client: ...
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
    """A group of a client (from ``Client.create_group``, ``join`` or
    ``group``); every change is stored before a call returns."""

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
