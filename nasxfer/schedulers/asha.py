"""Asynchronous successive halving (ASHA; Li et al., MLSys 2020), with epochs as the budget.

Whenever a worker is free: look at the rungs from the top down; if a trial paused at a
rung is among the best ``floor(m / eta)`` of the ``m`` trials that have reached that rung,
and not yet promoted, promote it to the next rung; otherwise start a new candidate at the
first rung. No rung waits for another to fill, so a good early candidate goes on at once;
the price is that a trial may be promoted that a later, fuller rung would not have kept.

With ``brackets: B`` (asynchronous Hyperband), new candidates go round-robin to B
brackets, bracket ``b`` starting at rung ``b`` and promoting among its own trials.

Nothing is ever retired: as a rung fills, a paused trial may still rise into its top
``1/eta``. When no new candidate may start (the trial budget is spent), each rung promotes
at least its best trial, so the search ends with at least one trial per bracket trained
to ``train.epochs``; the other paused trials stay paused (extending the budget on resume
may promote them).
"""

from __future__ import annotations

from typing import Sequence

from nasxfer.schedulers.base import Decision, NewCandidate, Promotion, Scheduler
from nasxfer.schedulers.rungs import ranked_at, rung_epochs, waiting_at
from nasxfer.search.trial import ObjectiveSpec, TrialRecord


class ASHA(Scheduler):
    name = "asha"

    def __init__(self, objective: ObjectiveSpec, max_epochs: int, min_epochs: int, eta: int, brackets: int | None = None):
        super().__init__(objective, max_epochs)
        self.eta = eta
        self.rungs = rung_epochs(min_epochs, eta, max_epochs)
        self.brackets = brackets or 1

    def decide(self, history: Sequence[TrialRecord], can_start_new: bool) -> Decision:
        for bracket in range(self.brackets):
            step = self._promotion([r for r in history if r.bracket == bracket], self.rungs[bracket:], can_start_new)
            if step is not None:
                return Decision(step)
        if not can_start_new:
            return Decision(None)
        bracket = sum(r.bracket is not None for r in history) % self.brackets
        return Decision(NewCandidate(self.rungs[bracket], bracket))

    def _promotion(self, members: list[TrialRecord], rungs: tuple[int, ...], can_start_new: bool) -> Promotion | None:
        for j in range(len(rungs) - 2, -1, -1):  # the top rung first: finish what is furthest along
            ranked = ranked_at(members, rungs[j], self.objective)
            keep = len(ranked) // self.eta
            if not can_start_new and ranked:
                keep = max(1, keep)
            for record in ranked[:keep]:
                if waiting_at(record, rungs[j]):
                    return Promotion(record.number, rungs[j + 1])
        return None
