"""``--log-format json``: one JSON object per search event per line, for scripts.

Each line has ``event`` and ``time`` and the event's fields (listed in the README). Values
that JSON cannot hold (NaN, infinity) are written as null, so every line parses with any
strict JSON reader.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any, TextIO

from nasxfer.progress.reporter import Reporter


class JsonLinesReporter(Reporter):
    """Writes each hook as a JSON line to ``stream`` (stdout by default) and flushes it."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.metric = "val_accuracy"

    def _emit(self, event: str, **fields: Any) -> None:
        row = {"event": event, "time": datetime.now().isoformat(timespec="milliseconds"), **fields}
        stream = self.stream or sys.stdout
        stream.write(json.dumps(_finite(row), allow_nan=False) + "\n")
        stream.flush()  # a script reading the pipe sees each event when it happens

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        budget = config.search.budget
        self._emit(
            "search_started",
            run_id=run_id,
            strategy=config.search.strategy.name,
            objective={"metric": self.metric, "mode": config.search.objective.mode},
            space_size=None if space.size == float("inf") else int(space.size),
            budget={"trials": budget.trials, "minutes": budget.minutes},
            resumed=resumed,
        )

    def trial_started(self, number, values, epochs) -> None:
        if not self.quiet:
            self._emit("trial_started", trial=number, values=values, epochs=epochs)

    def epoch_finished(self, number, row, epochs) -> None:
        if not self.quiet:
            self._emit("epoch_finished", trial=number, epochs=epochs, **row)

    def trial_finished(self, record, best) -> None:
        if self.quiet:
            return
        self._emit(
            "trial_finished",
            trial=record.number,
            state=record.state.value,
            metric=record.metrics.get(self.metric),
            metrics=record.metrics,
            values=record.values,
            seconds=record.seconds,
            error=record.error,
            best=None if best is None else {"trial": best.number, "metric": best.metrics.get(self.metric)},
        )

    def search_finished(self, outcome) -> None:
        best = outcome.best
        self._emit(
            "search_finished",
            run_id=outcome.run_id,
            stop_reason=outcome.stop_reason,
            trials=len(outcome.history),
            epochs=getattr(outcome, "epochs", None),
            seconds=outcome.seconds,
            best=None if best is None else {"trial": best.number, "metric": best.metrics.get(self.metric), "values": best.values},
        )

    def message(self, text) -> None:
        self._emit("message", text=text)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
