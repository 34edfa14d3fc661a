"""mlsx: post-quantum and extended MLS from Python.

A typed layer over the Rust library ``mlsx-app``: clients (in memory or in
an SQLite file), plain RFC 9420 groups, extended groups
(draft-ietf-mls-extensions, with components written in Python) and hybrid
sessions (draft-ietf-mls-combiner), the cost simulator and the test-vector
runner. Bytes in, bytes out; every protocol decision is the Rust library's.

>>> import mlsx
>>> alice, bob = mlsx.Client("alice"), mlsx.Client("bob")
>>> group = alice.create_group(b"team", "hybrid")
>>> add = group.add(bob.key_packages("hybrid"))
>>> _ = group.accepted()
>>> at_bob = bob.join(add.welcome)
>>> [e.data for e in at_bob.process(group.send(b"hello").message)]
[b'hello']
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

from . import vectors
from .component import Component
from ._native import (
    Client,
    Event,
    Group,
    KeyPackageOffer,
    MlsxError,
    Outgoing,
    ProtocolError,
    ServiceError,
    StorageError,
    UsageError,
    simulate_json as _simulate_json,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "Client",
    "Component",
    "Event",
    "Group",
    "KeyPackageOffer",
    "MlsxError",
    "Outgoing",
    "ProtocolError",
    "ServiceError",
    "StorageError",
    "UsageError",
    "simulate",
    "simulate_dataframe",
    "vectors",
]


def simulate(
    members: Union[int, Sequence[int]] = 10,
    epochs: int = 50,
    full_every: Union[int, Sequence[int]] = (10, 1, 5, 50),
    t_suite: int = 1,
    pq_suite: int = 6,
    mode: int = 0,
    workload: str = "updates",
    messages: int = 10,
    sample: Optional[int] = None,
) -> Dict[str, Any]:
    """Runs the cost simulator, as ``mlsx simulate --json`` with the same
    options, and returns its figures as plain Python objects.

    One size (``members=10``) gives ``t_only``, ``pq_only`` and ``hybrid``
    (the first FULL period) with wire bytes, CPU seconds and per-epoch
    figures, and ``sweep`` (one entry per FULL period). Several sizes
    (``members=[10, 100, 1000]``) give ``sizes``: for each size, the
    per-epoch wire bytes and CPU seconds of each scenario.
    """
    sizes = [members] if isinstance(members, int) else list(members)
    if not sizes:
        raise ValueError("give at least one group size")
    periods = [full_every] if isinstance(full_every, int) else list(full_every)
    text = _simulate_json(sizes, epochs, periods, t_suite, pq_suite, mode, workload, messages, sample)
    result: Dict[str, Any] = json.loads(text)
    return result


def simulate_dataframe(**options: Any) -> "pandas.DataFrame":
    """:func:`simulate` as a pandas DataFrame: one row per scenario (T only,
    PQ only, and each hybrid FULL period) with its totals, or for several
    sizes one row per size and scenario. Needs pandas (``pip install
    mlsx[pandas]``)."""
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError("simulate_dataframe needs pandas: pip install 'mlsx[pandas]'") from e
    report = simulate(**options)
    rows: List[Dict[str, Any]] = []
    if "sizes" in report:
        for size in report["sizes"]:
            for scenario in size["scenarios"]:
                rows.append(
                    {
                        "members": size["members"],
                        "scenario": scenario["name"],
                        "wire_bytes_per_epoch": scenario["wire_bytes_per_epoch"],
                        "cpu_seconds_per_epoch": scenario["cpu_seconds_per_epoch"],
                    }
                )
    else:
        for name in ("t_only", "pq_only"):
            rows.append(
                {
                    "scenario": name,
                    "full_every": None,
                    "wire_bytes": report[name]["wire_bytes"],
                    "cpu_seconds": report[name]["cpu_seconds"],
                }
            )
        for entry in report["sweep"]:
            rows.append(
                {
                    "scenario": "hybrid",
                    "full_every": entry["full_every"],
                    "wire_bytes": entry["wire_bytes"],
                    "cpu_seconds": entry["cpu_seconds"],
                }
            )
    return pd.DataFrame(rows)
