"""The from-scratch macro network: what a ``ScratchConfig`` becomes when it is trained.

Layout (NAS-Bench-Macro's, reproduced exactly so its table's parameter counts can check it):
a 3x3 stem, stages of searchable layers where each stage halves the resolution in its first
layer and has ``stem_channels * 2**(i+1)`` channels, a 1x1 head conv, global average pool and
a linear classifier. The features/head split lets callers reuse the body without the head.
"""

from __future__ import annotations

import torch
from torch import nn

from nasxfer.config import ScratchConfig
from nasxfer.models.ops import build_op, conv_bn


def init_weights(network: nn.Module) -> None:
    """The initialisation of every from-scratch network (and of the supernet that holds them)."""
    # The usual ImageNet-style init (as in torchvision's MobileNetV2): keeps activation
    # variance stable through ReLU nets trained from scratch, and a near-zero classifier
    # starts every class at the same logit.
    for m in network.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


class MacroForward(nn.Module):
    """The macro network's forward pass over its ``stem``, ``stages``, ``head`` and
    ``classifier``: shared by ``ScratchNetwork`` and a supernet's path (``models.supernet``),
    so a path runs exactly the standalone network's computation."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` -> pooled features ``[N, num_features]``."""
        return self.head(self.stages(self.stem(x)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[N, num_features]`` -> logits ``[N, num_classes]``."""
        return self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class ScratchNetwork(MacroForward):
    """Stem, searched stages, 1x1 head conv + pool (``features``) and a linear ``classifier``."""

    def __init__(self, cfg: ScratchConfig, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.stem = conv_bn(in_channels, cfg.stem_channels, 3)

        ops = iter(cfg.ops)
        width = cfg.stem_channels
        stages = []
        for i, num_layers in enumerate(cfg.stages):
            new_width = cfg.stem_channels * 2 ** (i + 1)
            layers = []
            for j in range(num_layers):
                # Only the first layer of a stage changes resolution and width.
                stride = 2 if j == 0 else 1
                layers.append(build_op(next(ops), width, new_width, stride))
                width = new_width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)

        self.head = nn.Sequential(
            conv_bn(width, cfg.head_channels, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(cfg.head_channels, num_classes)
        self.num_features = cfg.head_channels
        init_weights(self)


def build_scratch_network(cfg: ScratchConfig, in_channels: int, num_classes: int) -> nn.Module:
    """Build the network a ``ScratchConfig`` describes, for images with ``in_channels`` channels."""
    return ScratchNetwork(cfg, in_channels, num_classes)
