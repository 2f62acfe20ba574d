"""Several objectives at once: Pareto dominance, non-dominated sorting, crowding distance.

Scores are tuples where larger is better in every position (``ObjectiveSpec.score``
already flips metrics to minimise), as in NSGA-II (Deb et al. 2002): rank 1 is the
Pareto front, rank 2 the front once rank 1 is removed, and so on; within a rank, a larger
crowding distance means a point in a sparser region of the front.
"""

from __future__ import annotations

import math
from typing import Sequence

from nasxfer.search.trial import ObjectiveSpec, TrialRecord

Score = tuple[float, ...]


def dominates(a: Score, b: Score) -> bool:
    """``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))


def nondominated_ranks(points: Sequence[Score]) -> list[int]:
    """The front (1, 2, …) of each point. O(n² · objectives), ample for search histories."""
    n = len(points)
    dominated_by = [0] * n
    dominating: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i]):
                dominating[j].append(i)
                dominated_by[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if dominated_by[i] == 0]
    rank = 1
    while front:
        following = []
        for i in front:
            ranks[i] = rank
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        front, rank = following, rank + 1
    return ranks


def crowding_distances(points: Sequence[Score]) -> list[float]:
    """Crowding distance of each point among ``points`` (one front); the extremes get inf."""
    n = len(points)
    distance = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        distance[order[0]] = distance[order[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, n - 1):
            distance[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (high - low)
    return distance


def scores(record: TrialRecord, objectives: Sequence[ObjectiveSpec]) -> Score | None:
    values = tuple(o.score(record) for o in objectives)
    return None if any(v is None for v in values) else values


def pareto_rank(history: Sequence[TrialRecord], objectives: Sequence[ObjectiveSpec]) -> dict[int, tuple[int, float]]:
    """``{trial number: (front, crowding distance)}`` for the trials every objective can score."""
    scored = [(r.number, s) for r in history if (s := scores(r, objectives)) is not None]
    points = [s for _, s in scored]
    ranks = nondominated_ranks(points)
    out: dict[int, tuple[int, float]] = {}
    for front in sorted(set(ranks)):
        members = [i for i, r in enumerate(ranks) if r == front]
        for i, d in zip(members, crowding_distances([points[i] for i in members])):
            out[scored[i][0]] = (front, d)
    return out


def ranked(history: Sequence[TrialRecord], objectives: Sequence[ObjectiveSpec]) -> list[TrialRecord]:
    """Scored trials by (front, most isolated first, earliest), then the rest by number."""
    if len(objectives) == 1:
        return objectives[0].ranked(history)
    ranks = pareto_rank(history, objectives)
    scored = sorted((r for r in history if r.number in ranks), key=lambda r: (ranks[r.number][0], -ranks[r.number][1], r.number))
    rest = sorted((r for r in history if r.number not in ranks), key=lambda r: r.number)
    return scored + rest


def front(history: Sequence[TrialRecord], objectives: Sequence[ObjectiveSpec]) -> list[TrialRecord]:
    """The Pareto front (for one objective: the best trial)."""
    if len(objectives) == 1:
        best = objectives[0].best(history)
        return [best] if best else []
    ranks = pareto_rank(history, objectives)
    return [r for r in history if ranks.get(r.number, (0,))[0] == 1]
