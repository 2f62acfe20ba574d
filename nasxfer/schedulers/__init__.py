"""Multi-fidelity schedulers, registered by name: how long each trial trains.

A scheduler is independent of the strategy: the strategy proposes new candidates, the
scheduler decides when to start one, to which epoch it trains, and which paused trials go
on (``base.Scheduler.decide``). Without ``search.scheduler`` every trial trains all of
``train.epochs`` (``FullFidelity``). The median pruner (``pruning``) lives here too: when a
trial stops early is the same question asked epoch by epoch. Schedulers never train and
never propose candidates.
"""

from __future__ import annotations

import importlib

from nasxfer.errors import ConfigError
from nasxfer.search.trial import STATIC_METRICS

#: name -> "module:class"
_REGISTRY: dict[str, str] = {
    "asha": "nasxfer.schedulers.asha:ASHA",
    "hyperband": "nasxfer.schedulers.hyperband:Hyperband",
    "successive_halving": "nasxfer.schedulers.hyperband:SuccessiveHalving",
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(sorted(_REGISTRY))


def create_scheduler(config, objective):
    """The scheduler ``config.search.scheduler`` names, checked against the rest of the config."""
    from nasxfer.schedulers.base import FullFidelity

    settings = config.search.scheduler
    if settings is None:
        return FullFidelity(objective, config.train.epochs)
    check_scheduler(config)
    module_name, _, class_name = _REGISTRY[settings.name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(objective, config.train.epochs, settings.min_epochs, settings.eta, settings.brackets)


def check_scheduler(config) -> None:
    """What a scheduler needs from the rest of the config; ``ConfigError`` naming the field otherwise."""
    from nasxfer.schedulers.rungs import rung_epochs

    settings = config.search.scheduler
    epochs = config.train.epochs
    if config.search.evaluator.table is not None:
        raise ConfigError(
            "search.scheduler: a results table has one final value per architecture and no epochs to "
            "schedule (drop search.scheduler, or search.evaluator.table to train for real)"
        )
    metric = config.search.objective.metric
    if metric in STATIC_METRICS:
        raise ConfigError(
            f"search.scheduler: the objective '{metric}' does not change with training, so rungs cannot "
            "rank trials by it (rank by val_accuracy, val_f1 or val_loss, or drop search.scheduler)"
        )
    if "train.epochs" in config.search.space:
        raise ConfigError(
            "search.space.train.epochs: with a scheduler the epochs are the fidelity it allocates, "
            "up to train.epochs, so they cannot also be searched (drop one of the two)"
        )
    if settings.min_epochs >= epochs:
        raise ConfigError(
            f"search.scheduler.min_epochs: {settings.min_epochs} leaves no rung below train.epochs "
            f"({epochs}); set it below train.epochs"
        )
    rungs = len(rung_epochs(settings.min_epochs, settings.eta, epochs))
    if settings.brackets is not None:
        if settings.name == "successive_halving" and settings.brackets != 1:
            raise ConfigError(
                "search.scheduler.brackets: successive_halving has one bracket shape; "
                "use hyperband for several"
            )
        if settings.brackets > rungs:
            raise ConfigError(
                f"search.scheduler.brackets: {settings.brackets} brackets but only {rungs} rungs "
                f"({settings.min_epochs}·{settings.eta}^k up to {epochs} epochs) to start them at; "
                f"use at most {rungs}"
            )
