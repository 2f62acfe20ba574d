"""Random search: uniform samples from the space, never one already tried.

``sample_untried`` is also every other strategy's fallback when what it would propose has
already been tried, and its way of noticing that a finite space is exhausted.
"""

from __future__ import annotations

import random
from typing import Sequence

from nasxfer.search.space import Candidate, SearchSpace, seen_keys
from nasxfer.strategies.base import Strategy
from nasxfer.search.trial import TrialRecord

# How many fresh samples to draw before concluding a finite space is (nearly) exhausted and
# falling back to enumerating what is left.
_SAMPLE_ATTEMPTS = 200
_ENUMERABLE = 1_000_000


def sample_untried(space: SearchSpace, seen: set[str], rng: random.Random) -> Candidate | None:
    """A uniform sample whose key is not in ``seen``; None when none is left (or reachable)."""
    for _ in range(_SAMPLE_ATTEMPTS):
        candidate = space.sample(rng)
        if candidate.key not in seen:
            return candidate
    if space.size > _ENUMERABLE:
        # Hundreds of misses in a space this large mean the sampler cannot reach the
        # rest (a float range only grows by rounding); stop rather than spin.
        return None
    # A small or nearly exhausted finite space: pick uniformly among the untried.
    remaining = [c for c in space.grid() if c.key not in seen]
    return remaining[rng.randrange(len(remaining))] if remaining else None


class RandomSearch(Strategy):
    name = "random"

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        return sample_untried(self.space, seen_keys(history), self.rng(history))
