"""Does multi-fidelity pay? Scheduled searches against random search on the quickstart data.

Every search runs ``configs/quickstart.yaml`` (scikit-learn's digits, trained for real)
with the same strategy, seed and ``train.epochs``; the scheduled ones add
``search.scheduler: {name: …, <--scheduler-options>}``. With the same seed the random
strategy proposes the same candidates in the same order whatever the scheduler, and each
trial keeps its seed, so the comparison isolates the scheduler: does it keep random search's
best candidate while training far fewer epochs? The issue's target: the scheduled search's
best validation accuracy is at least random search's, with at most half the training epochs
in total.

Baselines: ``--random-trials 12,24`` compares with random search of 12 and of 24 trials
[default: the config's budget]. One random search per seed trains the largest number; the
random strategy's n-th proposal depends on the seed and n alone, so its first N trials are a
search of N trials.

How many candidates a scheduled search gets:

- by default as many as the baseline (the same candidates, so it can only match random search
  by keeping its winner alive through every rung);
- ``--scheduled-trials M``: M, for every baseline;
- ``--epoch-budget F`` (e.g. 0.5): as many as F of the baseline's epochs pay for, which is how
  multi-fidelity is meant to be used: the largest M whose epochs, in a dry run of the same
  scheduler on made-up curves (``SyntheticEvaluator``), are at most F × the baseline's. For
  successive halving and Hyperband the count is exact, since their epochs depend only on how
  many candidates each bracket holds; for ASHA, whose promotions depend on the order results
  arrive, it is an estimate, and the real ratio is what the comparison checks.

``--replay`` runs the scheduled searches (real runner, scheduler and journal) on the curves
the random search trained, instead of training again: a trial that a scheduler stops and
continues has exactly the curve of the same trial trained straight through (same seed,
same data order, the learning-rate schedule of all epochs; tests/test_schedulers.py checks
fit for it), so the replay is exact and costs no training. It needs every candidate the
scheduled search proposes to be among those random search trained, so with ``--replay``
random search trains at least as many trials as any scheduled search gets (the extra ones
are shown as ``random (K)``, for reference). Without it the scheduled searches train for real.

Random search itself is the yardstick for that target, printed beside the schedulers:
``random (N/2)`` is its first half (half the epochs, without multi-fidelity: what a scheduler
must beat to be worth having), and ``random (N) again`` is trials N+1 to 2N of the longer
search, another random search of the same size (other candidates, other training seeds; shown
when random search trained at least 2N). How often the second reaches the first's best is the
target's noise floor: a method exactly as good as random search meets "at least random
search's best" on a seed only by the luck of the draw.

The run ends with a summary over seeds: mean ± standard error of each search's best
validation accuracy and of the paired difference, the epochs ratio and how many seeds met
the target.

    python benchmarks/fidelity.py                                  # hyperband, 12 trials of 8 epochs
    python benchmarks/fidelity.py --seeds 0,1,2 --scheduler hyperband,asha --replay
    python benchmarks/fidelity.py --scheduler hyperband,asha,successive_halving --replay \
        --seeds 0,1,2,3,4,5,6,7,8,9 --random-trials 12,24 --epoch-budget 0.5 \
        --scheduler-options min_epochs=2,eta=2,brackets=2
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import load_config  # noqa: E402
from nasxfer.evaluation.evaluator import TrainingEvaluator  # noqa: E402
from nasxfer.evaluation.outcome import TrialOutcome  # noqa: E402
from nasxfer.search.runner import run_search  # noqa: E402
from nasxfer.search.space import Candidate  # noqa: E402
from nasxfer.storage.store import RunStore  # noqa: E402

from _common import machine  # noqa: E402

CONFIG = ROOT / "configs" / "quickstart.yaml"
MEASURED = ("val_accuracy", "val_f1", "val_loss", "train_loss")


def outcome_of(curve: list[dict], metrics: dict) -> TrialOutcome:
    """What an evaluator answers for a trial stopped after ``curve``'s last epoch."""
    final = curve[-1]
    unchanged = {k: metrics[k] for k in ("params",) if k in metrics}  # the rest depends on the epochs
    return TrialOutcome({**unchanged, **{k: final[k] for k in MEASURED}, "epochs": float(len(curve))}, list(curve))


class ReplayEvaluator:
    """Answers with the curves a finished (unscheduled) search trained, cut at the epoch asked."""

    def __init__(self, history):
        self.curves = {(r.key, r.seed): (r.curve, r.metrics) for r in history}

    def evaluate(self, config, *, seed, values, on_epoch=None, stop_at_epoch=None, **_):
        key = Candidate(values).key
        if (key, seed) not in self.curves:
            raise KeyError(f"candidate {key} (seed {seed}) was not trained by random search: nothing to replay")
        curve, metrics = self.curves[(key, seed)]
        curve = curve[: stop_at_epoch or len(curve)]
        for row in curve:
            if on_epoch:
                on_epoch(row)
        return outcome_of(curve, metrics)


class SyntheticEvaluator:
    """Made-up curves that depend on nothing measured, to count a scheduled search's epochs
    before training anything: each candidate gets a fixed pseudo-random quality (from its
    key), and its accuracy rises linearly to it over ``train.epochs``."""

    def evaluate(self, config, *, seed, values, on_epoch=None, stop_at_epoch=None, **_):
        quality = int(Candidate(values).key[:8], 16) / 16**8
        epochs = config.train.epochs
        curve = [
            {"epoch": e, "val_accuracy": quality * e / epochs, "val_f1": quality * e / epochs,
             "val_loss": 1 - quality * e / epochs, "train_loss": 1 - quality * e / epochs}
            for e in range(1, (stop_at_epoch or epochs) + 1)
        ]
        for row in curve:
            if on_epoch:
                on_epoch(row)
        return outcome_of(curve, {})


def scheduler_override(name: str, options: dict[str, str]) -> str:
    """``search.scheduler={name: …, min_epochs: …}``; successive halving has one bracket shape,
    so a ``brackets`` option (meant for Hyperband and ASHA) does not apply to it (and the
    config refuses it)."""
    applies = {k: v for k, v in options.items() if not (k == "brackets" and name == "successive_halving")}
    items = [f"name: {name}"] + [f"{k}: {v}" for k, v in applies.items()]
    return "search.scheduler={" + ", ".join(items) + "}"


def search(overrides: list[str], runs: Path, evaluator) -> tuple[dict, list]:
    config = load_config(CONFIG, overrides)
    store = RunStore.create(runs, config, {})
    started = time.perf_counter()
    outcome = run_search(config, store, None, evaluator)
    return summarize(outcome.history, config.search.objective, time.perf_counter() - started), outcome.history


def summarize(history, objective_settings, seconds: float) -> dict:
    from nasxfer.search.trial import ObjectiveSpec, epochs_trained

    best = ObjectiveSpec(objective_settings.metric, objective_settings.mode).best(history)
    return {
        "best": best.metrics["val_accuracy"] if best else float("nan"),
        "best_trial": best.number if best else None,
        "best_key": best.key if best else None,
        "epochs": epochs_trained(history),
        "complete": sum(r.state.value == "complete" for r in history),
        "trials": len(history),
        "seconds": seconds,
    }


def trials_for_budget(common: list[str], scheduler: str, max_epochs: int, runs: Path) -> tuple[int, int]:
    """The largest trial budget whose dry-run epochs are at most ``max_epochs``, and those epochs.

    Counts up from one candidate and stops at the first budget over ``max_epochs`` (the
    epochs grow with the candidates; for ASHA, on made-up curves, they might not strictly).
    """
    best = (0, 0)
    trials = 1
    while True:
        result, _ = search([*common, f"search.budget.trials={trials}", scheduler], runs, SyntheticEvaluator())
        if result["epochs"] > max_epochs:
            return best
        best = (trials, result["epochs"])
        trials += 1


def row(seed, name, result) -> str:
    return (
        f"| {seed} | {name} | {result['best']:.4f} | {result['best_trial']} | {result['epochs']} | "
        f"{result['complete']}/{result['trials']} | {result['seconds']:.0f} |"
    )


@dataclass
class Tally:
    """One (baseline, scheduler) pair's results over seeds, for the summary."""

    random: list[float] = field(default_factory=list)
    scheduled: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    met: list[int] = field(default_factory=list)  # seeds that met the target
    same: int = 0  # seeds where the scheduled search's best is random search's best candidate
    yardstick: bool = False  # random search against itself: the summary prints it apart


def yardsticks(history: list, trials: int) -> dict[str, list]:
    """Random search against itself, for baseline ``trials``: its first half (half the epochs)
    and, when trained, the next ``trials`` trials (another search of the same size)."""
    runs = {f"random ({trials // 2})": [r for r in history if r.number <= trials // 2]}
    if len(history) >= 2 * trials:
        again = [r for r in history if trials < r.number <= 2 * trials]
        runs[f"random ({trials}) again"] = again
    return runs


def mean_se(values: list[float]) -> str:
    """Mean ± standard error of the mean (the sample standard deviation over √n)."""
    if len(values) < 2:
        return f"{values[0]:.4f}" if values else "–"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values) / math.sqrt(len(values)):.4f}"


def summary(tallies: dict[tuple[int, str], Tally], budgets: dict[tuple[int, str], int], target: float) -> None:
    print(
        f"\nsummary over seeds: best val_accuracy, mean ± standard error; target: at least random "
        f"search's best with at most {target:g} of its epochs\n"
    )
    header = ["baseline", "scheduler (candidates)", "random best", "scheduled best", "difference (paired)",
              "epochs ratio", "best ≥ random", "target met"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for (trials, name), t in sorted(tallies.items(), key=lambda item: (item[0][0], item[1].yardstick)):
        n = len(t.random)
        ahead = sum(s >= r for s, r in zip(t.scheduled, t.random))
        ratios = f"{min(t.ratios):.2f}" + (f"–{max(t.ratios):.2f}" if max(t.ratios) != min(t.ratios) else "")
        seeds = ", ".join(str(s) for s in t.met) or "none"
        met = "– (the same epochs)" if t.yardstick and min(t.ratios) >= 1 else f"{len(t.met)}/{n} (seeds {seeds})"
        label = f"{name} (yardstick)" if t.yardstick else f"{name} ({budgets[(trials, name)]})"
        print(
            f"| random, {trials} trials | {label} | {mean_se(t.random)} | "
            f"{mean_se(t.scheduled)} | {mean_se([s - r for s, r in zip(t.scheduled, t.random)])} | × {ratios} | "
            f"{ahead}/{n} ({t.same} the same candidate) | {met} |"
        )


def compare(seed: int, name: str, trials: int, result: dict, plain: dict, tally: Tally, target: float) -> None:
    """One search against random search of ``trials`` on one seed: its rows, and the tally."""
    ratio = result["epochs"] / plain["epochs"]
    ok = result["best"] >= plain["best"] and ratio <= target
    same = result["best_key"] == plain["best_key"]
    tally.random.append(plain["best"])
    tally.scheduled.append(result["best"])
    tally.ratios.append(ratio)
    tally.same += same
    if ok:
        tally.met.append(seed)
    # Random search again at the same budget measures the noise floor, not the target.
    verdict = "the same epochs" if tally.yardstick and ratio >= 1 else ("target met" if ok else "target missed")
    print(row(seed, name, result), flush=True)
    print(
        f"| {seed} | {name} vs random ({trials}) | {result['best'] - plain['best']:+.4f} "
        f"({'the same candidate' if same else 'another candidate'}) | | × {ratio:.2f} | | {verdict} |",
        flush=True,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default="hyperband", help="comma-separated: successive_halving, hyperband, asha")
    parser.add_argument("--scheduler-options", default="", metavar="K=V,…",
                        help="scheduler settings for every scheduled search, e.g. min_epochs=2,eta=2,brackets=2")
    parser.add_argument("--seeds", default="0", help="comma-separated run seeds, e.g. 0,1,2")
    parser.add_argument("--random-trials", default=None,
                        help="comma-separated random-search budgets to compare with [default: the config's]")
    parser.add_argument("--replay", action="store_true", help="scheduled searches replay random search's curves")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--scheduled-trials", type=int, default=None,
                       help="candidates for the scheduled searches [default: the baseline's trial budget]")
    count.add_argument("--epoch-budget", type=float, default=None, metavar="F",
                       help="candidates for the scheduled searches: as many as F × the baseline's epochs pay for")
    parser.add_argument("--runs-dir", default=None, help="keep the run folders here [default: a temporary folder]")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every search, e.g. --set train.epochs=6")
    args = parser.parse_args(argv)
    schedulers = [s for s in args.scheduler.split(",") if s]
    options = dict(item.split("=", 1) for item in args.scheduler_options.split(",") if item)

    # The quickstart's 2-minute limit would cut the searches at different points.
    common = ["search.budget.minutes=null", "train.device=cpu", *args.overrides]
    config = load_config(CONFIG, common)
    epochs = config.train.epochs
    baselines = [config.search.budget.trials]
    if args.random_trials:
        baselines = sorted({int(n) for n in args.random_trials.split(",")})
    target = 0.5  # the issue's: at most half random search's epochs

    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.runs_dir or scratch)
        # How many candidates each scheduled search gets, fixed before anything is trained.
        budgets: dict[tuple[int, str], int] = {}
        planned: dict[tuple[int, str], int] = {}
        for trials in baselines:
            for name in schedulers:
                if args.epoch_budget is not None:
                    dry = Path(tempfile.mkdtemp(dir=runs))
                    budgets[(trials, name)], planned[(trials, name)] = trials_for_budget(
                        common, scheduler_override(name, options), int(args.epoch_budget * trials * epochs), dry
                    )
                else:
                    budgets[(trials, name)] = args.scheduled_trials or trials
        # Random search trains every baseline's candidates, and with --replay every scheduled one's.
        longest = max(baselines + (list(budgets.values()) if args.replay else []))

        print(f"machine: {machine()}")
        print(
            f"quickstart (digits), random search of {', '.join(map(str, baselines))} trials of {epochs} epochs "
            f"(trained: {longest}), strategy {config.search.strategy.name}; "
            f"overrides: {' '.join(args.overrides) or 'none'}; "
            f"scheduler options: {args.scheduler_options or 'defaults'}; "
            f"scheduled searches {'replayed' if args.replay else 'trained'}"
        )
        for (trials, name), m in budgets.items():
            cost = f", {planned[(trials, name)]} epochs in the dry run" if (trials, name) in planned else ""
            print(f"  against random search of {trials} trials: {name} gets {m} candidates{cost}")
        print()
        header = ["seed", "search", "best val_accuracy", "best trial", "epochs trained", "complete/trials", "seconds"]
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        tallies = {key: Tally() for key in budgets}
        training = TrainingEvaluator()  # one data cache for every search
        for seed in (int(s) for s in args.seeds.split(",")):
            longer, history = search([*common, f"seed={seed}", f"search.budget.trials={longest}"], runs, training)
            plains = {}
            for trials in baselines:
                # The random strategy's n-th proposal depends on the seed and n alone: the first
                # `trials` trials of the longer search are a search of `trials` trials.
                first = [r for r in history if r.number <= trials]
                seconds = longer["seconds"] * len(first) / len(history)
                plains[trials] = summarize(first, config.search.objective, seconds)
                print(row(seed, f"random ({trials})", plains[trials]), flush=True)
                for name, records in yardsticks(history, trials).items():
                    other = summarize(records, config.search.objective, longer["seconds"] * len(records) / len(history))
                    tally = tallies.setdefault((trials, name), Tally(yardstick=True))
                    compare(seed, name, trials, other, plains[trials], tally, target)
            if longest not in baselines:
                print(row(seed, f"random ({longest}, for the replay)", longer), flush=True)
            for (trials, name), m in budgets.items():
                plain = plains[trials]
                evaluator = ReplayEvaluator(history) if args.replay else training
                overrides = [*common, f"seed={seed}", f"search.budget.trials={m}", scheduler_override(name, options)]
                scheduled, _ = search(overrides, runs, evaluator)
                compare(seed, f"{name} ({m})", trials, scheduled, plain, tallies[(trials, name)], target)
    summary(tallies, budgets, target)


if __name__ == "__main__":
    main()
