"""On a CUDA device: images/s of a nasxfer trial and of the bare loop, for each AMP mode
with and without channels_last, each trial with CUDA graphs off and on (``train.cuda_graphs``),
and their ratios. Prints a note and exits on a machine without CUDA.

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
    print("(graphs: train.cuda_graphs auto; its first epoch includes the warm-up and the capture)")
    print(
        "| amp | channels_last | bare images/s | nasxfer images/s | graphs images/s | nasxfer / bare | graphs / nasxfer | graphs ran |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for amp in ("off", "bf16", "fp16"):
        for layout in ("off", "on"):
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=0.05, device="cuda", amp=amp, channels_last=layout)
            graphs_cfg = cfg.model_copy(update={"cuda_graphs": "auto"})
            bare_loop(split, cfg, 10)  # warm-up: cuDNN autotuning, allocator
            runs = interleaved(
                {
                    "bare": lambda: bare_loop(split, cfg, 10),
                    "eager": lambda: nasxfer_trial(split, cfg, 10),
                    "graphs": lambda: nasxfer_trial(split, graphs_cfg, 10),
                },
                args.repeats,
            )
            bare, eager, graphs = (median([r[0] for r in runs[name]]) for name in ("bare", "eager", "graphs"))
            status = runs["graphs"][-1][2]  # "graphed", or why the step stayed eager (fp16)
            print(f"| {amp} | {layout} | {bare:,.0f} | {eager:,.0f} | {graphs:,.0f} | {eager / bare:.3f} | {graphs / eager:.3f} | {status} |")


if __name__ == "__main__":
    main()
