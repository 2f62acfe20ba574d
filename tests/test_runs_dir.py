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
