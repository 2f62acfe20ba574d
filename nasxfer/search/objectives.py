"""A config's objectives as ``ObjectiveSpec``s: the primary one, and all of them."""

from __future__ import annotations

from nasxfer.config import Config
from nasxfer.search.trial import ObjectiveSpec


def objective_of(config: Config) -> ObjectiveSpec:
    """The primary objective (the first of several)."""
    return ObjectiveSpec(config.search.objective.metric, config.search.objective.mode)


def objectives_of(config: Config) -> list[ObjectiveSpec]:
    """Every objective; one unless the search is multi-objective."""
    return [ObjectiveSpec(o.metric, o.mode) for o in config.search.all_objectives]
