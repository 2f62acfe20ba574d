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


def lite_like(pretrained: bool = True) -> nn.Module:
    """Shaped like EfficientNet-Lite's module: weighted children, then parameter-free ones on top."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
        nn.Conv2d(8, 12, 3, stride=2, padding=1),
        nn.ReLU(), nn.Dropout(0.1), nn.Identity(), nn.ReLU(),
    )


def declared(pretrained: bool = True):
    """A factory that declares its stages and the preprocessing its weights want."""
    body = nn.Sequential()
    body.add_module("stem", nn.Conv2d(3, 8, 3, padding=1))
    body.add_module("act", nn.ReLU())
    body.add_module("block", nn.Conv2d(8, 16, 3, stride=2, padding=1))
    return {"module": body, "num_features": 16, "stages": ["stem", "block"], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def declared_bad_stage():
    body = nn.Sequential()
    body.add_module("stem", nn.Conv2d(3, 8, 3, padding=1))
    body.add_module("act", nn.ReLU())
    return {"module": body, "stages": ["stem", "act"]}
