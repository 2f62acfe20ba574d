"""``model.backbone.factory: "package.module:function"``: a user's network as a backbone.

For anything nasxfer does not know by name. The function takes no required arguments
(it receives ``pretrained=False`` for ``weights: none`` if it has a ``pretrained``
parameter) and returns one of:

- an ``nn.Module`` whose output is a feature map ``[N, C, H, W]`` or a vector ``[N, C]``;
- a tuple ``(module, C)``;
- a dict that also declares what nasxfer cannot guess: ``{"module": m, "num_features": C,
  "stages": ["stem", "blocks.0", …], "image_size": 224, "mean": [...], "std": [...]}``
  (every key but ``module`` optional). ``stages`` names the submodule each stage starts at,
  input side first; ``mean``/``std`` are the preprocessing the weights were trained with
  (e.g. 0.5 for weights that expect [-1, 1] inputs).

Without ``C`` nasxfer uses the module's ``num_features`` or runs one small batch to find it.
Without ``stages``, the module's top-level children that hold parameters start the stages
(a parameter-free child, an activation or a pooling layer, joins the stage before it, so
that every stage ``unfreeze`` counts trains something). Preprocessing: the declared one,
else the data's own size and ImageNet's mean/std; ``model.backbone``'s
``image_size``/``mean``/``std`` override either. ``weights`` may also name a checkpoint
file to load into the returned module.
"""

from __future__ import annotations

import inspect

from torch import nn

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import weights_kind
from nasxfer.models.backbone_sources import resolve_factory
from nasxfer.models.backbones.base import Backbone, InputSpec, infer_num_features, split_into_stages
from nasxfer.models.backbones.checkpoint_file import load_into, read_state_dict


def _call(body, x):
    return body(x)


def build(cfg, pretrained: bool = True) -> Backbone:
    function = resolve_factory(cfg.factory)
    kind = weights_kind(cfg.weights)
    kwargs = {}
    if "pretrained" in inspect.signature(function).parameters:
        kwargs["pretrained"] = pretrained and kind != "none"
    try:
        made = function(**kwargs)
    except Exception as exc:  # noqa: BLE001 - user code: report it as the user's to fix
        raise NasxferError(f"model.backbone.factory: {cfg.factory}() raised {type(exc).__name__}: {exc}") from None
    declared = _declared(cfg.factory, made)
    body = declared["module"]
    if not isinstance(body, nn.Module):
        raise ConfigError(
            f"model.backbone.factory: {cfg.factory}() returned {type(body).__name__}; return an nn.Module "
            "(or a tuple (module, num_features), or a dict with a 'module')"
        )
    if pretrained and kind == "file":
        load_into(body, read_state_dict(cfg.weights), architecture=cfg.factory, classifier=[], origin=f"'{cfg.weights}'")
    spec = _declared_input(cfg.factory, declared).overridden(cfg)
    num_features = declared.get("num_features") or getattr(body, "num_features", None)
    if num_features is None:
        num_features = infer_num_features(body, body, spec)
    boundaries = declared.get("stages") or _parameter_children(body)
    _check_boundaries(cfg.factory, body, boundaries)
    stages = split_into_stages(body, boundaries) if boundaries else [[name for name, _ in body.named_parameters()]]
    return Backbone(body, _call, stages, int(num_features), spec, description=f"factory:{cfg.factory}")


DECLARABLE = ("module", "num_features", "stages", "image_size", "mean", "std")


def _declared(spec: str, made) -> dict:
    """What the factory returned, as the dict form (module, num_features, …)."""
    if isinstance(made, dict):
        unknown = sorted(set(made) - set(DECLARABLE))
        if unknown or "module" not in made:
            problem = f"unknown keys {unknown}" if unknown else "no 'module'"
            raise ConfigError(f"model.backbone.factory: {spec}() returned a dict with {problem} (keys: {', '.join(DECLARABLE)})")
        return made
    if isinstance(made, tuple):
        return {"module": made[0], "num_features": made[1] if len(made) > 1 else None}
    return {"module": made}


def _declared_input(spec: str, declared: dict) -> InputSpec:
    changes = {key: declared[key] for key in ("image_size", "mean", "std") if declared.get(key) is not None}
    for key in ("mean", "std"):
        if key in changes:
            changes[key] = tuple(float(v) for v in changes[key])
            if len(changes[key]) not in (1, 3):
                raise ConfigError(f"model.backbone.factory: {spec}() declared {key} {list(changes[key])}; give 1 or 3 values")
    return InputSpec(image_size=changes.pop("image_size", None), **changes)


def _parameter_children(body: nn.Module) -> list[str]:
    """Top-level children that hold parameters: the natural stages of a module."""
    return [name for name, child in body.named_children() if any(True for _ in child.parameters())]


def _check_boundaries(spec: str, body: nn.Module, boundaries) -> None:
    """Declared stages must name submodules, in order, and each must hold parameters."""
    names = dict(body.named_modules())
    for name in boundaries:
        if name not in names:
            raise ConfigError(f"model.backbone.factory: {spec}() declared stage {name!r}, which is not a submodule")
    stages = split_into_stages(body, list(boundaries)) if boundaries else []
    for name, parts in zip(boundaries, stages):
        owned = sum(_count(body, part) for part in parts)
        if owned == 0:
            raise ConfigError(
                f"model.backbone.factory: {spec}() stage {name!r} has no parameters, so unfreezing it would "
                "train nothing; start stages only at submodules with weights"
            )


def _count(body: nn.Module, name: str) -> int:
    try:
        return sum(p.numel() for p in body.get_submodule(name).parameters())
    except AttributeError:
        return body.get_parameter(name).numel()
