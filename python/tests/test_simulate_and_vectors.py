"""The simulator gives the figures of ``mlsx simulate --json``; the vector
runner reports as ``mlsx vectors verify``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

import mlsx

REPO = Path(__file__).resolve().parents[2]


def cli() -> str:
    """The `mlsx` binary: $MLSX_BIN (the repository's test command sets
    it), else one built in the repository's target folder."""
    if "MLSX_BIN" in os.environ:
        return os.environ["MLSX_BIN"]
    for profile in ("release", "debug"):
        candidate = REPO / "target" / profile / "mlsx"
        if candidate.exists():
            return str(candidate)
    pytest.fail("no mlsx binary: set MLSX_BIN or run `cargo build --bin mlsx` at the repository's root")


def same_figures(ours: Any, theirs: Any, key: str = "") -> None:
    """The same report: the same structure and values, CPU times aside
    (they differ from run to run), and byte counts within 2% (GREASE
    values and random ids make a few bytes differ from run to run, in the
    CLI as here)."""
    if "cpu" in key or key.endswith("_ms") or "ms_" in key:
        return
    if isinstance(ours, dict) and isinstance(theirs, dict):
        assert set(ours) == set(theirs), key
        for k in ours:
            same_figures(ours[k], theirs[k], k)
    elif isinstance(ours, list) and isinstance(theirs, list):
        assert len(ours) == len(theirs), key
        for a, b in zip(ours, theirs):
            same_figures(a, b, key)
    elif "bytes" in key and isinstance(ours, (int, float)) and isinstance(theirs, (int, float)):
        assert abs(ours - theirs) <= 0.02 * max(abs(theirs), 1), (key, ours, theirs)
    else:
        assert ours == theirs, (key, ours, theirs)


@pytest.mark.parametrize("members", [[4], [3, 5]])
def test_simulate_gives_the_clis_figures(members: list[int], tmp_path: Path) -> None:
    options: Dict[str, Any] = dict(epochs=3, full_every=[2, 1], workload="mixed", messages=2)
    ours = mlsx.simulate(members=members, **options)
    args = [
        cli(), "simulate", "--json", "--out", str(tmp_path),
        "--members", ",".join(map(str, members)), "--epochs", "3", "--full-every", "2,1",
        "--workload", "mixed", "--messages", "2",
    ]
    theirs = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    same_figures(ours, theirs)
    if len(members) == 1:
        assert ours["hybrid"]["wire_bytes"] > ours["t_only"]["wire_bytes"] > 0


def test_simulate_dataframe() -> None:
    pd = pytest.importorskip("pandas")
    frame = mlsx.simulate_dataframe(members=3, epochs=2, full_every=[1])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["scenario"]) == ["t_only", "pq_only", "hybrid"]


def test_bad_options_raise() -> None:
    with pytest.raises(mlsx.UsageError):
        mlsx.simulate(members=3, workload="no such workload")
    with pytest.raises(mlsx.UsageError):
        mlsx.simulate(members=3, pq_suite=999)


def test_vectors_verify() -> None:
    report = mlsx.vectors.verify(str(REPO / "test-vectors" / "official" / "rfc9420" / "tree-math.json"))
    assert report["failed"] == 0 and isinstance(report["passed"], int) and report["passed"] > 0
    assert "passed" in str(report["text"])
    with pytest.raises(mlsx.UsageError):
        mlsx.vectors.verify(str(REPO / "no-such-folder"))
