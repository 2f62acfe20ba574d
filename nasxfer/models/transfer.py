"""A transfer network: a backbone, the head's pooling, and the head.

It follows the same protocol as the from-scratch network (``forward_features`` gives the
pooled vector, ``forward_head`` the logits, ``num_features`` the vector's width), so
training, evaluation and model files treat both alike. What it adds is what transfer
needs: frozen backbone stages that stay in eval mode, and a smaller learning rate for
the backbone than for the head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nasxfer.models.backbones.base import Backbone
from nasxfer.models.heads import Pool, build_head, pooled_width


class TransferNetwork(nn.Module):
    def __init__(self, backbone: Backbone, head_cfg, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = Pool(head_cfg.pooling)
        self.num_features = pooled_width(backbone.num_features, head_cfg.pooling)
        self.head = build_head(head_cfg, self.num_features, num_classes)
        self.frozen_stages = 0  # set by models.freezing; the first this many stages do not train
        self.backbone_lr_mult = 1.0

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` -> pooled features ``[N, num_features]``."""
        return self.pool(self.backbone(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def train(self, mode: bool = True) -> TransferNetwork:
        # Frozen stages stay in eval mode even while the rest trains: their BatchNorm
        # statistics must not drift (nor dropout/stochastic depth perturb their output),
        # or "frozen" would not mean fixed and cached features would go stale.
        super().train(mode)
        for index in range(self.frozen_stages):
            for part in self.backbone.stage_parts(index):
                if isinstance(part, nn.Module):
                    part.eval()
        return self

    @property
    def backbone_frozen(self) -> bool:
        return self.frozen_stages >= len(self.backbone.stages)

    def lr_scale(self, parameter_name: str) -> float:
        """The learning-rate multiplier for one parameter (``train.build_optimizer`` asks)."""
        return self.backbone_lr_mult if parameter_name.startswith("backbone.") else 1.0

    @property
    def backbone_source(self) -> dict[str, Any] | None:
        return self.backbone.source
