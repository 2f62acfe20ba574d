"""The two score protocols and the timed call every caller goes through.

An architecture score is ``compute(model, batch) -> float`` on the untrained network; a
backbone score is ``compute(features) -> float`` on frozen features. Larger is better.
``compute_score`` seeds torch's generator (so a score that draws anything is determined by
``seed``), times the call and hands back a ``ScoreValue``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn


@dataclass(frozen=True)
class Batch:
    """One minibatch of training images ``[N, C, H, W]`` and labels ``[N]``, preprocessed as for training."""

    inputs: torch.Tensor
    labels: torch.Tensor
    num_classes: int


@dataclass(frozen=True)
class Features:
    """Frozen features ``[N, D]`` of the target data, its labels ``[N]``; ``source_probs``
    ``[N, Z]``: the source classifier's softmax outputs, where the backbone kept it."""

    features: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    source_probs: torch.Tensor | None = None


@dataclass(frozen=True)
class ScoreValue:
    name: str
    value: float
    seconds: float


class ArchitectureScore:
    name: ClassVar[str]
    kind: ClassVar[str] = "architecture"
    needs_data: ClassVar[bool] = True  # False: the batch's shape is all it reads

    def compute(self, model: nn.Module, batch: Batch) -> float:
        raise NotImplementedError


class BackboneScore:
    name: ClassVar[str]
    kind: ClassVar[str] = "backbone"
    needs_source: ClassVar[bool] = False  # needs the source classifier's outputs (NCE, LEEP)

    def compute(self, features: Features) -> float:
        raise NotImplementedError


def compute_score(score, subject, data, seed: int = 0) -> ScoreValue:
    """``score`` on ``subject`` (a model, for an architecture score; ``data`` is its ``Batch``)
    or on ``data`` alone (``Features``, for a backbone score; ``subject`` is ignored), timed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        started = time.perf_counter()
        if score.kind == "architecture":
            value = score.compute(subject, data)
        else:
            value = score.compute(data)
        seconds = time.perf_counter() - started
    return ScoreValue(score.name, float(value), seconds)


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """The conv and linear layers: the weights the gradient-based scores sum over (as in
    Abdelfattah et al.'s zero-cost-nas)."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def loss_gradients(model: nn.Module, batch: Batch) -> None:
    """Back-propagate the cross-entropy of ``batch`` through ``model`` (train mode), grads zeroed first."""
    model.train()
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(batch.inputs), batch.labels)
    loss.backward()
