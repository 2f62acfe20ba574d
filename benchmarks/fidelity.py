"""Does multi-fidelity pay? Scheduled searches against random search on the quickstart data.

Every search runs ``configs/quickstart.yaml`` (scikit-learn's digits, trained for real)
with the same strategy, seed, trial budget and ``train.epochs``; the scheduled ones add
``search.scheduler: {name: …}``. With the same seed the random strategy proposes the same
candidates in the same order whatever the scheduler, and each trial keeps its seed, so the
comparison isolates the scheduler: does it keep random search's best candidate while
training far fewer epochs? The issue's target: the scheduled search's best validation
accuracy is at least random search's, with at most half the training epochs in total.

``--scheduled-trials M`` gives the scheduled searches M candidates instead (more than random
search's, as multi-fidelity intends: more candidates for fewer epochs); random search then
trains M candidates too, and the row ``random`` is its first N trials (the same candidates as
a search of N trials), with ``random (M)`` beside it.

``--replay`` runs the scheduled searches (real runner, scheduler and journal) on the curves
the random search trained, instead of training again: a trial that a scheduler stops and
continues has exactly the curve of the same trial trained straight through (same seed,
same data order, the learning-rate schedule of all epochs; tests/test_schedulers.py checks
fit for it), so the replay is exact and costs no training. Without it they train for real.

    python benchmarks/fidelity.py                                  # hyperband, 12 trials of 8 epochs
    python benchmarks/fidelity.py --seeds 0,1,2 --scheduler hyperband,asha --replay
    python benchmarks/fidelity.py --scheduler asha,successive_halving --replay --scheduled-trials 24
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.config import load_config  # noqa: E402
from nasxfer.evaluator import TrainingEvaluator, TrialOutcome  # noqa: E402
from nasxfer.runner import run_search  # noqa: E402
from nasxfer.space import Candidate  # noqa: E402
from nasxfer.store import RunStore  # noqa: E402

from _common import machine  # noqa: E402

CONFIG = ROOT / "configs" / "quickstart.yaml"


class ReplayEvaluator:
    """Answers with the curves a finished (unscheduled) search trained, cut at the epoch asked."""

    def __init__(self, history):
        self.curves = {(r.key, r.seed): (r.curve, r.metrics) for r in history}

    def evaluate(self, config, *, seed, values, on_epoch=None, stop_at_epoch=None, **_):
        curve, metrics = self.curves[(Candidate(values).key, seed)]  # KeyError: not the same candidates
        curve = curve[: stop_at_epoch or len(curve)]
        for row in curve:
            if on_epoch:
                on_epoch(row)
        final = curve[-1]
        measured = {k: final[k] for k in ("val_accuracy", "val_f1", "val_loss", "train_loss")}
        unchanged = {k: metrics[k] for k in ("params",) if k in metrics}  # the rest depends on the epochs
        return TrialOutcome({**unchanged, **measured, "epochs": float(len(curve))}, list(curve))


def search(overrides: list[str], runs: Path, evaluator) -> tuple[dict, list]:
    config = load_config(CONFIG, overrides)
    store = RunStore.create(runs, config, {})
    started = time.perf_counter()
    outcome = run_search(config, store, None, evaluator)
    return summarize(outcome.history, config.search.objective, time.perf_counter() - started), outcome.history


def summarize(history, objective_settings, seconds: float) -> dict:
    from nasxfer.trial import ObjectiveSpec, epochs_trained

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


def row(seed, name, result) -> str:
    return (
        f"| {seed} | {name} | {result['best']:.4f} | {result['best_trial']} | {result['epochs']} | "
        f"{result['complete']}/{result['trials']} | {result['seconds']:.0f} |"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default="hyperband", help="comma-separated: successive_halving, hyperband, asha")
    parser.add_argument("--seeds", default="0", help="comma-separated run seeds, e.g. 0,1,2")
    parser.add_argument("--replay", action="store_true", help="scheduled searches replay random search's curves")
    parser.add_argument("--scheduled-trials", type=int, default=None,
                        help="candidates for the scheduled searches [default: random search's trial budget]")
    parser.add_argument("--runs-dir", default=None, help="keep the run folders here [default: a temporary folder]")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for every search, e.g. --set search.budget.trials=18")
    args = parser.parse_args(argv)
    schedulers = [s for s in args.scheduler.split(",") if s]

    # The quickstart's 2-minute limit would cut the searches at different points.
    common = ["search.budget.minutes=null", "train.device=cpu", *args.overrides]
    config = load_config(CONFIG, common)
    trials = config.search.budget.trials
    more = args.scheduled_trials or trials
    print(f"machine: {machine()}")
    print(
        f"quickstart (digits), {trials} trials of {config.train.epochs} epochs"
        + (f" ({more} for the scheduled searches)" if more != trials else "")
        + f", strategy {config.search.strategy.name}; overrides: {' '.join(args.overrides) or 'none'}; "
        f"scheduled searches {'replayed' if args.replay else 'trained'}\n"
    )
    header = ["seed", "search", "best val_accuracy", "best trial", "epochs trained", "complete/trials", "seconds"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    met, tried = 0, 0
    training = TrainingEvaluator()  # one data cache for every search
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(args.runs_dir or scratch)
        for seed in (int(s) for s in args.seeds.split(",")):
            budget = f"search.budget.trials={max(trials, more)}"
            longer, history = search([*common, f"seed={seed}", budget], runs, training)
            # The random strategy's n-th proposal depends on the seed and n alone: the first
            # `trials` trials of the longer search are a search of `trials` trials.
            first = [r for r in history if r.number <= trials]
            plain = summarize(first, config.search.objective, longer["seconds"] * len(first) / len(history))
            print(row(seed, "random", plain), flush=True)
            if more != trials:
                print(row(seed, f"random ({more})", longer), flush=True)
            for name in schedulers:
                evaluator = ReplayEvaluator(history) if args.replay else training
                overrides = [*common, f"seed={seed}", f"search.budget.trials={more}", f"search.scheduler={{name: {name}}}"]
                scheduled, _ = search(overrides, runs, evaluator)
                ratio = scheduled["epochs"] / plain["epochs"]
                ok = scheduled["best"] >= plain["best"] and ratio <= 0.5
                met, tried = met + ok, tried + 1
                same = "the same candidate" if scheduled["best_key"] == plain["best_key"] else "another candidate"
                print(row(seed, f"random + {name}", scheduled), flush=True)
                print(
                    f"| {seed} | {name} vs random | {scheduled['best'] - plain['best']:+.4f} ({same}) | | "
                    f"× {ratio:.2f} | | {'target met' if ok else 'target missed'} |",
                    flush=True,
                )
    print(
        f"\ntarget (best val_accuracy at least random search's, with at most half its epochs): "
        f"met in {met} of {tried} comparisons"
    )


if __name__ == "__main__":
    main()
