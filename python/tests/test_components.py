"""A component written in Python through the whole round trip:
AppDataUpdate, AppEphemeral, SafeAAD and SafeExportSecret."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest

import mlsx

COUNTER = 0x8001


class Counter:
    """A shared counter: each update adds its one byte; receipts start with
    ``read:``; SafeAAD tags are at most 8 bytes."""

    id = COUNTER
    uses_safe_aad = True

    def __init__(self) -> None:
        self.calls = 0

    def apply_updates(self, current: Optional[bytes], updates: List[bytes]) -> bytes:
        self.calls += 1
        n = current[0] if current else 0
        for u in updates:
            if len(u) != 1:
                raise ValueError("an update is one byte")
            n += u[0]
            if n > 255:
                raise ValueError("overflow")
        return bytes([n])

    def check_ephemeral(self, data: bytes) -> None:
        if not data.startswith(b"read:"):
            raise ValueError("not a receipt")

    def check_aad_item(self, data: bytes) -> None:
        if len(data) > 8:
            raise ValueError("a tag is at most 8 bytes")


def pair() -> Tuple[mlsx.Client, mlsx.Client, Counter]:
    counter = Counter()
    alice = mlsx.Client("alice", components=[counter])
    bob = mlsx.Client("bob", components=[Counter()])
    g = alice.create_group(b"g", "extended", require_components=[COUNTER], require_safe_aad=[COUNTER], app_data={COUNTER: b"\x00"})
    add = g.add(bob.key_packages("extended"))
    g.accepted()
    assert add.welcome is not None
    bob.join(add.welcome)
    return alice, bob, counter


def test_a_python_component_round_trip() -> None:
    alice, bob, counter = pair()
    g, at_bob = alice.group(b"g"), bob.group(b"g")

    bump = g.update_app_data(COUNTER, b"\x05")
    g.accepted()
    assert counter.calls >= 1
    events = at_bob.process(bump.message)
    assert [e.component for e in events if e.kind == "app_data_changed"] == [COUNTER]
    assert at_bob.app_data(COUNTER) == b"\x05" == g.app_data(COUNTER)

    receipt = g.send_app_ephemeral(COUNTER, b"read:42")
    g.accepted()
    eph = [e for e in at_bob.process(receipt.message) if e.kind == "app_ephemeral"]
    assert [(e.sender, e.component, e.data) for e in eph] == [("alice", COUNTER, b"read:42")]

    hi = g.send(b"hi", aad=[(COUNTER, b"tag")])
    (msg,) = at_bob.process(hi.message)
    assert msg.safe_aad == [(COUNTER, b"tag")]

    secret = g.safe_export_secret(COUNTER)
    assert len(secret) == 32 and at_bob.safe_export_secret(COUNTER) == secret
    with pytest.raises(mlsx.UsageError):
        g.safe_export_secret(COUNTER)  # once per epoch (asking twice is a usage error)


def test_what_the_component_refuses_is_refused_before_sending() -> None:
    alice, bob, _ = pair()
    g, at_bob = alice.group(b"g"), bob.group(b"g")
    epoch = g.epoch
    for call, why in [
        (lambda: g.update_app_data(COUNTER, b"\x01\x02"), "an update is one byte"),
        (lambda: g.send_app_ephemeral(COUNTER, b"seen"), "not a receipt"),
        (lambda: g.send(b"x", aad=[(COUNTER, b"far too long")]), "a tag is at most 8 bytes"),
    ]:
        with pytest.raises(mlsx.ProtocolError) as e:
            call()
        assert why in str(e.value)
        assert g.epoch == epoch and g.pending is None
    with pytest.raises(mlsx.UsageError) as u:
        g.update_app_data(0x8999, b"\x01")
    assert u.value.kind == "UnknownComponent"
    # Still usable.
    out = g.send(b"fine", aad=[(COUNTER, b"ok")])
    assert [e.data for e in at_bob.process(out.message)] == [b"fine"]


def test_a_client_reopened_needs_its_components(tmp_path: object) -> None:
    import os

    path = os.path.join(str(tmp_path), "c.db")
    c = mlsx.Client("c", path, components=[Counter()])
    del c
    with pytest.raises(mlsx.UsageError) as e:
        mlsx.Client.open(path)
    assert e.value.kind == "MissingComponents"
    assert mlsx.Client.open(path, components=[Counter()]).name == "c"


class Meddler:
    """A component whose callback calls back into its own client."""

    id = 0x8002

    def __init__(self) -> None:
        self.client: Optional[mlsx.Client] = None
        self.seen: List[str] = []

    def apply_updates(self, current: Optional[bytes], updates: List[bytes]) -> bytes:
        assert self.client is not None
        try:
            self.client.groups()
        except mlsx.UsageError as e:
            self.seen.append(e.kind)
            raise
        return b"\x01"


def test_a_callback_calling_its_client_is_refused_not_deadlocked() -> None:
    meddler = Meddler()
    alice = mlsx.Client("alice", components=[meddler])
    meddler.client = alice
    g = alice.create_group(b"g", "extended", require_components=[0x8002])
    # Not a refusal of the update: the call fails with the callback's own
    # error, and nothing changed.
    with pytest.raises(mlsx.UsageError) as e:
        g.update_app_data(0x8002, b"\x01")
    assert "cannot call into a client" in str(e.value)
    assert meddler.seen == ["Config"]
    assert g.epoch == 0 and g.pending is None


class Interrupted:
    """A component whose callback is interrupted (Ctrl-C)."""

    id = 0x8003

    def uses_safe_aad(self) -> bool:
        return True

    def apply_updates(self, current: Optional[bytes], updates: List[bytes]) -> bytes:
        raise KeyboardInterrupt


def test_an_interrupt_in_a_callback_is_raised_not_taken_for_a_refusal() -> None:
    alice = mlsx.Client("alice", components=[Interrupted()])
    g = alice.create_group(b"g", "extended", require_components=[0x8003], require_safe_aad=[0x8003])
    with pytest.raises(KeyboardInterrupt):
        g.update_app_data(0x8003, b"\x01")
    assert g.epoch == 0 and g.pending is None
    # SafeAAD through a method `uses_safe_aad`: its items are allowed.
    assert g.send(b"x", aad=[(0x8003, b"t")]).kind == "message"
