"""A trial's training throughput on a busy box: alone, and beside 1 and 3 CPU-heavy neighbours.

Each measurement runs a quickstart trial's training (the quickstart's default network on
the digits at 16x16, batch 64, nasxfer's ``BatchLoader`` + ``fit``) in a fresh process for
a few epochs, with intra-op threads as PyTorch chooses them (one per core), as
``train.threads: auto`` chooses them, or fixed. The neighbours are other trainings (a conv
net's training loop, at PyTorch's default threads), started before and killed after each
measurement. Settings take turns within each repeat so that drift in the machine's load
hits every one alike.

    python benchmarks/busy_box.py                  # 0, 1 and 3 neighbours; default, auto, 1 thread
    python benchmarks/busy_box.py --repeats 5 --neighbours 0 1 2 3

The neighbours run at PyTorch's default threads (``--neighbour-threads``: a number, e.g. 1
for single-threaded CPU work or other searches at ``train.threads: auto`` on a busy box).
Targets (#17): auto at least as fast as the default for every neighbour count, and at
least 0.9 of a fair share with 3 neighbours (alone ÷ 4).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NEIGHBOUR = """
import sys
import torch
if sys.argv[1] != "default":
    torch.set_num_threads(int(sys.argv[1]))
from torch import nn
net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01)
x, y = torch.randn(64, 3, 32, 32), torch.randint(0, 10, (64,))
while True:
    opt.zero_grad(); nn.functional.cross_entropy(net(x), y).backward(); opt.step()
"""


def trial(setting: str, epochs: int) -> dict:
    """One trial's training in this process; returns images/s (wall and CPU) and the threads."""
    import torch

    from nasxfer.config import load_config
    from nasxfer.data import load_dataset
    from nasxfer.data.loader import BatchLoader, Preprocess
    from nasxfer.models.scratch import build_scratch_network
    from nasxfer.training.compute import seed_everything
    from nasxfer.training.fit import fit
    from nasxfer.training.threads import apply_threads, choose_threads

    choice = None
    if setting != "default":
        choice = choose_threads(setting if setting == "auto" else int(setting))
        apply_threads(choice)
    cfg = load_config(ROOT / "configs" / "quickstart.yaml", [f"train.epochs={epochs}", "train.warmup_epochs=0", "train.device=cpu"])
    data = load_dataset(cfg.data, seed=0)
    seed_everything(0)
    model = build_scratch_network(cfg.model.scratch, data.channels, data.num_classes)
    batches = BatchLoader(data.train, batch_size=cfg.train.batch_size, device=torch.device("cpu"),
                          preprocess=Preprocess(data.mean, data.std), shuffle=True, seed=0)
    cpu = time.process_time()
    result = fit(model, batches, None, cfg.train, data.num_classes)
    cpu = time.process_time() - cpu
    seconds = sum(row["train_seconds"] for row in result.curve)
    images = len(data.train) * epochs
    return {"images_per_s": images / seconds, "images_per_cpu_s": images / cpu, "threads": torch.get_num_threads(),
            "busy": None if choice is None else choice.busy_cpus}


def measure(setting: str, neighbours: int, epochs: int, neighbour_threads: str = "default") -> dict:
    crowd = [subprocess.Popen([sys.executable, "-c", NEIGHBOUR, neighbour_threads], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(neighbours)]
    try:
        time.sleep(1.5 if crowd else 0)  # neighbours past their start-up, at full speed
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, __file__, "--worker", setting, "--epochs", str(epochs)],
                             capture_output=True, text=True, check=True, env=env).stdout
        return json.loads(out.strip().splitlines()[-1])
    finally:
        for p in crowd:
            p.kill()
        for p in crowd:
            p.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--neighbours", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--settings", nargs="+", default=["default", "auto", "1"])
    parser.add_argument("--neighbour-threads", default="default",
                        help="each neighbour's torch threads: default (one per core, like any training) or a number")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(trial(args.worker, args.epochs)))
        return

    import torch

    from nasxfer.training.threads import usable_cpus

    print(f"usable CPUs {usable_cpus()}, PyTorch default {torch.get_num_threads()} threads, "
          f"neighbours at {args.neighbour_threads} threads, load before {os.getloadavg()[0]:.2f}; median of {args.repeats}")
    results: dict[tuple[int, str], list[dict]] = {}
    for _ in range(args.repeats):
        for n in args.neighbours:
            for setting in args.settings:
                results.setdefault((n, setting), []).append(measure(setting, n, args.epochs, args.neighbour_threads))
    alone = {s: statistics.median(r["images_per_s"] for r in results[(0, s)]) for s in args.settings if (0, s) in results}
    best_alone = max(alone.values()) if alone else None
    print("| neighbours | setting | threads | images/s (wall) | images/CPU-s | vs default | vs fair share |")
    print("|---|---|---|---|---|---|---|")
    for n in args.neighbours:
        default = statistics.median(r["images_per_s"] for r in results[(n, "default")]) if (n, "default") in results else None
        for setting in args.settings:
            rows = results[(n, setting)]
            wall = statistics.median(r["images_per_s"] for r in rows)
            cpu = statistics.median(r["images_per_cpu_s"] for r in rows)
            threads = "/".join(sorted({str(r["threads"]) for r in rows}))
            vs_default = f"{wall / default:.2f}" if default else "-"
            fair = f"{wall / (best_alone / (n + 1)):.2f}" if best_alone else "-"
            print(f"| {n} | {setting} | {threads} | {wall:,.0f} | {cpu:,.0f} | {vs_default} | {fair} |")
    print(f"load after {os.getloadavg()[0]:.2f}; fair share = the best setting alone ÷ (neighbours + 1)")


if __name__ == "__main__":
    main()
