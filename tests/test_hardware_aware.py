"""Hardware-aware search: costs on every trial, constraints before training, Pareto fronts."""

import csv
import json

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.search.pareto import dominates
from nasxfer.search.pick import pick_trial
from nasxfer.progress.reporter import Reporter
from nasxfer.search.objectives import objectives_of
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState

SPACE = {
    "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e3"], "repeat": 2},
    "model.scratch.head_channels": {"choices": [8, 64]},
}


class CountEpochs(Reporter):
    def __init__(self):
        self.epochs = {}

    def epoch_finished(self, number, row, epochs):
        self.epochs[number] = self.epochs.get(number, 0) + 1


def test_every_trial_records_its_costs(tmp_path, tiny_config):
    cfg = tiny_config.apply({"search.budget.trials": 1, "train.epochs": 1})
    [record] = run_search(cfg, RunStore.create(tmp_path, cfg, {})).history
    for key in ("params", "flops", "macs", "latency_ms", "latency_p90_ms", "memory_mb", "peak_memory_mb"):
        assert record.metrics[key] > 0, key
    assert record.metrics["latency_p90_ms"] >= record.metrics["latency_ms"]


def test_params_limit_rejects_before_training_and_rejects_are_free(tmp_path, tiny_config):
    limit = 1500
    cfg = tiny_config.apply(
        {"search.space": SPACE, "search.strategy.name": "grid", "search.budget.trials": 4,
         "search.constraints.max_params": limit, "train.epochs": 1}
    )
    store = RunStore.create(tmp_path, cfg, {})
    counter = CountEpochs()
    outcome = run_search(cfg, store, counter)
    trained = [r for r in outcome.history if r.state is TrialState.COMPLETE]
    rejected = [r for r in outcome.history if r.state is TrialState.REJECTED]
    assert len(trained) == 4 and rejected  # the budget counts trained trials only
    assert all(r.metrics["params"] <= limit for r in trained)
    assert all(r.metrics["params"] > limit and "search.constraints.max_params" in r.error for r in rejected)
    assert set(counter.epochs) == {r.number for r in trained}  # no epoch was spent on a reject
    assert all(not (store.trial_dir(r.number) / "model.pt").exists() for r in rejected)
    # a rejected candidate is never proposed again
    assert len({r.key for r in outcome.history}) == len(outcome.history)


def test_impossible_constraints_end_the_search(tmp_path, tiny_config):
    cfg = tiny_config.apply(
        {"search.space": SPACE, "search.constraints.max_params": 10, "search.max_rejects": 3, "search.budget.trials": 5}
    )
    outcome = run_search(cfg, RunStore.create(tmp_path, cfg, {}))
    assert len(outcome.history) == 3 and "3 candidates in a row broke search.constraints" in outcome.stop_reason


def test_two_objective_leaderboard_marks_the_true_front(tmp_path, tiny_config):
    cfg = tiny_config.apply(
        {"search.space": SPACE, "search.strategy.name": "grid", "search.budget.trials": 6, "train.epochs": 1,
         "search.objectives": [{"metric": "val_accuracy", "mode": "max"}, {"metric": "params", "mode": "min"}]}
    )
    store = RunStore.create(tmp_path, cfg, {})
    history = run_search(cfg, store).history
    objectives = objectives_of(cfg)
    points = {r.number: tuple(o.score(r) for o in objectives) for r in history}
    brute = {n for n, p in points.items() if not any(dominates(q, p) for q in points.values())}
    rows = list(csv.DictReader((store.path / "leaderboard.csv").open()))
    assert {int(r["trial"]) for r in rows if r["pareto_front"] == "1"} == brute
    assert all(r["pareto_front"] == "1" for r in rows[: len(brute)])  # the front is listed first


def test_pick_rules_on_a_front():
    objectives = [ObjectiveSpec("val_accuracy", "max"), ObjectiveSpec("latency_ms", "min")]
    rows = {1: (0.95, 20.0, 900), 2: (0.945, 8.0, 500), 3: (0.90, 2.0, 100), 4: (0.80, 30.0, 50)}
    history = [
        TrialRecord(n, f"k{n}", {}, TrialState.COMPLETE, {"val_accuracy": a, "latency_ms": l, "params": p})
        for n, (a, l, p) in rows.items()
    ]
    assert pick_trial(history, objectives).number == 1
    assert pick_trial(history, objectives, "fastest").number == 3  # fastest on the front
    assert pick_trial(history, objectives, "fastest", within=0.01).number == 2
    assert pick_trial(history, objectives, "smallest").number == 3  # 4 is dominated, not on the front
    assert pick_trial(history, objectives[:1], "smallest").number == 4  # one objective: any complete trial


def test_finetune_pick_through_the_cli(write_config, tiny_dict, runs_dir):
    tiny_dict["search"].update(space=SPACE, strategy={"name": "grid"}, budget={"trials": 3},
                               objectives=[{"metric": "val_accuracy"}, {"metric": "params", "mode": "min"}])
    cli = CliRunner()
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q"]).exit_code == 0
    store = resolve_run(runs_dir, "latest")
    smallest = min((r for r in store.history() if r.state is TrialState.COMPLETE), key=lambda r: r.metrics["params"])
    result = cli.invoke(app, ["finetune", "latest", "--pick", "smallest", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert json.loads((store.path / "final" / "metrics.json").read_text())["trial"] == smallest.number
    report = json.loads(cli.invoke(app, ["report", "latest", "--format", "json"]).output)
    assert report["objectives"] == [{"metric": "val_accuracy", "mode": "max"}, {"metric": "params", "mode": "min"}]


def test_both_objective_and_objectives_is_an_error(tiny_dict):
    from nasxfer.config import validate_config
    from nasxfer.errors import ConfigError

    tiny_dict["search"]["objective"] = {"metric": "val_f1"}
    tiny_dict["search"]["objectives"] = [{"metric": "val_accuracy"}, {"metric": "params", "mode": "min"}]
    with pytest.raises(ConfigError, match="give objective or objectives, not both"):
        validate_config(tiny_dict)


def test_report_table_marks_the_front(write_config, tiny_dict, runs_dir):
    tiny_dict["search"].update(space=SPACE, strategy={"name": "grid"}, budget={"trials": 3},
                               objectives=[{"metric": "val_accuracy"}, {"metric": "latency_ms", "mode": "min"}])
    cli = CliRunner()
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q"]).exit_code == 0
    result = cli.invoke(app, ["report", "latest"])
    assert result.exit_code == 0, result.output
    assert "front" in result.output and "1 ★" in result.output and "latency_ms" in result.output
