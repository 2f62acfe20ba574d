"""Model files: a state dict plus everything needed to rebuild and use the network.

A file holds only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``: opening a model file never runs code from it. Rebuilding
its network can: a ``factory`` backbone imports and calls the function its config names,
so ``open_model_file`` refuses such a file unless the caller trusts it. Every model file
nasxfer writes has its sha256 journalled; a file is checked against it before it is read.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nasxfer.config import Config, validate_config
from nasxfer.storage.atomic import atomic_torch_save

if TYPE_CHECKING:
    from nasxfer.models.classifier import Classifier

FORMAT_VERSION = 1
BACKBONE_PREFIX = "backbone."  # a TransferNetwork's backbone parameters, in its state dict


def model_payload(model: nn.Module, config: Config, values: dict[str, Any], data, preprocess) -> dict[str, Any]:
    """What a model file holds. A ``LogitEnsemble`` (``finetune.ensemble``) adds
    ``ensemble``: how many networks its state dict holds (``members.<i>.…``)."""
def model_payload(
    model: nn.Module, config: Config, values: dict[str, Any], data, preprocess, backbone_weights: str | None = None
) -> dict[str, Any]:
    """What a model file holds (see the module docstring).

    ``backbone_weights`` (the weights digest of a transfer network's frozen, pretrained
    backbone) writes a head-only file: the state dict leaves the backbone out, and
    ``rebuild_model`` builds it from the config's pretrained weights and checks them
    against this digest. A head search on cached features writes one per trial: kilobytes
    instead of the backbone's megabytes.
    """
    if backbone_weights is None:
        state = model.state_dict()
    else:  # the parts beside the backbone only: never copy the backbone's tensors to drop them
        state = {}
        for name, child in model.named_children():
            if f"{name}." != BACKBONE_PREFIX:
                child.state_dict(destination=state, prefix=f"{name}.")
    state = {k: v.detach().cpu() for k, v in state.items()}
    payload = {
        "format": FORMAT_VERSION,
        "state_dict": state,
        "config": config.model_dump(mode="json"),
        "candidate": values,
        "class_names": list(data.class_names),
        "in_channels": int(data.channels),
        "image_size": list(data.image_size),
        "preprocess": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(preprocess).items()},
        # An earlier run's model as backbone: its description, so this file rebuilds without that run.
        "backbone_source": getattr(model, "backbone_source", None),
    }
    members = getattr(model, "members", None)
    if members is not None:
        payload["ensemble"] = len(members)
        payload["backbone_source"] = getattr(members[0], "backbone_source", None)
    if backbone_weights is not None:
        payload["backbone_weights"] = backbone_weights
    return payload


def save_model(path: str | Path, payload: dict[str, Any]) -> str:
    """Write a model file atomically; returns its sha256 (journalled, checked on load)."""
    return atomic_torch_save(path, payload)


def load_payload(path: str | Path, sha256: str | None = None) -> dict[str, Any]:
    """Load a model file; with ``sha256``, refuse a file that does not match it."""
    from nasxfer.errors import NasxferError
    from nasxfer.storage.atomic import sha256_file

    path = Path(path)
    if sha256 is not None and sha256_file(path) != sha256:
        raise NasxferError(f"model file '{path}' is missing or corrupt (its checksum does not match the journal)")
    return torch.load(path, map_location="cpu", weights_only=True)


TRUST_HINT = "pass --trust-factory if you trust this run"
NO_VERIFY_HINT = "pass --no-verify to load it anyway"


def open_model_file(
    path: str | Path,
    sha256: str | None,
    trust_factory: bool = False,
    verify: bool = True,
    trust_hint: str = TRUST_HINT,
    no_verify_hint: str = NO_VERIFY_HINT,
) -> dict[str, Any]:
    """Load a model file for use: verified against the ``sha256`` its run recorded, and
    refused when rebuilding it would call a factory, unless ``trust_factory``.

    ``verify=False`` loads a file that has no recorded checksum (never a mismatching one).
    The hints end the refusals: how the caller's user says yes (a flag, a config field).
    """
    from nasxfer.errors import NasxferError

    if sha256 is None and verify:
        raise NasxferError(
            f"{path}: no sha256 was recorded for it, so it cannot be verified; {no_verify_hint}"
        )
    payload = load_payload(path, sha256)
    factory = factory_of(payload)
    if factory is not None and not trust_factory:
        raise NasxferError(
            f"{path}: its backbone is built by factory '{factory}', which would run that code; {trust_hint}"
        )
    return payload


def factory_of(payload: dict[str, Any]) -> str | None:
    """The factory (``package.module:function``) rebuilding ``payload`` would call: its own
    backbone's, or that of the earlier run its ``run:`` backbone came from; None if none."""
    while payload:
        backbone = ((payload.get("config") or {}).get("model") or {}).get("backbone") or {}
        if isinstance(backbone, dict) and backbone.get("factory"):
            return str(backbone["factory"])
        payload = payload.get("backbone_source")
    return None


def architecture_from_payload(payload: dict[str, Any]) -> nn.Module:
    """The network a payload describes, untrained: nothing is downloaded or read from disk.
    An ensemble's payload (``ensemble: K``) describes K networks of one architecture."""
    from nasxfer.models.build import build_model

    config = validate_config(payload["config"])
    members = payload.get("ensemble")
    if members:  # finetune.ensemble: the same architecture, once per member
        from nasxfer.models.ensemble import LogitEnsemble

        return LogitEnsemble([
            build_model(config.model, payload["in_channels"], len(payload["class_names"]), from_payload=payload)
            for _ in range(int(members))
        ])  # fmt: skip
    return build_model(config.model, payload["in_channels"], len(payload["class_names"]), from_payload=payload)


def rebuild_model(payload: dict[str, Any]) -> nn.Module:
    """The network a payload describes, with its weights loaded, in eval mode, on CPU.

    A head-only file (``backbone_weights``) gets its backbone from the config's pretrained
    weights (the file, the download cache, the earlier run), which must still be the ones
    the trial was trained on.
    """
    if payload.get("backbone_weights") is None:
        model = architecture_from_payload(payload)
        model.load_state_dict(payload["state_dict"])
        return model.eval()
    from nasxfer.errors import NasxferError
    from nasxfer.models.build import build_model
    from nasxfer.models.weights import weights_digest

    config = validate_config(payload["config"])
    model = build_model(config.model, payload["in_channels"], len(payload["class_names"]))
    if weights_digest(model.backbone) != payload["backbone_weights"]:
        raise NasxferError(
            f"model.backbone: the weights of {config.model.backbone.name} ({config.model.backbone.weights}) are not "
            "the ones this head was trained on; restore them, or finetune the run (its final model holds every weight)"
        )
    missing, unexpected = model.load_state_dict(payload["state_dict"], strict=False)
    if unexpected or any(not name.startswith(BACKBONE_PREFIX) for name in missing):
        raise NasxferError(f"model file: its head does not fit {config.model.backbone.name}'s network")
    return model.eval()


def load_classifier(
    path: str | Path, sha256: str | None, device: str = "cpu", trust_factory: bool = False, verify: bool = True
) -> "Classifier":
    """The model file at ``path`` as a ``Classifier``; see ``model_files.open_model_file``
    for what ``sha256``, ``trust_factory`` and ``verify`` allow."""
    from nasxfer.models.classifier import Classifier

    payload = open_model_file(path, sha256, trust_factory=trust_factory, verify=verify)
    return Classifier(rebuild_model(payload), payload).to(device).eval()
