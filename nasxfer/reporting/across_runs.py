"""Views over several runs: ``nasxfer compare`` (full reports side by side) and ``nasxfer
runs`` (a cheap summary per run folder, read without building a report)."""

from __future__ import annotations

from typing import Any

from nasxfer.reporting.report import duration_text, read_json, value_text
from nasxfer.search.objectives import objective_of
from nasxfer.search.trial import TrialRecord
from nasxfer.storage.provenance import device_text
from nasxfer.storage.run_status import run_status
from nasxfer.storage.store import RunStore, list_runs


def compare_rows(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One JSON-able row per report: what ``compare_table`` shows, unformatted (``compare --json``)."""
    return [
        {
            "run_id": report["run_id"],
            "status": report["status"],
            "strategy": report["strategy"],
            "backbone": report["backbone"],
            "objective": report["objective"],
            "best": None if report["best"] is None else {"trial": report["best"]["trial"], "metric": report["best"]["metric"]},
            "trials": report["trials"],
            "search_seconds": report["search_seconds"],
            "final_test_accuracy": report["final"]["test_accuracy"] if report["final"] else None,
            "device": device_text(report["env"]),
        }
        for report in reports
    ]


def _short_status(status: dict[str, Any]) -> str:
    """A status for a table cell: the state, with the pid of a running search."""
    return f"running (pid {status['pid']})" if status["state"] == "running" else status["state"]


def compare_table(reports: list[dict[str, Any]]):
    """A rich Table with one row per report, for ``nasxfer compare``."""
    from rich.markup import escape
    from rich.table import Table

    objectives = {f"{r['objective']['metric']} ({r['objective']['mode']})" for r in reports}
    shared = objectives.pop() if len(objectives) == 1 else None
    table = Table(title="runs side by side" + (f" · {shared}" if shared else ""))
    columns = ["run id", "status", "strategy", "backbone", "best", "trials", "time", "final test acc", "device"]
    if not shared:  # runs ranked by different metrics: say which, next to the number
        columns.insert(4, "objective")
    for column in columns:
        numeric = column in ("best", "trials", "time", "final test acc")
        if column == "run id":  # never shortened or split: people copy it into the next command
            table.add_column(column, no_wrap=True, min_width=max(len(r["run_id"]) for r in reports))
        else:
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for report in reports:
        best = report["best"]
        trials = report["trials"]
        cells = [
            escape(report["run_id"]),
            escape(_short_status(report["status"])),
            escape(report["strategy"]),
            escape(report["backbone"]),
            f"{value_text(best['metric'])} (#{best['trial']})" if best else "-",
            f"{trials['complete']}/{trials['total']}" + (f" ({trials['failed']} failed)" if trials["failed"] else ""),
            duration_text(report["search_seconds"]),
            value_text(report["final"]["test_accuracy"]) if report["final"] else "-",
            escape(device_text(report["env"])),
        ]
        if not shared:
            cells.insert(4, f"{report['objective']['metric']} ({report['objective']['mode']})")
        table.add_row(*cells)
    return table


def runs_table(runs_dir):
    """A rich Table with one row per run folder (``run_summary``: no full report is built)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"runs in {runs_dir}")
    stores = list_runs(runs_dir)
    # the id is never shortened or split: people copy it into the next command
    table.add_column("run id", no_wrap=True, min_width=max((len(s.run_id) for s in stores), default=6))
    for column in ("status", "strategy", "trials", "best", "final test acc"):
        table.add_column(column)
    for store in stores:
        try:
            summary = run_summary(store)
        except Exception as exc:  # one unreadable run must not hide the others
            table.add_row(store.run_id, "?", "?", "?", f"[red]unreadable: {type(exc).__name__}[/red]", "")
            continue
        best = summary["best"]
        table.add_row(
            store.run_id,
            escape(_short_status(summary["status"])),
            summary["strategy"],
            str(summary["trials"]),
            f"{value_text(best['metric'])} (trial {best['trial']})" if best else "-",
            value_text(summary["final_test_accuracy"]),
        )
    return table


def runs_rows(runs_dir) -> list[dict[str, Any]]:
    """``run_summary`` of every run (``nasxfer runs --json``); an unreadable run says why."""
    rows = []
    for store in list_runs(runs_dir):
        try:
            rows.append(run_summary(store))
        except Exception as exc:  # noqa: BLE001 - one unreadable run must not hide the others
            rows.append({"run_id": store.run_id, "error": f"unreadable: {type(exc).__name__}"})
    return rows


def run_summary(store: RunStore) -> dict[str, Any]:
    """What ``nasxfer runs`` shows of a run, read cheaply: its config, one pass over the
    journal, the final metrics file and whether the lock is held; no leaderboard, plots or
    analysis (``build_report`` is the full view)."""
    config = store.config()
    objective = objective_of(config)
    events = list(store.events())
    finished = {e["trial"]["number"]: e["trial"] for e in events if e.get("event") == "trial_finished"}
    best = objective.best([TrialRecord.from_json(trial) for trial in finished.values()])
    final = read_json(store.path / "final" / "metrics.json")
    return {
        "run_id": store.run_id,
        "name": config.name,
        "status": run_status(store.path, events).as_dict(),
        "strategy": config.search.strategy.name,
        "trials": len(finished),
        "best": None if best is None else {"trial": best.number, "metric": best.metrics.get(objective.metric)},
        "final_test_accuracy": None if final is None else final.get("test_accuracy"),
    }
