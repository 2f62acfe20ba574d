"""Build every backbone a search can ask for, once, before its run folder exists.

A misspelt weights name, a missing or ill-fitting checkpoint file, an unknown run, a
factory that does not import, an offline download: each becomes the search's one-line
error (exit code 2) instead of a string of failed trials. Downloads land in the torch hub
cache, so the trials that follow find them there.
"""

from __future__ import annotations

from nasxfer.models.backbone_sources import backbone_configs


def check_backbones(config) -> dict[str, list[dict]]:
    """Build (and discard) each backbone ``config`` can use; raises the user's error if one
    fails. Returns each backbone's stages (``Backbone.stage_summary``) by its description."""
    from nasxfer.models.backbones import build_backbone

    stages = {}
    for settings in backbone_configs(config):
        backbone = build_backbone(settings)
        stages[backbone.description] = backbone.stage_summary()
    return stages
