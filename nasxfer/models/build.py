"""Turn a resolved ``ModelConfig`` into a network and the input preprocessing it expects."""

from __future__ import annotations

from torch import nn

from nasxfer.config import ModelConfig
from nasxfer.data.loader import Preprocess
from nasxfer.models.scratch import build_scratch_network


def build_model(cfg: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    """The network for one trial. Every network exposes ``forward_features``,
    ``forward_head`` and ``num_features``."""
    return build_scratch_network(cfg.scratch, in_channels, num_classes)


def preprocess_for(cfg: ModelConfig, data) -> Preprocess:
    """A network trained from scratch takes the data as it is, normalised by its own statistics."""
    return Preprocess.for_data(data)
