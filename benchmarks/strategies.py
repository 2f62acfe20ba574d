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

Screened search (``search.screen``): ``--screen SCORES:N:K`` (repeatable) adds, for each
strategy, a run that first trains the K best of N screened architectures, best first, then
lets the strategy continue with them in its history, as the planner does. The scores come
from ``benchmarks/zero_cost.py``'s file (``--scores``); the N screened are a seeded sample of
the architectures scored there (``params`` is exact for all 6,561, from the table). Several
scores joined by ``+`` are rank-averaged. Trials counted are trained trials (the screen's
cost is its scoring time, reported by zero_cost.py):

    python benchmarks/strategies.py --strategies random,evolution --screen naswot:1000:15

Re-checking the leaders (``--recheck K``, a study of a picking rule the product does not
have yet): at each checkpoint n, the first n - 2K trials run as above, then the K best by
observed accuracy are looked up in the table's two other runs (2K more trained runs, so n
in all), and the pick is the one with the best mean over its three runs.
"""

from __future__ import annotations

import argparse
import json
import math
import random
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
from nasxfer.evaluation.table import MACRO_OPS, load_table, macro_key, table_metrics  # noqa: E402
from nasxfer.search.space import Candidate  # noqa: E402
from nasxfer.search.trial import TrialRecord, TrialState  # noqa: E402

CONFIG = ROOT / "configs" / "nas_bench_macro.yaml"
DEFAULT_SCORES = ROOT / "benchmarks" / "zero_cost_scores.jsonl"
DEFAULT_TABLE = ROOT.parent / "shared" / "data" / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
STRATEGIES = ("random", "local", "evolution", "tpe", "nsga2", "reinforce")
CHECKPOINTS = (10, 25, 50, 100, 200)


def screened_first(screen, pool, seed):
    """The K best of N architectures drawn (with ``seed``) from ``pool`` (key -> scores), best first."""
    from nasxfer.screening.ranking import ensemble

    names, n, keep = screen
    keys = sorted(pool)
    drawn = random.Random(f"screen:{seed}").sample(keys, min(n, len(keys)))
    if len(names) == 1:
        combined = [pool[k][names[0]] for k in drawn]
    else:
        combined = ensemble({name: [pool[k][name] for k in drawn] for name in names})
    order = sorted(range(len(drawn)), key=lambda i: -combined[i])[:keep]
    return [Candidate({"model.scratch.ops": [MACRO_OPS[int(d)] for d in drawn[i]]}) for i in order]


def run_one(name, options, config, space, table, seed, trials, first=(), history=None):
    """One search; returns the pick's quality (mean accuracy, %) after each trial. ``first``:
    candidates trained before the strategy's own (a screen's kept ones). ``history``: a list
    that receives the trial records."""
    config = config.apply({"seed": seed})
    objective = objective_of(config)
    strategy = create_strategy(name, space, seed, objective, options)
    scratch = config.model.scratch
    history = [] if history is None else history
    best_score, quality, curve = -math.inf, math.nan, []
    first = list(first)
    for number in range(1, trials + 1):
        tried = {r.key for r in history}
        queued = [c for c in first if c.key not in tried]
        candidate = queued[0] if queued else strategy.propose(history)
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


def rechecked_pick(history: list[TrialRecord], n: int, leaders: int) -> float:
    """The quality (%) of the pick when the first ``n - 2 * leaders`` trials ran and their
    ``leaders`` best by observed accuracy were trained twice more (the table's other runs):
    the leader with the best mean of its three runs, which is the table's mean accuracy."""
    searched = history[: max(1, n - 2 * leaders)]
    ranked = sorted(searched, key=lambda r: (-r.metrics["val_accuracy"], r.number))
    return 100 * max(r.metrics["mean_accuracy"] for r in ranked[:leaders])


def screen_pool(path, table, names):
    """key -> {score: value} for every architecture scored by all of ``names`` (params: every
    architecture, exact from the table)."""
    rows = {}
    if Path(path).is_file():
        for line in Path(path).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows.setdefault(row["key"], {}).update(row["scores"])
    if names == {"params"}:
        rows = {key: {} for key in table}
    for key in list(rows):
        if "params" in names:
            rows[key]["params"] = table[key]["params"]
        if not all(rows[key].get(n) is not None for n in names):
            del rows[key]
    if not rows:
        sys.exit(f"no architecture in {path} has the scores {sorted(names)}: run benchmarks/zero_cost.py first")
    return rows


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
    parser.add_argument("--screen", action="append", default=[], metavar="SCORES:N:K",
                        help="also run each strategy screened: the K best of N by SCORES (a+b: rank average) first")
    parser.add_argument("--scores", default=str(DEFAULT_SCORES), help="zero_cost.py's scores file")
    parser.add_argument("--no-plain", action="store_true", help="only the screened runs (and random)")
    parser.add_argument("--recheck", type=int, default=0, metavar="K",
                        help="also print each strategy's pick when its K leaders are re-trained twice within the same budget")
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

    screens = []
    for spec in args.screen:
        scores, n, keep = spec.split(":")
        screens.append((scores.split("+"), int(n), int(keep)))
    pool = screen_pool(args.scores, table, {s for names_, _, _ in screens for s in names_}) if screens else {}
    runs = [(name, name, None) for name in names if not (args.no_plain and name != "random")]
    for screen in screens:
        label = f"{'+'.join(screen[0])} {screen[2]} of {screen[1]}"
        runs += [(f"{name} ⟵ {label}", name, screen) for name in names]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    results, seconds, plain_options, histories = {}, {}, {}, {}
    for label, name, screen in runs:
        started = time.perf_counter()
        histories[label] = [[] for _ in seeds]
        results[label] = [
            run_one(name, options[name], config, space, table, seed, args.trials,
                    screened_first(screen, pool, seed) if screen else (), histories[label][i])
            for i, seed in enumerate(seeds)
        ]
        seconds[label] = time.perf_counter() - started
        plain_options[label] = options[name]
        print(f"{label}: {seconds[label]:.1f} s", file=sys.stderr, flush=True)
    names, options = [label for label, _, _ in runs], plain_options

    target = summary(results["random"], args.trials)[0]
    best = max(entry["mean_acc"] for entry in table.values())
    print(f"NAS-Bench-Macro, {args.seeds} seeds ({args.first_seed}–{args.first_seed + args.seeds - 1}): mean accuracy (%) of the pick after n trials, mean ± s.e.")
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
    if args.recheck:
        k = args.recheck
        print(f"\nThe same searches, their {k} leaders re-trained twice within each budget n (n - {2 * k} searched trials):\n")
        print("| strategy | " + " | ".join(f"n={n}" for n in checkpoints if n > 2 * k) + " |")
        print("|---|" + "|".join("---" for n in checkpoints if n > 2 * k) + "|")
        for name in names:
            cells = []
            for n in (n for n in checkpoints if n > 2 * k):
                values = [rechecked_pick(h, n, k) for h in histories[name]]
                se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
                cells.append(f"{statistics.fmean(values):.3f} ± {se:.3f}")
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
