"""How a transfer network trains: in phases, each through the backbone or on cached features.

A search trial is one phase: ``model.finetune.unfreeze`` stages train for ``train.epochs``.
``nasxfer finetune`` may add a head-only phase first (LP-FT: ``finetune.head_epochs``),
which keeps a freshly initialised head from sending large gradients into the pretrained
backbone. A phase whose backbone is fully frozen trains the head on cached features
(``model.finetune.feature_cache: auto``), which skips image augmentation: the returned
``TransferReport`` says so, and callers record it with the results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from nasxfer.features.head_training import FeatureSource, fit_head_on_features
from nasxfer.models.freezing import set_trainable_stages
from nasxfer.training.fit import FitResult, fit


@dataclass(frozen=True)
class Phase:
    unfreeze: int | str
    epochs: int
    lr: float | None = None
    warmup_epochs: float | None = None


@dataclass
class TransferReport:
    """What the phases did, for the trial's metrics and its notes."""

    cached_phases: list[int] = field(default_factory=list)
    cache_status: dict[str, str] = field(default_factory=dict)
    augment: str = "auto"

    @property
    def used_cache(self) -> bool:
        return bool(self.cached_phases)

    def metrics(self, network) -> dict[str, float]:
        return {
            "feature_cache": float(self.used_cache),
            "feature_cache_hits": float(sum(s == "hit" for s in self.cache_status.values())),
            "trainable_params": float(sum(p.numel() for p in network.parameters() if p.requires_grad)),
            "backbone_stages": float(len(network.backbone.stages)),
            "frozen_stages": float(network.frozen_stages),
        }

    def note(self) -> str | None:
        if not self.used_cache:
            return None
        phases = ", ".join(map(str, self.cached_phases))
        return (
            f"phase {phases} trained the head on cached backbone features of un-augmented images: "
            f"image augmentation (data.augment: {self.augment}) was not applied there. "
            "model.finetune.feature_noise / feature_mixup augment the features instead; "
            "model.finetune.feature_cache: off trains through the backbone with image augmentation."
        )

    def describe(self) -> dict[str, Any]:
        return {"feature_cache": self.used_cache, "cached_phases": self.cached_phases,
                "splits": self.cache_status, "note": self.note()}  # fmt: skip


def search_phases(config) -> list[Phase]:
    return [Phase(config.model.finetune.unfreeze, config.train.epochs)]


def finetune_phases(config, epochs: int, lr: float | None, warmup_epochs: float | None) -> list[Phase]:
    """LP-FT when ``finetune.head_epochs`` > 0: the head alone first, then ``finetune.unfreeze``
    stages (default: the trial's ``model.finetune.unfreeze``)."""
    settings = config.finetune
    unfreeze = settings.unfreeze if settings.unfreeze is not None else config.model.finetune.unfreeze
    main = Phase(unfreeze, epochs, lr, warmup_epochs)
    if settings.head_epochs <= 0:
        return [main]
    return [Phase(0, settings.head_epochs, settings.head_lr or lr, 0.0), main]


def fit_transfer(
    network,
    config,
    data,
    preprocess,
    device,
    *,
    phases: list[Phase],
    train_batches,
    val_batches,
    train_splits: tuple[str, ...] = ("train",),
    val_split: str | None = "val",
    seed: int = 0,
    channels_last: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    features: FeatureSource | None = None,
    **control,
) -> tuple[FitResult, TransferReport]:
    """Run ``phases`` on ``network``; the curve continues its epoch count across phases.

    ``train_batches``/``val_batches`` are the image loaders for phases that train through
    the backbone; ``train_splits``/``val_split`` name the same data for cached phases.

    ``control`` is ``fit``'s (``resume``, ``on_checkpoint``, ``should_stop``,
    ``stop_at_epoch``, ``should_prune``), for one phase (a search trial): it resumes from
    epoch checkpoints, stops at a scheduler's rung and is pruned like any trial.
    ``should_stop`` alone (the final training's early stopping) works across phases.
    ``features`` is where cached phases find their features (``FeatureSource``).
    """
    if {k for k, v in control.items() if v is not None} - {"should_stop"} and len(phases) != 1:
        raise ValueError("resume, checkpoints, rungs and pruning apply to a one-phase transfer run")
    report = TransferReport(augment=config.data.augment)
    result = FitResult()
    for number, phase in enumerate(phases, start=1):
        offset = len(result.curve)
        set_trainable_stages(network, phase.unfreeze)

        def relay(row, offset=offset, number=number):
            if on_epoch is not None:
                on_epoch({**row, "epoch": row["epoch"] + offset, "phase": number})

        if network.backbone_frozen and config.model.finetune.feature_cache == "auto":
            phase_result, use = fit_head_on_features(
                network, data, config, preprocess, device,
                train_splits=train_splits, val_split=val_split, seed=seed, epochs=phase.epochs,
                lr=phase.lr, warmup_epochs=phase.warmup_epochs, on_epoch=relay, channels_last=channels_last,
                features=features, **control,
            )  # fmt: skip
            report.cached_phases.append(number)
            report.cache_status.update(use.status)
        else:
            phase_result = fit(
                network, train_batches, val_batches, config.train, len(data.class_names),
                epochs=phase.epochs, lr=phase.lr, warmup_epochs=phase.warmup_epochs, on_epoch=relay,
                **control,
            )  # fmt: skip
        result.curve.extend({**row, "epoch": row["epoch"] + offset, "phase": number} for row in phase_result.curve)
    return result, report
