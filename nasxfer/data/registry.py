"""The dataset registry and the one path every dataset takes through loading.

``load_dataset`` asks the family registered under ``data.dataset`` for its ``Source``,
carves the splits it lacks, caps the training split (``data.limit``), reads image files
(image folders and CSV manifests), resizes to ``data.image_size``, then measures and fingerprints the
result. ``data.mode`` applies to image files; array datasets always live in memory.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from nasxfer.data.containers import FileList, LoadedData, Source, Split, StreamSplit, merge
from nasxfer.data.digits import load_digits
from nasxfer.data.images import why_unreadable
from nasxfer.data.imagefolder import load_imagefolder, read_image_splits
from nasxfer.data.manifest import load_manifest
from nasxfer.data.prepare import cap, carve
from nasxfer.data.resize import resize_uint8
from nasxfer.data.stats import channel_stats, default_stats, fingerprint
from nasxfer.data.sizes import SizeSample, sample_sizes
from nasxfer.data.synthetic import load_synthetic
from nasxfer.data.torchvision_sets import TORCHVISION_NAMES, load_torchvision
from nasxfer.errors import ConfigError

__all__ = ["LOADERS", "LoadedData", "Split", "StreamSplit", "load_dataset", "merge"]

#: ``data.dataset`` name -> family loader ``(DataConfig, seed) -> Source``.
LOADERS: dict[str, Callable[..., Source]] = {
    "digits": load_digits,
    "synthetic": load_synthetic,
    **{name: partial(load_torchvision, name) for name in TORCHVISION_NAMES},
    "imagefolder": load_imagefolder,
    "csv": load_manifest,
}

# Bumped when loading changes in a way that changes the data, so old feature caches miss.
_FORMAT_VERSION = 1


def load_dataset(cfg, seed: int, device=None) -> LoadedData:
    """Load the dataset ``cfg`` (a ``DataConfig``) describes, split with ``seed``.

    ``device``, when given, does the one-time resize and the mean/std sums (the result
    stays on the CPU either way). Raises ``ConfigError`` for anything the user can fix:
    unknown dataset, missing files or folders, a split left empty.
    """
    source, splits, carved = split_source(cfg, seed)

    skipped: list[tuple[str, str]] = []
    if isinstance(splits["train"], FileList):
        stored, probe_unreadable = sample_sizes(splits)
        splits, skipped = read_image_splits(splits, cfg)
        known = {path for path, _ in skipped}  # a stream meets unreadable files only as it reads them
        skipped += [(path, why_unreadable(path)) for path in probe_unreadable if path not in known]
    else:
        images = splits["train"].images
        shape = (int(images.shape[2]), int(images.shape[3]))
        total = sum(len(s) for s in splits.values())
        stored = SizeSample(shape, shape, shape, total, total)
        if cfg.image_size:
            size = (cfg.image_size, cfg.image_size)
            splits = {name: Split(resize_uint8(s.images, size, device), s.labels) for name, s in splits.items()}
    _check_not_empty(splits, carved)

    train = splits["train"]
    if isinstance(train, Split):
        channels, size = int(train.images.shape[1]), (int(train.images.shape[2]), int(train.images.shape[3]))
        mean, std = channel_stats(train.images, device)
    else:
        channels, size = train.channels, tuple(train.image_size)
        mean, std = default_stats(channels)
    identity = {"format": _FORMAT_VERSION, "dataset": source.name, "classes": list(source.class_names)}
    if isinstance(train, StreamSplit) and cfg.resize != "squash":
        identity["resize"] = cfg.resize  # a stream is fingerprinted by its files, not its pixels
    return LoadedData(
        train=train,
        val=splits["val"],
        test=splits["test"],
        class_names=list(source.class_names),
        channels=channels,
        image_size=size,
        mean=mean,
        std=std,
        hflip_ok=source.hflip_ok,
        fingerprint=fingerprint(identity, splits),
        skipped=len(skipped),
        skipped_files=tuple(skipped),
        name=source.name,
        stored_sizes=stored,
        carved=carved,
    )


def split_source(cfg, seed: int) -> tuple[Source, dict[str, Split | FileList], tuple[str, ...]]:
    """The dataset's ``Source`` and its three splits as training will use them (carved
    with ``seed``, train capped at ``data.limit``), image files not read yet; also the
    names of the splits carved from train."""
    family = LOADERS.get(cfg.dataset)
    if family is None:
        raise ConfigError(f"data.dataset: unknown dataset {cfg.dataset!r} (choices: {', '.join(LOADERS)})")
    source = family(cfg, seed)
    train, val, test, carved = carve(source, cfg.val_fraction, cfg.test_fraction, seed)
    return source, {"train": cap(train, cfg.limit, seed), "val": val, "test": test}, carved


def _check_not_empty(splits: dict[str, Split | StreamSplit], carved: tuple[str, ...]) -> None:
    for name, split in splits.items():
        if len(split) > 0:
            continue
        if name in carved:
            raise ConfigError(
                f"data.{name}_fraction: the {name} split came out empty; raise data.{name}_fraction or use more data"
            )
        raise ConfigError(f"data.root: the {name} split has no readable images; check its image files")
