"""Build every backbone a search can ask for, once, before its run folder exists.

A misspelt weights name, a missing or ill-fitting checkpoint file, an unknown run, a
factory that does not import, an offline download: each becomes the search's one-line
error (exit code 2) instead of a string of failed trials. Downloads land in the torch hub
cache, so the trials that follow find them there.
"""

from __future__ import annotations

from nasxfer.models.backbone_sources import backbone_configs


def check_backbones(config, keep: dict | None = None) -> dict[str, list[dict]]:
    """Build each backbone ``config`` can use; raises the user's error if one fails.
    Returns each backbone's stages (``Backbone.stage_summary``) by its description.

    ``keep``: a dict that receives each built backbone under its settings' JSON
    (``BackboneConfig.model_dump_json()``), for a search that builds each one once per run;
    without it they are discarded. Built under a forked random state, like ``build_model``.
    """
    import torch

    from nasxfer.models.backbones import build_backbone

    stages = {}
    for settings in backbone_configs(config):
        with torch.random.fork_rng(devices=[]):
            backbone = build_backbone(settings)
        stages[backbone.description] = backbone.stage_summary()
        if keep is not None:
            keep[settings.model_dump_json()] = backbone
    return stages
