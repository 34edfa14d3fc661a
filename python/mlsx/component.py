"""The shape of a component written in Python."""

from __future__ import annotations

from typing import Protocol


class Component(Protocol):
    """A component written in Python (draft-ietf-mls-extensions §4.1).

    Only ``id`` is required; the callbacks (``validate_data(place, data)``,
    ``apply_updates(current, updates) -> bytes``, ``allow_remove(current)``,
    ``check_ephemeral(data)``, ``check_aad_item(data)``,
    ``psk(psk_id) -> bytes | None``) and ``uses_safe_aad`` may be left out:
    then AppDataUpdate and AppEphemeral data are refused and everything else
    is accepted. A callback refuses by raising an ``Exception``; every
    member runs it on the same data and must decide the same way. A
    callback may not call into a client."""

    @property
    def id(self) -> int: ...
