"""Reading image files with PIL: header probes, decoding to uint8 arrays, the stream dataset.

A file PIL cannot read (not an image, truncated, a decompression bomb) is never an
error here: ``probe`` and ``decode`` return None and the callers skip and count it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from nasxfer.data.containers import FileList, Split

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}
)
_GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# What PIL raises for broken files: OSError (incl. UnidentifiedImageError), plus
# SyntaxError/ValueError/EOFError from some format plugins, and the bomb check.
_UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_BILINEAR = getattr(Image, "Resampling", Image).BILINEAR  # Pillow < 9.1 has no Resampling enum


def probe(path: str) -> tuple[tuple[int, int], bool] | None:
    """``((H, W), is_grey)`` from the file header alone, or None when PIL cannot open it."""
    try:
        with Image.open(path) as image:
            return (image.height, image.width), image.mode in _GREY_MODES
    except _UNREADABLE:
        return None


def decode(path: str, size: tuple[int, int], grey: bool) -> np.ndarray | None:
    """The image as uint8 ``[C, H, W]`` (C = 1 when ``grey``, else 3) at ``size``; None if unreadable."""
    mode = "L" if grey else "RGB"
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft(mode, (size[1], size[0]))  # decode at reduced scale when much larger: far faster
            image = image.convert(mode)
            if (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]), _BILINEAR)
            pixels = np.array(image, dtype=np.uint8)  # a writable copy: torch warns on read-only arrays
    except _UNREADABLE:
        return None
    return pixels[None] if grey else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def read_into_memory(files: FileList, size: tuple[int, int], grey: bool, workers: int) -> tuple[Split, int]:
    """Decode every file into one uint8 tensor; returns the split and how many files were skipped.

    Decoding runs on ``workers`` threads (PIL releases the GIL while decoding), each
    writing its own row of a preallocated tensor so memory peaks at the final size.
    """
    count = len(files)
    images = torch.empty((count, 1 if grey else 3, *size), dtype=torch.uint8)
    readable = np.zeros(count, dtype=bool)

    def read(i: int) -> None:
        pixels = decode(files.paths[i], size, grey)
        if pixels is not None:
            images[i] = torch.from_numpy(pixels)
            readable[i] = True

    if workers > 1 and count > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(read, range(count)))
    else:
        for i in range(count):
            read(i)
    labels = torch.from_numpy(files.labels.astype(np.int64))
    skipped = count - int(readable.sum())
    if skipped:
        keep = torch.from_numpy(np.flatnonzero(readable))
        return Split(images[keep], labels[keep]), skipped
    return Split(images, labels), 0


class ImageFileDataset(Dataset):
    """``(uint8 [C, H, W] tensor, label)`` per file, decoded on access; None for an unreadable file."""

    def __init__(self, files: FileList, size: tuple[int, int], grey: bool):
        self.paths = files.paths
        self.labels = files.labels
        self.size = tuple(size)
        self.grey = grey

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        pixels = decode(self.paths[index], self.size, self.grey)
        if pixels is None:
            return None
        return torch.from_numpy(pixels), int(self.labels[index])


def collate_readable(items: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch, dropping the None items of unreadable files (the batch may end up empty)."""
    kept = [item for item in items if item is not None]
    if not kept:
        return torch.empty((0, 0, 0, 0), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.stack([image for image, _ in kept]), torch.tensor([label for _, label in kept], dtype=torch.int64)
