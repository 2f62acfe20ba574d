"""Trials per minute of one frozen-backbone head search, with and without the feature cache.

The same search (same seed, so the same candidates) runs three times:

- without the cache: every epoch of every trial runs the frozen backbone over the images
  (with augmentation, as a search without the cache would);
- with a cold cache: the first trial computes each split's features once, the rest reuse them;
- with a warm cache: a later run over the same backbone and data finds them all on disk.

Data loading and the backbone preflight happen before the clock starts, alike for all three.
Wall-clock time decides the ratio; the process's CPU time is printed beside it because on a
shared machine the wall clock also measures the neighbours.
With ``../shared/data`` present the backbone is the real CIFAR-10 ResNet-56 and the data
real CIFAR-10 images; otherwise torchvision's resnet18 (random weights) on synthetic images.

    python benchmarks/feature_cache.py [--trials 12] [--epochs 5] [--limit 500]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def base_config(args) -> tuple[dict, str]:
    weights = SHARED / "weights" / "resnet56-cifar10.th"
    images = SHARED / "cifar10-5k"
    if weights.exists() and images.is_dir():
        data = {"dataset": "imagefolder", "root": str(images), "limit": args.limit, "val_fraction": 0.05, "mode": "memory"}
        backbone = {"name": "resnet56", "weights": str(weights)}
        what = f"ResNet-56 (shared CIFAR-10 weights) on cifar10-5k, {args.limit} train + 200 val images at 32x32"
    else:
        data = {"dataset": "synthetic", "synthetic": {"num_samples": args.limit * 2, "num_classes": 10, "image_size": 32}}
        backbone = {"name": "resnet18", "weights": "none", "image_size": 32}
        what = f"torchvision resnet18 (random weights) on synthetic 32x32 images, {args.limit} train"
    config = {
        "name": "bench-cache",
        "seed": 0,
        "data": data,
        "model": {"backbone": backbone, "finetune": {"unfreeze": 0}},
        "search": {
            "strategy": {"name": "random"},
            "space": {
                "model.head.hidden": {"choices": [[], [128], [256]]},
                "model.head.pooling": {"choices": ["avg", "max", "avg+max"]},
                "model.head.dropout": {"choices": [0.0, 0.2]},
                "train.lr": {"low": 0.003, "high": 0.1, "log": True},
            },
            "budget": {"trials": args.trials},
        },
        "train": {"epochs": args.epochs, "batch_size": 128, "optimizer": "adamw", "lr": 0.01, "device": args.device},
    }
    return config, what


def timed_search(config, runs_dir: Path) -> tuple[float, float, int]:
    from nasxfer.evaluation.evaluator import TrainingEvaluator
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore

    evaluator = TrainingEvaluator()
    evaluator.prepare(config)  # load the data and build the backbone once, off the clock
    store = RunStore.create(runs_dir, config, {})
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = run_search(config, store, None, evaluator)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    failed = [r for r in outcome.history if r.state.value != "complete"]
    if failed:
        raise SystemExit(f"trial {failed[0].number} failed: {failed[0].error}")
    return seconds, cpu_seconds, len(outcome.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=500, help="training images")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from nasxfer.config import validate_config

    raw, what = base_config(args)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["NASXFER_CACHE_DIR"] = str(Path(scratch) / "feature-cache")  # starts cold
        runs = Path(scratch) / "runs"
        print(f"backbone and data: {what}")
        print(f"search: {args.trials} trials x {args.epochs} epochs, head search, device {args.device}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} threads")  # fmt: skip
        results = {}
        for label, cache in (("without cache", "off"), ("with cache, cold", "auto"), ("with cache, warm", "auto")):
            config = validate_config(raw).apply({"model.finetune.feature_cache": cache})
            seconds, cpu_seconds, trials = timed_search(config, runs)
            results[label] = trials / seconds * 60
            print(f"{label:>17}: {trials} trials in {seconds:7.1f} s ({cpu_seconds:7.1f} s CPU) = "
                  f"{results[label]:7.2f} trials/min", flush=True)  # fmt: skip
        base = results["without cache"]
        print(f"speed-up: {results['with cache, cold'] / base:.1f}x with a cold cache (features computed in trial 1), "
              f"{results['with cache, warm'] / base:.1f}x warm (a later run)")  # fmt: skip


if __name__ == "__main__":
    main()
