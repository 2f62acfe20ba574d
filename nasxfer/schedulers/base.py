"""The scheduler contract: ``decide(history, can_start_new) -> Decision``.

A scheduler decides how long trials train; the strategy decides what they are. Given the
history (each trial once, as it last finished) a scheduler says what to run next: a new
candidate to train up to some epoch (the runner asks the strategy which), or an existing
paused trial to promote to a further epoch (it continues from its checkpoint), or nothing.
Like a strategy it holds no state: the same history gives the same decision, so resuming
a run mid-bracket is replaying its journal.

``can_start_new`` is False once the trial budget is spent (or the space exhausted): then
the scheduler finishes what it has begun, promoting without new candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from nasxfer.search.trial import ObjectiveSpec, TrialRecord


@dataclass(frozen=True)
class NewCandidate:
    """Start a new candidate and train it up to ``epochs`` (None: all of ``train.epochs``)."""

    epochs: int | None = None
    bracket: int | None = None


@dataclass(frozen=True)
class Promotion:
    """Continue the paused trial ``number`` from its checkpoint up to ``epochs``."""

    number: int
    epochs: int


@dataclass(frozen=True)
class Retirement:
    """The paused trial ``number`` will never be promoted: it is pruned, its checkpoint freed."""

    number: int
    reason: str


@dataclass(frozen=True)
class Decision:
    """What to run next (None: nothing, the search is over) and which paused trials to retire first."""

    next: NewCandidate | Promotion | None
    retire: tuple[Retirement, ...] = field(default_factory=tuple)


class Scheduler:
    name: str = ""

    def __init__(self, objective: ObjectiveSpec, max_epochs: int):
        self.objective = objective
        self.max_epochs = max_epochs

    def decide(self, history: Sequence[TrialRecord], can_start_new: bool) -> Decision:
        raise NotImplementedError


class FullFidelity(Scheduler):
    """No scheduler: every candidate trains all of its ``train.epochs``."""

    name = "none"

    def decide(self, history: Sequence[TrialRecord], can_start_new: bool) -> Decision:
        return Decision(NewCandidate() if can_start_new else None)
