import math
import random

import pytest

from nasxfer.config import validate_config
from nasxfer.errors import ConfigError
from nasxfer.search.space import Candidate, Choice, Dimension, FloatRange, IntRange, SearchSpace


def space_of(tiny_dict, space):
    tiny_dict["search"]["space"] = space
    return SearchSpace.from_config(validate_config(tiny_dict))


def test_candidate_key_is_stable_and_order_free():
    a = Candidate({"train.lr": 0.1, "model.scratch.ops": ["identity", "conv3x3"]})
    b = Candidate({"model.scratch.ops": ["identity", "conv3x3"], "train.lr": 0.1})
    assert a.key == b.key and len(a.key) == 12
    assert a == b and hash(a) == hash(b)
    assert Candidate({"train.lr": 0.2}).key != Candidate({"train.lr": 0.1}).key


def test_known_key_does_not_drift_between_versions():
    # A run resumed by a newer nasxfer must recognise the candidates it already trained.
    import hashlib

    assert Candidate({"train.lr": 0.1}).key == hashlib.sha256(b'{"train.lr":0.1}').hexdigest()[:12]


def test_sizes_and_grid(tiny_dict):
    space = space_of(
        tiny_dict,
        {
            "model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 2},
            "train.epochs": {"low": 1, "high": 3},
        },
    )
    assert space.size == 4 * 3
    grid = list(space.grid())
    assert len(grid) == 12 and len({c.key for c in grid}) == 12
    assert all(space.contains(c) for c in grid)


def test_float_dimension_makes_space_unbounded_and_samples_inside(tiny_dict):
    space = space_of(tiny_dict, {"train.lr": {"low": 0.001, "high": 0.1, "log": True}})
    assert space.size == math.inf
    rng = random.Random(0)
    values = [space.sample(rng).values["train.lr"] for _ in range(500)]
    assert all(0.001 <= v <= 0.1 for v in values)
    # log-uniform: about half the mass below the geometric midpoint 0.01
    below = sum(v < 0.01 for v in values) / len(values)
    assert 0.4 < below < 0.6


def test_log_grid_is_geometric():
    assert FloatRange(0.001, 0.1, log=True, grid_points=3).grid() == [0.001, 0.01, 0.1]
    assert FloatRange(0.0, 1.0, grid_points=5).grid() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_neighbours_differ_in_exactly_one_coordinate():
    dim = Dimension("model.scratch.ops", Choice(("a", "b", "c")), repeat=3)
    space = SearchSpace((dim, Dimension("train.epochs", IntRange(1, 5))))
    cand = Candidate({"model.scratch.ops": ["a", "b", "c"], "train.epochs": 1})
    neighbours = space.neighbours(cand)
    assert len(neighbours) == 3 * 2 + 1  # two other ops per layer, epochs 2 only (1 is the lower edge)
    for n in neighbours:
        ops_diff = sum(x != y for x, y in zip(n.values["model.scratch.ops"], cand.values["model.scratch.ops"]))
        epochs_diff = n.values["train.epochs"] != cand.values["train.epochs"]
        assert ops_diff + epochs_diff == 1
    mutated = space.mutate(cand, random.Random(1))
    assert mutated in neighbours


def test_contains_rejects_foreign_values():
    space = SearchSpace((Dimension("train.epochs", IntRange(1, 5)),))
    assert not space.contains(Candidate({"train.epochs": 9}))
    assert not space.contains(Candidate({"train.lr": 1}))


def test_dimension_that_names_no_field_is_an_error(tiny_dict):
    with pytest.raises(ConfigError, match=r"^search.space.train.lrr: names no config field .*did you mean 'train.lr'"):
        space_of(tiny_dict, {"train.lrr": {"choices": [0.1]}})


def test_search_settings_cannot_be_searched(tiny_dict):
    with pytest.raises(ConfigError, match=r"search settings themselves"):
        space_of(tiny_dict, {"search.max_failures": {"choices": [1, 2]}})


def test_space_whose_candidates_do_not_validate_is_an_error(tiny_dict):
    with pytest.raises(ConfigError, match=r"^search.space.train.epochs: choice 0 is not a valid config: train.epochs"):
        space_of(tiny_dict, {"train.epochs": {"choices": [0, 1]}})
