"""Knowing the data before training: classes, split sizes, image sizes, imbalance, skipped files.

``nasxfer validate`` prints a ``preview`` (image files are listed and their headers read,
nothing is decoded); ``nasxfer search`` prints the summary of the data it loaded
(``from_loaded``) at its start and journals it. Both describe the same splits: the same
carving and ``data.limit`` as training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nasxfer.data.containers import LoadedData, Split
from nasxfer.data.images import why_unreadable
from nasxfer.data.imagefolder import probe_training_files
from nasxfer.data.registry import split_source
from nasxfer.data.sizes import SizeSample, sample_sizes

# Classes named in a summary line before "and N more".
_SHOWN_CLASSES = 10
SHOWN_SKIPPED = 10  # files named; the journal keeps them all


@dataclass(frozen=True)
class DataSummary:
    """What a search will train on. ``counts[split][c]`` is the number of images of class
    ``c`` in that split; ``skipped`` holds ``(path, reason)`` of image files left out
    (at preview time only those whose header is unreadable: a truncated file shows only
    when decoded, at search start)."""

    dataset: str
    class_names: list[str]
    counts: dict[str, list[int]]
    channels: int
    image_size: tuple[int, int]
    resize: str
    stored_sizes: SizeSample | None
    carved: tuple[str, ...] = ()
    skipped: list[tuple[str, str]] = field(default_factory=list)
    decoded: bool = True  # False for a preview: headers only

    @property
    def imbalance(self) -> float:
        """Largest over smallest class of the training split (1.0 is balanced; inf: a class has none)."""
        train = self.counts.get("train") or [0]
        return float("inf") if min(train) == 0 else max(train) / min(train)

    def lines(self) -> list[str]:
        """The summary as plain lines (the first names the dataset; the others are indented)."""
        names = ", ".join(self.class_names[:_SHOWN_CLASSES])
        if len(self.class_names) > _SHOWN_CLASSES:
            names += f" and {len(self.class_names) - _SHOWN_CLASSES} more"
        colour = "grey" if self.channels == 1 else "colour"
        out = [f"data: {self.dataset}, {len(self.class_names)} classes ({names}), {self.channels} channel{'s' if self.channels != 1 else ''} ({colour})"]
        sizes = " · ".join(f"{split} {sum(c):,}" for split, c in self.counts.items())
        carved = f" ({' and '.join(self.carved)} carved from train)" if self.carved else ""
        out.append(f"  images: {sizes}{carved}")
        train = self.counts.get("train", [])
        if train:
            low, high = int(np.argmin(train)), int(np.argmax(train))
            ratio = "inf" if self.imbalance == float("inf") else f"{self.imbalance:.1f}x"
            out.append(
                f"  per class (train): fewest {train[low]:,} ({self.class_names[low]}) · most {train[high]:,} "
                f"({self.class_names[high]}) · imbalance {ratio}"
            )
        trained = f"loaded at {_hw(self.image_size)} (data.resize: {self.resize}; a backbone may resize again)"
        if self.stored_sizes is not None:
            s = self.stored_sizes
            seen = f", {s.seen:,} of {s.total:,} sampled" if s.seen < s.total else ""
            if s.smallest == s.largest and not seen:
                stored = f"{_hw(s.smallest)}, every image"
            else:
                stored = f"smallest {_hw(s.smallest)} · median {_hw(s.median)} · largest {_hw(s.largest)}{seen}"
            out.append(f"  sizes as stored: {stored}; {trained}")
        else:
            out.append(f"  {trained}")
        if self.skipped:
            shown = ", ".join(f"{path} ({why})" for path, why in self.skipped[:SHOWN_SKIPPED])
            more = f" and {len(self.skipped) - SHOWN_SKIPPED} more" if len(self.skipped) > SHOWN_SKIPPED else ""
            plural = "s" if len(self.skipped) != 1 else ""
            out.append(f"  skipped {len(self.skipped)} unreadable image file{plural}: {shown}{more}")
        else:
            out.append("  skipped: none" + ("" if self.decoded else " (headers read only: a truncated file shows when search reads it)"))
        return out

    def to_dict(self) -> dict:
        """JSON-ready form, for the journal's ``data_summary`` event and the report."""
        stored = None
        if self.stored_sizes is not None:
            s = self.stored_sizes
            stored = {"smallest": list(s.smallest), "median": list(s.median), "largest": list(s.largest), "seen": s.seen, "total": s.total}
        return {
            "dataset": self.dataset,
            "classes": list(self.class_names),
            "counts": {split: list(c) for split, c in self.counts.items()},
            "channels": self.channels,
            "image_size": list(self.image_size),
            "resize": self.resize,
            "stored_sizes": stored,
            "carved": list(self.carved),
            "imbalance": None if self.imbalance == float("inf") else round(self.imbalance, 3),
            "skipped": len(self.skipped),
        }


def from_loaded(data: LoadedData, resize: str) -> DataSummary:
    """The summary of data that ``load_dataset`` loaded (``resize`` is ``data.resize``)."""
    return DataSummary(
        dataset=data.name,
        class_names=list(data.class_names),
        counts={name: _class_counts(split.labels.numpy(), data.num_classes) for name, split in _splits(data)},
        channels=data.channels,
        image_size=tuple(data.image_size),
        resize=resize,
        stored_sizes=data.stored_sizes,
        carved=data.carved,
        skipped=list(data.skipped_files),
    )


def preview(cfg, seed: int) -> DataSummary:
    """The summary of the data ``cfg`` (a ``DataConfig``) describes, without decoding an image.

    Array datasets are loaded (they are small and have no headers); image files are listed,
    split and capped exactly as training does, and up to ``sizes.SIZE_PROBES`` headers are read.
    """
    source, splits, carved = split_source(cfg, seed)
    counts = {name: _class_counts(np.asarray(s.labels), len(source.class_names)) for name, s in splits.items()}
    if isinstance(splits["train"], Split):
        images = splits["train"].images
        stored = (int(images.shape[2]), int(images.shape[3]))
        total = sum(len(s) for s in splits.values())
        return DataSummary(
            dataset=source.name,
            class_names=list(source.class_names),
            counts=counts,
            channels=int(images.shape[1]),
            image_size=(cfg.image_size, cfg.image_size) if cfg.image_size else stored,
            resize=cfg.resize,
            stored_sizes=SizeSample(stored, stored, stored, total, total),
            carved=carved,
        )
    size, grey, _ = probe_training_files(splits["train"], cfg.image_size)
    stored, unreadable = sample_sizes(splits)
    left_out = set(unreadable)  # counted as training will: without the files it cannot read
    counts = {
        name: _class_counts(np.array([y for p, y in zip(s.paths, s.labels) if p not in left_out], dtype=np.int64), len(source.class_names))
        for name, s in splits.items()
    }
    return DataSummary(
        dataset=source.name,
        class_names=list(source.class_names),
        counts=counts,
        channels=1 if grey else 3,
        image_size=size,
        resize=cfg.resize,
        stored_sizes=stored,
        carved=carved,
        skipped=[(path, why_unreadable(path)) for path in unreadable],
        decoded=False,
    )


def _splits(data: LoadedData):
    return (("train", data.train), ("val", data.val), ("test", data.test))


def _class_counts(labels: np.ndarray, classes: int) -> list[int]:
    return [int(n) for n in np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)[:classes]]


def _hw(size) -> str:
    return f"{int(size[1])}x{int(size[0])}"  # W x H, as image viewers and cameras say it
