"""Run folders and reporter hook sequences made from hand-written TrialRecords (no training)."""

from __future__ import annotations

import random

from nasxfer.config import validate_config
from nasxfer.storage.atomic import atomic_write_json
from nasxfer.progress.reporter import Reporter
from nasxfer.search.objectives import objective_of
from nasxfer.search.outcome import SearchOutcome
from nasxfer.search.space import SearchSpace
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import TrialRecord, TrialState

OPS = ["identity", "conv3x3", "mbconv_k3_e1"]
ENV = {"nasxfer": "0.1.0", "python": "3.11", "torch": "2.x", "device": "cpu", "device_name": "cpu", "git_revision": None}


def fake_curve(final_accuracy: float, epochs: int = 3) -> list[dict[str, float]]:
    return [
        {
            "epoch": e,
            "train_loss": 1.2 / e,
            "train_seconds": 0.5,
            "images_per_second": 900.0 + e,
            "val_loss": 1.0 / e,
            "val_accuracy": final_accuracy * e / epochs,
            "val_f1": final_accuracy * e / epochs - 0.01,
        }
        for e in range(1, epochs + 1)
    ]


def fake_record(number: int, accuracy: float | None, ops: list[str], lr: float = 0.05, params: float = 1000.0) -> TrialRecord:
    values = {"model.scratch.ops": ops, "train.lr": lr}
    if accuracy is None:
        return TrialRecord(number, f"k{number}", values, TrialState.FAILED, error="RuntimeError: <boom> | bad", seconds=0.4, seed=number)
    metrics = {
        "val_accuracy": accuracy,
        "val_f1": accuracy - 0.01,
        "val_loss": 1 - accuracy,
        "params": params,
        "images_per_second": 1234.5,
        "seconds_per_epoch": 0.5,
    }
    return TrialRecord(number, f"k{number}", values, TrialState.COMPLETE, metrics, fake_curve(accuracy), seconds=1.5 + number / 10, seed=number)


def make_fake_run(runs_dir, config_dict, trials: int = 8, failed: tuple[int, ...] = (3,), finetuned: bool = True, seed: int = 0) -> RunStore:
    """A run folder with ``trials`` finished trials (those in ``failed`` failed) and a final model."""
    config = validate_config(config_dict)
    store = RunStore.create(runs_dir, config, ENV)
    objective = objective_of(config)
    rng = random.Random(seed)
    for number in range(1, trials + 1):
        ops = [rng.choice(OPS), rng.choice(OPS)]
        accuracy = None if number in failed else round(rng.uniform(0.3, 0.95), 4)
        store.append("trial_started", number=number, key=f"k{number}", values={"model.scratch.ops": ops}, seed=number)
        store.record_trial(fake_record(number, accuracy, ops, lr=rng.uniform(0.01, 0.2), params=rng.choice([800.0, 1500.0, 4000.0, 20000.0])), objective)
    store.append("search_stopped", reason=f"trial budget reached ({trials} trials)", best=None)
    if finetuned:
        names = ["cat <b>", "dog & co", "bird"]  # markup in class names must stay text
        atomic_write_json(
            store.path / "final" / "metrics.json",
            {
                "trial": 2,
                "epochs": 2,
                "test_accuracy": 0.8,
                "test_f1": 0.79,
                "test_loss": 0.5,
                "params": 1500,
                "class_names": names,
                "per_class_accuracy": dict(zip(names, [0.9, 0.7, 0.8])),
                "confusion_matrix": [[9, 1, 0], [2, 7, 1], [1, 1, 8]],
                "seconds": 3.0,
            },
        )
    return store


def drive(reporter: Reporter, config, records, epochs: int = 2) -> None:
    """Send one search's hooks to ``reporter``, as the runner would."""
    space = SearchSpace.from_config(config)
    reporter.search_started("tiny-run", config, space)
    best = None
    for record in records:
        reporter.trial_started(record.number, record.values, epochs)
        for row in record.curve[:epochs]:
            reporter.epoch_finished(record.number, row, epochs)
        if record.state.value == "complete" and (best is None or record.metrics["val_accuracy"] > best.metrics["val_accuracy"]):
            best = record
        reporter.trial_finished(record, best)
    reporter.search_finished(SearchOutcome("tiny-run", list(records), best, "trial budget reached (3 trials)", 1.0))


# Three trials as reporters see them: a good one, a failure, a better one.
RECORDS = [fake_record(1, 0.6, ["identity", "conv3x3"]), fake_record(2, None, ["conv3x3", "conv3x3"]), fake_record(3, 0.8, ["identity", "identity"])]
