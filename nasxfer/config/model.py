"""The ``model`` section: a network searched from scratch, or a pretrained backbone with a head.

Which backbone names and factories exist is ``nasxfer.models.backbone_names``'s to say;
it is imported here without torch, so ``nasxfer validate`` stays fast.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from nasxfer.config.base import Strict, stage_count
from nasxfer.config.messages import known_name
from nasxfer.models import SCRATCH_OPS
from nasxfer.models.backbone_names import DEFAULT_WEIGHTS, check_factory, check_name, normalise_weights


class ScratchConfig(Strict):
    """A macro network searched from scratch: stem, stages of layers, 1x1 head, pool, linear.

    The first layer of each stage has stride 2 and doubles the width, so stage ``i`` has
    ``stem_channels * 2**(i+1)`` channels (NAS-Bench-Macro's layout).
    """

    stem_channels: int = Field(16, ge=1, le=1024, description="Channels of the stem convolution; stage i has stem_channels * 2**(i+1) channels.")
    stages: list[int] = Field(default_factory=lambda: [2, 2], min_length=1, max_length=8, description="Layers per stage (1 to 32 each); the first layer of each stage has stride 2.")
    ops: list[str] = Field(default_factory=lambda: ["mbconv_k3_e3"] * 4, min_length=1, description="One op per layer (as many as sum(stages)), from nasxfer.models.SCRATCH_OPS.")
    head_channels: int = Field(128, ge=1, le=8192, description="Channels of the 1x1 convolution before pooling and the linear classifier.")

    @field_validator("stages")
    @classmethod
    def _stage_sizes(cls, stages: list[int]) -> list[int]:
        if any(n < 1 or n > 32 for n in stages):
            raise ValueError("every stage needs 1 to 32 layers")
        return stages

    @field_validator("ops")
    @classmethod
    def _known_ops(cls, ops: list[str]) -> list[str]:
        return [known_name(op, SCRATCH_OPS, "op") for op in ops]

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

    name: str | None = Field(None, description="A torchvision model (resnet18), a CIFAR ResNet (resnet20/32/44/56/110), timm:<name>, or run:<run-id> (an earlier run's model). Give this or factory.")
    factory: str | None = Field(None, description="package.module:function returning a module, for any other backbone (instead of name).")
    weights: str = Field(DEFAULT_WEIGHTS, description="DEFAULT or a torchvision weights name (IMAGENET1K_V2), none (random init), or a checkpoint file path (relative to the working directory).")
    image_size: int | None = Field(None, ge=8, le=1024, description="Input size in pixels, overriding the backbone's own preprocessing.")
    mean: list[float] | None = Field(None, min_length=1, max_length=3, description="Per-channel normalisation mean, overriding the backbone's.")
    std: list[float] | None = Field(None, min_length=1, max_length=3, description="Per-channel normalisation std (positive), overriding the backbone's.")
    trust_factory: bool = Field(False, description="With a run: backbone whose model is built by a factory: allow calling that factory (its code runs). Only for runs you trust.")

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

    pooling: Literal["avg", "max", "avg+max"] = Field("avg", description="How the feature map becomes a vector: avg, max or avg+max (both, concatenated).")
    hidden: list[int] = Field(default_factory=list, max_length=8, description="Widths of the hidden layers (each linear -> norm -> activation -> dropout); [] is a linear head.")
    activation: Literal["relu", "gelu", "silu", "tanh"] = Field("relu", description="Activation of the hidden layers.")
    norm: Literal["none", "batch", "layer"] = Field("none", description="Normalisation of the hidden layers: none, batch or layer.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout probability after each hidden layer and before the final linear layer.")

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
    backbone's learning rate against the head's. ``batchnorm: eval`` keeps the training
    stages' BatchNorm layers normalising by their pretrained statistics (their scale and
    shift still train), so a head fitted to the frozen backbone meets the same features when
    the backbone starts training; ``train`` normalises by batch statistics and updates the
    running ones, as ``nn.Module.train`` does. ``feature_cache: auto`` trains the heads of
    fully frozen backbones on cached features (no image augmentation then; see README);
    ``feature_noise`` (Gaussian, in units of each feature's std) and ``feature_mixup`` (Beta
    alpha) augment those features instead.
    """

    unfreeze: int | Literal["all"] = Field(0, description="Backbone stages that train, counted from the top: 0 is a linear probe (only the head trains), all trains everything. Frozen stages stay in eval mode.")
    backbone_lr_mult: float = Field(0.1, gt=0, le=10, description="The backbone's learning rate as a multiple of the head's (train.lr).")
    batchnorm: Literal["eval", "train"] = Field("eval", description="The training stages' BatchNorm: eval keeps the pretrained statistics (scale and shift still train), so LP-FT's head meets the features it was fitted to and small batches cannot corrupt them; train uses batch statistics and updates the running ones.")
    feature_cache: Literal["auto", "off"] = Field("auto", description="auto: the heads of fully frozen backbones train on cached features (no image augmentation then); off: always run the backbone.")
    feature_noise: float = Field(0.0, ge=0, le=10, description="Cached features only: Gaussian noise added to each feature, in units of its std.")
    feature_mixup: float = Field(0.0, ge=0, le=10, description="Cached features only: mixup of features with this Beta alpha; 0 turns it off.")

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _stage_count(cls, unfreeze: Any) -> int | str:
        return stage_count(unfreeze)


class ModelConfig(Strict):
    """Transfer or scratch: with ``backbone`` set a trial trains ``head`` on that backbone
    (``finetune`` says how) and ``scratch`` is unused; without it, ``scratch`` is the network."""

    backbone: BackboneConfig | None = Field(None, description="A pretrained trunk to transfer from; null searches the scratch network instead. `backbone: resnet18` is short for {name: resnet18}.")
    head: HeadConfig = Field(HeadConfig(), description="Transfer models: the classifier on the backbone's features.")
    finetune: TransferTraining = Field(TransferTraining(), description="Transfer models: how a trial trains the backbone.")
    scratch: ScratchConfig = Field(ScratchConfig(), description="The network searched from scratch; unused when backbone is set.")

    @property
    def kind(self) -> Literal["transfer", "scratch"]:
        return "transfer" if self.backbone is not None else "scratch"
