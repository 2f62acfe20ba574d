"""H-score (Bao et al., 2019, "An Information-Theoretic Approach to Transferability in Task
Transfer Learning"): ``tr(cov(f)⁻¹ cov(E[f | y]))``, how much of the features' spread lies
between the classes rather than within them.

The feature covariance is the Ledoit-Wolf shrinkage estimate (Ledoit & Wolf, 2004), as
Ibrahim et al. (2022, "Newer is not always better: rethinking transferability metrics")
recommend: a backbone screen sees a few hundred images of 512-2048 features, where the sample
covariance is singular, and with a pseudo-inverse instead every backbone scores the same
``classes - 1`` (the between-class spread then lies wholly inside the span of the images)."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features


def ledoit_wolf_covariance(centred: torch.Tensor) -> torch.Tensor:
    """The shrinkage estimate ``(1 - a) S + a (tr(S) / d) I`` of centred ``[n, d]`` data, with
    Ledoit and Wolf's closed-form ``a`` (the one minimising the expected Frobenius error)."""
    n, d = centred.shape
    sample = centred.T @ centred / n
    mu = torch.trace(sample) / d
    frobenius = (sample**2).sum()
    dispersion = (frobenius - d * mu**2) / d  # ||S - mu I||^2 / d
    # Σ_i ||x_i x_iᵀ - S||² = Σ_i ||x_i||⁴ - n ||S||²: the spread of the one-image estimates.
    spread = ((centred**2).sum(dim=1) ** 2).sum() - n * frobenius
    noise = (spread / (n**2 * d)).clamp(min=0)
    shrinkage = 0.0 if dispersion <= 0 else float(torch.clamp(noise / dispersion, max=1.0))
    return (1 - shrinkage) * sample + shrinkage * mu * torch.eye(d, dtype=centred.dtype)


def hscore(features: torch.Tensor, labels: torch.Tensor) -> float:
    f = features.double()
    f = f - f.mean(dim=0, keepdim=True)
    g = torch.zeros_like(f)
    for label in labels.unique():
        members = labels == label
        g[members] = f[members].mean(dim=0)  # each image stands in for its class mean
    cov_g = g.T @ g / f.shape[0]
    return float(torch.trace(torch.linalg.solve(ledoit_wolf_covariance(f), cov_g)))


class HScore(BackboneScore):
    name = "hscore"

    def compute(self, features: Features) -> float:
        return hscore(features.features, features.labels)
