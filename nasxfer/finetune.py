"""Retrain a search's winner into the final model and test it honestly, once.

The chosen trial's config is trained on train+val with the ``finetune`` settings and then
evaluated on the test split, which no trial has seen.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from nasxfer.errors import NasxferError
from nasxfer.fileio import atomic_write_json
from nasxfer.store import RunStore
from nasxfer.trial import TrialRecord, TrialState


def choose_trial(store: RunStore, number: int | None = None) -> TrialRecord:
    from nasxfer.runner import objective_of

    history = store.history()
    if number is not None:
        match = [r for r in history if r.number == number]
        if not match:
            raise NasxferError(f"--trial: run '{store.run_id}' has no finished trial {number}")
        if match[0].state is TrialState.FAILED:
            raise NasxferError(f"--trial: trial {number} of '{store.run_id}' did not complete ({match[0].error})")
        return match[0]  # a paused or pruned trial too: finetuning retrains it from scratch
    # complete trials first; only when none is, the best of those trained furthest
    best = objective_of(store.config()).best(history)
    if best is None:
        raise NasxferError(f"run '{store.run_id}': no completed trial to finetune (run or resume the search first)")
    return best


def finetune_run(
    store: RunStore,
    trial: int | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train the chosen trial on train+val, test it, write ``final/``; returns the metrics."""
    with store.lock():  # one writer: a search still running on this run is refused
        return _finetune(store, trial, epochs, on_epoch)


def _finetune(store, trial, epochs, on_epoch) -> dict[str, Any]:
    import torch

    from nasxfer.checkpoint import model_payload, save_model
    from nasxfer.data import load_dataset
    from nasxfer.data.loader import BatchLoader, augment_for
    from nasxfer.data.registry import merge
    from nasxfer.models.build import build_model, preprocess_for
    from nasxfer.train import count_parameters, evaluate, fit, resolve_device, seed_everything, use_channels_last

    record = choose_trial(store, trial)
    config = store.config().apply(record.values)
    settings = config.finetune
    epochs = epochs or settings.epochs
    device = resolve_device(config.train.device)
    started = time.perf_counter()

    data = load_dataset(config.data, seed=config.seed, device=device)
    seed_everything(config.seed)
    model = build_model(config.model, data.channels, len(data.class_names)).to(device)
    channels_last = use_channels_last(config.train.channels_last, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    preprocess = preprocess_for(config.model, data)
    batch_size = settings.batch_size or config.train.batch_size
    train_split = merge(data.train, data.val)
    train_batches = BatchLoader(
        train_split,
        batch_size=batch_size,
        device=device,
        preprocess=preprocess,
        augment=augment_for(config.data, data),
        shuffle=True,
        seed=config.seed,
        channels_last=channels_last,
        num_workers=config.data.num_workers,
    )
    fit_result = fit(
        model,
        train_batches,
        None,
        config.train,
        len(data.class_names),
        epochs=epochs,
        lr=settings.lr,
        warmup_epochs=settings.warmup_epochs if settings.warmup_epochs is not None else min(config.train.warmup_epochs, epochs - 1),
        on_epoch=on_epoch,
    )
    test_batches = BatchLoader(
        data.test,
        batch_size=max(256, batch_size),
        device=device,
        preprocess=preprocess,
        channels_last=channels_last,
        num_workers=config.data.num_workers,
    )
    test = evaluate(model, test_batches, len(data.class_names))
    confusion = test["confusion"]
    per_class = (confusion.diag().double() / confusion.sum(1).clamp(min=1)).tolist()

    final_dir = store.path / "final"
    payload = model_payload(model, config, record.values, data, preprocess)
    model_sha256 = save_model(final_dir / "model.pt", payload)
    _export_default(model, payload, final_dir, store.run_id)
    metrics = {
        "trial": record.number,
        "values": record.values,
        "epochs": epochs,
        "test_accuracy": test["accuracy"],
        "test_f1": test["f1"],
        "test_loss": test["loss"],
        "per_class_accuracy": dict(zip(data.class_names, per_class)),
        "confusion_matrix": confusion.tolist(),
        "class_names": list(data.class_names),
        "train_images": len(train_split),
        "test_images": len(data.test),
        "params": count_parameters(model),
        "search_val_accuracy": record.metrics.get("val_accuracy"),
        "curve": fit_result.curve,
        "seconds": time.perf_counter() - started,
    }
    atomic_write_json(final_dir / "metrics.json", metrics)
    store.append("finetuned", trial=record.number, test_accuracy=test["accuracy"], epochs=epochs, sha256=model_sha256)
    return metrics


def _export_default(model, payload, final_dir, run_id) -> None:
    """Every final model is also written as TorchScript (``final/model.ts``): loadable
    with torch alone, no nasxfer needed."""
    from nasxfer.export import export_model
    from nasxfer.inference import Classifier

    export_model(Classifier(model.cpu().eval(), payload), "torchscript", final_dir / "model.ts", f"run {run_id}, final model")
