"""Orders, ensembles and rank correlations of scores (plain Python: no numpy or scipy).

``ensemble`` rank-averages several scores: each candidate's rank under each score (1 the
best, ties sharing their average rank), averaged, negated so that larger stays better.
``spearman``, ``kendall`` and ``weighted_kendall`` measure how well a score orders what was
later trained; the weighted τ (Vigna, 2015, hyperbolic weights 1/(r+1), the version the
transferability papers report) counts a swap among the best more than one among the worst.
"""

from __future__ import annotations

import math
from typing import Sequence


def ranks(values: Sequence[float], descending: bool = True) -> list[float]:
    """1-based ranks (1: largest when ``descending``), ties given their average rank;
    NaN ranks last."""
    def sort_key(i: int):
        v = values[i]
        return (math.isnan(v), -v if descending else v)

    order = sorted(range(len(values)), key=sort_key)
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result


def ensemble(columns: dict[str, Sequence[float]]) -> list[float]:
    """Rank-averaged ensemble of several scores over the same candidates (larger is better)."""
    ranked = [ranks(col) for col in columns.values()]
    return [-sum(r[i] for r in ranked) / len(ranked) for i in range(len(ranked[0]))]


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ: Pearson's correlation of the (average-tie) ranks."""
    return pearson(ranks(x, descending=False), ranks(y, descending=False))


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    n = len(x)
    if n < 2:
        return math.nan
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def kendall(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ-b (ties in either variable accounted for). O(n²): fine for thousands."""
    return weighted_kendall(x, y, weigh=False)


def weighted_kendall(x: Sequence[float], y: Sequence[float], weigh: bool = True) -> float:
    """Weighted Kendall τ (Vigna, 2015) with hyperbolic weights: a pair of items ranked r and s
    by ``y`` (the truth, 0 = best) weighs ``1/(r+1) + 1/(s+1)``. ``weigh=False``: τ-b."""
    n = len(x)
    if n < 2:
        return math.nan
    rank_y = [r - 1 for r in ranks(y)]
    concordant = discordant = tie_x = tie_y = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            w = (1 / (rank_y[i] + 1) + 1 / (rank_y[j] + 1)) if weigh else 1.0
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tie_x += w
            elif dy == 0:
                tie_y += w
            elif (dx > 0) == (dy > 0):
                concordant += w
            else:
                discordant += w
    denominator = math.sqrt((concordant + discordant + tie_x) * (concordant + discordant + tie_y))
    return (concordant - discordant) / denominator if denominator > 0 else math.nan


def top_precision(score: Sequence[float], truth: Sequence[float], fraction: float = 0.1) -> float:
    """Of the ``fraction`` of candidates the score puts first, the share that is in the truth's
    top ``fraction`` too."""
    k = max(1, int(round(fraction * len(score))))
    by_score = sorted(range(len(score)), key=lambda i: -score[i])[:k]
    by_truth = set(sorted(range(len(truth)), key=lambda i: -truth[i])[:k])
    return sum(i in by_truth for i in by_score) / k
