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

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class TransferNetwork(nn.Module):
    def __init__(self, backbone: Backbone, head_cfg, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = Pool(head_cfg.pooling)
        self.num_features = pooled_width(backbone.num_features, head_cfg.pooling)
        self.head = build_head(head_cfg, self.num_features, num_classes)
        self.frozen_stages = 0  # set by models.freezing; the first this many stages do not train
        self.backbone_lr_mult = 1.0
        self.batchnorm = "train"  # or "eval": training stages' BatchNorm keeps its statistics (model.finetune.batchnorm)
        self._frozen_plan: tuple[int, set[str], set[str]] | None = None

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
        # Frozen parts go straight to eval mode, never through training mode first: a frozen
        # backbone may be a search's shared one, which another trial may be running.
        frozen, holders = self._frozen_names()

        def visit(module: nn.Module, name: str) -> None:
            if name in frozen:
                module.train(False)
            elif name in holders or module is self:  # this module alone, then its children
                module.training = mode
                for child_name, child in module.named_children():
                    visit(child, f"{name}.{child_name}" if name else child_name)
            else:
                module.train(mode)

        visit(self, "")
        if mode and self.batchnorm == "eval":
            # Pretrained statistics, not batch statistics, in the stages that train: the
            # features a linear probe (or LP-FT's head phase, or the feature cache) fitted
            # the head to stay what the head sees once the backbone trains. Batch statistics
            # shift them at the first step, and a slow running average (EfficientNet's
            # momentum is 0.01) leaves evaluation on statistics the weights no longer match.
            for module in self.backbone.modules():
                if isinstance(module, _BATCH_NORMS):
                    module.train(False)
        return self

    def _frozen_names(self) -> tuple[set[str], set[str]]:
        """Names of the frozen stages' modules, and of the modules that hold them (computed
        once per freezing: ``train`` runs every epoch)."""
        if self._frozen_plan is None or self._frozen_plan[0] != self.frozen_stages:
            body = self.backbone.body
            frozen = {
                f"backbone.body.{name}"
                for index in range(self.frozen_stages)
                for name in self.backbone.stages[index]
                if _is_module(body, name)
            }
            holders = {".".join(name.split(".")[:i]) for name in frozen for i in range(len(name.split(".")))}
            self._frozen_plan = (self.frozen_stages, frozen, holders)
        return self._frozen_plan[1], self._frozen_plan[2]

    @property
    def backbone_frozen(self) -> bool:
        return self.frozen_stages >= len(self.backbone.stages)

    def lr_scale(self, parameter_name: str) -> float:
        """The learning-rate multiplier for one parameter (``train.build_optimizer`` asks)."""
        return self.backbone_lr_mult if parameter_name.startswith("backbone.") else 1.0

    @property
    def backbone_source(self) -> dict[str, Any] | None:
        return self.backbone.source


def _is_module(body: nn.Module, name: str) -> bool:
    """Whether a stage entry names a submodule (else a loose parameter)."""
    try:
        body.get_submodule(name)
    except AttributeError:
        return False
    return True
