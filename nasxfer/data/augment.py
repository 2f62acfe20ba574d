"""Batched, on-device augmentation: random crop with reflect padding and horizontal flip.

Both are expressed as per-sample row/column index maps and applied with one ``gather``
per axis, so a batch is augmented with a handful of kernels and no Python loop over
samples. Working on indices also means the uint8 images are augmented before they are
converted to float (a quarter of the memory traffic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation. ``crop_padding``: random shifts of up to this many
    pixels, the border filled by reflection (0 = off); ``hflip``: mirror half the images."""

    crop_padding: int = 0
    hflip: bool = False

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.hflip


def augment_batch(images: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """``images`` ``[B, C, H, W]`` (any dtype), each sample randomly cropped and/or flipped.

    The crop equals padding every side by ``crop_padding`` (reflect) and cutting an
    ``H x W`` window at a random offset. Random numbers come from ``generator``, on its
    own device, so the result is determined by the generator's seed.
    """
    if not augment.active:
        return images
    b, c, h, w = images.shape
    rand_device = generator.device
    cols = torch.arange(w, device=rand_device).expand(b, w)
    rows = None
    if augment.crop_padding > 0:
        pad = augment.crop_padding
        shift = torch.randint(-pad, pad + 1, (b, 2, 1), generator=generator, device=rand_device)
        rows = _reflect(torch.arange(h, device=rand_device) + shift[:, 0], h)
        cols = _reflect(cols + shift[:, 1], w)
    if augment.hflip:
        mirror = torch.rand((b, 1), generator=generator, device=rand_device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)
    if rows is not None:
        rows = rows.to(images.device, non_blocking=True)
        images = images.gather(2, rows[:, None, :, None].expand(b, c, h, w))
    cols = cols.to(images.device, non_blocking=True)
    return images.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def _reflect(index: torch.Tensor, length: int) -> torch.Tensor:
    """Fold out-of-range indices back inside ``[0, length)`` like ``F.pad(mode="reflect")``."""
    if length == 1:
        return torch.zeros_like(index)
    last = length - 1
    folded = last - (last - index.abs()).abs()
    return folded.clamp_(0, last)  # shifts beyond one reflection (padding >= size) stick to the edge
