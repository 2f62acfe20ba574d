"""Optuna's samplers as nasxfer strategies, through its ask-and-tell interface.

Each proposal builds a fresh in-memory study with a seeded sampler, replays the history
into it (complete trials with their score, failed ones as FAIL, trials still running in
parallel as RUNNING) and asks for one trial. TPE's constant liar treats RUNNING trials as
bad points, so parallel proposals spread out instead of piling onto one promising region.
Nothing survives between calls, so resume is replay, like every other strategy; the cost
is one study rebuild per proposal, small next to training a network.

Mapping: a choice becomes a categorical over its indices (choices can be lists or other
values Optuna cannot hold), an int range an ``IntDistribution``, a float range a
``FloatDistribution``; each item of a repeated dimension is its own parameter ``path[i]``.
The study maximizes ``ObjectiveSpec.score`` (larger is better whatever the mode).

Duplicates: a sampler can ask for a candidate already tried (TPE converges, a genetic
child can equal its parent). Then the same study is asked again, up to ``_RETRIES`` times:
the sampler's generator has moved on, and with TPE's constant liar the pending duplicate
counts as a bad point, so the next ask lands elsewhere. After that the proposal is a
random untried candidate.

Optuna is imported here, on first use, so listing strategies stays cheap.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

from nasxfer.search.space import Candidate, Choice, FloatRange, IntRange, seen_keys
from nasxfer.strategies.base import Strategy
from nasxfer.strategies.coordinates import Coordinate, assemble, coordinates, fits
from nasxfer.strategies.random_search import sample_untried
from nasxfer.search.trial import TrialRecord, TrialState

_RETRIES = 3


def import_optuna():
    """Optuna with its own logger quietened: the library never prints (warnings still go
    to Optuna's logger, at its default handler; nothing else of logging is touched)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


class OptunaStrategy(Strategy):
    """Base of the strategies that wrap an Optuna sampler; subclasses make the sampler."""

    def make_sampler(self, seed: int):
        raise NotImplementedError

    def system_attrs(self, sampler, complete: list[bool]) -> list[dict[str, Any]]:
        """Per replayed trial, the bookkeeping the sampler would have stored on it while
        the search ran (nothing for most samplers)."""
        return [{} for _ in complete]

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        seen = seen_keys(history)
        rng = self.rng(history)
        study, distributions = self.study(history, seed=rng.randrange(2**31))
        coords = coordinates(self.space)
        for _ in range(1 + _RETRIES):
            params = study.ask(distributions).params
            candidate = assemble(self.space, [_from_param(c, params[c.name]) for c in coords])
            if candidate.key not in seen:
                return candidate
        return sample_untried(self.space, seen, rng)

    def study(self, history: Sequence[TrialRecord], seed: int):
        """A study holding ``history``, and the distributions to ask with."""
        optuna = import_optuna()
        coords = coordinates(self.space)
        distributions = {c.name: _distribution(optuna, c) for c in coords}
        with warnings.catch_warnings():
            # Experimental-feature and deprecation notices vary across Optuna versions.
            warnings.simplefilter("ignore")
            sampler = self.make_sampler(seed)
        # Scores are larger-is-better for every objective; several make a multi-objective study.
        study = optuna.create_study(directions=["maximize"] * len(self.objectives), sampler=sampler)

        rows = [r for r in history if fits(self.space, r.values)]
        scores = [self.scores(r) for r in rows]
        attrs = self.system_attrs(sampler, [s is not None for s in scores])
        study.add_trials(
            optuna.trial.create_trial(
                params={c.name: _to_param(c, c.read(r.values)) for c in coords},
                distributions=distributions,
                values=list(s) if s is not None else None,
                state=_state(optuna, r, s),
                system_attrs=a,
            )
            for r, s, a in zip(rows, scores, attrs)
        )
        return study, distributions


def _state(optuna, record: TrialRecord, score):
    if record.state is TrialState.RUNNING:
        return optuna.trial.TrialState.RUNNING
    return optuna.trial.TrialState.COMPLETE if score is not None else optuna.trial.TrialState.FAIL


def _distribution(optuna, coord: Coordinate):
    domain = coord.domain
    if isinstance(domain, Choice):
        return optuna.distributions.CategoricalDistribution(list(range(domain.size)))
    if isinstance(domain, IntRange):
        return optuna.distributions.IntDistribution(domain.low, domain.high, log=domain.log)
    assert isinstance(domain, FloatRange)
    return optuna.distributions.FloatDistribution(domain.low, domain.high, log=domain.log)


def _to_param(coord: Coordinate, value: Any) -> Any:
    domain = coord.domain
    if isinstance(domain, Choice):
        return domain.choices.index(value)
    return value


def _from_param(coord: Coordinate, param: Any) -> Any:
    domain = coord.domain
    if isinstance(domain, Choice):
        return domain.choices[param]
    if isinstance(domain, IntRange):
        return int(param)
    # Six significant digits, as FloatRange samples them, so keys stay stable; rounding
    # must not step outside the range.
    rounded = float(f"{param:.6g}")
    return min(domain.high, max(domain.low, rounded)) if math.isfinite(rounded) else domain.low
