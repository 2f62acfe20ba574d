"""Retrain a search's winner into the final model and test it honestly, once.

The chosen trial's config is trained on the data ``finetune.train_on`` names (train+val by
default) with the ``finetune`` settings, keeping the epoch that does best on an
early-stopping set (``final_splits``: one rule for scratch and transfer models), and then
evaluated on the test split, which no trial has seen.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from nasxfer.errors import NasxferError
from nasxfer.storage.atomic import atomic_write_json
from nasxfer.storage.store import RunStore
from nasxfer.search.pick import choose_trial


def finetune_run(
    store: RunStore,
    trial: int | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    pick: str = "best",
    within: float | None = None,
    seeds: int | None = None,
    overwrite: bool = False,
    overrides: Sequence[str] = (),
    trust_factory: bool = False,
) -> dict[str, Any]:
    """Train the chosen trial (on ``finetune.train_on``), test it, write ``final/``; returns the metrics.

    ``trust_factory`` lets a ``run:`` backbone over a factory-built model call that factory.

    ``seeds`` (default ``finetune.seeds``) trainings with consecutive seeds report the test
    metrics' mean and standard deviation; the first seed's model is the one kept, or with
    ``finetune.ensemble`` all of them as one ``LogitEnsemble`` (its test metrics are the
    averaged logits'). An earlier
    ``final/`` is kept as ``final-<n>/`` (``metrics["archived"]`` names it) unless
    ``overwrite``: a worse retraining never silently replaces a better model. ``overrides``
    are ``--set finetune.KEY=VALUE`` items: the final training's settings, and nothing else
    (the trial's config is what the search chose).
    """
    changes = finetune_changes(overrides)
    # Read the run before locking it, so that a damaged run folder is refused with nothing
    # written into it, not even the lock file.
    store.config()
    store.history()
    with store.lock():  # one writer: a search still running on this run is refused
        from nasxfer.final.retime import retime_trials

        # --pick fastest times busy-flagged candidates again before it decides (final.retime).
        retime = lambda records: retime_trials(store, records, trust_factory)  # noqa: E731
        record = choose_trial(store, trial, pick, within, retime=retime)
        return _finetune(store, record, epochs, on_epoch, seeds, overwrite, changes, trust_factory)


def finetune_changes(overrides: Sequence[str]) -> dict[str, Any]:
    """``--set`` items for finetune as config changes; only the ``finetune`` section may change."""
    from nasxfer.config import parse_override

    changes = {}
    for item in overrides:
        key, value = parse_override(item)
        if key != "finetune" and not key.startswith("finetune."):
            raise NasxferError(f"--set {key}: finetune changes only the finetune section (e.g. --set finetune.epochs=10)")
        changes[key] = value
    return changes


def _finetune(store, record, epochs, on_epoch, seeds: int | None = None, overwrite: bool = False,
              changes: dict[str, Any] | None = None, trust_factory: bool = False) -> dict[str, Any]:
    import statistics

    from nasxfer.storage.model_files import model_payload, save_model
    from nasxfer.data import load_dataset
    from nasxfer.training.compute import resolve_device
    from nasxfer.training.fit import count_parameters

    # At the batch size the trial trained with (an out-of-memory retry's), then the caller's changes.
    config = store.config().apply({**record.applied_values, **(changes or {})})
    if trust_factory:
        config = config.apply({"model.backbone.trust_factory": True})
    if config.finetune.distill is None and config.search.distill is not None:
        # The search's trials distilled from a teacher: the final model does too, unless told otherwise.
        config = config.apply({"finetune.distill": config.search.distill.model_dump()})
    settings = config.finetune
    epochs = epochs or settings.epochs
    seeds = seeds or settings.seeds
    if settings.ensemble and seeds < 2:
        raise NasxferError("finetune.ensemble: an ensemble needs at least 2 trainings; pass --seeds K (K >= 2) or set finetune.seeds")
    if settings.distill is not None and config.model.kind == "transfer":
        raise NasxferError(
            "finetune.distill: the student must be a from-scratch network (model.kind: scratch); "
            "a transfer model can be the teacher (finetune.distill.teacher)"
        )
    device = resolve_device(config.train.device)
    started = time.perf_counter()
    teacher = None
    if settings.distill is not None:  # found and checked before any data is loaded or trained
        from nasxfer.final.distill import load_teacher

        teacher = load_teacher(store, settings.distill, trust_factory)
    data = load_dataset(config.data, seed=config.seed, device=device)
    distilled = None
    if teacher is not None:
        from nasxfer.final.distill import check_teacher, teacher_accuracy

        check_teacher(teacher[0], data)
        distilled = {
            "teacher": teacher[1],
            "temperature": settings.distill.temperature,
            "alpha": settings.distill.alpha,
            "teacher_test_accuracy": teacher_accuracy(teacher[0].to(device), data.test, device),
        }

    teacher_cache = None
    if teacher is not None:  # the teacher's logits on each training image, once for all the seeds
        from nasxfer.training.distill import TeacherLogits

        teacher_cache = TeacherLogits(teacher[0], device)
    runs = []
    for i in range(seeds):
        seed = config.seed + i
        relay = (lambda row, s=seed: on_epoch({**row, "seed": s})) if on_epoch and seeds > 1 else on_epoch
        runs.append(_train_and_test(config, data, device, seed, epochs, relay, teacher_cache))
    if distilled is not None:
        distilled["teacher_logits"] = runs[0]["teacher_logits"]
    # The model kept is the first seed's (or, with finetune.ensemble, all of them as one):
    # choosing among seeds by their test score would leak the test split into the choice.
    kept = runs[0]
    model, preprocess, test = kept["model"], kept["preprocess"], kept["test"]
    if settings.ensemble:
        model, test = _ensemble(runs, config, data, device)
    confusion = test["confusion"]
    per_class = (confusion.diag().double() / confusion.sum(1).clamp(min=1)).tolist()

    final_dir = store.path / "final"
    archived = _set_aside_previous_final(final_dir, overwrite)
    payload = model_payload(model, config, record.values, data, preprocess)
    model_sha256 = save_model(final_dir / "model.pt", payload)
    _export_default(model, payload, final_dir, store.run_id)
    accuracies = [run["test"]["accuracy"] for run in runs]
    f1s = [run["test"]["f1"] for run in runs]
    metrics = {
        "trial": record.number,
        "values": record.values,
        "epochs": epochs,
        "best_epoch": kept["best_epoch"],
        "train_on": settings.train_on,
        "early_stopping": kept["early_stopping"],
        "holdout_images": kept["holdout_images"],
        "test_accuracy": test["accuracy"],
        "test_f1": test["f1"],
        "test_loss": test["loss"],
        "per_class_accuracy": dict(zip(data.class_names, per_class)),
        "confusion_matrix": confusion.tolist(),
        "class_names": list(data.class_names),
        "train_images": kept["train_images"],
        "test_images": len(data.test),
        "params": count_parameters(model),
        "search_val_accuracy": record.metrics.get("val_accuracy"),
        "curve": kept["curve"],
        "seeds": [
            {"seed": run["seed"], "test_accuracy": run["test"]["accuracy"], "test_f1": run["test"]["f1"], "best_epoch": run["best_epoch"]}
            for run in runs
        ],
        "test_accuracy_mean": statistics.fmean(accuracies),
        "test_accuracy_std": statistics.stdev(accuracies) if len(runs) > 1 else 0.0,
        "test_f1_mean": statistics.fmean(f1s),
        "test_f1_std": statistics.stdev(f1s) if len(runs) > 1 else 0.0,
        "compiled": config.finetune.compile,
        "ensemble": len(runs) if settings.ensemble else None,
        "seconds": time.perf_counter() - started,
    }
    metrics["distill"] = distilled
    metrics["phases"] = kept["phases"]
    metrics["training"] = phases_text(kept["phases"])
    metrics["archived"] = archived
    if kept["transfer"] is not None:
        metrics.update(kept["transfer"].metrics(kept["model"]), transfer=kept["transfer"].describe(), head_epochs=settings.head_epochs)
    atomic_write_json(final_dir / "metrics.json", metrics)
    store.append(
        "finetuned", trial=record.number, test_accuracy=test["accuracy"], epochs=epochs, seeds=len(runs), sha256=model_sha256
    )
    return metrics


def final_splits(config, data, seed: int):
    """``(train split, early-stopping split or None, how)``: the data the final model learns
    from and the set that picks its best epoch, by ``finetune.train_on``.

    ``train``: the training split, early stopping on the validation split the search scored
    on. ``train+val``: both, with ``finetune.holdout`` of them carved out (stratified, with
    ``seed``) for early stopping; holdout 0 leaves none. The same rule for both kinds of model.
    """
    from nasxfer.data.folds import subset_of
    from nasxfer.data.registry import merge
    from nasxfer.data.splits import stratified_split

    settings = config.finetune
    if settings.train_on == "train":
        return data.train, data.val, "val"
    pool = merge(data.train, data.val)
    if settings.holdout <= 0:
        return pool, None, "none"
    keep, held = stratified_split(pool.labels.numpy(), [1 - settings.holdout, settings.holdout], seed)
    return subset_of(pool, keep), subset_of(pool, held), "holdout"


def _train_and_test(config, data, device, seed: int, epochs: int, on_epoch, teacher=None) -> dict[str, Any]:
    """One final training (keeping the best epoch on the early-stopping set) and its test
    metrics; with ``teacher`` (``finetune.distill``: a ``final.distill.TeacherLogits``),
    distilled from it."""
    import hashlib
    from dataclasses import replace

    from nasxfer.data.loader import BatchLoader, augment_for
    from nasxfer.errors import TrainingInterrupted
    from nasxfer.models.build import model_for_training
    from nasxfer.training.fit import evaluate, fit
    from nasxfer.training.threads import threads_for_trial

    settings = config.finetune
    threads = threads_for_trial(config.train.threads, config.data.num_workers)
    built = model_for_training(config, data, device, seed)
    model, preprocess, channels_last = built.model, built.preprocess, built.channels_last
    batch_size = settings.batch_size or config.train.batch_size
    loader = dict(device=device, preprocess=preprocess, channels_last=channels_last, num_workers=threads.loader_workers)

    train_split, stop_split, stopping = final_splits(config, data, seed)
    augment = augment_for(config.data, data)
    loss_fn, loader_split, teacher_logits = None, train_split, None
    if teacher is not None:
        from nasxfer.training.distill import distillation_for

        loss_fn, loader_split, teacher_logits = distillation_for(
            teacher.teacher, settings.distill, train_split, augment, preprocess, device, cache=teacher
        )
    train_batches = BatchLoader(loader_split, batch_size=batch_size, augment=augment, shuffle=True, seed=seed, **loader)
    stop_batches = BatchLoader(stop_split, batch_size=max(256, batch_size), **loader) if stop_split is not None else None
    warmup_epochs = settings.warmup_epochs if settings.warmup_epochs is not None else min(config.train.warmup_epochs, epochs - 1)
    transfer, best = None, _BestEpoch(settings.patience)

    def each_epoch(row):
        if stop_split is not None:
            best.observe(row, model)
        if on_epoch is not None:
            on_epoch(row)

    phases = [{"unfreeze": "all", "epochs": epochs}]  # a from-scratch network trains whole
    fit_result = None
    try:
        if config.model.kind == "transfer":
            from nasxfer.training.transfer import finetune_phases, fit_transfer

            planned = finetune_phases(config, epochs, settings.lr, warmup_epochs)
            phases = [{"unfreeze": phase.unfreeze, "epochs": phase.epochs} for phase in planned]
            if stopping == "none":  # train and val as they are: the search's cached features serve
                phase_data, splits = data, dict(train_splits=("train", "val"), val_split=None)
            elif stopping == "val":
                phase_data, splits = data, dict(train_splits=("train",), val_split="val")
            else:  # a carved holdout: its own fingerprint, so cached features never mix splits
                tag = hashlib.sha256(f"{data.fingerprint}/final/{settings.holdout}/{seed}".encode()).hexdigest()
                phase_data = replace(data, train=train_split, val=stop_split, fingerprint=tag)
                splits = dict(train_splits=("train",), val_split="val")
            fit_result, transfer = fit_transfer(
                model, config, phase_data, preprocess, device, phases=planned,
                train_batches=train_batches, val_batches=stop_batches, **splits,
                seed=seed, channels_last=channels_last, on_epoch=each_epoch, should_stop=best.should_stop,
            )  # fmt: skip
        else:
            trained = _compiled(model) if settings.compile else model
            fit_result = fit(
                trained, train_batches, stop_batches, config.train, len(data.class_names),
                epochs=epochs, lr=settings.lr, warmup_epochs=warmup_epochs, on_epoch=each_epoch,
                should_stop=best.should_stop, loss_fn=loss_fn,
            )  # fmt: skip
    except TrainingInterrupted:  # early stopping: patience ran out
        fit_result = None
    if best.state is not None:
        model.load_state_dict(best.state)  # the best epoch on the early-stopping set, not the last
    test_batches = BatchLoader(data.test, batch_size=max(256, batch_size), **loader)
    return {
        "seed": seed,
        "model": model,
        "preprocess": preprocess,
        "test": evaluate(model, test_batches, len(data.class_names)),
        "curve": fit_result.curve if fit_result is not None else best.curve,
        "best_epoch": best.epoch,
        "early_stopping": stopping,
        "holdout_images": len(stop_split) if stop_split is not None else 0,
        "train_images": len(train_split),
        "transfer": transfer,
        "phases": phases,
        "teacher_logits": teacher_logits,
    }


def _ensemble(runs, config, data, device):
    """The K trainings as one ``LogitEnsemble`` and its test metrics (the averaged logits)."""
    from nasxfer.data.loader import BatchLoader
    from nasxfer.models.ensemble import LogitEnsemble
    from nasxfer.training.fit import evaluate

    ensemble = LogitEnsemble([run["model"] for run in runs]).eval()
    kept = runs[0]
    batch_size = max(256, config.finetune.batch_size or config.train.batch_size)
    test_batches = BatchLoader(data.test, batch_size=batch_size, device=device, preprocess=kept["preprocess"],
                               channels_last=False, num_workers=config.data.num_workers)  # fmt: skip
    return ensemble, evaluate(ensemble, test_batches, len(data.class_names))


def phases_text(phases: list[dict[str, Any]]) -> str:
    """What trained, phase by phase: ``3 head-only epochs, then 27 with the top 2 stages``."""
    parts = []
    for phase in phases:
        epochs, unfreeze = phase["epochs"], phase["unfreeze"]
        noun = (" epoch" if epochs == 1 else " epochs") if not parts else ""  # only the first says "epochs"
        if unfreeze == 0:
            parts.append(f"{epochs} head-only{noun}")
        elif unfreeze == "all":
            parts.append(f"{epochs}{noun}" + (" with every layer" if len(phases) > 1 else ""))
        else:
            stages = "the top stage" if unfreeze == 1 else f"the top {unfreeze} stages"
            parts.append(f"{epochs}{noun} with {stages}")
    return ", then ".join(parts)


def _set_aside_previous_final(final_dir, overwrite: bool) -> str | None:
    """Move an earlier ``final/`` to the first free ``final-<n>/`` (or delete it with
    ``overwrite``); returns the kept folder's name. Done only once the new model has trained,
    so a failed finetune leaves the old final model where it was."""
    import shutil

    if not final_dir.exists():
        return None
    if overwrite:
        shutil.rmtree(final_dir)
        return None
    n = 1
    while final_dir.with_name(f"final-{n}").exists():
        n += 1
    kept = final_dir.with_name(f"final-{n}")
    final_dir.rename(kept)
    return kept.name


class _BestEpoch:
    """Tracks the best held-out accuracy: keeps that epoch's weights, counts patience."""

    def __init__(self, patience: int | None):
        self.patience = patience
        self.score = -1.0
        self.epoch: int | None = None
        self.state: dict | None = None
        self.curve: list[dict] = []
        self.since_best = 0

    def observe(self, row: dict, model) -> None:
        self.curve.append(row)
        if row["val_accuracy"] > self.score:
            self.score, self.epoch, self.since_best = row["val_accuracy"], row["epoch"], 0
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.since_best += 1

    def should_stop(self) -> bool:
        return self.patience is not None and self.since_best >= self.patience


def _compiled(model):
    """``torch.compile`` for the one long final training (never per trial: compiling takes
    minutes, a trial often less). Shares parameters with ``model``."""
    import torch

    return torch.compile(model)


def _export_default(model, payload, final_dir, run_id) -> None:
    """Every final model is also written as TorchScript (``final/model.ts``): loadable
    with torch alone, no nasxfer needed."""
    from nasxfer.final.export import export_model
    from nasxfer.final.inference import Classifier

    export_model(Classifier(model.cpu().eval(), payload), "torchscript", final_dir / "model.ts", f"run {run_id}, final model")
