"""What a search loop is told and what it answers: a stop request in, the outcome out.

Both loops (``runner`` for one trial at a time, ``parallel`` for several) share them.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasxfer.search.trial import TrialRecord


@dataclass
class SearchOutcome:
    run_id: str
    history: list[TrialRecord]
    best: TrialRecord | None
    stop_reason: str
    seconds: float
    interrupted: bool = False
    epochs: int = 0  # training epochs of the whole run (trial.epochs_trained)


@dataclass
class StopRequest:
    """Set (by a signal handler) to stop at the next safe point: the end of an epoch."""

    requested: bool = False

    def request(self) -> None:
        self.requested = True
