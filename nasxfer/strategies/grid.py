"""Grid search: every combination of each dimension's grid values, in order.

Float ranges contribute ``grid`` evenly spaced points (log-spaced for ``log`` ranges).
"""

from __future__ import annotations

from typing import Sequence

from nasxfer.search.space import Candidate, seen_keys
from nasxfer.strategies.base import Strategy
from nasxfer.search.trial import TrialRecord


class GridSearch(Strategy):
    name = "grid"

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        return next((c for c in self.space.grid() if c.key not in seen), None)
