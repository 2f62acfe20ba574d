"""CUDA graphs for the training step (``train.cuda_graphs``): capture the forward pass, the
loss, the backward pass and the optimiser step once, then replay them for every batch of
the same shape. A replay launches the whole step with one call instead of hundreds of
kernel launches, which is what small networks on small images are bound by on a GPU.

Capture follows PyTorch's whole-network recipe (CUDA semantics, "CUDA Graphs",
whole-network capture): warm-up steps on a side stream, gradients set to None, then one
step captured into a graph whose inputs are static tensors each batch is copied into.

Everything a checkpoint or a comparison with eager training sees stays as it is eagerly:

- the first ``WARMUP_STEPS`` steps of the captured shape, and every batch of another shape
  (an epoch's last, partial batch; a stream batch that lost unreadable files), run eagerly:
  the data, the number of steps and the schedule do not change with graphs;
- the learning rate still comes from the trainer's ``LambdaLR``, which sets the float
  ``param_group["lr"]``; before each replay that value is copied into a device tensor,
  the one the captured optimiser step reads;
- the optimiser's ``param_groups`` keep their float rates and eager settings: what a
  capture needs (a tensor lr, the fused kernel, ``capturable``) is switched on only while
  the step is captured, and ``portable_state_dict`` saves step counters on the CPU as an
  eager optimiser keeps them.

The capture itself (``cuda_capture``) and the warm-up's side stream only run on CUDA;
``ineligible`` decides, and the rest of the logic is the same on any device, so tests
drive it on a CPU with a stand-in capture.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from typing import Callable, Iterator

import torch
from torch import nn

log = logging.getLogger(__name__)

# PyTorch's whole-network example warms up for 3 steps: enough for lazily created optimiser
# state, cuDNN's autotuning of the shape and autograd's first-use set-up.
WARMUP_STEPS = 3
# Optimisers whose fused kernel takes the learning rate as a device tensor (so a replay
# sees the schedule's current value) and that ``train.build_optimizer`` can make.
CAPTURABLE_OPTIMIZERS = (torch.optim.SGD, torch.optim.AdamW)

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ineligible(setting: str, device: torch.device, scale_loss: bool, model: nn.Module, optimizer) -> str | None:
    """Why a fit trains eagerly, or None when its step can be captured.

    ``setting`` is ``train.cuda_graphs``; ``on`` and ``auto`` are alike here (``on`` only
    makes config validation refuse a config that can never be graphed). Off CUDA there is
    nothing to capture, so a config shared between machines trains eagerly on a CPU.
    Batch shapes are not checked here: ``GraphedStep`` replays only batches of the
    captured shape and runs the others eagerly.
    """
    if setting == "off":
        return "train.cuda_graphs: off"
    if device.type != "cuda":
        return f"not a CUDA device ({device.type})"
    if scale_loss:
        # GradScaler reads its inf check on the host and changes the scale between steps.
        return "fp16 with dynamic loss scaling does not capture (amp: bf16 or off can)"
    if hasattr(model, "_orig_mod"):
        return "a torch.compile'd model (it manages CUDA graphs itself)"
    if type(optimizer) not in CAPTURABLE_OPTIMIZERS:
        return f"{type(optimizer).__name__} is not an optimiser this capture supports (SGD, AdamW)"
    return None


class GraphedStep:
    """A training step ``(x, y) -> loss`` that replays a CUDA graph for batches of one shape.

    ``eager`` is the ordinary step: zero the gradients, forward, loss, backward, optimiser
    step; ``body`` is the same step made capturable (autocast without its weight cache);
    both return the loss tensor. The returned loss of a replay is a static tensor that the
    next replay overwrites: read it (as ``train_one_epoch`` does, on the device) before
    the next call. The caller steps the learning-rate scheduler after each call, as eagerly.

    A capture that fails (a model that syncs with the host, data-dependent shapes) falls
    back to eager training for the rest of the fit; ``status`` says which happened.
    ``replays`` counts the steps that ran from the graph. ``close()`` frees the graph's
    memory.
    """

    def __init__(self, eager: Step, body: Step, optimizer: torch.optim.Optimizer, warmup_steps: int = WARMUP_STEPS):
        self.eager = eager
        self.body = body
        self.optimizer = optimizer
        self.warmup_steps = warmup_steps
        self.replays = 0
        self.captured = False
        self.failure: str | None = None
        self._seen: Counter = Counter()  # batch shape -> eager steps taken with it
        self._shape: tuple | None = None  # the captured batch shape
        self._replay: Callable[[], torch.Tensor] | None = None
        self._static: tuple[torch.Tensor, torch.Tensor] | None = None
        self._lrs: list[torch.Tensor] = []
        self._stream = None  # the warm-up's side stream (CUDA)

    @property
    def status(self) -> str:
        """``graphed`` once captured; else ``eager: <why>``."""
        if self.captured:
            return "graphed"
        if self.failure is not None:
            return f"eager: {self.failure}"
        return f"eager: fewer than {self.warmup_steps + 1} training steps of one batch shape"

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        shape = batch_shape(x, y)
        if self._replay is not None:
            return self._replayed(x, y) if shape == self._shape else self.eager(x, y)
        if self.failure is not None:
            return self.eager(x, y)
        if self._seen[shape] < self.warmup_steps:
            self._seen[shape] += 1
            return self._warm_up(x, y)
        return self._capture(x, y, shape)

    def close(self) -> None:
        """Drop the graph and its static tensors: the graph's memory pool goes with them."""
        self._replay, self._static, self._lrs, self._stream = None, None, [], None

    # ------------------------------------------------------------------ internals

    def _warm_up(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """An eager step; on CUDA on a side stream, as PyTorch's recipe warms up before a
        capture (lazily created state, cuDNN's choice of kernels, cuBLAS workspaces)."""
        if x.device.type != "cuda":
            return self.eager(x, y)
        if self._stream is None:
            self._stream = torch.cuda.Stream(x.device)
        with side_stream(self._stream):
            return self.eager(x, y)

    def _capture(self, x: torch.Tensor, y: torch.Tensor, shape: tuple) -> torch.Tensor:
        # Everything a capture must not do is done before it: allocate the static inputs
        # and the lr tensors, and move step counters to the device the fused kernel reads.
        self._static = (torch.empty_like(x), torch.empty_like(y))
        self._lrs = [_lr_tensor(group, x.device) for group in self.optimizer.param_groups]
        _steps_to_param_device(self.optimizer)
        static_x, static_y = self._static
        optimizer, body, lrs = self.optimizer, self.body, self._lrs

        def step() -> torch.Tensor:
            # Python only: with a real graph this runs once, at capture time.
            with capture_settings(optimizer, lrs):
                return body(static_x, static_y)

        self.optimizer.zero_grad(set_to_none=True)  # backward allocates grads in the graph's pool
        try:
            self._replay = cuda_capture(step)
        except Exception as error:  # a step that cannot be captured still trains, eagerly
            self.failure = f"capture failed ({type(error).__name__}: {_first_line(error)})"
            log.info("train.cuda_graphs: %s; training eagerly", self.failure)
            self.close()
            self.optimizer.zero_grad(set_to_none=True)
            return self.eager(x, y)
        self._shape, self.captured = shape, True
        log.debug("train.cuda_graphs: captured the training step for batches of %s", shape)
        return self._replayed(x, y)  # capturing ran nothing: this batch's step is the first replay

    def _replayed(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        static_x, static_y = self._static
        static_x.copy_(x)
        static_y.copy_(y)
        sync_lrs(self.optimizer, self._lrs)
        self.replays += 1
        return self._replay()


def batch_shape(x: torch.Tensor, y: torch.Tensor) -> tuple:
    """What a captured graph is specific to: the inputs' shapes, dtypes and device."""
    return (tuple(x.shape), x.dtype, tuple(y.shape), y.dtype, x.device)


def sync_lrs(optimizer: torch.optim.Optimizer, lrs: list[torch.Tensor]) -> None:
    """Copy each group's current (scheduler-set, float) rate into the tensor the graph reads.

    ``fill_`` from a Python float is a kernel launch, not a host sync, and it runs outside
    the graph: filled inside, the capture-time rate would be baked into every replay.
    """
    for lr, group in zip(lrs, optimizer.param_groups):
        lr.fill_(float(group["lr"]))


@contextlib.contextmanager
def capture_settings(optimizer: torch.optim.Optimizer, lrs: list[torch.Tensor]) -> Iterator[None]:
    """Switch ``optimizer``'s groups to what a captured step needs, then back.

    The fused kernel reads the rate from a device tensor (the foreach and per-tensor SGD
    paths turn a tensor rate into a Python number: a host sync, which a capture forbids,
    and a float rate would be frozen into the graph). ``capturable`` lets AdamW's capture
    check pass; the fused kernel keeps its step counters on the device anyway. Restoring
    the eager settings afterwards keeps checkpoints and eager steps as they were.
    """
    keys = ("lr", "fused", "foreach", "capturable")
    saved = [{key: group[key] for key in keys if key in group} for group in optimizer.param_groups]
    try:
        for group, lr in zip(optimizer.param_groups, lrs):
            group.update(lr=lr, fused=True, foreach=False)
            if "capturable" in group:
                group["capturable"] = True
        yield
    finally:
        for group, settings in zip(optimizer.param_groups, saved):
            group.update(settings)


def portable_state_dict(optimizer: torch.optim.Optimizer) -> dict:
    """``optimizer.state_dict()`` as an eager optimiser has it: step counters of groups that
    are neither fused nor capturable on the CPU, even after a capture moved them to the
    device. A checkpoint then looks the same with graphs on or off and loads anywhere."""
    state = optimizer.state_dict()
    eager_ids = {
        index for group in state["param_groups"] if not (group.get("fused") or group.get("capturable"))
        for index in group["params"]
    }  # fmt: skip
    state["state"] = {
        index: (_with_cpu_step(values) if index in eager_ids else values) for index, values in state["state"].items()
    }
    return state


# ------------------------------------------------------------------ the CUDA-only part


def cuda_capture(step: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """Capture ``step`` into a CUDA graph; returns a function that replays it and returns
    the (static) loss. Capturing records kernels without running them.

    ``thread_local``: only this thread's calls must be capture-safe, so a stream loader's
    pin-memory thread may keep allocating while the step is captured.
    """
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        loss = step()

    def replay() -> torch.Tensor:
        graph.replay()
        return loss

    return replay


@contextlib.contextmanager
def side_stream(stream) -> Iterator[None]:
    """Run the enclosed CUDA work on ``stream``, which first waits for the current stream's
    work (the batch it reads) and is then waited on by it (the loss read afterwards)."""
    current = torch.cuda.current_stream(stream.device)
    stream.wait_stream(current)
    try:
        with torch.cuda.stream(stream):
            yield
    finally:
        current.wait_stream(stream)


# ------------------------------------------------------------------ helpers


def _lr_tensor(group: dict, device: torch.device) -> torch.Tensor:
    return torch.tensor(float(group["lr"]), dtype=torch.float32, device=device)


def _steps_to_param_device(optimizer: torch.optim.Optimizer) -> None:
    """AdamW keeps its step counters on the CPU when not fused; the fused kernel reads them
    on the parameters' device. Moved once, before capturing (a capture cannot copy from
    the host); the eager steps after that (partial batches) accept device counters, at
    the price of reading each one back to the host."""
    for param, state in optimizer.state.items():
        step = state.get("step")
        if isinstance(step, torch.Tensor) and step.device != param.device:
            state["step"] = step.to(device=param.device, dtype=torch.float32)


def _with_cpu_step(values: dict) -> dict:
    step = values.get("step")
    if isinstance(step, torch.Tensor) and step.device.type != "cpu":
        return {**values, "step": step.cpu()}
    return values


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else "no message"
