"""Choosing the trial to turn into the final model, by a rule.

``best``: the best trial by the primary objective. ``fastest`` / ``smallest``: the
lowest latency / parameter count among the candidates, where the candidates are the
Pareto front (multi-objective searches) or every complete trial, narrowed with
``within`` to those whose primary metric is within that much of the best (for
example ``--pick fastest --within 0.01``: the fastest trial at most one accuracy point
below the best). ``simplest-within-noise``: the 1-s.e. rule (Breiman et al., 1984): the
trial with the fewest parameters among the complete trials within one standard error of
the best, the best's own standard error (``search.cv``'s, or ``search.recheck``'s); a run
with neither has no standard errors and is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

from nasxfer.errors import NasxferError
from nasxfer.search.pareto import front
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

if TYPE_CHECKING:
    from nasxfer.storage.store import RunStore

PICKS = {"best": None, "fastest": "latency_ms", "smallest": "params", "simplest-within-noise": "params"}

#: The 1-s.e. rule: among the trials whose metric is within one standard error of the best
#: (``search.cv``'s fold spread), the one with the fewest parameters.
WITHIN_NOISE = "simplest-within-noise"


#: A re-timing hook for ``--pick fastest``: given the candidates whose latency was flagged as
#: measured on a busy machine (``latency_busy``), their fresh latency metrics by trial number.
Retime = Callable[[Sequence[TrialRecord]], "dict[int, dict[str, float]]"]


def pick_trial(
    history: Sequence[TrialRecord],
    objectives: Sequence[ObjectiveSpec],
    rule: str = "best",
    within: float | None = None,
    retime: Retime | None = None,
) -> TrialRecord | None:
    """The trial ``rule`` picks (see the module docstring). With ``retime``, ``fastest``
    first re-times the candidates whose latency is flagged busy, and ranks by the new figures."""
    if rule not in PICKS:
        raise NasxferError(f"--pick: unknown rule '{rule}' (choices: {', '.join(PICKS)})")
    primary = objectives[0]
    best = primary.best(history)
    if best is None or (rule == "best" and within is None):
        return best
    if rule == WITHIN_NOISE:
        if within is not None:
            raise NasxferError(f"--within: --pick {WITHIN_NOISE} sets its own margin (one standard error of the best); leave --within out")
        if primary.standard_error(best) is None:
            raise NasxferError(
                f"--pick {WITHIN_NOISE}: the trials have no standard error of {primary.metric}; "
                "search with search.cv: {folds: 5} or search.recheck, or use --pick smallest --within D"
            )
        tied = primary.tied_with_best(history)
        pool = [r for r in history if r.number in tied and r.metrics.get("params") is not None] or [best]
        return min(pool, key=lambda r: (r.metrics.get("params", math.inf), -primary.score(r), r.number))
    pool = front(history, objectives) if len(objectives) > 1 else [r for r in history if primary.score(r) is not None]
    if within is not None:
        # Compare in score space (larger is better whatever the mode) so that "within" works for min metrics too.
        floor = primary.score(best) - within
        pool = [r for r in pool if primary.score(r) >= floor] or [best]
    cost = PICKS[rule]
    if cost is None:
        return max(pool, key=lambda r: (primary.score(r), -r.number))
    measured = [r for r in pool if r.metrics.get(cost) is not None]
    if not measured:
        raise NasxferError(f"--pick {rule}: no trial recorded {cost}")
    flagged = [r for r in measured if r.metrics.get("latency_busy")] if cost == "latency_ms" and retime else []
    if flagged:  # a busy spell's figure must not decide which network is the fastest
        fresh = retime(flagged)
        measured = [replace(r, metrics={**r.metrics, **fresh[r.number]}) if r.number in fresh else r for r in measured]
    return min(measured, key=lambda r: (r.metrics[cost], -primary.score(r), r.number))


RETIMED_EVENT = "latency_retimed"


def choose_trial(
    store: "RunStore", number: int | None = None, pick: str = "best", within: float | None = None, retime: Retime | None = None
) -> TrialRecord:
    """The trial ``number``, or the one the ``pick`` rule chooses (``pick_trial``): what finetune, export and predict use.

    Latencies re-timed by an earlier pick (``latency_retimed`` events) replace the trials'
    own; new re-timings (``retime``, for ``--pick fastest``) are journalled the same way."""
    from nasxfer.search.objectives import objectives_of

    history = retimed_history(store)
    if retime is not None:
        inner = retime

        def retime(records):  # noqa: F811 - the caller's hook, its results journalled
            fresh = inner(records)
            for trial_number, metrics in fresh.items():
                store.append(RETIMED_EVENT, number=trial_number, metrics=metrics)
            return fresh
    if number is not None:
        match = [r for r in history if r.number == number]
        if not match:
            raise NasxferError(f"--trial: run '{store.run_id}' has no finished trial {number}")
        if match[0].state in (TrialState.FAILED, TrialState.REJECTED):
            raise NasxferError(f"--trial: trial {number} of '{store.run_id}' did not complete ({match[0].error})")
        return match[0]  # a paused or pruned trial too: finetuning retrains it from scratch
    # objective.best ranks complete trials first, then those trained furthest
    chosen = pick_trial(history, objectives_of(store.config()), pick, within, retime)
    if chosen is None:
        raise NasxferError(f"run '{store.run_id}': no completed trial to finetune (run or resume the search first)")
    return chosen


def retimed_history(store: "RunStore") -> list[TrialRecord]:
    """The run's history with the latency of each re-timed trial (``latency_retimed``) replaced."""
    fresh: dict[int, dict[str, float]] = {}
    for event in store.events():
        if event.get("event") == RETIMED_EVENT and isinstance(event.get("metrics"), dict):
            fresh[event.get("number")] = event["metrics"]
    return [replace(r, metrics={**r.metrics, **fresh[r.number]}) if r.number in fresh else r for r in store.history()]


def model_file(store, trial: int | None = None) -> tuple[Path, str | None, str]:
    """``(path, sha256, description)`` of the model to use: the finetuned final model,
    else (or with ``trial``) a trial's model."""
    if trial is None:
        final = store.path / "final" / "model.pt"
        if final.is_file():
            events = [e for e in store.events() if e.get("event") == "finetuned"]
            return final, (events[-1].get("sha256") if events else None), "the final model"
    record = choose_trial(store, trial)
    path = store.trial_dir(record.number) / "model.pt"
    return path, record.checksums.get("model.pt"), f"trial {record.number}'s model (not finetuned)"
