"""Build every backbone a search can ask for, once, before its run folder exists.

A misspelt weights name, a missing or ill-fitting checkpoint file, an unknown run, a
factory that does not import, an offline download: each becomes the search's one-line
error (exit code 2) instead of a string of failed trials. Downloads land in the torch hub
cache, so the trials that follow find them there.
"""

from __future__ import annotations

import itertools

from nasxfer.errors import ConfigError


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


def check_backbones(config) -> dict[str, list[dict]]:
    """Build (and discard) each backbone ``config`` can use; raises the user's error if one
    fails. Returns each backbone's stages (``Backbone.stage_summary``) by its description."""
    from nasxfer.models.backbones import build_backbone

    stages = {}
    for settings in backbone_configs(config):
        backbone = build_backbone(settings)
        stages[backbone.description] = backbone.stage_summary()
    return stages
