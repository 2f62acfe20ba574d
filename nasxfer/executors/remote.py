"""One trial run away from the run folder: in a Ray worker, or any process but the driver.

Only the search's driver writes the run folder. A worker runs the trial through the same
``trial_run.run_trial`` as the sequential loop (so out-of-memory retries, rejected
candidates, failures, schedulers' rungs and the pruner behave alike), against a
``TrialSandbox`` that stands in for the ``RunStore``: the journal events the trial writes
are collected, its files land in a temporary folder, and all of it comes back in a
``RemoteTrial`` for the driver to write.

Checkpoints travel with the trial, not through a shared disk: a promoted trial's
``TrialTask`` carries the training state its last rung ended with (the driver read it from
the run folder), and a trial that pauses at a rung sends its state back in the
``RemoteTrial`` for the driver to keep. Mid-rung epoch checkpoints never leave the
worker: a trial whose worker dies, or that a stop cancels, runs again from the start of
its rung.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasxfer.config import Config
from nasxfer.search.trial import TrialRecord, TrialState


class WorkerLost(Exception):
    """The process or machine running a trial died, or its result was lost: not the trial's fault."""


@dataclass
class TrialTask:
    """What the driver sends a worker: the plan, and what the trial needs from the run folder."""

    plan: Any  # planning.PlannedTrial
    checkpoint: dict[str, Any] | None = None  # training state to continue from (a promotion)
    history: list[TrialRecord] = field(default_factory=list)  # finished trials, for the pruner


@dataclass
class RemoteTrial:
    """What a worker sends back: everything the driver needs to record one finished trial."""

    record: TrialRecord
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # journal events, in order
    hooks: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # reporter calls, in order
    files: dict[str, bytes] = field(default_factory=dict)  # trial folder files by relative path (model.pt)
    worker: dict[str, Any] = field(default_factory=dict)  # where it ran: host, pid, GPUs
    checkpoint: tuple[int, dict[str, Any]] | None = None  # (epoch, state) of a trial paused at a rung


class TrialSandbox:
    """The part of ``RunStore`` a trial uses, writing nothing to the run folder."""

    def __init__(self, folder: Path, checkpoint: dict[str, Any] | None = None):
        self.folder = Path(folder)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.carried = CarriedCheckpoints(checkpoint)

    def trial_dir(self, number: int) -> Path:
        return self.folder

    def append(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def checkpoints(self, number: int) -> CarriedCheckpoints:
        return self.carried


class CarriedCheckpoints:
    """A trial's training state in memory: the one it was sent with, then the newest it saved.

    The same contract as ``store.TrialCheckpoints`` (``latest``, ``save``, ``clear``), so
    ``trial_run.run_trial`` and the evaluator cannot tell the difference.
    """

    def __init__(self, initial: dict[str, Any] | None = None):
        self.state = initial
        self.epoch: int | None = None  # the epoch of a state saved here (None: the initial one)

    def latest(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any], epoch: int) -> None:
        # Kept by reference, not copied every epoch: only the last state is ever sent, and
        # nothing trains after the last save (``saved`` copies it then).
        self.state, self.epoch = state, epoch

    def clear(self) -> None:
        self.state, self.epoch = None, None

    def saved(self) -> tuple[int, dict[str, Any]] | None:
        """The newest state this trial saved itself, with its epoch, once the trial has ended.

        A snapshot on the CPU: the state's tensors are the model's and optimiser's own, and
        the driver that receives it may have no GPU.
        """
        return None if self.epoch is None else (self.epoch, _cpu_copy(self.state))


def _cpu_copy(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _cpu_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu_copy(item) for item in value)
    return value


def run_remote_trial(config: Config, task: TrialTask, evaluator, worker: dict[str, Any] | None = None) -> RemoteTrial:
    """Run ``task.plan`` (a ``planning.PlannedTrial``) with ``evaluator``; never touches the run folder."""
    from nasxfer.schedulers.pruning import create_pruner
    from nasxfer.progress.reporter import RecordingReporter
    from nasxfer.search.objectives import objective_of
    from nasxfer.search.outcome import StopRequest
    from nasxfer.search.trial_run import run_trial

    plan = task.plan
    recorder = RecordingReporter()
    pruner = create_pruner(config, objective_of(config))
    # The pruner compares against the trials that had finished when this one was sent:
    # the driver's history moves on meanwhile, but the worker cannot see it.
    prune = None if pruner is None else (lambda row, epochs: pruner.check(task.history, row, epochs))
    with tempfile.TemporaryDirectory(prefix=f"nasxfer-trial-{plan.number}-") as tmp:
        sandbox = TrialSandbox(Path(tmp), task.checkpoint)
        # Nothing asks a remote trial to stop at an epoch's end: a stop cancels it instead.
        record = run_trial(config, sandbox, evaluator, plan, recorder, StopRequest(), prune)
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    # Only a paused trial's state is worth the transfer: it is what a promotion continues from.
    checkpoint = sandbox.carried.saved() if record.state is TrialState.PAUSED else None
    return RemoteTrial(record, sandbox.events, list(recorder.calls), files, dict(worker or {}), checkpoint)
