"""Every shipped config runs on a fresh clone, or says up front what it needs.

A fresh clone has no ../shared folder, no runs and no internet. A config in configs/ must
either pass ``nasxfer validate`` there, or carry a ``# needs: …`` line in the comment block
it opens with. The offline transfer route the README prints (the quickstart's run as a
``run:<id>`` backbone) is run end to end, shrunk with ``--set``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import resolve_run

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def needs(path: Path) -> list[str]:
    """The ``# needs:`` lines of the comment block the file opens with."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# needs:"):
            lines.append(line)
    return lines


@pytest.fixture
def fresh_clone(tmp_path, monkeypatch):
    """A copy of configs/ and docs/ in a folder with no ../shared beside it, no runs, as the cwd."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "configs", clone / "configs")
    shutil.copytree(ROOT / "docs", clone / "docs")
    assert not (clone.parent / "shared").exists()
    monkeypatch.chdir(clone)
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(clone / "runs"))
    return clone


def test_there_are_configs():
    assert {p.name for p in CONFIGS} >= {"quickstart.yaml", "transfer_from_quickstart.yaml"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_validates_on_a_fresh_clone_or_says_what_it_needs(config, fresh_clone):
    if needs(config):
        return  # it says what it needs and where to get it; validating it here would need that
    result = invoke("validate", Path("configs") / config.name)
    assert result.exit_code == 0, f"{config.name} does not validate on a fresh clone; fix it or add a '# needs:' line\n{result.output}"


def test_the_quickstart_runs_on_a_fresh_clone_without_needs():
    assert needs(ROOT / "configs" / "quickstart.yaml") == []


def test_transfer_from_the_quickstart_run(fresh_clone):
    """The README's offline transfer quickstart, shrunk: quickstart search, transfer search, finetune."""
    runs = fresh_clone / "runs"
    tiny = ["--set", "search.budget.trials=1", "--set", "train.epochs=1", "-q"]
    result = invoke("search", "configs/quickstart.yaml", "--set", "train.warmup_epochs=0", "--set", "data.limit=100", *tiny)
    assert result.exit_code == 0, result.output
    source = resolve_run(runs, "latest").run_id

    config = "configs/transfer_from_quickstart.yaml"
    result = invoke("search", config)  # the placeholder id: one line naming the field, nothing trains
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "model.backbone.name" in lines[0], result.output
    result = invoke("search", config, "--set", "model.backbone.name=run:latest")
    assert result.exit_code == 2 and "name the run id (see nasxfer runs)" in result.output, result.output

    shrink = ["--set", "data.synthetic.num_samples=80", "--set", "model.finetune.unfreeze=1"]
    result = invoke("search", config, "--set", f"model.backbone.name=run:{source}", *shrink, *tiny)
    assert result.exit_code == 0, result.output
    run = resolve_run(runs, "latest")
    assert run.run_id != source
    trial = json.loads((run.path / "trials" / "0001" / "trial.json").read_text())
    assert trial["state"] == "complete", trial.get("error")

    result = invoke("finetune", "latest", "--epochs", "1")
    assert result.exit_code == 0, result.output
    metrics = json.loads((run.path / "final" / "metrics.json").read_text())
    assert metrics["head_epochs"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
