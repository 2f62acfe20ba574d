"""Device-resident tensors with batched on-device augmentation, against a torchvision
DataLoader with per-sample transforms, over the same images and the same augmentation
(random crop with 4-pixel padding, horizontal flip, normalisation).

    python benchmarks/data_path.py           # images/s of one epoch of batches, and the ratio
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from _common import interleaved, machine, median

from nasxfer.data.containers import Split
from nasxfer.data.loader import Augment, BatchLoader, Preprocess

MEAN, STD = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)


class PilImages(Dataset):
    """What a torchvision pipeline holds: PIL images, transformed one sample at a time."""

    def __init__(self, split: Split, transform):
        self.images = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in split.images]
        self.labels = split.labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def torchvision_epoch(loader: DataLoader, device) -> float:
    start = time.perf_counter()
    n = 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        n += len(y)
    return n / (time.perf_counter() - start)


def nasxfer_epoch(loader: BatchLoader) -> float:
    start = time.perf_counter()
    n = 0
    for x, y in loader:
        n += len(y)
    if x.is_cuda:
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def main() -> None:
    from torchvision import transforms

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(0)
    split = Split(
        torch.randint(0, 256, (args.images, 3, args.size, args.size), generator=g, dtype=torch.uint8),
        torch.randint(0, 10, (args.images,), generator=g),
    )
    per_sample = transforms.Compose(
        [transforms.RandomCrop(args.size, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    )
    tv_loader = DataLoader(
        PilImages(split, per_sample), batch_size=args.batch, shuffle=True, num_workers=args.workers,
        pin_memory=device.type == "cuda", persistent_workers=args.workers > 0,
    )
    ours = BatchLoader(
        split, batch_size=args.batch, device=device, preprocess=Preprocess(MEAN, STD),
        augment=Augment(crop_padding=4, hflip=True), shuffle=True,
    )
    torchvision_epoch(tv_loader, device), nasxfer_epoch(ours)  # warm-up: workers started, memory allocated
    results = interleaved(
        {"torchvision DataLoader": lambda: torchvision_epoch(tv_loader, device), "nasxfer BatchLoader": lambda: nasxfer_epoch(ours)},
        args.repeats,
    )
    tv, nx = median(results["torchvision DataLoader"]), median(results["nasxfer BatchLoader"])
    print(f"machine: {machine()}; device {device}")
    print(f"workload: {args.images} images {args.size}x{args.size}, batch {args.batch}, crop+flip+normalise, {args.workers} DataLoader workers, median of {args.repeats} epochs")
    print(f"| data path | images/s |\n|---|---|\n| torchvision DataLoader, per-sample transforms | {tv:,.0f} |\n| nasxfer BatchLoader, on-device batches | {nx:,.0f} |")
    print(f"ratio nasxfer / torchvision: {nx / tv:.1f}x")


if __name__ == "__main__":
    main()
