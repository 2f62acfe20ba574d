"""The strategy contract: ``propose(history) -> Candidate | None``.

A strategy holds no state that cannot be rebuilt from ``(space, seed, history)``: the same
inputs give the same proposal, so resuming a run is replaying its journal. ``None`` means
the strategy has nothing left to propose (a finite space is exhausted).

With parallel trials the history ends with the trials still running (state ``RUNNING``):
every strategy counts them as tried (``seen_keys``), so it never proposes one again, and
learns only from ``finished(history)``.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar, Sequence

from pydantic import BaseModel, ConfigDict, ValidationError

from nasxfer.errors import ConfigError
from nasxfer.search.space import Candidate, SearchSpace
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def finished(history: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials that have ended, in order: ``history`` without the ones still running."""
    return [r for r in history if r.state is not TrialState.RUNNING]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy:
    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, space: SearchSpace, seed: int, objective: ObjectiveSpec, options: BaseModel):
        self.space = space
        self.seed = seed
        self.objective = objective
        self.objectives: tuple[ObjectiveSpec, ...] = (objective,)  # several: a multi-objective search
        self.options = options

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> BaseModel:
        try:
            return cls.Options.model_validate(options)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(cls.Options.model_fields) or "none"
                raise ConfigError(
                    f"search.strategy.{field}: not an option of strategy '{cls.name}' (options: {allowed})"
                ) from None
            raise ConfigError(f"search.strategy.{field}: {err['msg']}") from None

    def propose(self, history: Sequence[TrialRecord]) -> Candidate | None:
        raise NotImplementedError

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def scores(self, record: TrialRecord) -> tuple[float, ...] | None:
        """The record's score for every objective (larger is better), None if any is missing."""
        from nasxfer.search.pareto import scores

        return scores(record, self.objectives)

    def better(self, a: TrialRecord, b: TrialRecord) -> bool:
        """``a`` beats ``b``: a higher score, or with several objectives, Pareto dominance."""
        from nasxfer.search.pareto import dominates

        sa, sb = self.scores(a), self.scores(b)
        if sa is None or sb is None:
            return sa is not None
        return dominates(sa, sb) if self.multi_objective else sa[0] > sb[0]

    def winner(self, contenders: Sequence[TrialRecord]) -> TrialRecord:
        """The best of ``contenders``: by score, or by front then crowding (NSGA-II's
        crowded comparison); ties go to the earlier trial."""
        if not self.multi_objective:
            return max(contenders, key=lambda r: (self.objective.score(r), -r.number))
        from nasxfer.search.pareto import pareto_rank

        ranks = pareto_rank(contenders, self.objectives)
        return min(contenders, key=lambda r: (ranks[r.number][0], -ranks[r.number][1], r.number))

    def rng(self, history: Sequence[TrialRecord], salt: str = "") -> random.Random:
        """A generator determined by the seed and how far the search has got."""
        return random.Random(f"{self.name}:{self.seed}:{len(history)}:{salt}")
