"""One writer per run folder: an exclusive ``flock`` on ``<run>/.lock``.

The kernel drops an flock when its process dies, however it dies, so a lock left by a
killed search is simply free again: no stale-lock guessing. The file also names the
holder (pid, host), so a refused second writer can say who holds the run.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import datetime
from pathlib import Path

from nasxfer.errors import NasxferError


class RunLockedError(NasxferError):
    """Another live process is writing this run."""


class RunLock:
    def __init__(self, run_path: Path):
        self.path = Path(run_path) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"run '{self.path.parent.name}' is being written by pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}; wait for it or stop it first"
            ) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def current_holder(run_path: Path) -> dict | None:
    """Who holds the run's lock now (``{pid, host, since}``), or None when nobody does.

    Reads only: a shared, non-blocking flock on a read-only descriptor fails exactly while a
    writer holds its exclusive one, and a run without a ``.lock`` file was never opened for
    writing, so nothing is created in a run folder that may be read-only.
    """
    try:
        fd = os.open(Path(run_path) / ".lock", os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(fd) or {}
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
