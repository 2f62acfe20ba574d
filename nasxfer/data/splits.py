"""Stratified, seeded index splits of a labelled set.

Every split keeps the class proportions of the whole, as closely as whole numbers allow,
so that a small validation set still sees every class. The registry uses these to carve
val/test out of a training pool and to cap the training split (``data.limit``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# Fractions are floats such as 1 - 0.2 - 0.2; their sum may miss 1.0 by rounding.
_SUM_TOLERANCE = 1e-9


def stratified_split(labels, fractions: Sequence[float], seed: int) -> list[np.ndarray]:
    """Split ``range(len(labels))`` into ``len(fractions)`` disjoint, sorted index arrays.

    Split ``j`` gets ``fractions[j]`` of the samples, rounded to a whole number so that
    the sizes add up exactly, and each class contributes in proportion to its size.
    Fractions summing to 1 use every sample; a smaller sum leaves the rest out. A class
    with at least as many members as there are non-zero fractions puts at least one
    member into each of those splits. Which members go where is drawn with ``seed``:
    the same labels, fractions and seed always give the same arrays. ``labels`` may be a
    numpy array or a tensor.
    """
    y = _as_array(labels)
    weights = np.asarray(fractions, dtype=np.float64)
    if weights.ndim != 1 or len(weights) == 0 or (weights < 0).any():
        raise ValueError(f"fractions must be a non-empty list of non-negative numbers, got {fractions!r}")
    total = float(weights.sum())
    if total <= 0 or total > 1 + _SUM_TOLERANCE:
        raise ValueError(f"fractions must sum to a number in (0, 1], got {total}")
    uses_all = abs(total - 1.0) <= _SUM_TOLERANCE

    rng = np.random.default_rng(seed)
    members = _class_members(y)
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    targets = _apportion(int(sizes.sum()) if uses_all else round(total * int(sizes.sum())), weights)
    positive = weights > 0
    eligible = sizes >= positive.sum()  # classes big enough to appear in every split
    tie_break = rng.permutation(len(sizes))

    counts = np.zeros((len(sizes), len(weights)), dtype=np.int64)
    left = sizes.copy()
    fill_order = [j for j in np.argsort(weights, kind="stable") if positive[j]]  # largest split last
    for step, j in enumerate(fill_order):
        later = len(fill_order) - step - 1
        if uses_all and later == 0:
            counts[:, j] = left  # the largest split takes the rest, so every size comes out exact
        else:
            # Keep one member of each eligible class for every split still to fill.
            room = left - np.where(eligible, later, 0)
            counts[:, j] = _quota(targets[j], sizes, room, eligible.astype(np.int64), tie_break)
        left -= counts[:, j]

    parts: list[list[np.ndarray]] = [[] for _ in weights]
    for c, class_members in enumerate(members):
        shuffled = rng.permutation(class_members)
        start = 0
        for j in range(len(weights)):
            parts[j].append(shuffled[start : start + counts[c, j]])
            start += counts[c, j]
    return [np.sort(np.concatenate(p)) if p else np.empty(0, dtype=np.int64) for p in parts]


def stratified_subsample(labels, size: int, seed: int) -> np.ndarray:
    """Exactly ``min(size, len(labels))`` sorted indices with the class proportions of the whole.

    Used for ``data.limit``. When ``size`` allows it, every class keeps at least one sample.
    """
    y = _as_array(labels)
    if size >= len(y):
        return np.arange(len(y), dtype=np.int64)
    if size <= 0:
        return np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    members = _class_members(y)
    sizes = np.array([len(m) for m in members], dtype=np.int64)
    at_least = np.full(len(sizes), 1 if size >= len(sizes) else 0, dtype=np.int64)
    quotas = _quota(size, sizes, sizes, at_least, rng.permutation(len(sizes)))
    chosen = [rng.permutation(m)[:q] for m, q in zip(members, quotas)]
    return np.sort(np.concatenate(chosen))


def _as_array(labels) -> np.ndarray:
    if hasattr(labels, "detach"):  # a torch tensor, without importing torch here
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    return y


def _class_members(y: np.ndarray) -> list[np.ndarray]:
    """Indices of each class, classes in sorted order, indices ascending (so seeding is stable)."""
    order = np.argsort(y, kind="stable")
    _, starts = np.unique(y[order], return_index=True)
    return np.split(order.astype(np.int64), starts[1:])


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole numbers proportional to ``weights`` that sum to ``total`` (largest remainder)."""
    ideal = total * weights / weights.sum()
    counts = np.floor(ideal).astype(np.int64)
    order = np.argsort(-(ideal - counts), kind="stable")  # ties to the earlier entry
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def _quota(
    target: int, sizes: np.ndarray, room: np.ndarray, at_least: np.ndarray, tie_break: np.ndarray
) -> np.ndarray:
    """Per-class counts summing to ``target`` (when ``room`` allows), proportional to ``sizes``.

    Each count stays within ``[at_least, room]``. Counts start at the rounded-down ideal
    and move one at a time in the classes furthest from their ideal; ``tie_break`` (a
    seeded permutation of the classes) settles equal distances, so that the same classes
    do not win every tie in every split.
    """
    ideal = target * sizes / max(1, int(sizes.sum()))
    counts = np.minimum(np.maximum(np.floor(ideal).astype(np.int64), at_least), room)
    while (short := target - int(counts.sum())) != 0:
        step = 1 if short > 0 else -1
        movable = counts < room if step > 0 else counts > at_least
        if not movable.any():
            break
        distance = np.where(movable, (ideal - counts) * step, -np.inf)[tie_break]
        picks = tie_break[np.argsort(-distance, kind="stable")[: min(abs(short), int(movable.sum()))]]
        counts[picks] += step
    return counts
