"""What one search found, read from its run folder: a JSON-able summary, Markdown, the
leaderboard table. Views over several runs (``runs``, ``compare``) are in ``across_runs``.

``build_report`` is the single source: the table, the Markdown and ``--format json`` are
all views of its dict, whose keys are a stable schema for scripts (``schema`` versions it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nasxfer.errors import NasxferError
from nasxfer.reporting.analysis import best_so_far, dimension_effects, parameter_slices, pareto_points, short_value
from nasxfer.storage.provenance import device_text
from nasxfer.search.pareto import pareto_rank
from nasxfer.search.ranking import leaderboard
from nasxfer.reporting.importance import parameter_importance
from nasxfer.reporting.one_shot import one_shot_section
from nasxfer.reporting.screening import screen_section
from nasxfer.search.objectives import objective_of, objectives_of
from nasxfer.storage.run_status import run_status
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import ObjectiveSpec, TrialState, epochs_trained

REPORT_SCHEMA = 1
BEST_METRICS = ("val_accuracy", "val_f1", "params", "flops", "latency_ms", "memory_mb")  # beside the best trial's values
CURVE_TRIALS = 5  # learning curves of this many of the best trials
ENV_KEYS = ("nasxfer", "python", "torch", "device", "device_name", "git_revision", "started")
FINAL_KEYS = (
    "trial", "epochs", "test_accuracy", "test_f1", "test_loss", "params", "seconds",
    "class_names", "per_class_accuracy", "confusion_matrix",
)


def build_report(store: RunStore, top: int | None = None) -> dict[str, Any]:
    """Everything a report shows, as one JSON-able dict (the schema is in the README).

    ``top`` shortens the leaderboard only; the plot series cover every trial.
    """
    config = store.config()
    objective = objective_of(config)
    objectives = objectives_of(config)
    history = store.history()
    board = leaderboard(history, objectives)  # one rule for every view: search.ranking
    ranked = [record for _, record in board]
    ranks = {record.number: rank for rank, record in board}
    fronts = pareto_rank(history, objectives) if len(objectives) > 1 else {}
    best = objective.best(history)
    tied = objective.tied_with_best(history)  # search.cv: within one s.e. of the best
    # The trade-off plot: the two objectives when there are two, else accuracy against size.
    pareto_y, pareto_x = (objectives[0], objectives[1]) if len(objectives) == 2 else (
        ObjectiveSpec("val_accuracy", "max"), ObjectiveSpec("params", "min"))
    try:
        final = read_json(store.path / "final" / "metrics.json")
    except ValueError as exc:  # not JSON: written by hand, or by something else
        raise NasxferError(
            f"run '{store.run_id}': final/metrics.json is not a JSON file ({exc}); "
            f"run nasxfer finetune {store.run_id} again to rewrite it"
        ) from None
    env = read_json(store.path / "env.json") or {}
    events = list(store.events())
    stopped = [e for e in events if e.get("event") == "search_stopped"]
    status = run_status(store.path, events)
    rows = [
        {
            "rank": ranks[r.number],
            "trial": r.number,
            "state": r.state.value,
            "fidelity": r.fidelity,
            "pareto_front": fronts[r.number][0] if r.number in fronts else None,
            "epochs": r.epochs_reached,
            "backbone": backbone_of(config, r.values),
            "metric": r.metrics.get(objective.metric),
            "metric_se": objective.standard_error(r),
            "tied_with_best": r.number in tied,
            "val_accuracy": r.metrics.get("val_accuracy"),
            "val_f1": r.metrics.get("val_f1"),
            "params": r.metrics.get("params"),
            "flops": r.metrics.get("flops"),
            "latency_ms": r.metrics.get("latency_ms"),
            "memory_mb": r.metrics.get("memory_mb"),
            "images_per_second": r.metrics.get("images_per_second"),
            "seconds_per_epoch": r.metrics.get("seconds_per_epoch"),
            "seconds": round(r.seconds, 3),
            "values": r.values,
            "error": r.error,
            "reason": r.reason,
        }
        for r in ranked
    ]
    return {
        "schema": REPORT_SCHEMA,
        "run_id": store.run_id,
        "name": config.name,
        "status": {**status.as_dict(), "text": status.text(store.run_id)},
        "strategy": config.search.strategy.name,
        "backbone": backbone_of(config, best.values if best else {}),
        "objective": {"metric": objective.metric, "mode": objective.mode},
        "objectives": [{"metric": o.metric, "mode": o.mode} for o in objectives],
        "env": {key: env.get(key) for key in ENV_KEYS},
        "trials": {
            "total": len(history),
            "complete": sum(r.state is TrialState.COMPLETE for r in history),
            "failed": sum(r.state is TrialState.FAILED for r in history),
            "rejected": sum(r.state is TrialState.REJECTED for r in history),
            "paused": sum(r.state is TrialState.PAUSED for r in history),
            "pruned": sum(r.state is TrialState.PRUNED for r in history),
        },
        "scheduler": config.search.scheduler.name if config.search.scheduler else None,
        "epochs_trained": epochs_trained(history),
        "search_seconds": round(float(sum(r.seconds for r in history)), 3),
        "stop_reason": stopped[-1]["reason"] if stopped else None,
        "skipped_files": next((list(e.get("files", [])) for e in events if e.get("event") == "files_skipped"), []),
        "data": next(
            ({k: v for k, v in e.items() if k not in ("event", "time")} for e in events if e.get("event") == "data_summary"), None
        ),
        "best": None
        if best is None
        else {"trial": best.number, "metric": best.metrics.get(objective.metric), "values": best.values, "metrics": best.metrics},
        "leaderboard": rows[:top] if top else rows,
        "best_so_far": best_so_far(history, objective),
        "pareto": {
            "x": {"metric": pareto_x.metric, "mode": pareto_x.mode},
            "y": {"metric": pareto_y.metric, "mode": pareto_y.mode},
            "points": pareto_points(history, pareto_x, pareto_y),
        },
        "dimensions": dimension_effects(config.search.space, history, objective),
        "slices": parameter_slices(config.search.space, history, objective),
        "importance": parameter_importance(config.search.space, history, objective, seed=config.seed),
        "curves": [
            {"trial": r.number, "metric": r.metrics.get(objective.metric), "epochs": r.curve}
            for r in ranked[:CURVE_TRIALS]
            if objective.score(r) is not None and r.curve
        ],
        "final": None if final is None else {k: final[k] for k in FINAL_KEYS if k in final},
        "screen": screen_section(events, history, objective),
        "one_shot": one_shot_section(events, history, objective),
    }


def backbone_of(config: Any, values: dict[str, Any]) -> str:
    """The backbone a trial (``values``) of a run builds on: its name, ``factory:pkg.mod:fn``,
    or ``scratch`` for a network searched from scratch.

    A searched backbone (a candidate value: ``model.backbone.name``, ``model.backbone.factory``
    or a whole ``model.backbone`` dict) wins over the config's fixed one.
    """
    searched = values.get("model.backbone")
    if isinstance(searched, str):
        return searched
    if isinstance(searched, dict):
        return _backbone_text(searched.get("name"), searched.get("factory"))
    if "model.backbone.name" in values or "model.backbone.factory" in values:
        return _backbone_text(values.get("model.backbone.name"), values.get("model.backbone.factory"))
    backbone = getattr(config.model, "backbone", None)
    if backbone is None:
        return "scratch"
    return _backbone_text(getattr(backbone, "name", None), getattr(backbone, "factory", None))


def _backbone_text(name: Any, factory: Any) -> str:
    if name:
        return str(name)
    return f"factory:{factory}" if factory else "scratch"


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file of the run folder (``final/metrics.json``, ``env.json``), or None when absent."""
    return json.loads(path.read_text()) if path.is_file() else None


def render_markdown(report: dict[str, Any], plots: list[tuple[str, str]] = ()) -> str:
    """The report as Markdown; ``plots`` are ``(title, file name)`` pairs linked beside it."""
    metric = report["objective"]["metric"]
    lines = [
        f"# nasxfer run `{report['run_id']}`",
        "",
        f"- status: {report['status']['text']}",
        f"- strategy: {report['strategy']}; backbone: {report['backbone']}; "
        f"objective: {metric} ({report['objective']['mode']})",
        f"- trials: {trials_text(report['trials'])}; {report['epochs_trained']} epochs, "
        f"{report['search_seconds']:.1f} s of training",
    ]
    if report["env"].get("device"):
        lines.append(f"- device: {device_text(report['env'])}")
    if report["stop_reason"]:
        lines.append(f"- stopped: {report['stop_reason']}")
    if report["data"]:
        lines.append(f"- data: {data_text(report['data'])}")
    if report["skipped_files"]:
        lines.append(f"- unreadable image files left out: {len(report['skipped_files'])} ({', '.join(report['skipped_files'][:10])})")
    if report["final"]:
        f = report["final"]
        lines.append(f"- final model (trial {f['trial']}, {f['epochs']} epochs): test accuracy {f['test_accuracy']:.4f}, macro-F1 {f['test_f1']:.4f}")
    lines += [
        "",
        "## Leaderboard",
        "",
        *(["Metric ± standard error over the folds of `search.cv`; ≈ marks the trials within one "
           "standard error of the best (statistically tied with it).", ""]
          if any(row.get("metric_se") is not None for row in report["leaderboard"]) else []),
        f"| rank | trial | {metric} | params | img/s | s/epoch | seconds | values |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["leaderboard"]:
        values = ", ".join(f"{k}={short_value(v)}" for k, v in row["values"].items()).replace("|", "\\|")
        value = metric_text(row)
        lines.append(
            f"| {row['rank'] or ''} | {row['trial']} | {value} | {_fmt_int(row['params'])} | "
            f"{_fmt_int(row['images_per_second'])} | {_fmt_seconds(row['seconds_per_epoch'])} | {row['seconds']:.1f} | {values} |"
        )
    if report["best"]:
        lines += ["", f"## Best trial: {report['best']['trial']}", ""]
        metrics = report["best"]["metrics"]
        lines += [f"- {name}: {(_fmt_int if name in ('params', 'flops') else value_text)(metrics[name])}"
                  for name in BEST_METRICS if metrics.get(name) is not None]
        lines += [f"- `{k}`: `{short_value(v)}`" for k, v in report["best"]["values"].items()]
    if report.get("one_shot"):
        lines += ["", *one_shot_markdown(report["one_shot"], metric)]
    if report["importance"]:
        lines += ["", "## Parameter importance (fANOVA)", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| `{row['dimension']}` | {row['importance']:.2f} |" for row in report["importance"]]
    if plots:
        lines += ["", "## Plots", ""]
        for title, filename in plots:
            lines += [f"### {title}", "", f"![{title}]({filename})", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def one_shot_markdown(section: dict[str, Any], metric: str) -> list[str]:
    """The one-shot section's lines: the supernet's cost, then supernet score against standalone."""
    supernet = section["supernet"] or {}
    tau, rho = section["kendall_tau"], section["spearman"]
    lines = [
        "## One-shot: supernet score against standalone training",
        "",
        f"- supernet: {supernet.get('paths')} architectures, {supernet.get('epochs')} epochs "
        f"({supernet.get('images')} training images, {_fmt_seconds(supernet.get('train_seconds'))} s); "
        f"{section['scored']} candidates scored in {section['scoring_seconds']:.1f} s",
        f"- rank correlation over the {len(section['points'])} retrained: Kendall τ "
        f"{'n/a (under 3)' if tau is None else f'{tau:.2f}'}, Spearman ρ {'n/a' if rho is None else f'{rho:.2f}'}",
    ]
    if section["points"]:
        lines += ["", f"| trial | supernet {metric} | standalone {metric} | values |", "|---|---|---|---|"]
        for p in section["points"]:
            values = ", ".join(f"{k}={short_value(v)}" for k, v in p["values"].items()).replace("|", "\\|")
            lines.append(f"| {p['trial']} | {value_text(p['supernet'])} | {value_text(p['standalone'])} | {values} |")
    return lines


def leaderboard_table(report: dict[str, Any]):
    """A rich Table of the leaderboard (the CLI prints it)."""
    from rich.markup import escape
    from rich.table import Table

    metric = report["objective"]["metric"]
    objectives = report.get("objectives") or [report["objective"]]
    title = " · ".join(f"{o['metric']} ({o['mode']})" for o in objectives)
    table = Table(title=f"{report['run_id']} · {report['strategy']} · {title}")
    multi = len(objectives) > 1
    extra = [o["metric"] for o in objectives[1:] if o["metric"] not in ("params",)]
    columns = ["rank", "trial", *(["front"] if multi else []), metric, *extra, "params", "img/s", "s"]
    for column in columns:
        table.add_column(column, justify="right")
    table.add_column("values", overflow="fold")
    for row in report["leaderboard"]:
        value = metric_text(row) if row["state"] not in ("failed", "rejected") else f"[red]{row['state']}[/red]"
        values = escape(", ".join(f"{k.split('.')[-1]}={short_value(v)}" for k, v in row["values"].items()))
        if row["error"]:
            values += f"  [dim]{escape(row['error'][:80])}[/dim]"
        front = ["[bold]1 ★[/bold]" if row.get("pareto_front") == 1 else str(row.get("pareto_front") or "")] if multi else []
        table.add_row(
            str(row["rank"] or ""),
            str(row["trial"]),
            *front,
            value,
            *(_fmt_metric(row, m) for m in extra),
            _fmt_int(row["params"]),
            _fmt_int(row["images_per_second"]),
            f"{row['seconds']:.1f}",
            values,
        )
    return table


def _fmt_metric(row: dict[str, Any], metric: str) -> str:
    value = row.get(metric)
    return "-" if value is None else f"{value:.4g}"


def duration_text(seconds: float | None) -> str:
    """``42.0 s``, ``12.5 min``, ``3.2 h``."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def trials_text(trials: dict[str, int]) -> str:
    """``5 complete, 1 failed`` and, when there are any, paused and pruned ones."""
    parts = [f"{trials['complete']} complete", f"{trials['failed']} failed"]
    parts += [f"{trials[state]} {state}" for state in ("paused", "pruned") if trials.get(state)]
    return ", ".join(parts)


def metric_text(row: dict[str, Any]) -> str:
    """A leaderboard row's metric; a paused or pruned trial's says at which epoch it was measured.

    With ``search.cv``: ``0.9120 ± 0.0110``, and ``≈`` marks a trial statistically tied with
    the best (within one standard error of it)."""
    if row["state"] == "complete":
        text = value_text(row["metric"])
        if row.get("metric_se") is not None:
            text += f" ± {row['metric_se']:.4f}"
        return text + (" ≈" if row.get("tied_with_best") else "")
    if row["state"] in ("paused", "pruned") and row["metric"] is not None:
        return f"{value_text(row['metric'])} ({row['state']} @{row['epochs']})"
    return row["state"]


def value_text(value: Any) -> str:
    """A metric for a table cell: four decimals, ``-`` when unknown."""
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _fmt_int(value: Any) -> str:
    return "-" if value in (None, "") else f"{int(value):,}"


def _fmt_seconds(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}"


def data_text(data: dict) -> str:
    """One line for the report: classes, split sizes, imbalance, stored and trained sizes."""
    splits = " · ".join(f"{name} {sum(counts):,}" for name, counts in data["counts"].items())
    imbalance = "inf" if data["imbalance"] is None else f"{data['imbalance']:.1f}x"
    text = f"{data['dataset']}, {len(data['classes'])} classes, {data['channels']} channel{'s' if data['channels'] != 1 else ''}; {splits}; class imbalance {imbalance}"
    stored, (h, w) = data.get("stored_sizes"), data["image_size"]
    if stored:
        (sh, sw), (lh, lw) = stored["smallest"], stored["largest"]
        text += f"; stored {sw}x{sh}" + ("" if (sh, sw) == (lh, lw) else f" to {lw}x{lh}")
    return text + f", loaded at {w}x{h} ({data['resize']})"
