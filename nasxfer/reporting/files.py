"""Write a run's report folder: ``runs/<id>/report/`` with index.html, report.md, report.json, PNGs.

The folder is a view of the journal like the leaderboard: delete it and ``nasxfer report``
writes it again. Each file is written atomically, so a reader never sees half a page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasxfer.errors import NasxferError
from nasxfer.storage.atomic import atomic_write_bytes, atomic_write_text
from nasxfer.reporting.report import build_report, render_markdown
from nasxfer.storage.store import RunStore

REPORT_DIR = "report"
PLOT_NAMES = ("best_so_far", "pareto", "dimensions", "curves", "confusion")  # every plot plots.py can draw


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    html: Path
    markdown: Path
    json: Path
    plots: tuple[Path, ...]
    report: dict[str, Any]  # what was written, as build_report returned it


def write_report(store: RunStore, top: int | None = None) -> ReportFiles:
    """Build the report of ``store`` and write it, with its plots, into ``<run>/report/``."""
    from nasxfer.reporting.plots import report_plots  # matplotlib loads here, only when a report is written

    report = build_report(store, top=top)
    plots = report_plots(report)
    folder = store.path / REPORT_DIR
    try:
        return _write(folder, report, plots)
    except OSError as exc:
        raise NasxferError(f"report: cannot write '{folder}': {exc.strerror or exc}") from None


def _write(folder: Path, report: dict[str, Any], plots: list) -> ReportFiles:
    from nasxfer.reporting.html import render_html

    written = []
    for plot in plots:
        atomic_write_bytes(folder / plot.filename, plot.png)
        written.append(folder / plot.filename)
    # A plot that has lost its data (the final model was deleted, say) must not linger.
    for name in set(PLOT_NAMES) - {plot.name for plot in plots}:
        (folder / f"{name}.png").unlink(missing_ok=True)
    markdown = render_markdown(report, [(plot.title, plot.filename) for plot in plots])
    files = ReportFiles(folder, folder / "index.html", folder / "report.md", folder / "report.json", tuple(written), report)
    atomic_write_text(files.markdown, markdown)
    atomic_write_text(files.json, json.dumps(report, indent=2) + "\n")
    atomic_write_text(files.html, render_html(report, plots))
    return files


def compare_path(runs_dir: Path, run_ids: list[str]) -> Path:
    """The default file of ``nasxfer compare``: ``<runs-dir>/compare-<id>_vs_<id>….png``.

    It sits beside the runs it compares (``nasxfer runs`` lists folders only, so it is not
    mistaken for a run). Very long names are shortened with a hash so they stay valid.
    """
    name = "compare-" + "_vs_".join(run_ids)
    if len(name) > 150:
        digest = hashlib.sha256("\n".join(run_ids).encode()).hexdigest()[:10]
        name = f"compare-{run_ids[0][:80]}-and-{len(run_ids) - 1}-more-{digest}"
    return Path(runs_dir) / f"{name}.png"


def write_compare_plot(reports: list[dict[str, Any]], path: Path) -> Path:
    """Draw the runs' best-so-far curves into the PNG file ``path``."""
    from nasxfer.reporting.plots import compare_plot

    try:
        atomic_write_bytes(path, compare_plot(reports).png)
    except OSError as exc:
        raise NasxferError(f"compare: cannot write '{path}': {exc.strerror or exc}") from None
    return Path(path)
