"""Trial records: the immutable rows of a run's journal, and the objective over them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Sequence


class TrialState(str, Enum):
    COMPLETE = "complete"  # trained to its full train.epochs
    FAILED = "failed"
    REJECTED = "rejected"  # broke a constraint before training; not counted against the budget
    PAUSED = "paused"  # stopped at a scheduler's rung with its checkpoint kept: it may be promoted
    PRUNED = "pruned"  # stopped early for good: by the pruner, or a scheduler that will not promote it
    # Proposed and still training (parallel trials). Never journalled: strategies see such
    # records beside the finished ones so that they do not propose the same candidate again.
    RUNNING = "running"


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial (or one finished stretch of a scheduled trial) as the journal
    holds it. Strategies see a list of these: each trial once, as it last finished; with
    parallel trials the list ends with the pending ones (state ``RUNNING``, no metrics)."""

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
    bracket: int | None = None  # the scheduler's bracket the trial belongs to (None without a scheduler)
    reason: str | None = None  # why a pruned trial was stopped
    # Settings the trial ran with beyond its candidate's values: the batch size an
    # out-of-memory retry halved to. Kept apart from ``values`` so the candidate's key and
    # the search space stay as the strategy proposed them.
    overrides: dict[str, Any] = field(default_factory=dict)
    # How the metrics were obtained when not by training the candidate: "supernet" (scored
    # with a one-shot supernet's shared weights, ``search.one_shot``). None: trained.
    fidelity: str | None = None

    @property
    def applied_values(self) -> dict[str, Any]:
        """What ``config.apply`` takes to rebuild the config this trial trained with."""
        return {**self.values, **self.overrides}

    @property
    def epochs_reached(self) -> int:
        """The last epoch the trial was trained to: its fidelity."""
        if self.curve and "epoch" in self.curve[-1]:
            return int(self.curve[-1]["epoch"])
        return int(self.metrics.get("epochs", 0) or 0)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["state"] = self.state.value
        if self.fidelity is None:
            del row["fidelity"]  # a trained trial's record reads as it always has
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> TrialRecord:
        """The record a journal row holds; ``ValueError`` (or ``KeyError``) when the row is not one."""
        if not (isinstance(row.get("number"), int) and isinstance(row.get("values"), dict)):
            raise ValueError("a trial record needs an integer number and a mapping of values")
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        fields["state"] = TrialState(row["state"])
        if "overrides" not in row and "batch_size" in row.get("metrics", {}):
            # Journals written before ``overrides`` kept a retry's batch size in the metrics only.
            fields["overrides"] = {"train.batch_size": int(row["metrics"]["batch_size"])}
        return cls(**fields)


def merge_record(history: list[TrialRecord], record: TrialRecord) -> None:
    """Put ``record`` into ``history`` in place of its trial's earlier record, or append it.

    A scheduled trial finishes once per rung; the history holds it once, at the place where
    it first finished, as it last finished (``RunStore.history`` reads the journal the same way).
    """
    for i, earlier in enumerate(history):
        if earlier.number == record.number:
            history[i] = record
            return
    history.append(record)


def epochs_trained(history: Sequence[TrialRecord]) -> int:
    """Training epochs the search spent: each trial counts the epochs it reached.

    A promoted trial continues from its checkpoint, so its epochs are counted once; epochs
    retrained after a crash or an out-of-memory retry are not counted.
    """
    return sum(record.epochs_reached for record in history)


#: Objectives measured on the untrained network (``evaluation.costs``): training never changes
#: them, so a scheduler's rungs and the median pruner, which compare trials part-way through
#: training, would rank them by size. The one list both refuse.
STATIC_METRICS: tuple[str, ...] = ("params", "flops", "macs", "latency_ms", "latency_p90_ms", "memory_mb")


@dataclass(frozen=True)
class ObjectiveSpec:
    """Which metric ranks trials, and whether more is better.

    The ranking rule: complete trials (trained to their full ``train.epochs``) come first,
    by their metric; then paused and pruned trials, those trained for more epochs first,
    and by their metric among equals; failed trials last. So ``best`` is the best complete
    trial, and only while none is complete, the best of those trained furthest.
    """

    metric: str = "val_accuracy"
    mode: str = "max"

    def oriented(self, value: Any) -> float | None:
        """``value`` of this metric as a number where larger is better; None when not a finite number."""
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        return value if self.mode == "max" else -value

    def score(self, record: TrialRecord) -> float | None:
        """The metric as a number where larger is better; None when not comparable.

        Paused and pruned trials score their metric at the epoch they reached: a strategy
        learns from a lower-fidelity result rather than mistaking it for a failure.
        """
        if record.state is TrialState.FAILED:
            return None
        return self.oriented(record.metrics.get(self.metric))

    def standard_error(self, record: TrialRecord) -> float | None:
        """The standard error of the metric (``<metric>_se``: ``search.cv``'s fold spread), or
        None where the trial has none (a single split, a static metric)."""
        value = record.metrics.get(f"{self.metric}_se")
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def tied_with_best(self, history: Sequence[TrialRecord]) -> set[int]:
        """Numbers of the complete trials statistically tied with the best: their score is
        within one standard error of the best's (the 1-s.e. rule). Empty without an s.e."""
        best = self.best(history)
        if best is None or best.state is not TrialState.COMPLETE:
            return set()
        se = self.standard_error(best)
        if se is None:
            return set()
        floor = self.score(best) - se
        return {r.number for r in history if r.state is TrialState.COMPLETE and (self.score(r) or -math.inf) >= floor - 1e-12}

    def rank_key(self, record: TrialRecord) -> tuple:
        """Larger is better: complete first, then more epochs reached, then the score, then the earlier trial.

        A supernet-scored trial (``fidelity``) trained nothing of its own: it ranks after every
        trained one, as a trial of 0 epochs, and among its kind by its score."""
        complete = record.state is TrialState.COMPLETE and record.fidelity is None
        return (complete, 0 if complete else record.epochs_reached, self.score(record), -record.number)

    def best(self, history: Sequence[TrialRecord]) -> TrialRecord | None:
        scored = [r for r in history if self.score(r) is not None]
        return max(scored, key=self.rank_key) if scored else None

    def ranked(self, history: Sequence[TrialRecord]) -> list[TrialRecord]:
        """Scored trials best first (ties: earlier trial first); failed ones after, by number."""
        scored = sorted((r for r in history if self.score(r) is not None), key=self.rank_key, reverse=True)
        rest = sorted((r for r in history if self.score(r) is None), key=lambda r: r.number)
        return scored + rest
