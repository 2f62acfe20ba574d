"""Backbone factories that tests name as ``model.backbone.factory: factory_backbones:<function>``."""

from torch import nn


def tiny_cnn(pretrained: bool = True) -> nn.Module:
    """Two conv stages; the feature size is found by a probe batch."""
    tiny_cnn.calls.append(pretrained)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU()),
    )


tiny_cnn.calls = []


def vector_with_size():
    """A module that pools itself and says its feature size in a tuple."""
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), 6


def not_a_module():
    return 42


def broken():
    raise RuntimeError("no weights here")
