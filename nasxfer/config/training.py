"""The ``train`` and ``finetune`` sections: how each trial trains, and how the winner is retrained."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from nasxfer.config.base import Strict, stage_count


class TrainConfig(Strict):
    epochs: int = Field(8, ge=1, le=10_000, description="Epochs each trial trains (with a scheduler: the last rung).")
    batch_size: int = Field(128, ge=1, le=65_536, description="Images per training step.")
    optimizer: Literal["sgd", "adamw"] = Field("sgd", description="sgd (momentum, Nesterov when nesterov is true) or adamw.")
    lr: float = Field(0.1, gt=0, le=10, description="Peak learning rate (after warm-up).")
    momentum: float = Field(0.9, ge=0, lt=1, description="sgd: momentum factor.")
    nesterov: bool = Field(True, description="sgd: use Nesterov momentum.")
    weight_decay: float = Field(5e-4, ge=0, le=1, description="Weight decay; never applied to biases and norm weights.")
    warmup_epochs: float = Field(0.0, ge=0, le=1000, description="Epochs of linear learning-rate warm-up (fractions allowed); must be below epochs.")
    schedule: Literal["cosine", "constant"] = Field("cosine", description="Learning-rate schedule after warm-up: cosine decay or constant.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing of the cross-entropy loss.")
    amp: Literal["auto", "bf16", "fp16", "off"] = Field("auto", description="Mixed precision: auto (bf16 on CUDA that supports it, else fp16 with loss scaling; fp32 on CPU), bf16, fp16 or off.")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps.")
    channels_last: Literal["auto", "on", "off"] = Field("auto", description="Channels-last memory format: auto (on for CUDA), on or off.")
    cudnn_benchmark: bool = Field(True, description="CUDA: let cuDNN time its kernels for the trial's fixed input shape.")
    # CUDA: capture the training step once and replay it per batch (nasxfer.training.cuda_graphs).
    # auto and on graph on CUDA where the step can be captured and train eagerly elsewhere;
    # on also refuses a config that can never be graphed. Off by default until measured on
    # a GPU (README, Performance).
    # PyTorch's default (a thread per core) collapses when other work keeps the cores busy;
    # auto looks before each trial (nasxfer.training.threads, benchmarks/busy_box.py).
    threads: int | Literal["auto"] = Field("auto", description="CPU threads a trial computes with (intra-op threads; DataLoader workers are capped at it): auto (the CPUs this process may use, its fair share when trials run at once, less the cores other processes keep busy; at least 1) or a number. Recorded in env.json and as each trial's train_threads.")
    cuda_graphs: Literal["auto", "on", "off"] = Field("off", description="CUDA: capture the training step once and replay it per batch. auto and on graph where the step can be captured and train eagerly elsewhere; on also rejects amp: fp16.")

    @field_validator("threads", mode="before")
    @classmethod
    def _threads_in_range(cls, threads: Any) -> int | str:
        if threads == "auto" or (isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= 1024):
            return threads
        raise ValueError(f"give auto or a number of threads from 1 to 1024 (got {threads!r})")

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


class DistillConfig(Strict):
    """Knowledge distillation into the final model (Hinton et al., 2015): it learns from a
    teacher's softened logits and the labels, ``alpha * T^2 * KL(teacher_T || student_T) +
    (1 - alpha) * cross_entropy``. The teacher's logits are computed once on the training
    images when the final training has no augmentation, else on each augmented batch the
    student sees (``nasxfer.training.distill``). The student must be a from-scratch network."""

    teacher: int | str = Field(description="The teacher: a trial number of this run, run:<id> (that run's final model, else its best trial's), or the path of a nasxfer model file (.pt).")
    temperature: float = Field(4.0, gt=0, le=100, description="Softmax temperature T of the soft targets (Hinton et al. use 1 to 20; higher is softer).")
    alpha: float = Field(0.9, ge=0, le=1, description="Weight of the soft-target term; 1 - alpha weighs the labels' cross-entropy.")

    @field_validator("teacher")
    @classmethod
    def _teacher_form(cls, teacher: int | str) -> int | str:
        if isinstance(teacher, bool):
            raise ValueError("a trial number, run:<id> or a model file path")
        if isinstance(teacher, int) and teacher < 0:
            raise ValueError(f"trial numbers start at 1, got {teacher}")
        if isinstance(teacher, str) and teacher.strip().isdigit():
            return int(teacher)
        if isinstance(teacher, str) and teacher.startswith("run:") and not teacher[4:].strip():
            raise ValueError("run: needs a run id, e.g. run:myrun-20260101-120000")
        return teacher


class SearchDistillConfig(DistillConfig):
    """Knowledge distillation in every trial of the search (``search.distill``): each
    candidate trains against the teacher's soft targets and the labels, as the final model
    does with ``finetune.distill``, and is still ranked by its own validation accuracy (the
    student that distils best is not always the one that trains best alone). The teacher is
    loaded once per run; ``finetune`` distils from it too unless ``finetune.distill`` is set.
    The students must be from-scratch networks."""

    teacher: int | str = Field(description="The teacher: run:<id> (that run's final model, else its best trial's) or the path of a nasxfer model file (.pt); a trial number has no meaning before the search has trials.")

    @field_validator("teacher")
    @classmethod
    def _no_trial_number(cls, teacher: int | str) -> int | str:
        if isinstance(teacher, int):
            raise ValueError(
                f"a trial number ({teacher}) names no model before the search has trials; give run:<id> or a model file "
                "(finetune.distill.teacher can be a trial of this run)"
            )
        return teacher


class FinetuneConfig(Strict):
    """How ``nasxfer finetune`` retrains the winner; unset fields follow ``train``.

    Early stopping is one rule for both kinds of model (from scratch and transfer): the
    epoch that scores best on an early-stopping set is kept. With ``train_on: train`` that
    set is the validation split the search scored on; with ``train+val`` it is ``holdout``
    of train+val, carved stratified (0: no set, the last epoch is kept).
    """

    epochs: int = Field(30, ge=1, le=10_000, description="Epochs of the final training (the second phase, for LP-FT).")
    lr: float | None = Field(None, gt=0, le=10, description="Learning rate; null: train.lr.")
    batch_size: int | None = Field(None, ge=1, le=65_536, description="Images per step; null: train.batch_size.")
    warmup_epochs: float | None = Field(None, ge=0, le=1000, description="Epochs of linear warm-up; null: train.warmup_epochs.")
    # LP-FT for transfer models: train the head alone for head_epochs (backbone frozen, at
    # head_lr), then for epochs with `unfreeze` backbone stages training (default: as the
    # trial did, model.finetune.unfreeze). 0 head_epochs skips the head phase.
    head_epochs: int = Field(0, ge=0, le=10_000, description="Transfer models: LP-FT's first phase, epochs training the head alone on a frozen backbone; 0 skips it.")
    head_lr: float | None = Field(None, gt=0, le=10, description="Transfer models: learning rate of the head-only phase; null: finetune.lr.")
    unfreeze: int | Literal["all"] | None = Field(None, description="Transfer models: backbone stages that train in the final phase (0 to 1000, or all); null: as the trial did (model.finetune.unfreeze).")
    # Early stopping: hold this fraction of train+val out, keep the epoch that scores best
    # on it (0 trains on everything and keeps the last epoch); stop after `patience`
    # epochs without improvement (None: train every epoch, still keep the best).
    train_on: Literal["train", "train+val"] = Field("train+val", description="What the final model learns from: train+val (every label; early stopping on finetune.holdout of it) or train (early stopping on the validation split the search used).")
    holdout: float = Field(0.1, ge=0, lt=0.5, description="Early stopping with train_on: train+val: fraction of train+val held out to keep the best epoch (both kinds of model); 0 trains on everything and keeps the last epoch.")
    patience: int | None = Field(None, ge=1, le=10_000, description="Early stopping: stop after this many epochs without improvement on the early-stopping set; null trains every epoch (still keeping the best).")
    seeds: int = Field(1, ge=1, le=100, description="Train this many times (seeds seed, seed+1, ...) and report the test mean and std; the first seed's model is kept.")
    ensemble: bool = Field(False, description="With seeds above 1: keep all the trainings as one model that averages their logits (tested, saved and exported as one); false keeps the first seed's model.")
    compile: bool = Field(False, description="torch.compile the final model (never done per trial: compiling costs minutes).")
    distill: DistillConfig | None = Field(None, description="Knowledge distillation from a teacher (a trial, run:<id> or a model file) into the final model; null: the search's teacher when search.distill is set, else the labels alone.")

    @field_validator("unfreeze", mode="before")
    @classmethod
    def _stage_count(cls, unfreeze: Any) -> int | str | None:
        return None if unfreeze is None else stage_count(unfreeze)
