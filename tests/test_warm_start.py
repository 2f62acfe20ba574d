"""Warm start: an earlier run's best candidates first, when the spaces agree."""

import pytest

from curves import CurveEvaluator, quality
from nasxfer.errors import ConfigError
from nasxfer.search.objectives import objective_of
from nasxfer.search.runner import run_search
from nasxfer.search.space import SearchSpace
from nasxfer.storage.store import RunStore
from nasxfer.search.warm_start import warm_start_candidates


@pytest.fixture
def earlier(tmp_path, tiny_config):
    config = tiny_config.apply({"search.budget.trials": 5})
    store = RunStore.create(tmp_path / "runs", config, {})
    outcome = run_search(config, store, None, CurveEvaluator())
    return store, sorted(outcome.history, key=lambda r: -quality(r.values))


def test_the_best_earlier_candidates_are_trained_first(tmp_path, tiny_config, earlier):
    store, best_first = earlier
    config = tiny_config.apply({"seed": 1, "search.budget.trials": 4, "search.warm_start": {"run": store.run_id, "top": 2}})
    new = RunStore.create(tmp_path / "runs", config, {})
    outcome = run_search(config, new, None, CurveEvaluator())
    assert [r.key for r in outcome.history[:2]] == [r.key for r in best_first[:2]]
    assert len({r.key for r in outcome.history}) == 4  # then the strategy, which saw them as tried
    journalled = next(e for e in new.events() if e["event"] == "warm_start")
    assert journalled["run"] == store.run_id and len(journalled["candidates"]) == 2


def test_candidates_outside_this_space_are_skipped(tmp_path, tiny_config, earlier):
    store, best_first = earlier
    lrs = sorted(r.values["train.lr"] for r in best_first)
    narrowed = tiny_config.apply(
        {"search.space.train.lr": {"low": lrs[0], "high": lrs[2], "log": True}, "search.warm_start": store.run_id}
    )
    found = warm_start_candidates(narrowed, tmp_path / "runs", SearchSpace.from_config(narrowed), objective_of(narrowed))
    assert [c.key for c in found] == [r.key for r in best_first if lrs[0] <= r.values["train.lr"] <= lrs[2]]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"search.space": {"train.lr": {"low": 0.01, "high": 0.2}}}, "searched model.scratch.ops, train.lr but this search varies train.lr; warm start needs the same dimensions"),
        ({"search.space.train.lr": {"low": 0.5, "high": 0.9}}, "none of the 5 scored trials of run '.*' lies inside this search space"),
        ({"search.warm_start": "nope"}, r"search.warm_start: run 'nope': no such run"),
        ({"search.warm_start": "latest"}, "search.warm_start: name the earlier run by its id"),
    ],
)
def test_incompatible_or_unknown_runs_are_one_line_errors(tmp_path, tiny_config, earlier, changes, message):
    store, _ = earlier
    config = tiny_config.apply({"search.warm_start": store.run_id}).apply(changes)
    with pytest.raises(ConfigError, match=message) as info:
        warm_start_candidates(config, tmp_path / "runs", SearchSpace.from_config(config), objective_of(config))
    assert "\n" not in str(info.value)
