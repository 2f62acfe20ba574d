"""What a search shows while it runs: the live view, plain lines, JSON lines, search.log, the ETA."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_run import RECORDS, drive, fake_record
from rich.console import Console
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.progress.eta import Estimate, estimate, mean_trial_seconds, seconds_left, trials_target
from nasxfer.progress.json_log import JsonLinesReporter
from nasxfer.progress.live import LiveReporter, LogFileReporter, PlainReporter, make_reporter
from nasxfer.progress.reporter import MultiReporter, RecordingReporter, Reporter
from nasxfer.search.space import SearchSpace

ANSI_ESCAPE = "\x1b["


# --------------------------------------------------------------------------- ETA


def test_eta_from_trial_budget_uses_the_pace_and_the_running_trial():
    assert trials_target(20, float("inf")) == 20 and trials_target(20, 6) == 6 and trials_target(None, 6) is None
    left = seconds_left(target_trials=10, time_limit_seconds=None, finished_trials=4, mean_trial_seconds=30.0, current_fraction=0.5, elapsed_seconds=120)
    assert left == pytest.approx(5.5 * 30)
    assert seconds_left(target_trials=10, time_limit_seconds=None, finished_trials=4, mean_trial_seconds=None, current_fraction=0, elapsed_seconds=1) is None


def test_eta_from_minutes_budget_and_the_earlier_of_two():
    only_time = seconds_left(target_trials=None, time_limit_seconds=600, finished_trials=0, mean_trial_seconds=None, current_fraction=0, elapsed_seconds=100)
    assert only_time == 500
    # 500 s left at 60 s a trial: the trial running at the limit ends at 540 s, and it finishes
    both = estimate(target_trials=100, time_limit_seconds=600, finished_trials=0, mean_trial_seconds=60, current_fraction=0, elapsed_seconds=100)
    assert both == Estimate(540, "minutes", False)
    trials_bind = estimate(target_trials=3, time_limit_seconds=600, finished_trials=0, mean_trial_seconds=60, current_fraction=0, elapsed_seconds=100)
    assert trials_bind == Estimate(180, "trials", False)
    # Past the limit the running trial still finishes: the ETA is its remaining time, not 0.
    overdue = estimate(target_trials=None, time_limit_seconds=60, finished_trials=3, mean_trial_seconds=60, current_fraction=0.2, elapsed_seconds=90)
    assert overdue.seconds == pytest.approx(48) and overdue.overtime


def test_pace_before_any_trial_finished_extrapolates_the_running_one():
    assert mean_trial_seconds([], 10.0, 0.25) == 40.0
    assert mean_trial_seconds([], 10.0, 0.0) is None
    assert mean_trial_seconds([20.0, 40.0], 99.0, 0.5) == 30.0


# --------------------------------------------------------------------------- reporters


def test_multi_reporter_fans_out_every_hook_and_stops_all(tiny_config):
    first, second = RecordingReporter(), RecordingReporter()
    drive(MultiReporter([first, second]), tiny_config, RECORDS)
    assert first.calls == second.calls
    assert [hook for hook, _ in first.calls].count("epoch_finished") == 4  # the failed trial has no curve

    class Broken(Reporter):
        def stop(self):
            raise OSError("disk gone")

    closed = []

    class Closing(Reporter):
        def stop(self):
            closed.append(True)

    with pytest.raises(OSError):
        MultiReporter([Broken(), Closing()]).stop()
    assert closed == [True]


def test_plain_reporter_writes_plain_lines_without_escapes(tiny_config):
    out = io.StringIO()
    drive(PlainReporter(Console(file=out, width=60), device="cpu"), tiny_config, RECORDS)
    lines = out.getvalue().splitlines()
    assert lines[0] == "run tiny-run: random search over ∞ candidates on cpu; budget 3 trials"
    assert "trial 1 epoch 2/2 loss 0.6000 val_acc 0.4000 902 img/s" in lines
    assert "trial 2 failed: RuntimeError: <boom> | bad" in lines
    assert lines[-1].startswith("search stopped: trial budget reached") and ANSI_ESCAPE not in out.getvalue()


def test_live_reporter_draws_table_progress_eta_and_device(tiny_config):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140, color_system=None)
    reporter = LiveReporter(console, device="cuda (NVIDIA H200)")
    drive(reporter, tiny_config, RECORDS)
    reporter.stop()  # a second stop after the end is harmless
    screen = out.getvalue()
    for text in ("tiny-run · random · ∞ candidates", "best so far", "0.8000 (#3)", "failed", "ops=[identity,identity]", "finished in", "search stopped"):
        assert text in screen, text
    # While a trial runs, the status line shows the budget, an ETA and the device.
    reporter = LiveReporter(Console(file=io.StringIO(), force_terminal=True, width=140))
    reporter.device = "cpu"
    reporter.search_started("tiny-run", tiny_config, SearchSpace.from_config(tiny_config))
    reporter.trial_started(1, RECORDS[0].values, 2)
    reporter.epoch_finished(1, RECORDS[0].curve[0], 2)
    status = reporter._status().plain
    reporter.stop()
    assert status.startswith("elapsed 0:00:0") and "trials 0/3" in status and "ETA 0:00:" in status and status.endswith("device cpu")


def test_json_lines_reporter_writes_one_strict_json_object_per_event(tiny_config):
    out = io.StringIO()
    diverged = fake_record(4, 0.5, ["identity", "identity"])
    diverged.metrics["val_loss"] = float("nan")
    drive(JsonLinesReporter(out), tiny_config, [*RECORDS, diverged])
    events = [json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON")) for line in out.getvalue().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "search_started" and kinds[-1] == "search_finished"
    assert kinds.count("trial_started") == kinds.count("trial_finished") == 4 and kinds.count("epoch_finished") == 6
    started = events[0]
    assert started["run_id"] == "tiny-run" and started["space_size"] is None and started["budget"] == {"trials": 3, "minutes": None}
    finished = [e for e in events if e["event"] == "trial_finished"]
    assert finished[1]["state"] == "failed" and finished[1]["error"].startswith("RuntimeError")
    assert finished[3]["metrics"]["val_loss"] is None and finished[3]["best"] == {"trial": 3, "metric": 0.8}
    assert events[-1]["best"]["trial"] == 3 and all("time" in e for e in events)
    quiet = io.StringIO()
    drive(JsonLinesReporter(quiet, quiet=True), tiny_config, RECORDS)
    assert [json.loads(line)["event"] for line in quiet.getvalue().splitlines()] == ["search_started", "search_finished"]


def test_log_file_reporter_appends_timestamped_lines(tmp_path, tiny_config):
    path = tmp_path / "search.log"
    for _ in range(2):  # a resumed search appends to the same log
        log = LogFileReporter(path, device="cpu")
        drive(log, tiny_config, RECORDS[:1])
        log.stop()
        log.stop()
        log.message("after stop: dropped, not an error")
    lines = path.read_text().splitlines()
    assert len(lines) == 2 * 6 and lines[0][:4].isdigit() and lines[0][10] == "T"
    assert lines[0].endswith("run tiny-run: random search over ∞ candidates on cpu; budget 3 trials")


def test_make_reporter_picks_by_terminal_quiet_and_format(tmp_path):
    piped = Console(file=io.StringIO())
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert type(make_reporter(piped)) is PlainReporter
    assert type(make_reporter(terminal)) is LiveReporter
    assert type(make_reporter(terminal, log_format="plain")) is PlainReporter
    assert make_reporter(terminal, quiet=True).quiet
    assert type(make_reporter(terminal, log_format="json")) is JsonLinesReporter
    (tmp_path / "env.json").write_text(json.dumps({"device": "cuda", "device_name": "NVIDIA H200"}))
    both = make_reporter(terminal, run_dir=tmp_path)
    try:
        assert [type(r) for r in both.reporters] == [LiveReporter, LogFileReporter]
        assert both.reporters[0].device == "cuda (NVIDIA H200)" and both.reporters[1].path == tmp_path / "search.log"
    finally:
        both.stop()


# --------------------------------------------------------------------------- the search command


def test_search_log_format_json_keeps_stdout_to_json_lines(write_config, tiny_dict, runs_dir):
    result = CliRunner().invoke(app, ["search", str(write_config(tiny_dict)), "--set", "search.budget.trials=1", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    messages = [e for e in events if e["event"] == "message"]
    assert messages and messages[0]["text"].startswith("data: synthetic, 3 classes")  # the data summary, as JSON too
    assert [e["event"] for e in events if e["event"] != "message"] == [
        "search_started", "trial_started", "epoch_finished", "epoch_finished", "trial_finished", "search_finished"
    ]
    run = runs_dir / events[0]["run_id"]
    log = (run / "search.log").read_text()
    assert "trial 1 complete: val_accuracy" in log and "data: synthetic, 3 classes" in log
    assert log.count("\n") == 6 + 5  # 5 lines of data summary
    assert "; 1 trial, 2 epochs," in log  # no "1 trials"


def test_piped_search_prints_plain_lines_and_writes_search_log(write_config, tiny_dict, tmp_path):
    env = {**os.environ, "NASXFER_RUNS_DIR": str(tmp_path / "runs"), "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("FORCE_COLOR", None)
    done = subprocess.run(
        [sys.executable, "-m", "nasxfer.cli", "search", str(write_config(tiny_dict)), "--set", "search.budget.trials=1"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert ANSI_ESCAPE not in done.stdout and "━" not in done.stdout  # no live view in a pipe
    lines = done.stdout.splitlines()
    assert lines[0].startswith("run tiny-") and lines[0].endswith("on cpu; budget 1 trial")
    assert "trial 1 epoch 2/2 loss" in done.stdout and "trial 1 complete" in done.stdout
    log = next((tmp_path / "runs").glob("tiny-*/search.log")).read_text()
    assert [line.split(" ", 1)[1] for line in log.splitlines()] == lines[: len(log.splitlines())]


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux to give the search a real terminal")
def test_live_view_in_a_real_terminal(write_config, tiny_dict, tmp_path):
    session = f"nasxfer-test-{os.getpid()}"
    command = (
        f"cd {Path.cwd()} && NASXFER_RUNS_DIR={tmp_path / 'runs'} PYTHONPATH={os.environ.get('PYTHONPATH', '')} "
        f"{sys.executable} -m nasxfer.cli search {write_config(tiny_dict)} --set search.budget.trials=2; sleep 60"
    )
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "130", "-y", "40", command], check=True)
    try:
        deadline = time.monotonic() + 120
        screen = ""
        while time.monotonic() < deadline and "next: nasxfer finetune" not in screen:
            time.sleep(1)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert "next: nasxfer finetune" in screen, screen
    for text in ("┏", "best so far", "finished in", "trials 2", "search stopped: trial budget reached"):
        assert text in screen, screen
    assert "trial 1 started" not in screen  # the live table, not plain lines


def test_live_status_names_the_binding_budget_and_stays_honest_past_the_time_cap(tiny_config):
    from nasxfer.progress.live import budget_text

    config = tiny_config.apply({"search.budget.trials": 12, "search.budget.minutes": 2})
    assert budget_text(config.search.budget) == "12 trials or 2 min (the running trial finishes), whichever ends first"
    reporter = LiveReporter(Console(file=io.StringIO(), force_terminal=True, width=200))
    reporter.search_started("tiny-run", config, SearchSpace.from_config(config))
    reporter.session_seconds = [30.0]  # a trial takes 30 s: 12 trials need 6 min, the 2 min bind
    reporter.finished = 1
    reporter.started -= 60
    assert "the time budget binds" in reporter._status().plain
    reporter.started -= 70  # 2:10 in, a trial half done: the cap has passed, the trial goes on
    reporter.trial_started(2, RECORDS[0].values, 2)
    reporter.trial_fraction = 0.5
    status = reporter._status().plain
    reporter.stop()
    assert "time budget spent, finishing the current trial" in status and "ETA 0:00:15" in status
