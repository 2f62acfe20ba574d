"""Trial records: the immutable rows of a run's journal, and the objective over them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Sequence


class TrialState(str, Enum):
    COMPLETE = "complete"
    FAILED = "failed"
    REJECTED = "rejected"  # broke a constraint before training; not counted against the budget
    # Proposed and still training (parallel trials). Never journalled: strategies see such
    # records beside the finished ones so that they do not propose the same candidate again.
    RUNNING = "running"


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the journal holds it. Strategies see a list of these, which
    with parallel trials ends with the pending ones (state ``RUNNING``, no metrics)."""

    number: int
    key: str
    values: dict[str, Any]
    state: TrialState
    metrics: dict[str, float] = field(default_factory=dict)  # val_accuracy, val_f1, val_loss, params, …
    curve: list[dict[str, float]] = field(default_factory=list)  # one row of metrics per epoch
    error: str | None = None
    seconds: float = 0.0
    seed: int = 0
    checksums: dict[str, str] = field(default_factory=dict)  # trial files -> sha256

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["state"] = self.state.value
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> TrialRecord:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        fields["state"] = TrialState(row["state"])
        return cls(**fields)


@dataclass(frozen=True)
class ObjectiveSpec:
    """Which metric ranks trials, and whether more is better."""

    metric: str = "val_accuracy"
    mode: str = "max"

    def score(self, record: TrialRecord) -> float | None:
        """The metric as a number where larger is better; None when not comparable."""
        if record.state is not TrialState.COMPLETE:
            return None
        value = record.metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return None
        return value if self.mode == "max" else -value

    def best(self, history: Sequence[TrialRecord]) -> TrialRecord | None:
        scored = [(s, -r.number, r) for r in history if (s := self.score(r)) is not None]
        return max(scored, key=lambda t: (t[0], t[1]))[2] if scored else None

    def ranked(self, history: Sequence[TrialRecord]) -> list[TrialRecord]:
        """Completed trials best first (ties: earlier trial first); others after, by number."""
        scored = [r for r in history if self.score(r) is not None]
        scored.sort(key=lambda r: (-self.score(r), r.number))
        rest = sorted((r for r in history if self.score(r) is None), key=lambda r: r.number)
        return scored + rest
