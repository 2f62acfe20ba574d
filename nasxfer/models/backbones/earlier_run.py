"""``run:<run-id>``: an earlier nasxfer run's model as the backbone, so one search transfers to another.

The model is the run's ``final/model.pt`` (after ``nasxfer finetune``), else its best
trial's ``model.pt``, found in the runs folder (``NASXFER_RUNS_DIR``, default ``./runs``).
Everything but its classifier is kept: a from-scratch network keeps its stem, stages and
1x1 head conv; a transfer network keeps its backbone (its head was fitted to the source
task and is dropped). Preprocessing is the one that model was trained with.

A model file built on this backbone carries the source's description (its payload minus
the weights) as ``backbone_source``, so it rebuilds even after the source run is deleted.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nasxfer.errors import ConfigError, NasxferError
from nasxfer.models.backbone_names import RUN_PREFIX
from nasxfer.models.backbone_sources import run_model_file
from nasxfer.models.backbones.base import Backbone, InputSpec, split_into_stages


def source_payload(run_id: str, trust_factory: bool = False) -> dict[str, Any]:
    """The model file (weights included) that ``run:<run_id>`` transfers from, verified
    against the sha256 that run journalled; one built by a factory only when trusted."""
    from nasxfer.storage.model_files import open_model_file

    path = run_model_file(run_id)
    try:
        payload = open_model_file(
            path, _recorded_sha256(run_id, path), trust_factory=trust_factory,
            trust_hint="pass --trust-factory (or set model.backbone.trust_factory: true) if you trust that run",
            no_verify_hint="finetune that run again to write a model file with one",
        )  # fmt: skip
    except NasxferError as exc:
        raise ConfigError(f"model.backbone.name: run '{run_id}': {exc}") from None
    if payload.get("ensemble"):
        raise ConfigError(
            f"model.backbone.name: run '{run_id}': its final model is an ensemble of {payload['ensemble']} networks, "
            "which cannot be one backbone; finetune that run again without finetune.ensemble"
        )
    return payload


def _recorded_sha256(run_id: str, path) -> str | None:
    """The sha256 run ``run_id`` journalled for ``path``: its final model's (``finetuned``),
    or the trial's record's; None when none was recorded."""
    from nasxfer.storage.store import default_runs_dir, resolve_run

    store = resolve_run(default_runs_dir(), run_id)
    if path.parent.name == "final":
        finetuned = [e for e in store.events() if e.get("event") == "finetuned"]
        return finetuned[-1].get("sha256") if finetuned else None
    record = next((r for r in store.history() if store.trial_dir(r.number) == path.parent), None)
    return record.checksums.get("model.pt") if record is not None else None


def describe(payload: dict[str, Any]) -> dict[str, Any]:
    """A payload without its weights: enough to rebuild the architecture."""
    return {k: v for k, v in payload.items() if k != "state_dict"}


def _scratch_map(body, x):
    return body.head[0](body.stages(body.stem(x)))  # up to the 1x1 head conv, before pooling


def build(cfg, pretrained: bool = True, source: dict[str, Any] | None = None) -> Backbone:
    """The earlier run's trunk: with its weights when ``pretrained``, else just its architecture.

    ``source`` (a ``describe``d payload) stands in for the run when rebuilding a model file.
    """
    from nasxfer.storage.model_files import architecture_from_payload, rebuild_model
    from nasxfer.models.scratch import ScratchNetwork
    from nasxfer.models.transfer import TransferNetwork

    run_id = cfg.name[len(RUN_PREFIX) :]
    if cfg.weights not in ("DEFAULT", "none"):
        raise ConfigError("model.backbone.weights: a run backbone's weights come from the run; use DEFAULT (or none)")
    if source is None:
        payload = source_payload(run_id, trust_factory=cfg.trust_factory)
        source = describe(payload)
        use_weights = pretrained and cfg.weights == "DEFAULT"
        network = rebuild_model(payload) if use_weights else architecture_from_payload(source)
    else:
        network = architecture_from_payload(source)

    preprocess = source["preprocess"]
    size = preprocess.get("image_size") or source["image_size"]
    spec = InputSpec(
        image_size=int(size[0]) if isinstance(size, (list, tuple)) else int(size),
        mean=tuple(preprocess["mean"]),
        std=tuple(preprocess["std"]),
        channels=int(preprocess.get("channels") or source["in_channels"]),
    ).overridden(cfg)

    if isinstance(network, TransferNetwork):
        trunk = network.backbone
        return Backbone(
            trunk.body,
            trunk.feature_fn,
            trunk.stages,
            trunk.num_features,
            spec,
            description=f"run:{run_id}<{trunk.description}>",
            source=source,
        )
    if isinstance(network, ScratchNetwork):
        network.classifier = nn.Identity()
        boundaries = ["stem", *(f"stages.{i}" for i in range(len(network.stages))), "head"]
        return Backbone(
            network,
            _scratch_map,
            split_into_stages(network, boundaries),
            network.num_features,
            spec,
            description=f"run:{run_id}<scratch>",
            source=source,
        )
    raise ConfigError(f"model.backbone.name: run '{run_id}' holds a {type(network).__name__}, which cannot be a backbone")
