"""``csv``: a manifest of labelled image files, for photos that are not sorted into folders.

``data.root`` names a CSV file whose header row has a ``path`` and a ``label`` column
(other columns are ignored); each row is one image. Paths are relative to the manifest's
own folder (absolute paths are kept), so a manifest travels with its photos. Class names
are the sorted distinct labels. Like ``imagefolder`` the files are only listed here and
read after splitting; a listed file that is missing is skipped and reported like an
unreadable one, and a manifest whose files are all missing is an error.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from nasxfer.data.containers import FileList, Source
from nasxfer.errors import ConfigError

COLUMNS = ("path", "label")


def load_manifest(cfg, seed: int) -> Source:
    """List the manifest's files and labels (nothing is decoded yet); ``seed`` is unused:
    the registry carves the validation and test splits."""
    manifest = _manifest_file(cfg.root)
    rows = _read_rows(manifest)
    class_names = sorted({label for _, label in rows})
    if len(class_names) < 2:
        raise ConfigError(f"data.root: manifest '{manifest}' has one label ({class_names[0]!r}); a classifier needs at least two")
    paths = [_resolve(manifest, path) for path, _ in rows]
    if not any(Path(p).is_file() for p in paths):
        raise ConfigError(
            f"data.root: none of the {len(paths)} files manifest '{manifest}' lists exist (e.g. '{paths[0]}'); "
            "paths are relative to the manifest's folder"
        )
    index = {name: i for i, name in enumerate(class_names)}
    files = FileList(np.array(paths, dtype=object), np.array([index[label] for _, label in rows], dtype=np.int64))
    return Source(name="csv", class_names=class_names, hflip_ok=False, train=files)  # flips only with data.flip: true


def _manifest_file(root: str | None) -> Path:
    if not root:
        raise ConfigError("data.root: dataset 'csv' needs data.root: the manifest file (a CSV with columns path,label)")
    manifest = Path(root).expanduser()
    if not manifest.is_file():
        raise ConfigError(f"data.root: no such manifest file '{root}' (dataset 'csv' takes a CSV file with columns path,label)")
    return manifest.resolve()


def _read_rows(manifest: Path) -> list[tuple[str, str]]:
    """``(path, label)`` per data row, checked: the header names both columns, no cell is empty."""
    with open(manifest, newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets write a BOM
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in COLUMNS if name not in header]
        if not header or not any(header):
            raise ConfigError(f"data.root: manifest '{manifest}' is empty; its first row must be the header path,label")
        if missing:
            raise ConfigError(
                f"data.root: manifest '{manifest}' has no {' or '.join(repr(m) for m in missing)} column "
                f"(header: {','.join(header)}); the first row must name the columns path,label"
            )
        at = [header.index(name) for name in COLUMNS]
        rows = []
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, as editors leave them at the end
            path, label = (cells[i].strip() if i < len(cells) else "" for i in at)
            if not path or not label:
                raise ConfigError(f"data.root: manifest '{manifest}' line {line} has an empty {'path' if not path else 'label'}; fill it or delete the row")
            rows.append((path, label))
    if not rows:
        raise ConfigError(f"data.root: manifest '{manifest}' lists no images; add rows of path,label below its header")
    return rows


def _resolve(manifest: Path, path: str) -> str:
    listed = Path(path).expanduser()
    return str(listed if listed.is_absolute() else manifest.parent / listed)
