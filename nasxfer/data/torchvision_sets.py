"""``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``, ``svhn`` through torchvision.

The raw arrays (``.data`` and ``.targets``/``.labels``) are read straight into uint8
tensors instead of going through torchvision's per-sample PIL path. The official train
set is the pool that val is carved from; the official test set is the test split.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nasxfer.data.containers import Source, Split
from nasxfer.data.paths import not_found_offline, torchvision_root
from nasxfer.errors import ConfigError



@dataclass(frozen=True)
class _Spec:
    class_name: str  # in torchvision.datasets
    layout: str  # how ``.data`` is laid out: "NHW", "NHWC" or "NCHW"
    hflip_ok: bool


_SPECS = {
    "mnist": _Spec("MNIST", "NHW", hflip_ok=False),
    "fashion_mnist": _Spec("FashionMNIST", "NHW", hflip_ok=True),
    "cifar10": _Spec("CIFAR10", "NHWC", hflip_ok=True),
    "cifar100": _Spec("CIFAR100", "NHWC", hflip_ok=True),
    "svhn": _Spec("SVHN", "NCHW", hflip_ok=False),  # house numbers: mirrored digits
}

TORCHVISION_NAMES: tuple[str, ...] = tuple(_SPECS)
#: The built-in datasets whose labels survive a horizontal flip: what `data.augment: auto` flips.
FLIP_SAFE: tuple[str, ...] = tuple(name for name, spec in _SPECS.items() if spec.hflip_ok)


def load_torchvision(name: str, cfg, seed: int) -> Source:
    """Load ``name`` from ``cfg.root`` (downloading there when ``cfg.download``)."""
    spec = _SPECS[name]
    root = torchvision_root(cfg)
    train_set = _open(name, spec, root, train=True, download=cfg.download)
    test_set = _open(name, spec, root, train=False, download=cfg.download)
    classes = getattr(train_set, "classes", None) or [str(i) for i in range(10)]  # SVHN has none
    return Source(
        name=name,
        class_names=[str(c) for c in classes],
        hflip_ok=spec.hflip_ok,
        train=_as_split(train_set, spec),
        test=_as_split(test_set, spec),
    )


def _open(name: str, spec: _Spec, root: Path, *, train: bool, download: bool):
    from torchvision import datasets

    dataset_class = getattr(datasets, spec.class_name)
    which = {"split": "train" if train else "test"} if name == "svhn" else {"train": train}
    try:
        # torchvision reports download progress on stdout/stderr; the library never prints.
        with _quiet(download):
            return dataset_class(str(root), download=download, **which)
    except ImportError as exc:
        raise ConfigError(f"data.dataset: {name} needs the '{exc.name}' package (pip install {exc.name})") from None
    except (RuntimeError, OSError) as exc:
        if download:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(
                f"data.download: could not download {name} into '{root}' ({reason}); "
                "check the internet connection or put the files there yourself"
            ) from None
        if "not found" in str(exc).lower():
            raise not_found_offline(name, root) from None
        raise


def _quiet(active: bool):
    if not active:
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def _as_split(dataset, spec: _Spec) -> Split:
    data = dataset.data
    images = torch.from_numpy(np.ascontiguousarray(data)) if isinstance(data, np.ndarray) else data
    if spec.layout == "NHW":
        images = images.unsqueeze(1)
    elif spec.layout == "NHWC":
        images = images.permute(0, 3, 1, 2)
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = dataset.labels
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    return Split(images.to(torch.uint8).contiguous(), labels)
