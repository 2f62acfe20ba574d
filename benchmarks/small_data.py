"""Few-shot benchmark: does transfer keep its gain through finetune, and does search.cv
pick better than a single split?

For K labelled images per class (K in --shots) on real tasks from ``../shared/data``:

- ``usps``: USPS zip-code digits (10 classes, 16x16 grey); test: 30 images per class of the
  USPS test set (the same for every seed);
- ``omniglot``: the 24 characters of the Greek alphabet (Omniglot background set, 20
  drawings each, resized to 28x28); test: the drawings not among the K (K = 20 leaves none,
  so omniglot runs K < 20 only).

Each seed draws its own K images per class; those K are every label the product gets
(train+val: ``data.val_fraction`` carves the single split's validation set out of them, and
``search.cv`` folds them). Two arms run the same strategy, budget and seed:

- ``transfer``: a ResNet-20 pretrained on CIFAR-10 (``weights/resnet20-cifar10.th``),
  frozen, its head searched on cached features (hidden layer, dropout, learning rate);
- ``scratch``: the from-scratch macro network searched (per-layer ops, stem width, learning rate).

Both go through ``nasxfer search`` then ``nasxfer finetune`` (the defaults:
``finetune.train_on: train+val``, early stopping on a 10 % holdout) with and without
``search.cv``. Printed per task, K, arm and mode: the final test accuracy (mean ± s.e.
over seeds), the best search-time validation accuracy, and the selection regret: the test
accuracy of the best trial (by test accuracy of its own ``model.pt``) minus that of the
trial the search picked. Regret is computed here only, after the search: the product never
looks at test labels before ``finetune``.

    nice -n 5 python benchmarks/small_data.py                       # the table in docs/small-data.md
    python benchmarks/small_data.py --tasks usps --shots 5 --seeds 1 --trials 3   # a minute
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
WEIGHTS = SHARED / "weights" / "resnet20-cifar10.th"


# --------------------------------------------------------------------------- tasks


def save_grey(pixels: np.ndarray, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def usps_task(root: Path, shots: int, seed: int, test_per_class: int = 30) -> Path:
    """An image folder of ``shots`` USPS training digits per class (drawn with ``seed``) and
    a fixed test set of ``test_per_class`` per class."""

    def read(name):
        rows = np.loadtxt(gzip.open(SHARED / "usps" / name, "rt"))
        labels = rows[:, 0].astype(int)
        images = ((1 - (rows[:, 1:] + 1) / 2) * 255).round().clip(0, 255).astype(np.uint8).reshape(-1, 16, 16)
        return images, labels  # dark digits on white, like the scans

    return digit_folders(root / f"usps-k{shots}-s{seed}", read("zip.train.gz"), read("zip.test.gz"), shots, test_per_class, seed)


def digit_folders(task: Path, train, test, shots: int, test_per_class: int, seed: int) -> Path:
    """``train/`` and ``test/`` folders of ``digit<c>/`` PNGs: ``shots`` training images per
    class drawn with ``seed``, and ``test_per_class`` test images per class, the same for every
    seed. ``train`` and ``test`` are ``(images, labels)`` arrays."""
    (train_x, train_y), (test_x, test_y) = train, test
    rng, test_rng = np.random.default_rng(seed), np.random.default_rng(12345)
    for c in range(10):
        for i in rng.choice(np.flatnonzero(train_y == c), shots, replace=False):
            save_grey(train_x[i], task / "train" / f"digit{c}" / f"{i}.png")
        for i in test_rng.choice(np.flatnonzero(test_y == c), test_per_class, replace=False):
            save_grey(test_x[i], task / "test" / f"digit{c}" / f"{i}.png")
    return task


def omniglot_task(root: Path, shots: int, seed: int, alphabet: str = "Greek", size: int = 28) -> Path:
    """An image folder of ``shots`` drawings per character of ``alphabet``; the rest test."""
    from PIL import Image

    task = root / f"omniglot-k{shots}-s{seed}"
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(SHARED / "omniglot" / "images_background_small1.zip") as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png") and f"/{alphabet}/" in n)
        characters: dict[str, list[str]] = {}
        for name in names:
            characters.setdefault(name.split("/")[-2], []).append(name)
        for character, files in sorted(characters.items()):
            chosen = set(rng.choice(len(files), shots, replace=False).tolist())
            for i, name in enumerate(files):
                image = Image.open(io.BytesIO(archive.read(name))).convert("L").resize((size, size), Image.BOX)
                split = "train" if i in chosen else "test"
                save_grey(np.array(image), task / split / character / f"{i:02d}.png")
    return task


TASKS = {"usps": usps_task, "omniglot": omniglot_task}


# --------------------------------------------------------------------------- configs


def config_for(arm: str, task: Path, seed: int, trials: int, cv: int | None, val_fraction: float = 0.34,
               transfer_finetune: dict | None = None, finetune: dict | None = None) -> dict:
    config = {
        "name": f"{task.name}-{arm}",
        "seed": seed,
        "data": {"dataset": "imagefolder", "root": str(task / "train"), "test_root": str(task / "test"), "val_fraction": val_fraction},
        "search": {"strategy": {"name": "random"}, "budget": {"trials": trials}, "objective": {"metric": "val_accuracy", "mode": "max"},
                   "latency": {"warmup": 0, "repeats": 1}},  # latency is no objective here: time it once
        "finetune": {},
    }
    if cv:
        config["search"]["cv"] = {"folds": cv}
    if arm == "transfer":
        config["model"] = {
            "backbone": {"name": "resnet20", "weights": str(WEIGHTS)},
            "head": {"pooling": "avg", "hidden": [], "dropout": 0.0},
            "finetune": {"unfreeze": 0, "feature_cache": "auto"},
        }
        config["search"]["space"] = {
            "model.head.hidden": {"choices": [[], [128]]},
            "model.head.dropout": {"choices": [0.0, 0.5]},
            "train.lr": {"low": 0.003, "high": 0.1, "log": True},
        }
        config["train"] = {"epochs": 20, "batch_size": 16, "optimizer": "adamw", "lr": 0.01, "weight_decay": 1e-3, "device": "cpu"}
        config["finetune"] = {"epochs": 20, **(transfer_finetune or {})}
    else:
        config["model"] = {"scratch": {"stem_channels": 16, "stages": [1, 1], "ops": ["conv3x3", "conv3x3"], "head_channels": 64}}
        config["search"]["space"] = {
            "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e3"], "repeat": 2},
            "model.scratch.stem_channels": {"choices": [8, 16, 32]},
            "train.lr": {"low": 0.01, "high": 0.2, "log": True},
        }
        config["train"] = {"epochs": 30, "batch_size": 16, "optimizer": "sgd", "lr": 0.05, "warmup_epochs": 1, "device": "cpu"}
        config["finetune"] = {"epochs": 30}
    config["finetune"].update(finetune or {})
    return config


# --------------------------------------------------------------------------- one run


def trial_test_accuracies(store) -> dict[int, float]:
    """Every complete trial's own model.pt on the test split: for the regret, here only."""
    import torch

    import nasxfer
    from nasxfer.data import load_dataset
    from nasxfer.search.trial import TrialState

    data = load_dataset(store.config().data, seed=store.config().seed)
    images, labels = data.test.images.float() / 255, data.test.labels
    out = {}
    for record in store.history():
        if record.state is TrialState.COMPLETE:
            model = nasxfer.load_model(store.run_id, runs_dir=store.path.parent, trial=record.number)
            with torch.no_grad():
                out[record.number] = float((model(images).argmax(1) == labels).float().mean())
    return out


def one_run(arm: str, task: Path, seed: int, trials: int, cv: int | None, runs_dir: Path, val_fraction: float,
            transfer_finetune: dict | None = None, finetune: dict | None = None) -> dict:
    import yaml
    from typer.testing import CliRunner

    from nasxfer.cli import app
    from nasxfer.search.pick import choose_trial
    from nasxfer.storage.store import resolve_run

    cli = CliRunner()
    path = runs_dir / f"{task.name}-{arm}-{'cv' if cv else 'single'}.yaml"
    path.write_text(yaml.safe_dump(config_for(arm, task, seed, trials, cv, val_fraction, transfer_finetune, finetune)))
    started = time.perf_counter()
    done = cli.invoke(app, ["search", str(path), "-q", "--runs-dir", str(runs_dir)])
    if done.exit_code != 0:
        raise RuntimeError(f"search {path.name}: {done.output}")
    search_seconds = time.perf_counter() - started
    store = resolve_run(runs_dir, "latest")
    picked = choose_trial(store)
    tests = trial_test_accuracies(store)
    started = time.perf_counter()
    done = cli.invoke(app, ["finetune", store.run_id, "--runs-dir", str(runs_dir)])
    if done.exit_code != 0:
        raise RuntimeError(f"finetune {store.run_id}: {done.output}")
    final = json.loads((store.path / "final" / "metrics.json").read_text())
    return {
        "val": picked.metrics["val_accuracy"],
        "test": final["test_accuracy"],
        "regret": max(tests.values()) - tests[picked.number],
        "search_seconds": search_seconds,
        "finetune_seconds": time.perf_counter() - started,
    }


def mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="usps,omniglot")
    parser.add_argument("--shots", default="5,10,20", help="labelled images per class (train+val together)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=4, help="search budget of every search")
    parser.add_argument("--cv-shots", default="5,10", help="the K for which the cv mode runs too (the others: single split only)")
    parser.add_argument("--folds", type=int, default=3, help="search.cv folds of the cv mode (each trains on (folds-1)/folds of the labels)")
    parser.add_argument("--val-fraction", type=float, default=0.34, help="the single split's data.val_fraction (default 1/folds: trials train on as many labels)")
    parser.add_argument("--report", type=Path, help="print the tables of an earlier --json file and stop")
    parser.add_argument("--modes", default="single,cv")
    parser.add_argument("--arms", default="transfer,scratch")
    parser.add_argument("--scratch-modes", default="single,cv", help="the modes the scratch arm runs (the transfer arm runs --modes)")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    parser.add_argument("--transfer-finetune", default="", metavar="KEY=VALUE,...",
                        help="the transfer arm's finetune section, e.g. head_epochs=10,unfreeze=all (LP-FT through the backbone)")
    parser.add_argument("--finetune", default="", metavar="KEY=VALUE,...", help="both arms' finetune section, e.g. train_on=train")
    args = parser.parse_args(argv)
    import yaml

    def section(text: str) -> dict:
        return {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in text.split(",") if item)}

    transfer_finetune, finetune = section(args.transfer_finetune), section(args.finetune)
    if not WEIGHTS.is_file():
        print(f"needs {WEIGHTS} (see ../shared/data/README.md)", file=sys.stderr)
        return 2
    if args.report:
        saved = json.loads(args.report.read_text())
        print_tables({tuple(int(p) if p.isdigit() else p for p in k.split()): v for k, v in saved["runs"].items()}, saved["argv"])
        return 0
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    tmp = Path(tempfile.mkdtemp(prefix="nasxfer-small-data-"))
    os.environ.setdefault("NASXFER_CACHE_DIR", str(tmp / "cache"))
    results: dict[tuple, list[dict]] = {}
    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    for shots in map(int, args.shots.split(",")):  # the smallest K first: they decide the criteria
        for task_name in args.tasks.split(","):
            if task_name == "omniglot" and shots >= 20:
                print("omniglot: K = 20 leaves no test drawings (20 per character); skipped", flush=True)
                continue
            for seed in range(args.seeds):
                task = TASKS[task_name](tmp / "tasks", shots, seed)
                for arm in args.arms.split(","):
                    for mode in args.modes.split(","):
                        if mode == "cv" and str(shots) not in args.cv_shots.split(","):
                            continue
                        if arm == "scratch" and mode not in args.scratch_modes.split(","):
                            continue
                        runs_dir = tmp / "runs" / f"{task.name}-{arm}-{mode}"
                        runs_dir.mkdir(parents=True)
                        cv = args.folds if mode == "cv" else None
                        row = one_run(arm, task, seed, args.trials, cv, runs_dir, args.val_fraction, transfer_finetune, finetune)
                        row["load"] = os.getloadavg()[0]
                        results.setdefault((task_name, shots, arm, mode), []).append(row)
                        print(f"{task_name} K={shots} seed {seed} {arm:8} {mode:6} val {row['val']:.3f} test {row['test']:.3f} "
                              f"regret {row['regret']:.3f} search {row['search_seconds']:.0f}s (load {row['load']:.1f})", flush=True)
                        if args.json:  # after every run, so that an interrupted benchmark keeps what it measured
                            runs = {" ".join(map(str, k)): v for k, v in results.items()}
                            args.json.write_text(json.dumps({"argv": vars(args) | {"json": str(args.json), "report": None}, "runs": runs}, indent=1))
    print_tables(results, vars(args))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


def print_tables(results: dict[tuple, list[dict]], settings: dict) -> None:
    modes = sorted({k[3] for k in results})
    print()
    print("| task | K | arm | mode | seeds | final test acc | picked trial's val acc | selection regret | search s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (task_name, shots, arm, mode), rows in results.items():
        test, val, regret = (mean_se([r[k] for r in rows]) for k in ("test", "val", "regret"))
        seconds = statistics.fmean(r["search_seconds"] for r in rows)
        print(f"| {task_name} | {shots} | {arm} | {mode} | {len(rows)} | {test[0]:.3f} ± {test[1]:.3f} | {val[0]:.3f} ± {val[1]:.3f} | "
              f"{regret[0]:.3f} ± {regret[1]:.3f} | {seconds:.0f} |")
    print()
    print("| task | K | mode | val margin (transfer − scratch) | final test margin | kept |")
    print("|---|---|---|---|---|---|")
    for (task_name, shots, arm, mode), rows in results.items():
        other = results.get((task_name, shots, "scratch", mode))
        if arm != "transfer" or other is None:
            continue
        n = min(len(rows), len(other))  # the seeds both arms finished
        val = statistics.fmean(r["val"] for r in rows[:n]) - statistics.fmean(r["val"] for r in other[:n])
        test = statistics.fmean(r["test"] for r in rows[:n]) - statistics.fmean(r["test"] for r in other[:n])
        print(f"| {task_name} | {shots} | {mode} | {val:+.3f} | {test:+.3f} | {'yes' if test >= val else 'no'} |")
    if "cv" in modes and "single" in modes:
        print()
        print("| task | arm | runs | mean regret, single split | mean regret, search.cv | cut | search time, cv / single |")
        print("|---|---|---|---|---|---|---|")
        for task_name in dict.fromkeys(k[0] for k in results):
            for arm in dict.fromkeys(k[2] for k in results):
                pairs = [(a, b) for (t, k, r, m), rows in results.items() if (t, r, m) == (task_name, arm, "single")
                         for a, b in zip(rows, results.get((t, k, r, "cv"), []))]
                if not pairs:
                    continue
                rs, rc = statistics.fmean(a["regret"] for a, _ in pairs), statistics.fmean(b["regret"] for _, b in pairs)
                cost = statistics.fmean(b["search_seconds"] for _, b in pairs) / statistics.fmean(a["search_seconds"] for a, _ in pairs)
                cut = f"{1 - rc / rs:.0%}" if rs > 0 else "-"
                print(f"| {task_name} | {arm} | {len(pairs)} | {rs:.3f} | {rc:.3f} | {cut} | {cost:.1f}x |")
    print(f"\nsettings: {json.dumps({k: v for k, v in settings.items() if k not in ('json', 'report')})}")

if __name__ == "__main__":
    sys.exit(main())
