"""Search strategies, registered by name. Each one is a function of (space, seed, history).

Strategy modules are imported on demand, so listing the names costs nothing. A strategy
never holds state that cannot be rebuilt from (space, seed, history): resuming a run is
replaying its journal.
"""

from __future__ import annotations

import importlib
from typing import Any

from nasxfer.errors import ConfigError

#: name -> "module:class"
_REGISTRY: dict[str, str] = {
    "evolution": "nasxfer.strategies.evolution:RegularizedEvolution",
    "grid": "nasxfer.strategies.grid:GridSearch",
    "local": "nasxfer.strategies.local:LocalSearch",
    "nsga2": "nasxfer.strategies.nsga2:NSGA2",
    "random": "nasxfer.strategies.random_search:RandomSearch",
    "reinforce": "nasxfer.strategies.reinforce:Reinforce",
    "tpe": "nasxfer.strategies.tpe:TPE",
}
STRATEGY_NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def strategy_class(name: str) -> type:
    """The strategy class registered as ``name``; imports its module (which imports no optimiser library)."""
    module_name, _, class_name = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_strategy(name: str, space, seed: int, objective, options: dict[str, Any] | None = None, objectives=None):
    """Instantiate the strategy ``name``; its options are validated by its ``Options`` model.

    ``objective`` is the primary objective; ``objectives`` (when several) makes the search
    multi-objective for the strategies that support it."""
    cls = strategy_class(name)
    strategy = cls(space=space, seed=seed, objective=objective, options=cls.parse_options(options or {}))
    strategy.objectives = tuple(objectives) if objectives else (objective,)
    return strategy
