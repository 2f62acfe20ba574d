"""``search.screen``: before the search trains anything, score ``sample`` candidates without
training and train the ``keep`` best first; the strategy then continues with them in its
history (they are ordinary trials).

Each candidate's scores are journalled as soon as they are computed (a ``screen_scored``
event), and the kept candidates once all are scored (``screen_kept``), so a resumed run
replays the screen without recomputing a score, and a run killed mid-screen scores only the
candidates it had not reached. The sample is drawn from the run's seed, so a resume draws
the same one. Several scores are rank-averaged (``nasxfer.screening.ranking.ensemble``).

This module knows nothing of models: the scoring is ``nasxfer.screening.candidates``'
``Screener``, imported when a screen has something left to score (or handed in).
"""

from __future__ import annotations

import math
from typing import Callable

from nasxfer.search.space import Candidate, SearchSpace

SCORED = "screen_scored"
KEPT = "screen_kept"


def check_screen(config) -> None:
    """Refuse, before a run exists, scores the config's candidates cannot have."""
    if config.search.screen is not None:
        from nasxfer.screening.candidates import check_scores

        check_scores(config, config.search.screen.scores, "search.screen.score")


def screen_scores(store) -> dict[str, dict]:
    """The journalled scores of a run: candidate key -> its ``screen_scored`` event."""
    return {e["key"]: e for e in store.events() if e.get("event") == SCORED}


def journalled_screen(config, store, space: SearchSpace, score: Callable[[Candidate], dict] | None = None) -> list[Candidate]:
    """The run's screened candidates to train first, best first: those its journal kept, or
    (on its first start, or after a kill mid-screen) the result of scoring what is not yet
    scored. ``score`` (candidate -> {name: ScoreValue}) defaults to a ``Screener``. Call
    with the run's lock held."""
    settings = config.search.screen
    if settings is None:
        return []
    events = list(store.events())
    for event in events:
        if event.get("event") == KEPT:
            return [Candidate(values) for values in event["candidates"]]
    from nasxfer.screening.candidates import sample_candidates

    names = settings.scores
    done = {e["key"]: e for e in events if e.get("event") == SCORED}
    sample = sample_candidates(space, settings.sample, config.seed)
    for candidate in sample:
        if candidate.key in done:
            continue
        if score is None:
            from nasxfer.screening.candidates import Screener

            score = Screener(config, names, seed=config.seed).score
        values = score(candidate)
        row = dict(
            key=candidate.key,
            values=candidate.as_dict(),
            scores={n: finite_or_none(values[n].value) for n in names},
            seconds={n: values[n].seconds for n in names},
        )
        store.append(SCORED, **row)
        done[candidate.key] = row
    kept = rank_screened([done[c.key] for c in sample], names)[: settings.keep]
    store.append(KEPT, score=names, sample=len(sample), candidates=[r["values"] for r in kept])
    return [Candidate(r["values"]) for r in kept]


def rank_screened(rows: list[dict], names: list[str]) -> list[dict]:
    """``rows`` (journalled scores) best first: by the one score, or by the rank average of
    several; ties keep the sample's order."""
    from nasxfer.screening.ranking import ensemble

    def column(name):  # a score that came out NaN or infinite is journalled as null: ranked last
        return [-math.inf if r["scores"][name] is None else r["scores"][name] for r in rows]

    combined = column(names[0]) if len(names) == 1 else ensemble({n: column(n) for n in names})
    order = sorted(range(len(rows)), key=lambda i: -combined[i])
    return [rows[i] for i in order]


def finite_or_none(value: float) -> float | None:
    """``value``, or None where it is NaN or infinite (JSON has neither)."""
    return value if math.isfinite(value) else None
