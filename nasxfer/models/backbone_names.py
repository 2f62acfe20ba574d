"""Which backbone names exist and what a ``weights`` value means, without importing torch.

The config schema checks ``model.backbone`` with these, so that a typo is a one-line
error at load time; the builders in ``nasxfer.models.backbones`` do the heavy work later.
"""

from __future__ import annotations

import re

#: torchvision classification models whose trunk nasxfer knows how to cut out (one
#: adapter per family in ``backbones/torchvision_zoo.py``). A test checks that every
#: name exists in the installed torchvision.
TORCHVISION_BACKBONES: tuple[str, ...] = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d",
    "wide_resnet50_2", "wide_resnet101_2",
    "regnet_y_400mf", "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf",
    "regnet_y_16gf", "regnet_y_32gf", "regnet_y_128gf",
    "regnet_x_400mf", "regnet_x_800mf", "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf",
    "regnet_x_16gf", "regnet_x_32gf",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
    "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
    "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7",
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l",
    "densenet121", "densenet161", "densenet169", "densenet201",
    "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
    "swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b",
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14",
)  # fmt: skip

#: He et al.'s CIFAR ResNets (option-A shortcuts), depth -> blocks per stage = (depth - 2) / 6.
CIFAR_RESNETS: tuple[str, ...] = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")

TIMM_PREFIX = "timm:"
RUN_PREFIX = "run:"

#: Every plain name ``model.backbone.name`` accepts (``timm:<name>`` and ``run:<id>`` aside).
BACKBONE_NAMES: tuple[str, ...] = TORCHVISION_BACKBONES + CIFAR_RESNETS

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # store.RUN_ID_PATTERN, kept torch-free
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ENUM_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # torchvision weight names: DEFAULT, IMAGENET1K_V1, …

NO_WEIGHTS = "none"
DEFAULT_WEIGHTS = "DEFAULT"


def family_of(name: str) -> str:
    """``torchvision``, ``cifar_resnet``, ``timm`` or ``run`` for a name the schema accepted."""
    if name.startswith(TIMM_PREFIX):
        return "timm"
    if name.startswith(RUN_PREFIX):
        return "run"
    if name in CIFAR_RESNETS:
        return "cifar_resnet"
    return "torchvision"


def check_name(name: str) -> str | None:
    """None when ``name`` is a valid backbone name, else what is wrong (without the field)."""
    if name.startswith(TIMM_PREFIX):
        return None if name[len(TIMM_PREFIX) :].strip() else "'timm:' needs a model name, e.g. timm:resnet50"
    if name.startswith(RUN_PREFIX):
        run_id = name[len(RUN_PREFIX) :]
        if run_id == "latest":
            return "'run:latest' moves when this search starts; name the run id (see nasxfer runs)"
        if not _RUN_ID.match(run_id) or run_id in (".", ".."):
            return f"{name!r} does not name a run id (letters, digits, '-', '_', '.'; see nasxfer runs)"
        return None
    if name in BACKBONE_NAMES:
        return None
    import difflib

    close = difflib.get_close_matches(name, BACKBONE_NAMES, n=1)
    hint = f" — did you mean '{close[0]}'?" if close else ""
    return (
        f"unknown backbone {name!r}{hint} (choices: {', '.join(BACKBONE_NAMES)}, "
        "timm:<name>, run:<run-id>, or set model.backbone.factory)"
    )


def check_factory(spec: str) -> str | None:
    if _FACTORY.match(spec):
        return None
    return f"{spec!r} is not 'package.module:function'"


def normalise_weights(value) -> str:
    """YAML ``null``/``none``/``None`` -> ``none``; ``default`` -> ``DEFAULT``; others unchanged."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        return NO_WEIGHTS
    if isinstance(value, bool):
        raise ValueError("give DEFAULT, a weights name, none or a checkpoint file path (not true/false)")
    value = str(value).strip()
    return DEFAULT_WEIGHTS if value.lower() == "default" else value


def weights_kind(weights: str) -> str:
    """``none`` (random init), ``tag`` (a named pretrained set, e.g. DEFAULT) or ``file`` (a path).

    A value that is neither ``none`` nor an upper-case name like ``IMAGENET1K_V1`` is a file
    path, relative to the working directory.
    """
    if weights == NO_WEIGHTS:
        return "none"
    if _ENUM_NAME.match(weights):
        return "tag"
    return "file"
