"""The on-disk feature cache: pooled backbone features of one data split, keyed by content.

A frozen backbone maps the same images to the same features in every trial and every run,
so they are computed once. The key hashes everything the features depend on: the backbone's
architecture and the bytes of its weights, the preprocessing, the data's fingerprint (its
exact split contents), the split and the compute precision. Change any of them and the key
changes; nothing ever has to be invalidated by hand.

Files live in ``NASXFER_CACHE_DIR`` (default ``$XDG_CACHE_HOME/nasxfer/features``, i.e.
``~/.cache/nasxfer/features``): keyed by content, they are safe to share between runs,
runs folders and projects, and deleting the folder only costs recomputation. Each file
holds fp16 ``avg`` and ``max`` pooled features (so every head pooling is served by one
entry), the labels and a checksum; it is written atomically (concurrent writers of the
same key just both win) and verified on every read: a file that fails is recomputed,
never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from nasxfer.storage.atomic import atomic_torch_save

FORMAT_VERSION = 1
FP16_MAX = 65504.0  # features beyond this would become inf in fp16: clamp (never seen in practice)


def default_cache_dir() -> Path:
    explicit = os.environ.get("NASXFER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nasxfer" / "features"


@dataclass(frozen=True, eq=False)
class PooledFeatures:
    """One split's features: ``avg``/``max`` fp16 ``[N, C]`` on the CPU, ``labels`` int64 ``[N]``."""

    avg: torch.Tensor
    max: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def features_key(
    backbone, weights: str, preprocess, data_fingerprint: str, split: str, precision: str
) -> str:
    """The cache key of one split's features (see the module docstring for what goes in)."""
    identity = {
        "format": FORMAT_VERSION,
        "architecture": backbone.architecture_key(),
        "weights": weights,
        "preprocess": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(preprocess).items()},
        "data": data_fingerprint,
        "split": split,
        "precision": precision,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _checksum(key: str, features: PooledFeatures) -> str:
    digest = hashlib.sha256(key.encode())
    for t in (features.avg, features.max, features.labels):
        digest.update(f"{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """Read and write cached split features under ``root`` (see the module docstring).

    ``keep=True`` (a search's evaluator: one cache for the whole run) also keeps what it
    read or wrote in memory, and ``on_device``'s float copies on their device, so a
    run's later trials neither read nor verify nor move the same features again. A kept
    entry counts as a ``hit``, as the file it came from would.
    """

    def __init__(self, root: str | Path | None = None, *, keep: bool = False) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.keep = keep
        self._kept: dict[str, PooledFeatures] = {}
        self._placed: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pt"

    def on_device(self, key: str, features: PooledFeatures, device: torch.device):
        """``(avg, max, labels)`` of ``features`` (the entry ``key``) as float32/int64 tensors
        on ``device``: made once per key and device when the cache keeps things."""
        place = (key, str(device))
        placed = self._placed.get(place)
        if placed is None:
            placed = (features.avg.float().to(device), features.max.float().to(device), features.labels.to(device))
            if self.keep:
                self._placed[place] = placed
        return placed

    def load(self, key: str) -> tuple[PooledFeatures | None, str]:
        """``(features, "hit")``, ``(None, "miss")``, or ``(None, "corrupt")`` for a file that
        does not load or does not verify (it is then recomputed and overwritten)."""
        if key in self._kept:
            return self._kept[key], "hit"
        features, status = self._read(key)
        if features is not None and self.keep:
            self._kept[key] = features
        return features, status

    def _read(self, key: str) -> tuple[PooledFeatures | None, str]:
        path = self.path(key)
        if not path.is_file():
            return None, "miss"
        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
            features = PooledFeatures(raw["avg"], raw["max"], raw["labels"])
            n = len(features)
            valid = (
                raw["format"] == FORMAT_VERSION
                and raw["key"] == key
                and features.avg.dtype == features.max.dtype == torch.float16
                and features.labels.dtype == torch.int64
                and features.avg.shape == features.max.shape
                and features.avg.dim() == 2
                and features.avg.shape[0] == n
                and raw["checksum"] == _checksum(key, features)
            )
        except Exception:  # noqa: BLE001 - truncated, garbled, wrong types: all just "corrupt"
            return None, "corrupt"
        return (features, "hit") if valid else (None, "corrupt")

    def save(self, key: str, features: PooledFeatures) -> None:
        if self.keep:
            self._kept[key] = features
        atomic_torch_save(
            self.path(key),
            {
                "format": FORMAT_VERSION,
                "key": key,
                "avg": features.avg,
                "max": features.max,
                "labels": features.labels,
                "checksum": _checksum(key, features),
            },
        )


def to_fp16(values: torch.Tensor) -> torch.Tensor:
    return values.float().clamp_(-FP16_MAX, FP16_MAX).half()
