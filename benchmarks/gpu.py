"""On a CUDA device: images/s of a nasxfer trial and of the bare loop, for each AMP mode
with and without channels_last, and their ratio. Prints a note and exits on a machine
without CUDA.

    python benchmarks/gpu.py [--images 20000] [--size 32]
"""

from __future__ import annotations

import argparse
import sys

import torch

from _common import interleaved, machine, median
from overhead import bare_loop, make_data, nasxfer_trial

from nasxfer.config import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure (run this on a GPU box)")
        sys.exit(0)
    torch.backends.cudnn.benchmark = True  # what nasxfer turns on for CUDA trials
    split = make_data(args.images, args.size, 10)
    print(f"machine: {machine()}")
    print(f"workload: {args.images} images {args.size}x{args.size}, {args.epochs} epochs, batch {args.batch}, median of {args.repeats}")
    print("| amp | channels_last | bare images/s | nasxfer images/s | ratio |\n|---|---|---|---|---|")
    for amp in ("off", "bf16", "fp16"):
        for layout in ("off", "on"):
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=0.05, device="cuda", amp=amp, channels_last=layout)
            bare_loop(split, cfg, 10)  # warm-up: cuDNN autotuning, allocator
            runs = interleaved({"bare": lambda: bare_loop(split, cfg, 10), "ours": lambda: nasxfer_trial(split, cfg, 10)}, args.repeats)
            bare, ours = median([r[0] for r in runs["bare"]]), median([r[0] for r in runs["ours"]])
            print(f"| {amp} | {layout} | {bare:,.0f} | {ours:,.0f} | {ours / bare:.3f} |")


if __name__ == "__main__":
    main()
