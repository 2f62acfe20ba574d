"""The ``search`` section: the space, the strategy, the budget and what a trial is judged by.

Here each field is checked on its own. Checks that need more live elsewhere: a strategy's
options in ``nasxfer.strategies``, scheduler rules that involve other sections in
``nasxfer.schedulers.check_scheduler``, whether each space path names a config field in
``nasxfer.search.space``. The strategy and scheduler registries are imported only when a name is
validated, so importing the schema stays light.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nasxfer.config.base import Strict
from nasxfer.config.messages import known_name
from nasxfer.config.screen import ScreenConfig
from nasxfer.config.training import SearchDistillConfig


class Dimension(Strict):
    """One searched config field: ``choices``, or a ``low``..``high`` range (``log`` scale).

    ``repeat: N`` makes the field a list of N items that vary independently (per-layer ops).
    ``grid`` is how many points a float range contributes to a grid search.
    """

    choices: list[Any] | None = Field(None, min_length=1, description="The values the field takes (any YAML values, no duplicates); give this or low and high.")
    low: float | None = Field(None, description="Lower end of a numeric range (inclusive).")
    high: float | None = Field(None, description="Upper end of a numeric range (inclusive).")
    log: bool = Field(False, description="Sample the range on a log scale (needs low > 0).")
    integer: bool | None = Field(None, description="Whether the range holds integers; null: integers when low and high are both written as integers.")
    repeat: int | None = Field(None, ge=1, le=64, description="Make the field a list of this many items that vary independently (one op per layer).")
    grid: int = Field(3, ge=2, le=100, description="Grid search: how many evenly spaced points a float range contributes.")

    @model_validator(mode="before")
    @classmethod
    def _remember_integer(cls, data: Any) -> Any:
        # YAML gives ints for `low: 1`; remember that before pydantic turns them into floats.
        if isinstance(data, dict) and data.get("integer") is None and "low" in data:
            low, high = data.get("low"), data.get("high")
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
                data = {**data, "integer": True}
        return data

    @model_validator(mode="after")
    def _choices_or_range(self) -> Dimension:
        has_range = self.low is not None or self.high is not None
        if self.choices is not None and has_range:
            raise ValueError("give either choices or low/high, not both")
        if self.choices is None:
            if self.low is None or self.high is None:
                raise ValueError("give choices: [...] or both low and high")
            if not self.low < self.high:
                raise ValueError(f"low ({self.low}) must be below high ({self.high})")
            if self.log and self.low <= 0:
                raise ValueError("a log range needs low > 0")
        elif len({freeze_choice(c) for c in self.choices}) != len(self.choices):
            raise ValueError("choices contain duplicates")
        return self


def freeze_choice(value: Any) -> Any:
    # A hashable stand-in for a choice (which may be a list or a mapping), so that
    # duplicate choices can be found with a set.
    if isinstance(value, list):
        return tuple(freeze_choice(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze_choice(v)) for k, v in value.items()))
    return value


class StrategyConfig(BaseModel):
    """``name`` picks a registered strategy; any other key is that strategy's option."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field("random", description="The search strategy; every other key of search.strategy is one of its options (see Strategy options).")

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        from nasxfer.strategies import STRATEGY_NAMES

        return known_name(name, STRATEGY_NAMES, "strategy")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Budget(Strict):
    # candidates: a trial a scheduler pauses and promotes counts once, whatever its rungs
    trials: int | None = Field(20, ge=1, le=1_000_000, description="Stop after this many trials (candidates: a trial a scheduler pauses and promotes counts once); null: no trial limit.")
    minutes: float | None = Field(None, gt=0, le=60 * 24 * 365, description="Stop starting trials after this many minutes (the running trial finishes); null: no time limit.")

    @model_validator(mode="after")
    def _some_limit(self) -> Budget:
        if self.trials is None and self.minutes is None:
            raise ValueError("set trials or minutes (or both): a search needs an end")
        return self


OBJECTIVE_METRICS = (
    "val_accuracy",
    "val_f1",
    "val_loss",
    "params",
    "flops",
    "macs",
    "latency_ms",
    "latency_p90_ms",
    "memory_mb",
)


class Objective(Strict):
    metric: str = Field("val_accuracy", description="The metric that ranks trials: " + ", ".join(OBJECTIVE_METRICS) + ".")
    mode: Literal["max", "min"] = Field("max", description="Whether larger (max) or smaller (min) values of the metric are better.")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        return known_name(metric, OBJECTIVE_METRICS, "metric")


class EvaluatorConfig(Strict):
    """How trials are evaluated: trained for real (the default), or looked up in a table.

    ``table`` is a NAS-Bench-Macro-format JSON file of results per architecture; a relative
    path resolves against the current directory of the command that runs the search.
    """

    table: str | None = Field(None, description="A NAS-Bench-Macro-format JSON file of results per architecture: trials are looked up instead of trained. Relative paths resolve against the working directory; null trains for real.")


class Constraints(Strict):
    """Limits checked on the untrained network, before any training: a candidate that
    breaks one is journalled as rejected and costs nothing."""

    max_params: float | None = Field(None, gt=0, description="Reject candidates with more parameters than this.")
    max_flops: float | None = Field(None, gt=0, description="Reject candidates with more FLOPs per image than this (a multiply-accumulate counts 2).")
    max_latency_ms: float | None = Field(None, gt=0, description="Reject candidates whose median latency, in milliseconds per batch of search.latency.batch_size, is above this.")
    max_memory_mb: float | None = Field(None, gt=0, description="Reject candidates whose training step at train.batch_size needs more memory than this, in megabytes.")

    def active(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LatencyConfig(Strict):
    """How a candidate's latency is measured: as a PyTorch module (``runtime: torch``) or as
    it will be deployed (``runtime: onnxruntime``: exported to ONNX, quantized with
    ``quantize: int8``, run by ONNX Runtime on the CPU on ``threads`` threads). Either way
    the passes are timed in ``rounds`` short rounds and ``latency_ms`` is the smallest
    round median (``deploy.timing``), robust to a busy machine; a timing whose rounds
    disagree is flagged (``latency_busy``) and timed again."""

    runtime: Literal["torch", "onnxruntime"] = Field("torch", description="What runs the timed passes: torch (the PyTorch module, on search.latency.device) or onnxruntime (the network exported to ONNX, on the CPU, as deployed; timings cached per architecture in the journal).")
    device: Literal["trial", "cpu"] = Field("trial", description="runtime torch: where latency is measured: trial (the trial's training device) or cpu. onnxruntime always times on the CPU.")
    threads: int = Field(1, ge=1, le=256, description="runtime onnxruntime: the session's threads (intra-op); fix it to what the deployment target has.")
    quantize: Literal["none", "int8"] = Field("none", description="runtime onnxruntime: int8 times the network after static int8 quantization (as nasxfer export --quantize int8 writes it); none times it in float32.")
    batch_size: int = Field(1, ge=1, le=4096, description="Images per timed forward pass.")
    warmup: int = Field(3, ge=0, le=1000, description="Untimed forward passes before each round.")
    repeats: int = Field(10, ge=1, le=10_000, description="Timed forward passes per round; latency_p90_ms is the 90th percentile of the fastest round's.")
    rounds: int = Field(3, ge=1, le=100, description="Rounds of repeats timed passes; latency_ms is the smallest round median (a busy spell slows some rounds, not the machine's best).")

    @model_validator(mode="after")
    def _quantize_needs_onnxruntime(self) -> LatencyConfig:
        if self.quantize != "none" and self.runtime != "onnxruntime":
            raise ValueError("quantize: int8 latency is measured in ONNX Runtime; set search.latency.runtime: onnxruntime")
        return self


class SchedulerConfig(Strict):
    """Multi-fidelity: trials train to rungs of ``min_epochs · eta^k`` epochs (and finally
    ``train.epochs``), and only the best go on. Checks that involve other sections (the
    epochs, the objective, the evaluator) are in ``nasxfer.schedulers.check_scheduler``."""

    name: str = Field(description="The multi-fidelity scheduler: asha, hyperband or successive_halving (see Schedulers).")
    min_epochs: int = Field(1, ge=1, le=10_000, description="Epochs of the first rung; must be below train.epochs.")
    eta: int = Field(3, ge=2, le=100, description="Rungs grow by this factor, and the best 1/eta of a rung go on to the next.")
    brackets: int | None = Field(None, ge=1, le=64, description="hyperband, asha: how many brackets, each starting at a different rung (at most the number of rungs); successive_halving has 1. null: hyperband one per rung, asha 1.")

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        from nasxfer.schedulers import SCHEDULER_NAMES

        return known_name(name, SCHEDULER_NAMES, "scheduler")


class PrunerConfig(Strict):
    """Stops a trial after an epoch at which it is worse than the median of the complete
    trials at that epoch (``nasxfer.schedulers.pruning``)."""

    name: str = Field("median", description="The pruner; median is the only one.")
    warmup_epochs: int = Field(1, ge=0, le=10_000, description="Never prune at or before this epoch.")
    min_trials: int = Field(3, ge=1, le=100_000, description="Complete trials needed at an epoch before any trial is pruned there.")

    @field_validator("name")
    @classmethod
    def _known_pruner(cls, name: str) -> str:
        return known_name(name, ("median",), "pruner")


class WarmStartConfig(Strict):
    """Start with the best ``top`` trials of the earlier run ``run`` (``nasxfer.search.warm_start``).

    ``search.warm_start: <run-id>`` is short for ``{run: <run-id>}``.
    """

    run: str = Field(description="The id of the earlier run whose best trials start this search.")
    top: int = Field(5, ge=1, le=10_000, description="How many of that run's best trials are trained first.")

    @model_validator(mode="before")
    @classmethod
    def _run_id_alone(cls, data: Any) -> Any:
        return {"run": data} if isinstance(data, str) else data


class CrossValidation(Strict):
    """Cross-validated trials: each trial trains and scores on ``folds`` stratified folds of
    train+val (``repeats`` times, reshuffled), fixed per run by the run seed so that every
    trial sees the same folds. Its metric is the fold mean; the standard error goes beside it.

    ``search.cv: 5`` is short for ``{folds: 5}``.
    """

    folds: int = Field(5, ge=2, le=50, description="How many stratified folds of train+val each trial trains and scores on; its metric is their mean.")
    repeats: int = Field(1, ge=1, le=20, description="Repeat the folds this many times, each with another shuffle (repeated K-fold): folds x repeats trainings per trial.")

    @model_validator(mode="before")
    @classmethod
    def _folds_alone(cls, data: Any) -> Any:
        return {"folds": data} if isinstance(data, int) and not isinstance(data, bool) else data

    @property
    def trainings(self) -> int:
        """Trainings per trial: folds x repeats."""
        return self.folds * self.repeats


class RecheckConfig(Strict):
    """Re-check the leaders before the pick: once the searched trials are done, the ``top``
    best are trained ``repeats`` more times, each with another seed, and each leader's
    metrics become the mean over its runs, with the standard error beside it (as
    ``search.cv``'s). A trial's single run is partly luck; the leader with the best mean is
    the better pick. The re-runs count against ``search.budget.trials``: the strategy
    searches ``trials - top * repeats`` candidates.
    """

    top: int = Field(5, ge=1, le=1000, description="How many of the best searched trials are trained again before the pick.")
    repeats: int = Field(2, ge=1, le=100, description="More trainings of each leader, each with another seed; its metrics become the mean over its 1 + repeats runs.")

    @property
    def trainings(self) -> int:
        """The trial budget the re-checks take: top x repeats."""
        return self.top * self.repeats


class OneShotConfig(Strict):
    """Weight-sharing search, single-path one-shot (SPOS, Guo et al., 2020): three phases.

    1. One supernet holding every architecture of the space trains for ``epochs``, one path
       (an op per layer, a stem width) sampled per step by ``sampler``; checkpointed per epoch.
    2. The strategy searches the space with no training: a candidate is scored by its path's
       inherited weights, after its batch-norm statistics are recalibrated on
       ``bn_recalibration_batches`` training batches (trials journalled with
       ``fidelity: supernet``; ``search.budget`` bounds this phase).
    3. The ``retrain_top`` best candidates train from scratch as ordinary trials.

    Needs ``model.scratch`` and searches architectures only: ``model.scratch.ops`` and
    ``model.scratch.stem_channels`` (see ``nasxfer.search.one_shot``).
    """

    epochs: int = Field(10, ge=1, le=10_000, description="Epochs of supernet training (phase 1), with train's optimizer, lr, batch size and schedule; each step trains one sampled path.")
    sampler: Literal["uniform"] = Field("uniform", description="How phase 1 picks the path of each step: uniform (every op of every layer, and every stem width, equally likely).")
    bn_recalibration_batches: int = Field(4, ge=0, le=10_000, description="Training batches each candidate's batch-norm statistics are recomputed on before it is scored (phase 2); 0 keeps the supernet's running statistics.")
    retrain_top: int = Field(3, ge=0, le=1000, description="How many of the best supernet-scored candidates train from scratch as ordinary trials (phase 3).")


class SearchConfig(Strict):
    strategy: StrategyConfig = Field(StrategyConfig(), description="How candidates are proposed: the strategy's name and its options.")
    evaluator: EvaluatorConfig = Field(EvaluatorConfig(), description="How trials are evaluated: trained for real, or looked up in a results table.")
    space: dict[str, Dimension] = Field(default_factory=dict, description="The searched fields: dotted config paths (train.lr, model.scratch.ops) and their domains; {} searches nothing.")
    budget: Budget = Field(Budget(), description="When the search ends.")
    objective: Objective = Field(Objective(), description="The metric that ranks trials and its direction.")
    # Several objectives make the search multi-objective: trials are ranked by Pareto front.
    objectives: list[Objective] | None = Field(None, min_length=1, max_length=4, description="Several objectives make the search multi-objective (trials ranked by Pareto front); the first is the primary one and replaces objective.")
    constraints: Constraints = Field(Constraints(), description="Limits checked on the untrained network before any training: a candidate breaking one is rejected and costs nothing.")
    latency: LatencyConfig = Field(LatencyConfig(), description="How latency_ms and latency_p90_ms are measured (objectives and constraints).")
    max_failures: int = Field(3, ge=1, le=1000, description="This many failed trials in a row end the search.")
    max_rejects: int = Field(100, ge=1, le=1_000_000, description="This many candidates in a row rejected by the constraints end the search.")
    scheduler: SchedulerConfig | None = Field(None, description="Multi-fidelity: train trials to rungs of min_epochs * eta^k epochs and promote only the best; null: every trial trains train.epochs.")
    pruner: PrunerConfig | None = Field(None, description="Stop a trial after an epoch at which it is worse than the median of the complete trials at that epoch; null: never prune.")
    warm_start: WarmStartConfig | None = Field(None, description="Train an earlier run's best candidates first; a run id alone is short for {run: <run-id>}.")
    screen: ScreenConfig | None = Field(None, description="Training-free screening: score sample candidates untrained and train the keep best first; null: no screening.")
    cv: CrossValidation | None = Field(None, description="Cross-validated trials: each trial trains on folds of train+val and reports the fold mean and its standard error; an integer is short for {folds: N}. null: one train/val split.")
    one_shot: OneShotConfig | None = Field(None, description="Weight-sharing search (single-path one-shot): train one supernet, score candidates with its weights (search.budget bounds them), retrain the retrain_top best from scratch. null: every trial trains on its own.")
    distill: SearchDistillConfig | None = Field(None, description="Knowledge distillation in every trial from a teacher (run:<id> or a model file), loaded once per run; trials are still ranked by their own validation accuracy, and finetune distils from the same teacher unless finetune.distill is set. null: trials train on the labels alone.")
    recheck: RecheckConfig | None = Field(None, description="Re-check the leaders: after the searched trials, train the top best repeats more times with other seeds and rank them by their mean (± s.e.); the re-runs count against search.budget.trials. null: every trial is one run.")

    @model_validator(mode="after")
    def _recheck_fits(self) -> SearchConfig:
        if self.recheck is None:
            return self
        trials = self.budget.trials
        if trials is not None and self.recheck.trainings >= trials:
            raise ValueError(
                f"recheck: top x repeats ({self.recheck.top} x {self.recheck.repeats}) re-runs leave no trial of "
                f"search.budget.trials ({trials}) to search; raise the budget or lower search.recheck.top"
            )
        clashes = {"cv": self.cv is not None, "one_shot": self.one_shot is not None, "scheduler": self.scheduler is not None}
        for name, clash in clashes.items():
            if clash:
                raise ValueError(f"recheck: search.{name} cannot be combined with re-checked leaders yet; remove one of them")
        return self

    @property
    def searched_trials(self) -> int | None:
        """The candidates the strategy proposes: the trial budget less the re-checks' share."""
        if self.budget.trials is None:
            return None
        return self.budget.trials - (self.recheck.trainings if self.recheck else 0)

    @model_validator(mode="after")
    def _cv_needs_training(self) -> SearchConfig:
        if self.cv is not None and self.evaluator.table is not None:
            raise ValueError("cv: a table lookup trains nothing, so it has no folds; remove search.cv or search.evaluator.table")
        if self.distill is not None and self.evaluator.table is not None:
            raise ValueError("distill: a table lookup trains nothing to distil into; remove search.distill or search.evaluator.table")
        if self.distill is not None and self.cv is not None:
            raise ValueError("distill: cross-validated trials (search.cv) cannot distil yet; remove search.distill or search.cv")
        if self.distill is not None and self.one_shot is not None:
            raise ValueError("distill: a one-shot search scores a supernet's paths, not students trained alone; remove search.distill or search.one_shot")
        return self

    @model_validator(mode="after")
    def _one_shot_alone(self) -> SearchConfig:
        if self.one_shot is None:
            return self
        # Each of these decides how long a trial trains or where its number comes from; a
        # supernet score has no epochs, folds or table entry.
        clashes = {
            "evaluator.table": self.evaluator.table is not None,
            "cv": self.cv is not None,
            "scheduler": self.scheduler is not None,
            "pruner": self.pruner is not None,
        }
        for name, clash in clashes.items():
            if clash:
                raise ValueError(f"one_shot: search.{name} cannot be combined with a supernet search; remove one of them")
        return self

    @model_validator(mode="before")
    @classmethod
    def _objective_is_the_first_of_objectives(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("objectives"):
            first = data["objectives"][0]
            if "objective" in data and data["objective"] not in (None, first) and data["objective"] != Objective().model_dump():
                raise ValueError("give objective or objectives, not both (objectives[0] is the primary one)")
            data = {**data, "objective": first}
        return data

    @property
    def all_objectives(self) -> list[Objective]:
        return list(self.objectives) if self.objectives else [self.objective]
