"""Parallel trials on a real, local Ray runtime (2 CPUs): the run folder, a killed worker, resume.

One Ray runtime serves the whole module (starting one takes seconds); it is started with
``address="local"``, so the tests never join any other Ray cluster, and shut down at the
end. Tests that need Ray skip when it is not installed; the missing-Ray error is tested
either way. Workers import this module to unpickle the evaluators below, so the runtime's
workers get this folder on their ``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.evaluation.evaluator import TrainingEvaluator
from nasxfer.progress.reporter import Reporter
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run
from nasxfer.search.trial import TrialState

from conftest import TINY

TESTS = Path(__file__).resolve().parent
# A test that takes longer is stuck: fail it rather than hang CI. On a quiet 2-core box each
# takes under 15 s; on one saturated by other work Ray's workers run several times slower.
TEST_SECONDS = 150


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise ``TimeoutError`` in the main thread if the block runs past ``seconds``."""

    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def ray_runtime():
    ray = pytest.importorskip("ray")
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent), *filter(None, [saved["PYTHONPATH"]])])
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # offline: nothing is reported anywhere
    with time_limit(TEST_SECONDS):
        ray.init(
            address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False,
            object_store_memory=100 * 2**20, logging_level=logging.ERROR,
        )
    try:
        yield ray
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def deadline():
    """Fail the test (instead of hanging) if it runs past ``TEST_SECONDS``."""
    with time_limit(TEST_SECONDS):
        yield


def ray_config(trials=4, **executor):
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": trials}
    data["executor"] = {"name": "ray", "cpus_per_trial": 1, "max_concurrent": 2, **executor}
    return data


def tree(run: Path) -> set[str]:
    return {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}


def started(store: RunStore) -> list[dict]:
    return [e for e in store.events() if e["event"] == "trial_started"]


def test_a_ray_search_leaves_the_same_run_folder_as_a_local_one(ray_runtime, deadline, write_config, tmp_path):
    cli = CliRunner()
    runs = {}
    for name in ("local", "ray"):
        data = ray_config()
        if name == "local":
            del data["executor"]
        config = write_config(data, f"{name}.yaml")
        result = cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        runs[name] = resolve_run(tmp_path / name, "latest")
    local, ray = runs["local"], runs["ray"]

    assert tree(ray.path) == tree(local.path)
    assert {"config.yaml", "env.json", "journal.jsonl", "leaderboard.csv", "trials/0004/model.pt"} <= tree(ray.path)
    history = ray.history()
    assert [r.state for r in history] == [TrialState.COMPLETE] * 4
    assert sorted(r.number for r in history) == [1, 2, 3, 4]
    assert len({e["key"] for e in started(ray)}) == len(started(ray)) == 4  # never proposed twice
    # Random search sees running trials as tried, so it proposes what the sequential loop did.
    assert {(r.number, r.key, r.seed) for r in history} == {(r.number, r.key, r.seed) for r in local.history()}
    workers = [e for e in ray.events() if e["event"] == "trial_worker"]
    pids = {e["pid"] for e in workers}
    assert len(pids) >= 2  # trials ran side by side, in two worker processes (or more)
    assert sum(not e["evaluator_cached"] for e in workers) == len(pids)  # data fetched once per worker process
    search = next(e for e in ray.events() if e["event"] == "search_started")
    assert search["executor"]["slots"] == 2 and search["executor"]["gpus_per_trial"] == 0


class HoldingEvaluator(TrainingEvaluator):
    """Trains for real; after a trial's first epoch it writes ``<seed>.<pid>.pid`` into
    ``folder`` and waits there until ``folder/go`` exists (at most a minute)."""

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = str(folder)

    def evaluate(self, config, *, seed, on_epoch=None, **kwargs):
        def epoch_finished(row):
            if on_epoch:
                on_epoch(row)
            if row["epoch"] == 1:
                self.hold(seed)

        return super().evaluate(config, seed=seed, on_epoch=epoch_finished, **kwargs)

    def hold(self, seed):
        folder = Path(self.folder)
        (folder / f"{seed}.{os.getpid()}.pid").touch()
        waited_until = time.monotonic() + 60
        while not (folder / "go").exists() and time.monotonic() < waited_until:
            time.sleep(0.05)


def test_a_killed_worker_loses_only_its_trial_which_is_requeued(ray_runtime, deadline, tmp_path):
    config = validate_config(ray_config(trials=3))
    store = RunStore.create(tmp_path / "runs", config, {})
    folder = tmp_path / "pids"
    folder.mkdir()
    killed = {}

    def kill_the_first_trial_to_report():
        waited_until = time.monotonic() + 50
        while time.monotonic() < waited_until:
            pids = sorted(folder.glob("*.pid"))
            if pids:
                seed, pid = pids[0].name.split(".")[:2]
                os.kill(int(pid), signal.SIGKILL)  # mid-trial: one epoch trained, more to come
                killed.update(seed=int(seed), pid=int(pid))
                break
            time.sleep(0.05)
        (folder / "go").touch()

    killer = threading.Thread(target=kill_the_first_trial_to_report)
    killer.start()
    outcome = run_search(config, store, None, HoldingEvaluator(folder))
    killer.join()

    assert killed, "no trial reported its pid"
    victim = next(e["number"] for e in started(store) if e["seed"] == killed["seed"])
    requeued = [e for e in store.events() if e["event"] == "trial_requeued"]
    assert [(e["number"], e["attempt"]) for e in requeued] == [(victim, 2)]
    assert "WorkerCrashedError" in requeued[0]["reason"]
    assert outcome.stop_reason == "trial budget reached (3 trials)"
    assert [r.state for r in outcome.history] == [TrialState.COMPLETE] * 3  # the other trial was not lost
    assert sorted(r.number for r in store.history()) == [1, 2, 3] and len(started(store)) == 3
    victim_worker = [e["pid"] for e in store.events() if e["event"] == "trial_worker" and e["number"] == victim]
    assert victim_worker and victim_worker[0] != killed["pid"]  # it finished on a new worker
    assert (store.trial_dir(victim) / "model.pt").is_file()


class DoomedEvaluator(TrainingEvaluator):
    """Kills its own worker process whenever it is given the trial with ``seed``."""

    def __init__(self, seed: int):
        super().__init__()
        self.doomed = seed

    def evaluate(self, config, *, seed, **kwargs):
        if seed == self.doomed:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().evaluate(config, seed=seed, **kwargs)


def test_a_trial_whose_worker_always_dies_fails_after_max_retries(ray_runtime, deadline, tmp_path):
    from nasxfer.search.planning import trial_seed

    config = validate_config(ray_config(trials=3, max_retries=1))
    store = RunStore.create(tmp_path, config, {})
    outcome = run_search(config, store, None, DoomedEvaluator(trial_seed(config, 2)))
    states = {r.number: r.state for r in outcome.history}
    assert states == {1: TrialState.COMPLETE, 2: TrialState.FAILED, 3: TrialState.COMPLETE}
    failed = next(r for r in outcome.history if r.number == 2)
    assert failed.error.startswith("WorkerLost: lost its worker 2 times (executor.max_retries: 1); last: WorkerCrashedError")
    assert [e["number"] for e in store.events() if e["event"] == "trial_requeued"] == [2]


class StopWhenOneFinishes(Reporter):
    def __init__(self, stop):
        self.stop = stop

    def trial_finished(self, record, best):
        self.stop.request()


class SlowSecondEvaluator(HoldingEvaluator):
    """Holds every trial but the first until ``folder/go`` exists."""

    def hold(self, seed):
        from nasxfer.search.planning import trial_seed

        if seed != trial_seed(validate_config(TINY), 1):
            super().hold(seed)


def test_a_stopped_ray_search_resumes_and_reruns_its_unfinished_trials(ray_runtime, deadline, tmp_path):
    config = validate_config(ray_config(trials=4))
    store = RunStore.create(tmp_path / "runs", config, {})
    folder = tmp_path / "hold"
    folder.mkdir()
    stop = StopRequest()
    outcome = run_search(config, store, StopWhenOneFinishes(stop), SlowSecondEvaluator(folder), stop)
    assert outcome.interrupted and [r.number for r in outcome.history] == [1]
    assert [e["number"] for e in store.unfinished_trials()] == [2]  # cancelled mid-trial
    assert not (store.trial_dir(2) / "model.pt").exists()

    (folder / "go").touch()
    outcome = run_search(config, store, None, SlowSecondEvaluator(folder))
    assert not outcome.interrupted and outcome.stop_reason == "trial budget reached (4 trials)"
    assert sorted(r.number for r in store.history()) == [1, 2, 3, 4]
    assert [e["number"] for e in started(store)] == [1, 2, 3, 4]  # trial 2 re-run, not re-proposed
    assert len({e["key"] for e in started(store)}) == 4
    assert all((store.trial_dir(n) / "model.pt").is_file() for n in (1, 2, 3, 4))
    assert store.unfinished_trials() == []


def test_a_scheduled_ray_search_continues_promotions_from_the_rung_checkpoint(ray_runtime, deadline, tmp_path):
    data = ray_config(trials=3)
    data["train"]["epochs"] = 3
    data["search"]["scheduler"] = {"name": "successive_halving", "min_epochs": 1, "eta": 3}  # 3 at 1 epoch, 1 on to 3
    config = validate_config(data)
    store = RunStore.create(tmp_path / "ray", config, {})
    outcome = run_search(config, store, None, TrainingEvaluator())
    local_config = config.apply({"executor": {"name": "local"}})
    local = run_search(local_config, RunStore.create(tmp_path / "local", local_config, {}), None, TrainingEvaluator())

    ends = lambda history: sorted((r.number, r.key, r.state, r.epochs_reached) for r in history)  # noqa: E731
    assert ends(outcome.history) == ends(local.history)
    winner = outcome.best
    assert winner.state is TrialState.COMPLETE and winner.epochs_reached == 3
    # The paused state came back through Ray to the driver's disk, verified by its checksum …
    checkpoint = next(e for e in store.events() if e["event"] == "checkpoint" and e["number"] == winner.number)
    assert checkpoint["epoch"] == 1
    # … and the promotion continued from it: epoch 1's row is the one trained before the pause,
    # to the timing (retraining would have measured it again).
    paused = next(
        e["trial"] for e in store.events()
        if e["event"] == "trial_finished" and e["trial"]["number"] == winner.number and e["trial"]["state"] == "paused"
    )
    assert winner.curve[0] == paused["curve"][0]
    assert [row["epoch"] for row in winner.curve] == [1, 2, 3]
    assert (store.trial_dir(winner.number) / "model.pt").is_file()
    assert not list(store.path.glob("trials/*/checkpoint-*.pt"))  # every trial finished or retired


def test_executor_ray_without_ray_fails_before_a_run_folder_exists(write_config, runs_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    result = CliRunner().invoke(app, ["search", str(write_config(ray_config())), "-q"])
    assert result.exit_code == 2
    message = "executor.name: 'ray' needs Ray, which is not installed (pip install 'nasxfer[ray]')"
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
