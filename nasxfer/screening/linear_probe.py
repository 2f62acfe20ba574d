"""linear_probe: the baseline transferability estimators are measured against. A ridge
least-squares classifier on one-hot targets (closed form, so deterministic and fast) is fitted
on three quarters of the images and scored by its accuracy on the held-out quarter."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features
from nasxfer.screening.probe_split import probe_split, standardise

RIDGE = 1.0


def ridge_probe_accuracy(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    fit, test = probe_split(labels)
    x_fit, x_test = standardise(features[fit].double(), features[test].double())
    x_fit = torch.cat([x_fit, torch.ones(len(fit), 1, dtype=torch.float64)], dim=1)
    x_test = torch.cat([x_test, torch.ones(len(test), 1, dtype=torch.float64)], dim=1)
    targets = torch.nn.functional.one_hot(labels[fit], num_classes).double()
    d = x_fit.shape[1]
    if d <= len(fit):  # (XᵀX + λI)⁻¹ Xᵀ Y, or the dual form when there are more features than images
        w = torch.linalg.solve(x_fit.T @ x_fit + RIDGE * torch.eye(d, dtype=torch.float64), x_fit.T @ targets)
    else:
        w = x_fit.T @ torch.linalg.solve(x_fit @ x_fit.T + RIDGE * torch.eye(len(fit), dtype=torch.float64), targets)
    return float(((x_test @ w).argmax(dim=1) == labels[test]).double().mean())


class LinearProbe(BackboneScore):
    name = "linear_probe"

    def compute(self, features: Features) -> float:
        return ridge_probe_accuracy(features.features, features.labels, features.num_classes)
