"""The experiment config: pydantic models, YAML loading, ``--set`` overrides, ``apply``.

A YAML file becomes a frozen, validated ``Config``. Every later change to a config, a
user's ``--set train.lr=0.05`` or a strategy's candidate ``{"train.lr": 0.05}``, goes
through ``Config.apply``, so both are validated by the same schema. Validation errors
become one-line ``ConfigError`` messages that name the field and the fix. The config never
trains, prints or touches the file system beyond reading the YAML it is given.

Where each part lives (import every name from ``nasxfer.config`` itself):

- ``experiment``: ``Config``, its ``output`` and ``executor`` sections, ``validate_config``, ``load_config``
- ``data``: the ``data`` section
- ``model``: the ``model`` section (scratch network, backbone, head, how the backbone trains)
- ``search``: the ``search`` section (space dimensions, strategy, budget, objectives, constraints, schedulers, …)
- ``training``: the ``train`` and ``finetune`` sections
- ``base``: ``Strict``, the base of every section, and validators several sections share
- ``messages``: pydantic errors as one-line messages; the "did you mean" name check
- ``yaml_io``: YAML 1.2 parsing, reading a config file into a mapping, the size and alias limits
- ``overrides``: ``--set key=value`` parsing and dotted-path edits of raw config data
- ``reference``: the Markdown config reference and JSON Schema generated from the models
  (``nasxfer schema``; import it from ``nasxfer.config.reference``)
"""

# Re-exported so that `from nasxfer.config import X` names every part of the schema in one
# place, the shared helpers included: callers never depend on how the package is split. To
# monkeypatch a limit, patch the module that reads it (nasxfer.config.yaml_io.MAX_CONFIG_NODES):
# rebinding the name here changes nothing.
from nasxfer.config.base import Strict, stage_count
from nasxfer.config.data import MAX_SYNTHETIC_BYTES, DataConfig, SyntheticData
from nasxfer.config.experiment import ONE_SHOT_PATHS, Config, ExecutorConfig, OutputConfig, load_config, validate_config
from nasxfer.config.messages import format_validation_error, known_name, unknown_key_message
from nasxfer.config.model import BackboneConfig, HeadConfig, ModelConfig, ScratchConfig, TransferTraining
from nasxfer.config.overrides import parse_override, set_path
from nasxfer.config.search import (
    OBJECTIVE_METRICS,
    Budget,
    Constraints,
    Dimension,
    EvaluatorConfig,
    LatencyConfig,
    Objective,
    OneShotConfig,
    PrunerConfig,
    SchedulerConfig,
    SearchConfig,
    StrategyConfig,
    WarmStartConfig,
    freeze_choice,
)
from nasxfer.config.training import DistillConfig, FinetuneConfig, SearchDistillConfig, TrainConfig
from nasxfer.config.yaml_io import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, Yaml12Loader, read_yaml_mapping, safe_load_yaml, too_many_nodes

__all__ = [
    # the whole config and the ways to get one
    "Config", "load_config", "validate_config",
    # sections, in the order a config file has them
    "DataConfig", "SyntheticData",
    "ModelConfig", "ScratchConfig", "BackboneConfig", "HeadConfig", "TransferTraining",
    "SearchConfig", "Dimension", "StrategyConfig", "EvaluatorConfig", "Budget", "Objective",
    "Constraints", "LatencyConfig", "SchedulerConfig", "PrunerConfig", "WarmStartConfig", "OneShotConfig", "ONE_SHOT_PATHS",
    "TrainConfig", "FinetuneConfig", "DistillConfig", "SearchDistillConfig", "OutputConfig", "ExecutorConfig", "Strict",
    # YAML, overrides, messages
    "safe_load_yaml", "read_yaml_mapping", "parse_override", "set_path", "format_validation_error",
    # limits and names
    "MAX_CONFIG_BYTES", "MAX_CONFIG_NODES", "MAX_SYNTHETIC_BYTES", "OBJECTIVE_METRICS",
    # helpers the sections share
    "known_name", "unknown_key_message", "stage_count", "freeze_choice", "too_many_nodes", "Yaml12Loader",
]
