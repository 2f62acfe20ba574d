"""The experiment config: pydantic models, YAML loading, ``--set`` overrides, ``apply``.

A YAML file becomes a frozen, validated ``Config``. Every later change to a config, a
user's ``--set train.lr=0.05`` or a strategy's candidate ``{"train.lr": 0.05}``, goes
through ``Config.apply``, so both are validated by the same schema. Validation errors
become one-line ``ConfigError`` messages that name the field and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nasxfer.config.base import Strict, _stage_count
from nasxfer.config.messages import _known, _unknown_key_message, format_validation_error
from nasxfer.config.overrides import parse_override, set_path
from nasxfer.config.yaml_io import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, _too_many_nodes, _Yaml12Loader, read_yaml_mapping, safe_load_yaml
from nasxfer.data import DATASET_NAMES
from nasxfer.errors import ConfigError
from nasxfer.models import SCRATCH_OPS
from nasxfer.models.backbone_names import DEFAULT_WEIGHTS, check_factory, check_name, normalise_weights

MAX_SYNTHETIC_BYTES = 4 * 10**9


# --------------------------------------------------------------------------- data


class SyntheticData(Strict):
    """Procedural images (class-dependent shapes plus noise) for tests and demos."""

    num_samples: int = Field(600, ge=10, le=1_000_000)
    num_classes: int = Field(4, ge=2, le=1000)
    channels: Literal[1, 3] = 3
    image_size: int = Field(16, ge=4, le=1024)

    @model_validator(mode="after")
    def _fits_in_memory(self) -> SyntheticData:
        size = self.num_samples * self.channels * self.image_size**2
        if size > MAX_SYNTHETIC_BYTES:
            raise ValueError(
                f"{size / 1e9:.0f} GB of images is too much to generate; lower num_samples or image_size"
            )
        return self


class DataConfig(Strict):
    dataset: str = "digits"
    root: str | None = None  # folder of torchvision files or of the ImageFolder tree
    val_root: str | None = None  # imagefolder: a separate validation folder
    test_root: str | None = None  # imagefolder: a separate test folder
    download: bool = False  # torchvision datasets: download into root when missing
    image_size: int | None = Field(None, ge=4, le=1024)  # resize to this; None keeps native size
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    limit: int | None = Field(None, ge=10)  # keep at most this many training images (quick runs)
    augment: Literal["auto", "none", "flip", "crop", "crop_flip"] = "auto"
    mode: Literal["auto", "memory", "stream"] = "auto"  # stream: DataLoader with workers
    num_workers: int = Field(2, ge=0, le=64)
    synthetic: SyntheticData = SyntheticData()

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return _known(name, DATASET_NAMES, "dataset")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "val_fraction + test_fraction must be below 0.9 so that training data remains"
            )
        if self.dataset == "imagefolder" and not self.root:
            raise ValueError("dataset 'imagefolder' needs data.root: the folder of class folders")
        return self


# --------------------------------------------------------------------------- model


class ScratchConfig(Strict):
    """A macro network searched from scratch: stem, stages of layers, 1x1 head, pool, linear.

    The first layer of each stage has stride 2 and doubles the width, so stage ``i`` has
    ``stem_channels * 2**(i+1)`` channels (NAS-Bench-Macro's layout).
    """

    stem_channels: int = Field(16, ge=1, le=1024)
    stages: list[int] = Field(default_factory=lambda: [2, 2], min_length=1, max_length=8)
    ops: list[str] = Field(default_factory=lambda: ["mbconv_k3_e3"] * 4, min_length=1)
    head_channels: int = Field(128, ge=1, le=8192)

    @field_validator("stages")
    @classmethod
    def _stage_sizes(cls, stages: list[int]) -> list[int]:
        if any(n < 1 or n > 32 for n in stages):
            raise ValueError("every stage needs 1 to 32 layers")
        return stages

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, ops: list[str]) -> list[str]:
        return [_known(op, SCRATCH_OPS, "op") for op in ops]

    @model_validator(mode="after")
    def _one_op_per_layer(self) -> ScratchConfig:
        if len(self.ops) != sum(self.stages):
            raise ValueError(
                f"ops has {len(self.ops)} entries but stages {self.stages} have "
                f"{sum(self.stages)} layers: give one op per layer"
            )
        return self


class BackboneConfig(Strict):
    """A pretrained trunk to transfer from; see ``nasxfer.models.backbones`` for the families.

    ``name``: a torchvision model (``resnet18``), a CIFAR ResNet (``resnet20``),
    ``timm:<name>``, or ``run:<run-id>`` (an earlier run's model). ``factory``:
    ``package.module:function`` returning a module, for anything else (then no ``name``).
    ``weights``: ``DEFAULT`` or a torchvision weights name, ``none`` (random init), or a
    checkpoint file path. ``image_size``, ``mean``, ``std`` override the backbone's own
    preprocessing.
    """

    name: str | None = None
    factory: str | None = None
    weights: str = DEFAULT_WEIGHTS
    image_size: int | None = Field(None, ge=8, le=1024)
    mean: list[float] | None = Field(None, min_length=1, max_length=3)
    std: list[float] | None = Field(None, min_length=1, max_length=3)

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, data: Any) -> Any:
        # `backbone: resnet18` is short for `backbone: {name: resnet18}`.
        return {"name": data} if isinstance(data, str) else data

    @field_validator("weights", mode="before")
    @classmethod
    def _weights_spelling(cls, value: Any) -> str:
        return normalise_weights(value)

    @field_validator("name")
    @classmethod
    def _known_backbone(cls, name: str | None) -> str | None:
        problem = None if name is None else check_name(name)
        if problem:
            raise ValueError(problem)
        return name

    @field_validator("factory")
    @classmethod
    def _factory_spec(cls, spec: str | None) -> str | None:
        problem = None if spec is None else check_factory(spec)
        if problem:
            raise ValueError(problem)
        return spec

    @field_validator("std")
    @classmethod
    def _positive_std(cls, std: list[float] | None) -> list[float] | None:
        if std is not None and any(s <= 0 for s in std):
            raise ValueError("every std value must be positive")
        return std

    @model_validator(mode="after")
    def _name_or_factory(self) -> BackboneConfig:
        if (self.name is None) == (self.factory is None):
            raise ValueError("give name (resnet18, resnet20, timm:…, run:…) or factory (package.module:function), not both")
        return self


class HeadConfig(Strict):
    """The classifier on the backbone's features: pooling, then ``hidden`` layers, then linear.

    Each hidden layer is linear -> ``norm`` -> ``activation`` -> ``dropout``; ``dropout``
    also precedes the final linear layer. ``pooling`` turns the feature map into a vector:
    ``avg``, ``max`` or ``avg+max`` (both, concatenated).
    """

    pooling: Literal["avg", "max", "avg+max"] = "avg"
    hidden: list[int] = Field(default_factory=list, max_length=8)
    activation: Literal["relu", "gelu", "silu", "tanh"] = "relu"
    norm: Literal["none", "batch", "layer"] = "none"
    dropout: float = Field(0.0, ge=0, lt=1)

    @field_validator("hidden")
    @classmethod
    def _widths(cls, hidden: list[int]) -> list[int]:
        if any(w < 1 or w > 65_536 for w in hidden):
            raise ValueError("every hidden width must be 1 to 65536")
        return hidden


class TransferTraining(Strict):
    """How a trial trains a backbone: how much of it, how fast, and on cached features.

    ``unfreeze``: how many backbone stages train, counted from the top (0 = linear probe:
    only the head trains; ``all``; more than the backbone has means all). Frozen stages stay
    in eval mode, so their BatchNorm statistics never move. ``backbone_lr_mult`` scales the
    backbone's learning rate against the head's. ``feature_cache: auto`` trains the heads of
    fully frozen backbones on cached features (no image augmentation then; see README);
    ``feature_noise`` (Gaussian, in units of each feature's std) and ``feature_mixup`` (Beta
    alpha) augment those features instead.
    """

    unfreeze: int | Literal["all"] = 0
    backbone_lr_mult: float = Field(0.1, gt=0, le=10)
    feature_cache: Literal["auto", "off"] = "auto"
    feature_noise: float = Field(0.0, ge=0, le=10)
    feature_mixup: float = Field(0.0, ge=0, le=10)

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _stage_count(cls, unfreeze: Any) -> int | str:
        return _stage_count(unfreeze)


class ModelConfig(Strict):
    """Transfer or scratch: with ``backbone`` set a trial trains ``head`` on that backbone
    (``finetune`` says how) and ``scratch`` is unused; without it, ``scratch`` is the network."""

    backbone: BackboneConfig | None = None
    head: HeadConfig = HeadConfig()
    finetune: TransferTraining = TransferTraining()
    scratch: ScratchConfig = ScratchConfig()

    @property
    def kind(self) -> Literal["transfer", "scratch"]:
        return "transfer" if self.backbone is not None else "scratch"


# --------------------------------------------------------------------------- search


class Dimension(Strict):
    """One searched config field: ``choices``, or a ``low``..``high`` range (``log`` scale).

    ``repeat: N`` makes the field a list of N items that vary independently (per-layer ops).
    ``grid`` is how many points a float range contributes to a grid search.
    """

    choices: list[Any] | None = Field(None, min_length=1)
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool | None = None  # default: integer when low and high are both integers
    repeat: int | None = Field(None, ge=1, le=64)
    grid: int = Field(3, ge=2, le=100)

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
        elif len({_freeze(c) for c in self.choices}) != len(self.choices):
            raise ValueError("choices contain duplicates")
        return self


class StrategyConfig(BaseModel):
    """``name`` picks a registered strategy; any other key is that strategy's option."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = "random"

    @field_validator("name")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        from nasxfer.strategies import STRATEGY_NAMES

        return _known(name, STRATEGY_NAMES, "strategy")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Budget(Strict):
    # candidates: a trial a scheduler pauses and promotes counts once, whatever its rungs
    trials: int | None = Field(20, ge=1, le=1_000_000)
    minutes: float | None = Field(None, gt=0, le=60 * 24 * 365)

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
    metric: str = "val_accuracy"
    mode: Literal["max", "min"] = "max"

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        return _known(metric, OBJECTIVE_METRICS, "metric")


class EvaluatorConfig(Strict):
    """How trials are evaluated: trained for real (the default), or looked up in a table.

    ``table`` is a NAS-Bench-Macro-format JSON file of results per architecture; a relative
    path resolves against the current directory of the command that runs the search.
    """

    table: str | None = None


class Constraints(Strict):
    """Limits checked on the untrained network, before any training: a candidate that
    breaks one is journalled as rejected and costs nothing."""

    max_params: float | None = Field(None, gt=0)
    max_flops: float | None = Field(None, gt=0)  # per image, a multiply-accumulate counting 2
    max_latency_ms: float | None = Field(None, gt=0)  # median, per batch of search.latency.batch_size
    max_memory_mb: float | None = Field(None, gt=0)  # one training step at train.batch_size

    def active(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LatencyConfig(Strict):
    device: Literal["trial", "cpu"] = "trial"  # where latency is measured
    batch_size: int = Field(1, ge=1, le=4096)
    warmup: int = Field(3, ge=0, le=1000)
    repeats: int = Field(10, ge=1, le=10_000)


class SchedulerConfig(Strict):
    """Multi-fidelity: trials train to rungs of ``min_epochs · eta^k`` epochs (and finally
    ``train.epochs``), and only the best go on. Checks that involve other sections (the
    epochs, the objective, the evaluator) are in ``nasxfer.schedulers.check_scheduler``."""

    name: str
    min_epochs: int = Field(1, ge=1, le=10_000)  # the first rung
    eta: int = Field(3, ge=2, le=100)  # rungs grow by this factor; the best 1/eta go on
    brackets: int | None = Field(None, ge=1, le=64)  # hyperband, asha: how many starting rungs

    @field_validator("name")
    @classmethod
    def _known_scheduler(cls, name: str) -> str:
        from nasxfer.schedulers import SCHEDULER_NAMES

        return _known(name, SCHEDULER_NAMES, "scheduler")


class PrunerConfig(Strict):
    """Stops a trial after an epoch at which it is worse than the median of the complete
    trials at that epoch (``nasxfer.pruning``)."""

    name: str = "median"
    warmup_epochs: int = Field(1, ge=0, le=10_000)  # never prune at or before this epoch
    min_trials: int = Field(3, ge=1, le=100_000)  # complete trials needed at an epoch before pruning there

    @field_validator("name")
    @classmethod
    def _known_pruner(cls, name: str) -> str:
        return _known(name, ("median",), "pruner")


class WarmStartConfig(Strict):
    """Start with the best ``top`` trials of the earlier run ``run`` (``nasxfer.warm_start``).

    ``search.warm_start: <run-id>`` is short for ``{run: <run-id>}``.
    """

    run: str
    top: int = Field(5, ge=1, le=10_000)

    @model_validator(mode="before")
    @classmethod
    def _run_id_alone(cls, data: Any) -> Any:
        return {"run": data} if isinstance(data, str) else data


class SearchConfig(Strict):
    strategy: StrategyConfig = StrategyConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    space: dict[str, Dimension] = Field(default_factory=dict)
    budget: Budget = Budget()
    objective: Objective = Objective()
    # Several objectives make the search multi-objective: trials are ranked by Pareto front.
    objectives: list[Objective] | None = Field(None, min_length=1, max_length=4)
    constraints: Constraints = Constraints()
    latency: LatencyConfig = LatencyConfig()
    max_failures: int = Field(3, ge=1, le=1000)  # this many failed trials in a row end the run
    max_rejects: int = Field(100, ge=1, le=1_000_000)  # this many rejected candidates in a row end it
    scheduler: SchedulerConfig | None = None  # None: every trial trains train.epochs
    pruner: PrunerConfig | None = None
    warm_start: WarmStartConfig | None = None

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


# --------------------------------------------------------------------------- training


class TrainConfig(Strict):
    epochs: int = Field(8, ge=1, le=10_000)
    batch_size: int = Field(128, ge=1, le=65_536)
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = Field(0.1, gt=0, le=10)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(5e-4, ge=0, le=1)
    warmup_epochs: float = Field(0.0, ge=0, le=1000)
    schedule: Literal["cosine", "constant"] = "cosine"
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    channels_last: Literal["auto", "on", "off"] = "auto"
    cudnn_benchmark: bool = True  # CUDA: let cuDNN time its kernels for the (fixed) input shape
    # CUDA: capture the training step once and replay it per batch (nasxfer.cuda_graphs).
    # auto and on graph on CUDA where the step can be captured and train eagerly elsewhere;
    # on also refuses a config that can never be graphed. Off by default until measured on
    # a GPU (README, Performance).
    cuda_graphs: Literal["auto", "on", "off"] = "off"

    @field_validator("device")
    @classmethod
    def _device_name(cls, device: str) -> str:
        base = device.split(":", 1)[0]
        if base not in ("auto", "cpu", "cuda", "mps"):
            raise ValueError(f"unknown device {device!r} (choices: auto, cpu, cuda, cuda:N, mps)")
        return device

    @model_validator(mode="after")
    def _warmup_inside_training(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be below epochs ({self.epochs})")
        return self

    @model_validator(mode="after")
    def _graphs_can_capture(self) -> TrainConfig:
        # fp16 scales its loss dynamically (GradScaler), which a graph cannot replay; auto
        # would quietly train eagerly, on says graphs were wanted.
        if self.cuda_graphs == "on" and self.amp == "fp16":
            raise ValueError("cuda_graphs: on cannot capture amp: fp16 (dynamic loss scaling); use amp: bf16 or off, or cuda_graphs: auto")
        return self


class FinetuneConfig(Strict):
    """How ``nasxfer finetune`` retrains the winner on train+val; unset fields follow ``train``."""

    epochs: int = Field(30, ge=1, le=10_000)
    lr: float | None = Field(None, gt=0, le=10)
    batch_size: int | None = Field(None, ge=1, le=65_536)
    warmup_epochs: float | None = Field(None, ge=0, le=1000)
    # LP-FT for transfer models: train the head alone for head_epochs (backbone frozen, at
    # head_lr), then for epochs with `unfreeze` backbone stages training (default: as the
    # trial did, model.finetune.unfreeze). 0 head_epochs skips the head phase.
    head_epochs: int = Field(0, ge=0, le=10_000)
    head_lr: float | None = Field(None, gt=0, le=10)
    unfreeze: int | Literal["all"] | None = None
    # Early stopping: hold this fraction of train+val out, keep the epoch that scores best
    # on it (0 trains on everything and keeps the last epoch); stop after `patience`
    # epochs without improvement (None: train every epoch, still keep the best).
    holdout: float = Field(0.1, ge=0, lt=0.5)
    patience: int | None = Field(None, ge=1, le=10_000)
    seeds: int = Field(1, ge=1, le=100)  # train this many times with different seeds; report mean ± std
    compile: bool = False  # torch.compile the final model (never done per trial: compiling costs minutes)

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _stage_count(cls, unfreeze: Any) -> int | str | None:
        return None if unfreeze is None else _stage_count(unfreeze)


class OutputConfig(Strict):
    """Extra outputs of a search beyond the run folder's own files."""

    tensorboard: bool = False  # per-epoch scalars under runs/<id>/tensorboard/ (needs `pip install tensorboard`)


class ExecutorConfig(Strict):
    """Where trials run. ``local``: in the search's own process, one at a time. ``ray``: as
    Ray tasks, several at once, on this machine or a Ray cluster (``pip install 'nasxfer[ray]'``).

    The other fields are Ray's. ``address``: ``local`` starts a private Ray runtime on this
    machine for the search; ``auto`` joins the cluster this machine belongs to (``ray start``);
    ``host:port`` or ``ray://host:port`` joins that one. ``gpus_per_trial`` None (the default)
    means 1 when the cluster has GPUs and ``train.device`` may use CUDA, else 0; fractions
    share a GPU (0.5: two trials per GPU). ``max_concurrent`` None: as many trials as the
    cluster's CPUs and GPUs hold. A trial whose worker or node dies is re-queued up to
    ``max_retries`` times, then journalled as failed.
    """

    name: Literal["local", "ray"] = "local"
    address: str = "local"
    gpus_per_trial: float | None = Field(None, ge=0, le=64)
    cpus_per_trial: float = Field(1.0, gt=0, le=1024)
    max_concurrent: int | None = Field(None, ge=1, le=100_000)
    max_retries: int = Field(2, ge=0, le=100)

    @field_validator("address")
    @classmethod
    def _address(cls, address: str) -> str:
        if address in ("local", "auto") or re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", address):
            return address
        raise ValueError(f"{address!r} is not local, auto, host:port or ray://host:port")

    @field_validator("gpus_per_trial")
    @classmethod
    def _whole_gpus_above_one(cls, gpus: float | None) -> float | None:
        # Ray shares a GPU between tasks, but cannot give one task a GPU and a half.
        if gpus is not None and gpus > 1 and gpus != int(gpus):
            raise ValueError(f"{gpus:g} GPUs: above 1, give a whole number (fractions share one GPU: 0.5, 0.25)")
        return gpus

    @model_validator(mode="after")
    def _ray_fields_need_ray(self) -> ExecutorConfig:
        if self.name == "local":
            changed = [name for name, field in type(self).model_fields.items() if name != "name" and getattr(self, name) != field.default]
            if changed:
                raise ValueError(f"{changed[0]} is a Ray setting: set executor.name: ray to run trials in parallel")
        return self


# --------------------------------------------------------------------------- the whole


class Config(Strict):
    name: str = Field("experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    search: SearchConfig = SearchConfig()
    train: TrainConfig = TrainConfig()
    finetune: FinetuneConfig = FinetuneConfig()
    output: OutputConfig = OutputConfig()
    executor: ExecutorConfig = ExecutorConfig()

    @model_validator(mode="after")
    def _space_fits_model_kind(self) -> Config:
        # A dimension over a part of the model that this kind of model does not use would
        # spend trials on no-ops: say so before anything trains.
        transfer = self.model.kind == "transfer"
        for path in self.search.space:
            if transfer and path.startswith("model.scratch"):
                raise ValueError(
                    f"search.space.{path}: model.backbone is set, so model.scratch is unused "
                    "(search model.head or model.finetune, or remove model.backbone)"
                )
            if not transfer and path.startswith(("model.backbone", "model.head", "model.finetune")):
                raise ValueError(
                    f"search.space.{path}: the model has no backbone, so this is unused "
                    "(set model.backbone.name to transfer from a pretrained network)"
                )
        return self

    def apply(self, values: Mapping[str, Any]) -> Config:
        """A new config with each dotted path in ``values`` set; validated like the original."""
        data = self.model_dump(mode="json")
        for path, value in values.items():
            set_path(data, path, value)
        return validate_config(data)

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json")
        # Dimensions read better without their unused fields (a choice has no low/high).
        data["search"]["space"] = {
            path: dim.model_dump(mode="json", exclude_none=True) for path, dim in self.search.space.items()
        }
        return yaml.safe_dump(data, sort_keys=False)


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate; ``ConfigError`` on any problem."""
    data = read_yaml_mapping(path)
    for item in overrides:
        key, value = parse_override(item)
        set_path(data, key, value)
    return validate_config(data)


def validate_config(data: Mapping[str, Any]) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value
