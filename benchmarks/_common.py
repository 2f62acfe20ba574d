"""Shared helpers for the benchmarks: a quiet, comparable measurement of two callables."""

from __future__ import annotations

import platform
import statistics
import time
from typing import Callable


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    threads = torch.get_num_threads()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {threads} torch threads, {gpu}, torch {torch.__version__}"


def interleaved(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Call each function in turn, ``repeats`` times over, so that drift in the machine's
    load hits every contender alike. Each function returns its own figure (e.g. images/s)."""
    results: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            results[name].append(run())
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
