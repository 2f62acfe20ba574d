"""``nasxfer search`` in a child process, as the kill -9 tests run it (a fault named by
``NASXFER_FAULT`` kills it at that point)."""

from __future__ import annotations

import os
import subprocess
import sys


def search_process(*args: str, runs, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``nasxfer search ARGS --runs-dir RUNS --quiet``; ``fault`` is set, or cleared, in its environment."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NASXFER_FAULT", None)
    if fault:
        env["NASXFER_FAULT"] = fault
    command = [sys.executable, "-m", "nasxfer.cli", "search", *args, "--runs-dir", str(runs), "--quiet"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
