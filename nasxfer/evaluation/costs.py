"""What a candidate costs to run: parameters, FLOPs, latency, peak memory.

All of these are measured on the untrained network, so a search can check its
constraints before spending any training on a candidate.

FLOPs come from ``torch.utils.flop_counter`` (counted per operator, not by hand). It
counts a multiply-accumulate as 2 FLOPs; ``macs`` is half of that, the figure NAS papers
usually call "FLOPs" (ResNet-18 at 224x224: about 1.82 G).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LatencySettings:
    batch_size: int = 1
    warmup: int = 3
    repeats: int = 10


def count_flops(model: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``example`` (a multiply-accumulate counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


@torch.no_grad()
def measure_latency(model: nn.Module, example: torch.Tensor, settings: LatencySettings) -> dict[str, float]:
    """Median and 90th-percentile wall time of a forward pass, in milliseconds, after warm-up."""
    was_training = model.training
    model.eval()
    cuda = example.is_cuda
    times = []
    try:
        for i in range(settings.warmup + settings.repeats):
            if cuda:
                torch.cuda.synchronize(example.device)
            start = time.perf_counter()
            model(example)
            if cuda:
                torch.cuda.synchronize(example.device)
            if i >= settings.warmup:
                times.append((time.perf_counter() - start) * 1000)
    finally:
        model.train(was_training)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return {"latency_ms": statistics.median(times), "latency_p90_ms": p90}


def peak_memory_mb(device: torch.device) -> float:
    """The CUDA allocator's peak on a GPU. On the CPU the peak resident size: since the last
    ``reset_peak_memory`` on Linux, else the process's lifetime peak."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    high_water_kib = _resident_high_water_kib()
    if high_water_kib is not None:
        return high_water_kib / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def reset_peak_memory(device: torch.device) -> bool:
    """Start a new peak for ``peak_memory_mb``, so it measures one trial and not the process.

    False where it cannot be reset (the CPU outside Linux): the peak is then the process's
    lifetime one. The peak is the process's: trials run in threads of one process share it.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # Linux: reset the resident-set high-water mark (VmHWM) to the current size
    except OSError:
        return False
    return _resident_high_water_kib() is not None


def _resident_high_water_kib() -> int | None:
    """VmHWM from /proc/self/status (Linux), or None where there is no such file."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def measure_costs(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    device: torch.device,
    latency: LatencySettings = LatencySettings(),
) -> dict[str, float]:
    """``params``, ``flops``, ``macs`` (per image) and latency (per batch of ``latency.batch_size``),
    measured where ``model`` lives; the model is left as it was."""
    example = torch.randn(1, *input_shape, device=device)
    flops = count_flops(model, example)
    timed = measure_latency(model, torch.randn(latency.batch_size, *input_shape, device=device), latency)
    return {
        "params": float(sum(p.numel() for p in model.parameters())),
        "flops": float(flops),
        "macs": flops / 2,
        **timed,
    }


def training_memory_mb(model: nn.Module, batch: torch.Tensor) -> float:
    """Memory one training step at this batch takes, in MiB.

    On CUDA, the allocator's real peak over a forward and backward pass. Elsewhere an
    estimate from the same pass: the activations autograd saves for backward, plus
    weights, gradients and one optimiser buffer (SGD momentum) per parameter.
    """
    was_training = model.training
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BN statistics move in train mode
    try:
        if batch.is_cuda:
            torch.cuda.synchronize(batch.device)
            torch.cuda.reset_peak_memory_stats(batch.device)
            model(batch).float().sum().backward()
            torch.cuda.synchronize(batch.device)
            peak = torch.cuda.max_memory_allocated(batch.device)
        else:
            saved = 0

            def pack(tensor):
                nonlocal saved
                saved += tensor.numel() * tensor.element_size()
                return tensor

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(batch)
            out.float().sum().backward()
            params = sum(p.numel() * p.element_size() for p in model.parameters())
            peak = saved + 3 * params + batch.numel() * batch.element_size()
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(state)
        model.train(was_training)
    return peak / 2**20


def candidate_costs(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device, search, batch_size: int) -> dict[str, float]:
    """Everything ``search.constraints`` can limit, for a built, untrained network.

    Latency is measured on ``search.latency.device`` (the trial's device or the CPU).
    """
    import copy

    settings = LatencySettings(search.latency.batch_size, search.latency.warmup, search.latency.repeats)
    timing_device = torch.device("cpu") if search.latency.device == "cpu" else device
    timed = model if timing_device == device else copy.deepcopy(model).to(timing_device)
    costs = measure_costs(timed, input_shape, timing_device, settings)
    costs["memory_mb"] = training_memory_mb(model, torch.randn(batch_size, *input_shape, device=device))
    return costs
