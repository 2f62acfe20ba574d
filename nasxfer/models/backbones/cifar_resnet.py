"""He et al.'s (2016) CIFAR ResNets: ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``, ``resnet110``.

A 3x3 stem conv to 16 channels, three stages of ``n = (depth - 2) / 6`` basic blocks at
16, 32 and 64 channels (the first block of stages 2 and 3 has stride 2), global pooling,
``linear``. Where a block changes shape its shortcut is "option A": no parameters, the
input subsampled by 2 and zero-padded on the channel axis. The state-dict names are the
ones the widely shared CIFAR checkpoints use (``conv1``, ``bn1``,
``layer{1,2,3}.{i}.conv1|bn1|conv2|bn2``, ``linear``), so those files load as they are.

There are no downloadable weights: ``weights`` is a checkpoint file or ``none``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nasxfer.errors import ConfigError
from nasxfer.models.backbone_names import weights_kind
from nasxfer.models.backbones.base import IMAGENET_MEAN, IMAGENET_STD, Backbone, InputSpec, split_into_stages
from nasxfer.models.backbones.checkpoint_file import load_into, read_state_dict

WIDTHS = (16, 32, 64)
# The shared checkpoints were trained on 32x32 CIFAR images normalised with ImageNet's statistics.
INPUT = InputSpec(image_size=32, mean=IMAGENET_MEAN, std=IMAGENET_STD, channels=3)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN; the shortcut pads channels with zeros rather than projecting."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = c_out - c_in
        self.stride = stride

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.pad == 0:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.pad // 2
        return F.pad(x, (0, 0, 0, 0, half, self.pad - half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"a CIFAR ResNet has depth 6n + 2, got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, WIDTHS[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(WIDTHS[0])
        c_in = WIDTHS[0]
        for i, width in enumerate(WIDTHS, start=1):
            layers = []
            for j in range(blocks):
                layers.append(BasicBlock(c_in, width, 2 if (j == 0 and i > 1) else 1))
                c_in = width
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.linear = nn.Linear(WIDTHS[-1], num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(cifar_feature_map(self, x).mean(dim=(2, 3)))


def cifar_feature_map(body: CifarResNet, x: torch.Tensor) -> torch.Tensor:
    x = F.relu(body.bn1(body.conv1(x)))
    return body.layer3(body.layer2(body.layer1(x)))


def build(cfg, pretrained: bool = True) -> Backbone:
    """The CIFAR ResNet ``cfg.name`` with ``cfg.weights`` (a checkpoint file or none)."""
    depth = int(cfg.name.removeprefix("resnet"))
    body = CifarResNet(depth)
    kind = weights_kind(cfg.weights)
    if pretrained and kind == "tag":
        raise ConfigError(
            f"model.backbone.weights: {cfg.name} has no downloadable weights ({cfg.weights!r}); "
            f"give a checkpoint file path (e.g. ../shared/data/weights/{cfg.name}-cifar10.th) or none"
        )
    if pretrained and kind == "file":
        state = read_state_dict(cfg.weights)
        load_into(body, state, architecture=cfg.name, classifier=["linear"], origin=f"'{cfg.weights}'")
    body.linear = nn.Identity()  # the source task's classifier: never part of a backbone
    return Backbone(
        body,
        cifar_feature_map,
        split_into_stages(body, ["conv1", "layer1", "layer2", "layer3"]),
        num_features=WIDTHS[-1],
        input_spec=INPUT.overridden(cfg),
        description=f"cifar_resnet:{cfg.name}",
    )

