"""Training and evaluation as plain functions: ``train_one_epoch``, ``evaluate``, ``fit``.

Nothing here prints or decides what to search. ``fit`` reports each epoch through an
optional callback and returns the learning curve; the caller owns checkpoints and logs.
Where and how precisely it computes is ``nasxfer.training.compute``'s; what an evaluation scores,
``nasxfer.training.metrics``'.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from nasxfer.training.compute import Precision, autocast, choose_precision
from nasxfer.config import TrainConfig
from nasxfer.training.cuda_graphs import GraphedStep, ineligible, portable_state_dict
from nasxfer.errors import TrainingInterrupted
from nasxfer.training.metrics import classification_metrics, confusion_matrix

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the trial failed, its numbers are meaningless."""


def build_optimizer(model: nn.Module, cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW; no weight decay on biases and normalisation weights.

    A model with ``lr_scale(name)`` (a transfer network: its backbone learns slower than its
    head) gets one parameter group per scale; the schedule multiplies every group alike.
    Frozen parameters (``requires_grad=False``) are left out.
    """
    lr = cfg.lr if lr is None else lr
    lr_scale = getattr(model, "lr_scale", lambda name: 1.0)
    grouped: dict[tuple[bool, float], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            grouped.setdefault((p.ndim > 1, lr_scale(name)), []).append(p)
    groups = [
        {"params": params, "weight_decay": cfg.weight_decay if decays else 0.0, "lr": lr * scale}
        for (decays, scale), params in grouped.items()
    ]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str) -> float:
    """Linear warm-up to the base rate, then cosine decay to zero (or constant)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


# --------------------------------------------------------------------------- loops


@dataclass
class EpochStats:
    loss: float
    images: int
    seconds: float


#: A training loss in place of the cross-entropy: ``(logits, inputs, targets) -> loss``.
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: Precision,
    scaler: torch.amp.GradScaler | None = None,
    label_smoothing: float = 0.0,
    autocast_cache: bool = True,
    loss_fn: LossFn | None = None,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """One optimisation step on a batch, ``(x, y) -> loss`` (the scheduler is the caller's).

    ``autocast_cache=False`` is for a step that is captured into a CUDA graph: autocast's
    cache of cast weights would otherwise hold tensors from outside the graph.
    ``loss_fn(logits, x, y)`` replaces the cross-entropy (``training.distill``).
    """
    device_type = next(model.parameters()).device.type

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(device_type, precision, autocast_cache):
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=label_smoothing) if loss_fn is None else loss_fn(logits, x, y)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return loss

    return step


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    precision: Precision,
    scaler: torch.amp.GradScaler | None = None,
    label_smoothing: float = 0.0,
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> EpochStats:
    """One pass over ``batches``. ``step`` (default: ``train_step`` of the other arguments)
    takes the optimisation step; ``fit`` passes a ``GraphedStep`` when it replays CUDA graphs."""
    model.train()
    step = step or train_step(model, optimizer, precision, scaler, label_smoothing)
    # Summing on the device and reading once avoids a host sync per step.
    loss_sum = None
    images = 0
    start = time.perf_counter()
    for x, y in batches:
        loss = step(x, y)
        scheduler.step()
        # Read before the next step: a graph's replay overwrites its loss tensor.
        batch_loss = loss.detach() * len(y)
        loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
        images += len(y)
    mean_loss = (loss_sum.item() / images) if images else float("nan")
    if not math.isfinite(mean_loss):
        raise TrainingDiverged(f"training loss became {mean_loss} (lower train.lr?)")
    return EpochStats(mean_loss, images, time.perf_counter() - start)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    precision: Precision = Precision(),
) -> dict[str, object]:
    """Loss, accuracy, macro-F1 and the confusion matrix of ``model`` on ``batches``."""
    model.eval()
    device = next(model.parameters()).device
    # Accumulated on the device and read once at the end: no host sync per batch.
    wide = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    loss_sum = torch.zeros((), dtype=wide, device=device)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
    count = 0
    for x, y in batches:
        with autocast(device.type, precision):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").to(wide)
        confusion += confusion_matrix(logits.argmax(1), y, num_classes)
        count += len(y)
    confusion = confusion.cpu()
    metrics = classification_metrics(confusion)
    return {"loss": loss_sum.item() / max(count, 1), **metrics, "confusion": confusion}


@dataclass
class FitResult:
    curve: list[dict[str, float]] = field(default_factory=list)
    # How the training step ran: "graphed" (CUDA graphs) or "eager: <why>".
    cuda_graphs: str = ""

    @property
    def final(self) -> dict[str, float]:
        return self.curve[-1] if self.curve else {}


EpochCallback = Callable[[dict[str, float]], None]


def fit(
    model: nn.Module,
    train_batches,
    val_batches,
    cfg: TrainConfig,
    num_classes: int,
    *,
    epochs: int | None = None,
    lr: float | None = None,
    warmup_epochs: float | None = None,
    on_epoch: EpochCallback | None = None,
    resume: dict | None = None,
    on_checkpoint: Callable[[dict, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stop_at_epoch: int | None = None,
    should_prune: Callable[[dict[str, float]], bool] | None = None,
    checkpoint_seconds: float = 0.0,
    loss_fn: LossFn | None = None,
) -> FitResult:
    """Train ``model`` for ``epochs`` (default ``cfg.epochs``), validating after each epoch.

    ``train_batches`` and ``val_batches`` are re-iterable (one pass per epoch) and yield
    device tensors. ``val_batches`` may be None (final training on train+val): the curve
    then carries training numbers only. Raises ``TrainingDiverged`` on a NaN/inf loss.

    Interruption: after each epoch ``on_checkpoint(state, epoch)`` receives the full
    training state (see ``training_state``); when ``should_stop()`` then says so, fit
    raises ``TrainingInterrupted``. Passing that state back as ``resume`` continues
    exactly where it stopped: same weights, optimiser, schedule, RNG and data order.
    ``checkpoint_seconds`` > 0 saves a checkpoint only once that long has passed since the
    last one (or the start), and always where one is needed to continue: before stopping
    at ``stop_at_epoch`` short of ``epochs`` and before raising ``TrainingInterrupted``.
    Training that takes milliseconds an epoch (a head on cached features) would otherwise
    spend more time writing checkpoints than training; a kill then costs it at most that
    long, and any checkpoint resumes exactly.

    Ending early, normally (the result holds the epochs trained): ``stop_at_epoch`` trains
    only up to that epoch, with the learning-rate schedule of all ``epochs``, so that a
    later ``resume`` of the last state continues the very same run (a scheduler's rung);
    ``should_prune(row)``, asked after each epoch's ``on_epoch``, ends training there when
    it says so (a pruner).

    CUDA graphs (``cfg.cuda_graphs``): where ``cuda_graphs.ineligible`` allows, the step is
    captured once and replayed (see ``nasxfer.training.cuda_graphs``); ``result.cuda_graphs`` says
    whether it was, and each curve row then counts its ``graphed_steps``.

    ``loss_fn(logits, x, y)`` trains on another loss than the cross-entropy with
    ``cfg.label_smoothing`` (knowledge distillation, ``training.distill``); it trains eagerly.
    """
    epochs = cfg.epochs if epochs is None else epochs
    warmup_epochs = cfg.warmup_epochs if warmup_epochs is None else warmup_epochs
    device = next(model.parameters()).device
    precision = choose_precision(cfg.amp, device)
    scaler = torch.amp.GradScaler("cuda") if precision.scale_loss else None
    optimizer = build_optimizer(model, cfg, lr)
    steps_per_epoch = max(1, len(train_batches))
    total_steps = epochs * steps_per_epoch
    warmup_steps = min(int(warmup_epochs * steps_per_epoch), total_steps - 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, total_steps, warmup_steps, cfg.schedule)
    )
    result = FitResult()
    first_epoch = 1
    if resume is not None:
        first_epoch = _restore(resume, model, optimizer, scheduler, scaler, result)
        if hasattr(train_batches, "set_epoch"):
            train_batches.set_epoch(first_epoch - 1)  # the loader's epochs count from 0
    if loss_fn is None:
        step, graphed = _step_for(model, optimizer, precision, scaler, cfg, result)
    else:  # a loss of the caller's: eager (a CUDA graph would capture its teacher too)
        step, graphed = train_step(model, optimizer, precision, scaler, loss_fn=loss_fn), None
        result.cuda_graphs = "eager: a custom training loss"
    last = epochs if stop_at_epoch is None else min(stop_at_epoch, epochs)
    saved_at = time.perf_counter()

    def checkpoint(epoch: int) -> None:
        nonlocal saved_at
        if on_checkpoint is not None:
            on_checkpoint(training_state(epoch, model, optimizer, scheduler, scaler, result), epoch)
            saved_at = time.perf_counter()

    try:
        for epoch in range(first_epoch, last + 1):
            replays = graphed.replays if graphed is not None else 0
            stats = train_one_epoch(
                model, train_batches, optimizer, scheduler, precision, scaler, cfg.label_smoothing, step=step
            )
            row = {
                "epoch": epoch,
                "train_loss": stats.loss,
                "train_seconds": stats.seconds,
                "images_per_second": stats.images / max(stats.seconds, 1e-9),
            }
            if graphed is not None:
                row["graphed_steps"] = float(graphed.replays - replays)
            if val_batches is not None:
                val = evaluate(model, val_batches, num_classes, precision)
                row.update(val_loss=val["loss"], val_accuracy=val["accuracy"], val_f1=val["f1"])
            result.curve.append(row)
            saved = checkpoint_seconds <= 0 or time.perf_counter() - saved_at >= checkpoint_seconds
            if saved:
                checkpoint(epoch)
            if on_epoch is not None:
                on_epoch(row)
            if epoch == last:
                if not saved and last < epochs:  # a rung: a promotion continues from here
                    checkpoint(epoch)
                break
            if should_prune is not None and should_prune(row):
                break
            if should_stop is not None and should_stop():
                if not saved:
                    checkpoint(epoch)
                raise TrainingInterrupted(epoch)
    finally:
        if graphed is not None:
            result.cuda_graphs = graphed.status
            graphed.close()  # the graph's memory pool is released with the fit, not at garbage collection
    return result


def _step_for(model, optimizer, precision: Precision, scaler, cfg: TrainConfig, result: FitResult):
    """The eager ``train_step``, or a ``GraphedStep`` around it where CUDA graphs apply;
    ``(step, graphed or None)``. Why a fit trains eagerly goes to ``result.cuda_graphs``
    and the debug log, never to the screen."""
    eager = train_step(model, optimizer, precision, scaler, cfg.label_smoothing)
    device = next(model.parameters()).device
    reason = ineligible(cfg.cuda_graphs, device, precision.scale_loss, model, optimizer)
    if reason is not None:
        result.cuda_graphs = f"eager: {reason}"
        log.debug("train.cuda_graphs: training eagerly: %s", reason)
        return eager, None
    body = train_step(model, optimizer, precision, None, cfg.label_smoothing, autocast_cache=False)
    graphed = GraphedStep(eager, body, optimizer)
    return graphed, graphed


def training_state(epoch, model, optimizer, scheduler, scaler, result: FitResult) -> dict:
    """Everything needed to continue training after ``epoch``: tensors and plain values only."""
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": portable_state_dict(optimizer),  # as eager training saves it, graphs or not
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "curve": list(result.curve),
        "rng_cpu": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["rng_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict, model, optimizer, scheduler, scaler, result: FitResult) -> int:
    """Load a ``training_state`` back; returns the first epoch still to train."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    result.curve[:] = state["curve"]
    torch.set_rng_state(state["rng_cpu"])
    if state.get("rng_cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return int(state["epoch"]) + 1


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
