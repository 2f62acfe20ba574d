"""The search loop: propose → apply → evaluate → record, within the budget.

It reports through a ``Reporter`` and never prints. Everything it knows comes from the
journal, so a run that was stopped or killed continues where it was: finished trials are
kept, an unfinished trial is re-run from its last verified epoch checkpoint, and the
strategy, replaying the same history, proposes what it would have proposed.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

from nasxfer.config import Config
from nasxfer.errors import CandidateRejected, NasxferError, TrainingInterrupted
from nasxfer.failures import free_accelerator_memory, is_out_of_memory
from nasxfer.faults import crash_point
from nasxfer.reporting import Reporter
from nasxfer.space import Candidate, SearchSpace
from nasxfer.store import RunStore
from nasxfer.strategies import create_strategy
from nasxfer.trial import ObjectiveSpec, TrialRecord, TrialState


@dataclass
class SearchOutcome:
    run_id: str
    history: list[TrialRecord]
    best: TrialRecord | None
    stop_reason: str
    seconds: float
    interrupted: bool = False


@dataclass
class StopRequest:
    """Set (by a signal handler) to stop at the next safe point: the end of an epoch."""

    requested: bool = False

    def request(self) -> None:
        self.requested = True


@dataclass(frozen=True)
class PlannedTrial:
    number: int
    candidate: Candidate
    seed: int
    resumed: bool = False  # an unfinished trial of an earlier session


def check_search_setup(config: Config) -> SearchSpace:
    """Everything about a search that can be checked without data or training; returns the space."""
    space = SearchSpace.from_config(config)
    create_strategy(
        config.search.strategy.name, space, config.seed, objective_of(config), config.search.strategy.options,
        objectives_of(config),
    )
    from nasxfer.executors import check_executor

    check_executor(config)  # executor: ray without Ray installed fails here, before a run folder exists
    return space


def resume_config(store: RunStore, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """The config a resumed run continues with: its own, with only the budget changeable
    (``--set search.budget.trials=50`` extends a finished search)."""
    from nasxfer.config import parse_override

    config = store.config()
    changes = {}
    for item in overrides:
        key, value = parse_override(item)
        if not (key.startswith("search.budget.") or key in ("search.budget", "search.max_failures")):
            raise NasxferError(
                f"--set {key}: a resumed run keeps its config; only search.budget and search.max_failures can change"
            )
        changes[key] = value
    if not changes:
        return config
    config = config.apply(changes)
    store.rewrite_config(config, changes)  # the next resume keeps the new budget
    return config


def objective_of(config: Config) -> ObjectiveSpec:
    """The primary objective (the first of several)."""
    return ObjectiveSpec(config.search.objective.metric, config.search.objective.mode)


def objectives_of(config: Config) -> list[ObjectiveSpec]:
    """Every objective; one unless the search is multi-objective."""
    return [ObjectiveSpec(o.metric, o.mode) for o in config.search.all_objectives]


def trial_seed(config: Config, number: int) -> int:
    """Each trial gets its own seed, derived from the run's, so trials are reproducible alone."""
    return (config.seed * 100_003 + number) % 2**31


def run_search(
    config: Config,
    store: RunStore,
    reporter: Reporter | None = None,
    evaluator: Any = None,
    stop: StopRequest | None = None,
) -> SearchOutcome:
    """Run, or continue, the search that ``config`` describes, journalling into ``store``.

    Holds the run's writer lock throughout: a second process on the same run is refused.
    """
    from nasxfer.evaluator import make_evaluator

    if config.executor.name != "local":  # several trials at once: nasxfer.parallel (the loop below is sequential)
        from nasxfer.parallel import run_parallel_search

        return run_parallel_search(config, store, reporter, evaluator, stop)
    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    stop = stop or StopRequest()
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    strategy = create_strategy(
        config.search.strategy.name, space, config.seed, objective, config.search.strategy.options,
        objectives_of(config),
    )
    with store.lock():
        history = store.history()
        spent_before = store.spent_seconds()
        started = time.monotonic()

        def elapsed() -> float:
            return spent_before + time.monotonic() - started

        pending = store.interrupted_trial()
        store.append("search_started", resumed_trials=len(history), elapsed=elapsed())
        reporter.search_started(store.run_id, config, space, resumed=len(history))
        next_number = 1 + max((e["number"] for e in store.events() if e.get("event") == "trial_started"), default=0)
        interrupted = False

        while True:
            stop_reason = _budget_spent(config, history, elapsed())
            if stop_reason:
                break
            if stop.requested:
                stop_reason, interrupted = "stopped by request", True
                break
            if pending is not None:
                plan = PlannedTrial(pending["number"], Candidate(pending["values"]), pending["seed"], resumed=True)
                pending = None
            else:
                candidate = strategy.propose(history)
                if candidate is None:
                    stop_reason = "search space exhausted"
                    break
                plan = PlannedTrial(next_number, candidate, trial_seed(config, next_number))
                next_number += 1
                store.append(
                    "trial_started", number=plan.number, key=candidate.key, values=candidate.as_dict(),
                    seed=plan.seed, elapsed=elapsed(),
                )
            record = _run_trial(config, store, evaluator, plan, reporter, stop)
            if record is None:  # stopped mid-trial; its checkpoint is journalled
                stop_reason, interrupted = "stopped by request", True
                break
            history.append(record)
            store.record_trial(record, objectives_of(config), history, elapsed=elapsed())
            crash_point("between_trials")
            reporter.trial_finished(record, objective.best(history))
            stop_reason = _too_many_in_a_row(config, history)
            if stop_reason:
                break

        best = objective.best(history)
        store.append("search_stopped", reason=stop_reason, best=best.number if best else None, elapsed=elapsed())
    outcome = SearchOutcome(store.run_id, history, best, stop_reason, time.monotonic() - started, interrupted)
    reporter.search_finished(outcome)
    return outcome


def _run_trial(config, store, evaluator, plan: PlannedTrial, reporter, stop) -> TrialRecord | None:
    """Evaluate one candidate; a failure is a result. None when a stop interrupted it.

    An out-of-memory failure is retried once at half the batch size before it counts.
    """
    values = plan.candidate.as_dict()
    checkpoints = store.checkpoints(plan.number)
    started = time.monotonic()
    retried_oom = False
    try:
        trial_config = config.apply(values)
    except NasxferError as exc:
        return _failed(plan, values, exc, started, store)
    while True:
        epochs = trial_config.train.epochs
        reporter.trial_started(plan.number, values, epochs)
        try:
            outcome = evaluator.evaluate(
                trial_config,
                seed=plan.seed,
                trial_dir=store.trial_dir(plan.number),
                values=values,
                on_epoch=lambda row: reporter.epoch_finished(plan.number, row, epochs),
                checkpoints=checkpoints,
                should_stop=lambda: stop.requested,
            )
        except TrainingInterrupted as exc:
            store.append("trial_interrupted", number=plan.number, epoch=exc.epoch)
            return None
        except CandidateRejected as exc:
            return TrialRecord(
                number=plan.number,
                key=plan.candidate.key,
                values=values,
                state=TrialState.REJECTED,
                metrics=dict(exc.costs),
                error=exc.reason,
                seconds=time.monotonic() - started,
                seed=plan.seed,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of one trial is that trial's result
            batch_size = trial_config.train.batch_size
            if is_out_of_memory(exc) and not retried_oom and batch_size > 1:
                retried_oom = True
                free_accelerator_memory()
                checkpoints.clear()  # a different batch size is a different training run
                trial_config = trial_config.apply({"train.batch_size": batch_size // 2})
                store.append("trial_retry", number=plan.number, reason="out of memory", batch_size=batch_size // 2)
                continue
            return _failed(plan, values, exc, started, store)
        metrics = dict(outcome.metrics)
        if retried_oom:
            metrics["batch_size"] = float(trial_config.train.batch_size)
        return TrialRecord(
            number=plan.number,
            key=plan.candidate.key,
            values=values,
            state=TrialState.COMPLETE,
            metrics=metrics,
            curve=outcome.curve,
            seconds=time.monotonic() - started,
            seed=plan.seed,
            checksums=dict(getattr(outcome, "checksums", {}) or {}),
        )


def _failed(plan: PlannedTrial, values, exc: BaseException, started: float, store: RunStore) -> TrialRecord:
    store.append("trial_error", number=plan.number, traceback=traceback.format_exc(limit=20))
    store.checkpoints(plan.number).clear()
    return TrialRecord(
        number=plan.number,
        key=plan.candidate.key,
        values=values,
        state=TrialState.FAILED,
        error=_describe(exc),
        seconds=time.monotonic() - started,
        seed=plan.seed,
    )


def _too_many_in_a_row(config: Config, history: list[TrialRecord]) -> str | None:
    failures = _streak(history, TrialState.FAILED, ignoring=TrialState.REJECTED)
    if failures >= config.search.max_failures:
        return f"{failures} trials failed in a row (search.max_failures); last error: {history[-1].error}"
    rejects = _streak(history, TrialState.REJECTED)
    if rejects >= config.search.max_rejects:
        return (
            f"{rejects} candidates in a row broke search.constraints (search.max_rejects); "
            f"loosen the constraints or narrow the space. Last: {history[-1].error}"
        )
    return None


def _budget_spent(config: Config, history: list[TrialRecord], elapsed: float) -> str | None:
    budget = config.search.budget
    counted = sum(r.state is not TrialState.REJECTED for r in history)  # rejects cost no training
    if budget.trials is not None and counted >= budget.trials:
        return f"trial budget reached ({budget.trials} trials)"
    if budget.minutes is not None and elapsed >= budget.minutes * 60:
        return f"time budget reached ({budget.minutes:g} min)"
    return None


def _streak(history: list[TrialRecord], state: TrialState, ignoring: TrialState | None = None) -> int:
    """How many of the latest trials are in ``state`` (trials in ``ignoring`` skipped over)."""
    streak = 0
    for record in reversed(history):
        if record.state is ignoring:
            continue
        if record.state is not state:
            break
        streak += 1
    return streak


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NasxferError):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
