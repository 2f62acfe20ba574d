"""Nothing lost: stop, kill and resume a real (tiny) search; the result must not change."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.storage.lock import RunLock
from nasxfer.progress.reporter import Reporter
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run
from nasxfer.search.trial import TrialState

from conftest import TINY


def resumable_config():
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": 3}
    data["train"]["epochs"] = 3
    return data


def summary(run_path: Path):
    """What must be identical between an uninterrupted and an interrupted run."""
    history = RunStore(run_path).history()
    return [(r.number, r.key, r.state.value, round(r.metrics.get("val_accuracy", -1), 6)) for r in history]


class StopAfter(Reporter):
    """Asks for a stop when trial ``number`` finishes epoch ``epoch`` (like a Ctrl-C then)."""

    def __init__(self, stop, number, epoch):
        self.stop, self.number, self.epoch = stop, number, epoch
        self.epochs_seen = []

    def epoch_finished(self, number, row, epochs):
        self.epochs_seen.append((number, row["epoch"]))
        if (number, row["epoch"]) == (self.number, self.epoch):
            self.stop.request()


def test_stop_mid_trial_then_resume_continues_from_the_epoch_checkpoint(tmp_path):
    config = validate_config(resumable_config())
    reference = RunStore.create(tmp_path / "a", config, {})
    run_search(config, reference)

    store = RunStore.create(tmp_path / "b", config, {})
    stop = StopRequest()
    first = StopAfter(stop, number=2, epoch=1)
    outcome = run_search(config, store, first, stop=stop)
    assert outcome.interrupted and [r.number for r in outcome.history] == [1]
    assert store.interrupted_trial()["number"] == 2
    assert list(store.trial_dir(2).glob("checkpoint-e0001.pt"))

    second = StopAfter(StopRequest(), number=0, epoch=0)
    outcome = run_search(config, store, second)
    assert not outcome.interrupted
    # trial 2 resumed at epoch 2: epoch 1 was not trained again
    assert second.epochs_seen[:2] == [(2, 2), (2, 3)]
    assert summary(store.path) == summary(reference.path)
    assert not list(store.trial_dir(2).glob("checkpoint-*.pt"))  # cleaned once the model is saved


def test_corrupt_checkpoint_is_never_loaded(tmp_path):
    config = validate_config(resumable_config())
    reference = RunStore.create(tmp_path / "a", config, {})
    run_search(config, reference)
    store = RunStore.create(tmp_path / "b", config, {})
    stop = StopRequest()
    run_search(config, store, StopAfter(stop, number=1, epoch=2), stop=stop)
    checkpoint = next(store.trial_dir(1).glob("checkpoint-e0002.pt"))
    checkpoint.write_bytes(checkpoint.read_bytes()[:-10] + b"corrupted!")
    assert store.checkpoints(1).latest() is None
    recorder = StopAfter(StopRequest(), 0, 0)
    run_search(config, store, recorder)
    assert recorder.epochs_seen[0] == (1, 1)  # retrained from scratch, not from the bad file
    assert summary(store.path) == summary(reference.path)


def test_resume_can_extend_the_budget_and_counts_what_was_spent(write_config, runs_dir):
    config = write_config(resumable_config())
    cli = CliRunner()
    assert cli.invoke(app, ["search", str(config), "-q"]).exit_code == 0
    result = cli.invoke(app, ["search", "--resume", "latest", "-q"])
    assert result.exit_code == 0 and "trial budget reached (3 trials)" in result.output
    result = cli.invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=4", "-q"])
    assert result.exit_code == 0, result.output
    store = resolve_run(runs_dir, "latest")
    assert [r.number for r in store.history()] == [1, 2, 3, 4]
    assert store.config().search.budget.trials == 4
    refused = cli.invoke(app, ["search", "--resume", "latest", "--set", "train.lr=0.3"])
    assert refused.exit_code == 2 and "only search.budget" in refused.output
    both = cli.invoke(app, ["search", str(config), "--resume", "latest"])
    assert both.exit_code == 2


def test_a_second_writer_is_refused_with_the_holders_name(write_config, runs_dir):
    cli = CliRunner()
    assert cli.invoke(app, ["search", str(write_config(resumable_config())), "-q", "--set", "search.budget.trials=1"]).exit_code == 0
    store = resolve_run(runs_dir, "latest")
    with RunLock(store.path):
        result = cli.invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=2"])
        assert result.exit_code == 2
        assert f"is being written by pid {os.getpid()} on host" in result.output
        assert cli.invoke(app, ["finetune", "latest", "--epochs", "1"]).exit_code == 2
    # released (as the kernel does when a holder dies): the run can be continued
    assert cli.invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=2", "-q"]).exit_code == 0


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    (tmp_path / "run").mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from nasxfer.storage.lock import RunLock; RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)", str(tmp_path / "run")],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(Exception, match=f"pid {holder.pid}"):
        RunLock(tmp_path / "run").acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    RunLock(tmp_path / "run").acquire().release()


# --------------------------------------------------------------------------- SIGKILL matrix

KILL_POINTS = {
    "during training, after an epoch checkpoint": "journal:checkpoint:4",
    "during a checkpoint write": "write:checkpoint-e0002.pt:2",
    "between trials": "between_trials:1",
    "right after a trial started": "journal:trial_started:3",
    "during the leaderboard write": "write:leaderboard.csv:2",
    "during a model write": "write:model.pt:2",
}


def nasxfer(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "nasxfer.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def kill_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    config = root / "config.yaml"
    import yaml

    config.write_text(yaml.safe_dump(resumable_config()))
    env = {**os.environ, "NASXFER_RUNS_DIR": str(root / "reference"), "PYTHONUNBUFFERED": "1"}
    env.pop("NASXFER_FAULT", None)
    done = nasxfer("search", str(config), "-q", env=env)
    assert done.returncode == 0, done.stderr
    return root, config, summary(resolve_run(root / "reference", "latest").path)


@pytest.mark.parametrize("moment", sorted(KILL_POINTS))
def test_sigkill_then_resume_loses_nothing(kill_setup, moment):
    root, config, reference = kill_setup
    runs = root / moment.replace(" ", "-").replace(",", "")
    env = {**os.environ, "NASXFER_RUNS_DIR": str(runs), "NASXFER_FAULT": KILL_POINTS[moment]}
    killed = nasxfer("search", str(config), "-q", env=env)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    before = summary(resolve_run(runs, "latest").path)
    assert len(before) < len(reference)

    env.pop("NASXFER_FAULT")
    resumed = nasxfer("search", "--resume", "latest", "-q", env=env)
    assert resumed.returncode == 0, resumed.stderr
    after = summary(resolve_run(runs, "latest").path)
    assert after[: len(before)] == before  # nothing finished was lost or changed
    assert after == reference  # nor duplicated: the same leaderboard as an uninterrupted run
    assert leaderboard(runs) == leaderboard(root / "reference")


def leaderboard(runs_dir):
    import csv

    with open(resolve_run(runs_dir, "latest").path / "leaderboard.csv") as f:
        timings = {"seconds", "latency_ms", "latency_p90_ms"}  # wall-clock measurements differ run to run
        return [{k: v for k, v in row.items() if k not in timings} for row in csv.DictReader(f)]


def test_ctrl_c_stops_after_the_epoch_and_says_how_to_resume(tmp_path):
    import time

    import yaml

    data = resumable_config()
    data["train"]["epochs"] = 30  # long enough to still be training when the signal comes
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "NASXFER_RUNS_DIR": str(tmp_path / "runs"), "PYTHONUNBUFFERED": "1"}
    env.pop("NASXFER_FAULT", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasxfer.cli", "search", str(config)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    for line in proc.stdout:  # plain lines: stdout is a pipe
        if "epoch 2/30" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopping after the current epoch" in stderr and "Resume with: nasxfer search --resume" in stderr
    store = resolve_run(tmp_path / "runs", "latest")
    interrupted = store.interrupted_trial()
    assert interrupted is not None and store.checkpoints(interrupted["number"]).latest() is not None
    assert any(e["event"] == "trial_interrupted" for e in store.events())
