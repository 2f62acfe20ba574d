"""The weight-sharing supernet of a from-scratch space (single-path one-shot, Guo et al., 2020).

A supernet holds every network of a ``model.scratch`` space at once: in each layer, one
module per candidate op, built by the same registry (``ops.build_op``) and in the same
layout as ``ScratchNetwork``. A *path* (a stem width and one op per layer) picks one module
per layer; ``path_network`` assembles those very modules, weights shared, into a network
whose attributes and ``state_dict`` keys are a ``ScratchNetwork``'s. So a path's forward
pass *is* the standalone network's forward pass on the shared weights, and its weights load
into a standalone network as they are (``tests/test_supernet.py`` checks both).

Widths are not sliced: each stem width of the space gets a supernet of its own (its own
stem, ops, head and classifier), and the sampler picks the width of a step like an op.
Slicing would share the narrow networks' weights with the wide ones', but it does not fit
this op set (an inverted residual's hidden width is ``c_in * expansion``, and a layer's
identity turns into a projection when its input width changes); kept apart, every path
is exactly a standalone network.

Training samples a path per step from torch's global random generator (``fit`` saves and
restores its state with every checkpoint, so a resumed supernet trains the same paths).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from nasxfer.config import ScratchConfig
from nasxfer.models.ops import build_op, conv_bn
from nasxfer.models.scratch import MacroForward, init_weights

Path = tuple[int, tuple[str, ...]]  # (stem_channels, one op per layer)


class WidthSupernet(nn.Module):
    """The supernet of one stem width: a stem, every candidate op of every layer, the head."""

    def __init__(self, cfg: ScratchConfig, stem: int, layer_ops: Sequence[Sequence[str]], in_channels: int, num_classes: int):
        super().__init__()
        self.stem = conv_bn(in_channels, stem, 3)
        layers = []
        ops = iter(layer_ops)
        width = stem
        for i, num_layers in enumerate(cfg.stages):
            new_width = stem * 2 ** (i + 1)
            for j in range(num_layers):
                stride = 2 if j == 0 else 1  # as ScratchNetwork: the first layer of a stage halves
                layers.append(nn.ModuleDict({op: build_op(op, width, new_width, stride) for op in next(ops)}))
                width = new_width
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(conv_bn(width, cfg.head_channels, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(cfg.head_channels, num_classes)


class PathNetwork(MacroForward):
    """One path of a supernet as a network: ``ScratchNetwork``'s attributes, the supernet's modules."""

    def __init__(self, shared: WidthSupernet, ops: Sequence[str], stages: Sequence[int]):
        super().__init__()
        self.stem = shared.stem
        chosen = iter(layer[op] for layer, op in zip(shared.layers, ops))
        self.stages = nn.Sequential(*(nn.Sequential(*(next(chosen) for _ in range(n))) for n in stages))
        self.head = shared.head
        self.classifier = shared.classifier
        self.num_features = shared.classifier.in_features


class Supernet(nn.Module):
    """Every network of a from-scratch space, weights shared among those of one stem width.

    ``stems``: the stem widths of the space; ``layer_ops``: the candidate ops of each layer
    (as many lists as ``sum(cfg.stages)``); ``cfg`` gives the rest of the layout (stages,
    head). In training mode ``forward`` trains a path sampled uniformly; score a given path
    with ``path_network(path)``.
    """

    def __init__(self, cfg: ScratchConfig, stems: Sequence[int], layer_ops: Sequence[Sequence[str]], in_channels: int, num_classes: int):
        super().__init__()
        if len(layer_ops) != sum(cfg.stages):
            raise ValueError(f"layer_ops has {len(layer_ops)} layers but stages {cfg.stages} have {sum(cfg.stages)}")
        self.stages = list(cfg.stages)
        self.stems = tuple(int(s) for s in stems)
        self.layer_ops = tuple(tuple(ops) for ops in layer_ops)
        self.widths = nn.ModuleDict(
            {str(stem): WidthSupernet(cfg, stem, self.layer_ops, in_channels, num_classes) for stem in self.stems}
        )
        init_weights(self)

    def check_path(self, path: Path) -> None:
        """``ValueError`` naming the first choice of ``path`` the supernet does not hold."""
        stem, ops = path
        if stem not in self.stems:
            raise ValueError(f"stem_channels {stem} is not in the supernet (it has {list(self.stems)})")
        if len(ops) != len(self.layer_ops):
            raise ValueError(f"the path has {len(ops)} ops but the supernet has {len(self.layer_ops)} layers")
        for i, (op, choices) in enumerate(zip(ops, self.layer_ops)):
            if op not in choices:
                raise ValueError(f"layer {i}: op {op!r} is not in the supernet (it has {list(choices)})")

    def path_network(self, path: Path) -> PathNetwork:
        """The network of ``path``, made of the supernet's own modules (no copy)."""
        self.check_path(path)
        stem, ops = path
        return PathNetwork(self.widths[str(stem)], ops, self.stages)

    def sample_path(self) -> Path:
        """A path drawn uniformly: each stem width, and each op of each layer, equally likely."""
        stem = self.stems[int(torch.randint(len(self.stems), ()))]
        return stem, tuple(ops[int(torch.randint(len(ops), ()))] for ops in self.layer_ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            raise RuntimeError("a supernet scores a given path: use supernet.path_network(path)(x)")
        return self.path_network(self.sample_path())(x)


def path_of(cfg: ScratchConfig) -> Path:
    """The path of the network a ``ScratchConfig`` describes."""
    return int(cfg.stem_channels), tuple(cfg.ops)
