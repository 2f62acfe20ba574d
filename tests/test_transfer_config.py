"""The transfer sections of the config schema: backbone, head, model.finetune, finetune LP-FT."""

import pytest

from nasxfer.config import validate_config
from nasxfer.errors import ConfigError
from nasxfer.models.backbone_names import BACKBONE_NAMES, weights_kind


def model(**sections):
    return validate_config({"model": sections})


def error(data) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(data)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_backbone_set_means_transfer_else_scratch():
    assert model().model.kind == "scratch" and model().model.backbone is None
    cfg = model(backbone="resnet18")  # a bare name is short for {name: ...}
    assert cfg.model.kind == "transfer"
    assert cfg.model.backbone.name == "resnet18" and cfg.model.backbone.weights == "DEFAULT"
    assert cfg.model.finetune.unfreeze == 0 and cfg.model.head.pooling == "avg"
    assert validate_config(cfg.model_dump(mode="json")) == cfg  # round-trips through apply


@pytest.mark.parametrize(
    "value, normal, kind",
    [
        (None, "none", "none"),
        ("None", "none", "none"),
        ("default", "DEFAULT", "tag"),
        ("IMAGENET1K_V2", "IMAGENET1K_V2", "tag"),
        ("weights/resnet20.th", "weights/resnet20.th", "file"),
        ("model.pth", "model.pth", "file"),
    ],
)
def test_weights_spellings(value, normal, kind):
    cfg = model(backbone={"name": "resnet18", "weights": value})
    assert cfg.model.backbone.weights == normal and weights_kind(normal) == kind


@pytest.mark.parametrize(
    "backbone, message",
    [
        ({"name": "resnt18"}, "model.backbone.name: unknown backbone 'resnt18' — did you mean 'resnet18'? (choices: resnet18,"),
        ({"name": "timm:"}, "model.backbone.name: 'timm:' needs a model name"),
        ({"name": "run:latest"}, "model.backbone.name: 'run:latest' moves"),
        ({"name": "run:../x"}, "does not name a run id"),
        ({"factory": "no_colon"}, "model.backbone.factory: 'no_colon' is not 'package.module:function'"),
        ({"name": "resnet18", "factory": "a.b:c"}, "model.backbone: give name"),
        ({}, "model.backbone: give name"),
        ({"name": "resnet18", "std": [0.2, 0]}, "model.backbone.std: every std value must be positive"),
        ({"name": "resnet18", "nmae": 1}, "model.backbone.nmae: unknown key — did you mean 'name'?"),
        ({"name": "resnet18", "weights": True}, "model.backbone.weights"),
    ],
)
def test_backbone_errors_are_one_line_naming_the_field(backbone, message):
    assert message in error({"model": {"backbone": backbone}})


def test_unknown_name_lists_every_choice():
    message = error({"model": {"backbone": "resnet1"}})
    assert all(name in message for name in BACKBONE_NAMES) and "timm:<name>" in message


@pytest.mark.parametrize("value", [0, 2, "all"])
def test_unfreeze_takes_a_count_or_all(value):
    assert model(backbone="resnet18", finetune={"unfreeze": value}).model.finetune.unfreeze == value


@pytest.mark.parametrize("value", ["some", -1, True, 1.5])
def test_unfreeze_rejects_anything_else(value):
    assert error({"model": {"finetune": {"unfreeze": value}}}).startswith("model.finetune.unfreeze: give a number")


@pytest.mark.parametrize(
    "head, message",
    [
        ({"pooling": "mean"}, "model.head.pooling"),
        ({"hidden": [0]}, "model.head.hidden: every hidden width"),
        ({"dropout": 1.0}, "model.head.dropout"),
        ({"norm": "group"}, "model.head.norm"),
    ],
)
def test_head_errors(head, message):
    assert error({"model": {"head": head}}).startswith(message)


def test_space_must_fit_the_kind_of_model():
    scratch_dim = {"model.scratch.stem_channels": {"choices": [8, 16]}}
    message = error({"model": {"backbone": "resnet18"}, "search": {"space": scratch_dim}})
    assert message.startswith("search.space.model.scratch.stem_channels: model.backbone is set")
    for path in ("model.head.hidden", "model.backbone.name", "model.finetune.unfreeze"):
        message = error({"search": {"space": {path: {"choices": [0, 1]}}}})
        assert message.startswith(f"search.space.{path}: the model has no backbone")


def test_backbone_and_head_as_dimensions(tiny_config):
    from nasxfer.search.space import SearchSpace

    cfg = tiny_config.apply(
        {
            "model.backbone": {"name": "resnet20", "weights": "none"},
            "search.space": {
                "model.backbone.name": {"choices": ["resnet20", "mobilenet_v3_small", "timm:resnet50"]},
                "model.head.hidden": {"choices": [[], [256], [512, 128]]},
                "model.head.pooling": {"choices": ["avg", "max", "avg+max"]},
                "model.finetune.unfreeze": {"choices": [0, 1, "all"]},
            },
        }
    )
    assert SearchSpace.from_config(cfg).size == 81
    trial = cfg.apply({"model.backbone.name": "mobilenet_v3_small", "model.finetune.unfreeze": "all"})
    assert trial.model.backbone.name == "mobilenet_v3_small" and trial.model.finetune.unfreeze == "all"


def test_lp_ft_settings():
    cfg = validate_config({"finetune": {"epochs": 5, "head_epochs": 2, "head_lr": 0.01}})
    assert cfg.finetune.head_epochs == 2 and cfg.finetune.head_lr == 0.01
    assert validate_config({}).finetune.head_epochs == 0 and validate_config({}).finetune.unfreeze is None
    assert validate_config({"finetune": {"unfreeze": "all"}}).finetune.unfreeze == "all"
    assert error({"finetune": {"unfreeze": "top"}}).startswith("finetune.unfreeze: give a number")


@pytest.mark.parametrize("name", ["transfer_offline.yaml", "cifar10_resnet18.yaml"])
def test_shipped_transfer_configs_validate(name):
    from pathlib import Path

    from nasxfer.config import load_config
    from nasxfer.search.space import SearchSpace

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / name)
    assert cfg.model.kind == "transfer" and cfg.finetune.head_epochs > 0
    SearchSpace.from_config(cfg)
