"""Crash-safe file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from nasxfer.storage.faults import crash_point, fault_armed

# Read once at import (os.umask can only be read by setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temp file beside ``path``, fsync it, rename it over ``path``, then fsync
    the directory, so that after a power cut the new file (not just its data) is there."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a report or model is meant to be shared
            _write_maybe_crashing(fd, data, f"write:{path.name}")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def _write_maybe_crashing(fd: int, data: bytes, point: str) -> None:
    """One write of ``data``; split in two around the crash point only when a test armed it
    (tests: killed mid-write, the old file must survive)."""
    if not fault_armed(point):
        _write_all(fd, data)
        return
    half = len(data) // 2
    _write_all(fd, data[:half])
    crash_point(point)
    _write_all(fd, data[half:])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:  # os.write may write less than asked (a signal, a pipe); a regular file takes it all
        view = view[os.write(fd, view) :]


def fsync_directory(path: str | Path) -> None:
    """fsync a directory, making a file created or renamed in it survive a power cut.

    Skipped where a directory cannot be opened (Windows) or refuses fsync (some network
    file systems): there the rename is as durable as that platform makes it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def create_durable_file(path: str | Path) -> None:
    """Create an empty file (it must not exist) and fsync it and its directory."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_directory(Path(path).parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2, sort_keys=False, allow_nan=True) + "\n")


def torch_bytes(obj: Any) -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def atomic_torch_save(path: str | Path, obj: Any) -> str:
    """``torch.save`` through a temp file, so a kill mid-save leaves the old file; returns its sha256."""
    data = torch_bytes(obj)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str | None:
    """The file's sha256, or None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
