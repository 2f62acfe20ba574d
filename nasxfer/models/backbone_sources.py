"""Where each backbone a config can use comes from, checked without building it.

A checkpoint file that is not there, a ``run:`` id that names no run (or a run with no
model), a factory that does not import, ``timm:`` without timm: ``check_backbone_sources``
finds these for ``nasxfer validate`` and ``nasxfer search`` before a run folder exists,
without reading weights or importing torch. The builders in ``nasxfer.models.backbones``
find the same sources through the functions here, so both raise the same one-line error.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
from pathlib import Path

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import RUN_PREFIX, TIMM_PREFIX, weights_kind

# Plain `pip install timm`: the extra `nasxfer[timm]` installs the same, but square brackets
# do not survive every terminal printer (rich reads them as markup).
TIMM_INSTALL = "pip install timm"
_NO_TIMM = f"model.backbone.name: timm backbones need timm, which is not installed ({TIMM_INSTALL})"


def backbone_configs(config) -> list:
    """The distinct ``model.backbone`` sections of ``config`` and of its space's backbone choices."""
    varied = {
        path: dim.choices
        for path, dim in config.search.space.items()
        if path.startswith("model.backbone") and dim.choices is not None
    }
    found = {}
    configs = [config]
    for combo in itertools.product(*varied.values()):
        values = dict(zip(varied, combo))
        try:
            configs.append(config.apply(values))
        except ConfigError as exc:  # a misspelt backbone among the choices: say so now, not per trial
            raise ConfigError(f"search.space: {values} is not a valid backbone: {exc}") from None
    for cfg in configs:
        if cfg.model.backbone is not None:
            found.setdefault(cfg.model.backbone.model_dump_json(), cfg.model.backbone)
    return list(found.values())


def check_backbone_sources(config) -> None:
    """Every backbone ``config`` can use has its source; the user's ``ConfigError`` otherwise."""
    for backbone in backbone_configs(config):
        if backbone.factory:
            resolve_factory(backbone.factory)
        elif backbone.name.startswith(TIMM_PREFIX) and importlib.util.find_spec("timm") is None:
            raise ConfigError(_NO_TIMM)
        elif backbone.name.startswith(RUN_PREFIX):
            run_model_file(backbone.name[len(RUN_PREFIX) :])
        if weights_kind(backbone.weights) == "file":
            require_weights_file(backbone.weights)


def require_weights_file(path: str | Path) -> Path:
    """``path`` as a readable checkpoint file; ``ConfigError`` naming ``model.backbone.weights`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"model.backbone.weights: no such file '{path}' (paths are relative to the working "
            "directory; or use DEFAULT or none)"
        )
    if not os.access(path, os.R_OK):
        raise ConfigError(f"model.backbone.weights: cannot read '{path}' (check its permissions)")
    return path


def resolve_factory(spec: str):
    """The callable that ``package.module:function`` names; a one-line error if there is none."""
    module_name, _, attribute = spec.partition(":")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"model.backbone.factory: cannot import {module_name!r} ({exc}); is it on PYTHONPATH?") from None
    for part in attribute.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"model.backbone.factory: {module_name!r} has no {attribute!r}")
    if not callable(target):
        raise ConfigError(f"model.backbone.factory: {spec!r} is not callable")
    return target


def import_timm():
    """The timm module; ``ConfigError`` saying how to install it when it is missing."""
    try:
        import timm
    except ImportError:
        raise ConfigError(_NO_TIMM) from None
    return timm


def run_model_file(run_id: str) -> Path:
    """The model file ``run:<run_id>`` transfers from: the run's ``final/model.pt`` (after
    ``nasxfer finetune``), else its best trial's; ``ConfigError`` when there is neither.

    Runs are looked up in ``NASXFER_RUNS_DIR`` (default ``./runs``).
    """
    from nasxfer.search.trial import ObjectiveSpec
    from nasxfer.storage.store import default_runs_dir, resolve_run

    runs_dir = default_runs_dir()
    try:
        store = resolve_run(runs_dir, run_id)
    except NasxferError as exc:
        raise ConfigError(f"model.backbone.name: {exc}") from None
    path = store.path / "final" / "model.pt"
    if not path.is_file():
        objective = store.config().search.objective
        best = ObjectiveSpec(objective.metric, objective.mode).best(store.history())
        path = store.trial_dir(best.number) / "model.pt" if best is not None else None
    if path is None or not path.is_file():
        raise ConfigError(
            f"model.backbone.name: run '{run_id}' in '{runs_dir}' has no final model and no completed trial's "
            "model.pt to transfer from"
        )
    return path
