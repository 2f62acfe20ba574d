"""Terminal reporters for ``nasxfer search``: a rich live view, plain lines when piped, JSON lines.

``make_reporter`` picks the terminal's reporter and adds the run folder's own: every run
writes ``search.log`` (plain, timestamped lines, whatever the terminal shows) and, with
``output.tensorboard: true``, TensorBoard scalars.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nasxfer.progress.eta import estimate, mean_trial_seconds, trials_target
from nasxfer.progress.reporter import MultiReporter, Reporter

_SHOWN_TRIALS = 12  # the live table keeps the most recent trials on screen
SEARCH_LOG = "search.log"


def make_reporter(
    console: Console,
    quiet: bool = False,
    log_format: str = "auto",
    run_dir: Path | None = None,
    tensorboard: bool = False,
) -> Reporter:
    """The reporter ``nasxfer search`` gives the runner.

    ``log_format``: ``auto`` is the live view on a terminal and plain lines otherwise,
    ``plain`` always plain lines, ``json`` one JSON object per event on stdout. With a
    ``run_dir`` the search also appends to ``<run_dir>/search.log`` and, with
    ``tensorboard``, writes ``<run_dir>/tensorboard/``. Call ``stop()`` when the search ends.
    """
    device = _device_of(run_dir) if run_dir is not None else None
    if log_format == "json":
        from nasxfer.progress.json_log import JsonLinesReporter

        terminal: Reporter = JsonLinesReporter(console.file, quiet=quiet)
    elif quiet or log_format == "plain" or not console.is_terminal:
        terminal = PlainReporter(console, quiet=quiet, device=device)
    else:
        terminal = LiveReporter(console, device=device)
    if run_dir is None:
        return terminal
    reporters = [terminal, LogFileReporter(Path(run_dir) / SEARCH_LOG, device=device)]
    if tensorboard:
        from nasxfer.progress.tensorboard_log import TENSORBOARD_DIR, TensorBoardReporter

        reporters.append(TensorBoardReporter(Path(run_dir) / TENSORBOARD_DIR))
    return MultiReporter(reporters)


def check_log_outputs(config: Any) -> None:
    """Fail before the run folder exists when the config asks for an output that cannot be written."""
    if config.output.tensorboard:
        from nasxfer.progress.tensorboard_log import require_tensorboard

        require_tensorboard()


def _device_of(run_dir: Path) -> str | None:
    """The device the run's env.json names, for the header; None when it cannot be read."""
    from nasxfer.storage.provenance import device_text

    try:
        env = json.loads((Path(run_dir) / "env.json").read_text())
    except (OSError, ValueError):
        return None
    text = device_text(env)
    return None if text == "-" else text


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


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

    def __init__(self, console: Console | None, quiet: bool = False, device: str | None = None) -> None:
        self.console = console
        self.quiet = quiet
        self.device = device
        self.metric = "val_accuracy"

    def _line(self, text: str) -> None:
        # markup off: values like [identity,conv3x3] are data, not rich tags
        self.console.print(text, highlight=False, soft_wrap=True, markup=False)

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        size = space.size
        size_text = "∞" if size == float("inf") else f"{int(size):,}"
        more = f", resuming after {resumed} trials" if resumed else ""
        device = f" on {self.device}" if self.device else ""
        self._line(
            f"run {run_id}: {config.search.strategy.name} search over {size_text} candidates{device}{more}; "
            f"budget {budget_text(config.search.budget)}"
        )

    def trial_started(self, number, values, epochs) -> None:
        if not self.quiet:
            self._line(f"trial {number} started: {_values_text(values)}")

    def epoch_finished(self, number, row, epochs) -> None:
        if not self.quiet:
            val = f" val_acc {row['val_accuracy']:.4f}" if "val_accuracy" in row else ""
            speed = f" {row['images_per_second']:.0f} img/s" if "images_per_second" in row else ""
            self._line(f"trial {number} epoch {row['epoch']}/{epochs} loss {row['train_loss']:.4f}{val}{speed}")

    def trial_finished(self, record, best) -> None:
        if self.quiet:
            return
        state = record.state.value
        if state in ("complete", "paused"):
            value = record.metrics.get(self.metric)
            best_text = f" (best {best.metrics.get(self.metric):.4f}, trial {best.number})" if best else ""
            what = "complete" if state == "complete" else f"paused after {record.epochs_reached} epoch{'s' if record.epochs_reached != 1 else ''}"
            self._line(f"trial {record.number} {what}: {self.metric} {value:.4f} in {record.seconds:.1f}s{best_text}")
        elif state == "pruned":
            self._line(f"trial {record.number} pruned after {record.epochs_reached} epoch{'s' if record.epochs_reached != 1 else ''}: {record.reason}")
        else:
            self._line(f"trial {record.number} failed: {record.error}")

    def search_finished(self, outcome) -> None:
        best = outcome.best
        best_text = f"best {self.metric} {best.metrics.get(self.metric):.4f} (trial {best.number})" if best else "no completed trial"
        count = getattr(outcome, "epochs", 0)
        epochs = f", {count} epoch{'s' if count != 1 else ''}" if count else ""
        trials = len(outcome.history)
        self._line(f"search stopped: {outcome.stop_reason}; {trials} trial{'s' if trials != 1 else ''}{epochs}, {best_text}")

    def message(self, text: str) -> None:
        self._line(text)


class LogFileReporter(PlainReporter):
    """The plain lines, each with a timestamp, appended to a file (a run's ``search.log``).

    Appending keeps the log of an earlier session when a search is resumed; line buffering
    lets ``tail -f`` follow a running search.
    """

    def __init__(self, path: Path, device: str | None = None) -> None:
        super().__init__(None, device=device)
        self.path = Path(path)
        self.file = self.path.open("a", encoding="utf-8", buffering=1)

    def _line(self, text: str) -> None:
        if not self.file.closed:
            self.file.write(f"{datetime.now().isoformat(timespec='seconds')} {text}\n")

    def stop(self) -> None:
        self.file.close()


def budget_text(budget) -> str:
    """``12 trials or 2 min, whichever ends first``: both budgets, as the search applies them."""
    parts = []
    if budget.trials is not None:
        parts.append(f"{budget.trials} trial{'s' if budget.trials != 1 else ''}")
    if budget.minutes is not None:
        parts.append(f"{budget.minutes:g} min (the running trial finishes)")
    if not parts:
        return "none (stops when the strategy has nothing left to propose)"
    return " or ".join(parts) + (", whichever ends first" if len(parts) == 2 else "")


class LiveReporter(PlainReporter):
    """A live view: finished trials with the running best, the current trial's epochs, time and ETA.

    rich redraws it four times a second from ``_render``, so the clocks tick between epochs.
    """

    def __init__(self, console: Console, device: str | None = None) -> None:
        super().__init__(console, device=device)
        self.rows: list[tuple[str, ...]] = []
        self.best_text = "-"
        self.header = ""
        self.started = time.monotonic()
        self.target_trials: int | None = None
        self.time_limit: float | None = None
        self.finished = 0  # trials in the journal, resumed ones included: the trial budget counts them
        self.numbers: set[int] = set()  # trials finished in this session
        self.session_seconds: list[float] = []  # durations of the trials finished in this session
        self.trial_started_at: float | None = None
        self.trial_fraction = 0.0
        self.ended: float | None = None  # set when the search ends: the clock stops there
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[values]}"),
            console=console,
        )
        self.task = None
        self.live = Live(console=console, refresh_per_second=4, transient=False, get_renderable=self._render)

    def _render(self):
        table = Table(title=self.header, title_justify="left", expand=False)
        for column in ("trial", self.metric, "best so far", "s"):
            table.add_column(column, justify="right")
        table.add_column("values", overflow="fold")
        for row in self.rows[-_SHOWN_TRIALS:]:
            table.add_row(*row)
        return Group(table, self._status(), self.progress)

    def _status(self) -> Text:
        now = time.monotonic()
        elapsed = (self.ended or now) - self.started
        if self.ended is not None:
            return Text(f"finished in {_clock(elapsed)} · trials {self.finished}", style="dim")
        current = now - self.trial_started_at if self.trial_started_at is not None else 0.0
        pace = mean_trial_seconds(self.session_seconds, current, self.trial_fraction)
        left = estimate(
            target_trials=self.target_trials,
            time_limit_seconds=self.time_limit,
            finished_trials=self.finished,
            mean_trial_seconds=pace,
            current_fraction=self.trial_fraction,
            elapsed_seconds=elapsed,
        )
        trials = f"{self.finished}/{self.target_trials}" if self.target_trials is not None else str(self.finished)
        parts = [f"elapsed {_clock(elapsed)}", f"trials {trials}"]
        if self.time_limit is not None:
            parts.append(f"time {_clock(min(elapsed, self.time_limit))}/{_clock(self.time_limit)}")
        if left.overtime:
            parts.append("time budget spent, finishing the current trial")
        elif left.binding and self.target_trials is not None and self.time_limit is not None:
            parts.append("the time budget binds" if left.binding == "minutes" else "the trial budget binds")
        parts.append(f"ETA {_clock(left.seconds)}" if left.seconds is not None else "ETA …")
        if self.device:
            parts.append(f"device {self.device}")
        return Text(" · ".join(parts), style="dim")

    def search_started(self, run_id, config, space, resumed=0) -> None:
        self.metric = config.search.objective.metric
        budget = config.search.budget
        self.target_trials = trials_target(budget.trials, space.size)
        self.time_limit = budget.minutes * 60 if budget.minutes is not None else None
        self.finished = resumed
        self.started = time.monotonic()
        size = "∞" if space.size == float("inf") else f"{int(space.size):,}"
        self.header = f"{run_id} · {config.search.strategy.name} · {size} candidates · budget {budget_text(budget)}"
        if resumed:
            self.header += f" · resumed after {resumed} trials"
        self.live.start(refresh=True)

    def trial_started(self, number, values, epochs) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.trial_started_at = time.monotonic()
        self.trial_fraction = 0.0
        self.task = self.progress.add_task(f"trial {number}", total=epochs, status="", values=escape(_values_text(values)[:70]))
        self.live.refresh()

    def epoch_finished(self, number, row, epochs) -> None:
        status = f"loss {row['train_loss']:.3f}"
        if "val_accuracy" in row:
            status += f" val {row['val_accuracy']:.3f}"
        status += f" {row['images_per_second']:.0f} img/s"
        self.trial_fraction = min(1.0, row["epoch"] / max(epochs, 1))
        self.progress.update(self.task, completed=row["epoch"], status=status)

    def trial_finished(self, record, best) -> None:
        state = record.state.value
        if state == "complete":
            value = f"{record.metrics.get(self.metric):.4f}"
        elif state in ("paused", "pruned"):
            value = f"{record.metrics.get(self.metric, float('nan')):.4f} [dim]{state} @{record.epochs_reached}[/dim]"
        else:
            value = f"[red]failed[/red] {escape(record.error[:40]) if record.error else ''}"
        if best is not None:
            self.best_text = f"{best.metrics.get(self.metric):.4f} (#{best.number})"
        values = escape(_values_text(record.values))
        self.rows.append((str(record.number), value, self.best_text, f"{record.seconds:.1f}", values))
        if record.number not in self.numbers:  # a promoted trial finishes again but counts once
            self.numbers.add(record.number)
            self.finished += 1
        self.session_seconds.append(record.seconds)
        self.trial_started_at = None
        self.trial_fraction = 0.0
        self.live.refresh()

    def search_finished(self, outcome) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
        self.ended = time.monotonic()
        self.live.refresh()
        self.live.stop()
        super().search_finished(outcome)

    def stop(self) -> None:
        """Leave the terminal clean when the search ends abnormally (Ctrl-C, error)."""
        if self.live.is_started:
            self.live.stop()
