"""The median pruner: stop a trial that is worse than the median of its predecessors.

The median stopping rule (Golovin et al., "Google Vizier", KDD 2017; Optuna's
``MedianPruner``): after each epoch past ``warmup_epochs``, a trial whose validation
objective is worse than the median of the complete trials' values at the same epoch is
stopped there. It keeps the metrics of the epoch it reached, costs only the epochs it
trained, and is journalled as ``pruned`` with the comparison as its reason.

The rule is a function of the history and the trial's own curve, so a resumed search
prunes exactly as the interrupted one would have.
"""

from __future__ import annotations

import statistics
from typing import Sequence

from nasxfer.errors import ConfigError
from nasxfer.schedulers.rungs import value_at
from nasxfer.search.trial import STATIC_METRICS, ObjectiveSpec, TrialRecord, TrialState


class MedianPruner:
    def __init__(self, objective: ObjectiveSpec, warmup_epochs: int, min_trials: int):
        self.objective = objective
        self.warmup_epochs = warmup_epochs
        self.min_trials = min_trials

    def check(self, history: Sequence[TrialRecord], row: dict[str, float], epochs: int) -> str | None:
        """Why the trial whose epoch ``row`` this is should stop now; None to let it go on.

        ``epochs`` is the trial's ``train.epochs``: its last epoch is never pruned (nothing
        would be saved).
        """
        epoch = int(row["epoch"])
        if epoch <= self.warmup_epochs or epoch >= epochs:
            return None
        mine = self.objective.oriented(row.get(self.objective.metric))
        if mine is None:
            return None
        others = [
            value
            for record in history
            if record.state is TrialState.COMPLETE
            and (value := value_at(record, epoch, self.objective)) is not None
        ]
        if len(others) < self.min_trials:
            return None
        median = statistics.median(others)
        if mine >= median:
            return None
        sign = 1 if self.objective.mode == "max" else -1
        return (
            f"{self.objective.metric} {sign * mine:.4f} after epoch {epoch} is worse than the median "
            f"{sign * median:.4f} of {len(others)} complete trials there"
        )


def create_pruner(config, objective: ObjectiveSpec) -> MedianPruner | None:
    """The pruner ``config.search.pruner`` names (None without one), checked against the config."""
    settings = config.search.pruner
    if settings is None:
        return None
    if config.search.scheduler is not None:
        raise ConfigError(
            "search.pruner: a scheduler already stops trials, ranking them at its rungs; "
            "use search.scheduler or search.pruner, not both"
        )
    if config.search.evaluator.table is not None:
        raise ConfigError(
            "search.pruner: a results table has no learning curve to prune on "
            "(drop search.pruner, or search.evaluator.table to train for real)"
        )
    metric = config.search.objective.metric
    if metric in STATIC_METRICS:
        raise ConfigError(
            f"search.pruner: the objective '{metric}' does not change with training, so there is "
            "nothing to prune on (rank by val_accuracy, val_f1 or val_loss, or drop search.pruner)"
        )
    if settings.warmup_epochs >= config.train.epochs - 1:
        raise ConfigError(
            f"search.pruner.warmup_epochs: {settings.warmup_epochs} leaves no epoch to prune at "
            f"(train.epochs is {config.train.epochs} and the last epoch is never pruned); set it below "
            f"{config.train.epochs - 1}"
        )
    return MedianPruner(objective, settings.warmup_epochs, settings.min_trials)
