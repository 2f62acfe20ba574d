"""A refused or failing command writes nothing: a resumed run's new budget is written only
once the run's lock is held and every check has passed (issue #16, round two)."""

import json

from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.errors import NasxferError
from nasxfer.storage.store import resolve_run

from conftest import TINY


def one_trial_run(write_config, runs_dir):
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": 1}
    data["train"]["epochs"] = 1
    result = CliRunner().invoke(app, ["search", str(write_config(data)), "-q"])
    assert result.exit_code == 0, result.output
    return resolve_run(runs_dir, "latest")


def run_files(store):
    return (store.path / "config.yaml").read_bytes(), (store.path / "journal.jsonl").read_bytes()


def test_a_resume_refused_by_the_lock_leaves_config_and_journal_untouched(write_config, runs_dir):
    store = one_trial_run(write_config, runs_dir)
    before = run_files(store)
    with store.lock():
        result = CliRunner().invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=50"])
    assert result.exit_code == 2 and "is being written by pid" in result.output
    assert run_files(store) == before


def test_a_resume_whose_data_check_fails_leaves_config_and_journal_untouched(write_config, runs_dir, monkeypatch):
    from nasxfer.evaluation.evaluator import TrainingEvaluator

    store = one_trial_run(write_config, runs_dir)
    before = run_files(store)

    def bad_data(self, config):
        raise NasxferError("data: the dataset folder is gone")

    monkeypatch.setattr(TrainingEvaluator, "prepare", bad_data)
    result = CliRunner().invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=50"])
    assert result.exit_code == 2 and "the dataset folder is gone" in result.output
    assert run_files(store) == before


def test_an_accepted_resume_still_keeps_the_new_budget(write_config, runs_dir):
    store = one_trial_run(write_config, runs_dir)
    result = CliRunner().invoke(app, ["search", "--resume", "latest", "--set", "search.budget.trials=2", "-q"])
    assert result.exit_code == 0, result.output
    assert store.config().search.budget.trials == 2
    changed = [e for e in store.events() if e["event"] == "config_changed"]
    assert [e["changes"] for e in changed] == [{"search.budget.trials": 2}]
    assert [r.number for r in store.history()] == [1, 2]


# --------------------------------------------------------------------------- a tampered config.yaml

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def tampered_run(runs_dir, tiny_config, text):
    from nasxfer.storage.store import RunStore

    store = RunStore.create(runs_dir, tiny_config, {})
    (store.path / "config.yaml").write_text(text)
    return store


def test_a_run_config_that_is_an_alias_bomb_is_one_line_and_exit_2(runs_dir, tiny_config):
    import pytest

    store = tampered_run(runs_dir, tiny_config, ALIAS_BOMB)
    with pytest.raises(NasxferError, match="values \\(YAML aliases\\?\\)"):
        store.config()
    result = CliRunner().invoke(app, ["report", "latest"])
    assert result.exit_code == 2 and "YAML aliases" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_oversized_run_config_is_one_line_and_exit_2(runs_dir, tiny_config):
    import pytest

    store = tampered_run(runs_dir, tiny_config, "name: tiny\n" + "# padding\n" * 200_000)
    with pytest.raises(NasxferError, match="is over 1000 kB"):
        store.config()
    result = CliRunner().invoke(app, ["search", "--resume", "latest"])
    assert result.exit_code == 2 and "is over 1000 kB" in result.output
