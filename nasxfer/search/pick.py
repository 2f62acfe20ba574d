"""Choosing the trial to turn into the final model, by a rule.

``best``: the best trial by the primary objective. ``fastest`` / ``smallest``: the
lowest latency / parameter count among the candidates, where the candidates are the
Pareto front (multi-objective searches) or every complete trial, narrowed with
``within`` to those whose primary metric is within that much of the best (for
example ``--pick fastest --within 0.01``: the fastest trial at most one accuracy point
below the best). ``simplest-within-noise``: the 1-s.e. rule (Breiman et al., 1984): the
trial with the fewest parameters among the complete trials within one standard error of
the best, the best's own ``search.cv`` standard error; a run without ``search.cv`` has no
standard errors and is refused.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from nasxfer.errors import NasxferError
from nasxfer.search.pareto import front
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

if TYPE_CHECKING:
    from nasxfer.storage.store import RunStore

PICKS = {"best": None, "fastest": "latency_ms", "smallest": "params", "simplest-within-noise": "params"}

#: The 1-s.e. rule: among the trials whose metric is within one standard error of the best
#: (``search.cv``'s fold spread), the one with the fewest parameters.
WITHIN_NOISE = "simplest-within-noise"


def pick_trial(
    history: Sequence[TrialRecord], objectives: Sequence[ObjectiveSpec], rule: str = "best", within: float | None = None
) -> TrialRecord | None:
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
                "search with search.cv: {folds: 5}, or use --pick smallest --within D"
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
    return min(measured, key=lambda r: (r.metrics[cost], -primary.score(r), r.number))


def choose_trial(store: "RunStore", number: int | None = None, pick: str = "best", within: float | None = None) -> TrialRecord:
    """The trial ``number``, or the one the ``pick`` rule chooses (``pick_trial``): what finetune, export and predict use."""
    from nasxfer.search.objectives import objectives_of

    history = store.history()
    if number is not None:
        match = [r for r in history if r.number == number]
        if not match:
            raise NasxferError(f"--trial: run '{store.run_id}' has no finished trial {number}")
        if match[0].state in (TrialState.FAILED, TrialState.REJECTED):
            raise NasxferError(f"--trial: trial {number} of '{store.run_id}' did not complete ({match[0].error})")
        return match[0]  # a paused or pruned trial too: finetuning retrains it from scratch
    # objective.best ranks complete trials first, then those trained furthest
    chosen = pick_trial(history, objectives_of(store.config()), pick, within)
    if chosen is None:
        raise NasxferError(f"run '{store.run_id}': no completed trial to finetune (run or resume the search first)")
    return chosen
