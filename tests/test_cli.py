"""The command line, end to end on tiny synthetic data: through CliRunner and a real subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def test_search_finetune_report_runs(write_config, tiny_dict, runs_dir):
    config = write_config(tiny_dict)
    result = invoke("search", config, "--set", "search.budget.trials=2")
    assert result.exit_code == 0, result.output
    assert "trial 2 complete" in result.output  # plain lines: CliRunner is not a terminal
    run = next(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink())
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "env.json", "journal.jsonl", "leaderboard.csv", "trials"}
    for n in (1, 2):
        trial = run / "trials" / f"{n:04d}"
        assert json.loads((trial / "trial.json").read_text())["state"] == "complete"
        assert (trial / "model.pt").stat().st_size > 0
    env = json.loads((run / "env.json").read_text())
    assert env["device"] == "cpu" and env["torch"]

    result = invoke("finetune", "latest", "--epochs", "1")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "final" / "metrics.json").read_text())
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["epochs"] == 1
    assert len(metrics["confusion_matrix"]) == 3
    import torch

    payload = torch.load(run / "final" / "model.pt", weights_only=True)
    assert payload["class_names"] == metrics["class_names"] and "state_dict" in payload

    result = invoke("report", run.name, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["trials"]["complete"] == 2 and report["final"]["test_accuracy"] == metrics["test_accuracy"]
    assert [row["trial"] for row in report["leaderboard"]][0] == report["best"]["trial"]

    md = invoke("report", "latest", "--format", "md", "--top", "1")
    assert md.exit_code == 0 and md.output.startswith("# nasxfer run") and md.output.count("| 1 |") == 1
    table = invoke("report", "latest")
    assert table.exit_code == 0 and "best trial" in table.output
    listing = invoke("runs")
    assert listing.exit_code == 0 and run.name[:10] in listing.output


def test_finetune_a_named_trial(write_config, tiny_dict, runs_dir):
    assert invoke("search", write_config(tiny_dict), "--set", "search.budget.trials=2", "-q").exit_code == 0
    result = invoke("finetune", "latest", "--trial", "2", "--epochs", "1")
    assert result.exit_code == 0 and "trial 2 finetuned" in result.output
    assert invoke("finetune", "latest", "--trial", "9").exit_code == 2


def test_validate_prints_resolved_config_and_space_size(write_config, tiny_dict, runs_dir):
    tiny_dict["search"]["space"] = {"model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 2}}
    result = invoke("validate", write_config(tiny_dict), "--set", "train.epochs=3")
    assert result.exit_code == 0
    assert "epochs: 3" in result.output and "search space size: 4 candidates" in result.output
    assert not runs_dir.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--set", "search.strategy.name=evo"), "search.strategy.name: unknown strategy 'evo'"),
        (("--set", "train.epochz=2"), "train.epochz: unknown key"),
        (("--set", "data.dataset=imagefolder", "--set", "data.root=/nonexistent/x"), "data.root"),
        (("--set", "search.space.train.lrr={choices: [1]}"), "search.space.train.lrr: names no config field"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_run_folder(write_config, tiny_dict, runs_dir, args, message):
    result = invoke("search", write_config(tiny_dict), *args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("run_id", ["../etc", "nope", "latest"])
def test_unknown_or_escaping_run_ids_are_refused(runs_dir, run_id):
    for command in ("report", "finetune"):
        result = invoke(command, run_id)
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_missing_config_file(runs_dir):
    result = invoke("search", "/no/such/file.yaml")
    assert result.exit_code == 2 and "config: no such file" in result.output


def test_real_subprocess_search_and_report(write_config, tiny_dict, tmp_path):
    """The installed console script, as a user runs it from a shell script."""
    env = {**os.environ, "NASXFER_RUNS_DIR": str(tmp_path / "sub-runs")}
    exe = Path(sys.executable).with_name("nasxfer")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "nasxfer.cli"]
    config = write_config(tiny_dict)
    done = subprocess.run([*command, "search", str(config), "--set", "search.budget.trials=1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "trial 1 complete" in done.stdout and "next: nasxfer finetune" in done.stdout
    report = subprocess.run([*command, "report", "latest", "--format", "json"], env=env, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0 and json.loads(report.stdout)["trials"]["total"] == 1
    bad = subprocess.run([*command, "search", str(config), "--set", "train.lr=-1"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.strip().count("\n") == 0
    assert "train.lr" in bad.stderr and "Traceback" not in bad.stderr


def test_printed_next_commands_run_as_printed_with_a_runs_dir(write_config, tiny_dict, tmp_path, monkeypatch):
    import shlex

    monkeypatch.delenv("NASXFER_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    config = write_config(tiny_dict)
    result = invoke("search", str(config), "--set", "search.budget.trials=1", "--runs-dir", "elsewhere runs")
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if l.startswith("next: "))
    commands = [shlex.split(part) for part in line[len("next: "):].split("  ·  ")]
    assert [c[:2] for c in commands] == [["nasxfer", "finetune"], ["nasxfer", "report"]]
    assert all(c[-2:] == ["--runs-dir", "elsewhere runs"] for c in commands)
    report = invoke(*commands[1][1:])
    assert report.exit_code == 0, report.output
