"""Several trials at once: the search loop when ``executor.name`` is not ``local``.

The driver (this loop) is the only writer of the run folder, as in the sequential loop of
``runner.run_search``, and it keeps that loop's rules by using the same parts: the
``planning.Planner`` (scheduler, warm start, strategy, trial numbers and seeds, the trial
budget), failure and reject streaks, failed-trial records. What differs:

- Up to ``executor.slots`` trials run at once. Each plan sees the finished trials, in the
  order they finished, and the running ones as ``RUNNING`` records (a promoted trial in
  place of its paused record, with its curve so far), so a strategy never proposes a
  candidate that is still training (``strategies.base``) and a scheduler never promotes a
  trial twice nor decides a synchronous rung before it is complete (``schedulers``).
- A result is written when it arrives: the worker's files (``model.pt``) atomically into
  the trial folder, its journal events, the training state of a trial paused at a rung
  (what its promotion continues from; it travels with the promotion to whichever worker
  runs it), then ``trial_finished``. A trial's reporter hooks (started, epochs, finished)
  are replayed together when it finishes, so every reporter still sees one trial at a time.
- The median pruner runs in the worker, against the trials finished when it was sent.
- A trial whose worker or node dies (``WorkerLost``) is journalled as ``trial_requeued``
  and runs again with the same number and seed (a promotion from its rung's checkpoint);
  after ``executor.max_retries`` re-queues (counted in the journal, across sessions) it is
  journalled as failed.
- A stop request cancels the running trials, which stay unfinished in the journal;
  ``--resume`` runs every unfinished trial again, from the start of its rung.

Which trial finishes first depends on timing, so after the first ``slots`` plans two runs
of one config can differ, which the sequential loop never does.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Hashable, Protocol

from nasxfer.config import Config
from nasxfer.executors.remote import TrialTask, WorkerLost
from nasxfer.storage.atomic import atomic_write_bytes
from nasxfer.progress.reporter import Reporter
from nasxfer.search.objectives import objective_of, objectives_of
from nasxfer.search.outcome import SearchOutcome, StopRequest
from nasxfer.search.planning import PlannedTrial, create_planner
from nasxfer.search.data_notice import report_data
from nasxfer.search.stopping import time_budget_spent, too_many_in_a_row
from nasxfer.search.trial_run import failed_trial
from nasxfer.search.space import SearchSpace
from nasxfer.storage.run_status import STOPPED_BY_REQUEST
from nasxfer.storage.store import RunStore, storage_errors
from nasxfer.search.trial import TrialRecord, TrialState, epochs_trained, merge_record

_POLL_SECONDS = 0.5  # how often a wait for results looks at stop requests and the clock


class TrialExecutor(Protocol):
    """Runs trials somewhere else; ``nasxfer.executors.ray_executor.RayExecutor`` is one."""

    name: str
    slots: int  # how many trials run at once

    def describe(self) -> dict[str, Any]:
        """What the journal's ``search_started`` event records about it."""

    def submit(self, config: Config, task: TrialTask) -> Hashable:
        """Start one trial (``remote.run_remote_trial`` with ``task``); returns its handle."""

    def ready(self, handles: list[Hashable], timeout: float) -> list[Hashable]:
        """The handles whose trials have ended: at least one, unless ``timeout`` seconds pass."""

    def result(self, handle: Hashable):
        """The ``RemoteTrial`` of an ended trial; raises ``WorkerLost``, or what the trial raised."""

    def cancel(self, handles: list[Hashable]) -> None:
        """Stop running trials; their results are never asked for."""

    def close(self) -> None:
        """Release what the executor started."""


@dataclass
class _Running:
    plan: PlannedTrial
    started: float  # time.monotonic() when it was sent

    def record(self) -> TrialRecord:
        """How plans see this trial while it trains: ``RUNNING``; a promotion keeps its curve so far."""
        plan = self.plan
        if plan.previous is not None:
            return dataclasses.replace(plan.previous, state=TrialState.RUNNING)
        return TrialRecord(
            plan.number, plan.candidate.key, plan.candidate.as_dict(), TrialState.RUNNING, seed=plan.seed,
            bracket=plan.bracket,
        )


def run_parallel_search(
    config: Config,
    store: RunStore,
    reporter: Reporter | None = None,
    evaluator: Any = None,
    stop: StopRequest | None = None,
    executor: TrialExecutor | None = None,
    config_changes: dict[str, Any] | None = None,
) -> SearchOutcome:
    """``runner.run_search`` with trials run by ``executor`` (by default the one the config
    names), several at once. Holds the run's writer lock throughout; ``config_changes``
    are written, as there, only once it is held."""
    from nasxfer.evaluation.evaluator import make_evaluator
    from nasxfer.executors.choice import check_executor, create_executor

    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    with store.lock():
        if config_changes:
            store.rewrite_config(config, config_changes)  # the next resume keeps the new budget
        if executor is None:
            check_executor(config)
            # The driver loads the data once; the executor ships it to the workers with the evaluator.
            getattr(evaluator, "prepare", lambda _: None)(config)
            executor = create_executor(config, evaluator)
        search = None
        try:
            search = _ParallelSearch(config, store, reporter, stop or StopRequest(), executor, evaluator)
            outcome = search.run()
        finally:
            # On any way out (an error, a second Ctrl-C) nothing may keep training for nobody.
            if search is not None and search.running:
                executor.cancel(list(search.running))
            executor.close()
    reporter.search_finished(outcome)
    return outcome


class _ParallelSearch:
    def __init__(self, config: Config, store: RunStore, reporter: Reporter, stop: StopRequest, executor, evaluator=None):
        self.config, self.store, self.reporter, self.stop, self.executor = config, store, reporter, stop, executor
        self.evaluator = evaluator  # the driver's: it loaded the data and knows which files it skipped
        self.space = SearchSpace.from_config(config)
        self.objective = objective_of(config)
        self.planner = create_planner(config, store, self.space)
        self.history = store.history()
        self.running: dict[Hashable, _Running] = {}
        # Unfinished trials of earlier sessions run first, with their own numbers and seeds.
        self.queue = deque(self.planner.all_unfinished(self.history))
        self.requeues = Counter(e["number"] for e in store.events() if e.get("event") == "trial_requeued")
        self.spent_before = store.spent_seconds()
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return self.spent_before + time.monotonic() - self.started

    def run(self) -> SearchOutcome:
        store = self.store
        store.append(
            "search_started", resumed_trials=len(self.history), elapsed=self.elapsed(), executor=self.executor.describe()
        )
        self.reporter.search_started(store.run_id, self.config, self.space, resumed=len(self.history))
        report_data(store, self.reporter, self.evaluator)
        final_reason = None  # set once nothing more may start: a failure streak, the time budget
        interrupted = False
        while True:
            if self.stop.requested:
                self.interrupt()
                stop_reason, interrupted = STOPPED_BY_REQUEST, True
                break
            final_reason = final_reason or time_budget_spent(self.config, self.elapsed())
            # Until then launch() fills the free slots, or says why nothing can start now: a
            # plan may still come once the running trials finish (a rung fills, a reject frees budget).
            blocked = final_reason or self.launch()
            if not self.running:
                stop_reason = blocked
                break
            for handle in self.executor.ready(list(self.running), _POLL_SECONDS):
                record = self.collect(handle)
                if record is None:  # re-queued
                    continue
                self.record(record)
                final_reason = final_reason or too_many_in_a_row(self.config, self.history)
        best = self.objective.best(self.history)
        epochs = epochs_trained(self.history)
        store.append(
            "search_stopped", reason=stop_reason, best=best.number if best else None, epochs=epochs,
            elapsed=self.elapsed(),
        )
        return SearchOutcome(
            store.run_id, self.history, best, stop_reason, time.monotonic() - self.started, interrupted, epochs
        )

    def record(self, record: TrialRecord) -> None:
        """A trial's result (or a scheduler's retirement) into the history and the run folder."""
        merge_record(self.history, record)
        self.store.record_trial(record, objectives_of(self.config), self.history, elapsed=self.elapsed())
        self.reporter.trial_finished(record, self.objective.best(self.history))

    def launch(self) -> str | None:
        """Fill the free slots; returns why no more can start now (None: all slots are busy)."""
        while len(self.running) < self.executor.slots:
            if self.queue:
                plan = self.queue.popleft()
            else:
                view = list(self.history)
                for run in self.running.values():  # a running promotion in place of its paused record
                    merge_record(view, run.record())

                def record(trial: TrialRecord) -> None:  # a retirement: into the plan's view too
                    self.record(trial)
                    merge_record(view, trial)

                plan = self.planner.next(view, record, self.elapsed())
                if plan is None:
                    return self.planner.stop_reason
            self.running[self.executor.submit(self.config, self.task(plan))] = _Running(plan, time.monotonic())
            what = f"trial {plan.number}" + (f", on to epoch {plan.epochs}," if plan.previous is not None else "")
            self.reporter.message(f"{what} sent to {self.executor.name} ({len(self.running)} running)")
        return None

    def task(self, plan: PlannedTrial) -> TrialTask:
        """What the worker needs from the run folder: a promotion's checkpoint, the pruner's history."""
        checkpoint = self.store.checkpoints(plan.number).latest() if plan.previous is not None else None
        history = []
        if self.config.search.pruner is not None:
            history = [r for r in self.history if r.state is TrialState.COMPLETE]
        return TrialTask(plan, checkpoint, history)

    def collect(self, handle: Hashable) -> TrialRecord | None:
        """The record of an ended trial, written to the run folder; None when it was re-queued."""
        run = self.running.pop(handle)
        values = run.plan.candidate.as_dict()
        try:
            remote = self.executor.result(handle)
        except WorkerLost as lost:
            number = run.plan.number
            self.requeues[number] += 1
            retries = self.config.executor.max_retries
            if self.requeues[number] <= retries:
                self.store.append("trial_requeued", number=number, attempt=self.requeues[number] + 1, reason=str(lost))
                self.reporter.message(f"trial {number} lost its worker ({lost}); re-queued ({self.requeues[number]} of {retries})")
                self.queue.appendleft(run.plan)
                return None
            message = f"lost its worker {self.requeues[number]} times (executor.max_retries: {retries}); last: {lost}"
            return failed_trial(run.plan, values, WorkerLost(message), run.started, self.store)
        except Exception as exc:  # noqa: BLE001 - what a trial raises outside the trial code is its result
            return failed_trial(run.plan, values, exc, run.started, self.store)
        return self.land(remote)

    def land(self, remote) -> TrialRecord:
        """Write a worker's files and journal events, as the sequential loop would have."""
        record = remote.record
        folder = self.store.trial_dir(record.number)
        with storage_errors(self.store.path):
            for name, data in remote.files.items():
                atomic_write_bytes(folder / name, data)
        for event, fields in remote.events:
            self.store.append(event, **fields)
        checkpoints = self.store.checkpoints(record.number)
        if remote.checkpoint is not None:  # paused at a rung: its promotion continues from here
            epoch, state = remote.checkpoint
            checkpoints.save(state, epoch)
        elif record.state is not TrialState.PAUSED:
            checkpoints.clear()  # finished, pruned or failed: nothing will continue it
        if remote.worker:
            self.store.append("trial_worker", number=record.number, **remote.worker)
        for hook, args in remote.hooks:
            getattr(self.reporter, hook)(*args)
        return record

    def interrupt(self) -> None:
        """Cancel the running trials; the journal keeps them unfinished, for ``--resume``."""
        handles = list(self.running)
        self.executor.cancel(handles)
        for handle in handles:
            self.store.append("trial_interrupted", number=self.running.pop(handle).plan.number, epoch=None)
