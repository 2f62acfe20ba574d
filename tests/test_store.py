import json
import os

import pytest

from nasxfer.errors import RunNotFoundError
from nasxfer.storage.store import RunStore, list_runs, resolve_run
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def make_store(runs_dir, config):
    return RunStore.create(runs_dir, config, {"python": "3"})


def trial(number, acc, state=TrialState.COMPLETE):
    return TrialRecord(number, f"k{number}", {"train.lr": number / 10}, state, {"val_accuracy": acc} if acc is not None else {})


def test_create_writes_config_env_journal_and_latest(tmp_path, tiny_config):
    store = make_store(tmp_path, tiny_config)
    assert store.run_id.startswith("tiny-")
    assert store.config() == tiny_config
    assert json.loads((store.path / "env.json").read_text()) == {"python": "3"}
    assert (store.path / "journal.jsonl").read_text() == ""
    assert resolve_run(tmp_path, "latest").path == store.path


def test_two_runs_in_the_same_second_get_two_folders(tmp_path, tiny_config):
    a, b = make_store(tmp_path, tiny_config), make_store(tmp_path, tiny_config)
    assert a.path != b.path
    assert [r.run_id for r in list_runs(tmp_path)] == [a.run_id, b.run_id]
    assert resolve_run(tmp_path, "latest").run_id == b.run_id


def test_journal_history_and_leaderboard(tmp_path, tiny_config):
    store = make_store(tmp_path, tiny_config)
    objective = ObjectiveSpec()
    for record in (trial(1, 0.5), trial(2, 0.9), trial(3, None, TrialState.FAILED), trial(4, 0.7)):
        store.record_trial(record, objective)
    history = store.history()
    assert [r.number for r in history] == [1, 2, 3, 4]
    assert history[2].state is TrialState.FAILED
    lines = (store.path / "leaderboard.csv").read_text().splitlines()
    assert lines[0].startswith("rank,trial,state,val_accuracy")
    assert [line.split(",")[1] for line in lines[1:]] == ["2", "4", "1", "3"]
    assert json.loads((store.trial_dir(2) / "trial.json").read_text())["metrics"]["val_accuracy"] == 0.9


def test_torn_last_line_is_ignored(tmp_path, tiny_config):
    store = make_store(tmp_path, tiny_config)
    store.record_trial(trial(1, 0.5), ObjectiveSpec())
    with open(store.path / "journal.jsonl", "a") as f:
        f.write('{"event": "trial_finished", "trial": {"numb')  # killed mid-write
    assert [r.number for r in store.history()] == [1]


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "/etc", "", "latest/../x"])
def test_run_ids_cannot_leave_the_runs_folder(tmp_path, bad):
    with pytest.raises(RunNotFoundError):
        resolve_run(tmp_path, bad)


def test_unknown_run_and_no_latest(tmp_path, tiny_config):
    with pytest.raises(RunNotFoundError, match="no runs yet"):
        resolve_run(tmp_path, "latest")
    make_store(tmp_path, tiny_config)
    with pytest.raises(RunNotFoundError, match="no such run"):
        resolve_run(tmp_path, "nope-123")


def test_symlinked_run_pointing_outside_is_refused(tmp_path, tiny_config):
    outside = make_store(tmp_path / "elsewhere", tiny_config)
    runs = tmp_path / "runs"
    runs.mkdir()
    os.symlink(outside.path, runs / "sneaky")
    with pytest.raises(RunNotFoundError, match="outside the runs folder"):
        resolve_run(runs, "sneaky")
