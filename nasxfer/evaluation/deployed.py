"""Deployed latency (``search.latency.runtime: onnxruntime``): a candidate timed as it will
run, not as a PyTorch module.

The untrained network is exported to ONNX (``deploy.onnx_graph``), quantized to int8 when
``search.latency.quantize: int8`` (``deploy.quantize``; calibrated on random inputs: the
ranges change the scales, not the operators, so not the time), and run by ONNX Runtime on
the CPU on ``search.latency.threads`` threads, in ``rounds`` rounds (``deploy.timing``). A
timing flagged as taken on a busy machine is timed again (up to ``RETRIES`` times, keeping
the best) before it is kept; one still flagged says so in ``latency_busy``, and
``--pick fastest`` times it once more before it decides (``final.retime``).

The figure depends on the architecture, not on the weights or the learning rate, so it is
cached per *architecture key* (the model section of the config, the input, the latency
settings and the machine): a repeated architecture is not timed again. In the serial
search loop each timing is journalled (a ``latency_timed`` event) and a resumed run reads
them back, so a resume re-times nothing; parallel workers keep the cache in memory only.
"""

from __future__ import annotations

import hashlib
import json
import platform
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from nasxfer.evaluation.costs import timing_metrics

TIMED_EVENT = "latency_timed"
RETRIES = 2
KEY_FORMAT = 1


def architecture_key(model_section: dict[str, Any], input_shape, num_classes: int, latency) -> str:
    """What a deployed timing depends on, hashed: the architecture (the config's ``model``
    section), the input, the timing settings and the machine that timed it."""
    import os

    import onnxruntime

    identity = {
        "format": KEY_FORMAT,
        "model": model_section,
        "input": list(input_shape),
        "classes": num_classes,
        "latency": latency.model_dump(mode="json", exclude={"device"}),
        "machine": [platform.processor() or platform.machine(), os.cpu_count(), onnxruntime.__version__, torch.__version__],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def time_deployed(model: nn.Module, input_shape, latency) -> dict[str, float]:
    """Export ``model`` (eval mode; left as it was), optionally quantize it, time it in ONNX
    Runtime: ``latency_ms`` and the rest of ``costs.timing_metrics``, plus ``latency_retimed``
    (how many times a busy timing was repeated)."""
    import copy

    import numpy as np

    from nasxfer.deploy.onnx_graph import write_onnx
    from nasxfer.deploy.timing import ort_session, time_interleaved

    network = copy.deepcopy(model).cpu().eval()  # the trial's model keeps its device, mode and memory layout
    network = network.to(memory_format=torch.contiguous_format)
    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        path = Path(tmp) / "candidate.onnx"
        write_onnx(network, torch.rand(latency.batch_size, *input_shape), path)
        if latency.quantize == "int8":
            from nasxfer.deploy.quantize import quantize_int8

            rng = np.random.default_rng(0)
            quantized = Path(tmp) / "candidate.int8.onnx"
            quantize_int8(path, quantized, (rng.random((8, *input_shape), dtype=np.float32) for _ in range(2)))
            path = quantized
        session = ort_session(str(path), latency.threads)
    example = {"images": np.random.default_rng(1).random((latency.batch_size, *input_shape), dtype=np.float32)}
    runner = {"model": lambda: session.run(None, example)}
    settings = dict(rounds=latency.rounds, warmup=latency.warmup, repeats=latency.repeats, one_thread=latency.threads == 1)
    timed = time_interleaved(runner, **settings)["model"]
    retimed = 0
    while timed.busy and retimed < RETRIES:
        retimed += 1
        again = time_interleaved(runner, **settings)["model"]
        timed = timed.better(again)
    return {**timing_metrics(timed), "latency_retimed": float(retimed)}


class DeployedTimings:
    """Deployed timings by architecture key: kept in memory, and with ``use_journal``
    journalled as they are made and read back from the journal of a resumed run."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, float]] = {}
        self.measured = 0  # timed here, not found (the tests read it)
        self._append: Callable[..., None] | None = None

    def use_journal(self, events, append: Callable[..., None]) -> None:
        """Read the timings already in a run's journal (``events``: its events) and journal new
        ones with ``append(event, **fields)``."""
        for event in events:
            if event.get("event") == TIMED_EVENT and isinstance(event.get("metrics"), dict):
                self.kept[event["key"]] = {k: float(v) for k, v in event["metrics"].items()}
        self._append = append

    def latency(self, model: nn.Module, key: str, input_shape, latency) -> dict[str, float]:
        """The deployed timing of ``model`` under ``key``: kept, or measured and journalled."""
        if key not in self.kept:
            self.kept[key] = time_deployed(model, input_shape, latency)
            self.measured += 1
            if self._append is not None:
                self._append(TIMED_EVENT, key=key, metrics=self.kept[key])
        return dict(self.kept[key])
