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


# --------------------------------------------------------------------- what search would refuse


def transfer(**backbone) -> dict:
    """TINY as a transfer search over the head's dropout."""
    config = copy.deepcopy(TINY)
    config["model"] = {"backbone": {"name": "resnet20", "weights": "none", **backbone}}
    config["search"]["space"] = {"model.head.dropout": {"choices": [0.0, 0.2]}}
    return config


MISSING = {
    "imagefolder root": (
        lambda tmp: tiny(data={"dataset": "imagefolder", "root": str(tmp / "no-images")}),
        "error: data.root: no such folder",
    ),
    "imagefolder val_root": (
        lambda tmp: tiny(data={"dataset": "imagefolder", "root": str(tmp), "val_root": str(tmp / "no-val")}),
        "error: data.val_root: no such folder",
    ),
    "mnist offline": (
        lambda tmp: tiny(data={"dataset": "mnist", "root": str(tmp / "no-mnist"), "download": False}),
        "error: data.download: mnist not found under",
    ),
    "weights file": (lambda tmp: transfer(weights=str(tmp / "no.pth")), "error: model.backbone.weights: no such file"),
    "run backbone": (lambda tmp: transfer(name="run:no-such-run", weights="DEFAULT"), "error: model.backbone.name: run 'no-such-run': no such run"),
    "factory module": (
        lambda tmp: transfer(name=None, factory="no_such_package.nets:make"),
        "error: model.backbone.factory: cannot import 'no_such_package.nets'",
    ),
    "factory function": (
        lambda tmp: transfer(name=None, factory="json:no_such_function"),
        "error: model.backbone.factory: 'json' has no 'no_such_function'",
    ),
    "warm start run": (lambda tmp: tiny(search={"warm_start": "no-such-run"}), "error: search.warm_start: run 'no-such-run': no such run"),
}


@pytest.mark.parametrize("case", sorted(MISSING))
def test_validate_refuses_what_search_would_refuse(tmp_path, monkeypatch, case):
    make, expected = MISSING[case]
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    config = make(tmp_path)
    validated = refused(validate(tmp_path, config))
    assert validated.startswith(expected), validated
    searched = refused(CliRunner().invoke(app, ["search", str(tmp_path / "config.yaml")]))
    assert searched == validated  # the same check, the same line
    assert not runs.exists() or not any(runs.iterdir())


def test_validate_refuses_a_timm_backbone_without_timm(tmp_path, monkeypatch):
    import importlib.util

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed here")
    line = refused(validate(tmp_path, transfer(name="timm:resnet18")))
    assert line == "error: model.backbone.name: timm backbones need timm, which is not installed (pip install timm)"


def test_validate_refuses_a_timm_choice_of_the_space_without_timm(tmp_path):
    import importlib.util

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed here")
    config = transfer()
    config["search"]["space"]["model.backbone.name"] = {"choices": ["resnet20", "timm:resnet18"]}
    assert "timm backbones need timm" in refused(validate(tmp_path, config))


def test_validate_refuses_tensorboard_output_without_tensorboard(tmp_path):
    import importlib.util

    if importlib.util.find_spec("tensorboard") is not None:
        pytest.skip("tensorboard is installed here")
    assert "tensorboard" in refused(validate(tmp_path, tiny(output={"tensorboard": True})))


def test_validate_quick_stays_light(tmp_path):
    """``validate --quick`` checks the config alone: it reads no data, builds no network and
    does not import torch. Plain validate builds the backbone, so it finds that this
    "checkpoint" is not one."""
    import subprocess
    import sys

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(transfer(weights=str(path))))  # any readable file passes the check
    code = (
        "import sys; from typer.testing import CliRunner; from nasxfer.cli import app; "
        f"r = CliRunner().invoke(app, ['validate', {str(path)!r}, '--quick']); "
        "print(r.exit_code, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "False"]
    full = CliRunner().invoke(app, ["validate", str(path)])
    assert full.exit_code == 2 and "model.backbone.weights" in full.output, full.output


def test_the_offline_check_knows_every_torchvision_dataset():
    from nasxfer.data.paths import TORCHVISION_DATASETS
    from nasxfer.data.torchvision_sets import TORCHVISION_NAMES

    assert sorted(TORCHVISION_DATASETS) == sorted(TORCHVISION_NAMES)
