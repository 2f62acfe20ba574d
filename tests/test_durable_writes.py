"""Durable writes: a renamed file's directory is fsynced, the journal is created durably, and
the crash-point fault injection costs nothing (no split write) when no fault is armed."""

import os
import stat

import pytest

from nasxfer.storage import atomic
from nasxfer.storage.store import RunStore


@pytest.fixture
def os_writes(monkeypatch):
    """The byte counts of every os.write call."""
    sizes = []
    real_write = os.write

    def counting_write(fd, data):
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counting_write)
    return sizes


@pytest.fixture
def fsynced(monkeypatch):
    """For every os.fsync call: 'dir' or 'file', and the path the fd names."""
    calls = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        calls.append((kind, os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else "?"))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return calls


def test_an_atomic_write_is_one_write_when_no_fault_is_armed(tmp_path, os_writes, monkeypatch):
    monkeypatch.delenv("NASXFER_FAULT", raising=False)
    atomic.atomic_write_bytes(tmp_path / "model.pt", b"x" * 300_000)
    atomic.atomic_write_text(tmp_path / "small.txt", "hello\n")
    assert os_writes == [300_000, 6]


def test_a_fault_armed_for_another_file_does_not_split_the_write(tmp_path, os_writes, monkeypatch):
    monkeypatch.setenv("NASXFER_FAULT", "write:some-other-file.csv:1")
    atomic.atomic_write_bytes(tmp_path / "model.pt", b"x" * 1000)
    assert os_writes == [1000]


def test_a_fault_armed_for_this_file_still_splits_it_for_the_crash_point(tmp_path, os_writes, monkeypatch):
    monkeypatch.setenv("NASXFER_FAULT", "write:split-me.bin:1000")  # armed, never reached: no kill
    atomic.atomic_write_bytes(tmp_path / "split-me.bin", b"x" * 1000)
    assert os_writes == [500, 500]
    assert (tmp_path / "split-me.bin").read_bytes() == b"x" * 1000


def test_an_atomic_write_fsyncs_the_file_then_its_directory(tmp_path, fsynced):
    atomic.atomic_write_text(tmp_path / "config.yaml", "name: x\n")
    assert [kind for kind, _ in fsynced] == ["file", "dir"]
    assert fsynced[1][1] in ("?", str(tmp_path))


def test_a_directory_that_cannot_be_opened_is_skipped(tmp_path, monkeypatch):
    real_open = os.open

    def no_directories(path, flags, *args):
        if os.path.isdir(path):
            raise PermissionError(13, "Permission denied")  # as on Windows
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_directories)
    atomic.atomic_write_text(tmp_path / "config.yaml", "name: x\n")
    assert (tmp_path / "config.yaml").read_text() == "name: x\n"


def test_a_new_run_creates_its_journal_durably(tmp_path, tiny_config, fsynced):
    store = RunStore.create(tmp_path / "runs", tiny_config, {})
    journal = str(store.path / "journal.jsonl")
    if fsynced[0][1] != "?":
        assert ("file", journal) in fsynced
        assert ("dir", str(store.path)) in fsynced
        assert ("dir", str(tmp_path / "runs")) in fsynced  # the run folder's own entry, and runs/latest
