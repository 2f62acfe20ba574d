"""knn: a k-nearest-neighbour baseline (k = 5, cosine similarity on standardised features,
majority vote, ties to the nearer neighbours): accuracy on a held-out quarter of the images."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features
from nasxfer.screening.probe_split import probe_split, standardise

K = 5


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, num_classes: int, k: int = K) -> float:
    fit, test = probe_split(labels)
    x_fit, x_test = standardise(features[fit].double(), features[test].double())
    x_fit = torch.nn.functional.normalize(x_fit, dim=1)
    x_test = torch.nn.functional.normalize(x_test, dim=1)
    k = min(k, len(fit))
    nearest = (x_test @ x_fit.T).topk(k, dim=1).indices  # [test, k], nearest first
    votes = torch.zeros(len(test), num_classes, dtype=torch.float64)
    # 1 per neighbour, plus a tiny bonus for the nearer ones, so ties go to the closer class
    weights = 1.0 + 1e-6 * torch.arange(k, 0, -1, dtype=torch.float64)
    votes.scatter_add_(1, labels[fit][nearest], weights.expand(len(test), k))
    return float((votes.argmax(dim=1) == labels[test]).double().mean())


class KNN(BackboneScore):
    name = "knn"

    def compute(self, features: Features) -> float:
        return knn_accuracy(features.features, features.labels, features.num_classes)
