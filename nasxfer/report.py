"""What a search found, read from the run folder: a JSON-able summary, Markdown, rich tables.

``build_report`` is the single source: the table, the Markdown and ``--format json`` are
all views of its dict, whose keys are a stable schema for scripts (``schema`` versions it).
"""

from __future__ import annotations

import json
from typing import Any

from nasxfer.runner import objective_of
from nasxfer.store import RunStore, list_runs
from nasxfer.trial import TrialState

REPORT_SCHEMA = 1


def build_report(store: RunStore, top: int | None = None) -> dict[str, Any]:
    config = store.config()
    objective = objective_of(config)
    history = store.history()
    ranked = objective.ranked(history)
    best = objective.best(history)
    final_path = store.path / "final" / "metrics.json"
    final = json.loads(final_path.read_text()) if final_path.is_file() else None
    stopped = [e for e in store.events() if e.get("event") == "search_stopped"]
    rows = [
        {
            "rank": i + 1 if objective.score(r) is not None else None,
            "trial": r.number,
            "state": r.state.value,
            "metric": r.metrics.get(objective.metric),
            "val_accuracy": r.metrics.get("val_accuracy"),
            "val_f1": r.metrics.get("val_f1"),
            "params": r.metrics.get("params"),
            "seconds": round(r.seconds, 3),
            "values": r.values,
            "error": r.error,
        }
        for i, r in enumerate(ranked)
    ]
    return {
        "schema": REPORT_SCHEMA,
        "run_id": store.run_id,
        "name": config.name,
        "strategy": config.search.strategy.name,
        "objective": {"metric": objective.metric, "mode": objective.mode},
        "trials": {
            "total": len(history),
            "complete": sum(r.state is TrialState.COMPLETE for r in history),
            "failed": sum(r.state is TrialState.FAILED for r in history),
        },
        "search_seconds": round(sum(r.seconds for r in history), 3),
        "stop_reason": stopped[-1]["reason"] if stopped else None,
        "best": None
        if best is None
        else {"trial": best.number, "metric": best.metrics.get(objective.metric), "values": best.values, "metrics": best.metrics},
        "leaderboard": rows[:top] if top else rows,
        "final": None
        if final is None
        else {k: final[k] for k in ("trial", "epochs", "test_accuracy", "test_f1", "test_loss", "params") if k in final},
    }


def render_markdown(report: dict[str, Any]) -> str:
    metric = report["objective"]["metric"]
    lines = [
        f"# nasxfer run `{report['run_id']}`",
        "",
        f"- strategy: {report['strategy']}; objective: {metric} ({report['objective']['mode']})",
        f"- trials: {report['trials']['complete']} complete, {report['trials']['failed']} failed; "
        f"{report['search_seconds']:.1f} s of training",
    ]
    if report["stop_reason"]:
        lines.append(f"- stopped: {report['stop_reason']}")
    if report["final"]:
        f = report["final"]
        lines.append(f"- final model (trial {f['trial']}, {f['epochs']} epochs): test accuracy {f['test_accuracy']:.4f}, macro-F1 {f['test_f1']:.4f}")
    lines += ["", "## Leaderboard", "", f"| rank | trial | {metric} | params | seconds | values |", "|---|---|---|---|---|---|"]
    for row in report["leaderboard"]:
        values = ", ".join(f"{k}={_short(v)}" for k, v in row["values"].items())
        value = _fmt(row["metric"]) if row["state"] == "complete" else row["state"]
        lines.append(f"| {row['rank'] or ''} | {row['trial']} | {value} | {_fmt_int(row['params'])} | {row['seconds']:.1f} | {values} |")
    if report["best"]:
        lines += ["", f"## Best trial: {report['best']['trial']}", ""]
        lines += [f"- `{k}`: `{_short(v)}`" for k, v in report["best"]["values"].items()]
    return "\n".join(lines) + "\n"


def leaderboard_table(report: dict[str, Any]):
    """A rich Table of the leaderboard (the CLI prints it)."""
    from rich.markup import escape
    from rich.table import Table

    metric = report["objective"]["metric"]
    table = Table(title=f"{report['run_id']} · {report['strategy']} · {metric} ({report['objective']['mode']})")
    for column, justify in (("rank", "right"), ("trial", "right"), (metric, "right"), ("params", "right"), ("s", "right")):
        table.add_column(column, justify=justify)
    table.add_column("values", overflow="fold")
    for row in report["leaderboard"]:
        value = _fmt(row["metric"]) if row["state"] == "complete" else f"[red]{row['state']}[/red]"
        values = escape(", ".join(f"{k.split('.')[-1]}={_short(v)}" for k, v in row["values"].items()))
        if row["error"]:
            values += f"  [dim]{escape(row['error'][:80])}[/dim]"
        table.add_row(str(row["rank"] or ""), str(row["trial"]), value, _fmt_int(row["params"]), f"{row['seconds']:.1f}", values)
    return table


def runs_table(runs_dir):
    """A rich Table with one row per run folder."""
    from rich.table import Table

    table = Table(title=f"runs in {runs_dir}")
    for column in ("run id", "strategy", "trials", "best", "final test acc"):
        table.add_column(column)
    for store in list_runs(runs_dir):
        try:
            report = build_report(store, top=1)
        except Exception as exc:  # one unreadable run must not hide the others
            table.add_row(store.run_id, "?", "?", f"[red]unreadable: {type(exc).__name__}[/red]", "")
            continue
        best = report["best"]
        table.add_row(
            store.run_id,
            report["strategy"],
            str(report["trials"]["total"]),
            f"{_fmt(best['metric'])} (trial {best['trial']})" if best else "-",
            _fmt(report["final"]["test_accuracy"]) if report["final"] else "-",
        )
    return table


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _fmt_int(value: Any) -> str:
    return "-" if value in (None, "") else f"{int(value):,}"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)
