"""Image sizes as stored on disk, before resizing, read from file headers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasxfer.data.containers import FileList
from nasxfer.data.images import probe

# Headers read to describe stored image sizes: enough for a stable median in well under a
# second; larger sets are sampled evenly (and the summary says so).
SIZE_PROBES = 2000


@dataclass(frozen=True)
class SizeSample:
    """Stored image sizes (H, W), as files hold them upright, before any resizing.

    ``smallest``/``median``/``largest`` are by pixel count; ``seen`` of ``total`` images
    were looked at (all of them unless the set is larger than ``SIZE_PROBES``).
    """

    smallest: tuple[int, int]
    median: tuple[int, int]
    largest: tuple[int, int]
    seen: int
    total: int

    @classmethod
    def of(cls, sizes: list[tuple[int, int]], seen: int, total: int) -> SizeSample | None:
        """From the readable ``sizes`` among ``seen`` files looked at of ``total``."""
        if not sizes:
            return None
        ordered = sorted(sizes, key=lambda hw: (hw[0] * hw[1], hw))
        return cls(ordered[0], ordered[len(ordered) // 2], ordered[-1], seen, total)


def sample_sizes(splits: dict[str, FileList], limit: int = SIZE_PROBES) -> tuple[SizeSample | None, list[str]]:
    """Stored sizes of up to ``limit`` files spread evenly over every split, and the paths
    among them whose header cannot be read."""
    paths = [p for files in splits.values() for p in files.paths]
    if not paths:
        return None, []
    picks = np.unique(np.linspace(0, len(paths) - 1, min(len(paths), limit)).astype(np.int64))
    sizes, unreadable = [], []
    for i in picks:
        found = probe(str(paths[i]))
        if found is None:
            unreadable.append(str(paths[i]))
        else:
            sizes.append(found[0])
    return SizeSample.of(sizes, len(picks), len(paths)), unreadable
