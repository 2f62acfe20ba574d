"""Models for the edge, end to end on real CIFAR-10: a latency-constrained search, a
distilled student, its int8 export, and the table that compares them.

1. Deployed latency of the space: a seeded sample of the from-scratch space is timed as it
   will run (exported, int8, ONNX Runtime, batch 1, one thread); ``max_latency_ms`` is set
   to the sample's 25th percentile, so that about a quarter of the space fits.
2. The search under that constraint (``search.latency.runtime: onnxruntime``): its best
   trial is the student.
3. The teacher: the real CIFAR-10 ResNet-56 (../shared/data/weights), frozen, with a linear
   head trained on these images (a transfer search of one trial, on cached features).
4. The student finetuned ``--seeds`` times alone and ``--seeds`` times distilled from the
   teacher (``finetune.distill``), same seeds, same epochs, same data.
5. The distilled student, and the teacher, exported to int8 ONNX (``nasxfer export --quantize int8``).

The table: test accuracy (mean ± std over seeds for the students), params, ONNX size on
disk and ONNX Runtime CPU latency (batch 1, one thread, interleaved rounds, the smallest
round median and that round's p90) of teacher, student, distilled student and distilled
int8 student, all timed in this process, in turns. Wall and CPU time of each phase are
printed beside it (the machine is shared).

Data: ../shared/data/cifar10-5k (train/: 4,000 images, 10% of them for validation; test/:
1,000 images). Without it the benchmark says so and stops.

    python benchmarks/edge.py [--seeds 3] [--trials 6] [--epochs 3] [--final-epochs 10] [--sample 16]

About 16 minutes on a shared 2-core CPU (benchmarks/edge_results.txt, docs/edge.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

SPACE = {
    "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e3", "mbconv_k5_e6"], "repeat": 4},
    "model.scratch.stem_channels": {"choices": [8, 16, 32]},
}
LATENCY = {"runtime": "onnxruntime", "threads": 1, "quantize": "int8", "rounds": 3, "repeats": 10}


def data_section() -> dict:
    return {"dataset": "imagefolder", "root": str(SHARED / "cifar10-5k"), "val_fraction": 0.1, "mode": "memory",
            # No augmentation: the teacher's logits are then computed once (finetune.distill), and
            # both students, alone and distilled, train on the very same images.
            "augment": "none"}  # fmt: skip


def student_config(args, max_latency_ms: float) -> dict:
    return {
        "name": "edge-student",
        "seed": 0,
        "data": data_section(),
        "model": {"scratch": {"stem_channels": 16, "stages": [2, 2], "ops": ["conv3x3"] * 4, "head_channels": 128}},
        "search": {
            "strategy": {"name": "random"},
            "space": SPACE,
            "budget": {"trials": args.trials},
            "constraints": {"max_latency_ms": max_latency_ms},
            "latency": LATENCY,
            "max_rejects": 200,
        },
        "train": {"epochs": args.epochs, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "warmup_epochs": 1, "device": "cpu"},
        "finetune": {"epochs": args.final_epochs, "lr": 0.05, "holdout": 0.1},
    }


def teacher_config() -> dict:
    return {
        "name": "edge-teacher",
        "seed": 0,
        "data": data_section(),
        "model": {"backbone": {"name": "resnet56", "weights": str(SHARED / "weights" / "resnet56-cifar10.th")},
                  "head": {"hidden": []}, "finetune": {"unfreeze": 0}},  # fmt: skip
        "search": {"strategy": {"name": "grid"}, "space": {"model.head.pooling": {"choices": ["avg"]}}, "budget": {"trials": 1}},
        "train": {"epochs": 15, "batch_size": 128, "optimizer": "adamw", "lr": 0.01, "device": "cpu"},
    }


class Phase:
    """Wall and CPU seconds of a phase, printed as it ends."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        print(f"[{self.name}: {self.wall:.0f} s wall, {self.cpu:.0f} s CPU, load {os.getloadavg()[0]:.2f}]", flush=True)


def sample_latencies(base, count: int, seed: int) -> list[float]:
    """Deployed latency of ``count`` random candidates of the space (untrained; latency does not depend on weights)."""
    import random

    import torch

    from nasxfer.evaluation.deployed import time_deployed
    from nasxfer.models.scratch import build_scratch_network

    rng = random.Random(seed)
    config = base
    out = []
    for _ in range(count):
        values = {
            "model.scratch.ops": [rng.choice(SPACE["model.scratch.ops"]["choices"]) for _ in range(4)],
            "model.scratch.stem_channels": rng.choice(SPACE["model.scratch.stem_channels"]["choices"]),
        }
        cfg = config.apply(values)
        with torch.random.fork_rng(devices=[]):
            network = build_scratch_network(cfg.model.scratch, in_channels=3, num_classes=10)
        out.append(time_deployed(network, (3, 32, 32), cfg.search.latency)["latency_ms"])
    return out


def run(config_dict, runs: Path):
    from nasxfer.config import validate_config
    from nasxfer.evaluation.evaluator import TrainingEvaluator
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore

    config = validate_config(config_dict)
    evaluator = TrainingEvaluator()
    evaluator.prepare(config)
    store = RunStore.create(runs, config, {})
    outcome = run_search(config, store, None, evaluator)
    return store, outcome


def onnx_facts(classifiers: dict, data, folder: Path) -> dict:
    """Size on disk and interleaved ORT latency of each float classifier, plus the int8 file named "int8"."""
    import torch

    from nasxfer.deploy.onnx_graph import write_onnx
    from nasxfer.deploy.timing import ort_session, time_interleaved

    paths, out = {}, {}
    for name, item in classifiers.items():
        if isinstance(item, Path):
            paths[name] = item
            continue
        path = folder / f"{name}.onnx"
        write_onnx(item.cpu().eval(), torch.rand(2, item.in_channels, *item.image_size), path)
        paths[name] = path
    sessions = {name: ort_session(str(p), threads=1) for name, p in paths.items()}
    image = (data.test.images[:1].float() / 255).numpy()
    runners = {name: (lambda s=s: s.run(None, {"images": image})) for name, s in sessions.items()}
    timing = time_interleaved(runners, rounds=7, warmup=3, repeats=20)
    for name, p in paths.items():
        out[name] = {"bytes": p.stat().st_size, "latency": timing[name].as_dict()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=6, help="complete trials of the constrained search")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per search trial")
    parser.add_argument("--final-epochs", type=int, default=10)
    parser.add_argument("--sample", type=int, default=16, help="candidates timed to set max_latency_ms")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not (SHARED / "cifar10-5k").is_dir() or not (SHARED / "weights" / "resnet56-cifar10.th").is_file():
        raise SystemExit(f"needs {SHARED}/cifar10-5k and {SHARED}/weights/resnet56-cifar10.th (see ../shared/data/README.md)")

    import torch

    from _common import machine
    from nasxfer.config import validate_config
    from nasxfer.final.finetune import finetune_run
    from nasxfer.final.inference import load_classifier
    from nasxfer.final.int8 import export_int8
    from nasxfer.training.fit import count_parameters

    print(f"machine: {machine()}; load {os.getloadavg()[0]:.2f}")
    figures: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["NASXFER_CACHE_DIR"] = str(scratch / "cache")
        runs = scratch / "runs"
        os.environ["NASXFER_RUNS_DIR"] = str(runs)
        with Phase("latency sample"):
            base = validate_config(student_config(args, 1.0))
            sample = sorted(sample_latencies(base, args.sample, seed=1))
            limit = statistics.quantiles(sample, n=4)[0]  # the 25th percentile
        print(f"deployed int8 latency of {len(sample)} random candidates: {sample[0]:.3f} .. {sample[-1]:.3f} ms, "
              f"median {statistics.median(sample):.3f}; max_latency_ms = {limit:.3f} (25th percentile: "
              f"{sum(v <= limit for v in sample)}/{len(sample)} fit)", flush=True)  # fmt: skip
        figures["latency_sample_ms"], figures["max_latency_ms"] = sample, limit

        with Phase("constrained search"):
            store, outcome = run(student_config(args, limit), runs)
        history = outcome.history
        rejected = [r for r in history if r.state.value == "rejected"]
        complete = [r for r in history if r.state.value == "complete"]
        best = outcome.best
        print(f"search: {len(complete)} trained, {len(rejected)} rejected by max_latency_ms "
              f"({len(rejected) / max(len(history), 1):.0%} of the candidates proposed); "
              f"student = trial {best.number} {best.values}, val accuracy {best.metrics['val_accuracy']:.4f}, "
              f"deployed latency {best.metrics['latency_ms']:.3f} ms", flush=True)  # fmt: skip
        figures["search"] = {"trained": len(complete), "rejected": len(rejected), "student": best.number,
                             "student_values": best.values, "student_val_accuracy": best.metrics["val_accuracy"]}  # fmt: skip

        with Phase("teacher"):
            teacher_store, teacher_outcome = run(teacher_config(), runs)
        print(f"teacher: ResNet-56 (CIFAR-10 weights), frozen, linear head: val accuracy "
              f"{teacher_outcome.best.metrics['val_accuracy']:.4f}", flush=True)  # fmt: skip

        finals = {}
        for label, extra in (("alone", []), ("distilled", [f"finetune.distill.teacher=run:{teacher_store.run_id}",
                                                            f"finetune.distill.temperature={args.temperature}",
                                                            f"finetune.distill.alpha={args.alpha}"])):  # fmt: skip
            with Phase(f"student {label}, {args.seeds} seeds"):
                metrics = finetune_run(store, trial=best.number, seeds=args.seeds, overrides=extra)
            finals[label] = metrics
            accs = [s["test_accuracy"] for s in metrics["seeds"]]
            print(f"student {label}: test accuracy {metrics['test_accuracy_mean']:.4f} ± {metrics['test_accuracy_std']:.4f} "
                  f"(seeds {', '.join(f'{a:.4f}' for a in accs)})", flush=True)  # fmt: skip
        distill = finals["distilled"]["distill"]
        print(f"teacher test accuracy {distill['teacher_test_accuracy']:.4f}; teacher logits {distill['teacher_logits']}")

        # The final/ of the distilled finetune is the distilled student; the one before is in final-1/.
        student = load_classifier(store.path / "final-1" / "model.pt", None, verify=False)
        distilled = load_classifier(store.path / "final" / "model.pt", None, verify=False)
        teacher = load_classifier(teacher_store.trial_dir(teacher_outcome.best.number) / "model.pt", None, verify=False)
        from nasxfer.final.int8 import data_of

        data, seed = data_of(distilled)
        with Phase("int8 export"):
            report = export_int8(distilled, scratch / "distilled.int8.onnx", "benchmark", data, seed=seed)
            # The teacher too: where int8 pays (a network big enough that arithmetic, not
            # per-operator overhead, dominates), and int8 export of a transfer model on real data.
            teacher_report = export_int8(teacher, scratch / "teacher.int8.onnx", "benchmark", data, seed=seed)
        with Phase("ONNX Runtime timing"):
            facts = onnx_facts({"teacher": teacher, "teacher_int8": scratch / "teacher.int8.onnx", "student": student,
                                "distilled": distilled, "int8": scratch / "distilled.int8.onnx"}, data, scratch)  # fmt: skip
        rows = [
            ("teacher (ResNet-56, frozen + linear head)", f"{distill['teacher_test_accuracy']:.4f}", count_parameters(teacher.network), facts["teacher"]),
            ("teacher, int8", f"{teacher_report['int8']['test_accuracy']:.4f} (float {teacher_report['float']['test_accuracy']:.4f})",
             count_parameters(teacher.network), facts["teacher_int8"]),
            (f"student alone ({args.seeds} seeds)", f"{finals['alone']['test_accuracy_mean']:.4f} ± {finals['alone']['test_accuracy_std']:.4f}",
             count_parameters(student.network), facts["student"]),
            (f"student distilled ({args.seeds} seeds)", f"{finals['distilled']['test_accuracy_mean']:.4f} ± {finals['distilled']['test_accuracy_std']:.4f}",
             count_parameters(distilled.network), facts["distilled"]),
            ("student distilled, int8 (seed 0)", f"{report['int8']['test_accuracy']:.4f} (float {report['float']['test_accuracy']:.4f})",
             count_parameters(distilled.network), facts["int8"]),
        ]  # fmt: skip
        print()
        print("| model | test accuracy | params | ONNX size | ORT CPU latency, batch 1, 1 thread (median / p90) |")
        print("|---|---|---|---|---|")
        for name, acc, params, fact in rows:
            lat = fact["latency"]
            print(f"| {name} | {acc} | {params:,} | {fact['bytes'] / 1e6:.3f} MB | {lat['median_ms']:.3f} / {lat['p90_ms']:.3f} ms"
                  f"{' (busy)' if lat['busy'] else ''} |")  # fmt: skip
        gain = finals["distilled"]["test_accuracy_mean"] - finals["alone"]["test_accuracy_mean"]
        spread = max(finals["alone"]["test_accuracy_std"], finals["distilled"]["test_accuracy_std"])
        speed = facts["distilled"]["latency"]["median_ms"] / facts["int8"]["latency"]["median_ms"]
        print()
        print(f"distillation: {gain:+.4f} test accuracy over the student alone; seed-to-seed std up to {spread:.4f}: "
              + ("larger than the spread" if gain > spread else "NOT larger than the spread"))
        teacher_speed = facts["teacher"]["latency"]["median_ms"] / facts["teacher_int8"]["latency"]["median_ms"]
        print(f"int8 student: {speed:.2f}x the float student's speed; agreement {report['agreement']:.2%}; notes: {report['notes'] or 'none'}")
        print(f"int8 teacher: {teacher_speed:.2f}x the float teacher's speed; agreement {teacher_report['agreement']:.2%}; "
              f"notes: {teacher_report['notes'] or 'none'}")  # fmt: skip
        figures["teacher_int8"], figures["teacher_int8_speedup"] = teacher_report, teacher_speed
        figures.update(finals={k: {kk: v[kk] for kk in ("test_accuracy_mean", "test_accuracy_std", "seeds", "params")} for k, v in finals.items()},
                       distill=distill, int8=report, onnx=facts, gain=gain, spread=spread, int8_speedup=speed)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
