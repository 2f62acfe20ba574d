"""Every view of a run says where it stands: running (pid, host), interrupted (and how to
resume), or finished (and why)."""

from __future__ import annotations

import json
import os
import socket

from typer.testing import CliRunner

from fake_run import make_fake_run
from nasxfer.cli import app
from nasxfer.storage.run_status import run_status


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_finished_interrupted_and_running_runs(tmp_path, tiny_dict):
    runs_dir = tmp_path / "runs"
    store = make_fake_run(runs_dir, tiny_dict, trials=3)
    status = run_status(store.path, store.events())
    assert status.state == "finished" and status.text(store.run_id) == "finished (trial budget reached (3 trials))"

    store.append("search_started", resumed_trials=3)  # a resumed session that was then killed
    assert run_status(store.path, store.events()).state == "interrupted"
    report = _invoke("report", store.run_id, "--runs-dir", runs_dir)
    assert report.exit_code == 0
    assert f"status: interrupted — resume with nasxfer search --resume {store.run_id} --runs-dir {runs_dir}" in report.output

    with store.lock():  # this process is the writer now
        running = json.loads(_invoke("report", store.run_id, "--runs-dir", runs_dir, "--format", "json").output)["status"]
        assert running["state"] == "running" and running["pid"] == os.getpid() and running["host"] == socket.gethostname()
        assert running["text"] == f"running (pid {os.getpid()} on {socket.gethostname()})"
        other = make_fake_run(runs_dir, tiny_dict, trials=2, failed=())
        compared = json.loads(_invoke("compare", store.run_id, other.run_id, "--runs-dir", runs_dir, "--json").output)
        assert [row["status"]["state"] for row in compared] == ["running", "finished"]
    assert run_status(store.path, store.events()).state == "interrupted"  # the lock went with its holder


def test_a_stopped_search_is_interrupted_not_finished(tmp_path, tiny_dict):
    store = make_fake_run(tmp_path / "runs", tiny_dict, trials=2)
    store.append("search_started", resumed_trials=2)
    store.append("search_stopped", reason="stopped by request", best=None)
    assert run_status(store.path, store.events()).state == "interrupted"


def test_reading_the_status_writes_nothing(tmp_path, tiny_dict):
    store = make_fake_run(tmp_path / "runs", tiny_dict, trials=2)
    (store.path / ".lock").unlink(missing_ok=True)
    before = sorted(p.name for p in store.path.iterdir())
    run_status(store.path, store.events())
    assert sorted(p.name for p in store.path.iterdir()) == before


def test_runs_lists_status_plain_and_as_json(tmp_path, tiny_dict):
    runs_dir = tmp_path / "runs"
    tiny_dict["name"] = "an-experiment-with-a-long-name-that-tables-used-to-cut"
    done = make_fake_run(runs_dir, tiny_dict, trials=2, failed=())
    killed = make_fake_run(runs_dir, tiny_dict, trials=1, failed=())
    killed.append("search_started", resumed_trials=1)
    listed = _invoke("runs", "--runs-dir", runs_dir)
    assert listed.exit_code == 0, listed.output
    rows = {line.split()[0]: line for line in listed.output.splitlines() if line.strip().startswith(tiny_dict["name"])}
    assert set(rows) == {done.run_id, killed.run_id}  # whole ids, one line each (not a terminal)
    assert "finished" in rows[done.run_id] and "interrupted" in rows[killed.run_id]
    as_json = json.loads(_invoke("runs", "--runs-dir", runs_dir, "--json").output)
    assert {row["run_id"]: row["status"]["state"] for row in as_json} == {done.run_id: "finished", killed.run_id: "interrupted"}
