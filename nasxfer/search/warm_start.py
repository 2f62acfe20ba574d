"""Warm start: begin a search with the best candidates of an earlier run.

``search.warm_start: {run: <run-id>, top: k}`` proposes, before the strategy's first
candidate, the best ``k`` trials of the earlier run (its leaderboard order: complete trials
first) whose values lie inside this search's space. They are trained again here, since the
task may differ, and journalled as ordinary trials, so strategies see them in the history.

Compatibility: the earlier run must have searched the same config paths (otherwise its
candidates mean something else) — an error. Its trials whose values fall outside this
space (a narrowed range, a dropped choice) are skipped; if none fits, that is an error too.

The candidates are journalled (a ``warm_start`` event) when the run first starts: a resumed
run proposes the same ones even if the earlier run has changed since.
"""

from __future__ import annotations

from pathlib import Path

from nasxfer.errors import ConfigError, RunNotFoundError
from nasxfer.search.space import Candidate, SearchSpace
from nasxfer.search.trial import ObjectiveSpec


def warm_start_candidates(config, runs_dir: Path, space: SearchSpace, objective: ObjectiveSpec) -> list[Candidate]:
    """The earlier run's best candidates that fit ``space``, best first; ``ConfigError`` when
    the run is unknown, its space has other dimensions, or none of its trials fits."""
    from nasxfer.storage.store import LATEST, resolve_run

    settings = config.search.warm_start
    if settings is None:
        return []
    if settings.run == LATEST:
        raise ConfigError(
            "search.warm_start: name the earlier run by its id ('latest' moves to every new run, "
            "this one included); list them with nasxfer runs"
        )
    try:
        earlier = resolve_run(runs_dir, settings.run)
    except RunNotFoundError as exc:
        raise ConfigError(f"search.warm_start: {exc}") from None
    theirs, ours = sorted(earlier.config().search.space), sorted(space.paths)
    if theirs != ours:
        raise ConfigError(
            f"search.warm_start: run '{earlier.run_id}' searched {', '.join(theirs) or 'nothing'} but this "
            f"search varies {', '.join(ours) or 'nothing'}; warm start needs the same dimensions"
        )
    ranked = [r for r in objective.ranked(earlier.history()) if objective.score(r) is not None]
    if not ranked:
        raise ConfigError(
            f"search.warm_start: run '{earlier.run_id}' has no trial with a {objective.metric} to start from"
        )
    fitting = [Candidate(r.values) for r in ranked if space.contains(Candidate(r.values))]
    if not fitting:
        raise ConfigError(
            f"search.warm_start: none of the {len(ranked)} scored trials of run '{earlier.run_id}' lies "
            f"inside this search space (e.g. trial {ranked[0].number}: {ranked[0].values}); widen the space "
            "or drop search.warm_start"
        )
    return fitting[: settings.top]


def journalled_warm_start(config, store, space: SearchSpace, objective: ObjectiveSpec) -> list[Candidate]:
    """The run's warm-start candidates: those its journal recorded, or (on its first start)
    the earlier run's, then recorded. Call with the run's lock held."""
    for event in store.events():
        if event.get("event") == "warm_start":
            return [Candidate(values) for values in event["candidates"]]
    candidates = warm_start_candidates(config, store.path.parent, space, objective)
    if candidates:
        store.append(
            "warm_start", run=config.search.warm_start.run, candidates=[c.as_dict() for c in candidates]
        )
    return candidates
