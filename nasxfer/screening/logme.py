"""LogME (You et al., 2021, "LogME: Practical Assessment of Pre-trained Models for
Transfer Learning").

For each class, a Bayesian linear model ``y = F w + ε`` with prior ``w ~ N(0, α⁻¹ I)`` and
noise ``ε ~ N(0, β⁻¹)`` is fitted to that class's one-hot column by maximising the evidence
over α and β (MacKay's fixed-point updates, on one eigendecomposition of ``FᵀF``); the
score is the maximum log evidence per sample, averaged over classes. No training, no
hyperparameters; larger means the features explain the labels better.
"""

from __future__ import annotations

import math

import torch

from nasxfer.screening.base import BackboneScore, Features

MAX_ITERATIONS = 11
TOLERANCE = 1e-3


def class_evidence(y: torch.Tensor, sigma: torch.Tensor, v: torch.Tensor, f: torch.Tensor) -> float:
    """Maximum log evidence per sample of the target column ``y`` ``[N]``; ``sigma``, ``v``:
    eigenvalues and eigenvectors of ``FᵀF``."""
    n, d = f.shape
    alpha, beta = 1.0, 1.0
    projected = v.T @ (f.T @ y)  # Vᵀ Fᵀ y
    for _ in range(MAX_ITERATIONS):
        gamma = float((beta * sigma / (alpha + beta * sigma)).sum())
        m = v @ (beta * projected / (alpha + beta * sigma))  # posterior mean of w
        m2 = float(m @ m)
        residual = float(((y - f @ m) ** 2).sum())
        new_alpha = gamma / max(m2, 1e-300)
        new_beta = (n - gamma) / max(residual, 1e-300)
        done = abs(new_alpha - alpha) / alpha < TOLERANCE and abs(new_beta - beta) / beta < TOLERANCE
        alpha, beta = new_alpha, new_beta
        if done:
            break
    m = v @ (beta * projected / (alpha + beta * sigma))
    m2 = float(m @ m)
    residual = float(((y - f @ m) ** 2).sum())
    evidence = (
        n / 2 * math.log(beta)
        + d / 2 * math.log(alpha)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * m2
        - 0.5 * float(torch.log(alpha + beta * sigma).sum())
    )
    return evidence / n


def logme(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    f = features.double()
    sigma, v = torch.linalg.eigh(f.T @ f)
    sigma = sigma.clamp(min=0)  # round-off can make the zero eigenvalues slightly negative
    return sum(class_evidence((labels == k).double(), sigma, v, f) for k in range(num_classes)) / num_classes


class LogME(BackboneScore):
    name = "logme"

    def compute(self, features: Features) -> float:
        return logme(features.features, features.labels, features.num_classes)
