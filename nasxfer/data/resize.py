"""Resizing image batches: once at load time (uint8 in, uint8 out) and per batch (float)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Float copies of a batch are 4 bytes a value; this bounds them while resizing a whole set.
_RESIZE_BATCH_BYTES = 256 * 1024 * 1024


def resize_float(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of float ``[B, C, H, W]`` to ``size``; antialiased so shrinking does not alias."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)


def resize_uint8(images: torch.Tensor, size: tuple[int, int], device=None) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` resized to ``size`` and returned as uint8 on the CPU.

    Works in batches (on ``device`` when given) so that the float copies stay small
    however large the set.
    """
    size = (int(size[0]), int(size[1]))
    if tuple(images.shape[-2:]) == size:
        return images
    n, c, h, w = images.shape
    step = max(1, _RESIZE_BATCH_BYTES // (4 * c * (h * w + size[0] * size[1])))
    out = torch.empty((n, c, *size), dtype=torch.uint8)
    for start in range(0, n, step):
        batch = images[start : start + step].to(device or "cpu").float()
        resized = resize_float(batch, size).round_().clamp_(0, 255)
        out[start : start + step] = resized.to(torch.uint8).cpu()
    return out
