"""NCE (Tran et al., 2019, "Transferability and Hardness of Supervised Classification
Tasks"): the negative conditional entropy ``-H(Y | Z)`` of the target labels Y given the
source classifier's hard predictions Z (argmax), from their empirical joint distribution.
Needs the source classifier."""

from __future__ import annotations

import torch

from nasxfer.screening.base import BackboneScore, Features


def nce(source_predictions: torch.Tensor, labels: torch.Tensor, num_classes: int, num_source: int) -> float:
    n = labels.shape[0]
    joint = torch.zeros(num_classes, num_source, dtype=torch.float64)
    joint.index_put_((labels, source_predictions), torch.ones(n, dtype=torch.float64), accumulate=True)
    joint /= n
    marginal_z = joint.sum(dim=0, keepdim=True)
    nonzero = joint > 0
    conditional = joint[nonzero] / marginal_z.expand_as(joint)[nonzero]
    return float((joint[nonzero] * torch.log(conditional)).sum())


class NCE(BackboneScore):
    name = "nce"
    needs_source = True

    def compute(self, features: Features) -> float:
        if features.source_probs is None:
            raise ValueError("nce needs the backbone's source classifier outputs")
        probs = features.source_probs
        return nce(probs.argmax(dim=1), features.labels, features.num_classes, probs.shape[1])
