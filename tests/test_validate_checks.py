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
