"""Zero-cost proxies on NAS-Bench-Macro: how well does each score, computed on the untrained
network, rank the architectures by their trained accuracy?

A seeded sample of ``--archs`` of the table's 6,561 architectures (all of them with
``--archs 6561``) is built with nasxfer's own builder and scored through the same
``Screener`` that ``nasxfer screen`` uses, on one real CIFAR-10 minibatch drawn from
``../shared/data/cifar10-5k`` (``--batch`` images). Every score goes into ``--scores``
(JSON lines, one architecture a line): a second run continues where the first stopped and
re-scores nothing, and ``benchmarks/strategies.py --screen`` reads the same file.
Printed per score: Spearman's ρ and Kendall's τ against the table's ``mean_acc``, the
precision of its top 10 %, and seconds per architecture; then the rank-averaged ensembles
of ``--ensembles``.

    nice -n 5 python benchmarks/zero_cost.py                   # 1,000 architectures
    nice -n 5 python benchmarks/zero_cost.py --archs 6561      # the whole table
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import load_config  # noqa: E402
from nasxfer.evaluation.table import MACRO_OPS, load_table  # noqa: E402
from nasxfer.screening import ARCHITECTURE_SCORES  # noqa: E402
from nasxfer.screening.ranking import ensemble, kendall, spearman, top_precision  # noqa: E402
from nasxfer.search.space import Candidate  # noqa: E402

CONFIG = ROOT / "configs" / "nas_bench_macro.yaml"
SHARED = ROOT.parent / "shared" / "data"
TABLE = SHARED / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
CIFAR = SHARED / "cifar10-5k"
DEFAULT_SCORES = ROOT / "benchmarks" / "zero_cost_scores.jsonl"
DEFAULT_ENSEMBLES = "naswot+params,naswot+flops,naswot+synflow,naswot+synflow+params,synflow+params"


def screen_config(batch: int):
    config = load_config(CONFIG)
    return config.apply({"data.dataset": "imagefolder", "data.root": str(CIFAR), "search.evaluator.table": str(TABLE)})


def sample_keys(table: dict, n: int, seed: int) -> list[str]:
    """The first ``n`` of a seeded shuffle of the table: a smaller sample is a prefix of a larger one."""
    keys = sorted(table)
    random.Random(seed).shuffle(keys)
    return keys[:n]


def read_scores(path: Path) -> dict[str, dict]:
    rows = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["key"]] = row
    return rows


def score_all(keys, scores_path: Path, names, batch: int, seed: int) -> dict[str, dict]:
    import torch

    from nasxfer.screening import candidates

    candidates.BATCH_SIZE = batch
    done = read_scores(scores_path)
    def missing(key):
        return [n for n in names if n not in done.get(key, {}).get("scores", {})]

    todo = [k for k in keys if missing(k)]
    if todo:
        screeners = {}
        started = time.perf_counter()
        with scores_path.open("a") as out:
            for i, key in enumerate(todo, 1):
                wanted = tuple(missing(key))
                if wanted not in screeners:
                    screeners[wanted] = candidates.Screener(screen_config(batch), wanted, seed=seed, device="cpu")
                ops = [MACRO_OPS[int(d)] for d in key]
                result = screeners[wanted].score(Candidate({"model.scratch.ops": ops}))
                row = done.get(key) or {"key": key, "batch": batch, "scores": {}, "seconds": {}}
                row["scores"].update({n: v.value for n, v in result.items()})
                row["seconds"].update({n: v.seconds for n, v in result.items()})
                out.write(json.dumps(row) + "\n")  # the last line of a key wins when read back
                out.flush()
                done[key] = row
                if i % 25 == 0 or i == len(todo):
                    rate = (time.perf_counter() - started) / i
                    print(f"  scored {i}/{len(todo)} ({rate:.2f} s each, load {os.getloadavg()[0]:.1f})", flush=True)
        del torch
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=1000, help="architectures sampled from the table (6561: all)")
    parser.add_argument("--batch", type=int, default=32, help="images in the minibatch the proxies see")
    parser.add_argument("--seed", type=int, default=0, help="draws the architectures, the batch and the initial weights")
    parser.add_argument("--scores", type=Path, default=DEFAULT_SCORES, help="JSON-lines file of scores (read, then appended to)")
    parser.add_argument("--proxies", default=",".join(ARCHITECTURE_SCORES))
    parser.add_argument("--ensembles", default=DEFAULT_ENSEMBLES, help="rank-averaged ensembles, e.g. naswot+params,...")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the box is shared)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    table = load_table(TABLE)
    names = [n for n in args.proxies.split(",") if n]
    keys = sample_keys(table, args.archs, args.seed)
    started = time.perf_counter()
    rows = score_all(keys, args.scores, names, args.batch, args.seed)
    wall = time.perf_counter() - started
    truth = [table[k]["mean_acc"] for k in keys]
    columns = {n: [rows[k]["scores"][n] for k in keys] for n in names}
    print(f"\nNAS-Bench-Macro, {len(keys)} architectures (seed {args.seed}), CIFAR-10 batch of {args.batch}, "
          f"{torch.get_num_threads()} torch thread(s); load average {os.getloadavg()[0]:.1f}; scoring took {wall:.0f} s\n")
    print("| score | Spearman ρ | Kendall τ | top-10 % precision | s / arch |")
    print("|---|---|---|---|---|")
    for name in names:
        secs = statistics.fmean(rows[k]["seconds"][name] for k in keys)
        col = columns[name]
        print(f"| {name} | {spearman(col, truth):.3f} | {kendall(col, truth):.3f} | {top_precision(col, truth):.2f} | {secs:.3f} |")
    for spec in (s for s in args.ensembles.split(",") if s):
        parts = spec.split("+")
        if not all(p in columns for p in parts):
            continue
        col = ensemble({p: columns[p] for p in parts})
        secs = sum(statistics.fmean(rows[k]["seconds"][p] for k in keys) for p in parts)
        print(f"| {spec} (rank average) | {spearman(col, truth):.3f} | {kendall(col, truth):.3f} | {top_precision(col, truth):.2f} | {secs:.3f} |")


if __name__ == "__main__":
    main()
