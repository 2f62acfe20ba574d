"""Multi-fidelity end to end: tiny real ASHA searches through the CLI, resumed (after a kill too),
reported, finetuned."""

import json
import os
import signal
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run


def json_events(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_asha_search_through_the_cli_continues_trials_and_resumes(write_config, runs_dir, tiny_dict):
    tiny_dict["train"]["epochs"] = 3
    tiny_dict["search"]["scheduler"] = {"name": "asha", "min_epochs": 1, "eta": 3}
    config = write_config(tiny_dict)
    cli = CliRunner()
    first = cli.invoke(app, ["search", str(config), "--log-format", "json"])
    assert first.exit_code == 0, first.output
    second = cli.invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=4", "--log-format", "json"])
    assert second.exit_code == 0, second.output

    events = json_events(first.output) + json_events(second.output)
    epochs = [(e["trial"], e["epoch"]) for e in events if e["event"] == "epoch_finished"]
    assert len(epochs) == len(set(epochs))  # across both sessions, no epoch was trained twice
    store = resolve_run(runs_dir, "latest")
    history = store.history()
    assert [r.number for r in history] == [1, 2, 3, 4]
    promoted = [e["number"] for e in store.events() if e["event"] == "trial_promoted"]
    assert promoted
    for number in promoted:  # a promotion trained epochs 2 and 3 only, on top of its checkpoint
        assert [epoch for trial, epoch in epochs if trial == number] == [1, 2, 3]
        record = next(r for r in history if r.number == number)
        assert record.state.value == "complete" and [row["epoch"] for row in record.curve] == [1, 2, 3]
    assert {r.state.value for r in history if r.number not in promoted} == {"paused"}

    report = json.loads(cli.invoke(app, ["report", "latest", "--format", "json"]).output)
    assert report["scheduler"] == "asha" and report["epochs_trained"] == len(epochs)
    assert report["leaderboard"][0]["state"] == "complete" and report["best"]["trial"] in promoted
    assert report["trials"]["paused"] == 4 - len(promoted)
    finetuned = cli.invoke(app, ["finetune", "latest", "--epochs", "1"])
    assert finetuned.exit_code == 0 and f"trial {report['best']['trial']} finetuned" in finetuned.output


def test_a_table_evaluator_refuses_a_scheduler(write_config, tiny_dict):
    tiny_dict["search"]["evaluator"] = {"table": "nas-bench-macro.json"}
    tiny_dict["search"]["scheduler"] = {"name": "hyperband"}
    result = CliRunner().invoke(app, ["validate", str(write_config(tiny_dict))])
    assert result.exit_code == 2
    assert "search.scheduler: a results table has one final value per architecture" in result.output


def test_an_unknown_warm_start_run_fails_before_a_run_folder_exists(write_config, runs_dir, tiny_dict):
    tiny_dict["search"]["warm_start"] = "no-such-run"
    result = CliRunner().invoke(app, ["search", str(write_config(tiny_dict))])
    assert result.exit_code == 2 and "search.warm_start: run 'no-such-run': no such run" in result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_a_kill_inside_a_promotion_then_resume_loses_nothing(tmp_path, tiny_dict):
    """SIGKILL right after the promoted trial's epoch-2 checkpoint (the run's 4th): the resumed
    run trains only that trial's epoch 3 and ends as an uninterrupted run does."""
    tiny_dict["train"]["epochs"] = 3
    tiny_dict["search"]["scheduler"] = {"name": "asha"}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_dict))
    env = {**os.environ, "NASXFER_RUNS_DIR": str(tmp_path / "runs"), "NASXFER_FAULT": "journal:checkpoint:4"}
    killed = subprocess.run(
        [sys.executable, "-m", "nasxfer.cli", "search", str(config), "-q"], env=env, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    def summary(history):
        return [(r.number, r.key, r.state.value, r.epochs_reached, r.metrics["val_accuracy"]) for r in history]

    store = resolve_run(tmp_path / "runs", "latest")
    pending = store.interrupted_trial()
    assert pending["event"] == "trial_promoted"
    resumed = CliRunner().invoke(app, ["search", "--resume", "latest", "--runs-dir", str(tmp_path / "runs"), "--log-format", "json"])
    assert resumed.exit_code == 0, resumed.output
    trained = [(e["trial"], e["epoch"]) for e in json_events(resumed.output) if e["event"] == "epoch_finished"]
    assert trained[0] == (pending["number"], 3)  # epochs 1 and 2 came from its checkpoint
    reference = run_search(validate_config(tiny_dict), RunStore.create(tmp_path / "reference", validate_config(tiny_dict), {}))
    assert summary(store.history()) == summary(reference.history)
