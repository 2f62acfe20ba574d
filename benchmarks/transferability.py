"""Backbone screening: do transferability scores rank pretrained backbones as nasxfer's own
head search on them does?

Reduced version (see docs/screening.md, "Not done yet", for what the issue asks beyond it):
backbones ResNet-20 and ResNet-56 with their CIFAR-10 weights from ``../shared/data/weights``
and a random-init ResNet-20 control; target tasks USPS, MNIST and CIFAR-10 (``--images``
training images of each, from ``../shared/data``; USPS and MNIST are unpacked into
``--work``). Per task and backbone, the backbone scores are computed by the ``Screener``
that ``nasxfer screen`` uses, and the ground truth is the best validation accuracy of a
nasxfer head search on the frozen backbone (``--trials`` heads, ``--epochs`` epochs each,
on cached features; no finetune). Printed per task: each score's weighted Kendall τ over
the backbones, its seconds, and the seconds of the searches it replaces.

    nice -n 5 python benchmarks/transferability.py
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import validate_config  # noqa: E402
from nasxfer.screening.ranking import weighted_kendall  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WEIGHTS = SHARED / "weights"
SCORES = ("logme", "hscore", "linear_probe", "knn")
BACKBONES = {
    "resnet20 (CIFAR-10)": {"name": "resnet20", "weights": str(WEIGHTS / "resnet20-cifar10.th")},
    "resnet56 (CIFAR-10)": {"name": "resnet56", "weights": str(WEIGHTS / "resnet56-cifar10.th")},
    "resnet20 (random init)": {"name": "resnet20", "weights": None},
}


def usps_folder(work: Path) -> Path:
    """USPS as an image folder (train/ and test/ of class folders of 16x16 PNGs), made once."""
    import numpy as np
    from PIL import Image

    root = work / "usps"
    if (root / "done").exists():
        return root
    for split, name in (("train", "zip.train.gz"), ("test", "zip.test.gz")):
        with gzip.open(SHARED / "usps" / name, "rt") as f:
            for i, line in enumerate(f):
                values = line.split()
                label, pixels = int(float(values[0])), np.array(values[1:], dtype=np.float32)
                image = ((pixels.reshape(16, 16) + 1) * 127.5).clip(0, 255).astype(np.uint8)
                folder = root / split / str(label)
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{i:05d}.png")
    (root / "done").touch()
    return root


def mnist_root(work: Path) -> Path:
    raw = work / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in (SHARED / "MNIST" / "raw").glob("*.gz"):
        target = raw / gz.name.removesuffix(".gz")
        if not target.exists():
            with gzip.open(gz, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return work / "mnist"


def tasks(work: Path, images: int) -> dict[str, dict]:
    common = {"limit": images, "val_fraction": 0.25}
    return {
        "usps": {"dataset": "imagefolder", "root": str(usps_folder(work)), **common},
        "mnist": {"dataset": "mnist", "root": str(mnist_root(work)), **common},
        "cifar10": {"dataset": "imagefolder", "root": str(SHARED / "cifar10-5k"), **common},
    }


def config_for(data: dict, backbone: dict, trials: int, epochs: int):
    return validate_config(
        {
            "name": "transfer-bench",
            "seed": 0,
            "data": data,
            "model": {"backbone": backbone, "head": {"pooling": "avg"}, "finetune": {"unfreeze": 0, "feature_cache": "auto"}},
            "search": {
                "strategy": {"name": "grid"},
                "space": {"model.head.hidden": {"choices": [[], [256]]}, "train.lr": {"choices": [0.003, 0.01, 0.03]}},
                "budget": {"trials": trials},
            },
            "train": {"epochs": epochs, "batch_size": 128, "optimizer": "adamw", "lr": 0.01, "device": "cpu"},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="training images per task")
    parser.add_argument("--trials", type=int, default=6, help="head-search trials per backbone")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "nasxfer-transferability")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from nasxfer.screening.candidates import Screener
    from nasxfer.search.runner import run_search
    from nasxfer.search.space import Candidate
    from nasxfer.storage.store import RunStore

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NASXFER_CACHE_DIR", str(args.work / "feature-cache"))
    taus: dict[str, list[float]] = {s: [] for s in SCORES}
    for task, data in tasks(args.work, args.images).items():
        truth, scores, score_seconds, search_seconds = [], {s: [] for s in SCORES}, {s: 0.0 for s in SCORES}, 0.0
        for label, backbone in BACKBONES.items():
            config = config_for(data, backbone, args.trials, args.epochs)
            started = time.perf_counter()
            outcome = run_search(config, RunStore.create(args.work / "runs", config, {}))
            search_seconds += time.perf_counter() - started
            truth.append(outcome.best.metrics["val_accuracy"])
            values = Screener(config, SCORES, seed=0, device="cpu").score(Candidate({}))
            for s in SCORES:
                scores[s].append(values[s].value)
                score_seconds[s] += values[s].seconds
            print(f"  {task} / {label}: head search best val_accuracy {truth[-1]:.3f}; "
                  + ", ".join(f"{s} {values[s].value:.4g}" for s in SCORES), flush=True)
        print(f"\n{task}: {args.images} training images, {len(BACKBONES)} backbones; head searches took "
              f"{search_seconds:.0f} s in all (load average {os.getloadavg()[0]:.1f})\n")
        print("| score | weighted τ | seconds (all backbones) | share of the searches' time |")
        print("|---|---|---|---|")
        for s in SCORES:
            tau = weighted_kendall(scores[s], truth)
            taus[s].append(tau)
            print(f"| {s} | {tau:.2f} | {score_seconds[s]:.2f} | {100 * score_seconds[s] / search_seconds:.1f} % |")
        print()
    print("mean weighted τ over the tasks: " + ", ".join(f"{s} {statistics.fmean(t):.2f}" for s, t in taus.items()))


if __name__ == "__main__":
    main()
