"""The shapes data takes between a dataset family, the registry and the batch loader.

A family returns a ``Source`` (splits as in-memory ``Split`` arrays or, for image folders,
``FileList`` paths not yet read); the registry carves and caps it and returns
``LoadedData`` whose splits are ``Split`` (in memory) or ``StreamSplit`` (read lazily).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset


@dataclass(frozen=True, eq=False)  # tensors/arrays inside: compare by identity
class Split:
    """An in-memory split: ``images`` uint8 ``[N, C, H, W]`` on the CPU, ``labels`` int64 ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (self.images.shape[0],):
            raise ValueError(
                f"labels must be int64 [{self.images.shape[0]}], got {self.labels.dtype} {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices) -> Split:
        index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return Split(self.images[index], self.labels[index])


@dataclass(frozen=True, eq=False)  # tensors/arrays inside: compare by identity
class StreamSplit:
    """A split read lazily: ``dataset[i]`` is ``(uint8 [C, H, W] tensor, int label)``, or None.

    Every image comes out at ``channels`` x ``image_size``. ``labels`` repeats the
    dataset's labels so that counting classes never reads an image. ``identity`` names
    exactly what the dataset reads (for image folders: paths, sizes, modification times);
    it stands in for the pixels in the dataset fingerprint. A None item (an unreadable
    file) is dropped from its batch.
    """

    dataset: Dataset
    labels: torch.Tensor
    channels: int
    image_size: tuple[int, int]
    identity: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True, eq=False)  # tensors/arrays inside: compare by identity
class FileList:
    """Image files not read yet: ``paths[i]`` belongs to class ``labels[i]``.

    Image folders are split and capped as file lists, so files that ``data.limit``
    drops are never decoded.
    """

    paths: np.ndarray  # object array of str
    labels: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> FileList:
        index = np.asarray(indices, dtype=np.int64)
        return FileList(self.paths[index], self.labels[index])


@dataclass(frozen=True)
class Source:
    """What a dataset family hands to the registry: the splits it has, before carving.

    ``train`` is the pool that missing ``val``/``test`` splits are carved from. ``name``
    identifies the dataset in the fingerprint.
    """

    name: str
    class_names: list[str]
    hflip_ok: bool
    train: Split | FileList
    val: Split | FileList | None = None
    test: Split | FileList | None = None


@dataclass(frozen=True, eq=False)  # tensors/arrays inside: compare by identity
class LoadedData:
    """A dataset ready for ``BatchLoader``: three splits and what a model needs to know.

    ``mean``/``std`` are per channel in [0, 1] units: measured on the train split for
    in-memory data, ImageNet's for streams (measuring would read every file).
    ``hflip_ok`` says whether a horizontal flip keeps the label (not for digits).
    ``fingerprint`` is a sha256 hex digest of the dataset identity and the exact split
    contents; equal fingerprints mean equal data, so it keys feature caches.
    ``skipped`` counts image files that could not be read and were left out.
    """

    train: Split | StreamSplit
    val: Split | StreamSplit
    test: Split | StreamSplit
    class_names: list[str]
    channels: int
    image_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip_ok: bool
    fingerprint: str
    skipped: int = 0
    skipped_files: tuple[tuple[str, str], ...] = ()  # (path, reason) of each image file left out, as found
    name: str = ""
    stored_sizes: Any = None  # data.sizes.SizeSample: image sizes as stored, before resizing
    carved: tuple[str, ...] = ()  # the splits cut from train (data.val_fraction, data.test_fraction)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def merge(a: Split | StreamSplit, b: Split | StreamSplit) -> Split | StreamSplit:
    """``a`` followed by ``b`` as one split (train + val for the final finetune)."""
    if isinstance(a, Split) and isinstance(b, Split):
        return Split(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]))
    if isinstance(a, StreamSplit) and isinstance(b, StreamSplit):
        if (a.channels, a.image_size) != (b.channels, b.image_size):
            raise ValueError("cannot merge stream splits of different image shapes")
        return StreamSplit(
            dataset=ConcatDataset([a.dataset, b.dataset]),
            labels=torch.cat([a.labels, b.labels]),
            channels=a.channels,
            image_size=a.image_size,
            identity=f"{a.identity}+{b.identity}",
        )
    raise TypeError(f"cannot merge {type(a).__name__} with {type(b).__name__}")
