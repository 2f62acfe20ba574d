"""``imagefolder``: a folder of class folders of image files (PNG, JPEG, ...).

Layout: ``root/<class>/**/<image>``, or ``root/train/<class>/...`` with optional
``root/val`` (or ``valid``/``validation``) and ``root/test`` beside it; ``data.val_root``
and ``data.test_root`` override those. Class names are the sorted folder names of the
training folder, and val/test folders must hold the same classes. Splits that are
missing are carved from train by the registry.

Files are listed here and read later (``read_image_splits``), after splitting and
``data.limit``, either into memory or as a stream when the set is too large for memory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from nasxfer.data.containers import FileList, Source, Split, StreamSplit
from nasxfer.data.images import (
    IMAGE_EXTENSIONS,
    ImageFileDataset,
    list_image_files,
    probe,
    read_into_memory,
    why_unreadable,
)
from nasxfer.data.paths import require_folder
from nasxfer.errors import ConfigError

MEMORY_LIMIT_BYTES = 2 * 1024**3  # data.mode auto: larger sets (as uint8) are streamed
_PROBE_FILES = 64  # headers read to choose the image size and grey vs colour
_SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def load_imagefolder(cfg, seed: int) -> Source:
    """List the files of every split the folders provide (nothing is decoded yet)."""
    root = require_folder(cfg.root, "root")
    layout = _split_layout(root)
    class_names, train = _scan(layout.get("train", root), "root", require_every_class=True)
    splits = {}
    for name, override, field in (("val", cfg.val_root, "val_root"), ("test", cfg.test_root, "test_root")):
        folder = require_folder(override, field) if override else layout.get(name)
        if folder is not None:
            splits[name] = _scan_like(folder, class_names, field if override else "root")
    return Source(
        name="imagefolder",
        class_names=class_names,
        hflip_ok=False,  # a folder may hold digits, text or arrows: flipping is data.flip: true's call
        train=train,
        val=splits.get("val"),
        test=splits.get("test"),
    )


def read_image_splits(
    splits: dict[str, FileList], cfg
) -> tuple[dict[str, Split | StreamSplit], list[tuple[str, str]]]:
    """Read (``Split``) or wrap (``StreamSplit``) each file list; also returns the files
    skipped, as ``(path, reason)``.

    The image size is ``data.image_size`` or else the size of the first readable training
    image; every image is fitted to it the ``data.resize`` way. Images are read as grey when every probed
    training image is grey, else as RGB. ``data.mode`` auto streams when the uint8 set
    would exceed ``MEMORY_LIMIT_BYTES``. In memory mode every file is read and unreadable
    ones are skipped and listed; a stream drops them from their batch when it meets
    them, and only those met while probing are listed.
    """
    size, grey, probe_skipped = probe_training_files(splits["train"], cfg.image_size)
    channels = 1 if grey else 3
    total = sum(len(files) for files in splits.values()) * channels * size[0] * size[1]
    stream = cfg.mode == "stream" or (cfg.mode == "auto" and total > MEMORY_LIMIT_BYTES)
    if stream:
        return {name: _stream(files, size, grey, cfg.resize) for name, files in splits.items()}, probe_skipped
    out, skipped = {}, []
    for name, files in splits.items():
        out[name], missed = read_into_memory(files, size, grey, workers=max(1, cfg.num_workers), resize=cfg.resize)
        skipped += missed
    return out, skipped


def _split_layout(root: Path) -> dict[str, Path]:
    """``{"train": root/train, ...}`` when root holds split folders, else empty.

    ``root/train`` counts as a split folder only if it holds folders itself, so a class
    that happens to be called "train" is still a class.
    """
    train = root / "train"
    if not (train.is_dir() and any(p.is_dir() for p in train.iterdir())):
        return {}
    layout = {"train": train}
    for name in ("val", "test"):
        for candidate in _SPLIT_FOLDERS[name]:
            if (root / candidate).is_dir():
                layout[name] = root / candidate
                break
    return layout


def _class_folders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _scan(folder: Path, field: str, *, require_every_class: bool) -> tuple[list[str], FileList]:
    classes = _class_folders(folder)
    if not classes:
        raise ConfigError(f"data.{field}: no class folders in '{folder}' (expected one folder of images per class)")
    paths: list[str] = []
    labels: list[int] = []
    for label, class_folder in enumerate(classes):
        files = list_image_files(class_folder)
        if not files and require_every_class:
            raise ConfigError(
                f"data.{field}: class folder '{class_folder}' has no image files "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}); add images or remove it"
            )
        paths += files
        labels += [label] * len(files)
    if not paths:
        raise ConfigError(f"data.{field}: no image files under '{folder}'")
    return [p.name for p in classes], FileList(np.array(paths, dtype=object), np.array(labels, dtype=np.int64))


def _scan_like(folder: Path, class_names: list[str], field: str) -> FileList:
    names = [p.name for p in _class_folders(folder)]
    if names != class_names:
        missing = sorted(set(class_names) - set(names))
        extra = sorted(set(names) - set(class_names))
        detail = []
        if missing:
            detail.append(f"missing: {', '.join(missing)}")
        if extra:
            detail.append(f"extra: {', '.join(extra)}")
        raise ConfigError(
            f"data.{field}: class folders in '{folder}' differ from the training folder's ({'; '.join(detail)}); "
            "give every split the same class folders"
        )
    return _scan(folder, field, require_every_class=False)[1]


def probe_training_files(files: FileList, image_size: int | None) -> tuple[tuple[int, int], bool, list[tuple[str, str]]]:
    """Target size (``data.image_size`` or the first readable file's), grey or not, and the
    unreadable files, from headers of a spread of the training files."""
    picks = np.unique(np.linspace(0, len(files) - 1, min(len(files), _PROBE_FILES)).astype(np.int64))
    found = [probe(files.paths[i]) for i in picks]
    readable = [f for f in found if f is not None]
    if not readable:
        raise ConfigError(
            f"data.root: none of {len(picks)} sampled training files could be read as an image "
            f"(e.g. '{files.paths[picks[0]]}')"
        )
    size = (image_size, image_size) if image_size else readable[0][0]
    grey = all(is_grey for _, is_grey in readable)
    unreadable = [str(files.paths[i]) for i, f in zip(picks, found) if f is None]
    return size, grey, [(path, why_unreadable(path)) for path in unreadable]


def _stream(files: FileList, size: tuple[int, int], grey: bool, resize: str) -> StreamSplit:
    return StreamSplit(
        dataset=ImageFileDataset(files, size, grey, resize),
        labels=torch.from_numpy(files.labels.astype(np.int64)),
        channels=1 if grey else 3,
        image_size=tuple(size),
        identity=_files_identity(files),
    )


def _files_identity(files: FileList) -> str:
    """Digest of paths, sizes and modification times: changes when any file does."""
    digest = hashlib.sha256()
    for path, label in zip(files.paths, files.labels):
        try:
            stat = os.stat(path)
            digest.update(f"{path}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0{label}\0missing\n".encode())
    return digest.hexdigest()
