"""``output.tensorboard: true``: per-epoch scalars of every trial, for TensorBoard.

Layout under ``runs/<id>/tensorboard/``: ``trial-0001/`` … one event folder per trial (its
epoch curve, step = epoch) and ``search/`` (each trial's metric and the running best,
step = trial number). ``tensorboard --logdir runs/<id>/tensorboard`` shows them side by side.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from nasxfer.errors import ConfigError
from nasxfer.progress.reporter import Reporter

TENSORBOARD_DIR = "tensorboard"
# Curve keys grouped into TensorBoard sections; anything else lands under "other/".
TAGS = {
    "train_loss": "train/loss",
    "val_loss": "val/loss",
    "val_accuracy": "val/accuracy",
    "val_f1": "val/f1",
    "images_per_second": "speed/images_per_second",
    "train_seconds": "speed/train_seconds",
}


def require_tensorboard() -> Callable[..., Any]:
    """torch's ``SummaryWriter``, or a one-line ConfigError that names the fix."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "output.tensorboard: true, but tensorboard is not installed "
            "(pip install tensorboard, or set output.tensorboard: false)"
        ) from None
    return SummaryWriter


class TensorBoardReporter(Reporter):
    """Writes scalars with ``writer_factory(log_dir=...)`` (torch's SummaryWriter unless a test passes one)."""

    def __init__(self, log_dir: Path, writer_factory: Callable[..., Any] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.writer_factory = writer_factory or require_tensorboard()
        self.metric = "val_accuracy"
        self.trial_writer = None
        self.search_writer = None

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        self.search_writer = self.writer_factory(log_dir=str(self.log_dir / "search"))

    def trial_started(self, number, values, epochs) -> None:
        self._close_trial()
        self.trial_writer = self.writer_factory(log_dir=str(self.log_dir / f"trial-{number:04d}"))
        self.trial_writer.add_text("values", json.dumps(values, indent=1), global_step=0)

    def epoch_finished(self, number, row, epochs) -> None:
        if self.trial_writer is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                self.trial_writer.add_scalar(TAGS.get(key, f"other/{key}"), value, global_step=int(row["epoch"]))

    def trial_finished(self, record, best) -> None:
        self._close_trial()
        if self.search_writer is None:
            return
        if record.state.value == "complete" and self.metric in record.metrics:
            self.search_writer.add_scalar(f"trial/{self.metric}", record.metrics[self.metric], global_step=record.number)
        if best is not None:
            self.search_writer.add_scalar(f"best/{self.metric}", best.metrics[self.metric], global_step=record.number)
        self.search_writer.flush()

    def search_finished(self, outcome) -> None:
        self.stop()

    def stop(self) -> None:
        self._close_trial()
        if self.search_writer is not None:
            self.search_writer.close()
            self.search_writer = None

    def _close_trial(self) -> None:
        if self.trial_writer is not None:
            self.trial_writer.close()
            self.trial_writer = None
