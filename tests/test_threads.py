"""train.threads: how many CPU threads a trial computes with, chosen from what the box has free."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.training import threads as threads_module
from nasxfer.training.threads import busy_cpus, cgroup_cpu_quota, choose_threads

from conftest import TINY


def test_cgroup_quota_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_cpu_quota(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_cpu_quota(v1) is None


@pytest.mark.parametrize(
    "usable, busy, expected",
    [(2, 0.0, 2), (2, 0.3, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 3.0, 1), (8, 2.2, 6), (8, None, 8), (1, 0.0, 1)],
)
def test_auto_gives_the_cores_others_leave_free(monkeypatch, usable, busy, expected):
    monkeypatch.setattr(threads_module, "usable_cpus", lambda: usable)
    choice = choose_threads("auto", measure=lambda: busy, loader_workers=4)
    assert choice.threads == expected and choice.loader_workers == min(4, expected)
    assert choice.busy_cpus == busy and choice.usable_cpus == usable


def test_auto_takes_a_fair_share_beside_concurrent_trials_and_a_number_is_capped(monkeypatch):
    monkeypatch.setattr(threads_module, "usable_cpus", lambda: 8)
    assert choose_threads("auto", concurrent_trials=3, measure=lambda: 0.0).threads == 2
    assert choose_threads(16).threads == 8 and choose_threads(3).threads == 3 and choose_threads(3).busy_cpus is None


def test_busy_cpus_sees_a_spinning_neighbour():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        subprocess.run([sys.executable, "-c", "pass"], check=True)  # the spinner is past its start-up
        seen = busy_cpus(0.3)
    finally:
        spinner.kill()
        spinner.wait()
    assert seen is not None and seen >= 0.5


class _TwoReadings:
    """A /proc/stat that reads ``first`` and then ``second``: one watch of busy_cpus."""

    def __init__(self, first: str, second: str):
        self.readings = [first, second]

    def read_text(self) -> str:
        return self.readings.pop(0)


def _stat(user: int, nice: int, idle: int) -> str:
    # Every CPU this process may use, each with the same jiffies: user nice system idle ...
    lines = [f"cpu{i} {user} {nice} 0 {idle} 0 0 0 0" for i in sorted(os.sched_getaffinity(0))]
    return "\n".join(["cpu 0 0 0 0 0 0 0 0", *lines]) + "\n"


@pytest.mark.parametrize("own_niceness, expected", [(0, 0.0), (10, 1.0)])
def test_niced_neighbours_count_only_when_we_are_niced_too(monkeypatch, own_niceness, expected):
    # Over the watch, every CPU spends all its time on niced work. At normal priority that
    # work yields to a trial's threads, so nothing is taken (it counted as busy: a niced
    # background job halved auto's threads); run niced ourselves, it competes as an equal.
    monkeypatch.setattr(os, "getpriority", lambda which, who: own_niceness)
    stat = _TwoReadings(_stat(100, 0, 100), _stat(100, 200, 100))
    cpus = len(os.sched_getaffinity(0))
    seen = busy_cpus(0.05, stat=stat)  # asleep, so our own CPU time is ~0
    assert seen == pytest.approx(expected * cpus, abs=0.2)


def test_a_ray_reservation_is_what_auto_uses(monkeypatch):
    monkeypatch.setattr(threads_module, "usable_cpus", lambda: 8)
    threads_module.reserve_cpus(3)
    try:
        choice = threads_module.threads_for_trial("auto", loader_workers=2)
        assert choice.threads == 3 and choice.busy_cpus is None
    finally:
        threads_module.reserve_cpus(None)


def _search(tmp_path, threads) -> tuple[dict, list[dict]]:
    config = {**TINY, "search": {**TINY["search"], "budget": {"trials": 2}}, "train": {**TINY["train"], "epochs": 1, "threads": threads}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["search", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    env = json.loads((run / "env.json").read_text())
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    return env, [e["trial"] for e in events if e["event"] == "trial_finished"]


def test_a_fixed_count_reaches_every_trial_and_env_json(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        env, trials = _search(tmp_path, 1)
        assert env["threads"]["setting"] == "1" and env["threads"]["threads"] == 1
        metrics = [t["metrics"] for t in trials]
        assert len(metrics) == 2 and all(m["train_threads"] == 1.0 for m in metrics)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_auto_records_what_it_measured(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        env, trials = _search(tmp_path, "auto")
        chosen = env["threads"]
        assert chosen["setting"] == "auto" and 1 <= chosen["threads"] <= chosen["usable_cpus"]
        assert chosen["busy_cpus"] is None or chosen["busy_cpus"] >= 0
        assert all(1 <= t["metrics"]["train_threads"] <= chosen["usable_cpus"] for t in trials)
        assert len(trials) == 2
    finally:
        torch.set_num_threads(before)


def test_a_bad_thread_count_is_one_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(app, ["validate", str(path), "--quick", "--set", "train.threads=0"])
    assert result.exit_code == 2
    assert result.output.strip() == "error: train.threads: give auto or a number of threads from 1 to 1024 (got 0)"
