"""Every strategy through the real runner and run folder, on a tiny lookup table."""

import csv
import json
import random

import pytest

from nasxfer.config import validate_config
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore
from nasxfer.strategies import STRATEGY_NAMES
from nasxfer.search.trial import TrialState


@pytest.fixture
def table(tmp_path):
    """All 256 networks of identity / mbconv_k3_e3 per layer; more mbconv layers score higher."""
    rng = random.Random(0)
    rows = {}
    for n in range(256):
        key = format(n, "08b")
        mean = 85 + key.count("1") + rng.random()
        rows[key] = {"test_acc": [mean - 0.2, mean, mean + 0.2], "mean_acc": mean, "params": 1e6 + n, "flops": 1e7}
    path = tmp_path / "tiny-table.json"
    path.write_text(json.dumps(rows))
    return path


def config_for(table, strategy, trials):
    return validate_config(
        {
            "name": "macro",
            "data": {"dataset": "cifar10"},
            "model": {"scratch": {"stem_channels": 32, "stages": [2, 3, 3], "ops": ["identity"] * 8, "head_channels": 1280}},
            "search": {
                "strategy": {"name": strategy},
                "space": {"model.scratch.ops": {"choices": ["identity", "mbconv_k3_e3"], "repeat": 8}},
                "evaluator": {"table": str(table)},
                "budget": {"trials": trials},
            },
        }
    )


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_search_with_the_table_and_resume_by_replay(tmp_path, table, strategy):
    whole = RunStore.create(tmp_path / "runs", config_for(table, strategy, 12), {})
    outcome = run_search(config_for(table, strategy, 12), whole)
    assert outcome.stop_reason.startswith("trial budget reached")
    history = whole.history()
    assert [r.state for r in history] == [TrialState.COMPLETE] * 12
    assert len({r.key for r in history}) == 12
    assert outcome.best.metrics["val_accuracy"] == max(r.metrics["val_accuracy"] for r in history)
    assert all(0.8 < r.metrics["mean_accuracy"] < 0.95 for r in history)
    with open(whole.path / "leaderboard.csv") as f:
        assert len(list(csv.DictReader(f))) == 12

    # Stopped after 7 trials and started again: the journal alone gives the same search.
    split = RunStore.create(tmp_path / "runs", config_for(table, strategy, 7), {})
    run_search(config_for(table, strategy, 7), split)
    run_search(config_for(table, strategy, 12), split)
    assert [r.key for r in split.history()] == [r.key for r in history]


def test_cli_refuses_a_missing_table_before_making_a_run_folder(table, runs_dir, write_config):
    # (A successful CLI search is left to a manual check: the CLI imports torch to record
    # the environment, which costs seconds that this test suite does not spend.)
    from typer.testing import CliRunner

    from nasxfer.cli import app

    path = write_config(json.loads(config_for(table, "evolution", 6).model_dump_json()))
    result = CliRunner().invoke(app, ["search", str(path), "--set", "search.evaluator.table=nope.json"])
    assert result.exit_code == 2
    assert "search.evaluator.table: no such file 'nope.json'" in result.output
    assert not runs_dir.exists()
