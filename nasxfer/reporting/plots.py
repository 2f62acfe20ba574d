"""PNG plots of a report dict: best so far, Pareto front, parameter importance and slices,
dimension effects, curves, confusion.

Every plot reads only the dict that ``report.build_report`` returns, so a plot shows the same
numbers as ``--format json``. Figures are drawn on matplotlib's Agg canvas without pyplot:
no global figure registry, no GUI backend, nothing left open between reports. Import this
module only when writing a report: matplotlib takes a second to import.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

MAX_DIMENSION_PANELS = 24  # beyond this a dimension figure is unreadable; the table has the rest
MAX_ANNOTATED_CLASSES = 20  # confusion cells get their counts written in up to this many classes
DPI = 100
BEST_COLOR = "#1f77b4"
TRIAL_COLOR = "#9aa5b1"
FAILED_COLOR = "#d62728"


@dataclass(frozen=True)
class Plot:
    """One rendered figure: ``name`` is its file stem, ``png`` the encoded image."""

    name: str
    title: str
    caption: str
    png: bytes

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


def report_plots(report: dict[str, Any]) -> list[Plot]:
    """Every plot the report has data for, in reading order (plots without data are left out)."""
    metric = report["objective"]["metric"]
    plots = []
    if any(row["best_so_far"] is not None for row in report["best_so_far"]):
        plots.append(
            Plot(
                "best_so_far",
                f"Best {metric} so far",
                f"The running best {metric} against trial number and against training time "
                "(the sum of the trials' seconds). Grey dots are single trials, red crosses failed ones.",
                _png(best_so_far_figure(report)),
            )
        )
    if report["pareto"]["points"]:
        pareto = report["pareto"]
        plots.append(
            Plot(
                "pareto",
                f"{pareto['y']['metric']} against {pareto['x']['metric']}",
                "Each completed trial; the labelled, connected points are the Pareto front "
                f"(no other trial has both fewer {pareto['x']['metric']} and a higher {pareto['y']['metric']}).",
                _png(pareto_figure(report)),
            )
        )
    if report["importance"]:
        plots.append(
            Plot(
                "importance",
                "Which searched parameters mattered",
                f"fANOVA importance (Optuna): the share of the variance of {metric} over the complete trials "
                "that a random-forest model of it attributes to each parameter. With few trials, a rough guide.",
                _png(importance_figure(report)),
            )
        )
    if any(s["points"] for s in report["slices"]):
        plots.append(
            Plot(
                "slices",
                f"{metric} against each searched parameter",
                f"One dot per complete trial: its value of the parameter and its {metric}; the best trial in blue.",
                _png(slices_figure(report)),
            )
        )
    if any(value["count"] for dim in report["dimensions"] for value in dim["values"]):
        plots.append(
            Plot(
                "dimensions",
                f"{metric} by value of each searched choice",
                f"Dot: mean {metric} of the trials with that value; thick bar: ± one standard deviation; "
                "thin line: min to max; n: number of trials.",
                _png(dimensions_figure(report)),
            )
        )
    screen = report.get("screen")
    if screen and screen["points"]:
        plots.append(
            Plot(
                "screen",
                f"Screening score against {metric}",
                f"Each trained trial that search.screen scored before training: its score and its {metric}, "
                "with Spearman's rank correlation over them (near 1: the screen ordered them as training did).",
                _png(screen_figure(report)),
            )
        )
    one_shot = report.get("one_shot")
    if one_shot and one_shot["points"]:
        plots.append(
            Plot(
                "one_shot",
                f"Supernet score against standalone {metric}",
                f"Each retrained candidate: its {metric} on the supernet's shared weights (x) and trained on its own (y). "
                "Kendall's τ near 1: the supernet ordered them as standalone training did; the supernet's numbers are "
                "lower than standalone ones, so only the order matters.",
                _png(one_shot_figure(report)),
            )
        )
    if report["curves"]:
        plots.append(
            Plot(
                "curves",
                "Learning curves of the best trials",
                "Validation accuracy and training loss per epoch of the best trials.",
                _png(curves_figure(report)),
            )
        )
    final = report["final"]
    if final and final.get("confusion_matrix"):
        plots.append(
            Plot(
                "confusion",
                "Test confusion matrix of the final model",
                "Rows: true class; columns: predicted class; colour: share of the row.",
                _png(confusion_figure(final)),
            )
        )
    return plots


def compare_plot(reports: list[dict[str, Any]]) -> Plot:
    """The best-so-far curves of several runs on shared axes, for ``nasxfer compare``."""
    figure, (by_trial, by_time) = _figure(1, 2, (11, 4))
    metrics = {report["objective"]["metric"] for report in reports}
    longest = max((row["elapsed_seconds"] for report in reports for row in report["best_so_far"]), default=0.0)
    scale, unit = _time_scale(longest)  # one time axis for every run
    for report in reports:
        rows = [row for row in report["best_so_far"] if row["best_so_far"] is not None]
        label = report["run_id"] if len(metrics) == 1 else f"{report['run_id']} ({report['objective']['metric']})"
        if not rows:
            continue
        best = [r["best_so_far"] for r in rows]
        line = by_trial.plot([r["trial"] for r in rows], best, drawstyle="steps-post", marker=".", label=label)
        by_time.plot([r["elapsed_seconds"] / scale for r in rows], best, drawstyle="steps-post", marker=".", color=line[0].get_color())
    ylabel = f"best {metrics.pop()} so far" if len(metrics) == 1 else "best objective so far"
    by_trial.set(xlabel="trial", ylabel=ylabel)
    by_trial.xaxis.get_major_locator().set_params(integer=True)
    by_time.set(xlabel=f"training time ({unit})", ylabel=ylabel)
    for axes in (by_trial, by_time):
        axes.grid(alpha=0.3)
    if by_trial.lines:
        by_trial.legend(fontsize="small")
    return Plot("compare", "Best so far, run by run", "", _png(figure))


# --------------------------------------------------------------------------- figures


def best_so_far_figure(report: dict[str, Any]) -> Figure:
    metric = report["objective"]["metric"]
    rows = report["best_so_far"]
    scale, unit = _time_scale(max(r["elapsed_seconds"] for r in rows))
    figure, axes_pair = _figure(1, 2, (11, 4))
    for axes, x_key, xlabel, divide in (
        (axes_pair[0], "trial", "trial", 1.0),
        (axes_pair[1], "elapsed_seconds", f"training time ({unit})", scale),
    ):
        done = [r for r in rows if r["metric"] is not None]
        axes.scatter([r[x_key] / divide for r in done], [r["metric"] for r in done], s=14, color=TRIAL_COLOR, label="trial", zorder=2)
        best = [r for r in rows if r["best_so_far"] is not None]
        axes.plot(
            [r[x_key] / divide for r in best], [r["best_so_far"] for r in best],
            drawstyle="steps-post", color=BEST_COLOR, linewidth=2, label="best so far", zorder=3,
        )
        failed = [r for r in rows if r["state"] == "failed"]
        if failed:
            low = min(r["metric"] for r in done)
            axes.scatter([r[x_key] / divide for r in failed], [low] * len(failed), marker="x", color=FAILED_COLOR, label="failed", zorder=2)
        axes.set(xlabel=xlabel, ylabel=metric)
        axes.grid(alpha=0.3)
    axes_pair[0].xaxis.get_major_locator().set_params(integer=True)
    axes_pair[0].legend(fontsize="small")
    return figure


def pareto_figure(report: dict[str, Any]) -> Figure:
    pareto = report["pareto"]
    points = pareto["points"]
    front = [p for p in points if p["front"]]
    figure, axes = _figure(1, 1, (6.5, 4.5))
    axes.scatter([p["x"] for p in points], [p["y"] for p in points], s=16, color=TRIAL_COLOR, label="trial", zorder=2)
    axes.plot([p["x"] for p in front], [p["y"] for p in front], marker="o", drawstyle="steps-post", color=BEST_COLOR, label="Pareto front", zorder=3)
    for p in front:
        axes.annotate(f"#{p['trial']}", (p["x"], p["y"]), textcoords="offset points", xytext=(4, 4), fontsize="small")
    xs = [p["x"] for p in points]
    if min(xs) > 0 and max(xs) / min(xs) > 10:  # parameter counts span orders of magnitude
        axes.set_xscale("log")
    axes.set(xlabel=_objective_label(pareto["x"]), ylabel=_objective_label(pareto["y"]))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def screen_figure(report: dict[str, Any]) -> Figure:
    screen = report["screen"]
    names = screen["scores"]
    figure, axes = _figure(1, len(names), (4.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        points = [p for p in screen["points"] if p["scores"].get(name) is not None and p["metric"] is not None]
        ax.scatter([p["scores"][name] for p in points], [p["metric"] for p in points], s=16, color=TRIAL_COLOR, zorder=2)
        rho = screen["spearman"].get(name)
        ax.set_title(f"{name}: Spearman ρ = {rho:.2f}" if rho is not None else f"{name}: too few trials for ρ", fontsize="medium")
        ax.set(xlabel=name, ylabel=report["objective"]["metric"])
        ax.grid(alpha=0.3)
    return figure


def one_shot_figure(report: dict[str, Any]) -> Figure:
    section = report["one_shot"]
    metric = report["objective"]["metric"]
    figure, ax = _figure(1, 1, (5, 4))
    points = [p for p in section["points"] if p["supernet"] is not None and p["standalone"] is not None]
    ax.scatter([p["supernet"] for p in points], [p["standalone"] for p in points], s=18, color=TRIAL_COLOR, zorder=2)
    for p in points:
        ax.annotate(str(p["trial"]), (p["supernet"], p["standalone"]), fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    tau = section["kendall_tau"]
    ax.set_title(f"Kendall τ = {tau:.2f}" if tau is not None else "too few retrained candidates for τ", fontsize="medium")
    ax.set(xlabel=f"supernet {metric}", ylabel=f"standalone {metric}")
    ax.grid(alpha=0.3)
    return figure


def dimensions_figure(report: dict[str, Any]) -> Figure:
    metric = report["objective"]["metric"]
    dims = report["dimensions"][:MAX_DIMENSION_PANELS]
    columns = min(3, len(dims))
    rows = math.ceil(len(dims) / columns)
    tallest = max(sum(1 for v in d["values"] if v["count"]) for d in dims)
    figure, grid = _figure(rows, columns, (4.2 * columns, (0.9 + 0.32 * tallest) * rows), squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(dims):
            axes.set_visible(False)
            continue
        dim = dims[index]
        values = [value for value in dim["values"] if value["count"]]  # untried values: in the table only
        positions = list(range(len(values)))
        for y, value in zip(positions, values):
            axes.plot([value["min"], value["max"]], [y, y], color=TRIAL_COLOR, linewidth=1, zorder=1)
            # mean ± std, cut to the trials' own range: accuracy never draws past 1.0
            low = max(value["min"], value["mean"] - (value["std"] or 0))
            high = min(value["max"], value["mean"] + (value["std"] or 0))
            axes.plot([low, high], [y, y], color=BEST_COLOR, linewidth=3, solid_capstyle="butt", zorder=2)
            axes.plot([value["mean"]], [y], "o", color=BEST_COLOR, zorder=3)
            axes.annotate(f"n={value['count']}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                          textcoords="offset points", va="center", fontsize="x-small")
        axes.set_yticks(positions, [v["label"] for v in values], fontsize="small")
        axes.set_ylim(-0.6, len(positions) - 0.4)
        axes.invert_yaxis()
        axes.set_title(dim["dimension"], fontsize="small")
        axes.set_xlabel(metric, fontsize="small")
        axes.grid(axis="x", alpha=0.3)
    return figure


def importance_figure(report: dict[str, Any]) -> Figure:
    rows = report["importance"][:MAX_DIMENSION_PANELS]
    figure, axes = _figure(1, 1, (7, 0.9 + 0.32 * len(rows)))
    positions = list(range(len(rows)))
    axes.barh(positions, [r["importance"] for r in rows], color=BEST_COLOR)
    for y, row in zip(positions, rows):
        axes.annotate(f"{row['importance']:.2f}", (row["importance"], y), xytext=(3, 0), textcoords="offset points",
                      va="center", fontsize="x-small")
    axes.set_yticks(positions, [r["dimension"] for r in rows], fontsize="small")
    axes.invert_yaxis()
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("importance (shares sum to 1)", fontsize="small")
    axes.grid(axis="x", alpha=0.3)
    return figure


def slices_figure(report: dict[str, Any]) -> Figure:
    metric = report["objective"]["metric"]
    best = report["best"]["trial"] if report["best"] else None
    slices = [s for s in report["slices"] if s["points"]][:MAX_DIMENSION_PANELS]
    columns = min(3, len(slices))
    rows = math.ceil(len(slices) / columns)
    figure, grid = _figure(rows, columns, (4.2 * columns, 3.2 * rows), squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(slices):
            axes.set_visible(False)
            continue
        panel = slices[index]
        points = panel["points"]
        if panel["numeric"]:
            xs = [p["value"] for p in points]
            if panel["log"]:
                axes.set_xscale("log")
                axes.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a short log axis overlap
        else:  # choices side by side (by label), each trial nudged sideways so repeats show
            labels = list(dict.fromkeys(p["label"] for p in sorted(points, key=lambda p: p["label"])))
            position = {label: i for i, label in enumerate(labels)}
            xs = [position[p["label"]] + _jitter(p["trial"]) for p in points]
            axes.set_xticks(range(len(labels)), labels, fontsize="small", rotation=30 if len(labels) > 4 else 0)
        colors = [BEST_COLOR if p["trial"] == best else TRIAL_COLOR for p in points]
        axes.scatter(xs, [p["metric"] for p in points], s=16, c=colors, zorder=2)
        axes.set_title(panel["dimension"], fontsize="small")
        axes.set_ylabel(metric, fontsize="small")
        axes.grid(alpha=0.3)
    return figure


def curves_figure(report: dict[str, Any]) -> Figure:
    figure, (accuracy, loss) = _figure(1, 2, (11, 4))
    for curve in report["curves"]:
        epochs = curve["epochs"]
        label = f"#{curve['trial']} ({_short_number(curve['metric'])})"
        lines = accuracy.plot([row["epoch"] for row in epochs if "val_accuracy" in row],
                              [row["val_accuracy"] for row in epochs if "val_accuracy" in row], marker=".", label=label)
        loss.plot([row["epoch"] for row in epochs], [row["train_loss"] for row in epochs], marker=".", color=lines[0].get_color())
    accuracy.set(xlabel="epoch", ylabel="val_accuracy")
    loss.set(xlabel="epoch", ylabel="train_loss")
    for axes in (accuracy, loss):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    accuracy.legend(fontsize="small", title=f"trial ({report['objective']['metric']})", title_fontsize="small")
    return figure


def confusion_figure(final: dict[str, Any]) -> Figure:
    import numpy as np

    counts = np.asarray(final["confusion_matrix"], dtype=float)
    names = final.get("class_names") or [str(i) for i in range(len(counts))]
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(12.0, 3.0 + 0.45 * len(names))
    figure, axes = _figure(1, 1, (size + 1.2, size))
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of true class")
    ticks = list(range(len(names)))
    axes.set_xticks(ticks, names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center", fontsize="small")
    axes.set_yticks(ticks, names, fontsize="small")
    axes.set(xlabel="predicted", ylabel="true")
    if len(names) <= MAX_ANNOTATED_CLASSES:
        for i in ticks:
            for j in ticks:
                axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize="x-small",
                          color="white" if shares[i, j] > 0.5 else "black")
    title = f"test accuracy {final['test_accuracy']:.4f}" if final.get("test_accuracy") is not None else ""
    axes.set_title(title, fontsize="small")
    return figure


# --------------------------------------------------------------------------- helpers


def _figure(rows: int, columns: int, size: tuple[float, float], squeeze: bool = True):
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)  # draw with Agg whatever backend the user's matplotlibrc names
    return figure, figure.subplots(rows, columns, squeeze=squeeze)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No timestamp/software metadata: the same report gives the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _time_scale(seconds: float) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever keeps the axis numbers readable."""
    if seconds >= 3 * 3600:
        return 3600.0, "h"
    if seconds >= 300:
        return 60.0, "min"
    return 1.0, "s"


def _objective_label(objective: dict[str, str]) -> str:
    """``params (lower is better)``: "min" on an axis reads as minutes."""
    better = "higher" if objective["mode"] == "max" else "lower"
    return f"{objective['metric']} ({better} is better)"


def _jitter(trial: int) -> float:
    """A small, repeatable horizontal offset per trial (no random state in a report)."""
    return ((trial * 0.618034) % 1.0 - 0.5) * 0.3


def _short_number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"
