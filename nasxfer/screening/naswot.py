"""NASWOT (Mellor et al., 2021, "Neural Architecture Search without Training").

Each ReLU's output on a minibatch gives every image a binary code (which units are
active). The kernel ``K[i, j]`` counts the units on which images i and j agree (the number
of units minus their Hamming distance); the score is ``log |det K|``. Networks that keep
different images' codes apart (a well-conditioned K) tend to train to higher accuracy.
"""

from __future__ import annotations

import torch
from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch


def hamming_kernel(codes: torch.Tensor) -> torch.Tensor:
    """``codes`` ``[N, U]`` in {0, 1} -> ``K[i, j]`` = number of units where codes i and j agree."""
    c = codes.double()
    return c @ c.T + (1 - c) @ (1 - c).T


def naswot_of_codes(codes: torch.Tensor) -> float:
    """``log |det K|`` of the Hamming kernel of ``codes``."""
    return float(torch.linalg.slogdet(hamming_kernel(codes))[1])


class NASWOT(ArchitectureScore):
    name = "naswot"

    @torch.no_grad()
    def compute(self, model: nn.Module, batch: Batch) -> float:
        n = batch.inputs.shape[0]
        kernel = torch.zeros(n, n, dtype=torch.float64, device=batch.inputs.device)
        seen = []

        def record(_module, _inputs, output):
            # Accumulated layer by layer: the whole code matrix would take far more memory.
            nonlocal kernel
            kernel += hamming_kernel((output.detach() > 0).flatten(1))
            seen.append(1)

        hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
        model.train()  # as the paper's code: batch statistics, the untrained network's own
        try:
            model(batch.inputs)
        finally:
            for hook in hooks:
                hook.remove()
        if not seen:
            raise ValueError("naswot needs a network with ReLU activations")
        return float(torch.linalg.slogdet(kernel)[1])
