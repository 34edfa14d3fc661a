"""A three-member hybrid session, plain and extended groups, bad input, and
a restart from SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import pytest

import mlsx
from conftest import trio


def texts(events: List[mlsx.Event]) -> List[Tuple[str, bytes]]:
    return [(e.sender or "", e.data or b"") for e in events if e.kind == "message"]


def test_a_hybrid_session_of_three(hybrid: Tuple[mlsx.Client, mlsx.Client, mlsx.Client, mlsx.Outgoing]) -> None:
    alice, bob, carol, add = hybrid
    assert add.commit_kind == "FULL"
    assert sorted(add.welcome_to) == ["bob", "carol"]
    members = [alice.group(b"g"), bob.group(b"g"), carol.group(b"g")]
    assert members[1].roster == ["alice", "bob", "carol"]

    # Messages both ways.
    hello = members[0].send(b"hello")
    assert texts(members[1].process(hello.message)) == [("alice", b"hello")]
    assert texts(members[2].process(hello.message)) == [("alice", b"hello")]
    back = members[1].send(b"hi alice")
    assert texts(members[0].process(back.message)) == [("bob", b"hi alice")]
    members[2].process(back.message)

    # A FULL and a PARTIAL commit, seen as such by the receivers.
    kinds = []
    for full in (True, False, False):
        out = members[0].update(full)
        assert out.commit_kind is not None
        kinds.append(out.commit_kind)
        members[0].accepted()
        for m in members[1:]:
            events = m.process(out.message)
            changed = [e for e in events if e.kind == "epoch_changed"]
            assert [e.commit_kind for e in changed] == [out.commit_kind]
    assert kinds[0] == "FULL"
    assert "PARTIAL" in kinds
    assert members[0].pq_epoch is not None and members[0].pq_epoch < members[0].epoch

    # The wire bytes of each message are there to count.
    assert len(hello.message) > 0 and len(add.welcome or b"") > len(hello.message)

    # All three agree on the epoch.
    authenticators = {m.epoch_authenticator for m in members}
    assert len(authenticators) == 1

    # A removal (FULL), Carol is told and her group is gone.
    out = members[0].remove(["carol"])
    assert out.commit_kind == "FULL"
    members[0].accepted()
    members[1].process(out.message)
    events = members[2].process(out.message)
    assert "removed_self" in [e.kind for e in events]
    assert members[0].roster == ["alice", "bob"]
    assert members[0].epoch_authenticator == members[1].epoch_authenticator
    with pytest.raises(mlsx.UsageError) as e:
        carol.group(b"g")
    assert e.value.kind == "UnknownGroup"


@pytest.mark.parametrize("kind", ["plain", "extended"])
def test_plain_and_extended_groups(kind: str) -> None:
    alice, bob, carol, _ = trio(kind)
    g = alice.group(b"g")
    assert g.kind == kind and g.pq_epoch is None
    out = g.update()
    assert out.commit_kind == "commit"
    g.accepted()
    for c in (bob, carol):
        c.group(b"g").process(out.message)
    assert alice.group(b"g").export(b"label", b"ctx", 32) == bob.group(b"g").export(b"label", b"ctx", 32)


def test_bad_input_raises_and_changes_nothing(hybrid: Tuple[mlsx.Client, mlsx.Client, mlsx.Client, mlsx.Outgoing]) -> None:
    alice, bob, _, _ = hybrid
    g, at_bob = alice.group(b"g"), bob.group(b"g")
    good = g.send(b"kept")
    epoch = at_bob.epoch
    for garbage in (b"", b"hello, world", good.message[:-3], good.message + b"??"):
        with pytest.raises(mlsx.ProtocolError) as e:
            at_bob.process(garbage)
        assert e.value.kind == "Malformed" and e.value.family == "protocol"
        assert isinstance(e.value, mlsx.MlsxError)
        assert at_bob.epoch == epoch
    assert texts(at_bob.process(good.message)) == [("alice", b"kept")]
    # A commit of ours pending: a usage error, not a protocol one.
    g.update()
    with pytest.raises(mlsx.UsageError) as u:
        g.send(b"too early")
    assert u.value.kind == "CommitPending"
    g.refused()
    assert texts(at_bob.process(g.send(b"after").message)) == [("alice", b"after")]
    with pytest.raises(mlsx.ProtocolError):
        mlsx.KeyPackageOffer.from_bytes(b"\x07")
    with pytest.raises(mlsx.UsageError):
        alice.create_group(b"x", "no such kind")


def test_restart_from_sqlite(tmp_path: Path) -> None:
    path = str(tmp_path / "alice.db")
    alice = mlsx.Client("alice", path)
    bob = mlsx.Client("bob")
    offer = mlsx.KeyPackageOffer.from_bytes(bob.key_packages("hybrid")[0].to_bytes())
    assert offer.owner == "bob" and offer.kind == "hybrid"
    g = alice.create_group(b"team", "hybrid")
    add = g.add([offer])
    assert add.welcome is not None
    # One writer per store.
    with pytest.raises(mlsx.StorageError) as e:
        mlsx.Client.open(path)
    assert e.value.kind == "StoreInUse"
    del g, alice
    import gc

    gc.collect()
    alice = mlsx.Client.open(path)
    g = alice.group(b"team")
    pending = g.pending
    assert pending is not None and pending.message == add.message
    g.accepted()
    bob.join(add.welcome)
    assert texts(bob.group(b"team").process(g.send(b"after a restart").message)) == [("alice", b"after a restart")]
    assert alice.groups() == [b"team"]
