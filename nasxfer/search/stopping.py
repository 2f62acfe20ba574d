"""When a search stops on its own: the time budget is spent, or too many trials in a row
failed or broke the constraints. (The trial budget is the planner's: it stops proposing.)"""

from __future__ import annotations

from nasxfer.config import Config
from nasxfer.search.trial import TrialRecord, TrialState


def time_budget_spent(config: Config, elapsed: float) -> str | None:
    """The time budget's stop reason, once ``elapsed`` seconds have spent it."""
    minutes = config.search.budget.minutes
    if minutes is not None and elapsed >= minutes * 60:
        return f"time budget reached ({minutes:g} min)"
    return None


def too_many_in_a_row(config: Config, history: list[TrialRecord]) -> str | None:
    """The stop reason when the latest trials failed (``search.max_failures``) or broke the
    constraints (``search.max_rejects``) too many times in a row; None otherwise."""
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
