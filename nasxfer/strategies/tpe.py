"""TPE (Bergstra et al. 2011) through Optuna's ``TPESampler``; see ``optuna_bridge``."""

from __future__ import annotations

from pydantic import Field

from nasxfer.strategies.base import NoOptions
from nasxfer.strategies.optuna_bridge import OptunaStrategy, import_optuna


class TPEOptions(NoOptions):
    startup: int = Field(10, ge=1, le=100_000, description="Random trials before the density model is used.")
    candidates: int = Field(24, ge=1, le=10_000, description="Samples drawn from l(x) and scored by l(x)/g(x) per proposal.")
    multivariate: bool = Field(True, description="One joint density over all coordinates instead of one per coordinate.")


class TPE(OptunaStrategy):
    name = "tpe"
    Options = TPEOptions

    def make_sampler(self, seed: int):
        optuna = import_optuna()
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=self.options.startup,
            n_ei_candidates=self.options.candidates,
            multivariate=self.options.multivariate,
            # A pending (duplicate) ask counts as a bad point, so asking again moves on.
            constant_liar=True,
        )
