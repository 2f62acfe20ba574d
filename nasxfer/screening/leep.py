"""LEEP (Nguyen et al., 2020, "LEEP: A New Measure to Evaluate Transferability of Learned
Representations"). From the source classifier's softmax ``θ(x)`` over source classes z:
the empirical joint ``P(y, z) = mean over images of label y of θ_z``, the conditional
``P(y | z)``, and the score ``mean_i log sum_z P(y_i | z) θ_z(x_i)``, the log-likelihood of
the "expected empirical predictor". Needs the source classifier."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features


def leep(source_probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    theta = source_probs.double()
    n = theta.shape[0]
    joint = torch.zeros(num_classes, theta.shape[1], dtype=torch.float64)
    joint.index_add_(0, labels, theta)
    joint /= n
    conditional = joint / joint.sum(dim=0, keepdim=True).clamp(min=1e-300)  # P(y | z)
    predicted = theta @ conditional.T  # [N, classes]
    return float(torch.log(predicted[torch.arange(n), labels].clamp(min=1e-300)).mean())


class LEEP(BackboneScore):
    name = "leep"
    needs_source = True

    def compute(self, features: Features) -> float:
        if features.source_probs is None:
            raise ValueError("leep needs the backbone's source classifier outputs")
        return leep(features.source_probs, features.labels, features.num_classes)
