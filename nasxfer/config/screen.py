"""``search.screen``: score candidates without training before the search trains any.

Only each field on its own is checked here; whether the scores fit the config (a backbone
score needs a backbone) is ``nasxfer.screening.candidates.check_scores``, before a run starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from nasxfer.config.base import Strict


class ScreenConfig(Strict):
    """Draw ``sample`` candidates, score them untrained, train the ``keep`` best first (best
    first), then let the strategy continue with them in its history (``nasxfer.search.screened``)."""

    score: str | list[str] = Field(
        "naswot",
        description="The score (naswot: the best on NAS-Bench-Macro, docs/screening.md), or a list of scores rank-averaged into one: architecture scores (naswot, synflow, grad_norm, snip, jacob_cov, params, flops) or, with a backbone, backbone scores (logme, hscore, linear_probe, knn).",
    )
    sample: int = Field(300, ge=1, le=100_000, description="How many distinct candidates of the space are drawn (seeded by the run's seed) and scored.")
    keep: int = Field(10, ge=1, le=100_000, description="How many of the best-scored candidates are trained first, best first; the strategy then proposes the rest.")

    @field_validator("score")
    @classmethod
    def _known_scores(cls, value: Any) -> Any:
        from nasxfer.screening import SCORE_NAMES

        names = [value] if isinstance(value, str) else list(value)
        if not names:
            raise ValueError("give at least one score")
        for name in names:
            if name not in SCORE_NAMES:
                from nasxfer.config.messages import known_name

                known_name(name, SCORE_NAMES, "score")
        if len(set(names)) != len(names):
            raise ValueError("scores contain duplicates")
        return value

    @model_validator(mode="after")
    def _keep_within_sample(self) -> "ScreenConfig":
        if self.keep > self.sample:
            raise ValueError(f"keep ({self.keep}) must not exceed sample ({self.sample})")
        return self

    @property
    def scores(self) -> list[str]:
        return [self.score] if isinstance(self.score, str) else list(self.score)
