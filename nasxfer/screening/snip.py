"""snip (Lee et al., 2019, as a zero-cost proxy in Abdelfattah et al., 2021): connection
sensitivity ``sum |θ ⊙ ∂L/∂θ|`` of the cross-entropy on one minibatch, over conv and linear
weights, at initialisation."""

from __future__ import annotations

from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch, loss_gradients, weight_layers


class Snip(ArchitectureScore):
    name = "snip"

    def compute(self, model: nn.Module, batch: Batch) -> float:
        loss_gradients(model, batch)
        total = sum(
            float((m.weight.detach() * m.weight.grad).abs().sum()) for m in weight_layers(model) if m.weight.grad is not None
        )
        model.zero_grad(set_to_none=True)
        return total
