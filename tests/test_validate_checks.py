"""What ``nasxfer validate`` refuses because ``nasxfer search`` would: one line, exit code 2.

Objectives that training does not change (issue #16.3), search dimensions that change the
data's split or nothing at all (#16.6), and files, runs, factories and packages that the
config names but that are not there (#16.7).
"""

from __future__ import annotations

import copy

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app

from conftest import TINY

STATIC = ("params", "flops", "macs", "latency_ms", "latency_p90_ms", "memory_mb")


def validate(tmp_path, config: dict, *args: str):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return CliRunner().invoke(app, ["validate", str(path), *args])


def refused(result) -> str:
    """The one error line of a refused command (and the checks every refusal passes)."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def tiny(**sections) -> dict:
    config = copy.deepcopy(TINY)
    for name, value in sections.items():
        config[name] = {**config.get(name, {}), **value} if isinstance(value, dict) else value
    return config


# --------------------------------------------------------------------- static objectives


@pytest.mark.parametrize("metric", STATIC)
def test_a_scheduler_cannot_rank_by_a_metric_training_does_not_change(tmp_path, metric):
    config = tiny(search={"objective": {"metric": metric, "mode": "min"}, "scheduler": {"name": "asha"}})
    line = refused(validate(tmp_path, config))
    assert f"search.scheduler: the objective '{metric}' does not change with training" in line


@pytest.mark.parametrize("metric", STATIC)
def test_the_pruner_cannot_prune_on_a_metric_training_does_not_change(tmp_path, metric):
    config = tiny(search={"objective": {"metric": metric, "mode": "min"}, "pruner": {"name": "median"}}, train={"epochs": 4})
    line = refused(validate(tmp_path, config))
    assert f"search.pruner: the objective '{metric}' does not change with training" in line


@pytest.mark.parametrize("section", [{"scheduler": {"name": "asha"}}, {"pruner": {"name": "median"}}])
def test_a_learned_objective_still_validates_with_a_scheduler_or_pruner(tmp_path, section):
    config = tiny(search={"objective": {"metric": "val_loss", "mode": "min"}, **section}, train={"epochs": 4})
    result = validate(tmp_path, config)
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------- what a space may vary


def over(path: str, choices: list) -> dict:
    space = {**TINY["search"]["space"], path: {"choices": choices}}
    return tiny(search={"space": space})


DATA_DIMENSIONS = {
    "seed": [0, 1],
    "data.val_fraction": [0.2, 0.3],
    "data.test_fraction": [0.2, 0.3],
    "data.limit": [20, 40],
    "data.dataset": ["synthetic", "digits"],
    "data.root": ["a", "b"],
    "data.val_root": ["a", "b"],
    "data.test_root": ["a", "b"],
    "data.synthetic.num_samples": [100, 160],
    "data.synthetic": [{"num_samples": 100}, {"num_samples": 160}],
    "data.mode": ["memory", "stream"],
}
IDLE_DIMENSIONS = {
    "finetune.epochs": [1, 2],
    "executor.max_retries": [1, 2],
    "output.tensorboard": [False, True],
    "name": ["a", "b"],
}


@pytest.mark.parametrize("path", sorted(DATA_DIMENSIONS))
def test_a_space_cannot_vary_the_data_or_its_split(tmp_path, path):
    line = refused(validate(tmp_path, over(path, DATA_DIMENSIONS[path])))
    assert line.startswith(f"error: search.space.{path}: ")
    assert "fixed per run" in line and "data.image_size and data.augment may vary" in line


@pytest.mark.parametrize("path", sorted(IDLE_DIMENSIONS))
def test_a_space_cannot_vary_what_no_trial_uses(tmp_path, path):
    line = refused(validate(tmp_path, over(path, IDLE_DIMENSIONS[path])))
    assert line.startswith(f"error: search.space.{path}: ")
    assert "no trial would train differently" in line


def test_search_refuses_a_data_dimension_before_a_run_exists(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(over("seed", [0, 1])))
    line = refused(CliRunner().invoke(app, ["search", str(path)]))
    assert line.startswith("error: search.space.seed: ")
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("path, choices", [("data.image_size", [8, 12]), ("data.augment", ["none", "flip"])])
def test_a_space_may_vary_the_image_size_and_augmentation(tmp_path, path, choices):
    result = validate(tmp_path, over(path, choices))
    assert result.exit_code == 0, result.output
