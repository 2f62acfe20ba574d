"""A fake evaluator with deterministic learning curves, for scheduler and pruner tests.

It behaves like ``TrainingEvaluator`` where the runner can tell: it saves a checkpoint
after every epoch through the real ``TrialCheckpoints``, continues from the latest one,
stops at ``stop_at_epoch``, asks ``should_prune`` and ``should_stop`` after each epoch,
and clears the checkpoints once a trial has trained all its epochs.
"""

from __future__ import annotations

from nasxfer.errors import TrainingInterrupted
from nasxfer.evaluation.outcome import TrialOutcome


def trial_number(trial_dir) -> int:
    """The trial's number from its folder: ``trials/0003`` in a run, ``nasxfer-trial-3-…`` in a worker."""
    name = trial_dir.name
    return int(name) if name.isdigit() else int(name.split("-")[2])


def quality(values) -> float:
    """Higher for more conv3x3 layers, then for a higher learning rate: distinct per candidate."""
    return sum(op == "conv3x3" for op in values["model.scratch.ops"]) / 4 + values["train.lr"]


def accuracy(values, epoch: int) -> float:
    """Rising with the epochs; curves never cross, so every rung ranks trials alike."""
    return round(quality(values) * epoch / (epoch + 1), 6)


class CurveEvaluator:
    def __init__(self):
        self.trained: list[tuple[int, int]] = []  # (trial number, epoch) for every epoch trained

    def prepare(self, config):
        pass

    def evaluate(self, config, *, seed, trial_dir, values, on_epoch=None, checkpoints=None,
                 should_stop=None, stop_at_epoch=None, should_prune=None):
        full = config.train.epochs
        last = min(stop_at_epoch or full, full)
        state = checkpoints.latest() if checkpoints is not None else None
        curve = list(state["curve"]) if state else []
        number = trial_number(trial_dir)
        for epoch in range(len(curve) + 1, last + 1):
            row = {"epoch": epoch, "train_loss": 1.0 / epoch, "images_per_second": 100.0,
                   "val_accuracy": accuracy(values, epoch)}
            curve.append(row)
            self.trained.append((number, epoch))
            if checkpoints is not None:
                checkpoints.save({"epoch": epoch, "curve": curve}, epoch)
            if on_epoch:
                on_epoch(row)
            if epoch == last or (should_prune and should_prune(row)):
                break
            if should_stop and should_stop():
                raise TrainingInterrupted(epoch)
        if checkpoints is not None and len(curve) >= full:
            checkpoints.clear()
        return TrialOutcome({"val_accuracy": curve[-1]["val_accuracy"], "epochs": float(len(curve))}, curve)
