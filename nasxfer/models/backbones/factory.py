"""``model.backbone.factory: "package.module:function"``: a user's network as a backbone.

For anything nasxfer does not know by name. The function takes no required arguments
(it receives ``pretrained=False`` for ``weights: none`` if it has a ``pretrained``
parameter) and returns an ``nn.Module`` whose output is a feature map ``[N, C, H, W]`` or
a vector ``[N, C]``, or a tuple ``(module, C)``. Without ``C`` nasxfer uses the module's
``num_features`` or runs one small batch to find it. Its top-level children are its
stages, in registration order. Preprocessing: the data's own size and ImageNet's
mean/std, unless ``model.backbone`` sets ``image_size``/``mean``/``std``.
``weights`` may also name a checkpoint file to load into the returned module.
"""

from __future__ import annotations

import importlib
import inspect

from torch import nn

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import weights_kind
from nasxfer.models.backbones.base import Backbone, InputSpec, infer_num_features, split_into_stages
from nasxfer.models.backbones.checkpoint_file import load_into, read_state_dict


def _call(body, x):
    return body(x)


def resolve(spec: str):
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


def build(cfg, pretrained: bool = True) -> Backbone:
    function = resolve(cfg.factory)
    kind = weights_kind(cfg.weights)
    kwargs = {}
    if "pretrained" in inspect.signature(function).parameters:
        kwargs["pretrained"] = pretrained and kind != "none"
    try:
        made = function(**kwargs)
    except Exception as exc:  # noqa: BLE001 - user code: report it as the user's to fix
        raise NasxferError(f"model.backbone.factory: {cfg.factory}() raised {type(exc).__name__}: {exc}") from None
    body, num_features = made if isinstance(made, tuple) else (made, getattr(made, "num_features", None))
    if not isinstance(body, nn.Module):
        raise ConfigError(
            f"model.backbone.factory: {cfg.factory}() returned {type(body).__name__}; return an nn.Module "
            "(or a tuple (module, num_features))"
        )
    if pretrained and kind == "file":
        load_into(body, read_state_dict(cfg.weights), architecture=cfg.factory, classifier=[], origin=f"'{cfg.weights}'")
    spec = InputSpec(image_size=None).overridden(cfg)
    if num_features is None:
        num_features = infer_num_features(body, body, spec)
    children = [name for name, _ in body.named_children()]
    stages = split_into_stages(body, children) if children else [[name for name, _ in body.named_parameters()]]
    return Backbone(body, _call, stages, int(num_features), spec, description=f"factory:{cfg.factory}")
