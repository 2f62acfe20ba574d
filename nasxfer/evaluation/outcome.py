"""What every evaluator returns for one candidate."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrialOutcome:
    metrics: dict[str, float]
    curve: list[dict[str, float]] = field(default_factory=list)
    checksums: dict[str, str] = field(default_factory=dict)  # file name in the trial folder -> sha256
