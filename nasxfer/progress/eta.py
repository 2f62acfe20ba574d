"""How long a search has left, from its budget and the pace of the trials so far."""

from __future__ import annotations


def trials_target(budget_trials: int | None, space_size: float) -> int | None:
    """How many trials the search will run in all: the trial budget, or fewer when the space is smaller."""
    if budget_trials is None:
        return None
    return int(min(budget_trials, space_size))


def seconds_left(
    *,
    target_trials: int | None,
    time_limit_seconds: float | None,
    finished_trials: int,
    mean_trial_seconds: float | None,
    current_fraction: float,
    elapsed_seconds: float,
) -> float | None:
    """The estimated seconds until the budget ends the search; None while there is no pace yet.

    ``finished_trials`` counts every finished trial, resumed ones included (the trial budget
    does); ``current_fraction`` is how much of the running trial is done (epochs done /
    epochs); ``elapsed_seconds`` is this session's time, which the minutes budget counts.
    With both budgets, whichever ends first wins. The runner checks the budget between
    trials, so a minutes budget overruns by up to one trial: this estimate does not add that.
    """
    estimates = []
    if target_trials is not None and mean_trial_seconds is not None:
        remaining = max(0.0, target_trials - finished_trials - current_fraction)
        estimates.append(remaining * mean_trial_seconds)
    if time_limit_seconds is not None:
        estimates.append(max(0.0, time_limit_seconds - elapsed_seconds))
    return min(estimates) if estimates else None


def mean_trial_seconds(finished_seconds: list[float], current_seconds: float, current_fraction: float) -> float | None:
    """The pace: the mean of this session's finished trials, or the running trial extrapolated.

    Before any trial has finished, one finished epoch of the running trial gives a first guess.
    """
    if finished_seconds:
        return sum(finished_seconds) / len(finished_seconds)
    if current_fraction > 0:
        return current_seconds / current_fraction
    return None
