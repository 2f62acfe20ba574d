"""Local search: greedy hill-climbing over one-coordinate neighbours, with random restarts.

After ``initial`` random samples, the climb starts from the best of them. Each proposal is
an untried neighbour of the climb's incumbent (``space.neighbours``: candidates that differ
in one coordinate), picked at random. A neighbour that scores better becomes the incumbent
at once (first improvement). When every neighbour of the incumbent has been tried, the
climb is stuck at a local optimum and a new climb starts from a random untried candidate.

Nothing is stored between calls: the climbs are recovered from the history by replaying
it, since a trial that is not a neighbour of the incumbent of its time can only be a
restart. Failed trials count as tried; a failed restart point starts another restart.

Trials still running in parallel count as tried but take no part in the climb until they
finish. The climb is replayed in the order trials finished, so with parallel trials a
step that finishes after a better neighbour can read as a restart: a detour, never a
repeated candidate.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import Field

from nasxfer.search.space import Candidate, seen_keys
from nasxfer.strategies.base import NoOptions, Strategy, finished
from nasxfer.strategies.coordinates import fits
from nasxfer.strategies.random_search import sample_untried
from nasxfer.search.trial import TrialRecord


class LocalOptions(NoOptions):
    initial: int = Field(10, ge=1, le=100_000, description="Random samples before the first climb, which starts from the best of them.")


class LocalSearch(Strategy):
    name = "local"
    Options = LocalOptions

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        rng = self.rng(history)
        incumbent = self.incumbent(finished(history))
        if incumbent is not None:
            untried = [c for c in self.space.neighbours(Candidate(incumbent.values)) if c.key not in seen]
            if untried:
                return untried[rng.randrange(len(untried))]
        return sample_untried(self.space, seen, rng)  # the initial samples, or a restart

    def incumbent(self, history: Sequence[TrialRecord]) -> TrialRecord | None:
        """The best trial of the current climb (None before it starts or after a failed restart)."""
        initial = self.options.initial
        incumbent: TrialRecord | None = None
        neighbour_keys: set[str] | None = None  # of the incumbent, computed when first needed
        for i, record in enumerate(history):
            usable = fits(self.space, record.values) and self.scores(record) is not None
            if i >= initial and incumbent is not None and neighbour_keys is None:
                neighbour_keys = {c.key for c in self.space.neighbours(Candidate(incumbent.values))}
            if i < initial or (incumbent is not None and record.key in neighbour_keys):
                # an initial sample or a step of the climb: the better one is the incumbent
                # (with several objectives, "better" is Pareto dominance)
                if usable and (incumbent is None or self.better(record, incumbent)):
                    incumbent, neighbour_keys = record, None
            else:
                # a restart: the new climb starts here whatever it scored (nowhere if it failed)
                incumbent, neighbour_keys = (record if usable else None), None
        return incumbent if len(history) >= initial else None
