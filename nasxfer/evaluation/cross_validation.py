"""Cross-validated trials (``search.cv``): one candidate trained on every fold, in lockstep.

Each fold is a full training of the candidate on all folds of train+val but one, scored on
that one (``data.folds``). The folds train in lockstep, one epoch at a time each: after
epoch ``e`` of every fold the curve gets one row, the fold mean, with the standard error
of the validation metrics beside it (``val_accuracy_se``, …). That row is what the
reporter, the median pruner and a scheduler's rungs see, so they judge trials by the
fold mean exactly as they judge a single split's curve.

Resume is exact: the trial's checkpoint after epoch ``e`` holds the training state of
every fold (weights, optimiser, schedule, RNG) and the mean curve. An interruption in the
middle of an epoch re-runs that epoch for every fold, from the same state, to the same
numbers (as a single-split trial re-runs its unfinished epoch).

A trial's ``model.pt`` is the first fold's network (trained on ``(K-1)/K`` of train+val);
``nasxfer finetune`` retrains the candidate on the data ``finetune.train_on`` names.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from nasxfer.evaluation.outcome import TrialOutcome

#: Curve and metric names that get a standard error beside their fold mean.
SE_METRICS = ("val_accuracy", "val_f1", "val_loss")


def standard_error(values: list[float]) -> float:
    """The standard error of the mean of ``values`` (sample std / sqrt(n)); 0 for one value.

    With repeated folds the trainings share data, so this is the usual, somewhat
    optimistic, estimate (Bouckaert & Frank, 2004): read it as noise, not as a test."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def fold_mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """One curve row from the same epoch of every fold: means, summed time, standard errors."""
    keys = [k for k in rows[0] if all(isinstance(r.get(k), (int, float)) for r in rows)]
    row: dict[str, float] = {}
    for key in keys:
        values = [float(r[key]) for r in rows]
        if key in ("epoch", "phase"):
            row[key] = rows[0][key]
        elif key == "train_seconds":
            row[key] = sum(values)
        elif key == "images_per_second":
            images = sum(r["images_per_second"] * r["train_seconds"] for r in rows)
            row[key] = images / max(sum(r["train_seconds"] for r in rows), 1e-9)
        else:
            row[key] = statistics.fmean(values)
            if key in SE_METRICS:
                row[f"{key}_se"] = standard_error(values)
    row["folds"] = float(len(rows))
    return row


class FoldTraining:
    """One fold's network, its batches and its training state between epochs."""

    def __init__(self, config, data, device, seed: int, loader_workers: int | None = None):
        from nasxfer.data.loader import BatchLoader, augment_for
        from nasxfer.models.build import model_for_training

        self.config, self.data, self.device, self.seed = config, data, device, seed
        built = model_for_training(config, data, device, seed)
        self.model, self.preprocess, self.channels_last = built.model, built.preprocess, built.channels_last
        workers = config.data.num_workers if loader_workers is None else loader_workers
        loader = dict(device=device, preprocess=self.preprocess, channels_last=self.channels_last,
                      num_workers=workers)  # fmt: skip
        self.train_batches = BatchLoader(
            data.train, batch_size=config.train.batch_size, augment=augment_for(config.data, data),
            shuffle=True, seed=seed, **loader,
        )  # fmt: skip
        self.val_batches = BatchLoader(data.val, batch_size=max(256, config.train.batch_size), **loader)
        self.transfer = None
        self.feature_batches = None
        model = self.model
        if config.model.kind == "transfer" and model.backbone_frozen and config.model.finetune.feature_cache == "auto":
            self.feature_batches, self.transfer = self._cached_features()

    def _cached_features(self):
        """The fold's head-only fast path, set up once: feature batches of its train and val
        (from the feature cache), so that each epoch trains the head alone on them. What
        ``features.head_training.fit_head_on_features`` does per call, kept across epochs."""
        from nasxfer.features.cache import FeatureCache
        from nasxfer.models.weights import weights_digest
        from nasxfer.features.head_training import split_features
        from nasxfer.features.loader import FeatureLoader
        from nasxfer.models.heads import select_pooled
        from nasxfer.training.transfer import TransferReport

        config, network = self.config, self.model
        cache, weights = FeatureCache(), weights_digest(network.backbone)
        report = TransferReport(augment=config.data.augment, cached_phases=[1])
        vectors = {}
        for split in ("train", "val"):
            features, status, _ = split_features(
                network, self.data, split, self.preprocess, config, self.device, cache, weights, self.channels_last
            )
            report.cache_status[split] = status
            x = select_pooled(features.avg.float(), features.max.float(), network.pool.pooling)
            vectors[split] = (x.to(self.device), features.labels.to(self.device))
        settings = config.model.finetune
        train = FeatureLoader(
            *vectors["train"], batch_size=config.train.batch_size, shuffle=True, seed=self.seed,
            noise=settings.feature_noise, mixup=settings.feature_mixup, num_classes=len(self.data.class_names),
        )  # fmt: skip
        val = FeatureLoader(*vectors["val"], batch_size=max(256, config.train.batch_size))
        return (train, val), report

    def train_to(self, epoch: int, state: dict | None) -> tuple[dict, dict[str, float]]:
        """Continue from ``state`` (None: from the start) to the end of ``epoch``; returns the
        new state and that epoch's curve row."""
        import torch

        captured: dict[str, Any] = {}

        def keep(training_state, _epoch):
            captured["state"] = training_state

        if state is None:
            torch.manual_seed(self.seed)  # the fold's first epoch does not depend on the other folds
        control = dict(resume=state, on_checkpoint=keep, stop_at_epoch=epoch)
        if self.feature_batches is not None:  # a frozen backbone: the head alone, on cached features
            from nasxfer.training.fit import fit

            result = fit(self.model.head, *self.feature_batches, self.config.train, len(self.data.class_names), **control)
        elif self.config.model.kind == "transfer":
            from nasxfer.training.transfer import fit_transfer, search_phases

            result, self.transfer = fit_transfer(
                self.model, self.config, self.data, self.preprocess, self.device,
                phases=search_phases(self.config), train_batches=self.train_batches,
                val_batches=self.val_batches, seed=self.seed, channels_last=self.channels_last, **control,
            )  # fmt: skip
        else:
            from nasxfer.training.fit import fit

            result = fit(self.model, self.train_batches, self.val_batches, self.config.train,
                         len(self.data.class_names), **control)  # fmt: skip
        # Nothing trained when ``state`` is already at ``epoch``: it stands as it is.
        return captured.get("state", state), result.curve[-1]


def evaluate_folds(
    evaluator,
    config,
    *,
    seed: int,
    trial_dir: Path,
    values: dict[str, Any],
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    checkpoints=None,
    should_stop: Callable[[], bool] | None = None,
    stop_at_epoch: int | None = None,
    should_prune: Callable[[dict[str, float]], bool] | None = None,
) -> TrialOutcome:
    """``TrainingEvaluator.evaluate`` for a config with ``search.cv``: the same arguments and
    the same outcome, its metrics and curve the fold means (with ``*_se`` beside them)."""
    from nasxfer.errors import TrainingInterrupted
    from nasxfer.evaluation.costs import peak_memory_mb, reset_peak_memory
    from nasxfer.storage.atomic import atomic_write_json
    from nasxfer.storage.model_files import model_payload, save_model
    from nasxfer.training.compute import configure_backend, resolve_device
    from nasxfer.training.fit import count_parameters
    from nasxfer.training.threads import threads_for_trial

    started = time.perf_counter()
    device = resolve_device(config.train.device)
    configure_backend(config.train, device)
    threads = threads_for_trial(config.train.threads, config.data.num_workers)
    peak_is_this_trials = reset_peak_memory(device)
    folds = evaluator.folds_for(config, device)
    # Fold k trains with seed + k: its own initial weights and batch order.
    runs = [FoldTraining(config, fold, device, seed + k, threads.loader_workers) for k, fold in enumerate(folds)]
    costs = evaluator.costs(runs[0].model, config, folds[0], runs[0].preprocess, device)  # may reject first

    resume = checkpoints.latest() if checkpoints is not None else None
    states: list[dict | None] = list(resume["folds"]) if resume else [None] * len(runs)
    curve: list[dict[str, float]] = list(resume["curve"]) if resume else []
    full = config.train.epochs
    last = full if stop_at_epoch is None else min(stop_at_epoch, full)
    for epoch in range(len(curve) + 1, last + 1):
        rows = []
        for k, run in enumerate(runs):
            states[k], row = run.train_to(epoch, states[k])
            rows.append(row)
        row = fold_mean(rows)
        curve.append(row)
        if checkpoints is not None:
            checkpoints.save({"epoch": epoch, "folds": states, "curve": curve}, epoch)
        if on_epoch is not None:
            on_epoch(row)
        if epoch == last:
            break
        if should_prune is not None and should_prune(row):
            break
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(epoch)

    if resume is not None and len(curve) == len(resume["curve"]):
        # Nothing left to train (the process died after the last checkpoint): the networks
        # were rebuilt untrained, so take every fold's weights from its saved state.
        for run, state in zip(runs, states):
            run.train_to(int(state["epoch"]), state)
    first = runs[0]
    model_sha256 = save_model(trial_dir / "model.pt", model_payload(first.model, config, values, folds[0], first.preprocess))
    if checkpoints is not None and len(curve) >= full:
        checkpoints.clear()

    final = curve[-1]
    train_seconds = sum(r["train_seconds"] for r in curve)
    images = sum(r["images_per_second"] * r["train_seconds"] for r in curve)
    metrics = {
        "val_accuracy": final["val_accuracy"],
        "val_f1": final["val_f1"],
        "val_loss": final["val_loss"],
        "train_loss": final["train_loss"],
        **{f"{name}_se": final[f"{name}_se"] for name in SE_METRICS},
        "best_val_accuracy": max(r["val_accuracy"] for r in curve),
        "folds": float(len(runs)),
        "params": float(count_parameters(first.model)),
        "epochs": float(len(curve)),
        "images_per_second": images / max(train_seconds, 1e-9),
        "seconds_per_epoch": train_seconds / max(len(curve), 1),
        "seconds": time.perf_counter() - started,
        "train_threads": float(threads.threads),
        **costs,
        ("peak_memory_mb" if peak_is_this_trials else "process_peak_memory_mb"): peak_memory_mb(device),
    }
    if first.transfer is not None:
        metrics.update(first.transfer.metrics(first.model))
        if first.transfer.used_cache:
            atomic_write_json(trial_dir / "feature_cache.json", first.transfer.describe())
    return TrialOutcome(metrics, curve, {"model.pt": model_sha256})
