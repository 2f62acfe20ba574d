"""The report's ``screen`` section: how the training-free scores of ``search.screen`` compare
with what the trained trials reached, so a user sees whether the proxy helped on their data."""

from __future__ import annotations

from typing import Any


def screen_section(events: list[dict[str, Any]], history, objective) -> dict[str, Any] | None:
    """Each trained trial that was screened: its scores and its metric; per score, Spearman's
    ρ between score and metric over those trials (null under 3). None without a screen."""
    from nasxfer.screening.ranking import spearman

    scored = {e["key"]: e for e in events if e.get("event") == "screen_scored"}
    kept = next((e for e in events if e.get("event") == "screen_kept"), None)
    if not scored:
        return None
    names = list(kept["score"]) if kept else sorted({n for e in scored.values() for n in e["scores"]})
    points = [
        {"trial": r.number, "metric": r.metrics.get(objective.metric), "scores": scored[r.key]["scores"]}
        for r in history
        if r.key in scored and objective.score(r) is not None
    ]
    correlation = {}
    for name in names:
        pairs = [(p["scores"][name], p["metric"]) for p in points if p["scores"].get(name) is not None]
        correlation[name] = spearman([a for a, _ in pairs], [b for _, b in pairs]) if len(pairs) >= 3 else None
        if correlation[name] is not None and correlation[name] != correlation[name]:  # NaN: a constant column
            correlation[name] = None
    return {
        "scores": names,
        "sample": len(scored),
        "kept": len(kept["candidates"]) if kept else 0,
        "seconds": round(sum(sum(e["seconds"].values()) for e in scored.values()), 3),
        "points": points,
        "spearman": correlation,
    }
