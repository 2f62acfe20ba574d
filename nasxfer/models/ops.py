"""The candidate ops of a from-scratch layer, and the registry that builds them by name.

Every op is built as ``OPS[name](c_in, c_out, stride)`` and maps ``[N, c_in, H, W]`` to
``[N, c_out, ceil(H / stride), ceil(W / stride)]``, so any op can fill any layer of the macro
network. The shapes follow NAS-Bench-Macro, whose table of exact parameter counts the tests
check against.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from nasxfer.models import MBCONV_EXPANSIONS, MBCONV_KERNELS, SCRATCH_OPS

OpFactory = Callable[[int, int, int], nn.Module]


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """Conv (no bias: the BN right after it has its own shift) + BN, then ReLU if asked."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False
        ),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def identity(c_in: int, c_out: int, stride: int) -> nn.Module:
    """No op where the shape allows it; where it does not, the cheapest projection.

    A layer that changes resolution or width cannot be a true identity, so (as in
    NAS-Bench-Macro) it becomes a strided 1x1 conv + BN, without ReLU.
    """
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return conv_bn(c_in, c_out, 1, stride, relu=False)


def conv3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """A plain 3x3 conv + BN + ReLU."""
    return conv_bn(c_in, c_out, 3, stride)


def sepconv3x3(c_in: int, c_out: int, stride: int) -> nn.Module:
    """A separable 3x3 conv (DARTS-style, applied once): depthwise 3x3 then pointwise 1x1."""
    return nn.Sequential(
        conv_bn(c_in, c_in, 3, stride, groups=c_in),
        conv_bn(c_in, c_out, 1),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2's inverted residual: expand 1x1, depthwise kxk, linear project 1x1.

    The skip connection is added only where input and output shapes agree (stride 1 and
    ``c_in == c_out``); the projection has no ReLU so the residual stream stays linear.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        # The expand conv is kept even for expansion 1 (a 1x1 conv c_in -> c_in), unlike
        # MobileNetV2 which drops it there: one uniform block makes the parameter count a
        # single formula for every (kernel, expansion).
        self.block = nn.Sequential(
            conv_bn(c_in, hidden, 1),
            conv_bn(hidden, hidden, kernel, stride, groups=hidden),
            conv_bn(hidden, c_out, 1, relu=False),
        )
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + out if self.use_residual else out


def _mbconv(kernel: int, expansion: int) -> OpFactory:
    def build(c_in: int, c_out: int, stride: int) -> nn.Module:
        return InvertedResidual(c_in, c_out, stride, kernel, expansion)

    build.__name__ = f"mbconv_k{kernel}_e{expansion}"
    return build


#: Op name -> constructor ``(c_in, c_out, stride) -> nn.Module``; covers exactly SCRATCH_OPS.
OPS: dict[str, OpFactory] = {
    "identity": identity,
    "conv3x3": conv3x3,
    "sepconv3x3": sepconv3x3,
    **{f"mbconv_k{k}_e{e}": _mbconv(k, e) for k in MBCONV_KERNELS for e in MBCONV_EXPANSIONS},
}


def build_op(name: str, c_in: int, c_out: int, stride: int) -> nn.Module:
    """Build the op called ``name``; the config schema has already checked the name."""
    try:
        factory = OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; known ops: {', '.join(SCRATCH_OPS)}") from None
    return factory(c_in, c_out, stride)
