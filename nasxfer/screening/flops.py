"""flops: FLOPs of one image's forward pass (a multiply-accumulate counts 2), counted by
``evaluation.costs.count_flops``; with params, the baseline a proxy must beat."""

from __future__ import annotations

from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch


class Flops(ArchitectureScore):
    name = "flops"
    needs_data = False  # only the input shape

    def compute(self, model: nn.Module, batch: Batch) -> float:
        from nasxfer.evaluation.costs import count_flops

        return float(count_flops(model, batch.inputs[:1]))
