"""Terminal reporters for ``nasxfer search``: a rich live view, or plain lines when piped."""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nasxfer.reporting import Reporter

_SHOWN_TRIALS = 12  # the live table keeps the most recent trials on screen


def make_reporter(console: Console, quiet: bool = False) -> Reporter:
    if quiet:
        return PlainReporter(console, quiet=True)
    return LiveReporter(console) if console.is_terminal else PlainReporter(console)


def _values_text(values: dict[str, Any]) -> str:
    parts = []
    for path, value in values.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, list):
            value = "[" + ",".join(map(str, value)) + "]"
        parts.append(f"{path.split('.')[-1]}={value}")
    return " ".join(parts)


class PlainReporter(Reporter):
    """One line per event, for logs and pipes; ``quiet`` keeps only the start and the end."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.metric = "val_accuracy"

    def _line(self, text: str) -> None:
        # markup off: values like [identity,conv3x3] are data, not rich tags
        self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        size = space.size
        size_text = "∞" if size == float("inf") else f"{int(size):,}"
        more = f", resuming after {resumed} trials" if resumed else ""
        self._line(f"run {run_id}: {config.search.strategy.name} search over {size_text} candidates{more}")

    def trial_started(self, number, values, epochs) -> None:
        if not self.quiet:
            self._line(f"trial {number} started: {_values_text(values)}")

    def epoch_finished(self, number, row, epochs) -> None:
        if not self.quiet:
            val = f" val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
            self._line(f"trial {number} epoch {row['epoch']}/{epochs} loss {row['train_loss']:.4f}{val}")

    def trial_finished(self, record, best) -> None:
        if self.quiet:
            return
        if record.state.value == "complete":
            value = record.metrics.get(self.metric)
            best_text = f" (best {best.metrics.get(self.metric):.4f}, trial {best.number})" if best else ""
            self._line(f"trial {record.number} complete: {self.metric} {value:.4f} in {record.seconds:.1f}s{best_text}")
        else:
            self._line(f"trial {record.number} failed: {record.error}")

    def search_finished(self, outcome) -> None:
        best = outcome.best
        best_text = f"best {self.metric} {best.metrics.get(self.metric):.4f} (trial {best.number})" if best else "no completed trial"
        self._line(f"search stopped: {outcome.stop_reason}; {len(outcome.history)} trials, {best_text}")

    def message(self, text: str) -> None:
        self._line(text)


class LiveReporter(PlainReporter):
    """A live table of finished trials with the running best, and the current trial's progress."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.rows: list[tuple[str, ...]] = []
        self.best_text = "-"
        self.header = ""
        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = None
        self.live = Live(console=console, refresh_per_second=4, transient=False)

    def _render(self):
        table = Table(title=self.header, title_justify="left", expand=False)
        for column in ("trial", self.metric, "best so far", "s", "values"):
            table.add_column(column, overflow="fold")
        for row in self.rows[-_SHOWN_TRIALS:]:
            table.add_row(*row)
        return Group(table, self.progress)

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        size = "∞" if space.size == float("inf") else f"{int(space.size):,}"
        self.header = f"{run_id} · {config.search.strategy.name} · {size} candidates"
        if resumed:
            self.header += f" · resumed after {resumed} trials"
        self.live.start()
        self.live.update(self._render())

    def trial_started(self, number, values, epochs) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"trial {number}", total=epochs, status=escape(_values_text(values)[:60]))
        self.live.update(self._render())

    def epoch_finished(self, number, row, epochs) -> None:
        status = f"loss {row['train_loss']:.3f}"
        if "val_accuracy" in row:
            status += f" val {row['val_accuracy']:.3f}"
        status += f" {row['images_per_second']:.0f} img/s"
        self.progress.update(self.task, completed=row["epoch"], status=status)

    def trial_finished(self, record, best) -> None:
        if record.state.value == "complete":
            value = f"{record.metrics.get(self.metric):.4f}"
        else:
            value = f"[red]failed[/red] {escape(record.error[:40]) if record.error else ''}"
        if best is not None:
            self.best_text = f"{best.metrics.get(self.metric):.4f} (#{best.number})"
        values = escape(_values_text(record.values))
        self.rows.append((str(record.number), value, self.best_text, f"{record.seconds:.1f}", values))
        self.live.update(self._render())

    def search_finished(self, outcome) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.live.update(self._render())
        self.live.stop()
        super().search_finished(outcome)

    def stop(self) -> None:
        """Leave the terminal clean when the search ends abnormally (Ctrl-C, error)."""
        if self.live.is_started:
            self.live.stop()
