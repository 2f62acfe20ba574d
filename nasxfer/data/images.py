"""Reading image files with PIL: which files a folder holds, header probes, decoding to
uint8 arrays, the stream dataset. Training and ``nasxfer predict`` read images through the
same functions, so a photo is seen the same way by both.

A file PIL cannot read (not an image, truncated, a decompression bomb) is never an
error here: ``probe`` and ``decode`` return None and the callers skip and report it.
Photos are turned upright from their EXIF orientation (a phone's portrait shot is stored
sideways with ``Orientation=6``) before anything else.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image, ImageOps
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


#: ``data.resize``: how an image whose shape differs from the target is made to fit it.
RESIZE_MODES = ("squash", "center_crop", "pad")

_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # orientations that swap height and width


def list_image_files(folder) -> list[str]:
    """Every image file under ``folder``, sorted, as training reads a class folder: hidden
    files and folders (``.ipynb_checkpoints``, ``.DS_Store``) left out, image extensions only
    (so ``Thumbs.db`` and notes are too), symlinked folders followed."""
    found = []
    for directory, subdirs, files in os.walk(folder, followlinks=True):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))  # sorted walk: stable order
        found += [
            os.path.join(directory, f)
            for f in sorted(files)
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        ]
    return found


def probe(path: str) -> tuple[tuple[int, int], bool] | None:
    """``((H, W), is_grey)`` of the upright image, from the file header alone, or None when
    PIL cannot open it."""
    try:
        with Image.open(path) as image:
            size = (image.height, image.width)
            if image.getexif().get(_EXIF_ORIENTATION) in _QUARTER_TURNS:
                size = (image.width, image.height)
            return size, image.mode in _GREY_MODES
    except _UNREADABLE:
        return None


def fit_to_size(image: Image.Image, size: tuple[int, int], resize: str = "squash") -> Image.Image:
    """``image`` at ``size`` (H, W) the ``data.resize`` way: ``squash`` stretches to it,
    ``center_crop`` scales until it covers and cuts the overhang evenly from both sides,
    ``pad`` scales until it fits and adds black bars evenly on both sides."""
    if (image.height, image.width) == tuple(size):
        return image
    target = (int(size[1]), int(size[0]))  # PIL sizes are (W, H)
    if resize == "center_crop":
        return ImageOps.fit(image, target, _BILINEAR)
    if resize == "pad":
        return ImageOps.pad(image, target, _BILINEAR, color=0)
    return image.resize(target, _BILINEAR)


def decode(path: str, size: tuple[int, int], grey: bool, resize: str = "squash") -> np.ndarray | None:
    """The image as uint8 ``[C, H, W]`` (C = 1 when ``grey``, else 3) at ``size``; None if unreadable."""
    mode = "L" if grey else "RGB"
    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft(mode, (size[1], size[0]))  # decode at reduced scale when much larger: far faster
            image = fit_to_size(ImageOps.exif_transpose(image).convert(mode), size, resize)
            pixels = np.array(image, dtype=np.uint8)  # a writable copy: torch warns on read-only arrays
    except _UNREADABLE:
        return None
    return pixels[None] if grey else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def why_unreadable(path: str) -> str:
    """A few words on why ``decode`` could not read ``path``: missing, empty file,
    truncated image, not an image, too large. Asked only of files already skipped."""
    if not os.path.isfile(path):
        return "missing"
    if os.path.getsize(path) == 0:
        return "empty file"
    try:
        with Image.open(path) as image:
            image.load()
    except Image.DecompressionBombError:
        return "too large (PIL's decompression bomb limit)"
    except Image.UnidentifiedImageError:
        return "not an image"
    except _UNREADABLE as error:
        return "truncated image" if "truncat" in str(error).lower() else f"unreadable ({error})"
    return "unreadable"  # it opens now: changed since, or fails only when converted


def read_into_memory(
    files: FileList, size: tuple[int, int], grey: bool, workers: int, resize: str = "squash"
) -> tuple[Split, list[tuple[str, str]]]:
    """Decode every file into one uint8 tensor; returns the split and the files skipped,
    as ``(path, reason)``.

    Decoding runs on ``workers`` threads (PIL releases the GIL while decoding), each
    writing its own row of a preallocated tensor so memory peaks at the final size.
    """
    count = len(files)
    images = torch.empty((count, 1 if grey else 3, *size), dtype=torch.uint8)
    readable = np.zeros(count, dtype=bool)

    def read(i: int) -> None:
        pixels = decode(files.paths[i], size, grey, resize)
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
    skipped = [(str(files.paths[i]), why_unreadable(str(files.paths[i]))) for i in np.flatnonzero(~readable)]
    if skipped:
        keep = torch.from_numpy(np.flatnonzero(readable))
        return Split(images[keep], labels[keep]), skipped
    return Split(images, labels), []


class ImageFileDataset(Dataset):
    """``(uint8 [C, H, W] tensor, label)`` per file, decoded on access; None for an unreadable file."""

    def __init__(self, files: FileList, size: tuple[int, int], grey: bool, resize: str = "squash"):
        self.paths = files.paths
        self.labels = files.labels
        self.size = tuple(size)
        self.grey = grey
        self.resize = resize

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        pixels = decode(self.paths[index], self.size, self.grey, self.resize)
        if pixels is None:
            return None
        return torch.from_numpy(pixels), int(self.labels[index])


def collate_readable(items: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch, dropping the None items of unreadable files (the batch may end up empty)."""
    kept = [item for item in items if item is not None]
    if not kept:
        return torch.empty((0, 0, 0, 0), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)
    return torch.stack([image for image, _ in kept]), torch.tensor([label for _, label in kept], dtype=torch.int64)
