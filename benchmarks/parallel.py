"""Parallel trials on one CPU box: a fixed batch of trials, one at a time against two at once.

The same 8 candidates (a grid), the same data and epochs, four ways on the same 2 cores:

- ``local``: today's in-process loop, one trial at a time with 2 torch threads;
- ``ray 1x2``: Ray, ``max_concurrent: 1``, ``cpus_per_trial: 2``: one trial at a time, 2 threads;
- ``ray 1x1``: Ray, ``max_concurrent: 1``, ``cpus_per_trial: 1``: one trial at a time, 1 thread;
- ``ray 2x1``: Ray, ``max_concurrent: 2``, ``cpus_per_trial: 1``: two trials at once, 1 thread each.

Small networks at small batches use a second core poorly inside one trial, and well as a
second trial. The comparison needs the two cores to itself: the load average is printed
with each round, and rounds run while other programs keep the cores busy measure the
contention. Each Ray run starts its own local runtime (its start-up is printed, not
counted), so every Ray run pays for cold worker processes. The data (CIFAR-10 images from ../shared/data when present,
synthetic images otherwise) is loaded once before timing; the script also prints what
sharing it through Ray's object store costs a worker, against loading it again.

    python benchmarks/parallel.py            # wall times, trials/min and the ratios
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from _common import machine

from nasxfer.config import validate_config
from nasxfer.evaluation.evaluator import TrainingEvaluator
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore

CIFAR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-5k"


def base_config(epochs: int) -> dict:
    if CIFAR.is_dir():
        data = {"dataset": "imagefolder", "root": str(CIFAR), "augment": "none", "mode": "memory", "limit": 2048}
    else:
        data = {"dataset": "synthetic", "synthetic": {"num_samples": 2000, "num_classes": 10, "image_size": 32}, "limit": 2048}
    return {
        "name": "parallel-bench",
        "data": data,
        "model": {"scratch": {"stem_channels": 8, "stages": [1, 1], "ops": ["conv3x3", "conv3x3"], "head_channels": 32}},
        "search": {
            "strategy": {"name": "grid"},
            "space": {
                "model.scratch.ops": {"choices": ["conv3x3", "mbconv_k3_e3"], "repeat": 2},
                "train.lr": {"choices": [0.05, 0.1]},
            },  # 8 candidates: every run trains the same ones
            "budget": {"trials": 8},
            "latency": {"repeats": 3},
        },
        "train": {"epochs": epochs, "batch_size": 32, "device": "cpu"},
    }


def timed_search(config, evaluator, runs: Path) -> tuple[float, RunStore]:
    store = RunStore.create(runs, config, {})
    started = time.perf_counter()
    outcome = run_search(config, store, None, evaluator)
    seconds = time.perf_counter() - started
    assert len(outcome.history) == 8 and all(r.state.value == "complete" for r in outcome.history), outcome.stop_reason
    return seconds, store


def ray_search(data: dict, evaluator, runs: Path, slots: int, cpus: float) -> tuple[float, float, RunStore]:
    import ray

    started = time.perf_counter()
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    init_seconds = time.perf_counter() - started
    try:
        config = validate_config({**data, "executor": {"name": "ray", "max_concurrent": slots, "cpus_per_trial": cpus}})
        seconds, store = timed_search(config, evaluator, runs)
    finally:
        ray.shutdown()
    return seconds, init_seconds, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="rounds of the three runs, interleaved; medians are printed")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    data = base_config(args.epochs)
    config = validate_config(data)
    evaluator = TrainingEvaluator()
    started = time.perf_counter()
    loaded = evaluator.data_for(config, torch.device("cpu"))
    load_seconds = time.perf_counter() - started
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.2f}")
    print(f"data: {loaded.name or config.data.dataset}, {len(loaded.train)} train / {len(loaded.val)} val images "
          f"{loaded.channels}x{loaded.image_size[0]}x{loaded.image_size[1]}; 8 trials of {args.epochs} epochs")

    torch.set_num_threads(2)
    layouts = {"ray 1x2": (1, 2), "ray 1x1": (1, 1), "ray 2x1": (2, 1)}  # (max_concurrent, cpus_per_trial)
    times: dict[str, list[float]] = {"local": [], **{name: [] for name in layouts}}
    inits: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats):  # interleaved, so drift in the machine's load hits every run
            runs = Path(tmp) / str(round_)
            seconds, local_store = timed_search(config, evaluator, runs / "local")
            times["local"].append(seconds)
            for name, (slots, cpus) in layouts.items():
                seconds, init, store = ray_search(data, evaluator, runs / name.replace(" ", ""), slots=slots, cpus=cpus)
                times[name].append(seconds)
                inits.append(init)
                if name == "ray 2x1":
                    two_store = store
            done = ", ".join(f"{name} {values[-1]:.1f} s" for name, values in times.items())
            print(f"round {round_ + 1}: {done} (load average {os.getloadavg()[0]:.2f})", flush=True)
        workers = [e for e in two_store.events() if e["event"] == "trial_worker"]
        trial_seconds = {
            name: sum(r.seconds for r in store.history()) for name, store in (("local", local_store), ("ray 2x1", two_store))
        }
    median = {name: statistics.median(values) for name, values in times.items()}

    print()
    print(f"median of {args.repeats} round(s):")
    print("| run | trials at once | torch threads per trial | wall s | trials/min |")
    print("|---|---|---|---|---|")
    for name, (slots, threads) in {"local": (1, 2), **layouts}.items():
        print(f"| {name} | {slots} | {threads} | {median[name]:.1f} | {8 / median[name] * 60:.1f} |")
    print()
    two = median["ray 2x1"]
    for name, what in (("ray 1x1", "one 1-thread trial at a time"), ("ray 1x2", "one 2-thread trial at a time"), ("local", "the local loop (2 threads)")):
        print(f"2 trials at once against {what}: {median[name]:.1f} s / {two:.1f} s = {median[name] / two:.2f}x")
    print(f"Ray runtime start (not counted above): median {statistics.median(inits):.1f} s")
    print(f"sum of trial seconds (last round): local {trial_seconds['local']:.1f} s, ray 2x1 {trial_seconds['ray 2x1']:.1f} s "
          "(two trials side by side each run slower than one alone)")
    fetched = [e["fetch_seconds"] for e in workers if not e["evaluator_cached"]]
    print(f"data sharing (ray 2x1, last round): {len(workers)} trials on {len({e['pid'] for e in workers})} worker processes; "
          f"the data was fetched {len(fetched)} times (once per worker), median {statistics.median(fetched):.2f} s, "
          f"against {load_seconds:.2f} s to load it from the dataset; the other {len(workers) - len(fetched)} trials fetched nothing")


if __name__ == "__main__":
    main()
