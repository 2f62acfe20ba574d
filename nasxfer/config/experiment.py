"""The whole ``Config``, its ``output`` and ``executor`` sections, and the ways to get one.

``validate_config`` (plain data) and ``load_config`` (a YAML file plus ``--set`` overrides)
make a ``Config`` and turn every problem into a one-line ``ConfigError``. ``Config.apply``
makes a changed copy through the same validation, and ``Config.to_yaml`` is the resolved
config written to each run folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from nasxfer.config.base import Strict
from nasxfer.config.data import DataConfig
from nasxfer.config.messages import format_validation_error
from nasxfer.config.model import ModelConfig
from nasxfer.config.overrides import parse_override, set_path
from nasxfer.config.search import SearchConfig
from nasxfer.config.space_rules import check_space_paths
from nasxfer.config.training import FinetuneConfig, TrainConfig
from nasxfer.config.yaml_io import read_yaml_mapping
from nasxfer.errors import ConfigError


class OutputConfig(Strict):
    """Extra outputs of a search beyond the run folder's own files."""

    tensorboard: bool = Field(False, description="Write per-epoch TensorBoard scalars under runs/<id>/tensorboard/ (needs `pip install tensorboard`).")


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

    name: Literal["local", "ray"] = Field("local", description="local: trials run one at a time in the search's process; ray: several at once as Ray tasks (`pip install 'nasxfer[ray]'`).")
    address: str = Field("local", description="ray: local (a private Ray runtime on this machine), auto (the cluster this machine belongs to), host:port or ray://host:port.")
    gpus_per_trial: float | None = Field(None, ge=0, le=64, description="ray: GPUs each trial reserves; fractions share a GPU (0.5: two trials per GPU). null: 1 when the cluster has GPUs and train.device may use CUDA, else 0.")
    cpus_per_trial: float = Field(1.0, gt=0, le=1024, description="ray: CPUs each trial reserves.")
    max_concurrent: int | None = Field(None, ge=1, le=100_000, description="ray: at most this many trials at once; null: as many as the cluster's CPUs and GPUs hold.")
    max_retries: int = Field(2, ge=0, le=100, description="ray: times a trial whose worker or node died is re-queued before it is journalled as failed.")

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


#: The fields a one-shot search may vary: what a supernet path chooses.
ONE_SHOT_PATHS = ("model.scratch.ops", "model.scratch.stem_channels")


class Config(Strict):
    """A whole experiment, as one YAML file of these sections; every key is optional."""

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Experiment name; run ids are <name>-<YYYYmmdd-HHMMSS>.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seeds splits, sampling and initialisation; trial n uses a seed derived from it.")
    data: DataConfig = Field(DataConfig(), description="The dataset: which one, how it is split, loaded and augmented.")
    model: ModelConfig = Field(ModelConfig(), description="The network: searched from scratch, or a pretrained backbone with a head.")
    search: SearchConfig = Field(SearchConfig(), description="The search: space, strategy, budget, objectives, constraints, schedulers.")
    train: TrainConfig = Field(TrainConfig(), description="How each trial trains.")
    finetune: FinetuneConfig = Field(FinetuneConfig(), description="How `nasxfer finetune` retrains the winner on train+val.")
    output: OutputConfig = Field(OutputConfig(), description="Extra outputs of a search beyond the run folder's own files.")
    executor: ExecutorConfig = Field(ExecutorConfig(), description="Where trials run: in this process, or in parallel on Ray.")

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

    @model_validator(mode="after")
    def _one_shot_searches_architectures(self) -> Config:
        # A supernet shares weights between architectures of one from-scratch space; it has
        # nothing to say about a backbone or a training setting.
        if self.search.one_shot is None:
            return self
        if self.model.kind != "scratch":
            raise ValueError("search.one_shot: a supernet needs model.scratch (remove model.backbone, or search.one_shot)")
        for path in self.search.space:
            if path not in ONE_SHOT_PATHS:
                raise ValueError(
                    f"search.space.{path}: a supernet scores architectures, not this field; with search.one_shot "
                    f"search only {' and '.join(ONE_SHOT_PATHS)} (set {path} to a fixed value)"
                )
        if self.executor.name != "local":
            raise ValueError("search.one_shot: runs in the search's own process; set executor.name: local")
        return self

    @model_validator(mode="after")
    def _recheck_runs_locally(self) -> Config:
        if self.search.recheck is not None and self.executor.name != "local":
            raise ValueError("search.recheck: re-checks run in the search's own process; set executor.name: local or remove search.recheck")
        return self

    @model_validator(mode="after")
    def _space_varies_what_trials_train(self) -> Config:
        check_space_paths(self.search.space, DataConfig.model_fields)
        return self

    def apply(self, values: Mapping[str, Any]) -> Config:
        """A new config with each dotted path in ``values`` set; validated like the original."""
        data = self.model_dump(mode="json")
        for path, value in values.items():
            set_path(data, path, value)
        return validate_config(data)

    def to_yaml(self) -> str:
        """The config as YAML, fields in schema order: the resolved config of a run folder."""
        data = self.model_dump(mode="json")
        # Dimensions read better without their unused fields (a choice has no low/high).
        data["search"]["space"] = {
            path: dim.model_dump(mode="json", exclude_none=True) for path, dim in self.search.space.items()
        }
        return yaml.safe_dump(data, sort_keys=False)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key=value`` overrides, validate; ``ConfigError`` on any problem."""
    data = read_yaml_mapping(path)
    for item in overrides:
        key, value = parse_override(item)
        set_path(data, key, value)
    return validate_config(data)


def validate_config(data: Mapping[str, Any]) -> Config:
    """``data`` (plain mappings, as from YAML or JSON) as a ``Config``; ``ConfigError`` if it is not valid."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, Config)) from None
