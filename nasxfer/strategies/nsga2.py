"""NSGA-II (Deb et al. 2002) through Optuna's ``NSGAIISampler``; see ``optuna_bridge``.

With one objective it is a generational genetic algorithm: the first ``population`` trials
are random, then each generation's children come from uniform crossover of parents chosen
among the best so far, plus per-coordinate mutation.

The sampler tags every trial with its generation while the search runs. A replayed study
has no tags, so they are recomputed here with the sampler's own rule: a trial belongs to
the newest generation among the complete trials before it, or opens the next one when
that generation already has ``population`` complete members.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from nasxfer.strategies.base import NoOptions
from nasxfer.strategies.optuna_bridge import OptunaStrategy, import_optuna

# Where Optuna keeps the tag: a class method since Optuna 4, a constant before.
_OLD_GENERATION_KEY = "nsga2:generation"


class NSGA2Options(NoOptions):
    population: int = Field(10, ge=2, le=100_000, description="Trials per generation (the first generation is random).")
    crossover_prob: float = Field(0.9, ge=0, le=1, description="Probability that a child is a crossover of two parents rather than a copy of one.")


class NSGA2(OptunaStrategy):
    name = "nsga2"
    Options = NSGA2Options

    def make_sampler(self, seed: int):
        optuna = import_optuna()
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=self.options.population, crossover_prob=self.options.crossover_prob
        )

    def system_attrs(self, sampler, complete: list[bool]) -> list[dict[str, Any]]:
        key_of = getattr(type(sampler), "_get_generation_key", None)
        key = key_of() if callable(key_of) else _OLD_GENERATION_KEY
        return [{key: g} for g in generations(complete, self.options.population)]


def generations(complete: list[bool], population: int) -> list[int]:
    """The generation of each trial in order, given which of them completed."""
    newest, members = 0, 0  # newest generation among complete trials, and its size
    out = []
    for done in complete:
        generation = newest if members < population else newest + 1
        out.append(generation)
        if done:
            newest, members = (generation, members + 1) if generation == newest else (generation, 1)
    return out
