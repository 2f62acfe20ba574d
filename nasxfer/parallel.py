"""Several trials at once: the search loop when ``executor.name`` is not ``local``.

The driver (this loop) is the only writer of the run folder, as in the sequential loop of
``runner.run_search``, and it keeps that loop's rules by calling the same helpers: trial
numbers and seeds, budgets, failure and reject streaks, failed-trial records. What differs:

- Up to ``executor.slots`` trials run at once. Each proposal sees the finished trials, in
  the order they finished, then the running ones as ``RUNNING`` records, so a strategy
  never proposes a candidate that is still training (``strategies.base``).
- A result is written when it arrives: the worker's files (``model.pt``) atomically into
  the trial folder, its journal events, then ``trial_finished``. A trial's reporter hooks
  (started, epochs, finished) are replayed together when it finishes, so every reporter
  still sees one trial at a time.
- A trial whose worker or node dies (``WorkerLost``) is journalled as ``trial_requeued``
  and runs again with the same number and seed; after ``executor.max_retries`` re-queues
  (counted in the journal, across sessions) it is journalled as failed.
- A stop request cancels the running trials, which stay unfinished in the journal;
  ``--resume`` runs every unfinished trial again, from its first epoch.

Which trial finishes first depends on timing, so after the first ``slots`` proposals two
runs of one config can differ, which the sequential loop never does.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Hashable, Protocol

from nasxfer.config import Config
from nasxfer.fileio import atomic_write_bytes
from nasxfer.reporting import Reporter
from nasxfer.runner import (
    PlannedTrial,
    SearchOutcome,
    StopRequest,
    _budget_spent,
    _failed,
    _too_many_in_a_row,
    objective_of,
    objectives_of,
    trial_seed,
)
from nasxfer.space import Candidate, SearchSpace
from nasxfer.store import RunStore, storage_errors
from nasxfer.strategies import create_strategy
from nasxfer.trial import TrialRecord, TrialState

_POLL_SECONDS = 0.5  # how often a wait for results looks at stop requests and the clock
_EXHAUSTED = "search space exhausted"


class WorkerLost(Exception):
    """The process or machine running a trial died, or its result was lost: not the trial's fault."""


class TrialExecutor(Protocol):
    """Runs trials somewhere else; ``nasxfer.executors.ray_executor.RayExecutor`` is one."""

    name: str
    slots: int  # how many trials run at once

    def describe(self) -> dict[str, Any]:
        """What the journal's ``search_started`` event records about it."""

    def submit(self, config: Config, plan: PlannedTrial) -> Hashable:
        """Start one trial; returns its handle."""

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
        plan = self.plan
        return TrialRecord(
            plan.number, plan.candidate.key, plan.candidate.as_dict(), TrialState.RUNNING, seed=plan.seed
        )


def run_parallel_search(
    config: Config,
    store: RunStore,
    reporter: Reporter | None = None,
    evaluator: Any = None,
    stop: StopRequest | None = None,
    executor: TrialExecutor | None = None,
) -> SearchOutcome:
    """``runner.run_search`` with trials run by ``executor`` (by default the one the config
    names), several at once. Holds the run's writer lock throughout."""
    from nasxfer.evaluator import make_evaluator
    from nasxfer.executors import check_executor, create_executor

    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    with store.lock():
        if executor is None:
            check_executor(config)
            # The driver loads the data once; the executor ships it to the workers with the evaluator.
            getattr(evaluator, "prepare", lambda _: None)(config)
            executor = create_executor(config, evaluator)
        search = None
        try:
            search = _ParallelSearch(config, store, reporter, stop or StopRequest(), executor)
            outcome = search.run()
        finally:
            # On any way out (an error, a second Ctrl-C) nothing may keep training for nobody.
            if search is not None and search.running:
                executor.cancel(list(search.running))
            executor.close()
    reporter.search_finished(outcome)
    return outcome


class _ParallelSearch:
    def __init__(self, config: Config, store: RunStore, reporter: Reporter, stop: StopRequest, executor):
        self.config, self.store, self.reporter, self.stop, self.executor = config, store, reporter, stop, executor
        self.space = SearchSpace.from_config(config)
        self.objective = objective_of(config)
        self.strategy = create_strategy(
            config.search.strategy.name, self.space, config.seed, self.objective,
            config.search.strategy.options, objectives_of(config),
        )
        self.history = store.history()
        self.running: dict[Hashable, _Running] = {}
        # Unfinished trials of earlier sessions run first, with their own numbers and seeds.
        self.queue = deque(
            PlannedTrial(e["number"], Candidate(e["values"]), e["seed"], resumed=True) for e in store.unfinished_trials()
        )
        self.requeues = Counter(e["number"] for e in store.events() if e.get("event") == "trial_requeued")
        self.next_number = 1 + max((e["number"] for e in store.events() if e.get("event") == "trial_started"), default=0)
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
        final_reason = None  # set once nothing more may start: a failure streak, an exhausted space
        interrupted = False
        while True:
            if self.stop.requested:
                self.interrupt()
                stop_reason, interrupted = "stopped by request", True
                break
            if final_reason is None:
                blocked = self.launch()
                final_reason = blocked if blocked == _EXHAUSTED else None
            else:
                blocked = final_reason
            if not self.running:  # launch() fills a free slot unless it says why not
                stop_reason = blocked
                break
            for handle in self.executor.ready(list(self.running), _POLL_SECONDS):
                record = self.collect(handle)
                if record is None:  # re-queued
                    continue
                self.history.append(record)
                store.record_trial(record, objectives_of(self.config), self.history, elapsed=self.elapsed())
                self.reporter.trial_finished(record, self.objective.best(self.history))
                final_reason = final_reason or _too_many_in_a_row(self.config, self.history)
        best = self.objective.best(self.history)
        store.append("search_stopped", reason=stop_reason, best=best.number if best else None, elapsed=self.elapsed())
        return SearchOutcome(store.run_id, self.history, best, stop_reason, time.monotonic() - self.started, interrupted)

    def launch(self) -> str | None:
        """Fill the free slots; returns why no more can start now (None: all slots are busy)."""
        while len(self.running) < self.executor.slots:
            pending = [r.record() for r in self.running.values()]
            budget = _budget_spent(self.config, self.history + pending, self.elapsed())
            if budget:
                return budget  # may free up: a trial that ends rejected costs no budget
            if self.queue:
                plan = self.queue.popleft()
            else:
                candidate = self.strategy.propose(self.history + pending)
                if candidate is None:
                    return _EXHAUSTED
                plan = PlannedTrial(self.next_number, candidate, trial_seed(self.config, self.next_number))
                self.next_number += 1
                self.store.append(
                    "trial_started", number=plan.number, key=candidate.key, values=candidate.as_dict(),
                    seed=plan.seed, elapsed=self.elapsed(),
                )
            self.running[self.executor.submit(self.config, plan)] = _Running(plan, time.monotonic())
            self.reporter.message(f"trial {plan.number} sent to {self.executor.name} ({len(self.running)} running)")
        return None

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
            return _failed(run.plan, values, WorkerLost(message), run.started, self.store)
        except Exception as exc:  # noqa: BLE001 - what a trial raises outside the trial code is its result
            return _failed(run.plan, values, exc, run.started, self.store)
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
