"""A factory backbone's stages are the parts that hold weights, or the ones it declares."""

from __future__ import annotations

import pytest

from nasxfer.config import validate_config
from nasxfer.errors import ConfigError
from nasxfer.models.backbones import build_backbone

from conftest import TINY

BASE = {**TINY, "search": {**TINY.get("search", {}), "space": {}}}


def _backbone(factory: str):
    config = validate_config({**BASE, "model": {"backbone": {"factory": f"factory_backbones:{factory}", "weights": "none"}}})
    return build_backbone(config.model.backbone)


def test_parameter_free_children_join_the_stage_before_them():
    """Before: seven top-level children were seven stages, the top four with no weights, so
    unfreeze 1-4 trained nothing (and skipped the feature cache for it)."""
    stages = _backbone("lite_like").stage_summary()
    assert [s["starts_at"] for s in stages] == ["0", "1", "2"]
    assert all(s["parameters"] > 0 for s in stages)
    assert stages[-1]["parameters"] == 8 * 12 * 9 + 12


def test_a_factory_declares_its_stages_and_preprocessing():
    backbone = _backbone("declared")
    assert [s["starts_at"] for s in backbone.stage_summary()] == ["stem", "block"]
    assert backbone.input.mean == (0.5, 0.5, 0.5) and backbone.input.std == (0.5, 0.5, 0.5)
    assert backbone.num_features == 16


def test_a_declared_stage_without_weights_is_refused():
    with pytest.raises(ConfigError, match=r"stage 'act' has no parameters, so unfreezing it would train nothing"):
        _backbone("declared_bad_stage")


def test_the_config_overrides_a_declared_mean():
    config = validate_config({**BASE, "model": {"backbone": {
        "factory": "factory_backbones:declared", "weights": "none", "mean": [0.1, 0.2, 0.3]}}})
    assert build_backbone(config.model.backbone).input.mean == (0.1, 0.2, 0.3)
