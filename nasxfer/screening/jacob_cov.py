"""jacob_cov (Mellor et al., 2020 preprint of NASWOT; Abdelfattah et al., 2021).

The Jacobian of the summed outputs with respect to each input image gives one vector per
image; with ``v`` the eigenvalues of their correlation matrix, the score is
``-sum(log(v + k) + 1 / (v + k))`` with ``k = 1e-5``: largest when the images' Jacobians are
uncorrelated (every eigenvalue 1).
"""

from __future__ import annotations

import torch
from torch import nn

from nasxfer.screening.base import ArchitectureScore, Batch

K = 1e-5


def jacob_cov_of(jacobians: torch.Tensor) -> float:
    """The score of per-image Jacobians ``[N, D]``."""
    corr = torch.corrcoef(jacobians.double())
    v = torch.linalg.eigvalsh(corr)
    return float(-(torch.log(v + K) + 1.0 / (v + K)).sum())


class JacobCov(ArchitectureScore):
    name = "jacob_cov"

    def compute(self, model: nn.Module, batch: Batch) -> float:
        model.train()
        x = batch.inputs.detach().clone().requires_grad_(True)
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
        jacobians = x.grad.flatten(1)
        model.zero_grad(set_to_none=True)
        return jacob_cov_of(jacobians)
