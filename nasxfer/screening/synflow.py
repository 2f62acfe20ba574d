"""synflow (Tanaka et al., 2020, "Pruning neural networks without any data by iteratively
conserving synaptic flow"), as a zero-cost proxy (Abdelfattah et al., 2021).

Data-free: every weight is replaced by its absolute value, the input is all ones, and
``R`` is the sum of the outputs; the score is ``sum |θ ⊙ ∂R/∂θ|`` over conv and linear
weights. Computed in float64, since products through many layers overflow float32.
Batch norm runs in eval mode with its initial statistics (close to the identity): in train
mode a single all-ones image would normalise every activation to zero.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch, weight_layers


class Synflow(ArchitectureScore):
    name = "synflow"
    needs_data = False  # only the input shape

    def compute(self, model: nn.Module, batch: Batch) -> float:
        net = copy.deepcopy(model).double().eval()  # the caller's network keeps its weights and dtype
        for module in net.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and module.track_running_stats:
                module.reset_running_stats()  # other scores' train-mode passes may have moved them
        with torch.no_grad():
            for tensor in net.state_dict().values():
                if tensor.is_floating_point():
                    tensor.abs_()
        net.zero_grad(set_to_none=True)
        ones = torch.ones((1, *batch.inputs.shape[1:]), dtype=torch.float64, device=batch.inputs.device)
        net(ones).sum().backward()
        total = 0.0
        for layer in weight_layers(net):
            if layer.weight.grad is not None:
                total += float((layer.weight.detach() * layer.weight.grad).abs().sum())
        return total
