"""Where one trial's time goes: wall and CPU time per phase, for a cached-head and a from-scratch trial.

Each phase is timed by wrapping the functions that do it (listed in ``PHASES``), counting
each call's *own* time (a phase nested in another is subtracted from its parent), so the
phases add up to the trial. A trial runs from one ``run_trial`` call to the next: its
planning, recording (journal, ``trial.json``, leaderboard) and reporter calls included.
The first trial of a run pays what a run pays once (the feature cache's first read, the
first build of a backbone); the table shows the median over the later trials, which is
what every further trial costs. ``fixed`` is a trial less its training and evaluation
arithmetic: the overhead the issue #22 budget (< 0.1 s for a cached head) is about.

    python benchmarks/trial_overhead.py [--kind head|scratch|both] [--trials 8] [--epochs 5]

The head trial is ``benchmarks/feature_cache.py``'s search (ResNet-56 on 500 CIFAR-10
images with ``../shared/data``, else a random-weight resnet18 on synthetic images) on a
warm cache; the from-scratch trial is the quickstart's network on the digits, 2 epochs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# (phase, module, attribute): "Class.method" patches a method, a plain name a module function.
# Only names looked up at call time are patched (the callers import them inside functions
# or read the module attribute), so each wrapper sees every call.
PHASES = [
    ("trial", "nasxfer.search.runner", "run_trial"),
    ("planning", "nasxfer.search.planning", "Planner.next"),
    ("config apply", "nasxfer.config.experiment", "Config.apply"),
    ("model build", "nasxfer.models.build", "model_for_training"),
    ("model build", "nasxfer.evaluation.evaluator", "TrainingEvaluator.model_for"),
    ("model build", "nasxfer.training.transfer", "set_trainable_stages"),
    ("preflight", "nasxfer.models.backbones.preflight", "check_backbones"),
    ("costs", "nasxfer.evaluation.evaluator", "TrainingEvaluator.costs"),
    ("costs", "nasxfer.evaluation.evaluator", "TrainingEvaluator.weights_of"),
    ("data", "nasxfer.evaluation.evaluator", "TrainingEvaluator.data_for"),
    ("data", "nasxfer.data.loader", "BatchLoader.__init__"),
    ("data", "nasxfer.features.head_training", "split_features"),
    ("data", "nasxfer.features.head_training", "weights_digest"),
    ("data", "nasxfer.features.loader", "FeatureLoader.__init__"),
    ("fit set-up", "nasxfer.training.fit", "fit"),
    ("fit set-up", "nasxfer.features.head_training", "fit"),
    ("fit set-up", "nasxfer.training.transfer", "fit"),
    ("training", "nasxfer.training.fit", "train_one_epoch"),
    ("evaluation", "nasxfer.training.fit", "evaluate"),
    ("checkpoint writes", "nasxfer.training.fit", "training_state"),
    ("checkpoint writes", "nasxfer.storage.store", "TrialCheckpoints.save"),
    ("checkpoint writes", "nasxfer.storage.store", "TrialCheckpoints.latest"),
    ("checkpoint writes", "nasxfer.storage.store", "TrialCheckpoints.clear"),
    ("checkpoint writes", "nasxfer.storage.model_files", "save_model"),
    ("checkpoint writes", "nasxfer.storage.model_files", "model_payload"),
    ("journal and trial files", "nasxfer.storage.store", "RunStore.append"),
    ("journal and trial files", "nasxfer.storage.store", "RunStore.record_trial"),
    ("journal and trial files", "nasxfer.storage.atomic", "atomic_write_json"),
    ("peak memory bookkeeping", "nasxfer.evaluation.costs", "reset_peak_memory"),
    ("peak memory bookkeeping", "nasxfer.evaluation.costs", "peak_memory_mb"),
]
REPORTER_METHODS = ("trial_started", "epoch_finished", "trial_finished")
ORDER = [
    "config apply", "model build", "preflight", "costs", "data", "fit set-up", "training", "evaluation",
    "checkpoint writes", "journal and trial files", "reporter calls", "peak memory bookkeeping", "planning", "other",
]  # fmt: skip
ARITHMETIC = ("training", "evaluation")


class PhaseClock:
    """Own wall and CPU time per phase: a call's time less the phased calls inside it."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.stack: list[list[float]] = []  # per open call: [child wall, child cpu]
        self.trial_marks: list[tuple[float, float, dict, dict]] = []

    @contextlib.contextmanager
    def phase(self, name: str):
        wall, cpu = time.perf_counter(), time.process_time()
        self.stack.append([0.0, 0.0])
        try:
            yield
        finally:
            child_wall, child_cpu = self.stack.pop()
            spent_wall, spent_cpu = time.perf_counter() - wall, time.process_time() - cpu
            self.wall[name] = self.wall.get(name, 0.0) + spent_wall - child_wall
            self.cpu[name] = self.cpu.get(name, 0.0) + spent_cpu - child_cpu
            if self.stack:
                self.stack[-1][0] += spent_wall
                self.stack[-1][1] += spent_cpu

    def mark(self) -> None:
        """A trial boundary: remember the clocks and the phase totals so far."""
        self.trial_marks.append((time.perf_counter(), time.process_time(), dict(self.wall), dict(self.cpu)))

    def trials(self) -> list[dict[str, tuple[float, float]]]:
        """Per trial, ``{phase: (wall, cpu)}``, with ``other`` the part no phase claimed and
        ``total`` the trial's whole time."""
        rows = []
        for (w0, c0, wall0, cpu0), (w1, c1, wall1, cpu1) in zip(self.trial_marks, self.trial_marks[1:]):
            row = {}
            for name in set(wall1) | set(wall0):
                if name == "trial":
                    continue
                row[name] = (wall1.get(name, 0.0) - wall0.get(name, 0.0), cpu1.get(name, 0.0) - cpu0.get(name, 0.0))
            total = (w1 - w0, c1 - c0)
            claimed = (sum(v[0] for v in row.values()), sum(v[1] for v in row.values()))
            row["other"] = (total[0] - claimed[0], total[1] - claimed[1])
            row["total"] = total
            rows.append(row)
        return rows


def instrument(clock: PhaseClock) -> list[tuple[object, str, object]]:
    """Wrap every ``PHASES`` target that exists in this version of the code; returns what
    to put back."""
    import functools

    undo = []
    for name, module_name, attribute in PHASES:
        module = importlib.import_module(module_name)
        owner, _, attr = attribute.rpartition(".")
        target = getattr(module, owner) if owner else module
        original = target.__dict__.get(attr) if owner else getattr(module, attr, None)
        if original is None:
            continue  # this phase's function does not exist in this version
        function = original.__func__ if isinstance(original, staticmethod) else original

        def wrapped(*args, _function=function, _name=name, **kwargs):
            if _name == "trial":
                clock.mark()
            with clock.phase(_name):
                return _function(*args, **kwargs)

        wrapped = functools.wraps(function)(wrapped)
        setattr(target, attr, staticmethod(wrapped) if isinstance(original, staticmethod) else wrapped)
        undo.append((target, attr, original))
    return undo


class PhasedReporter:
    """The CLI's plain reporter and ``search.log``, each hook timed as "reporter calls"."""

    def __init__(self, inner, clock: PhaseClock) -> None:
        self.inner, self.clock = inner, clock

    def __getattr__(self, name):
        method = getattr(self.inner, name)
        if name not in REPORTER_METHODS:
            return method

        def timed(*args, **kwargs):
            with self.clock.phase("reporter calls"):
                return method(*args, **kwargs)

        return timed


def head_config(args) -> dict:
    from feature_cache import base_config

    raw, _ = base_config(argparse.Namespace(limit=500, trials=args.trials, epochs=args.epochs, device=args.device))
    return raw


def scratch_config(args) -> dict:
    return {
        "name": "bench-scratch",
        "seed": 0,
        "data": {"dataset": "digits", "image_size": 16, "val_fraction": 0.2, "test_fraction": 0.2},
        "model": {"scratch": {"stem_channels": 16, "stages": [2, 2], "ops": ["mbconv_k3_e3"] * 4, "head_channels": 128}},
        "search": {
            "strategy": {"name": "random"},
            "space": {"model.scratch.stem_channels": {"choices": [8, 16]}, "train.lr": {"low": 0.02, "high": 0.3, "log": True}},
            "budget": {"trials": args.trials},
        },
        "train": {"epochs": 2, "batch_size": 64, "optimizer": "sgd", "lr": 0.1, "device": args.device},
    }


def profile(raw: dict, runs: Path, warm_up: bool) -> list[dict[str, tuple[float, float]]]:
    """Run the search ``raw`` describes (once before, unmeasured, with ``warm_up``) and
    return its trials' phases."""
    from rich.console import Console

    from nasxfer.config import validate_config
    from nasxfer.evaluation.evaluator import TrainingEvaluator
    from nasxfer.progress.live import make_reporter
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore

    config = validate_config(raw)
    if warm_up:  # fills the feature cache, so the measured run reads it as a later run would
        store = RunStore.create(runs, config, {})
        run_search(config, store, None, TrainingEvaluator())
    clock = PhaseClock()
    undo = instrument(clock)
    try:
        evaluator = TrainingEvaluator()
        with clock.phase("prepare (once per run)"):
            evaluator.prepare(config)
        store = RunStore.create(runs, config, {})
        reporter = make_reporter(Console(file=io.StringIO()), log_format="plain", run_dir=store.path)
        outcome = run_search(config, store, PhasedReporter(reporter, clock), evaluator)
        clock.mark()  # the last trial ends with the search
    finally:
        for target, attr, original in reversed(undo):
            setattr(target, attr, original)
    failed = [r for r in outcome.history if r.state.value != "complete"]
    if failed:
        raise SystemExit(f"trial {failed[0].number} failed: {failed[0].error}")
    rows = clock.trials()
    # From the first trial's start to the search's end; drop the prepare's (not a trial).
    return rows


def table(title: str, rows: list[dict[str, tuple[float, float]]]) -> str:
    later = rows[1:] if len(rows) > 1 else rows

    def med(name: str, i: int, subset) -> float:
        return statistics.median(r.get(name, (0.0, 0.0))[i] for r in subset)

    lines = [f"### {title}: median of trials 2..{len(rows)} (trial 1 in brackets), milliseconds",
             "", "| phase | wall | CPU | trial 1 wall |", "|---|---:|---:|---:|"]  # fmt: skip
    for name in ORDER + sorted(set().union(*rows) - set(ORDER) - {"total"}):
        if all(name not in r for r in rows):
            continue
        lines.append(f"| {name} | {med(name, 0, later) * 1e3:.1f} | {med(name, 1, later) * 1e3:.1f} | "
                     f"{med(name, 0, rows[:1]) * 1e3:.1f} |")  # fmt: skip
    fixed = [
        (r["total"][0] - sum(r.get(a, (0, 0))[0] for a in ARITHMETIC), r["total"][1] - sum(r.get(a, (0, 0))[1] for a in ARITHMETIC))
        for r in later
    ]
    lines.append(f"| **whole trial** | **{med('total', 0, later) * 1e3:.1f}** | **{med('total', 1, later) * 1e3:.1f}** | "
                 f"{rows[0]['total'][0] * 1e3:.1f} |")  # fmt: skip
    lines.append(f"| **fixed (trial less training and evaluation)** | **{statistics.median(f[0] for f in fixed) * 1e3:.1f}** | "
                 f"**{statistics.median(f[1] for f in fixed) * 1e3:.1f}** | |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["head", "scratch", "both"], default="both")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each head trial")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["NASXFER_CACHE_DIR"] = str(Path(scratch) / "feature-cache")
        runs = Path(scratch) / "runs"
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
              f"load average {open('/proc/loadavg').read().split()[0]}")  # fmt: skip
        if args.kind in ("head", "both"):
            rows = profile(head_config(args), runs, warm_up=True)
            print(table(f"cached-head trial ({args.epochs} epochs, warm feature cache)", rows), "\n", flush=True)
        if args.kind in ("scratch", "both"):
            rows = profile(scratch_config(args), runs, warm_up=False)
            print(table("from-scratch trial (digits 16x16, 2 epochs)", rows), flush=True)
        print(f"load average after: {open('/proc/loadavg').read().split()[0]}")


if __name__ == "__main__":
    main()
