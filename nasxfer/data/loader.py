"""Batches on the device: float32 normalised images and int64 labels, augmented in bulk.

An in-memory ``Split`` is copied to the device once, as uint8, and every batch is cut
from it there: no DataLoader, no worker processes, no per-sample Python. A
``StreamSplit`` goes through a DataLoader with workers and then takes the same on-device
path. The sample order comes from a CPU generator seeded by ``(seed, epoch)``, so a
memory loader and a stream loader over the same data visit it in the same order; the
augmentation draws from a generator on the device seeded the same way.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Sampler

from nasxfer.data.augment import Augment, augment_batch, mix_batch
from nasxfer.data.containers import LoadedData, Split, StreamSplit
from nasxfer.data.images import collate_readable
from nasxfer.data.resize import resize_float

__all__ = ["Augment", "BatchLoader", "Preprocess", "augment_for"]

_GREY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, what PIL uses for RGB -> L


@dataclass(frozen=True)
class Preprocess:
    """What the model expects of its input.

    ``mean``/``std`` per channel in [0, 1] units (one value applies to every channel).
    ``image_size``: resize each batch on the device when it differs from the data's.
    ``channels``: 3 repeats grey images into RGB, 1 turns RGB into grey; None keeps the data's.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: tuple[int, int] | None = None
    channels: int | None = None

    @classmethod
    def for_data(cls, data: LoadedData) -> Preprocess:
        """Normalise with the data's own statistics at its own size (a model trained from scratch)."""
        return cls(mean=tuple(data.mean), std=tuple(data.std))


def augment_for(cfg, data: LoadedData) -> Augment:
    """The ``Augment`` that ``data.augment`` asks for.

    ``auto`` crops with padding ``image_size // 8`` (at least 1) and flips only where a flip
    is known to keep the label: ``data.flip`` when the user says so, else ``data.hflip_ok``
    (true only for the built-in natural-image datasets; image folders and CSV manifests may
    hold digits, text or arrows). ``none``, ``flip``, ``crop`` and ``crop_flip`` are taken
    literally. ``data.policy``, ``data.mixup`` and ``data.cutmix`` come along either way.
    """
    padding = max(1, min(data.image_size) // 8)
    mixup, cutmix = getattr(cfg, "mixup", 0.0), getattr(cfg, "cutmix", 0.0)
    extra = dict(policy=getattr(cfg, "policy", "none"), mixup=mixup, cutmix=cutmix,
                 num_classes=data.num_classes if mixup > 0 or cutmix > 0 else 0)  # fmt: skip
    if cfg.augment == "auto":
        flip = getattr(cfg, "flip", None)
        return Augment(crop_padding=padding, hflip=data.hflip_ok if flip is None else flip, **extra)
    return Augment(crop_padding=padding if "crop" in cfg.augment else 0, hflip="flip" in cfg.augment, **extra)


class BatchLoader:
    """Iterate a split in batches of ``(images, labels)`` on ``device``.

    Images are float32 ``[B, C, H, W]``, augmented, resized, channel-converted and
    normalised per ``preprocess`` (``channels_last`` memory format if asked); labels are
    int64 ``[B]``. Each iteration is one epoch: with ``shuffle`` a new permutation, and
    with ``augment`` new random crops/flips, both fixed by ``(seed, epoch)``, so two
    loaders with the same seed yield identical batches. ``epoch`` counts iterations
    started; set it (``set_epoch``) to resume mid-training. A stream batch can come out
    smaller when it held unreadable files; an empty one is skipped.
    """

    def __init__(
        self,
        split: Split | StreamSplit,
        *,
        batch_size: int,
        device,
        preprocess: Preprocess,
        augment: Augment = Augment(),
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        channels_last: bool = False,
        num_workers: int = 2,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.augment = augment
        self.num_samples = len(split)
        self.epoch = 0
        if isinstance(split, Split):
            self._batches = _MemoryBatches(split, self.device)
            data_channels = int(split.images.shape[1])
        elif isinstance(split, StreamSplit):
            self._batches = _StreamBatches(split, self.device, num_workers)
            data_channels = split.channels
        else:
            raise TypeError(f"BatchLoader needs a Split or StreamSplit, got {type(split).__name__}")
        self._finish = _Finish(preprocess, data_channels, self.device, channels_last)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        order = None
        if self.shuffle:
            order_gen = torch.Generator().manual_seed(_seed_for(self.seed, epoch, "order"))
            order = torch.randperm(self.num_samples, generator=order_gen)
        augment_gen = _generator(self.device, _seed_for(self.seed, epoch, "augment")) if self.augment.active else None
        end = len(self) * self.batch_size if self.drop_last else self.num_samples
        for images, labels in self._batches.iterate(order, self.batch_size, end):
            if labels.numel() == 0:
                continue
            if augment_gen is not None:
                images = augment_batch(images, self.augment, augment_gen)
            if augment_gen is not None and self.augment.mixes:
                yield mix_batch(self._finish(images), labels, self.augment, augment_gen)
                continue
            yield self._finish(images), labels


class _MemoryBatches:
    """Batches cut from uint8 tensors that live on the device for the loader's lifetime."""

    def __init__(self, split: Split, device: torch.device):
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)

    def iterate(self, order: torch.Tensor | None, batch_size: int, end: int):
        if order is not None:
            order = order.to(self.images.device)
        for start in range(0, end, batch_size):
            stop = min(start + batch_size, end)
            if order is None:
                yield self.images[start:stop], self.labels[start:stop]
            else:
                index = order[start:stop]
                yield self.images.index_select(0, index), self.labels.index_select(0, index)


class _StreamBatches:
    """Batches read by a DataLoader (worker processes decode), then copied to the device."""

    def __init__(self, split: StreamSplit, device: torch.device, num_workers: int):
        self.device = device
        self.sampler = _OrderedBatchSampler(len(split))
        self.loader = DataLoader(
            split.dataset,
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate_readable,
            pin_memory=device.type == "cuda",  # pinned pages only help host-to-GPU copies
            persistent_workers=num_workers > 0,  # no worker start-up cost every epoch
        )

    def iterate(self, order: torch.Tensor | None, batch_size: int, end: int):
        # The sampler is read in the main process each time iteration starts, so setting
        # it here takes effect even with persistent workers.
        self.sampler.plan(order, batch_size, end)
        for images, labels in self.loader:
            yield images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


class _OrderedBatchSampler(Sampler[list[int]]):
    """Yields the index batches of the current epoch's plan (an order and a batch size)."""

    def __init__(self, num_samples: int):
        self.num_samples = num_samples
        self.order: torch.Tensor | None = None
        self.batch_size = 1
        self.end = num_samples

    def plan(self, order: torch.Tensor | None, batch_size: int, end: int) -> None:
        self.order, self.batch_size, self.end = order, batch_size, end

    def __iter__(self):
        order = self.order if self.order is not None else torch.arange(self.num_samples)
        for start in range(0, self.end, self.batch_size):
            yield order[start : min(start + self.batch_size, self.end)].tolist()

    def __len__(self) -> int:
        return math.ceil(self.end / self.batch_size)


class _Finish:
    """uint8 batch -> float in [0, 1] -> resize -> channel conversion -> normalise -> layout."""

    def __init__(self, preprocess: Preprocess, data_channels: int, device: torch.device, channels_last: bool):
        channels = preprocess.channels or data_channels
        if (data_channels, channels) not in ((1, 1), (3, 3), (1, 3), (3, 1)):
            raise ValueError(f"cannot turn {data_channels}-channel images into {channels}-channel ones")
        for name, values in (("mean", preprocess.mean), ("std", preprocess.std)):
            if len(values) not in (1, channels):
                raise ValueError(f"preprocess.{name} has {len(values)} values for {channels}-channel images")
        if any(s <= 0 for s in preprocess.std):
            raise ValueError(f"preprocess.std must be positive, got {preprocess.std}")
        self.data_channels = data_channels
        self.channels = channels
        self.size = tuple(preprocess.image_size) if preprocess.image_size else None
        self.mean = torch.tensor(preprocess.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(preprocess.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.grey = torch.tensor(_GREY_WEIGHTS, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.channels_last = channels_last

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255)
        if self.size is not None:
            x = resize_float(x, self.size)
        if self.data_channels == 3 and self.channels == 1:
            x = (x * self.grey).sum(dim=1, keepdim=True)
        # Normalising writes a new tensor, so grey -> RGB can stay a free broadcast view.
        if self.data_channels == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def _seed_for(seed: int, epoch: int, purpose: str) -> int:
    """A 63-bit seed for one (seed, epoch, purpose); hashing keeps nearby seeds unrelated."""
    digest = hashlib.sha256(f"{seed}/{epoch}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    """A generator on ``device`` where the backend has one (CUDA, MPS), else on the CPU."""
    try:
        generator = torch.Generator(device=device)
    except RuntimeError:
        generator = torch.Generator()
    return generator.manual_seed(seed)
