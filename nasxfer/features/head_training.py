"""The fast path for a fully frozen backbone: train the head on cached features.

Each split's pooled features come from the cache, or are computed once and stored; then
``fit`` trains only the head, on batches of feature vectors. A trial on a cached backbone
costs a few milliseconds per epoch instead of a backbone forward pass over every image.
The price: no image augmentation (see ``features.loader`` for feature-space substitutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from nasxfer.data.loader import BatchLoader, Preprocess
from nasxfer.features.cache import FeatureCache, PooledFeatures, features_key
from nasxfer.models.weights import weights_digest
from nasxfer.features.extract import pooled_features
from nasxfer.features.loader import FeatureLoader
from nasxfer.models.heads import select_pooled
from nasxfer.training.compute import choose_precision, cpu_threads_for
from nasxfer.training.fit import FitResult, fit


# How often a head trained on cached features checkpoints: at most once per this many
# seconds (and wherever a rung or a stop needs one). A kill loses at most this much training.
HEAD_CHECKPOINT_SECONDS = 30.0


@dataclass(frozen=True)
class FeatureSource:
    """Where a head's features come from: the ``cache`` (a search's evaluator keeps one per
    run) and, when already known, the frozen backbone's ``weights`` digest."""

    cache: FeatureCache | None = None
    weights: str | None = None


@dataclass
class CacheUse:
    """How each split's features were obtained: ``hit``, ``miss`` or ``corrupt`` (recomputed)."""

    status: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def hits(self) -> int:
        return sum(s == "hit" for s in self.status.values())


def split_features(
    network,
    data,
    split: str,
    preprocess: Preprocess,
    config,
    device: torch.device,
    cache: FeatureCache,
    weights: str,
    channels_last: bool = False,
) -> tuple[PooledFeatures, str, str]:
    """``(features, status, key)`` of ``data.<split>`` through ``network``'s frozen backbone."""
    precision = choose_precision(config.train.amp, device)
    key = features_key(network.backbone, weights, preprocess, data.fingerprint, split, precision.label)
    features, status = cache.load(key)
    if features is None:
        batches = BatchLoader(
            getattr(data, split),
            batch_size=max(256, config.train.batch_size),
            device=device,
            preprocess=preprocess,
            channels_last=channels_last,
            num_workers=config.data.num_workers,
        )
        features = pooled_features(network.backbone, batches, precision)
        cache.save(key, features)
    return features, status, key


def fit_head_on_features(
    network,
    data,
    config,
    preprocess: Preprocess,
    device: torch.device,
    *,
    train_splits: tuple[str, ...] = ("train",),
    val_split: str | None = "val",
    seed: int = 0,
    epochs: int | None = None,
    lr: float | None = None,
    warmup_epochs: float | None = None,
    on_epoch=None,
    channels_last: bool = False,
    features: FeatureSource | None = None,
    **control,
) -> tuple[FitResult, CacheUse]:
    """Train ``network.head`` on cached features of ``train_splits`` (concatenated), validating
    on ``val_split``'s; the backbone must be frozen. Same arguments and result as ``fit``;
    ``control`` (``resume``, ``on_checkpoint``, ``should_stop``, ``stop_at_epoch``,
    ``should_prune``) goes to ``fit`` as it is: the training state is the head's.
    ``features``: the cache to use (default: a fresh ``FeatureCache``) and the backbone's
    weights digest if the caller knows it (else it is computed)."""
    if not network.backbone_frozen:
        raise ValueError("cached features need a fully frozen backbone (model.finetune.unfreeze: 0)")
    source = features or FeatureSource()
    cache = source.cache or FeatureCache()
    weights = source.weights or weights_digest(network.backbone)
    use = CacheUse()
    pooling = network.pool.pooling

    def vectors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, use.status[split], use.keys[split] = split_features(
            network, data, split, preprocess, config, device, cache, weights, channels_last
        )
        avg, max_, labels = cache.on_device(use.keys[split], pooled, device)
        return select_pooled(avg, max_, pooling), labels

    parts = [vectors(split) for split in train_splits]
    settings = config.model.finetune
    train_batches = FeatureLoader(
        torch.cat([x for x, _ in parts]),
        torch.cat([y for _, y in parts]),
        batch_size=config.train.batch_size,
        shuffle=True,
        seed=seed,
        noise=settings.feature_noise,
        mixup=settings.feature_mixup,
        num_classes=len(data.class_names),
    )
    val_batches = None
    if val_split is not None:
        x_val, y_val = vectors(val_split)
        val_batches = FeatureLoader(x_val, y_val, batch_size=max(256, config.train.batch_size))
    # A head epoch takes milliseconds: checkpoint it when it is worth it (see ``fit``).
    control.setdefault("checkpoint_seconds", HEAD_CHECKPOINT_SECONDS)
    # A small head's matmuls are too small to share between CPU threads (``cpu_threads_for``).
    step_macs = config.train.batch_size * sum(p.numel() for p in network.head.parameters())
    with cpu_threads_for(step_macs, device):
        result = fit(
            network.head,
            train_batches,
            val_batches,
            config.train,
            len(data.class_names),
            epochs=epochs,
            lr=lr,
            warmup_epochs=warmup_epochs,
            on_epoch=on_epoch,
            **control,
        )
    return result, use
