"""The executor a config names: what can be checked before a run exists, and starting it."""


from __future__ import annotations

from nasxfer.config import Config
from nasxfer.errors import ConfigError

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
    from nasxfer.executors.ray_executor import require_ray

    require_ray()


def create_executor(config: Config, evaluator):
    """The executor ``config.executor`` names, started and ready for trials."""
    if config.executor.name == "ray":
        from nasxfer.executors.ray_executor import RayExecutor

        return RayExecutor(config, evaluator)
    raise ValueError(f"no executor object for executor.name {config.executor.name!r}")
