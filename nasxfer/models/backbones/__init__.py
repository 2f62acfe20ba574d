"""Backbones: pretrained trunks behind one protocol (``base.Backbone``), one file per family.

``build_backbone(cfg)`` picks the family from ``model.backbone``: a ``factory`` is a user's
callable; otherwise the name says it (``timm:…``, ``run:…``, a CIFAR ResNet, or a
torchvision model). Families are imported only when used, so a CIFAR ResNet never imports
torchvision's model zoo and a missing timm only matters to ``timm:`` names.
"""

from __future__ import annotations

import importlib
from typing import Any

from nasxfer.models.backbone_names import family_of
from nasxfer.models.backbones.base import Backbone, InputSpec

__all__ = ["Backbone", "InputSpec", "build_backbone", "family_name"]

_MODULES = {
    "torchvision": "nasxfer.models.backbones.torchvision_zoo",
    "cifar_resnet": "nasxfer.models.backbones.cifar_resnet",
    "timm": "nasxfer.models.backbones.timm_zoo",
    "run": "nasxfer.models.backbones.earlier_run",
    "factory": "nasxfer.models.backbones.factory",
}


def family_name(cfg) -> str:
    """Which family builds ``cfg`` (a ``BackboneConfig``)."""
    return "factory" if cfg.factory else family_of(cfg.name)


def build_backbone(cfg, *, pretrained: bool = True, source: dict[str, Any] | None = None) -> Backbone:
    """The backbone ``cfg`` describes.

    ``pretrained=False`` builds the architecture only: no download, no checkpoint file
    read (rebuilding a model file, whose state dict holds the weights). ``source`` is the
    recorded description of an earlier run's model, used instead of the run itself.
    """
    family = family_name(cfg)
    module = importlib.import_module(_MODULES[family])
    if family == "run":
        return module.build(cfg, pretrained=pretrained, source=source)
    return module.build(cfg, pretrained=pretrained)
