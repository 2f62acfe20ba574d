"""Datasets: the registry, splits, and device-resident batching.

This ``__init__`` stays torch-free so the config schema can list the known dataset names
cheaply; ``load_dataset`` imports the heavy parts on first use. Knows nothing about models
or search: a candidate may change the image size or augmentation, never the split.
"""

#: Names accepted by ``data.dataset``.
DATASET_NAMES: tuple[str, ...] = (
    "digits",
    "synthetic",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "svhn",
    "imagefolder",
    "csv",
)


def load_dataset(cfg, seed: int, device=None):
    """Load ``cfg`` (a ``DataConfig``) into splits; see ``nasxfer.data.registry``."""
    from nasxfer.data.registry import load_dataset as _load

    return _load(cfg, seed=seed, device=device)
