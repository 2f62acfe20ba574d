"""The classifier on top of a backbone: pooling of its feature map, then a small MLP.

Both are searchable (``model.head``): pooling ``avg``, ``max`` or ``avg+max``; hidden
widths, activation, normalisation and dropout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

POOLINGS = ("avg", "max", "avg+max")

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


def pooled_width(num_features: int, pooling: str) -> int:
    return 2 * num_features if pooling == "avg+max" else num_features


def pool_map(feature_map: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, C]`` (``avg``, ``max``) or ``[N, 2C]`` (``avg+max``: avg first)."""
    if pooling == "avg":
        return feature_map.mean(dim=(2, 3))
    if pooling == "max":
        return feature_map.amax(dim=(2, 3))
    return torch.cat([feature_map.mean(dim=(2, 3)), feature_map.amax(dim=(2, 3))], dim=1)


def select_pooled(avg: torch.Tensor, max_: torch.Tensor, pooling: str) -> torch.Tensor:
    """The same vectors as ``pool_map`` from already pooled ``avg`` and ``max`` (the feature cache)."""
    if pooling == "avg":
        return avg
    if pooling == "max":
        return max_
    return torch.cat([avg, max_], dim=1)


class Pool(nn.Module):
    def __init__(self, pooling: str) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r} (choices: {', '.join(POOLINGS)})")
        self.pooling = pooling

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return pool_map(feature_map, self.pooling)

    def extra_repr(self) -> str:
        return self.pooling


class BatchNorm1dAnyBatch(nn.BatchNorm1d):
    """BatchNorm1d that accepts a training batch of one (the last, uneven batch of an epoch)
    by normalising it with the running statistics instead of failing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return super().forward(x)


class Head(nn.Module):
    """``hidden`` x (linear -> norm -> activation -> dropout), then dropout -> linear to logits."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden: list[int] | tuple[int, ...] = (),
        activation: str = "relu",
        norm: str = "none",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for out in hidden:
            layers.append(nn.Linear(width, out, bias=norm != "batch"))  # BN brings its own shift
            if norm == "batch":
                layers.append(BatchNorm1dAnyBatch(out))
            elif norm == "layer":
                layers.append(nn.LayerNorm(out))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = out
        if dropout > 0 and not hidden:
            layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        # A near-zero classifier starts every class at the same logit (as in the scratch network).
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.layers(features))


def build_head(cfg, in_features: int, num_classes: int) -> Head:
    """The head a ``HeadConfig`` describes, for pooled features of width ``in_features``."""
    return Head(in_features, num_classes, list(cfg.hidden), cfg.activation, cfg.norm, cfg.dropout)
