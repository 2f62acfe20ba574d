"""The leaderboard's order and ranks: one rule for the CSV, the report and every view.

Trials come best first (``pareto.ranked``: by the objective, or by Pareto front and
crowding distance when there are several); a trial gets a rank only when every objective
scores it (failed and rejected trials, and trials missing a measurement, are listed
after the ranked ones, unranked).
"""

from __future__ import annotations

from typing import Sequence

from nasxfer.search.pareto import ranked
from nasxfer.search.trial import ObjectiveSpec, TrialRecord


def leaderboard(history: Sequence[TrialRecord], objectives: ObjectiveSpec | Sequence[ObjectiveSpec]) -> list[tuple[int | None, TrialRecord]]:
    """``(rank, record)`` for every trial, best first; rank is None for an unranked trial."""
    objectives = [objectives] if isinstance(objectives, ObjectiveSpec) else list(objectives)
    rows: list[tuple[int | None, TrialRecord]] = []
    rank = 0
    for record in ranked(history, objectives):
        if all(objective.score(record) is not None for objective in objectives):
            rank += 1
            rows.append((rank, record))
        else:
            rows.append((None, record))
    return rows
