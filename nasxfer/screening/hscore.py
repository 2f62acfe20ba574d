"""H-score (Bao et al., 2019, "An Information-Theoretic Approach to Transferability in Task
Transfer Learning"): ``tr(cov(f)⁻¹ cov(E[f | y]))``, how much of the features' spread lies
between the classes rather than within them. The pseudo-inverse stands in for the inverse
where the feature covariance is singular (more dimensions than images)."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features


def hscore(features: torch.Tensor, labels: torch.Tensor) -> float:
    f = features.double()
    f = f - f.mean(dim=0, keepdim=True)
    cov_f = f.T @ f / f.shape[0]
    g = torch.zeros_like(f)
    for label in labels.unique():
        members = labels == label
        g[members] = f[members].mean(dim=0)  # each image stands in for its class mean
    cov_g = g.T @ g / f.shape[0]
    return float(torch.trace(torch.linalg.pinv(cov_f, hermitian=True, rtol=1e-10) @ cov_g))


class HScore(BackboneScore):
    name = "hscore"

    def compute(self, features: Features) -> float:
        return hscore(features.features, features.labels)
