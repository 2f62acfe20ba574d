"""torchvision classification models as backbones, with torchvision's own pretrained weights.

``weights: DEFAULT`` or a weights name (``IMAGENET1K_V1``) is fetched exactly as torchvision
does (``get_model(name, weights=…)``, into the torch hub cache, hash-checked); ``none`` is
random init; a file path is loaded by ``checkpoint_file``. Each family below says, in a
few lines, which module is its classifier, where its stages begin and how its trunk runs
without the classifier; the head's pooling does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import TORCHVISION_BACKBONES, weights_kind
from nasxfer.models.backbones.base import Backbone, FeatureFn, InputSpec, first_linear_in_features, split_into_stages
from nasxfer.models.backbones.checkpoint_file import load_into, read_state_dict


@dataclass(frozen=True)
class Family:
    classifier: str  # the attribute holding the classifier (dropped)
    boundaries: Callable[[nn.Module], list[str]]  # where each stage begins
    features: FeatureFn  # images -> feature map, without the classifier
    keep: int = 0  # leading modules of the classifier that belong to the trunk (ConvNeXt's norm)


def _resnet_map(body, x):
    x = body.maxpool(body.relu(body.bn1(body.conv1(x))))
    return body.layer4(body.layer3(body.layer2(body.layer1(x))))


def _regnet_map(body, x):
    return body.trunk_output(body.stem(x))


def _features_map(body, x):
    return body.features(x)


def _mnasnet_map(body, x):
    return body.layers(x)


def _shufflenet_map(body, x):
    x = body.maxpool(body.conv1(x))
    return body.conv5(body.stage4(body.stage3(body.stage2(x))))


def _densenet_map(body, x):
    return F.relu(body.features(x))


def _convnext_map(body, x):
    # ConvNeXt normalises after pooling; applying its LayerNorm2d per position keeps the
    # pretrained norm in the trunk while the head chooses the pooling.
    return body.classifier[0](body.features(x))


def _swin_map(body, x):
    return body.permute(body.norm(body.features(x)))  # NHWC -> NCHW


def _vit_map(body, x):
    x = body._process_input(x)
    token = body.class_token.expand(x.shape[0], -1, -1)
    x = body.encoder(torch.cat([token, x], dim=1))
    return x[:, 0]  # the class token, a [N, D] vector (a 1x1 map to the head)


def _numbered(prefix: str) -> Callable[[nn.Module], list[str]]:
    def boundaries(body: nn.Module) -> list[str]:
        return [f"{prefix}.{i}" for i in range(len(body.get_submodule(prefix)))]

    return boundaries


def _fixed(*names: str) -> Callable[[nn.Module], list[str]]:
    return lambda body: list(names)


def _vit_boundaries(body: nn.Module) -> list[str]:
    layers = [f"encoder.layers.{name}" for name, _ in body.encoder.layers.named_children()]
    return [*layers, "encoder.ln"]


def _swin_boundaries(body: nn.Module) -> list[str]:
    return [*_numbered("features")(body), "norm"]


_RESNET = Family("fc", _fixed("conv1", "layer1", "layer2", "layer3", "layer4"), _resnet_map)
FAMILIES: dict[str, Family] = {
    "resnet": _RESNET,
    "resnext": _RESNET,
    "wide_resnet": _RESNET,
    "regnet": Family("fc", _fixed("stem", *(f"trunk_output.block{i}" for i in range(1, 5))), _regnet_map),
    "mobilenet": Family("classifier", _numbered("features"), _features_map),
    "efficientnet": Family("classifier", _numbered("features"), _features_map),
    "mnasnet": Family("classifier", _numbered("layers"), _mnasnet_map),
    "shufflenet": Family("fc", _fixed("conv1", "stage2", "stage3", "stage4", "conv5"), _shufflenet_map),
    "densenet": Family(
        "classifier", _fixed("features.conv0", *(f"features.denseblock{i}" for i in range(1, 5))), _densenet_map
    ),
    "convnext": Family("classifier", _numbered("features"), _convnext_map, keep=1),
    "swin": Family("head", _swin_boundaries, _swin_map),
    "vit": Family("heads", _vit_boundaries, _vit_map),
}


def family_for(name: str) -> Family:
    for prefix, family in FAMILIES.items():
        if name.startswith(prefix):
            return family
    raise ConfigError(f"model.backbone.name: no trunk adapter for {name!r} (choices: {', '.join(TORCHVISION_BACKBONES)})")


def weights_for(name: str, tag: str):
    """torchvision's weights enum member ``tag`` of model ``name``; a one-line error lists the others."""
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    choices = ["DEFAULT", *(w.name for w in enum)]
    if tag not in choices:
        raise ConfigError(
            f"model.backbone.weights: {name} has no weights {tag!r} "
            f"(choices: {', '.join(choices)}, none, or a checkpoint file path)"
        )
    return enum[tag]


def build(cfg, pretrained: bool = True) -> Backbone:
    """The torchvision model ``cfg.name`` as a backbone, with ``cfg.weights`` when ``pretrained``."""
    import torchvision
    from torchvision.models import get_model, get_model_builder

    name = cfg.name
    try:
        get_model_builder(name)  # a dict lookup; list_models() would import-scan every module
    except ValueError:
        raise ConfigError(
            f"model.backbone.name: torchvision {torchvision.__version__} has no model {name!r} (upgrade torchvision)"
        ) from None
    family = family_for(name)
    kind = weights_kind(cfg.weights)
    # Preprocessing follows the named weights; random init and files follow the default set.
    reference = weights_for(name, cfg.weights if kind == "tag" else "DEFAULT")
    transforms = reference.transforms()
    native = InputSpec(int(transforms.crop_size[0]), tuple(transforms.mean), tuple(transforms.std), 3)
    spec = native.overridden(cfg)

    kwargs = {}
    if name.startswith("vit") and spec.image_size != native.image_size:
        if pretrained and kind == "tag":
            raise ConfigError(
                f"model.backbone.image_size: {name}'s pretrained weights need {native.image_size}-pixel input "
                "(remove image_size, or use weights none)"
            )
        kwargs["image_size"] = spec.image_size  # ViT's position embeddings fix the input size

    if pretrained and kind == "tag":
        body = _download(name, reference if cfg.weights == "DEFAULT" else weights_for(name, cfg.weights))
    else:
        body = get_model(name, weights=None, **kwargs)
        if pretrained and kind == "file":
            load_into(
                body,
                read_state_dict(cfg.weights),
                architecture=name,
                classifier=[family.classifier],
                origin=f"'{cfg.weights}'",
            )

    classifier = getattr(body, family.classifier)
    num_features = first_linear_in_features(classifier)
    kept = list(classifier.children())[: family.keep]
    setattr(body, family.classifier, nn.Sequential(*kept) if kept else nn.Identity())
    return Backbone(
        body,
        family.features,
        split_into_stages(body, family.boundaries(body)),
        num_features=num_features,
        input_spec=spec,
        description=f"torchvision:{name}",
    )


def _download(name: str, weights) -> nn.Module:
    from torchvision.models import get_model

    try:
        return get_model(name, weights=weights)
    except (OSError, RuntimeError, ValueError) as exc:  # offline, refused, or a bad hash
        hub = torch.hub.get_dir()
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise NasxferError(
            f"model.backbone.weights: could not fetch {name} {weights.name} into the torch hub cache "
            f"({reason}); offline, copy {weights.url.rsplit('/', 1)[-1]} into {hub}/checkpoints "
            "or give a checkpoint file path"
        ) from None
