"""Batches of cached features for training a head: no backbone, no images, no DataLoader.

With the feature cache, image augmentation cannot happen (the features are of the
un-augmented images). ``noise`` and ``mixup`` are the feature-space substitutes: Gaussian
noise scaled by each feature's standard deviation, and mixup of feature pairs with soft
labels (``F.cross_entropy`` accepts class probabilities as targets).
"""

from __future__ import annotations

import hashlib
import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F


class FeatureLoader:
    """Iterate ``(features [B, D], labels [B])`` on the features' device, one epoch per iteration.

    With ``shuffle`` each epoch has its own order, fixed by ``(seed, epoch)`` like the image
    loader's. With ``mixup`` the labels come out as class probabilities ``[B, num_classes]``.
    """

    def __init__(
        self,
        features: torch.Tensor,
        labels: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        noise: float = 0.0,
        mixup: float = 0.0,
        num_classes: int | None = None,
    ) -> None:
        if features.shape[0] != labels.shape[0]:
            raise ValueError(f"{features.shape[0]} feature rows for {labels.shape[0]} labels")
        if mixup > 0 and num_classes is None:
            raise ValueError("mixup needs num_classes")
        self.features = features
        self.labels = labels
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.noise = noise
        self.mixup = mixup
        self.num_classes = num_classes
        self.scale = features.std(dim=0, keepdim=True) if noise > 0 and len(features) > 1 else None
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Continue from ``epoch`` (counted from 0), as ``BatchLoader.set_epoch``: a resumed fit."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        n = len(self.labels)
        device = self.features.device
        cpu = torch.Generator().manual_seed(_seed(self.seed, epoch))
        order = torch.randperm(n, generator=cpu).to(device) if self.shuffle else None
        beta = np.random.default_rng(_seed(self.seed, epoch) + 1)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            x, y = self.features[index], self.labels[index]
            if self.scale is not None:
                noise = torch.randn(x.shape, generator=cpu).to(device)
                x = x + self.noise * self.scale * noise
            if self.mixup > 0:
                lam = float(beta.beta(self.mixup, self.mixup))
                partner = torch.randperm(len(y), generator=cpu).to(device)
                x = lam * x + (1 - lam) * x[partner]
                one_hot = F.one_hot(y, self.num_classes).float()
                y = lam * one_hot + (1 - lam) * one_hot[partner]
            yield x, y


def _seed(seed: int, epoch: int) -> int:
    digest = hashlib.sha256(f"{seed}/{epoch}/features".encode()).digest()
    return int.from_bytes(digest[:7], "little")
