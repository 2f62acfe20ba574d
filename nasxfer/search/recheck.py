"""``search.recheck``: train the leaders again before the pick.

A trial is one training run, and its validation score is partly that run's luck: on
NAS-Bench-Macro the seed-to-seed spread of a good architecture (0.13 points) is as wide as
the gap between the tenth best and the best. Once the strategy has searched its share of the
budget, the ``top`` best trials (by their first run) train ``repeats`` more times, each with
another seed, and each leader's record is replaced by one whose metrics are the mean over its
runs, with the standard error beside each (``val_accuracy_se``, as ``search.cv`` writes). The
leaderboard, the picks (``simplest-within-noise`` included) and the report then read them as
they read cross-validated trials.

The re-runs write their files under the leader's folder (``recheck-<r>/``); the trial's own
``model.pt`` stays its first run's. A leader is the unit of resume: its record is replaced
only once all its re-runs are done, so a run killed part-way through a leader trains that
leader's re-runs again, and the leaders already re-checked are kept. The leaders are chosen
by the first run's score (``recheck_first``, kept in the record), so a resumed run chooses
the same ones.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Callable

from nasxfer.errors import TrainingInterrupted
from nasxfer.evaluation.cross_validation import SE_METRICS, standard_error
from nasxfer.search.outcome import StopRequest
from nasxfer.search.stopping import time_budget_spent
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState
from nasxfer.storage.run_status import STOPPED_BY_REQUEST

#: The re-checked leader's metrics that hold its first run's score, and its number of runs.
FIRST = "recheck_first"
RUNS = "recheck_runs"


def first_score(objective: ObjectiveSpec, record: TrialRecord) -> float | None:
    """The trial's score by its first run (a re-checked leader keeps it in ``recheck_first``)."""
    return objective.oriented(record.metrics.get(FIRST, record.metrics.get(objective.metric)))


def leaders(history: list[TrialRecord], objective: ObjectiveSpec, top: int) -> list[TrialRecord]:
    """The ``top`` best complete trials by their first run; ties go to the earlier trial."""
    complete = [r for r in history if r.state is TrialState.COMPLETE and first_score(objective, r) is not None]
    return sorted(complete, key=lambda r: (-first_score(objective, r), r.number))[:top]


def averaged(record: TrialRecord, runs: list[dict[str, float]], metric: str) -> TrialRecord:
    """``record`` with its metrics the mean of ``runs`` (its own first), standard errors beside."""
    metrics = dict(record.metrics)
    for name in dict.fromkeys((*SE_METRICS, metric)):
        values = [float(r[name]) for r in runs if isinstance(r.get(name), (int, float))]
        if len(values) == len(runs):
            metrics[name] = statistics.fmean(values)
            metrics[f"{name}_se"] = standard_error(values)
    metrics[FIRST] = float(record.metrics[metric])
    metrics[RUNS] = float(len(runs))
    return dataclasses.replace(record, metrics=metrics)


def run_recheck(
    config,
    store,
    evaluator,
    history: list[TrialRecord],
    record: Callable[[TrialRecord], None],
    stop: StopRequest,
    elapsed: Callable[[], float],
    objective: ObjectiveSpec,
) -> tuple[str | None, bool]:
    """Re-check the leaders not yet re-checked; ``(why it stopped early or None, interrupted)``."""
    settings = config.search.recheck
    for leader in leaders(history, objective, settings.top):
        if RUNS in leader.metrics:
            continue  # re-checked by an earlier session
        stop_reason = time_budget_spent(config, elapsed())
        if stop_reason:
            return stop_reason, False
        trial_config = config.apply(leader.applied_values)
        runs = [leader.metrics]
        for repeat in range(1, settings.repeats + 1):
            if stop.requested:  # this leader's re-runs so far are dropped: it is re-checked whole on resume
                return STOPPED_BY_REQUEST, True
            store.append("recheck_started", number=leader.number, repeat=repeat, elapsed=elapsed())
            folder = store.trial_dir(leader.number) / f"recheck-{repeat}"
            folder.mkdir(parents=True, exist_ok=True)
            try:
                outcome = evaluator.evaluate(
                    trial_config,
                    seed=leader.seed + repeat,  # another seed each (a table lookup: another of its runs)
                    trial_dir=folder,
                    values=leader.values,
                    should_stop=lambda: stop.requested,
                )
            except TrainingInterrupted:
                return STOPPED_BY_REQUEST, True
            runs.append(outcome.metrics)
        record(averaged(leader, runs, objective.metric))
        if stop.requested:
            return STOPPED_BY_REQUEST, True
    return None, False
