"""One trial run away from the run folder: in a Ray worker, or any process but the driver.

Only the search's driver writes the run folder. A worker runs the trial through the same
``runner._run_trial`` as the sequential loop (so out-of-memory retries, rejected
candidates and failures behave alike), against a ``TrialSandbox`` that stands in for the
``RunStore``: the journal events the trial writes are collected, its files land in a
temporary folder, and all of it comes back in a ``RemoteTrial`` for the driver to write.

No epoch checkpoints leave a worker: a trial whose worker dies, or that a stop cancels,
runs again from its first epoch.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasxfer.config import Config
from nasxfer.trial import TrialRecord


@dataclass
class RemoteTrial:
    """What a worker sends back: everything the driver needs to record one finished trial."""

    record: TrialRecord
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # journal events, in order
    hooks: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # reporter calls, in order
    files: dict[str, bytes] = field(default_factory=dict)  # trial folder files by relative path (model.pt)
    worker: dict[str, Any] = field(default_factory=dict)  # where it ran: host, pid, GPUs


class TrialSandbox:
    """The part of ``RunStore`` a trial uses, writing nothing to the run folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def trial_dir(self, number: int) -> Path:
        return self.folder

    def append(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def checkpoints(self, number: int) -> _NoCheckpoints:
        return _NoCheckpoints()


class _NoCheckpoints:
    """Epoch checkpoints that are never kept (see the module's docstring)."""

    def latest(self) -> None:
        return None

    def save(self, state: dict[str, Any], epoch: int) -> None:
        pass

    def clear(self) -> None:
        pass


def run_remote_trial(config: Config, plan, evaluator, worker: dict[str, Any] | None = None) -> RemoteTrial:
    """Run ``plan`` (a ``runner.PlannedTrial``) with ``evaluator``; never touches the run folder."""
    from nasxfer.reporting import RecordingReporter
    from nasxfer.runner import StopRequest, _run_trial

    recorder = RecordingReporter()
    with tempfile.TemporaryDirectory(prefix=f"nasxfer-trial-{plan.number}-") as tmp:
        sandbox = TrialSandbox(Path(tmp))
        # Nothing asks a remote trial to stop at an epoch's end: a stop cancels it instead.
        record = _run_trial(config, sandbox, evaluator, plan, recorder, StopRequest())
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return RemoteTrial(record, sandbox.events, list(recorder.calls), files, dict(worker or {}))
