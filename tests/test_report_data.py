"""The report's data: the pinned JSON schema and the analyses behind the plots."""

from __future__ import annotations

import json
import re

import pytest
from fake_run import fake_record, make_fake_run

from nasxfer.reporting.analysis import best_so_far, dimension_effects, pareto_points
from nasxfer.config import Dimension
from nasxfer.reporting.report import build_report, render_markdown
from nasxfer.search.trial import ObjectiveSpec


# The documented top-level keys of `nasxfer report --format json` and their types (docs/reports.md:
# "Report JSON schema"). Changing this table is changing a contract scripts rely on.
SCHEMA = {
    "schema": int,
    "run_id": str,
    "name": str,
    "status": dict,
    "strategy": str,
    "backbone": str,
    "objective": dict,
    "objectives": list,
    "env": dict,
    "trials": dict,
    "scheduler": (str, type(None)),
    "epochs_trained": int,
    "search_seconds": float,
    "stop_reason": (str, type(None)),
    "skipped_files": list,
    "data": (dict, type(None)),
    "best": (dict, type(None)),
    "leaderboard": list,
    "best_so_far": list,
    "pareto": dict,
    "dimensions": list,
    "slices": list,
    "importance": list,
    "curves": list,
    "final": (dict, type(None)),
    "screen": (dict, type(None)),  # with search.screen (tests/test_screen_cli.py)
    "one_shot": (dict, type(None)),  # with search.one_shot (tests/test_one_shot.py)
}
LEADERBOARD_ROW = {
    "rank", "trial", "state", "fidelity", "pareto_front", "metric", "metric_se", "tied_with_best", "val_accuracy", "val_f1", "params", "flops",
    "latency_ms", "memory_mb", "images_per_second", "seconds_per_epoch", "seconds", "values", "error",
    "epochs", "reason", "backbone",
}


@pytest.fixture
def fake_run(tmp_path, tiny_dict):
    return make_fake_run(tmp_path / "runs", tiny_dict)


def test_report_json_schema_is_pinned(fake_run):
    report = json.loads(json.dumps(build_report(fake_run)))  # what --format json prints
    assert list(report) == list(SCHEMA)
    for key, kind in SCHEMA.items():
        assert isinstance(report[key], kind), key
    assert report["schema"] == 1
    assert set(report["objective"]) == {"metric", "mode"}
    assert report["objectives"] == [report["objective"]]
    assert set(report["trials"]) == {"total", "complete", "failed", "rejected", "paused", "pruned"}
    assert set(report["env"]) == {"nasxfer", "python", "torch", "device", "device_name", "git_revision", "started"}
    assert set(report["best"]) == {"trial", "metric", "values", "metrics"}
    assert all(set(row) == LEADERBOARD_ROW for row in report["leaderboard"])
    assert set(report["best_so_far"][0]) == {"trial", "state", "metric", "best_so_far", "seconds", "elapsed_seconds"}
    assert set(report["pareto"]) == {"x", "y", "points"} and set(report["pareto"]["points"][0]) == {"trial", "x", "y", "front"}
    assert set(report["dimensions"][0]) == {"dimension", "path", "index", "values"}
    assert set(report["dimensions"][0]["values"][0]) == {"value", "label", "count", "mean", "std", "min", "max"}
    assert set(report["curves"][0]) == {"trial", "metric", "epochs"}
    assert set(report["final"]) >= {"trial", "epochs", "test_accuracy", "test_f1", "confusion_matrix", "class_names", "per_class_accuracy"}


def test_a_run_without_trials_keeps_the_schema(tmp_path, tiny_dict):
    report = build_report(make_fake_run(tmp_path / "runs", tiny_dict, trials=0, failed=(), finetuned=False))
    for key, kind in SCHEMA.items():
        assert isinstance(report[key], kind), key
    assert report["best"] is None and report["leaderboard"] == report["best_so_far"] == report["curves"] == []
    assert all(v["count"] == 0 for dim in report["dimensions"] for v in dim["values"])


def test_report_rows_carry_throughput_and_backbone(fake_run):
    report = build_report(fake_run, top=3)
    assert len(report["leaderboard"]) == 3 and len(report["best_so_far"]) == 8  # top trims the table only
    row = report["leaderboard"][0]
    assert row["images_per_second"] == 1234.5 and row["seconds_per_epoch"] == 0.5
    assert report["backbone"] == "scratch" and report["env"]["device"] == "cpu"
    failed = build_report(fake_run)["leaderboard"][-1]
    assert failed["state"] == "failed" and failed["images_per_second"] is None


def test_best_so_far_counts_training_time_and_skips_failures():
    history = [fake_record(1, 0.5, ["identity"] * 2), fake_record(2, None, ["identity"] * 2), fake_record(3, 0.7, ["identity"] * 2), fake_record(4, 0.6, ["identity"] * 2)]
    rows = best_so_far(history, ObjectiveSpec())
    assert [r["best_so_far"] for r in rows] == [0.5, 0.5, 0.7, 0.7]
    assert rows[1]["metric"] is None and rows[1]["state"] == "failed"
    assert rows[-1]["elapsed_seconds"] == pytest.approx(sum(r.seconds for r in history), abs=1e-3)
    minimise = best_so_far(history, ObjectiveSpec("val_loss", "min"))
    assert [r["best_so_far"] for r in minimise] == pytest.approx([0.5, 0.5, 0.3, 0.3])


def test_pareto_front_keeps_the_non_dominated_trials():
    history = [
        fake_record(1, 0.90, ["identity"] * 2, params=1000),
        fake_record(2, 0.80, ["identity"] * 2, params=500),   # smaller and worse: on the front
        fake_record(3, 0.85, ["identity"] * 2, params=2000),  # bigger and worse than 1: dominated
        fake_record(4, 0.90, ["identity"] * 2, params=1500),  # as good as 1 but bigger: dominated
        fake_record(5, None, ["identity"] * 2),
    ]
    points = pareto_points(history)
    assert [p["trial"] for p in points] == [2, 1, 4, 3]  # by params
    assert {p["trial"] for p in points if p["front"]} == {1, 2}


def test_dimension_effects_split_repeated_dimensions_into_coordinates():
    space = {
        "model.scratch.ops": Dimension(choices=["identity", "conv3x3", "mbconv_k3_e1"], repeat=2),
        "train.lr": Dimension(low=0.01, high=0.2, log=True),  # a range: left out
    }
    history = [
        fake_record(1, 0.5, ["identity", "conv3x3"]),
        fake_record(2, 0.7, ["identity", "identity"]),
        fake_record(3, None, ["conv3x3", "conv3x3"]),  # failed: counts nowhere
    ]
    effects = dimension_effects(space, history, ObjectiveSpec())
    assert [e["dimension"] for e in effects] == ["model.scratch.ops[0]", "model.scratch.ops[1]"]
    first = {v["label"]: v for v in effects[0]["values"]}
    assert first["identity"]["count"] == 2 and first["identity"]["mean"] == pytest.approx(0.6)
    assert first["identity"]["std"] == pytest.approx(0.1414, abs=1e-3)
    assert first["conv3x3"]["count"] == 0 and first["conv3x3"]["mean"] is None
    second = {v["label"]: v for v in effects[1]["values"]}
    assert second["conv3x3"] == {**second["conv3x3"], "count": 1, "mean": 0.5, "std": None}


def test_markdown_table_rows_keep_their_columns(tmp_path, tiny_dict):
    store = make_fake_run(tmp_path / "runs", tiny_dict, trials=3)
    store.record_trial(fake_record(4, 0.5, ["conv3x3|odd", "identity"]), ObjectiveSpec())  # a pipe in a value
    markdown = render_markdown(build_report(store), [("Best so far", "best_so_far.png")])
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 5 and all(len(re.findall(r"(?<!\\)\|", line)) == 9 for line in rows)
    assert markdown.rstrip().endswith("![Best so far](best_so_far.png)")


def test_csv_and_report_rank_by_one_rule(tmp_path, tiny_dict):
    """A trial missing a secondary objective is unranked everywhere (the report once ranked it)."""
    import csv

    from nasxfer.config import validate_config
    from nasxfer.storage.store import RunStore
    from nasxfer.search.objectives import objectives_of
    from nasxfer.search.trial import TrialRecord, TrialState

    config = validate_config({**tiny_dict, "search": {**tiny_dict.get("search", {}), "objectives": [
        {"metric": "val_accuracy", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]}})
    store = RunStore.create(tmp_path, config, {})
    history = []
    for number, metrics in [(1, {"val_accuracy": 0.9, "latency_ms": 3.0}), (2, {"val_accuracy": 0.95}),
                            (3, {"val_accuracy": 0.8, "latency_ms": 1.0})]:
        record = TrialRecord(number, f"k{number}", {}, TrialState.COMPLETE, metrics)
        history.append(record)
        store.record_trial(record, objectives_of(config), history)
    report_ranks = {row["trial"]: row["rank"] for row in build_report(store)["leaderboard"]}
    with open(store.path / "leaderboard.csv") as f:
        csv_ranks = {int(row["trial"]): (int(row["rank"]) if row["rank"] else None) for row in csv.DictReader(f)}
    assert report_ranks == csv_ranks == {1: 1, 3: 2, 2: None}


def _space_with_lr(tiny_dict):
    from nasxfer.config import validate_config

    search = dict(tiny_dict.get("search", {}))
    search["space"] = {
        "model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e1"], "repeat": 2},
        "train.lr": {"low": 0.01, "high": 0.2, "log": True},
    }
    return validate_config({**tiny_dict, "search": search})


def _lr_driven_history(count: int = 12):
    """Trials whose accuracy is set by the learning rate alone: ops are noise."""
    from fake_run import OPS, fake_record

    records = []
    for number in range(1, count + 1):
        lr = 0.01 * (1.3 ** number)
        ops = [OPS[number % 3], OPS[(number * 7) % 3]]
        records.append(fake_record(number, round(0.5 + 2 * lr, 4), ops, lr=lr))
    return records


def test_slices_cover_continuous_dimensions(tiny_dict):
    from nasxfer.reporting.analysis import parameter_slices
    from nasxfer.search.objectives import objective_of

    config = _space_with_lr(tiny_dict)
    history = _lr_driven_history()
    slices = {s["dimension"]: s for s in parameter_slices(config.search.space, history, objective_of(config))}
    assert set(slices) == {"model.scratch.ops[0]", "model.scratch.ops[1]", "train.lr"}
    lr = slices["train.lr"]
    assert lr["numeric"] and lr["log"] and len(lr["points"]) == len(history)
    assert [p["value"] for p in lr["points"]] == [r.values["train.lr"] for r in history]
    assert not slices["model.scratch.ops[0]"]["numeric"]


def test_importance_finds_the_parameter_that_decides(tiny_dict):
    from nasxfer.reporting.importance import parameter_importance
    from nasxfer.search.objectives import objective_of

    config = _space_with_lr(tiny_dict)
    history = _lr_driven_history()
    ranking = parameter_importance(config.search.space, history, objective_of(config))
    assert ranking[0]["dimension"] == "train.lr" and ranking[0]["importance"] > 0.5
    assert abs(sum(r["importance"] for r in ranking) - 1) < 0.01
    assert ranking == parameter_importance(config.search.space, history, objective_of(config))  # deterministic
    assert parameter_importance(config.search.space, history[:3], objective_of(config)) == []  # too few trials


def test_best_trial_box_and_axes_say_what_they_mean(tiny_dict, tmp_path):
    from nasxfer.reporting.html import render_html
    from nasxfer.reporting.plots import _objective_label

    report = build_report(make_fake_run(tmp_path / "runs", tiny_dict))
    page = render_html(report)
    best_box = page[page.index("<h2>Best trial"):page.index("<h2>Leaderboard")]
    assert "<code>params</code>" in best_box
    assert page.index("<h2>Leaderboard") < page.index("<figure>") if "<figure>" in page else True
    assert _objective_label({"metric": "params", "mode": "min"}) == "params (lower is better)"
    markdown = render_markdown(report)
    assert "- params: " in markdown


def test_factory_and_dict_backbones_are_named_per_trial(tiny_dict):
    """report and compare said 'scratch' for factory backbones and dict-valued choices."""
    from nasxfer.config import validate_config
    from nasxfer.reporting.report import backbone_of

    scratch = validate_config(tiny_dict)
    assert backbone_of(scratch, {}) == "scratch"
    assert backbone_of(scratch, {"model.backbone": {"factory": "pkg.mod:net", "weights": "none"}}) == "factory:pkg.mod:net"
    assert backbone_of(scratch, {"model.backbone": {"name": "resnet20"}}) == "resnet20"
    assert backbone_of(scratch, {"model.backbone": "resnet56"}) == "resnet56"
    assert backbone_of(scratch, {"model.backbone.factory": "pkg.mod:other"}) == "factory:pkg.mod:other"
    fixed = validate_config({**tiny_dict, "search": {**tiny_dict["search"], "space": {}},
                             "model": {"backbone": {"factory": "factory_backbones:tiny_cnn", "weights": "none"}}})
    assert backbone_of(fixed, {}) == "factory:factory_backbones:tiny_cnn"
