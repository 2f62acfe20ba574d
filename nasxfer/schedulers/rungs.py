"""Rungs: the epochs at which schedulers compare trials, and a trial's result at each.

A trial's value at a rung is read from its learning curve (the row of that epoch), so a
trial promoted past a rung still counts at that rung with the value it had there: the
history holds each trial only as it last finished.
"""

from __future__ import annotations

from typing import Sequence

from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def rung_epochs(min_epochs: int, eta: int, max_epochs: int) -> tuple[int, ...]:
    """``min_epochs · eta^k`` below ``max_epochs``, then ``max_epochs``: (1, 3, 9, 27, 30) for 1, 3, 30."""
    rungs = []
    epochs = min_epochs
    while epochs < max_epochs:
        rungs.append(epochs)
        epochs *= eta
    rungs.append(max_epochs)
    return tuple(rungs)


def value_at(record: TrialRecord, epoch: int, objective: ObjectiveSpec) -> float | None:
    """The trial's objective after ``epoch`` (larger is better), or None if it never got there."""
    for row in reversed(record.curve):
        if int(row.get("epoch", -1)) == epoch:
            return objective.oriented(row.get(objective.metric))
    if not record.curve and record.state is not TrialState.FAILED and record.epochs_reached == epoch:
        return objective.score(record)  # an evaluator without a curve: its final metrics
    return None


def ranked_at(records: Sequence[TrialRecord], epoch: int, objective: ObjectiveSpec) -> list[TrialRecord]:
    """The trials with a result at ``epoch``, best first (ties: the earlier trial first)."""
    scored = [(value, record) for record in records if (value := value_at(record, epoch, objective)) is not None]
    scored.sort(key=lambda pair: (-pair[0], pair[1].number))
    return [record for _, record in scored]


def waiting_at(record: TrialRecord, epoch: int) -> bool:
    """Paused at this rung: promotable."""
    return record.state is TrialState.PAUSED and record.epochs_reached == epoch
