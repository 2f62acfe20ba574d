"""The one protocol every backbone follows, whatever family built it.

A ``Backbone`` wraps a network (``body``, its parameter names untouched, so checkpoints
written for the original architecture load into it) with:

- ``forward(x)``: images ``[N, C, H, W]`` -> a feature map ``[N, num_features, h, w]``
  (token models give ``h = w = 1``), ready for the head's pooling;
- ``num_features``: the channel count of that map;
- ``stages``: the body cut into ordered stages, input side first, each a list of names of
  submodules or parameters of ``body``; freezing counts them from the top;
- ``input``: the preprocessing it expects (size, mean, std, channels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

FeatureFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class InputSpec:
    """What a backbone expects: ``image_size`` pixels square (None: any size, keep the data's),
    normalised per channel with ``mean``/``std`` in [0, 1] units, with ``channels`` channels."""

    image_size: int | None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3

    def overridden(self, cfg) -> InputSpec:
        """This spec with ``model.backbone``'s ``image_size``/``mean``/``std`` where they are set."""
        changes: dict[str, Any] = {}
        if cfg.image_size is not None:
            changes["image_size"] = cfg.image_size
        if cfg.mean is not None:
            changes["mean"] = tuple(cfg.mean)
        if cfg.std is not None:
            changes["std"] = tuple(cfg.std)
        return replace(self, **changes)


class Backbone(nn.Module):
    """A feature extractor with ordered stages and known preprocessing (see the module doc).

    ``feature_fn(body, x)`` computes the map; it is a plain function so that each family
    states in a few lines how its architecture runs without its classifier.
    ``source`` is a JSON-able description a model file needs to rebuild this backbone's
    architecture offline (only earlier-run backbones need one).
    """

    def __init__(
        self,
        body: nn.Module,
        features: FeatureFn,
        stages: list[list[str]],
        num_features: int,
        input_spec: InputSpec,
        description: str,
        source: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.body = body
        self.feature_fn = features
        self.stages = stages
        self.num_features = int(num_features)
        self.input = input_spec
        self.description = description
        self.source = source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.feature_fn(self.body, x)
        if out.dim() == 2:  # a pooled vector or a class token: a 1x1 map
            out = out[:, :, None, None]
        return out

    def stage_parts(self, index: int) -> list[nn.Module | nn.Parameter]:
        """The submodules and loose parameters that make up stage ``index``."""
        parts: list[nn.Module | nn.Parameter] = []
        for name in self.stages[index]:
            try:
                parts.append(self.body.get_submodule(name))
            except AttributeError:
                parts.append(self.body.get_parameter(name))
        return parts

    def stage_summary(self) -> list[dict[str, Any]]:
        """Each stage, input side first: where it starts and how many parameters it holds
        (what ``unfreeze`` counts from the top; ``nasxfer validate`` prints it)."""
        summary = []
        for index, names in enumerate(self.stages):
            count = sum(part.numel() if isinstance(part, nn.Parameter) else sum(p.numel() for p in part.parameters())
                        for part in self.stage_parts(index))
            summary.append({"stage": index + 1, "starts_at": names[0] if names else "-", "parameters": int(count)})
        return summary

    def architecture_key(self) -> str:
        """What identifies the computation apart from the weights (for the feature cache)."""
        fn = getattr(self.feature_fn, "__qualname__", repr(self.feature_fn))
        return f"{self.description}|{type(self.body).__qualname__}|{fn}|{self.num_features}"


def split_into_stages(body: nn.Module, boundaries: Sequence[str]) -> list[list[str]]:
    """Cut ``body`` into stages that start at the named submodules, covering every parameter.

    Walks the module tree in registration order, descending only into modules that contain
    a boundary; each leaf of that walk (a submodule or a loose parameter) joins the stage of
    the last boundary seen. Anything before the first boundary joins the first stage and
    anything after the last joins the last, so no parameter is ever left out of a stage.
    """
    boundaries = list(boundaries)
    if not boundaries:
        raise ValueError("a backbone needs at least one stage boundary")
    stages: list[list[str]] = [[] for _ in boundaries]
    current = 0

    def walk(module: nn.Module, prefix: str) -> None:
        nonlocal current
        for name, _ in module.named_parameters(recurse=False):
            stages[current].append(prefix + name)
        for name, child in module.named_children():
            path = prefix + name
            if path in boundaries:
                current = boundaries.index(path)
                stages[current].append(path)
            elif any(b.startswith(path + ".") for b in boundaries):
                walk(child, path + ".")
            else:
                stages[current].append(path)

    walk(body, "")
    missing = [b for b in boundaries if not any(b == n for stage in stages for n in stage)]
    if missing:
        raise ValueError(f"stage boundaries not found in the network: {', '.join(missing)}")
    return stages


def first_linear_in_features(module: nn.Module) -> int:
    """The input width of the first linear layer in ``module`` (a classifier's feature size)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
    raise ValueError(f"no linear layer in {type(module).__name__}")


def infer_num_features(module: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], spec: InputSpec) -> int:
    """Channels of the feature map, found by running one small batch (for user factories).

    Runs in eval mode, so the probe leaves BatchNorm statistics as they were.
    """
    size = spec.image_size or 64
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = forward(torch.zeros(2, spec.channels, size, size))
    finally:
        module.train(was_training)
    return int(out.shape[1])
