"""Checkpoint files (``model.backbone.weights: path/to/file.pth``) loaded into a named architecture.

The file is opened with ``torch.load(weights_only=True)``, so it can hold tensors and plain
containers but never runs code. Accepted layouts: a bare state dict, ``{"state_dict": …}``,
``{"model": …}`` (nested any depth), with or without DataParallel's ``module.`` prefixes.
The architecture's classifier is never loaded (its class count is the source task's),
and a file that does not fit the architecture is a one-line ``ConfigError`` naming the
missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from torch import nn

from nasxfer.errors import ConfigError
from nasxfer.models.backbone_sources import require_weights_file

_WRAPPERS = ("state_dict", "model", "model_state_dict", "net")  # where trainers tuck the weights
_SHOWN = 3  # keys named in an error message; the count says how many more


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped and without ``module.`` prefixes."""
    path = require_weights_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user error
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"model.backbone.weights: '{path}' is not a checkpoint that loads with weights_only=True "
            f"(save model.state_dict(), not the model object): {reason}"
        ) from None
    while isinstance(obj, dict):
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, dict) else {}
    if not tensors:
        raise ConfigError(f"model.backbone.weights: '{path}' holds no state dict (no tensors found)")
    while all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def load_into(
    body: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    architecture: str,
    classifier: Iterable[str],
    origin: str,
) -> None:
    """Load ``state`` into ``body`` except its ``classifier`` (name prefixes), or raise.

    Every non-classifier weight of ``body`` must come from ``state`` with the same shape,
    and ``state`` may hold nothing else; only BatchNorm's ``num_batches_tracked`` counters
    may be absent (older checkpoints lack them).
    """
    prefixes = tuple(classifier)

    def in_classifier(key: str) -> bool:
        return any(key == p or key.startswith(p + ".") for p in prefixes)

    expected = {k: v for k, v in body.state_dict().items() if not in_classifier(k)}
    given = {k: v for k, v in state.items() if not in_classifier(k)}
    missing = [k for k in expected if k not in given and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in given if k not in expected]
    reshaped = [
        f"{k} {list(given[k].shape)} vs {list(expected[k].shape)}"
        for k in given
        if k in expected and given[k].shape != expected[k].shape
    ]
    problems = [
        _listing(missing, "missing key"),
        _listing(unexpected, "unexpected key"),
        _listing(reshaped, "key with another shape"),
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ConfigError(
            f"model.backbone.weights: {origin} does not fit {architecture}: {'; '.join(problems)} "
            "(is it a checkpoint of another architecture? set model.backbone.name to match)"
        )
    body.load_state_dict(given, strict=False)  # strict=False only for the checks above


def _listing(keys: list[str], what: str) -> str:
    if not keys:
        return ""
    shown = ", ".join(keys[:_SHOWN]) + (", …" if len(keys) > _SHOWN else "")
    return f"{len(keys)} {what}{'s' if len(keys) > 1 else ''} ({shown})"
