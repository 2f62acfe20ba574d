"""params: the number of parameters (frozen ones too), the plainest baseline a proxy must beat."""

from __future__ import annotations

from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch


class Params(ArchitectureScore):
    name = "params"
    needs_data = False  # only the input shape

    def compute(self, model: nn.Module, batch: Batch) -> float:
        return float(sum(p.numel() for p in model.parameters()))
