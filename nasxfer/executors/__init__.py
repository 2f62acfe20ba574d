"""Executors run trials outside the search loop's process, several at once.

``executor.name: local`` (the default) needs none: ``runner.run_search`` trains each trial
itself. ``ray`` runs trials as Ray tasks (``ray_executor``), driven by ``nasxfer.search.parallel``.
Ray is an optional extra, imported only when a config asks for it.
"""

from __future__ import annotations

from nasxfer.config import Config
from nasxfer.errors import ConfigError

RAY_INSTALL = "pip install 'nasxfer[ray]'"


def check_executor(config: Config) -> None:
    """What can be checked about ``config.executor`` before a run folder exists; ``ConfigError``."""
    executor = config.executor
    if executor.name == "local":
        return
    if config.search.evaluator.table is not None:
        raise ConfigError(
            "executor.name: a table lookup takes microseconds, there is nothing to run in parallel "
            "(use executor.name: local with search.evaluator.table)"
        )
    device = config.train.device
    if ":" in device:
        raise ConfigError(
            f"train.device: '{device}' names one GPU, but with executor ray each trial runs on the GPU "
            "Ray gives it (use auto or cuda)"
        )
    if device == "cpu" and executor.gpus_per_trial:
        raise ConfigError(
            f"executor.gpus_per_trial: {executor.gpus_per_trial:g} reserves GPUs that train.device: cpu "
            "never uses (set it to 0, or train.device to auto)"
        )
    require_ray()


def require_ray():
    """The ``ray`` module, or the one-line error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor.name: 'ray' needs Ray, which is not installed ({RAY_INSTALL})") from None
    return ray


def create_executor(config: Config, evaluator):
    """The executor ``config.executor`` names, started and ready for trials."""
    if config.executor.name == "ray":
        from nasxfer.executors.ray_executor import RayExecutor

        return RayExecutor(config, evaluator)
    raise ValueError(f"no executor object for executor.name {config.executor.name!r}")
