"""Synchronous successive halving and Hyperband, with epochs as the budget.

Successive halving (Jamieson & Talwalkar 2016; Li et al. 2018, Algorithm 1's inner loop):
a bracket trains ``n`` candidates to the first rung, the best ``n/eta`` of them on to the
next rung, the best ``n/eta²`` to the one after, up to ``train.epochs``. A rung is decided
only once every trial of the rung below has reached it: synchronous.

Hyperband (Li et al., JMLR 2018): successive halving brackets that start at different
rungs, from the most aggressive (many candidates, one epoch) to plain training (few
candidates, all epochs), in turn. With ``s_max + 1`` rungs, bracket ``s`` (``s_max`` down
to 0) starts ``n = ceil((s_max + 1) / (s + 1) · eta^s)`` candidates at rung ``s_max - s``.
Successive halving is Hyperband with one bracket, the most aggressive, so ``n = eta^s_max``
and exactly one candidate reaches ``train.epochs``.

State: every trial carries its bracket number, given when it started; a bracket takes new
candidates until it is full or its first promotion. When no new candidate may start (the
trial budget is spent), the last bracket is closed as it is: a rung ``j`` of a bracket with
``m`` candidates keeps ``max(1, floor(m / eta^j))``, so every bracket ends with at least
one trial trained to ``train.epochs``. Once a rung is decided, the trials it did not keep
are retired: pruned, their checkpoints deleted.

With parallel trials the history also holds the trials still training (``RUNNING``): a
rung is decided only once none of its bracket's trials is still training towards it, and
meanwhile the next bracket takes new candidates, so free workers are not left idle.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

from nasxfer.schedulers.base import Decision, NewCandidate, Promotion, Retirement, Scheduler
from nasxfer.schedulers.rungs import ranked_at, rung_epochs, waiting_at
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

_WAITING = object()  # a bracket whose next rung cannot be decided until running trials finish


class Hyperband(Scheduler):
    name = "hyperband"

    def __init__(self, objective: ObjectiveSpec, max_epochs: int, min_epochs: int, eta: int, brackets: int | None = None):
        super().__init__(objective, max_epochs)
        self.eta = eta
        self.rungs = rung_epochs(min_epochs, eta, max_epochs)
        self.s_max = len(self.rungs) - 1
        self.brackets = brackets or self.s_max + 1

    def shape(self, bracket: int) -> tuple[int, tuple[int, ...]]:
        """Bracket number ``bracket``'s size and rungs; the brackets cycle from s_max down."""
        s = self.s_max - bracket % self.brackets
        size = math.ceil((self.s_max + 1) / (s + 1) * self.eta**s)
        return size, self.rungs[self.s_max - s :]

    def decide(self, history: Sequence[TrialRecord], can_start_new: bool) -> Decision:
        groups: dict[int, list[TrialRecord]] = defaultdict(list)
        for record in history:
            if record.bracket is not None:
                groups[record.bracket].append(record)
        last = max(groups, default=-1)
        retire: list[Retirement] = []
        for bracket in sorted(groups):
            members = groups[bracket]
            size, rungs = self.shape(bracket)
            still_open = (
                bracket == last
                and can_start_new
                and len(members) < size
                and all(m.epochs_reached <= rungs[0] for m in members)  # no promotion yet
            )
            if still_open:
                return Decision(NewCandidate(rungs[0], bracket), tuple(retire))
            step = self._promotion(bracket, members, rungs, retire)
            if step is _WAITING:
                continue
            if step is not None:
                return Decision(step, tuple(retire))
        if not can_start_new:
            return Decision(None, tuple(retire))
        return Decision(NewCandidate(self.shape(last + 1)[1][0], last + 1), tuple(retire))

    def _promotion(
        self, bracket: int, members: list[TrialRecord], rungs: tuple[int, ...], retire: list[Retirement]
    ) -> Promotion | object | None:
        """The next promotion of a closed bracket, lowest rung first; None when it is finished,
        ``_WAITING`` when the rung to decide still has trials training towards it.

        Appends to ``retire`` the paused trials of every rung already decided.
        """
        for j in range(1, len(rungs)):
            if any(m.state is TrialState.RUNNING and m.epochs_reached < rungs[j - 1] for m in members):
                return _WAITING
            keep = max(1, len(members) // self.eta**j)
            ranked = ranked_at(members, rungs[j - 1], self.objective)
            for record in ranked[:keep]:
                if waiting_at(record, rungs[j - 1]):
                    return Promotion(record.number, rungs[j])
            reason = (
                f"not among the best {keep} of {len(ranked)} after {rungs[j - 1]} epochs "
                f"(bracket {bracket}, rung {j - 1})"
            )
            retire.extend(Retirement(r.number, reason) for r in ranked[keep:] if waiting_at(r, rungs[j - 1]))
        return None


class SuccessiveHalving(Hyperband):
    """One bracket shape, repeated: ``eta^s_max`` candidates, one of which trains to the end."""

    name = "successive_halving"

    def __init__(self, objective: ObjectiveSpec, max_epochs: int, min_epochs: int, eta: int, brackets: int | None = None):
        super().__init__(objective, max_epochs, min_epochs, eta, brackets=1)
