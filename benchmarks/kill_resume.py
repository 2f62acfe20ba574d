"""The kill test's longer version: a real search SIGKILLed at random *moments* (not only at
crash points), resumed each time, then ``finetune`` and ``report`` killed mid-way and run
again; at the end the run must equal an uninterrupted one with the same seed.

    python benchmarks/kill_resume.py [--kills 30] [--trials 16] [--epochs 3] [--seed 0]

Prints each kill (when, how many trials were finished) and the verdict; exits 1 when a
finished trial was lost, changed or duplicated, the journal does not parse, or the final
leaderboard differs from the reference run's. The CI version is tests/test_kill_resume.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nasxfer.storage.store import resolve_run  # noqa: E402

TIMINGS = {"seconds", "latency_ms", "latency_p90_ms"}


def config_file(folder: Path, trials: int, epochs: int) -> Path:
    text = f"""
name: killed
seed: 0
data: {{dataset: synthetic, synthetic: {{num_samples: 400, num_classes: 4, image_size: 8}}}}
model: {{scratch: {{stem_channels: 4, stages: [1, 1], ops: [conv3x3, conv3x3], head_channels: 16}}}}
search:
  space:
    model.scratch.ops: {{choices: [identity, conv3x3, mbconv_k3_e1], repeat: 2}}
    train.lr: {{low: 0.02, high: 0.3, log: true}}
  budget: {{trials: {trials}}}
train: {{epochs: {epochs}, batch_size: 32}}
finetune: {{epochs: 2}}
"""
    path = folder / "config.yaml"
    path.write_text(text)
    return path


def command(*args: str, runs: Path) -> list[str]:
    return [sys.executable, "-m", "nasxfer.cli", *args, "--runs-dir", str(runs)]


def kill_after(cmd: list[str], seconds: float) -> int:
    """Run ``cmd``, SIGKILL it after ``seconds`` unless it ended first; its exit code
    (``-SIGKILL`` when killed)."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        return process.wait()


def finished(runs: Path):
    return [(r.number, r.key, r.state.value, r.metrics.get("val_accuracy")) for r in resolve_run(runs, "latest").history()]


def leaderboard(runs: Path):
    with open(resolve_run(runs, "latest").path / "leaderboard.csv") as f:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(f)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.pop("NASXFER_FAULT", None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = config_file(tmp, args.trials, args.epochs)
        started = time.perf_counter()
        subprocess.run(command("search", str(config), "--quiet", runs=tmp / "reference"), check=True, capture_output=True)
        reference_seconds = time.perf_counter() - started
        print(f"reference search: {reference_seconds:.1f} s")
        runs, kept, kills = tmp / "killed", [], 0
        search = ["search", str(config), "--quiet"]
        while True:
            # anywhere from start-up to the whole search: a resumed session has less left to run
            delay = rng.uniform(0.5, max(1.0, reference_seconds)) if kills < args.kills else 3600
            code = kill_after(command(*search, runs=runs), delay)
            if code == 0:
                break
            if code != -signal.SIGKILL:
                print(f"{' '.join(search)} exited {code} instead of finishing or being killed")
                return 1
            kills += 1
            if not (runs / "latest").exists():
                print(f"kill {kills} after {delay:.2f} s: before the run folder existed")
                continue  # start afresh again
            search = ["search", "--resume", "latest", "--quiet"]
            now = finished(runs)
            if now[: len(kept)] != kept:
                print(f"kill {kills} after {delay:.2f} s: a finished trial was lost or changed")
                return 1
            kept = now
            print(f"kill {kills} after {delay:.2f} s: {len(kept)} trials finished")
        run = resolve_run(runs, "latest")
        events = [json.loads(line) for line in (run.path / "journal.jsonl").read_text().splitlines()]
        numbers = [e["trial"]["number"] for e in events if e["event"] == "trial_finished"]
        checks = {
            "every trial finished once": sorted(numbers) == list(range(1, args.trials + 1)),
            "history equals the reference": finished(runs) == finished(tmp / "reference"),
            "leaderboard equals the reference": leaderboard(runs) == leaderboard(tmp / "reference"),
        }
        for step in ("finetune", "report"):  # killed mid-way, then run again: it must complete
            kill_after(command(step, "latest", runs=runs), rng.uniform(0.5, 3.0))
            again = subprocess.run(command(step, "latest", runs=runs), capture_output=True, text=True)
            checks[f"{step} completes after a kill"] = again.returncode == 0
        checks["journal parses whole after finetune"] = all(
            json.loads(line) for line in (run.path / "journal.jsonl").read_text().splitlines()
        )
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"{kills} kills; {'all checks passed' if all(checks.values()) else 'FAILED'}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
