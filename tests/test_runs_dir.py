"""--runs-dir reaches everything that looks runs up, and ``nasxfer runs`` stays cheap."""

from __future__ import annotations

import json
import os

from transfer_helpers import tiny_transfer
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import resolve_run

from conftest import TINY

cli = CliRunner()


def test_a_run_backbone_is_found_in_the_runs_dir_given_on_the_command_line(write_config, tmp_path, runs_dir):
    elsewhere = tmp_path / "elsewhere"  # not NASXFER_RUNS_DIR (the runs_dir fixture), not ./runs
    source = json.loads(json.dumps(TINY))
    source["search"]["budget"]["trials"] = 1
    source["train"]["epochs"] = 1
    done = cli.invoke(app, ["search", str(write_config(source, "source.yaml")), "--runs-dir", str(elsewhere), "-q"])
    assert done.exit_code == 0, done.output
    source_run = resolve_run(elsewhere, "latest").run_id

    config = tiny_transfer("DEFAULT")
    config["model"]["backbone"] = {"name": f"run:{source_run}"}
    config["search"]["budget"]["trials"] = 1
    result = cli.invoke(app, ["search", str(write_config(config, "from-run.yaml")), "--runs-dir", str(elsewhere), "-q"])
    assert result.exit_code == 0, result.output
    run = resolve_run(elsewhere, "latest")
    trial = json.loads((run.trial_dir(1) / "trial.json").read_text())
    assert trial["state"] == "complete", trial["error"]
    finetuned = cli.invoke(app, ["finetune", run.run_id, "--epochs", "1", "--runs-dir", str(elsewhere)])
    assert finetuned.exit_code == 0, finetuned.output
    assert os.environ["NASXFER_RUNS_DIR"] == str(runs_dir)  # the command's folder did not leak out of it


def hundred_runs(runs_dir, tiny_dict):
    """One fake run (8 trials, trial 3 failed, finetuned) and 99 copies of it."""
    import shutil

    from fake_run import make_fake_run

    first = make_fake_run(runs_dir, tiny_dict)
    for n in range(1, 100):
        shutil.copytree(first.path, runs_dir / f"copy-{n:03d}", symlinks=True)
    return first


def test_runs_lists_a_hundred_runs_from_their_journals_without_building_reports(runs_dir, tiny_dict, monkeypatch):
    from nasxfer.reporting import report

    first = hundred_runs(runs_dir, tiny_dict)
    best = max(first.history(), key=lambda r: r.metrics.get("val_accuracy", -1))

    def no_full_report(*args, **kwargs):
        raise AssertionError("nasxfer runs must not build a full report per run")

    monkeypatch.setattr(report, "build_report", no_full_report)
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "copy-" in line or first.run_id in line]
    assert len(rows) == 100
    assert all("random" in row and " 8 " in row and f"(trial {best.number})" in row and "0.8000" in row for row in rows)
    assert all("finished" in row for row in rows)


def test_runs_says_which_runs_never_finished_and_which_are_unreadable(runs_dir, tiny_dict):
    first = hundred_runs(runs_dir, tiny_dict)
    unfinished, unreadable = runs_dir / "copy-001", runs_dir / "copy-002"
    with (unfinished / "journal.jsonl").open("a") as f:
        f.write('{"event":"search_started","time":"2026-01-01T00:00:00","resumed_trials":8}\n')
    (unreadable / "config.yaml").write_text("name: [unclosed\n")
    result = CliRunner().invoke(app, ["runs"])
    assert result.exit_code == 0, result.output
    row = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}  # plain columns off a terminal
    assert "interrupted" in row["copy-001"] and "unreadable" in row["copy-002"] and "finished" in row[first.run_id]
