"""The search loop: propose → apply → evaluate → record, within the budget.

It reports through a ``Reporter`` and never prints. Everything it knows at the start of an
iteration comes from the journal's history, so stopping between trials loses nothing.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any

from nasxfer.config import Config
from nasxfer.errors import NasxferError
from nasxfer.reporting import Reporter
from nasxfer.space import SearchSpace
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


def objective_of(config: Config) -> ObjectiveSpec:
    return ObjectiveSpec(config.search.objective.metric, config.search.objective.mode)


def trial_seed(config: Config, number: int) -> int:
    """Each trial gets its own seed, derived from the run's, so trials are reproducible alone."""
    return (config.seed * 100_003 + number) % 2**31


def run_search(
    config: Config,
    store: RunStore,
    reporter: Reporter | None = None,
    evaluator: Any = None,
) -> SearchOutcome:
    """Run (or continue) the search that ``config`` describes, journalling into ``store``."""
    from nasxfer.evaluator import make_evaluator

    reporter = reporter or Reporter()
    evaluator = evaluator or make_evaluator(config)
    space = SearchSpace.from_config(config)
    objective = objective_of(config)
    strategy = create_strategy(
        config.search.strategy.name, space, config.seed, objective, config.search.strategy.options
    )
    budget = config.search.budget
    history = store.history()
    reporter.search_started(store.run_id, config, space, resumed=len(history))
    started = time.monotonic()
    failures_in_a_row = 0
    stop_reason = "budget"

    while True:
        elapsed_minutes = (time.monotonic() - started) / 60
        if budget.trials is not None and len(history) >= budget.trials:
            stop_reason = f"trial budget reached ({budget.trials} trials)"
            break
        if budget.minutes is not None and elapsed_minutes >= budget.minutes:
            stop_reason = f"time budget reached ({budget.minutes:g} min)"
            break
        candidate = strategy.propose(history)
        if candidate is None:
            stop_reason = "search space exhausted"
            break
        number = 1 + max((r.number for r in history), default=0)
        seed = trial_seed(config, number)
        values = candidate.as_dict()
        store.append("trial_started", number=number, key=candidate.key, values=values, seed=seed)
        trial_start = time.monotonic()
        try:
            trial_config = config.apply(values)
            reporter.trial_started(number, values, trial_config.train.epochs)
            outcome = evaluator.evaluate(
                trial_config,
                seed=seed,
                trial_dir=store.trial_dir(number),
                values=values,
                on_epoch=lambda row, n=number, e=trial_config.train.epochs: reporter.epoch_finished(n, row, e),
            )
            record = TrialRecord(
                number=number,
                key=candidate.key,
                values=values,
                state=TrialState.COMPLETE,
                metrics=outcome.metrics,
                curve=outcome.curve,
                seconds=time.monotonic() - trial_start,
                seed=seed,
            )
            failures_in_a_row = 0
        except Exception as exc:  # a failed trial is a result; the search goes on
            record = TrialRecord(
                number=number,
                key=candidate.key,
                values=values,
                state=TrialState.FAILED,
                error=_describe(exc),
                seconds=time.monotonic() - trial_start,
                seed=seed,
            )
            store.append("trial_error", number=number, traceback=traceback.format_exc(limit=20))
            failures_in_a_row += 1
        store.record_trial(record, objective)
        history.append(record)
        reporter.trial_finished(record, objective.best(history))
        if failures_in_a_row >= config.search.max_failures:
            stop_reason = (
                f"{failures_in_a_row} trials failed in a row (search.max_failures); last error: {record.error}"
            )
            break

    outcome = SearchOutcome(
        run_id=store.run_id,
        history=history,
        best=objective.best(history),
        stop_reason=stop_reason,
        seconds=time.monotonic() - started,
    )
    store.append("search_stopped", reason=stop_reason, best=outcome.best.number if outcome.best else None)
    reporter.search_finished(outcome)
    return outcome


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NasxferError):
        return str(exc)
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
