"""Shared fixtures: clients in memory, and three members in a group."""

from __future__ import annotations

from typing import Tuple

import pytest

import mlsx


def trio(kind: str) -> Tuple[mlsx.Client, mlsx.Client, mlsx.Client, mlsx.Outgoing]:
    """Alice creates group ``g`` of ``kind`` and adds Bob and Carol."""
    alice, bob, carol = mlsx.Client("alice"), mlsx.Client("bob"), mlsx.Client("carol")
    group = alice.create_group(b"g", kind)
    add = group.add(bob.key_packages(kind) + carol.key_packages(kind))
    group.accepted()
    assert add.welcome is not None
    bob.join(add.welcome)
    carol.join(add.welcome)
    return alice, bob, carol, add


@pytest.fixture
def hybrid() -> Tuple[mlsx.Client, mlsx.Client, mlsx.Client, mlsx.Outgoing]:
    return trio("hybrid")
