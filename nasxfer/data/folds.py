"""Cross-validation folds of a loaded dataset: train+val cut into K stratified folds.

``cv_folds`` turns one ``LoadedData`` into ``folds x repeats`` datasets of the same shape,
each training on all folds but one and validating on that one. The test split is passed
through untouched and never read: folds are drawn from the labels of train and val alone.
Folds depend only on those labels, the fold count and the seed, so every trial of a run
(seeded by the run seed) trains on exactly the same folds.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import torch
from torch.utils.data import Subset

from nasxfer.data.containers import LoadedData, Split, StreamSplit, merge
from nasxfer.data.splits import stratified_split


def fold_indices(labels, folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_index, val_index)`` for each of ``folds x repeats`` folds of ``labels``.

    Each repeat cuts the samples into ``folds`` disjoint stratified parts (as equal as
    whole numbers allow, every class spread over the parts) with its own seed; fold ``k``
    of a repeat validates on part ``k`` and trains on the rest.
    """
    out = []
    y = labels.numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    for repeat in range(repeats):
        parts = stratified_split(y, [1.0 / folds] * folds, seed=seed * 1009 + repeat)
        for k in range(folds):
            train = np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k]))
            out.append((train, parts[k]))
    return out


def cv_folds(data: LoadedData, folds: int, repeats: int, seed: int) -> list[LoadedData]:
    """``data`` as ``folds x repeats`` datasets: train and val are the fold's cut of
    train+val, test is unchanged. Each fold's fingerprint names the fold, so feature caches
    keep one entry per fold and split."""
    pool = merge(data.train, data.val)
    datasets = []
    for number, (train, val) in enumerate(fold_indices(pool.labels, folds, repeats, seed)):
        tag = hashlib.sha256(f"{data.fingerprint}/cv/{folds}x{repeats}/{seed}/{number}".encode()).hexdigest()
        datasets.append(replace(data, train=subset_of(pool, train), val=subset_of(pool, val), fingerprint=tag))
    return datasets


def subset_of(split: Split | StreamSplit, index) -> Split | StreamSplit:
    """The samples ``index`` of an in-memory or a streamed split."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(split, Split):
        return split.subset(index)
    chosen = torch.as_tensor(index, dtype=torch.long)
    digest = hashlib.sha256(index.tobytes()).hexdigest()[:16]
    return StreamSplit(
        dataset=Subset(split.dataset, index.tolist()),
        labels=split.labels[chosen],
        channels=split.channels,
        image_size=split.image_size,
        identity=f"{split.identity}[{digest}]",
    )
