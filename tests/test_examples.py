"""The example scripts do what their comments say."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nasxfer.storage.store import resolve_run

from conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def search_until_done(tmp_path: Path, config: str, **env: str) -> subprocess.CompletedProcess:
    """Run the script on ``tmp_path/config`` with a ``nasxfer`` on PATH that runs this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nasxfer").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nasxfer.cli "$@"\n')
    (bin_dir / "nasxfer").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "NASXFER_RUNS_DIR": str(tmp_path / "runs"),
        **env,
    }
    script = ROOT / "examples" / "search_until_done.sh"
    return subprocess.run(
        ["bash", str(script), str(tmp_path / config)], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_search_until_done_resumes_a_search_that_keeps_dying(tmp_path):
    # Every nasxfer process SIGKILLs itself after its first finished trial, so the search
    # needs four attempts: three killed, one that finds the budget spent.
    data = json.loads(json.dumps(TINY))
    data["train"]["epochs"] = 1
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(data))
    done = search_until_done(tmp_path, "tiny.yaml", NASXFER_FAULT="between_trials:1", RETRY_SECONDS="0")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("exited with 137") == 3 and "done:" in done.stdout
    store = resolve_run(tmp_path / "runs", "latest")
    assert [r.number for r in store.history()] == [1, 2, 3]
    assert len(list((tmp_path / "runs").iterdir())) == 2  # one run folder (and runs/latest)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_search_until_done_does_not_retry_a_config_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ntrain: {epochs: 0}\n")
    done = search_until_done(tmp_path, "bad.yaml")
    assert done.returncode == 2 and "not retrying" in done.stderr and "train.epochs" in done.stderr
