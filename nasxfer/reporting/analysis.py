"""Summaries of a search's history that reports plot: best so far, Pareto front, dimension
effects, and the metric against each searched parameter (slices).

Plain functions over ``TrialRecord`` lists that return JSON-able rows; they know nothing of
files, plots or terminals, so the report, the HTML page and scripts all read the same numbers.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any, Mapping, Sequence

from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def best_so_far(history: Sequence[TrialRecord], objective: ObjectiveSpec) -> list[dict[str, Any]]:
    """One row per finished trial, in the order they finished, with the running best.

    ``elapsed_seconds`` is the training time of the trials so far (the sum of their
    ``seconds``), not wall-clock time: it does not count gaps between a stop and a resume.
    The running best follows ``ObjectiveSpec.best``: complete trials outrank lower-fidelity ones.
    """
    rows = []
    elapsed = 0.0
    best: TrialRecord | None = None
    best_value: float | None = None
    for record in history:
        elapsed += record.seconds
        score = objective.score(record)
        if score is not None and (best is None or objective.rank_key(record) > objective.rank_key(best)):
            best, best_value = record, record.metrics[objective.metric]
        rows.append(
            {
                "trial": record.number,
                "state": record.state.value,
                "metric": record.metrics.get(objective.metric) if score is not None else None,
                "best_so_far": best_value,
                "seconds": round(record.seconds, 3),
                "elapsed_seconds": round(elapsed, 3),
            }
        )
    return rows


def pareto_points(
    history: Sequence[TrialRecord],
    x: ObjectiveSpec = ObjectiveSpec("params", "min"),
    y: ObjectiveSpec = ObjectiveSpec("val_accuracy", "max"),
) -> list[dict[str, Any]]:
    """Completed trials as ``{trial, x, y, front}``; ``front`` marks the non-dominated ones.

    A trial is dominated when another is at least as good on both objectives and better on
    one. Sorted by ``x`` so that the front reads left to right.
    """
    points = [
        (record.number, record.metrics[x.metric], record.metrics[y.metric], x.score(record), y.score(record))
        for record in history
        if record.state is TrialState.COMPLETE and x.score(record) is not None and y.score(record) is not None
    ]
    rows = []
    for number, x_value, y_value, x_score, y_score in points:
        dominated = any(
            (xs >= x_score and ys >= y_score) and (xs > x_score or ys > y_score)
            for _, _, _, xs, ys in points
        )
        rows.append({"trial": number, "x": x_value, "y": y_value, "front": not dominated})
    return sorted(rows, key=lambda r: (r["x"], r["trial"]))


def dimension_effects(
    space: Mapping[str, Any], history: Sequence[TrialRecord], objective: ObjectiveSpec
) -> list[dict[str, Any]]:
    """For each value of each categorical dimension: how many trials had it and their metric.

    ``space`` maps config paths to the config's ``Dimension`` specs. A ``repeat: N`` dimension
    is N coordinates (``path[0]`` … ``path[N-1]``), each its own row, since a per-layer
    choice matters where the layer is. Ranges are left out: their values rarely repeat.
    Values that no completed trial had are listed with ``count`` 0, so gaps show.
    """
    # complete trials only: a metric measured after fewer epochs is not comparable
    scored = [
        (record, record.metrics[objective.metric])
        for record in history
        if record.state is TrialState.COMPLETE and objective.score(record) is not None
    ]
    effects = []
    for label, path, index, spec in searched_coordinates(space):
        if spec.choices is None:
            continue
        groups: dict[str, list[float]] = {_key(choice): [] for choice in spec.choices}
        for record, metric in scored:
            value = coordinate_value(record, path, index)
            if value is not None and _key(value) in groups:
                groups[_key(value)].append(metric)
        effects.append(
            {
                "dimension": label,
                "path": path,
                "index": index,
                "values": [_stats(choice, groups[_key(choice)]) for choice in spec.choices],
            }
        )
    return effects


def searched_coordinates(space: Mapping[str, Any]) -> list[tuple[str, str, int | None, Any]]:
    """``(label, path, index, spec)`` for every searched coordinate: a ``repeat: N`` dimension
    is N coordinates (``path[0]`` … ``path[N-1]``), any other dimension one."""
    coordinates = []
    for path, spec in space.items():
        for index in range(spec.repeat) if spec.repeat else [None]:
            coordinates.append((path if index is None else f"{path}[{index}]", path, index, spec))
    return coordinates


def coordinate_value(record: TrialRecord, path: str, index: int | None) -> Any:
    """The value a trial had at one coordinate (None when it had none)."""
    value = record.values.get(path)
    if index is not None:
        value = value[index] if isinstance(value, list) and index < len(value) else None
    return value


def parameter_slices(
    space: Mapping[str, Any], history: Sequence[TrialRecord], objective: ObjectiveSpec
) -> list[dict[str, Any]]:
    """For each searched coordinate, every complete trial's value there and its metric.

    The slice plot of Optuna's visualisations: where a dimension's values differ in outcome,
    the points show it, for ranges (``train.lr``) as much as for choices. ``numeric`` says the
    values are numbers (a range, or choices that are all numbers) and plot on a number line,
    ``log`` that the range is searched on a log scale.
    """
    scored = [r for r in history if r.state is TrialState.COMPLETE and objective.score(r) is not None]
    slices = []
    for label, path, index, spec in searched_coordinates(space):
        numeric = spec.choices is None or all(_is_number(c) for c in spec.choices)
        points = []
        for record in scored:
            value = coordinate_value(record, path, index)
            if value is None:
                continue
            points.append({"trial": record.number, "value": value, "label": short_value(value),
                           "metric": record.metrics[objective.metric]})
        slices.append({"dimension": label, "path": path, "index": index, "numeric": numeric,
                       "log": bool(spec.choices is None and spec.log), "points": points})
    return slices


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _stats(value: Any, metrics: list[float]) -> dict[str, Any]:
    return {
        "value": value,
        "label": short_value(value),
        "count": len(metrics),
        "mean": statistics.fmean(metrics) if metrics else None,
        # the sample standard deviation; one trial says nothing about spread
        "std": statistics.stdev(metrics) if len(metrics) > 1 else None,
        "min": min(metrics) if metrics else None,
        "max": max(metrics) if metrics else None,
    }


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def short_value(value: Any) -> str:
    """A value as a short label: ``0.0123``, ``[identity,conv3x3]``, ``resnet18``."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ",".join(short_value(v) for v in value) + "]"
    return str(value)
