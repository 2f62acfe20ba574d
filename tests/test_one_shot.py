"""One-shot search (``search.one_shot``) end to end: the three phases from YAML through the
CLI, the report's supernet-against-standalone correlation, finetune of the winner, kill -9
in each phase resumed with nothing lost, and the config refused where a supernet has no meaning."""

from __future__ import annotations

import json
import signal

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from search_process import search_process
from nasxfer.storage.store import resolve_run

runner = CliRunner()


def one_shot_dict(tiny_dict):
    tiny_dict["search"]["space"] = {
        "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e1"], "repeat": 2},
        "model.scratch.stem_channels": {"choices": [4, 8]},
    }
    tiny_dict["search"]["strategy"] = {"name": "evolution", "population": 4, "sample": 2}
    tiny_dict["search"]["budget"] = {"trials": 8}
    tiny_dict["search"]["one_shot"] = {"epochs": 2, "bn_recalibration_batches": 2, "retrain_top": 3}
    return tiny_dict


def events(store, name):
    return [e for e in store.events() if e.get("event") == name]


def test_one_shot_search_report_and_finetune_through_the_cli(write_config, tiny_dict, runs_dir):
    config = write_config(one_shot_dict(tiny_dict))
    result = runner.invoke(app, ["search", str(config)])
    assert result.exit_code == 0, result.output
    assert "supernet epoch 2/2" in result.output
    store = resolve_run(runs_dir, "latest")
    history = store.history()
    scored = [r for r in history if r.fidelity == "supernet"]
    trained = [r for r in history if r.fidelity is None]
    assert len(scored) == 8 and all(r.metrics["epochs"] == 0 for r in scored)
    assert len(trained) == 3 and all(r.state.value == "complete" and r.metrics["epochs"] == 2 for r in trained)
    # Phase 3 retrains the supernet's three best, best first; each as an ordinary trial with a model file.
    kept = events(store, "supernet_search_finished")[0]["candidates"]
    assert [r.values for r in trained] == kept
    best_scored = sorted(scored, key=lambda r: -r.metrics["val_accuracy"])
    assert kept[0] == best_scored[0].values
    assert all((store.trial_dir(r.number) / "model.pt").is_file() for r in trained)
    assert events(store, "supernet_trained")[0]["epochs"] == 2
    # The leaderboard puts trained trials first and says which were supernet-scored.
    board = (store.path / "leaderboard.csv").read_text().splitlines()
    assert "fidelity" in board[0] and all(",trained," in line for line in board[1:4])

    report = runner.invoke(app, ["report", "latest", "--format", "json"])
    assert report.exit_code == 0, report.output
    section = json.loads(report.output)["one_shot"]
    assert section["scored"] == 8 and section["supernet"]["paths"] == 2 * 3 * 3
    assert [p["trial"] for p in section["points"]] == [r.number for r in trained]
    assert section["kendall_tau"] is None or -1 <= section["kendall_tau"] <= 1
    table = runner.invoke(app, ["report", "latest"])
    assert table.exit_code == 0, table.output
    markdown = (store.path / "report" / "report.md").read_text()
    assert "One-shot: supernet score against standalone training" in markdown and "Kendall τ" in markdown
    assert (store.path / "report" / "one_shot.png").is_file()

    final = runner.invoke(app, ["finetune", "latest", "--epochs", "1"])
    assert final.exit_code == 0, final.output
    winner = json.loads((store.path / "final" / "metrics.json").read_text())["trial"]
    assert winner in {r.number for r in trained}  # a retrained trial, never a supernet score


def nasxfer(*args, runs, fault=None):
    return search_process(*args, runs=runs, fault=fault, timeout=180)


def outcome(store):
    """Every finished trial as the journal holds it, timings left out."""
    return [
        (r.number, r.key, r.fidelity, r.state.value, {k: v for k, v in r.metrics.items() if not any(w in k for w in ("second", "latency", "peak"))})
        for r in store.history()
    ]


def test_killed_in_every_phase_and_resumed_the_run_ends_as_if_never_killed(tmp_path, tiny_dict):
    data = one_shot_dict(tiny_dict)
    data["search"]["one_shot"]["epochs"] = 3
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    done = nasxfer(str(config), runs=tmp_path / "reference")
    assert done.returncode == 0, done.stderr
    reference = resolve_run(tmp_path / "reference", "latest")

    runs = tmp_path / "killed"
    # Mid-supernet (after its 2nd epoch checkpoint), mid-search (after the 3rd scored
    # trial), mid-retrain (after the 1st epoch checkpoint of a standalone trial).
    faults = ["journal:supernet_checkpoint:2", "journal:trial_finished:3", "journal:checkpoint:1"]
    args = [str(config)]
    for fault in faults:
        killed = nasxfer(*args, runs=runs, fault=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.returncode, killed.stderr)
        args = ["--resume", "latest"]
    store = resolve_run(runs, "latest")
    before = outcome(store)
    assert nasxfer(*args, runs=runs).returncode == 0
    after = outcome(store)
    assert after[: len(before)] == before  # nothing finished was lost or redone

    # The supernet continued from its checkpoint, not from scratch: it trained 3 epochs in all.
    assert [e["epoch"] for e in events(store, "supernet_checkpoint")] == [1, 2, 3]
    assert len(events(store, "supernet_trained")) == 1
    numbers = [e["trial"]["number"] for e in events(store, "trial_finished")]
    assert sorted(numbers) == sorted(set(numbers)), "a trial finished twice"
    assert after == outcome(reference)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("space", "train.lr", {"low": 0.01, "high": 0.1}, "search.space.train.lr: a supernet scores architectures"),
        ("", "scheduler", {"name": "asha"}, "one_shot: search.scheduler cannot be combined"),
        ("space", "model.scratch.stem_channels", {"low": 4, "high": 40}, "give at most 8 choices"),
    ],
)
def test_a_config_a_supernet_cannot_search_is_one_line_exit_2(write_config, tiny_dict, runs_dir, section, key, value, message):
    data = one_shot_dict(tiny_dict)
    (data["search"][section] if section else data["search"])[key] = value
    result = runner.invoke(app, ["search", str(write_config(data))])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not runs_dir.exists()
