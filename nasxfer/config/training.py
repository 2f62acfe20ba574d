"""The ``train`` and ``finetune`` sections: how each trial trains, and how the winner is retrained."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from nasxfer.config.base import Strict, stage_count


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
        return None if unfreeze is None else stage_count(unfreeze)
