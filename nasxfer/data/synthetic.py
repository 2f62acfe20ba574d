"""``synthetic``: procedural images for tests and demos, any size, channel count and class count.

Each class is a grating (stripes) with its own orientation and stripe period, seen
through a soft round window. Position, window size, phase, contrast, colour and noise
vary per image, and orientation and period are jittered a little, so telling classes
apart takes oriented filters that a tiny CNN learns in a few epochs, while colour and
position carry no information.
"""

from __future__ import annotations

import math

import torch

from nasxfer.data.containers import Source, Split

_ORIENTATIONS_PER_PERIOD = 8  # classes share a period until 8 orientations are used up
_MAX_PERIODS = 4
_MIN_PERIOD = 3.0  # pixels; finer stripes alias on the pixel grid
_CHUNK = 2048  # images rendered at once, to bound the float temporaries


def load_synthetic(cfg, seed: int) -> Source:
    """``cfg.synthetic`` images generated with ``seed``, as one pool to carve splits from."""
    spec = cfg.synthetic
    images, labels = make_patterns(spec.num_samples, spec.num_classes, spec.channels, spec.image_size, seed)
    return Source(
        name="synthetic",
        class_names=[f"class_{i}" for i in range(spec.num_classes)],
        hflip_ok=False,  # a mirror turns a 45 degree grating into a 135 degree one: another class
        train=Split(images, labels),
    )


def make_patterns(
    num_samples: int, num_classes: int, channels: int, image_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images ``[N, channels, S, S]`` and balanced int64 labels, fully determined by ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(num_samples) % num_classes)[torch.randperm(num_samples, generator=gen)]
    angles, periods, angle_step = _class_codes(num_classes, image_size)
    images = torch.empty((num_samples, channels, image_size, image_size), dtype=torch.uint8)
    for start in range(0, num_samples, _CHUNK):
        chunk = labels[start : start + _CHUNK]
        images[start : start + len(chunk)] = _render(
            angles[chunk], periods[chunk], angle_step, channels, image_size, gen
        )
    return images, labels


def _class_codes(num_classes: int, size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Each class's grating orientation (radians) and period (pixels), all distinct."""
    num_periods = min(_MAX_PERIODS, math.ceil(num_classes / _ORIENTATIONS_PER_PERIOD))
    num_angles = math.ceil(num_classes / num_periods)
    angle_step = math.pi / num_angles  # gratings repeat after 180 degrees
    longest = max(_MIN_PERIOD + 1.5, size / 3.0)
    if num_periods == 1:
        levels = torch.tensor([max(_MIN_PERIOD, size / 4.0)])
    else:
        levels = torch.logspace(math.log10(_MIN_PERIOD), math.log10(longest), num_periods)
    index = torch.arange(num_classes)
    return (index % num_angles) * angle_step, levels[index // num_angles], angle_step


def _render(
    angle: torch.Tensor, period: torch.Tensor, angle_step: float, channels: int, size: int, gen: torch.Generator
) -> torch.Tensor:
    n = len(angle)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand((n, *shape), generator=gen)

    angle = angle + uniform(-0.2, 0.2) * angle_step
    period = period * uniform(0.9, 1.1)
    phase = uniform(0.0, 2 * math.pi)
    centre_y, centre_x = ((size - 1) / 2 + uniform(-1, 1, 2) * (size / 6)).unbind(1)
    radius = uniform(0.2, 0.35) * size
    contrast = uniform(0.5, 1.0)

    coords = torch.arange(size, dtype=torch.float32)
    y = coords.view(1, size, 1)
    x = coords.view(1, 1, size)
    along = x * torch.cos(angle).view(n, 1, 1) + y * torch.sin(angle).view(n, 1, 1)
    stripes = 0.5 + 0.5 * torch.cos(2 * math.pi * along / period.view(n, 1, 1) + phase.view(n, 1, 1))
    dist2 = (y - centre_y.view(n, 1, 1)) ** 2 + (x - centre_x.view(n, 1, 1)) ** 2
    window = torch.exp(-dist2 / (2 * radius.view(n, 1, 1) ** 2))
    pattern = (contrast.view(n, 1, 1) * window * stripes).unsqueeze(1)  # [n, 1, S, S]

    background = uniform(0.0, 0.4, channels).view(n, channels, 1, 1)
    ink = uniform(0.4, 1.0, channels).view(n, channels, 1, 1)
    noise = 0.08 * torch.randn((n, channels, size, size), generator=gen)
    pixels = background + pattern * (ink - background).abs().clamp_min(0.3) + noise
    return pixels.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
