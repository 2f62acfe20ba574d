import itertools
import math
import random

from nasxfer.search.pareto import crowding_distances, dominates, front, nondominated_ranks, pareto_rank, ranked
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def brute_force_front(points):
    return {i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)}


def test_ranks_match_brute_force_fronts():
    rng = random.Random(0)
    for _ in range(50):
        points = [(rng.randint(0, 5), rng.randint(0, 5), rng.random()) for _ in range(rng.randint(1, 25))]
        ranks = nondominated_ranks(points)
        remaining = set(range(len(points)))
        rank = 1
        while remaining:
            expected = {i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining)}
            assert {i for i in remaining if ranks[i] == rank} == expected
            remaining -= expected
            rank += 1


def test_crowding_distance():
    d = crowding_distances([(0, 4), (1, 2), (3, 1), (4, 0)])
    assert d[0] == d[3] == math.inf
    assert d[1] == (3 - 0) / 4 + (4 - 1) / 4 and d[2] == (4 - 1) / 4 + (2 - 0) / 4


def test_two_objective_front_on_records():
    objectives = [ObjectiveSpec("val_accuracy", "max"), ObjectiveSpec("latency_ms", "min")]
    rows = [(0.9, 10), (0.8, 5), (0.85, 12), (0.95, 20), (0.7, 5), (0.9, 10.5)]
    history = [TrialRecord(i + 1, f"k{i}", {}, TrialState.COMPLETE, {"val_accuracy": a, "latency_ms": l}) for i, (a, l) in enumerate(rows)]
    history.append(TrialRecord(99, "f", {}, TrialState.FAILED))
    assert {r.number for r in front(history, objectives)} == {1, 2, 4}
    ranks = pareto_rank(history, objectives)
    assert ranks[6][0] == 2 and ranks[5][0] == 2 and ranks[3][0] == 3  # 3 is dominated by 6 too
    order = [r.number for r in ranked(history, objectives)]
    assert set(order[:3]) == {1, 2, 4} and order[-1] == 99
