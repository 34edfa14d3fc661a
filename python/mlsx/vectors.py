"""The test-vector runner: ``mlsx vectors verify`` from Python."""

from __future__ import annotations

from typing import Optional, Sequence, TypedDict, Union

from ._native import verify_vectors as _verify


class Report(TypedDict):
    """What :func:`verify` found."""

    passed: int
    failed: int
    skipped: int
    text: str


def verify(path: Optional[Union[str, Sequence[str]]] = None) -> Report:
    """Checks the vector files at ``path`` (a file or folder, or several;
    the repository's official, generated, PQ, extensions and combiner vector
    folders if ``None``) and returns the report: ``passed``, ``failed``,
    ``skipped`` and ``text`` (the report ``mlsx vectors verify`` prints)."""
    paths = [] if path is None else [path] if isinstance(path, str) else list(path)
    passed, failed, skipped, text = _verify(paths)
    return {"passed": passed, "failed": failed, "skipped": skipped, "text": text}
