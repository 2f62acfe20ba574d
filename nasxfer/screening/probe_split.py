"""The held-out split the probing baselines share: a seeded, stratified quarter of the images."""

from __future__ import annotations

import torch


def probe_split(labels: torch.Tensor, held_out: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """``(fit, test)`` index tensors: per class, a random ``held_out`` share (at least one
    image where the class has two) goes to ``test``; torch's generator draws it, so the
    caller's seed decides."""
    fit, test = [], []
    for label in labels.unique():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members))]
        k = int(round(held_out * len(members)))
        k = min(max(k, 1 if len(members) > 1 else 0), len(members) - 1) if len(members) > 1 else 0
        test.append(members[:k])
        fit.append(members[k:])
    return torch.cat(fit).sort().values, torch.cat(test).sort().values


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Every tensor centred and scaled by ``train``'s per-feature mean and std."""
    mean, std = train.mean(dim=0), train.std(dim=0).clamp(min=1e-6)
    return [(t - mean) / std for t in (train, *others)]
