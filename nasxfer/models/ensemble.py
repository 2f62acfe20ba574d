"""An ensemble of networks of one architecture, as one model: the mean of their logits.

``nasxfer finetune --seeds K`` with ``finetune.ensemble: true`` keeps the K trainings as one
``LogitEnsemble``; its model file records ``ensemble: K`` so that it rebuilds as K networks,
and it exports (TorchScript, ONNX) like any single network.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn


class LogitEnsemble(nn.Module):
    """``members`` (networks with the same input and classes); ``forward`` averages their logits."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: List[torch.Tensor] = []
        for member in self.members:
            outs.append(member(x))
        return torch.stack(outs).mean(0)
