"""A torn last journal line (a writer killed mid-append) is cut off when the run is next
opened for writing, so the first event appended after it is not glued onto it and lost."""

import json

from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import RunStore, resolve_run

from conftest import TINY

FRAGMENT = b'{"event":"checkpoint","time":"2026-01-01T00:00:00","num'


def journal_lines(store):
    return (store.path / "journal.jsonl").read_bytes().decode().splitlines()


def test_opening_for_writing_cuts_the_torn_line_into_a_side_file(tmp_path, tiny_config):
    store = RunStore.create(tmp_path / "runs", tiny_config, {})
    store.append("search_started", resumed_trials=0)
    with (store.path / "journal.jsonl").open("ab") as f:
        f.write(FRAGMENT)
    with store.lock():
        store.append("search_started", resumed_trials=1)
    events = [json.loads(line) for line in journal_lines(store)]  # every line parses
    assert [e["resumed_trials"] for e in events] == [0, 1]
    assert (store.path / "journal.jsonl.torn").read_bytes() == FRAGMENT


def test_a_second_torn_line_is_appended_to_the_side_file(tmp_path, tiny_config):
    store = RunStore.create(tmp_path / "runs", tiny_config, {})
    for n in (1, 2):
        with (store.path / "journal.jsonl").open("ab") as f:
            f.write(FRAGMENT + str(n).encode())
        with store.lock():
            store.append("search_started", resumed_trials=n)
    assert [e["resumed_trials"] for e in store.events()] == [1, 2]
    assert (store.path / "journal.jsonl.torn").read_bytes() == FRAGMENT + b"1" + FRAGMENT + b"2"


def test_a_whole_journal_is_left_alone(tmp_path, tiny_config):
    store = RunStore.create(tmp_path / "runs", tiny_config, {})
    store.append("search_started", resumed_trials=0)
    before = (store.path / "journal.jsonl").read_bytes()
    with store.lock():
        pass
    assert (store.path / "journal.jsonl").read_bytes() == before
    assert not (store.path / "journal.jsonl.torn").exists()


def test_a_resume_after_a_torn_line_journals_its_search_started(write_config, runs_dir):
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": 1}
    data["train"]["epochs"] = 1
    cli = CliRunner()
    assert cli.invoke(app, ["search", str(write_config(data)), "-q"]).exit_code == 0
    store = resolve_run(runs_dir, "latest")
    with (store.path / "journal.jsonl").open("ab") as f:
        f.write(FRAGMENT)
    result = cli.invoke(app, ["search", "--resume", "latest", "-q"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in journal_lines(store)]
    assert [e["event"] for e in events].count("search_started") == 2
    assert (store.path / "journal.jsonl.torn").read_bytes() == FRAGMENT
