"""Regularized (aging) evolution, after Real et al., "Regularized Evolution for Image
Classifier Architecture Search" (AAAI 2019).

Proposals are random until ``population`` trials have completed. After that, the
population is the ``population`` most recent complete trials: the best of ``sample`` of them drawn at random
(a tournament) is the parent, and the child is the parent changed in one coordinate
(``space.mutate``). Because the population is a window over the most recent trials, a
good architecture ages out instead of dominating forever: that is the "regularized" part.

The history is the whole state, so resume is replay. A child is never a candidate already
tried: the mutation is redrawn among the parent's untried neighbours, another tournament is
held when the parent has none, and after ``_TOURNAMENTS`` tournaments the proposal is a
random untried candidate. Failed trials count as tried and never join the population;
so do trials still running in parallel, which join it, if they complete, when they finish.

With several objectives the tournament is non-dominated: the contender on the best Pareto
front among the contenders wins, the most isolated one (crowding distance) on ties.
"""

from __future__ import annotations

from typing import Sequence

from pydantic import Field, model_validator

from nasxfer.search.space import Candidate, seen_keys
from nasxfer.strategies.base import NoOptions, Strategy, finished
from nasxfer.strategies.coordinates import fits
from nasxfer.strategies.random_search import sample_untried
from nasxfer.search.trial import TrialRecord

_TOURNAMENTS = 10  # tournaments tried before giving up on mutation for this proposal


class EvolutionOptions(NoOptions):
    population: int = Field(10, ge=2, le=100_000, description="Size of the aging window: the most recent complete trials that parents are drawn from; proposals are random until this many trials completed.")
    sample: int = Field(5, ge=1, le=100_000, description="Tournament size: contenders drawn from the population, the best of which is the parent (at most population).")

    @model_validator(mode="after")
    def _sample_within_population(self) -> EvolutionOptions:
        if self.sample > self.population:
            raise ValueError(f"sample ({self.sample}) must not exceed population ({self.population})")
        return self


class RegularizedEvolution(Strategy):
    name = "evolution"
    Options = EvolutionOptions

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        rng = self.rng(history)
        population = self.population(history)
        if len(population) < self.options.population:
            return sample_untried(self.space, seen, rng)
        for _ in range(_TOURNAMENTS):
            contenders = rng.sample(population, self.options.sample)
            parent = self.winner(contenders)  # with several objectives: a non-dominated tournament
            # Drawing among the untried neighbours is space.mutate redrawn until it misses
            # the history, without the redraws.
            children = [c for c in self.space.neighbours(Candidate(parent.values)) if c.key not in seen]
            if children:
                return children[rng.randrange(len(children))]
        return sample_untried(self.space, seen, rng)

    def population(self, history: Sequence[TrialRecord]) -> list[TrialRecord]:
        """The most recent ``population`` complete trials of this space, oldest first
        (in the order they finished; pending trials are not members yet)."""
        alive: list[TrialRecord] = []
        for record in reversed(finished(history)):
            if len(alive) == self.options.population:
                break
            if self.scores(record) is not None and fits(self.space, record.values):
                alive.append(record)
        return alive[::-1]
