"""The files and folders a ``data`` section names, checked without reading an image.

``check_data_paths`` is what ``nasxfer validate`` and ``nasxfer search`` check before a run
folder exists; the loaders raise the same messages when they meet the same problems, so a
config is refused with one line whichever meets it first. Torch-free, so validate stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

from nasxfer.errors import ConfigError

#: Where torchvision datasets live when ``data.root`` is not set.
DEFAULT_TORCHVISION_ROOT = "~/.cache/nasxfer/datasets"
#: The ``data.dataset`` names that torchvision loads from files under ``data.root``.
TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn")


def require_folder(path: str, field: str) -> Path:
    """``path`` as a resolved folder; ``ConfigError`` naming ``data.<field>`` when it is none (or unreadable)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"data.{field}: no such folder '{path}' (point it at a folder of class folders)")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ConfigError(f"data.{field}: cannot read the folder '{path}' (check its permissions)")
    return folder.resolve()


def torchvision_root(cfg) -> Path:
    return Path(cfg.root or DEFAULT_TORCHVISION_ROOT).expanduser()


def not_found_offline(name: str, root: Path) -> ConfigError:
    """The error for a torchvision dataset that is not under ``root`` and may not be downloaded."""
    return ConfigError(
        f"data.download: {name} not found under '{root}'; set data.download: true "
        "(needs internet) or point data.root at it"
    )


def check_data_paths(cfg) -> None:
    """The folders ``cfg`` (a ``DataConfig``) needs exist and can be read; ``ConfigError`` otherwise.

    Whether they hold usable images is found when the data loads: that reads the files.
    """
    if cfg.dataset == "imagefolder":
        require_folder(cfg.root, "root")
        for field in ("val_root", "test_root"):
            if getattr(cfg, field):
                require_folder(getattr(cfg, field), field)
    elif cfg.dataset in TORCHVISION_DATASETS and not cfg.download:
        root = torchvision_root(cfg)
        if not root.is_dir():
            raise not_found_offline(cfg.dataset, root)
