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
from typing import Any

from nasxfer.config import Config
from nasxfer.errors import NasxferError
from nasxfer.progress.reporter import Reporter
from nasxfer.schedulers import create_scheduler
from nasxfer.schedulers.pruning import create_pruner
from nasxfer.search.objectives import objective_of, objectives_of
from nasxfer.search.outcome import SearchOutcome, StopRequest
from nasxfer.search.planning import create_planner, strategy_for
from nasxfer.search.screened import check_screen
from nasxfer.search.space import SearchSpace
from nasxfer.search.data_notice import report_data
from nasxfer.search.trial import TrialRecord, epochs_trained, merge_record
from nasxfer.search.loop import run_planned_trials
from nasxfer.storage.faults import crash_point
from nasxfer.storage.store import RunStore


def check_search_setup(config: Config) -> SearchSpace:
    """Everything about a search that can be checked without data or training; returns the space.

    (The warm-start run is checked by ``warm_start.warm_start_candidates``: it needs the runs folder.)
    """
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    strategy_for(config, space)
    create_scheduler(config, objective)
    create_pruner(config, objective)
    check_screen(config)
    if config.search.one_shot is not None:
        from nasxfer.evaluation.supernet import supernet_choices

        supernet_choices(config)  # a space the supernet cannot hold fails before a run folder exists
    from nasxfer.executors.choice import check_executor

    check_executor(config)  # executor: ray without Ray installed fails here, before a run folder exists
    return space


def resume_config(store: RunStore, overrides: list[str] | tuple[str, ...] = ()) -> tuple[Config, dict[str, Any]]:
    """The config a resumed run continues with, and what changed: its own, with only the
    budget changeable (``--set search.budget.trials=50`` extends a finished search).

    Writes nothing: hand the changes to ``run_search``, which journals them once it holds
    the run's lock, so a refused or failing resume leaves the run as it was.
    """
    from nasxfer.config import parse_override

    config = store.config()
    # The journal is read here too, so that a damaged one is refused before the resumed
    # search writes anything into the run folder (its log, its lock).
    store.history()
    store.unfinished_trials()
    changes = {}
    for item in overrides:
        key, value = parse_override(item)
        if not (key.startswith("search.budget.") or key in ("search.budget", "search.max_failures")):
            raise NasxferError(
                f"--set {key}: a resumed run keeps its config; only search.budget and search.max_failures can change"
            )
        changes[key] = value
    if not changes:
        return config, {}
    return config.apply(changes), changes


def run_search(
    config: Config,
    store: RunStore,
    reporter: Reporter | None = None,
    evaluator: Any = None,
    stop: StopRequest | None = None,
    config_changes: dict[str, Any] | None = None,
) -> SearchOutcome:
    """Run, or continue, the search that ``config`` describes, journalling into ``store``.

    Holds the run's writer lock throughout: a second process on the same run is refused.
    ``config_changes`` (from ``resume_config``) are written to the run, with ``config``,
    only once the lock is held.
    """
    from nasxfer.evaluation.evaluator import make_evaluator

    if config.executor.name != "local":  # several trials at once: nasxfer.search.parallel (the loop below is sequential)
        from nasxfer.search.parallel import run_parallel_search

        return run_parallel_search(config, store, reporter, evaluator, stop, config_changes=config_changes)
    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    stop = stop or StopRequest()
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    pruner = create_pruner(config, objective)
    with store.lock():
        if config_changes:
            store.rewrite_config(config, config_changes)  # the next resume keeps the new budget
        history = store.history()
        # Deployed timings go into the journal, and a resume reuses those already there.
        getattr(evaluator, "use_journal", lambda _store: None)(store)
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
        report_data(store, reporter, evaluator)
        if config.search.one_shot is not None:  # supernet, supernet-scored search, retraining: nasxfer.search.one_shot
            from nasxfer.search.one_shot import run_one_shot

            stop_reason, interrupted = run_one_shot(
                config, store, evaluator, planner, history, record, reporter, stop, elapsed, pending=pending
            )
        else:
            stop_reason, interrupted = run_planned_trials(
                config, store, evaluator, planner, history, record, reporter, stop, elapsed, pending=pending, prune=prune
            )
            if config.search.recheck is not None and not interrupted:  # the leaders trained again: nasxfer.search.recheck
                from nasxfer.search.recheck import run_recheck

                early, interrupted = run_recheck(config, store, evaluator, history, record, stop, elapsed, objective)
                stop_reason = early or stop_reason

        best = objective.best(history)
        epochs = epochs_trained(history)
        store.append(
            "search_stopped", reason=stop_reason, best=best.number if best else None, epochs=epochs, elapsed=elapsed()
        )
    outcome = SearchOutcome(store.run_id, history, best, stop_reason, time.monotonic() - started, interrupted, epochs)
    reporter.search_finished(outcome)
    return outcome
