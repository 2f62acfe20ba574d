"""A real (tiny) search run as a command, SIGKILLed again and again and resumed each time
with ``--resume latest``: no finished trial is lost or duplicated, the journal parses
whole, and the leaderboard is the one an uninterrupted run with the same seed writes.

The kill moments are crash points (``nasxfer.storage.faults``) picked by a seeded random
generator, so a failure replays exactly. Training on the CPU is deterministic for a seed,
which is what makes the two leaderboards comparable metric for metric.
"""

from __future__ import annotations

import csv
import json
import random
import signal

import yaml

from search_process import search_process
from nasxfer.storage.store import RunStore, resolve_run

from conftest import TINY

KILLS = 10
# Where a kill can land: after an epoch checkpoint, mid-write of each kind of file, right
# after each kind of journal line, between trials. Each is reached at least once by every
# session that has a trial left to run, and none journals more than one trial first.
CRASH_POINTS = [
    "journal:checkpoint",
    "write:checkpoint-e0001.pt",
    "journal:trial_started",
    "journal:trial_finished",
    "write:trial.json",
    "write:leaderboard.csv",
    "write:model.pt",
    "between_trials",
    "journal:search_started",
]
TIMINGS = {"seconds", "latency_ms", "latency_p90_ms"}  # wall-clock measurements differ run to run


def search_config(tmp_path):
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": 8}
    data["train"]["epochs"] = 2
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def nasxfer(*args, runs, fault=None):
    return search_process(*args, runs=runs, fault=fault)


def finished(store: RunStore):
    return [(r.number, r.key, r.state.value, r.metrics.get("val_accuracy")) for r in store.history()]


def leaderboard(store: RunStore):
    with open(store.path / "leaderboard.csv") as f:
        return [{k: v for k, v in row.items() if k not in TIMINGS} for row in csv.DictReader(f)]


def test_killed_ten_times_and_resumed_the_search_ends_as_if_never_killed(tmp_path):
    config = search_config(tmp_path)
    done = nasxfer(str(config), runs=tmp_path / "reference")
    assert done.returncode == 0, done.stderr
    reference = resolve_run(tmp_path / "reference", "latest")

    runs, rng, kills, kept, trace = tmp_path / "killed", random.Random(16), 0, [], []
    args = [str(config)]
    while True:
        fault = f"{rng.choice(CRASH_POINTS)}:1" if kills < KILLS else None
        result = nasxfer(*args, runs=runs, fault=fault)
        if result.returncode == 0:
            assert fault is None, f"the search finished before kill {kills + 1} (at {fault}); kills so far: {trace}"
            break
        assert result.returncode == -signal.SIGKILL, (fault, result.returncode, result.stderr)
        kills += 1
        args = ["--resume", "latest"]
        now = finished(resolve_run(runs, "latest"))
        assert now[: len(kept)] == kept, f"after the kill at {fault}, a finished trial was lost or changed"
        kept = now
        trace.append((fault, len(kept)))

    store = resolve_run(runs, "latest")
    lines = (store.path / "journal.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # the journal parses whole
    numbers = [e["trial"]["number"] for e in events if e["event"] == "trial_finished"]
    assert sorted(numbers) == list(range(1, 9)), "a trial finished twice or never"
    assert finished(store) == finished(reference)
    assert leaderboard(store) == leaderboard(reference)
