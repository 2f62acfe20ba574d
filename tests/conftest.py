"""Shared fixtures: tiny configs that train in a second or two on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {
        "dataset": "synthetic",
        "synthetic": {"num_samples": 160, "num_classes": 3, "channels": 3, "image_size": 8},
        "val_fraction": 0.25,
        "test_fraction": 0.25,
    },
    "model": {"scratch": {"stem_channels": 4, "stages": [1, 1], "ops": ["conv3x3", "conv3x3"], "head_channels": 16}},
    "search": {
        "strategy": {"name": "random"},
        "space": {
            "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e1"], "repeat": 2},
            "train.lr": {"low": 0.01, "high": 0.2, "log": True},
        },
        "budget": {"trials": 3},
    },
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.05, "device": "cpu"},
    "finetune": {"epochs": 2},
}


@pytest.fixture
def tiny_dict():
    import copy

    return copy.deepcopy(TINY)


@pytest.fixture
def write_config(tmp_path):
    """Write a config dict (or raw text) to a YAML file and return its path."""

    def write(data, name="config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def tiny_config(tiny_dict):
    from nasxfer.config import validate_config

    return validate_config(tiny_dict)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    path = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def feature_cache_dir(tmp_path, monkeypatch):
    """Every test gets its own feature cache, so none writes to ~/.cache or sees another's."""
    path = tmp_path / "feature-cache"
    monkeypatch.setenv("NASXFER_CACHE_DIR", str(path))
    return path
