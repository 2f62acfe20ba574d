"""How long a search has left, from its budget and the pace of the trials so far.

A search with both budgets stops at whichever ends first: ``estimate`` says which one that
will be (the binding budget), so the live view can show it. The minutes budget is checked
between trials: once it is spent, the running trial still finishes, and the estimate is
that trial's remaining time, not zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # until the search ends; None while there is no pace yet
    binding: str | None  # "trials" or "minutes": the budget expected to end the search
    overtime: bool = False  # the minutes budget is spent and the running trial is finishing


def trials_target(budget_trials: int | None, space_size: float) -> int | None:
    """How many trials the search will run in all: the trial budget, or fewer when the space is smaller."""
    if budget_trials is None:
        return None
    return int(min(budget_trials, space_size))


def estimate(
    *,
    target_trials: int | None,
    time_limit_seconds: float | None,
    finished_trials: int,
    mean_trial_seconds: float | None,
    current_fraction: float,
    elapsed_seconds: float,
) -> Estimate:
    """The time left and the budget that will end the search.

    ``finished_trials`` counts every finished trial, resumed ones included (the trial budget
    does); ``current_fraction`` is how much of the running trial is done (epochs done /
    epochs); ``elapsed_seconds`` is this session's time, which the minutes budget counts.
    """
    candidates: dict[str, float] = {}
    if target_trials is not None and mean_trial_seconds is not None:
        remaining = max(0.0, target_trials - finished_trials - current_fraction)
        candidates["trials"] = remaining * mean_trial_seconds
    overtime = False
    if time_limit_seconds is not None:
        left = time_limit_seconds - elapsed_seconds
        overtime = left <= 0
        candidates["minutes"] = _time_budget_end(left, mean_trial_seconds, current_fraction)
    if not candidates:
        return Estimate(None, None)
    binding = min(candidates, key=lambda name: candidates[name])
    return Estimate(candidates[binding], binding, overtime)


def _time_budget_end(left: float, pace: float | None, current_fraction: float) -> float:
    """Seconds until the minutes budget ends the search: at the end of the first trial that
    finishes after the limit (trials are never cut off), or at the limit without a pace."""
    if pace is None:
        return max(0.0, left)
    current = (1.0 - current_fraction) * pace  # the running (or next) trial's remaining time
    if left <= current:
        return current
    return current + math.ceil((left - current) / pace) * pace


def seconds_left(**kwargs) -> float | None:
    """``estimate(...).seconds``: the estimated seconds until the budget ends the search."""
    return estimate(**kwargs).seconds


def mean_trial_seconds(finished_seconds: list[float], current_seconds: float, current_fraction: float) -> float | None:
    """The pace: the mean of this session's finished trials, or the running trial extrapolated.

    Before any trial has finished, one finished epoch of the running trial gives a first guess.
    """
    if finished_seconds:
        return sum(finished_seconds) / len(finished_seconds)
    if current_fraction > 0:
        return current_seconds / current_fraction
    return None
