"""Describing a loaded dataset: per-channel mean/std and the content fingerprint."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import torch

from nasxfer.data.containers import Split, StreamSplit

# Streams are not read in full just to measure them; ImageNet's statistics are the usual
# stand-in for natural photographs (and what pretrained backbones expect anyway).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# A constant channel has std 0; normalising by it would divide by zero.
_MIN_STD = 1e-3
_STATS_BATCH_VALUES = 1 << 25


def channel_stats(images: torch.Tensor, device=None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 ``[N, C, H, W]`` images, in [0, 1] units.

    Sums run per batch in float32 on ``device`` (fast, and MPS has no float64) and are
    accumulated in float64 on the CPU, so the result is exact enough for any set size.
    """
    n, c, h, w = images.shape
    step = max(1, _STATS_BATCH_VALUES // (c * h * w))
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for start in range(0, n, step):
        x = images[start : start + step].to(device or "cpu").float().div_(255)
        total += x.sum(dim=(0, 2, 3)).double().cpu()
        squares += x.square().sum(dim=(0, 2, 3)).double().cpu()
    count = max(1, n * h * w)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(_MIN_STD)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def default_stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet's mean/std, averaged to one value for grey images."""
    if channels == 1:
        return (round(sum(IMAGENET_MEAN) / 3, 6),), (round(sum(IMAGENET_STD) / 3, 6),)
    return IMAGENET_MEAN, IMAGENET_STD


def fingerprint(identity: Mapping[str, Any], splits: Mapping[str, Split | StreamSplit]) -> str:
    """sha256 hex digest of ``identity`` (JSON) and every split's labels and contents.

    In-memory splits contribute their pixels, stream splits their ``identity`` (what the
    stream reads), so two loads agree exactly when they would yield the same data.
    """
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    for name, split in splits.items():
        digest.update(f"|{name}:{type(split).__name__}:{len(split)}|".encode())
        digest.update(split.labels.cpu().contiguous().numpy())
        if isinstance(split, Split):
            digest.update(str(tuple(split.images.shape)).encode())
            digest.update(split.images.cpu().contiguous().numpy())
        else:
            digest.update(f"{split.channels}x{split.image_size}:{split.identity}".encode())
    return digest.hexdigest()
