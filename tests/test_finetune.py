"""The final training: early stopping on a held-out slice, several seeds, optional compile."""

import json

import torch
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.final.finetune import finetune_run
from nasxfer.storage.store import resolve_run

cli = CliRunner()


def searched_run(write_config, tiny_dict, runs_dir, **finetune):
    tiny_dict["finetune"].update(finetune)
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--set", "search.budget.trials=1"]).exit_code == 0
    return resolve_run(runs_dir, "latest")


def test_best_epoch_on_the_holdout_is_restored(write_config, tiny_dict, runs_dir, monkeypatch):
    store = searched_run(write_config, tiny_dict, runs_dir, holdout=0.2, epochs=4)
    metrics = finetune_run(store)
    held = [row["val_accuracy"] for row in metrics["curve"]]
    assert len(held) == 4 and metrics["holdout_images"] > 0
    assert metrics["best_epoch"] == 1 + held.index(max(held))  # first epoch reaching the best
    assert metrics["train_images"] + metrics["holdout_images"] == 120  # train+val of 160 images, test 40 apart
    assert metrics["test_images"] == 40


def test_patience_stops_early(write_config, tiny_dict, runs_dir, monkeypatch):
    import nasxfer.final.finetune as finetune

    store = searched_run(write_config, tiny_dict, runs_dir, holdout=0.2, epochs=6, patience=1)
    scores = iter([0.5, 0.4, 0.3, 0.9, 0.9, 0.9])  # no gain after epoch 1 → stop after epoch 2
    real_observe = finetune._BestEpoch.observe
    monkeypatch.setattr(finetune._BestEpoch, "observe", lambda self, row, model: real_observe(self, {**row, "val_accuracy": next(scores)}, model))
    metrics = finetune_run(store)
    assert len(metrics["curve"]) == 2 and metrics["best_epoch"] == 1


def test_seeds_report_mean_and_std(write_config, tiny_dict, runs_dir):
    store = searched_run(write_config, tiny_dict, runs_dir, epochs=1)
    result = cli.invoke(app, ["finetune", "latest", "--seeds", "2"])
    assert result.exit_code == 0, result.output
    assert "over 2 seeds: test accuracy" in result.output
    metrics = json.loads((store.path / "final" / "metrics.json").read_text())
    accuracies = [s["test_accuracy"] for s in metrics["seeds"]]
    assert [s["seed"] for s in metrics["seeds"]] == [0, 1]
    assert abs(metrics["test_accuracy_mean"] - sum(accuracies) / 2) < 1e-12
    assert metrics["test_accuracy"] == accuracies[0]  # the kept model is the first seed's


def test_compile_only_for_the_final_model(write_config, tiny_dict, runs_dir, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: compiled.append(model) or model)
    tiny_dict["finetune"].update(compile=True, epochs=1)
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--set", "search.budget.trials=2"]).exit_code == 0
    assert compiled == []  # no trial compiles
    assert cli.invoke(app, ["finetune", "latest"]).exit_code == 0
    assert len(compiled) == 1
    assert json.loads((resolve_run(runs_dir, "latest").path / "final" / "metrics.json").read_text())["compiled"] is True


def test_finetune_again_keeps_the_earlier_final_model(write_config, tiny_dict, runs_dir):
    """Re-running finetune once replaced a 0.9916 model by a 0.8579 one without a word."""
    store = searched_run(write_config, tiny_dict, runs_dir, epochs=1)
    first = cli.invoke(app, ["finetune", "latest"])
    assert first.exit_code == 0, first.output
    assert "finetuned, 1 epoch (" in first.output and "1 epochs" not in first.output
    before = (store.path / "final" / "metrics.json").read_bytes()
    second = cli.invoke(app, ["finetune", "latest", "--epochs", "2"])
    assert second.exit_code == 0, second.output
    assert f"the earlier final model is kept in {store.path / 'final-1'}" in second.output
    assert (store.path / "final-1" / "metrics.json").read_bytes() == before
    assert json.loads((store.path / "final" / "metrics.json").read_text())["epochs"] == 2
    third = cli.invoke(app, ["finetune", "latest", "--overwrite"])
    assert third.exit_code == 0 and "kept in" not in third.output
    assert sorted(p.name for p in store.path.iterdir() if p.name.startswith("final")) == ["final", "final-1"]
    assert "TracerWarning" not in first.output + second.output + third.output


def test_phases_text():
    from nasxfer.final.finetune import phases_text

    assert phases_text([{"unfreeze": "all", "epochs": 30}]) == "30 epochs"
    assert phases_text([{"unfreeze": 0, "epochs": 1}]) == "1 head-only epoch"
    assert phases_text([{"unfreeze": 0, "epochs": 3}, {"unfreeze": 2, "epochs": 27}]) == "3 head-only epochs, then 27 with the top 2 stages"
    assert phases_text([{"unfreeze": 0, "epochs": 3}, {"unfreeze": "all", "epochs": 5}]) == "3 head-only epochs, then 5 with every layer"


def test_finetune_takes_set_for_its_own_section_only(write_config, tiny_dict, runs_dir):
    store = searched_run(write_config, tiny_dict, runs_dir, epochs=3)
    done = cli.invoke(app, ["finetune", "latest", "--set", "finetune.epochs=1", "--set", "finetune.holdout=0"])
    assert done.exit_code == 0, done.output
    metrics = json.loads((store.path / "final" / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["holdout_images"] == 0
    refused = cli.invoke(app, ["finetune", "latest", "--set", "train.lr=0.5"])
    assert refused.exit_code == 2 and "--set train.lr: finetune changes only the finetune section" in refused.output
    bad = cli.invoke(app, ["finetune", "latest", "--set", "finetune.epochs=0"])
    assert bad.exit_code == 2 and "finetune.epochs" in bad.output
