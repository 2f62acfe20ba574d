"""Timing forward passes robustly on a machine that other work shares.

One long loop of timed passes is at the mercy of whatever else runs meanwhile: on a shared
2-core box a network that takes 11-17 ms measured 1,600 ms once. So the passes are timed
in short rounds, the models being compared take turns round by round (interleaved: a busy
spell hits all of them, not one), and a model's latency is the *minimum over rounds of
the round's median*: the figure the machine gives when it is not busy. Each pass's CPU time
is kept beside its wall time; a timing whose rounds disagree (``spread``), or whose wall
time is well above its CPU time on one thread, says the machine was busy and is flagged
(``busy``), for the caller to time again before it trusts it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

#: A round's median this much above the best round's, or (one thread) wall time this much
#: above CPU time, flags the timing as taken on a busy machine.
BUSY_RATIO = 1.5


@dataclass(frozen=True)
class Timing:
    """One model's timing, in milliseconds per pass."""

    median_ms: float  # the minimum over rounds of the round's median wall time
    p90_ms: float  # the 90th percentile of that round's passes
    cpu_ms: float  # the minimum over rounds of the round's median CPU time (the process's)
    spread: float  # the slowest round's median / the fastest's (1.0: all rounds agreed)
    busy: bool  # spread or wall/CPU above BUSY_RATIO: measured on a busy machine
    rounds: int
    passes: int  # timed passes per round

    def as_dict(self) -> dict:
        return asdict(self)

    def better(self, other: "Timing") -> "Timing":
        """Two timings of the same model as one: the faster figure, flagged busy only when
        both were (a clean re-timing clears the flag)."""
        from dataclasses import replace

        faster = self if self.median_ms <= other.median_ms else other
        return replace(faster, busy=self.busy and other.busy)


def time_interleaved(
    runners: dict[str, Callable[[], object]], rounds: int = 5, warmup: int = 2, repeats: int = 10, one_thread: bool = True
) -> dict[str, Timing]:
    """Time each of ``runners`` (a callable running one forward pass) in ``rounds`` rounds of
    ``warmup`` untimed and ``repeats`` timed passes, the runners taking turns each round (in
    a rotated order, so none always goes first). ``one_thread``: the passes run on one
    thread, so CPU time close to wall time is expected and its absence flags a busy machine."""
    names = list(runners)
    walls: dict[str, list[list[float]]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            run = runners[name]
            for _ in range(warmup):
                run()
            wall, cpu = [], []
            for _ in range(repeats):
                c0, w0 = time.process_time(), time.perf_counter()
                run()
                wall.append((time.perf_counter() - w0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
            walls[name].append(sorted(wall))
            cpus[name].append(statistics.median(cpu))
    return {name: _summarise(walls[name], cpus[name], repeats, one_thread) for name in names}


def _summarise(rounds: list[list[float]], cpus: list[float], repeats: int, one_thread: bool) -> Timing:
    medians = [statistics.median(times) for times in rounds]
    best = min(range(len(rounds)), key=lambda i: medians[i])
    times = rounds[best]
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    spread = max(medians) / max(medians[best], 1e-9)
    cpu = min(cpus)
    # process_time ticks coarsely for sub-millisecond passes; trust the ratio only above 1 ms.
    starved = one_thread and medians[best] > 1.0 and medians[best] > BUSY_RATIO * max(cpu, 1e-9)
    return Timing(medians[best], p90, cpu, spread, spread > BUSY_RATIO or starved, len(rounds), repeats)


def ort_session(model: str | bytes, threads: int = 1):
    """An ONNX Runtime CPU session for ``model`` (a path or the serialised graph) on
    ``threads`` threads (intra-op; inter-op 1, sequential execution), full graph
    optimisation: as it would be deployed."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers and the like say nothing actionable
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
