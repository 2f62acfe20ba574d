"""The report's ``one_shot`` section: what the supernet cost, and how its scores of the
retrained candidates compare with their standalone training (Kendall's τ, Spearman's ρ), so a
user sees whether the supernet's ranking can be trusted on their space."""

from __future__ import annotations

from typing import Any


def one_shot_section(events: list[dict[str, Any]], history, objective) -> dict[str, Any] | None:
    """None for a search without ``search.one_shot``. ``points``: each retrained candidate,
    its supernet score and its standalone metric; the correlations over them (null under 3,
    or where a column is constant)."""
    from nasxfer.screening.ranking import kendall, spearman

    trained = next((e for e in events if e.get("event") == "supernet_trained"), None)
    scored = [r for r in history if r.fidelity == "supernet"]
    if trained is None and not scored:
        return None
    by_key = {r.key: r for r in scored if objective.score(r) is not None}
    points = [
        {
            "trial": r.number,
            "supernet_trial": by_key[r.key].number,
            "supernet": by_key[r.key].metrics.get(objective.metric),
            "standalone": r.metrics.get(objective.metric),
            "values": r.values,
        }
        for r in history
        if r.fidelity is None and r.key in by_key and objective.score(r) is not None
    ]
    x = [p["supernet"] for p in points]
    y = [p["standalone"] for p in points]
    return {
        "supernet": None if trained is None else {k: trained.get(k) for k in ("epochs", "images", "train_seconds", "paths")},
        "scored": len(scored),
        "scoring_seconds": round(sum(r.seconds for r in scored), 3),
        "points": points,
        "kendall_tau": _finite(kendall(x, y)) if len(points) >= 3 else None,
        "spearman": _finite(spearman(x, y)) if len(points) >= 3 else None,
    }


def _finite(value: float) -> float | None:
    return None if value != value or value in (float("inf"), float("-inf")) else float(value)
