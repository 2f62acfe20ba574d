"""The loop of one search phase: plan → run → record, until the plans or the budget run out.

``runner.run_search`` runs it once for an ordinary search; ``one_shot`` runs it for the
supernet-scored phase and again for the retrained candidates. A planner is anything with
``next(history, record, elapsed) -> PlannedTrial | None`` and a ``stop_reason``.
"""

from __future__ import annotations

from typing import Callable

from nasxfer.search.outcome import StopRequest
from nasxfer.search.planning import PlannedTrial
from nasxfer.search.stopping import time_budget_spent, too_many_in_a_row
from nasxfer.search.trial import TrialRecord
from nasxfer.search.trial_run import run_trial
from nasxfer.storage.run_status import STOPPED_BY_REQUEST


def run_planned_trials(
    config,
    store,
    evaluator,
    planner,
    history: list[TrialRecord],
    record: Callable[[TrialRecord], None],
    reporter,
    stop: StopRequest,
    elapsed: Callable[[], float],
    *,
    pending: PlannedTrial | None = None,
    prune=None,
    time_budget: bool = True,
) -> tuple[str, bool]:
    """Run ``pending`` (an earlier session's unfinished trial), then the planner's trials,
    recording each; ``(why it stopped, whether a stop request interrupted it)``.

    ``time_budget=False`` ignores ``search.budget.minutes`` (a phase that must finish)."""
    while True:
        stop_reason = time_budget_spent(config, elapsed()) if time_budget else None
        if stop_reason:
            return stop_reason, False
        if stop.requested:
            return STOPPED_BY_REQUEST, True
        if pending is not None:
            plan, pending = pending, None
        else:
            plan = planner.next(history, record, elapsed())
        if plan is None:
            return planner.stop_reason, False
        trial = run_trial(config, store, evaluator, plan, reporter, stop, prune)
        if trial is None:  # stopped mid-trial; its checkpoint is journalled
            return STOPPED_BY_REQUEST, True
        record(trial)
        stop_reason = too_many_in_a_row(config, history)
        if stop_reason:
            return stop_reason, False
