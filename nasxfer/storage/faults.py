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
    spec = os.environ.get("NASXFER_FAULT")
    if not spec:
        return
    target, _, nth = spec.rpartition(":")
    if not nth.isdigit():
        target, nth = spec, "1"
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
