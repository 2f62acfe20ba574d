"""Where a trial computes and how precisely: its seed, device, autocast precision, the
backend switches that pay on CUDA, and its memory layout. Shared by training, feature
extraction and the final model; none of it depends on what is trained.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch

from nasxfer.config import TrainConfig


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from nasxfer.errors import ConfigError

        raise ConfigError(f"train.device: '{name}' asked for but CUDA is not available (use auto or cpu)")
    return device


@dataclass(frozen=True)
class Precision:
    """How a trial computes: the autocast dtype (None = fp32) and whether to scale fp16 losses."""

    dtype: torch.dtype | None = None
    scale_loss: bool = False

    @property
    def label(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def choose_precision(amp: str, device: torch.device, bf16_supported: bool | None = None) -> Precision:
    """``amp: auto`` means bf16 on CUDA that supports it, else fp16 with loss scaling; fp32 off CUDA.

    ``bf16_supported`` lets tests exercise the CUDA branches on a CPU machine.
    """
    if amp == "off" or device.type != "cuda":
        return Precision()
    if bf16_supported is None:
        bf16_supported = torch.cuda.is_bf16_supported()
    if amp == "bf16" or (amp == "auto" and bf16_supported):
        return Precision(torch.bfloat16)
    return Precision(torch.float16, scale_loss=True)


def configure_backend(cfg: TrainConfig, device: torch.device) -> None:
    """Process-wide switches that pay on CUDA: cuDNN autotuning (input shapes are fixed
    within a trial, so the one-off timing cost is repaid every step) and TF32 matmuls."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cfg.cudnn_benchmark
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def use_channels_last(setting: str, device: torch.device) -> bool:
    """channels_last pays on CUDA tensor cores; on CPU it mostly adds conversions."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")


def autocast(device_type: str, precision: Precision, cache_enabled: bool = True):
    """``torch.autocast`` for ``precision`` (nothing for fp32); ``cache_enabled=False`` for a
    step captured into a CUDA graph."""
    if precision.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device_type, dtype=precision.dtype, cache_enabled=cache_enabled)


# A training step with fewer multiply-adds than this runs on one CPU thread: its operations
# are too small to split, and waking a second thread for each costs more than it computes
# (on a busy machine, many times more).
ONE_THREAD_MACS = 2**24


@contextlib.contextmanager
def cpu_threads_for(step_macs: float, device: torch.device):
    """Within the block, PyTorch's CPU operations run on one thread when a step of
    ``step_macs`` multiply-adds on ``device`` is too small to share (``ONE_THREAD_MACS``);
    the thread count is restored after. Elsewhere it changes nothing."""
    before = torch.get_num_threads()
    if device.type != "cpu" or step_macs >= ONE_THREAD_MACS or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
