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
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class LatencySettings:
    batch_size: int = 1
    warmup: int = 3
    repeats: int = 10
    rounds: int = 1  # search.latency.rounds: latency is the smallest round median (deploy.timing)

    @classmethod
    def of(cls, latency) -> LatencySettings:
        """The settings ``search.latency`` (a ``LatencyConfig``) asks for."""
        return cls(latency.batch_size, latency.warmup, latency.repeats, latency.rounds)


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
    """Latency of a forward pass, in milliseconds, timed in ``settings.rounds`` rounds
    (``deploy.timing.time_interleaved``): ``latency_ms`` the smallest round median,
    ``latency_p90_ms`` that round's 90th percentile, ``latency_cpu_ms`` the CPU time,
    ``latency_spread`` the rounds' disagreement and ``latency_busy`` 1.0 when that says the
    machine was busy."""
    from nasxfer.deploy.timing import time_interleaved

    was_training = model.training
    model.eval()
    cuda = example.is_cuda

    def once():
        model(example)
        if cuda:
            torch.cuda.synchronize(example.device)

    try:
        timed = time_interleaved(
            {"model": once}, rounds=settings.rounds, warmup=settings.warmup, repeats=settings.repeats,
            one_thread=not cuda and torch.get_num_threads() == 1,
        )["model"]  # fmt: skip
    finally:
        model.train(was_training)
    return timing_metrics(timed)


def timing_metrics(timed) -> dict[str, float]:
    """A ``deploy.timing.Timing`` as trial metrics (numbers only: the journal's metrics are)."""
    return {
        "latency_ms": timed.median_ms,
        "latency_p90_ms": timed.p90_ms,
        "latency_cpu_ms": timed.cpu_ms,
        "latency_spread": timed.spread,
        "latency_busy": 1.0 if timed.busy else 0.0,
    }


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
    latency: LatencySettings | None = LatencySettings(),
) -> dict[str, float]:
    """``params``, ``flops``, ``macs`` (per image) and latency (per batch of ``latency.batch_size``),
    measured where ``model`` lives; the model is left as it was. ``latency=None`` leaves
    latency out (a deployed timing replaces it: ``evaluation.deployed``)."""
    example = torch.randn(1, *input_shape, device=device)
    flops = count_flops(model, example)
    timed = {} if latency is None else measure_latency(model, torch.randn(latency.batch_size, *input_shape, device=device), latency)
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
    return step_memory_bytes(model, batch) / 2**20


def step_memory_bytes(model: nn.Module, batch: torch.Tensor, *, count_batch: bool = True, train: bool = True) -> float:
    """``training_memory_mb`` in bytes, in parts that add up (a frozen backbone's and its head's).

    ``count_batch=False`` leaves out the input batch: a head's input is its backbone's
    output, already counted there. ``train=False`` runs the pass in eval mode: a fully
    frozen backbone, which its network keeps in eval mode while the head trains. On CUDA
    the peak is taken above what was allocated before the pass (the batch included
    unless ``count_batch``), so parts measured apart add up to about the joint peak.
    """
    was_training = model.training
    model.train(train)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # BN statistics move in train mode
    try:
        if batch.is_cuda:
            torch.cuda.synchronize(batch.device)
            before = torch.cuda.memory_allocated(batch.device)
            base = 0 if count_batch else before
            torch.cuda.reset_peak_memory_stats(batch.device)
            out = model(batch).float().sum()
            if out.requires_grad:
                out.backward()
            torch.cuda.synchronize(batch.device)
            peak = torch.cuda.max_memory_allocated(batch.device) - base
        else:
            saved = 0

            def pack(tensor):
                nonlocal saved
                saved += tensor.numel() * tensor.element_size()
                return tensor

            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = model(batch)
            out = out.float().sum()
            if out.requires_grad:  # a frozen backbone has nothing to back-propagate
                out.backward()
            params = sum(p.numel() * p.element_size() for p in model.parameters())
            peak = saved + 3 * params + (batch.numel() * batch.element_size() if count_batch else 0)
    finally:
        model.zero_grad(set_to_none=True)
        model.load_state_dict(state)
        model.train(was_training)
    return float(peak)


def candidate_costs(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device, search, batch_size: int) -> dict[str, float]:
    """Everything ``search.constraints`` can limit, for a built, untrained network.

    Latency is measured on ``search.latency.device`` (the trial's device or the CPU); with
    ``search.latency.runtime: onnxruntime`` it is left to ``evaluation.deployed``.
    """
    import copy

    settings = LatencySettings.of(search.latency) if search.latency.runtime == "torch" else None
    if settings is None:
        return {**measure_costs(model, input_shape, device, None),
                "memory_mb": training_memory_mb(model, torch.randn(batch_size, *input_shape, device=device))}  # fmt: skip
    timing_device = torch.device("cpu") if search.latency.device == "cpu" else device
    timed = model if timing_device == device else copy.deepcopy(model).to(timing_device)
    costs = measure_costs(timed, input_shape, timing_device, settings)
    costs["memory_mb"] = training_memory_mb(model, torch.randn(batch_size, *input_shape, device=device))
    return costs


# --------------------------------------------------------------------------- a frozen backbone's costs, once


COSTS_FORMAT = 1


@dataclass(frozen=True)
class BackboneCosts:
    """What a fully frozen backbone adds to every network built on it: its part of
    ``candidate_costs``, and the shape of the feature map its head takes."""

    params: float
    flops: float
    latency_ms: float
    latency_p90_ms: float
    memory_bytes: float
    feature_shape: tuple[int, ...]


class BackboneCostCache:
    """Costs of frozen backbones, measured once per (backbone, weights, input size, device,
    latency settings, batch size) and kept in memory (the run) and as small JSON files under
    ``root`` (across runs; default: ``costs/`` in the feature cache's folder).

    A trial on a frozen backbone then measures only its pooling and head and adds the two
    (``frozen_backbone_costs``). Latency is a property of the machine, so the key names the
    machine too (device name, torch threads, torch version). A file that does not parse or
    whose key does not match is measured again and overwritten, never trusted.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from nasxfer.features.cache import default_cache_dir

            root = default_cache_dir() / "costs"
        self.root = Path(root)
        self.kept: dict[str, BackboneCosts] = {}
        self.measured = 0  # how many were measured here, not found (the tests read it)

    def get(self, key: str, measure) -> BackboneCosts:
        """The costs under ``key``: kept, read, or ``measure()``d and stored."""
        if key in self.kept:
            return self.kept[key]
        costs = self._read(key)
        if costs is None:
            costs = measure()
            self.measured += 1
            self._write(key, costs)
        self.kept[key] = costs
        return costs

    def _read(self, key: str) -> BackboneCosts | None:
        import json

        try:
            raw = json.loads((self.root / f"{key}.json").read_text())
            if raw.get("format") != COSTS_FORMAT or raw.get("key") != key:
                return None
            return BackboneCosts(
                float(raw["params"]), float(raw["flops"]), float(raw["latency_ms"]), float(raw["latency_p90_ms"]),
                float(raw["memory_bytes"]), tuple(int(v) for v in raw["feature_shape"]),
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _write(self, key: str, costs: BackboneCosts) -> None:
        from dataclasses import asdict

        from nasxfer.storage.atomic import atomic_write_json

        try:
            atomic_write_json(self.root / f"{key}.json", {"format": COSTS_FORMAT, "key": key, **asdict(costs)})
        except OSError:
            pass  # a read-only cache folder costs a measurement per run, nothing else


def backbone_costs_key(backbone, weights: str, input_shape, device, timing_device, settings: LatencySettings,
                       batch_size: int, channels_last: bool) -> str:  # fmt: skip
    """The cache key of one frozen backbone's costs (see ``BackboneCostCache``)."""
    import hashlib
    import json
    import platform

    def machine(d: torch.device) -> str:
        if d.type == "cuda":
            return torch.cuda.get_device_name(d)
        return platform.processor() or platform.machine()

    identity = {
        "format": COSTS_FORMAT,
        "architecture": backbone.architecture_key(),
        "weights": weights,
        "input": list(input_shape),
        "device": str(device),
        "timing_device": str(timing_device),
        "machine": [machine(device), machine(timing_device), torch.get_num_threads(), torch.__version__],
        "latency": [settings.batch_size, settings.warmup, settings.repeats, settings.rounds],
        "batch_size": batch_size,
        "channels_last": channels_last,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def measure_backbone_costs(backbone: nn.Module, input_shape, device, timing_device, settings: LatencySettings,
                           batch_size: int) -> BackboneCosts:  # fmt: skip
    """Measure a frozen backbone's part of ``candidate_costs``, as the whole network's
    measurement would see it (eval mode: a frozen backbone never trains)."""
    import copy

    example = torch.randn(1, *input_shape, device=device)
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            feature_shape = tuple(backbone(example).shape[1:])
        timed = backbone if timing_device == device else copy.deepcopy(backbone).to(timing_device)
        measured = measure_costs(timed, input_shape, timing_device, settings)
        if measured["latency_busy"]:  # cached for every later run: never keep a busy spell's figure
            again = measure_costs(timed, input_shape, timing_device, settings)
            measured = min(measured, again, key=lambda m: m["latency_ms"])
        memory = step_memory_bytes(backbone, torch.randn(batch_size, *input_shape, device=device), train=False)
    finally:
        backbone.train(was_training)
    return BackboneCosts(measured["params"], measured["flops"], measured["latency_ms"], measured["latency_p90_ms"],
                         memory, feature_shape)  # fmt: skip


def frozen_backbone_costs(network, input_shape, device, search, batch_size: int, cache: BackboneCostCache,
                          weights: str, channels_last: bool = False) -> dict[str, float]:  # fmt: skip
    """``candidate_costs`` of a transfer network whose backbone is fully frozen, the backbone's
    part from ``cache`` (measured once) plus the pooling and head's, measured now.

    Parameters and FLOPs add up exactly (both are counted per operator). The CPU memory
    estimate adds up exactly too: a frozen backbone saves no activations for backward, so
    the whole pass's saved tensors are the head's. Latency adds the two medians (and the two
    90th percentiles): the same forward pass in two timed pieces, equal within timing noise.
    On CUDA the memory peaks of the two pieces add up to about the joint peak.
    """
    import copy

    settings = LatencySettings.of(search.latency)
    timing_device = torch.device("cpu") if search.latency.device == "cpu" else device
    backbone = network.backbone
    key = backbone_costs_key(backbone, weights, input_shape, device, timing_device, settings, batch_size, channels_last)
    part = cache.get(
        key, lambda: measure_backbone_costs(backbone, input_shape, device, timing_device, settings, batch_size)
    )
    top = nn.Sequential(network.pool, network.head)  # what the network runs after its backbone
    timed = top if timing_device == device else copy.deepcopy(top).to(timing_device)
    head = measure_costs(timed, part.feature_shape, timing_device, settings)
    head_memory = step_memory_bytes(top, torch.randn(batch_size, *part.feature_shape, device=device), count_batch=False)
    flops = part.flops + head["flops"]
    return {
        "params": part.params + head["params"],
        "flops": flops,
        "macs": flops / 2,
        "latency_ms": part.latency_ms + head["latency_ms"],
        "latency_p90_ms": part.latency_p90_ms + head["latency_p90_ms"],
        "latency_busy": head["latency_busy"],  # the backbone's part was flagged, and timed again, when measured
        "memory_mb": (part.memory_bytes + head_memory) / 2**20,
    }
