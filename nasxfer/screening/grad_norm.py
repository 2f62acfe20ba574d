"""grad_norm (Abdelfattah et al., 2021): the sum over conv and linear layers of the L2 norm
of the cross-entropy loss's gradient on one minibatch, at initialisation."""

from __future__ import annotations

from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch, loss_gradients, weight_layers


class GradNorm(ArchitectureScore):
    name = "grad_norm"

    def compute(self, model: nn.Module, batch: Batch) -> float:
        loss_gradients(model, batch)
        total = sum(float(m.weight.grad.norm()) for m in weight_layers(model) if m.weight.grad is not None)
        model.zero_grad(set_to_none=True)
        return total
