"""search.recheck through nasxfer search itself, on NAS-Bench-Macro.

``benchmarks/strategies.py --recheck K`` studies the rule by driving the strategies
directly; this runs the product: ``run_search`` with run folders and the journal, on
``configs/nas_bench_macro.yaml`` (evolution, population 15, sample 5; 100 trials), each
seed with and without ``search.recheck: {top: 5, repeats: 2}``, optionally behind a
data-free screen (``--screen flops``: ``search.screen: {score: flops, sample: 300, keep:
10}``). Printed: the pick's quality, its architecture's mean accuracy over the table's three
runs, mean ± s.e. over the seeds.

    python benchmarks/recheck.py --seeds 40 --first-seed 2000 --screen flops
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import load_config  # noqa: E402
from nasxfer.search.runner import run_search  # noqa: E402
from nasxfer.storage.store import RunStore  # noqa: E402

CONFIG = ROOT / "configs" / "nas_bench_macro.yaml"
TABLE = ROOT.parent / "shared" / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--first-seed", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--screen", default=None, help="a data-free screen score (flops, params); default: none")
    args = parser.parse_args(argv)
    if not TABLE.is_file():
        print(f"skipped: needs {TABLE}")
        return 0
    common = ["search.strategy.population=15", "search.strategy.sample=5", f"search.budget.trials={args.trials}",
              f"search.evaluator.table={TABLE}"]
    if args.screen:
        common.append(f"search.screen={{score: {args.screen}, sample: 300, keep: 10}}")
    runs = Path(tempfile.mkdtemp(prefix="nasxfer-recheck-"))
    for recheck in ("null", f"{{top: {args.top}, repeats: {args.repeats}}}"):
        picks, started = [], time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            config = load_config(CONFIG, [*common, f"seed={seed}", f"search.recheck={recheck}"])
            outcome = run_search(config, RunStore.create(runs, config, {}))
            picks.append(100 * outcome.best.metrics["mean_accuracy"])
        se = statistics.stdev(picks) / math.sqrt(len(picks)) if len(picks) > 1 else 0.0
        print(f"search.recheck: {recheck}: pick {statistics.fmean(picks):.4f} ± {se:.4f} over {len(picks)} seeds "
              f"({args.first_seed}–{args.first_seed + args.seeds - 1}), {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
