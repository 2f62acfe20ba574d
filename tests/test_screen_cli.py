"""`nasxfer screen` and `search.screen` from YAML: on real (tiny) training, on a table, and resumed."""

from __future__ import annotations

import copy
import json
import random

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.search.runner import run_search
from nasxfer.search.screened import journalled_screen
from nasxfer.storage.store import RunStore

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def events(run, name):
    return [
        json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines() if f'"event":"{name}"' in line.replace(" ", "")
    ]


def the_run(runs_dir):
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    return run


def test_screen_ranks_a_scratch_space_as_json_and_writes_nothing(tmp_path, write_config, tiny_dict, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tiny_dict)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke("screen", config, "--sample", 3, "--score", "naswot", "--score", "params", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert listing["scores"] == ["naswot", "params"] and listing["candidates"] == 3
    assert [row["rank"] for row in listing["ranking"]] == [1, 2, 3]
    assert all(set(row["seconds"]) == {"naswot", "params"} for row in listing["ranking"])
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    # the same seed gives the same ranking; --output writes it; the table is plain off a terminal
    out = tmp_path / "ranking.json"
    again = invoke("screen", config, "--sample", 3, "--score", "naswot", "--score", "params", "--output", out)
    assert again.exit_code == 0, again.output
    assert "candidates scored without training" in again.output and "│" not in again.output
    written = json.loads(out.read_text())
    assert [r["key"] for r in written["ranking"]] == [r["key"] for r in listing["ranking"]]
    assert [r["scores"] for r in written["ranking"]] == [r["scores"] for r in listing["ranking"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--score", "naswott"], "--score: unknown score 'naswott' — did you mean 'naswot'?"),
        (["--score", "logme"], "--score: 'logme' scores a pretrained backbone's features"),
        (["--sample", "0"], "--sample: give at least 1 candidate"),
        (["--output", "no/such/dir/x.json"], "--output: folder 'no/such/dir' does not exist"),
    ],
)
def test_screen_bad_input_is_one_line_and_exit_2(tmp_path, write_config, tiny_dict, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke("screen", write_config(tiny_dict), *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_screen_scores_every_backbone_of_a_backbone_dimension(tmp_path, write_config, monkeypatch):
    from transfer_helpers import TINY_TRANSFER

    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(TINY_TRANSFER)
    config["model"]["backbone"]["weights"] = None
    config["search"]["space"] = {"model.backbone.name": {"choices": ["resnet20", "resnet32"]}}
    result = invoke("screen", write_config(config), "--score", "logme", "--score", "knn", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert listing["by_backbone"] is True
    assert sorted(r["values"]["model.backbone.name"] for r in listing["ranking"]) == ["resnet20", "resnet32"]
    bad = invoke("screen", write_config(config), "--score", "leep")
    assert bad.exit_code == 2 and "needs the backbone's source classifier" in bad.output


def test_search_screen_on_real_training_from_yaml_then_resume(tmp_path, write_config, tiny_dict, runs_dir):
    tiny_dict["search"]["screen"] = {"score": ["naswot", "synflow"], "sample": 5, "keep": 2}
    tiny_dict["search"]["budget"] = {"trials": 3}
    tiny_dict["train"]["epochs"] = 1
    result = invoke("search", write_config(tiny_dict), "--quiet")
    assert result.exit_code == 0, result.output
    run = the_run(runs_dir)
    scored, (kept,) = events(run, "screen_scored"), events(run, "screen_kept")
    assert len(scored) == 5 and all(set(e["scores"]) == {"naswot", "synflow"} for e in scored)
    started = [e["values"] for e in events(run, "trial_started")]
    assert started[:2] == kept["candidates"]  # the two best-screened are trained first, best first
    again = invoke("search", "--resume", run.name, "--set", "search.budget.trials=4", "--quiet")
    assert again.exit_code == 0, again.output
    assert len(events(run, "screen_scored")) == 5 and len(events(run, "screen_kept")) == 1  # nothing recomputed
    assert len(events(run, "trial_started")) == 4


@pytest.fixture
def table(tmp_path):
    rng = random.Random(0)
    rows = {}
    for n in range(256):
        key = format(n, "08b")
        mean = 85 + key.count("1") + rng.random()
        rows[key] = {"test_acc": [mean - 0.2, mean, mean + 0.2], "mean_acc": mean, "params": 1e6 + n, "flops": 1e7}
    path = tmp_path / "tiny-table.json"
    path.write_text(json.dumps(rows))
    return path


def table_config(table, **screen):
    return validate_config(
        {
            "name": "macro",
            "data": {"dataset": "cifar10"},
            "model": {"scratch": {"stem_channels": 32, "stages": [2, 3, 3], "ops": ["identity"] * 8, "head_channels": 1280}},
            "search": {
                "strategy": {"name": "evolution"},
                "space": {"model.scratch.ops": {"choices": ["identity", "mbconv_k3_e3"], "repeat": 8}},
                "evaluator": {"table": str(table)},
                "budget": {"trials": 6},
                "screen": {"score": "params", "sample": 12, "keep": 3, **screen},
            },
        }
    )


def test_search_screen_on_the_table_and_a_kill_mid_screen_scores_only_the_rest(tmp_path, table, monkeypatch):
    config = table_config(table)
    store = RunStore.create(tmp_path / "runs", config, {})
    from nasxfer.search.space import SearchSpace
    from nasxfer.screening.candidates import Screener

    space = SearchSpace.from_config(config)
    real = Screener(config, ["params"]).score
    calls = []

    def dies_after_four(candidate):
        if len(calls) == 4:
            raise KeyboardInterrupt  # a kill mid-screen
        calls.append(candidate.key)
        return real(candidate)

    with store.lock(), pytest.raises(KeyboardInterrupt):
        journalled_screen(config, store, space, dies_after_four)
    calls.clear()
    with store.lock():
        kept = journalled_screen(config, store, space, lambda c: (calls.append(c.key), real(c))[1])
    assert len(calls) == 8 and len(kept) == 3  # only the 8 not yet scored
    outcome = run_search(config, store)  # the journal's screen is replayed: nothing is scored again
    history = store.history()
    assert [r.values for r in history[:3]] == [k.as_dict() for k in kept]
    assert outcome.stop_reason.startswith("trial budget reached")
    params = [e["scores"]["params"] for e in store.events() if e.get("event") == "screen_scored"]
    assert len(params) == 12 and max(params) == pytest.approx(history[0].metrics["params"], rel=0.5)

    # the report shows each screened trial's score against its trained metric, with ρ
    from nasxfer.reporting.files import write_report
    from nasxfer.reporting.report import build_report

    screen = build_report(store)["screen"]
    assert screen["scores"] == ["params"] and screen["sample"] == 12 and screen["kept"] == 3
    assert {p["trial"] for p in screen["points"]} >= {1, 2, 3}
    assert screen["spearman"]["params"] is None or -1 <= screen["spearman"]["params"] <= 1
    write_report(store)
    assert (store.path / "report" / "screen.png").is_file()


def test_screen_config_errors_name_the_field(table):
    with pytest.raises(Exception, match="search.screen.score: unknown score 'flop' — did you mean 'flops'"):
        table_config(table, score="flop")
    with pytest.raises(Exception, match=r"keep \(30\) must not exceed sample \(12\)"):
        table_config(table, keep=30)
