"""How fast each search strategy finds good networks on NAS-Bench-Macro.

For each strategy and each of ``--seeds`` seeds, the strategy proposes ``--trials``
candidates one at a time; each is looked up in the table with the trial seed the runner
would give it, so the strategy sees one training run's accuracy (``val_accuracy``), as in
a real search. After n trials the strategy's pick is the trial with the best accuracy it
observed, and the pick's quality is that network's mean accuracy over the table's three
runs. The table reports mean ± standard error of the quality over seeds, beside random
search, and the number of trials each strategy needs for its mean quality to reach random
search's at the last checkpoint.

No run folders are written: the strategies and the lookup are driven directly, so the whole
comparison takes minutes. Run from the project root (with ../shared/data beside it):

    python benchmarks/strategies.py                    # 20 seeds x 200 trials, every strategy
    python benchmarks/strategies.py --seeds 5 --strategies random,tpe --option tpe.startup=5
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import load_config, parse_override  # noqa: E402
from nasxfer.search.objectives import objective_of  # noqa: E402
from nasxfer.search.planning import trial_seed  # noqa: E402
from nasxfer.search.space import SearchSpace  # noqa: E402
from nasxfer.strategies import create_strategy  # noqa: E402
from nasxfer.evaluation.table import load_table, macro_key, table_metrics  # noqa: E402
from nasxfer.search.trial import TrialRecord, TrialState  # noqa: E402

CONFIG = ROOT / "configs" / "nas_bench_macro.yaml"
DEFAULT_TABLE = ROOT.parent / "shared" / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
STRATEGIES = ("random", "local", "evolution", "tpe", "nsga2", "reinforce")
CHECKPOINTS = (10, 25, 50, 100, 200)


def run_one(name, options, config, space, table, seed, trials):
    """One search; returns the pick's quality (mean accuracy, %) after each trial."""
    config = config.apply({"seed": seed})
    objective = objective_of(config)
    strategy = create_strategy(name, space, seed, objective, options)
    scratch = config.model.scratch
    history: list[TrialRecord] = []
    best_score, quality, curve = -math.inf, math.nan, []
    for number in range(1, trials + 1):
        candidate = strategy.propose(history)
        if candidate is None:
            break
        values = candidate.as_dict()
        key = macro_key(scratch.model_copy(update={"ops": values["model.scratch.ops"]}))
        seed_n = trial_seed(config, number)
        metrics = table_metrics(table, key, seed_n)
        record = TrialRecord(number, candidate.key, values, TrialState.COMPLETE, metrics, seed=seed_n)
        history.append(record)
        if objective.score(record) > best_score:  # ties keep the earlier trial, as ObjectiveSpec.best
            best_score, quality = objective.score(record), 100 * metrics["mean_accuracy"]
        curve.append(quality)
    return curve


def summary(curves, n):
    values = [c[min(n, len(c)) - 1] for c in curves]
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return mean, se


def trials_to_reach(curves, target, trials):
    for n in range(1, trials + 1):
        if summary(curves, n)[0] >= target:
            return n
    return None


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed+1, …")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--table", default=str(DEFAULT_TABLE))
    parser.add_argument("--option", action="append", default=[], metavar="STRATEGY.KEY=VALUE",
                        help="a strategy option, e.g. --option evolution.population=10 (repeatable)")
    args = parser.parse_args(argv)

    names = [n for n in args.strategies.split(",") if n]
    if "random" not in names:
        names.insert(0, "random")  # the baseline every row is compared with
    options: dict[str, dict] = {n: {} for n in names}
    for item in args.option:
        key, value = parse_override(item)
        strategy, _, option = key.partition(".")
        options.setdefault(strategy, {})[option] = value
    config = load_config(CONFIG, [f"search.evaluator.table={args.table}"])
    space = SearchSpace.from_config(config)
    table = load_table(args.table)
    checkpoints = [n for n in CHECKPOINTS if n <= args.trials] or [args.trials]

    results, seconds = {}, {}
    for name in names:
        started = time.perf_counter()
        results[name] = [
            run_one(name, options[name], config, space, table, seed, args.trials) for seed in range(args.first_seed, args.first_seed + args.seeds)
        ]
        seconds[name] = time.perf_counter() - started
        print(f"{name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)

    target = summary(results["random"], args.trials)[0]
    best = max(entry["mean_acc"] for entry in table.values())
    print(f"NAS-Bench-Macro, {args.seeds} seeds: mean accuracy (%) of the pick after n trials, mean ± s.e.")
    print(f"(best in the table: {best:.2f}; random search after {args.trials} trials: {target:.2f})\n")
    header = ["strategy", *(f"n={n}" for n in checkpoints), f"trials to {target:.2f}", "seconds", "options"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for name in names:
        cells = [f"{m:.2f} ± {se:.2f}" for m, se in (summary(results[name], n) for n in checkpoints)]
        reach = trials_to_reach(results[name], target, args.trials)
        shown = ", ".join(f"{k}={v}" for k, v in sorted(options[name].items())) or "defaults"
        row = [name, *cells, str(reach) if reach else f"> {args.trials}", f"{seconds[name]:.1f}", shown]
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
