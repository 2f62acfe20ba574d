"""Random search: uniform samples from the space, never one already tried."""

from __future__ import annotations

from typing import Sequence

from nasxfer.space import Candidate, seen_keys
from nasxfer.strategies.base import Strategy
from nasxfer.trial import TrialRecord

# How many fresh samples to draw before concluding a finite space is (nearly) exhausted and
# falling back to enumerating what is left.
_SAMPLE_ATTEMPTS = 200
_ENUMERABLE = 1_000_000


class RandomSearch(Strategy):
    name = "random"

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        rng = self.rng(history)
        for _ in range(_SAMPLE_ATTEMPTS):
            candidate = self.space.sample(rng)
            if candidate.key not in seen:
                return candidate
        if self.space.size > _ENUMERABLE:
            # Hundreds of misses in a space this large mean the sampler cannot reach the
            # rest (a float range only grows by rounding); stop rather than spin.
            return None
        # A small or nearly exhausted finite space: pick uniformly among the untried.
        remaining = [c for c in self.space.grid() if c.key not in seen]
        return remaining[rng.randrange(len(remaining))] if remaining else None
