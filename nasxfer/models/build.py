"""Turn a resolved ``ModelConfig`` into a network and the input preprocessing it expects.

The rule is ``ModelConfig.kind``: with ``model.backbone`` set the network is a
``TransferNetwork`` (backbone + pooling + head, frozen as ``model.finetune`` says);
without it, the from-scratch network of ``model.scratch``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from nasxfer.config import ModelConfig
from nasxfer.data.loader import Preprocess
from nasxfer.models.scratch import build_scratch_network


def build_model(
    cfg: ModelConfig,
    in_channels: int,
    num_classes: int,
    *,
    from_payload: dict[str, Any] | None = None,
    backbone: nn.Module | None = None,
) -> nn.Module:
    """The network for one trial. Every network exposes ``forward_features``,
    ``forward_head`` and ``num_features``.

    ``from_payload`` (a model file's contents, weights not needed) builds the architecture
    only: pretrained weights are neither downloaded nor read, since the file's state dict
    replaces them. A transfer network's backbone takes its input channels from its own
    preprocessing, so ``in_channels`` only matters from scratch.

    ``backbone``: an already built backbone of ``cfg.backbone`` (a search builds each once
    per run) to put the head on instead of building one.

    A backbone is built under a forked random state, so the head's initial weights (and
    everything drawn after them) depend on the seed alone, never on whether, or how, the
    backbone was constructed: a trial on a run's shared backbone, one that builds its own and
    the final training of the same candidate start from the same head.
    """
    if cfg.kind == "scratch":
        return build_scratch_network(cfg.scratch, in_channels, num_classes)
    import torch

    from nasxfer.models.backbones import build_backbone
    from nasxfer.models.freezing import set_trainable_stages
    from nasxfer.models.transfer import TransferNetwork

    if backbone is None:
        source = (from_payload or {}).get("backbone_source")
        with torch.random.fork_rng(devices=[]):
            backbone = build_backbone(cfg.backbone, pretrained=from_payload is None, source=source)
    network = TransferNetwork(backbone, cfg.head, num_classes)
    network.backbone_lr_mult = cfg.finetune.backbone_lr_mult
    network.batchnorm = cfg.finetune.batchnorm
    set_trainable_stages(network, cfg.finetune.unfreeze)
    return network


def preprocess_for(cfg: ModelConfig, data, model: nn.Module | None = None) -> Preprocess:
    """What the network's input batches need.

    From scratch: the data as it is, normalised by its own statistics. Transfer: the
    backbone's input size, channels (grey images become RGB) and mean/std. Pass the built
    ``model`` to avoid building the backbone a second time.
    """
    if cfg.kind == "scratch":
        return Preprocess.for_data(data)
    if model is None:
        import torch

        from nasxfer.models.backbones import build_backbone

        with torch.random.fork_rng(devices=[]):  # as in build_model: building draws no trial randomness
            spec = build_backbone(cfg.backbone, pretrained=False).input
    else:
        spec = model.backbone.input
    size = None
    if spec.image_size is not None and tuple(data.image_size) != (spec.image_size, spec.image_size):
        size = (spec.image_size, spec.image_size)
    return Preprocess(mean=tuple(spec.mean), std=tuple(spec.std), image_size=size, channels=spec.channels)


@dataclass
class TrainingModel:
    """A network ready to train on a device, with what its batches need."""

    model: nn.Module
    preprocess: Preprocess
    channels_last: bool  # the model is in channels_last memory format; its batches must be too


def model_for_training(config, data, device, seed: int, backbone: nn.Module | None = None) -> TrainingModel:
    """Seed, build ``config.model`` for ``data`` on ``device`` in the memory layout
    ``config.train.channels_last`` picks, and work out its preprocessing: the set-up a search
    trial and a final training share, in the same order so that the same seed gives the same
    initial weights in both. ``backbone``: see ``build_model``."""
    import torch

    from nasxfer.training.compute import seed_everything, use_channels_last

    seed_everything(seed)
    model = build_model(config.model, data.channels, len(data.class_names), backbone=backbone).to(device)
    channels_last = use_channels_last(config.train.channels_last, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return TrainingModel(model, preprocess_for(config.model, data, model), channels_last)
