"""The search loop: propose → apply → evaluate → record, within the budget.

It reports through a ``Reporter`` and never prints. Everything it knows comes from the
journal, so a run that was stopped or killed continues where it was: finished trials are
kept, an unfinished trial is re-run from its last verified epoch checkpoint, and the
strategy and the scheduler, replaying the same history, decide what they would have.

What runs next is the ``planning.Planner``'s business (scheduler, warm start, strategy);
how long a trial trains is its plan's; whether it stops early is the pruner's.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

from nasxfer.config import Config
from nasxfer.errors import CandidateRejected, NasxferError, TrainingInterrupted
from nasxfer.training.failures import free_accelerator_memory, is_out_of_memory
from nasxfer.storage.faults import crash_point
from nasxfer.search.planning import PlannedTrial, Planner
from nasxfer.schedulers.pruning import create_pruner
from nasxfer.progress.reporter import Reporter
from nasxfer.schedulers import create_scheduler
from nasxfer.search.space import SearchSpace
from nasxfer.storage.store import RunStore
from nasxfer.strategies import create_strategy
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState, epochs_trained, merge_record
from nasxfer.search.warm_start import journalled_warm_start


@dataclass
class SearchOutcome:
    run_id: str
    history: list[TrialRecord]
    best: TrialRecord | None
    stop_reason: str
    seconds: float
    interrupted: bool = False
    epochs: int = 0  # training epochs of the whole run (trial.epochs_trained)


@dataclass
class StopRequest:
    """Set (by a signal handler) to stop at the next safe point: the end of an epoch."""

    requested: bool = False

    def request(self) -> None:
        self.requested = True


def check_search_setup(config: Config) -> SearchSpace:
    """Everything about a search that can be checked without data or training; returns the space.

    (The warm-start run is checked by ``warm_start.warm_start_candidates``: it needs the runs folder.)
    """
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    _strategy(config, space)
    create_scheduler(config, objective)
    create_pruner(config, objective)
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


def create_planner(config: Config, store: RunStore, space: SearchSpace) -> Planner:
    """The run's planner: the config's strategy and scheduler, and its warm-start candidates
    (journalled on the run's first start). Call with the run's lock held."""
    objective = objective_of(config)
    return Planner(
        config, store, _strategy(config, space), create_scheduler(config, objective),
        journalled_warm_start(config, store, space, objective), seed_of=lambda number: trial_seed(config, number),
    )


def _strategy(config: Config, space: SearchSpace):
    settings = config.search.strategy
    return create_strategy(settings.name, space, config.seed, objective_of(config), settings.options, objectives_of(config))


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
    from nasxfer.evaluation.evaluator import make_evaluator

    if config.executor.name != "local":  # several trials at once: nasxfer.search.parallel (the loop below is sequential)
        from nasxfer.search.parallel import run_parallel_search

        return run_parallel_search(config, store, reporter, evaluator, stop)
    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    stop = stop or StopRequest()
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    pruner = create_pruner(config, objective)
    with store.lock():
        history = store.history()
        spent_before = store.spent_seconds()
        started = time.monotonic()

        def elapsed() -> float:
            return spent_before + time.monotonic() - started

        def record(trial: TrialRecord) -> None:
            merge_record(history, trial)
            store.record_trial(trial, objectives_of(config), history, elapsed=elapsed())
            crash_point("between_trials")
            reporter.trial_finished(trial, objective.best(history))

        planner = create_planner(config, store, space)
        prune = None if pruner is None else (lambda row, epochs: pruner.check(history, row, epochs))
        pending = planner.unfinished(history)
        store.append("search_started", resumed_trials=len(history), elapsed=elapsed())
        reporter.search_started(store.run_id, config, space, resumed=len(history))
        interrupted = False

        while True:
            stop_reason = _time_spent(config, elapsed())
            if stop_reason:
                break
            if stop.requested:
                stop_reason, interrupted = "stopped by request", True
                break
            if pending is not None:
                plan, pending = pending, None
            else:
                plan = planner.next(history, record, elapsed())
            if plan is None:
                stop_reason = planner.stop_reason
                break
            trial = _run_trial(config, store, evaluator, plan, reporter, stop, prune)
            if trial is None:  # stopped mid-trial; its checkpoint is journalled
                stop_reason, interrupted = "stopped by request", True
                break
            record(trial)
            stop_reason = _too_many_in_a_row(config, history)
            if stop_reason:
                break

        best = objective.best(history)
        epochs = epochs_trained(history)
        store.append(
            "search_stopped", reason=stop_reason, best=best.number if best else None, epochs=epochs, elapsed=elapsed()
        )
    outcome = SearchOutcome(store.run_id, history, best, stop_reason, time.monotonic() - started, interrupted, epochs)
    reporter.search_finished(outcome)
    return outcome


def _run_trial(config, store, evaluator, plan: PlannedTrial, reporter, stop, prune=None) -> TrialRecord | None:
    """Evaluate one candidate, up to ``plan.epochs``; a failure is a result. None when a stop
    interrupted it. ``prune(row, epochs)`` gives a reason to stop after an epoch, or None.

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
    pruned: list[str] = []

    def should_prune(row) -> bool:
        reason = prune(row, trial_config.train.epochs)
        if reason:
            pruned.append(reason)
        return reason is not None

    while True:
        full = trial_config.train.epochs
        epochs = min(plan.epochs or full, full)
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
                stop_at_epoch=epochs if epochs < full else None,
                should_prune=should_prune if prune is not None else None,
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
        if pruned:
            state = TrialState.PRUNED
            checkpoints.clear()  # a pruned trial never continues
        else:
            state = TrialState.PAUSED if epochs < full else TrialState.COMPLETE
        return TrialRecord(
            number=plan.number,
            key=plan.candidate.key,
            values=values,
            state=state,
            metrics=metrics,
            curve=outcome.curve,
            seconds=_seconds(plan) + time.monotonic() - started,
            seed=plan.seed,
            checksums=dict(getattr(outcome, "checksums", {}) or {}),
            bracket=plan.bracket,
            reason=pruned[0] if pruned else None,
        )


def _seconds(plan: PlannedTrial) -> float:
    """Time a promoted trial already spent on earlier rungs: its ``seconds`` add up."""
    return plan.previous.seconds if plan.previous is not None else 0.0


def _failed(plan: PlannedTrial, values, exc: BaseException, started: float, store: RunStore) -> TrialRecord:
    store.append("trial_error", number=plan.number, traceback=traceback.format_exc(limit=20))
    store.checkpoints(plan.number).clear()
    # A promoted trial that fails keeps the curve of its earlier rungs: its place in them stands.
    previous = plan.previous
    return TrialRecord(
        number=plan.number,
        key=plan.candidate.key,
        values=values,
        state=TrialState.FAILED,
        error=_describe(exc),
        seconds=_seconds(plan) + time.monotonic() - started,
        seed=plan.seed,
        curve=list(previous.curve) if previous is not None else [],
        bracket=plan.bracket,
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


def _time_spent(config: Config, elapsed: float) -> str | None:
    """The time budget's stop reason, once it is spent (the trial budget is the planner's)."""
    minutes = config.search.budget.minutes
    if minutes is not None and elapsed >= minutes * 60:
        return f"time budget reached ({minutes:g} min)"
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
