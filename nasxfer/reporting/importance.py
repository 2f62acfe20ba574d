"""Which searched parameters mattered: fANOVA importance through Optuna's public API.

The trials of a run become an in-memory Optuna study (one distribution per searched
coordinate, as ``analysis.searched_coordinates`` splits them) and Optuna's
``FanovaImportanceEvaluator`` (Hutter et al., 2014: the share of the metric's variance
that a random-forest model of it attributes to each parameter) scores them. Optuna is a
dependency already (the tpe and nsga2 strategies); it is imported only when a report is
written.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Mapping, Sequence

from nasxfer.reporting.analysis import coordinate_value, searched_coordinates
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

MIN_TRIALS = 4  # fewer complete trials than this leave a forest nothing to split

log = logging.getLogger(__name__)


def parameter_importance(
    space: Mapping[str, Any], history: Sequence[TrialRecord], objective: ObjectiveSpec, seed: int = 0
) -> list[dict[str, Any]]:
    """``[{dimension, importance}]``, most important first (importances sum to 1), or ``[]``
    when there are too few complete trials or nothing varied. Deterministic for a seed."""
    trials = [r for r in history if r.state is TrialState.COMPLETE and objective.score(r) is not None]
    coordinates = [c for c in searched_coordinates(space) if _varied(c, trials)]
    if len(trials) < MIN_TRIALS or not coordinates:
        return []
    import optuna

    distributions = {label: _distribution(spec, [coordinate_value(r, path, index) for r in trials])
                     for label, path, index, spec in coordinates}
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" on the user's terminal
    try:
        return _fanova(optuna, coordinates, distributions, trials, objective, seed)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _fanova(optuna, coordinates, distributions, trials, objective: ObjectiveSpec, seed: int) -> list[dict[str, Any]]:
    study = optuna.create_study(direction="maximize" if objective.mode == "max" else "minimize")
    for record in trials:
        params = {label: _param(coordinate_value(record, path, index), spec) for label, path, index, spec in coordinates}
        if any(spec.choices is not None and params[label] not in distributions[label].choices
               for label, _, _, spec in coordinates):
            continue  # a choice the space no longer offers (a warm-started trial): nothing to attribute it to
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                  value=float(record.metrics[objective.metric])))
    try:
        scores = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed), normalize=True)
    except (RuntimeError, ValueError) as exc:  # e.g. every trial scored the same
        log.debug("parameter importance skipped: %s", exc)
        return []
    return [{"dimension": name, "importance": round(float(value), 4)} for name, value in scores.items()]


def _varied(coordinate, trials: Sequence[TrialRecord]) -> bool:
    _, path, index, _ = coordinate
    values = {json.dumps(coordinate_value(r, path, index), sort_keys=True) for r in trials}
    return len(values) > 1 and "null" not in values


def _distribution(spec, observed: Sequence[Any]):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if spec.choices is not None:
        return CategoricalDistribution([_label(c) for c in spec.choices])
    # The bounds the trials actually reached: a range edited between resumes may have moved.
    low, high = min([spec.low, *observed]), max([spec.high, *observed])
    if spec.integer:
        return IntDistribution(int(low), int(high), log=spec.log)
    return FloatDistribution(low, high, log=spec.log)


def _param(value: Any, spec) -> Any:
    if spec.choices is not None:
        return _label(value)
    return int(value) if spec.integer else float(value)


def _label(choice: Any) -> Any:
    """Optuna's categorical values must be None, bool, int, float or str: other values by JSON."""
    return choice if isinstance(choice, (bool, int, float, str)) or choice is None else json.dumps(choice, sort_keys=True)
