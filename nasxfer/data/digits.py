"""``digits``: scikit-learn's 1,797 8x8 handwritten digits, bundled with sklearn (no download)."""

from __future__ import annotations

import numpy as np
import torch

from nasxfer.data.containers import Source, Split

_MAX_VALUE = 16.0  # sklearn stores ink as 0..16


def load_digits(cfg, seed: int) -> Source:
    """The whole set as one pool; the registry carves train/val/test from it."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    pixels = np.rint(bunch.images * (255.0 / _MAX_VALUE)).clip(0, 255).astype(np.uint8)
    images = torch.from_numpy(pixels).unsqueeze(1).contiguous()  # [N, 1, 8, 8]
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return Source(
        name="digits",
        class_names=[str(int(t)) for t in bunch.target_names],
        hflip_ok=False,  # a mirrored 2 or 7 is not a digit
        train=Split(images, labels),
    )
