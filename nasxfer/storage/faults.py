"""Named crash points, for tests that prove a kill at a bad moment loses nothing.

``NASXFER_FAULT=checkpoint_write:2`` makes the process SIGKILL itself the 2nd time it
reaches ``crash_point("checkpoint_write")``. Unset (always, outside such tests), a crash
point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    target, nth = _armed()
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == nth:
        os.kill(os.getpid(), signal.SIGKILL)


def fault_armed(name: str) -> bool:
    """Whether a test armed the crash point ``name`` (code that must do extra work to offer
    a crash point, such as splitting a write, does it only then)."""
    return _armed()[0] == name


def _armed() -> tuple[str | None, int]:
    """The armed crash point's name and on which arrival it kills; (None, 0) when none is."""
    spec = os.environ.get("NASXFER_FAULT")
    if not spec:
        return None, 0
    target, _, nth = spec.rpartition(":")
    if not nth.isdigit():
        target, nth = spec, "1"
    return target, int(nth)
