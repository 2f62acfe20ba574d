"""The leaderboard as a table: the rows every view shows, and ``leaderboard.csv``'s text."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Sequence

from nasxfer.search.pareto import pareto_rank
from nasxfer.search.ranking import leaderboard
from nasxfer.search.trial import ObjectiveSpec, TrialRecord


def leaderboard_rows(history: list[TrialRecord], objectives: ObjectiveSpec | Sequence[ObjectiveSpec]) -> list[dict[str, Any]]:
    """The leaderboard as rows, best first: rank, trial, state, epochs, metrics, costs, values.

    With ``search.cv`` the primary metric's standard error follows the metrics
    (``<metric>_se``), and ``tied_with_best`` is 1 for the complete trials within one
    standard error of the best (``ObjectiveSpec.tied_with_best``).

    Order and ranks are ``search.ranking.leaderboard``'s, as in every view: one objective
    ranks complete trials first, then paused and pruned ones by the epochs they reached;
    several rank by Pareto front and, within a front, by crowding distance
    (``pareto_front`` says which front a trial is on, 1 = non-dominated).
    """
    objectives = [objectives] if isinstance(objectives, ObjectiveSpec) else list(objectives)
    fronts = pareto_rank(history, objectives) if len(objectives) > 1 else {}
    metrics = list(dict.fromkeys([o.metric for o in objectives] + ["val_accuracy", "val_f1", "params", "flops", "latency_ms", "memory_mb"]))
    primary = objectives[0]
    # search.cv: the primary metric's standard error beside it, and which trials tie with the best.
    has_se = any(primary.standard_error(r) is not None for r in history)
    tied = primary.tied_with_best(history) if has_se else set()
    scored = any(r.fidelity is not None for r in history)  # a one-shot search: say which trials trained
    rows = []
    for rank, record in leaderboard(history, objectives):
        row: dict[str, Any] = {"rank": rank or "", "trial": record.number, "state": record.state.value}
        if scored:
            row["fidelity"] = record.fidelity or "trained"
        if len(objectives) > 1:
            row["pareto_front"] = fronts[record.number][0] if record.number in fronts else ""
        row.update({m: record.metrics.get(m, "") for m in metrics})
        if has_se:
            se = primary.standard_error(record)
            row[f"{primary.metric}_se"] = "" if se is None else se
            row["tied_with_best"] = int(record.number in tied)
        row.update(
            epochs=record.epochs_reached,
            seconds=round(record.seconds, 2),
            key=record.key,
            values=json.dumps(record.values, sort_keys=True),
            error=record.error or "",
            reason=record.reason or "",
        )
        rows.append(row)
    return rows


def leaderboard_csv(history: list[TrialRecord], objectives: ObjectiveSpec | Sequence[ObjectiveSpec]) -> str:
    rows = leaderboard_rows(history, objectives)
    buffer = io.StringIO()
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["rank", "trial", "state"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
