"""Small data: cross-validated trials, noise-aware picking, the final training's data and
early stopping, the augmentation rule, and a search that never reads test labels."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.data import load_dataset
from nasxfer.data.folds import fold_indices
from nasxfer.search.pick import choose_trial
from nasxfer.evaluation.cross_validation import fold_mean
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run

from conftest import TINY
from test_resume import StopAfter
from transfer_helpers import save_cifar_checkpoint, tiny_transfer

cli = CliRunner()


def cv_config(folds=3, trials=2, epochs=2):
    data = json.loads(json.dumps(TINY))
    data["search"]["budget"] = {"trials": trials}
    data["search"]["cv"] = {"folds": folds}
    data["train"]["epochs"] = epochs
    return data


def test_folds_are_stratified_disjoint_and_fixed_by_the_seed():
    labels = np.repeat(np.arange(3), 10)
    folds = fold_indices(labels, folds=5, repeats=2, seed=7)
    assert len(folds) == 10
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == 30
        assert np.bincount(labels[val], minlength=3).tolist() == [2, 2, 2]  # every class in every fold
    first_repeat = np.sort(np.concatenate([val for _, val in folds[:5]]))
    assert first_repeat.tolist() == list(range(30))  # a repeat's folds cover the pool once
    same = fold_indices(labels, folds=5, repeats=2, seed=7)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, same))
    assert any((a[1] != b[1]).any() for a, b in zip(folds, fold_indices(labels, 5, 2, seed=8)))


def test_fold_mean_row_carries_the_standard_error():
    rows = [{"epoch": 3, "val_accuracy": a, "train_seconds": 1.0, "images_per_second": 10.0} for a in (0.5, 0.7, 0.9)]
    row = fold_mean(rows)
    assert row["epoch"] == 3 and row["val_accuracy"] == pytest.approx(0.7)
    assert row["val_accuracy_se"] == pytest.approx(0.2 / 3**0.5)  # std 0.2 over sqrt(3)
    assert row["train_seconds"] == 3.0 and row["images_per_second"] == pytest.approx(10.0) and row["folds"] == 3


def test_cv_search_journals_fold_means_with_standard_errors(write_config, runs_dir):
    done = cli.invoke(app, ["search", str(write_config(cv_config())), "-q"])
    assert done.exit_code == 0, done.output
    store = resolve_run(runs_dir, "latest")
    history = store.history()
    assert len(history) == 2
    for record in history:
        assert record.metrics["folds"] == 3 and record.metrics["val_accuracy_se"] >= 0
        assert [row["epoch"] for row in record.curve] == [1, 2]
        assert all("val_accuracy_se" in row and row["folds"] == 3 for row in record.curve)  # the pruner's curve
        assert record.metrics["val_accuracy"] == record.curve[-1]["val_accuracy"]
    rows = list(csv.DictReader((store.path / "leaderboard.csv").open()))
    assert {"val_accuracy_se", "tied_with_best"} <= set(rows[0]) and rows[0]["tied_with_best"] == "1"
    report = cli.invoke(app, ["report", "latest", "--format", "json"])
    board = json.loads(report.output)["leaderboard"]
    assert board[0]["metric_se"] == pytest.approx(float(rows[0]["val_accuracy_se"])) and board[0]["tied_with_best"]
    shown = cli.invoke(app, ["report", "latest", "--format", "md"]).output
    assert " ± " in shown and "standard error" in shown


def test_cv_trial_stopped_mid_way_resumes_exactly(tmp_path):
    config = validate_config(cv_config(folds=2, trials=2, epochs=3))
    reference = RunStore.create(tmp_path / "a", config, {})
    run_search(config, reference)

    store = RunStore.create(tmp_path / "b", config, {})
    stop = StopRequest()
    outcome = run_search(config, store, StopAfter(stop, number=2, epoch=1), stop=stop)
    assert outcome.interrupted and list(store.trial_dir(2).glob("checkpoint-e0001.pt"))
    second = StopAfter(StopRequest(), number=0, epoch=0)
    run_search(config, store, second)
    assert second.epochs_seen[:2] == [(2, 2), (2, 3)]  # every fold went on from epoch 1's state
    expected = [(r.number, r.key, r.metrics["val_accuracy"], r.metrics["val_accuracy_se"]) for r in reference.history()]
    assert [(r.number, r.key, r.metrics["val_accuracy"], r.metrics["val_accuracy_se"]) for r in store.history()] == expected


def test_pick_simplest_within_noise_takes_the_fewest_params_tied_with_the_best(write_config, runs_dir):
    config = cv_config(trials=3)
    config["search"]["space"] = {"model.scratch.stem_channels": {"choices": [2, 4, 8]}}
    config["search"]["strategy"] = {"name": "grid"}
    assert cli.invoke(app, ["search", str(write_config(config)), "-q"]).exit_code == 0
    store = resolve_run(runs_dir, "latest")
    history = store.history()
    best = max(history, key=lambda r: r.metrics["val_accuracy"])
    floor = best.metrics["val_accuracy"] - best.metrics["val_accuracy_se"]
    expected = min((r for r in history if r.metrics["val_accuracy"] >= floor - 1e-12), key=lambda r: r.metrics["params"])
    done = cli.invoke(app, ["finetune", "latest", "--pick", "simplest-within-noise", "--set", "finetune.epochs=1"])
    assert done.exit_code == 0, done.output
    assert json.loads((store.path / "final" / "metrics.json").read_text())["trial"] == expected.number


def test_pick_simplest_within_noise_without_cv_is_refused(write_config, runs_dir):
    assert cli.invoke(app, ["search", str(write_config(json.loads(json.dumps(TINY)))), "-q", "--set", "search.budget.trials=1"]).exit_code == 0
    done = cli.invoke(app, ["finetune", "latest", "--pick", "simplest-within-noise"])
    assert done.exit_code == 2
    assert "search.cv" in done.output and len(done.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "change, field",
    [("search.cv=1", "search.cv.folds"), ("search.cv.repeats=0", "search.cv"), ("finetune.train_on=test", "finetune.train_on"),
     ("data.flip=sometimes", "data.flip")],
)
def test_bad_small_data_settings_name_the_field(write_config, change, field):
    done = cli.invoke(app, ["validate", str(write_config(json.loads(json.dumps(TINY)))), "--set", change])
    assert done.exit_code == 2 and field in done.output
    assert len(done.output.strip().splitlines()) == 1


def test_cv_with_a_table_lookup_is_refused(write_config, tmp_path):
    config = json.loads(json.dumps(TINY))
    config["search"]["evaluator"] = {"table": str(tmp_path / "table.json")}
    config["search"]["cv"] = 3
    done = cli.invoke(app, ["validate", str(write_config(config))])
    assert done.exit_code == 2 and "search.cv" in done.output and "table" in done.output


def test_finetune_train_on_train_stops_early_on_the_validation_split(write_config, tiny_dict, runs_dir):
    tiny_dict["finetune"].update(train_on="train", epochs=3)
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--set", "search.budget.trials=1"]).exit_code == 0
    assert cli.invoke(app, ["finetune", "latest"]).exit_code == 0
    metrics = json.loads((resolve_run(runs_dir, "latest").path / "final" / "metrics.json").read_text())
    assert (metrics["train_on"], metrics["early_stopping"]) == ("train", "val")
    assert (metrics["train_images"], metrics["holdout_images"]) == (80, 40)  # 160 images: 80 train, 40 val, 40 test
    held = [row["val_accuracy"] for row in metrics["curve"]]
    assert metrics["best_epoch"] == 1 + held.index(max(held))


def test_transfer_and_scratch_finetune_stop_early_by_the_same_rule(write_config, runs_dir, tmp_path):
    weights = tmp_path / "r20.th"
    save_cifar_checkpoint(weights)
    config = tiny_transfer(weights)
    config["search"]["budget"] = {"trials": 1}
    config["finetune"].update(epochs=2, holdout=0.25)
    assert cli.invoke(app, ["search", str(write_config(config)), "-q"]).exit_code == 0
    assert cli.invoke(app, ["finetune", "latest"]).exit_code == 0
    metrics = json.loads((resolve_run(runs_dir, "latest").path / "final" / "metrics.json").read_text())
    # Before, a transfer model trained on all of train+val and kept its last epoch.
    assert metrics["early_stopping"] == "holdout" and metrics["holdout_images"] == 22  # a quarter of 90
    assert metrics["best_epoch"] in (1, 2) and metrics["train_images"] == 68


def write_folder(root, classes=("a", "b", "c"), per_class=12, seed=0, size=8):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            pixels[: size // 2, : size // 2] = 90 * c  # a class-dependent corner: learnable
            Image.fromarray(pixels).save(root / name / f"{seed}-{i}.png")


def test_augment_auto_flips_only_known_natural_image_datasets(tmp_path):
    from nasxfer.config import DataConfig
    from nasxfer.data import load_dataset
    from nasxfer.data.loader import augment_for

    write_folder(tmp_path / "photos", per_class=6)
    folder = DataConfig(dataset="imagefolder", root=str(tmp_path / "photos"))
    data = load_dataset(folder, seed=0)
    assert augment_for(folder, data).hflip is False  # digits, text, arrows: a mirror may change the class
    assert augment_for(folder.model_copy(update={"flip": True}), data).hflip is True
    assert augment_for(folder.model_copy(update={"flip": True}), data).crop_padding == 1
    from nasxfer.data.torchvision_sets import FLIP_SAFE

    assert set(FLIP_SAFE) == {"cifar10", "cifar100", "fashion_mnist"}


def test_scrambling_test_labels_leaves_every_search_decision_unchanged(write_config, tmp_path):
    """The search (proposals, metrics, ranking, the pick) never reads the test labels:
    moving test images between class folders changes only what finetune measures."""
    root = tmp_path / "task"
    write_folder(root / "train", per_class=12, seed=1)
    write_folder(root / "test", per_class=6, seed=2)
    scrambled = tmp_path / "scrambled"
    shutil.copytree(root, scrambled)
    files = sorted((scrambled / "test").rglob("*.png"))
    rng = np.random.default_rng(0)
    for path, target in zip(files, rng.permutation(["a", "b", "c"] * 6)):
        path.rename(scrambled / "test" / target / f"moved-{path.parent.name}-{path.name}")

    def search(task, runs):
        config = json.loads(json.dumps(TINY))
        config["data"] = {"dataset": "imagefolder", "root": str(task / "train"), "test_root": str(task / "test"), "val_fraction": 0.25}
        config["search"]["strategy"] = {"name": "local"}
        config["search"]["budget"] = {"trials": 3}
        config["search"]["cv"] = 2
        path = write_config(config, name=f"{runs}.yaml")
        done = cli.invoke(app, ["search", str(path), "-q", "--runs-dir", str(tmp_path / runs)])
        assert done.exit_code == 0, done.output
        store = resolve_run(tmp_path / runs, "latest")
        # Measurements of the machine, not decisions: wall and CPU times, the latency figures
        # and their spread and busy flag, memory peaks, and the threads auto chose.
        def measured(name):
            return any(word in name for word in ("second", "latency", "peak_memory")) or name == "train_threads"

        decisions = [(r.number, r.key, r.state.value, {k: v for k, v in r.metrics.items() if not measured(k)}) for r in store.history()]
        board = [(row["trial"], row["rank"]) for row in csv.DictReader((store.path / "leaderboard.csv").open())]
        picked = choose_trial(store).number  # what finetune would train
        test = load_dataset(store.config().data, seed=0).test
        return decisions, board, picked, sorted(zip(test.images.flatten(1).tolist(), test.labels.tolist()))

    original, scrambled_run = search(root, "original"), search(scrambled, "scrambled")
    assert original[:3] == scrambled_run[:3]  # every trial, metric, rank and the pick
    assert original[3] != scrambled_run[3]  # the same test images, other labels


def test_cv_transfer_trains_heads_on_cached_fold_features(write_config, runs_dir, tmp_path):
    weights = tmp_path / "r20.th"
    save_cifar_checkpoint(weights)
    config = tiny_transfer(weights)
    config["search"]["budget"] = {"trials": 2}
    config["search"]["cv"] = 2
    assert cli.invoke(app, ["search", str(write_config(config)), "-q"]).exit_code == 0
    store = resolve_run(runs_dir, "latest")
    first, second = store.history()
    assert first.error is None, first.error
    assert first.metrics["folds"] == 2 and first.metrics["feature_cache"] == 1.0
    assert second.metrics["feature_cache_hits"] == 2  # the folds are the run's: the next trial reuses their features
    assert json.loads((store.trial_dir(2) / "feature_cache.json").read_text())["splits"] == {"train": "hit", "val": "hit"}


def test_finetune_ensemble_averages_the_seeds_logits_and_exports_one_model(write_config, tiny_dict, runs_dir):
    import torch

    import nasxfer

    tiny_dict["finetune"].update(epochs=1, ensemble=True)
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--set", "search.budget.trials=1"]).exit_code == 0
    refused = cli.invoke(app, ["finetune", "latest"])
    assert refused.exit_code == 2 and "finetune.ensemble" in refused.output and "--seeds" in refused.output
    done = cli.invoke(app, ["finetune", "latest", "--seeds", "2"])
    assert done.exit_code == 0 and "ensemble of the 2 trainings" in done.output, done.output
    store = resolve_run(runs_dir, "latest")
    metrics = json.loads((store.path / "final" / "metrics.json").read_text())
    assert metrics["ensemble"] == 2 and len(metrics["seeds"]) == 2
    model = nasxfer.load_model("latest")
    assert len(model.network.members) == 2
    x = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        mean = torch.stack([member((x - model.mean) / model.std) for member in model.network.members]).mean(0)
        assert torch.allclose(model(x), mean, atol=1e-6)
        scripted = torch.jit.load(str(store.path / "final" / "model.ts"))
        assert torch.allclose(scripted(x), model(x), atol=1e-4)


@pytest.mark.parametrize("settings", [{"policy": "randaugment"}, {"policy": "trivialaugment"}, {"mixup": 0.4}, {"cutmix": 1.0, "mixup": 0.2}])
def test_augmentation_recipes_train_through_the_cli(write_config, tiny_dict, runs_dir, settings):
    tiny_dict["data"].update(settings)
    tiny_dict["train"]["epochs"] = 1
    done = cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--set", "search.budget.trials=1"])
    assert done.exit_code == 0, done.output
    assert resolve_run(runs_dir, "latest").history()[0].state.value == "complete"


def test_policy_and_mixing_are_determined_by_the_seed():
    import torch

    from nasxfer.data.augment import Augment
    from nasxfer.data.containers import Split
    from nasxfer.data.loader import BatchLoader, Preprocess

    split = Split(torch.randint(0, 255, (20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 4)
    augment = Augment(crop_padding=1, policy="randaugment", mixup=0.5, cutmix=1.0, num_classes=4)

    def batches(seed):
        loader = BatchLoader(split, batch_size=8, device="cpu", preprocess=Preprocess((0.5,), (0.25,)), augment=augment, shuffle=True, seed=seed)
        return list(loader)

    first, again, other = batches(3), batches(3), batches(4)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))
    x, y = first[0]
    assert y.shape == (8, 4) and torch.allclose(y.sum(1), torch.ones(8))  # class probabilities


def test_bad_recipe_names_the_field(write_config):
    done = cli.invoke(app, ["validate", str(write_config(json.loads(json.dumps(TINY)))), "--set", "data.policy=autoaugment"])
    assert done.exit_code == 2 and "data.policy" in done.output and "randaugment" in done.output


def test_schedulers_and_the_pruner_work_on_the_fold_mean_curve(write_config, runs_dir):
    config = cv_config(folds=2, trials=3, epochs=2)
    config["search"]["scheduler"] = {"name": "successive_halving", "min_epochs": 1, "eta": 3}
    done = cli.invoke(app, ["search", str(write_config(config)), "-q"])
    assert done.exit_code == 0, done.output
    history = resolve_run(runs_dir, "latest").history()
    promoted = [r for r in history if r.state.value == "complete"]
    assert len(promoted) == 1 and [row["epoch"] for row in promoted[0].curve] == [1, 2]  # went on from its rung's folds
    assert all(row["folds"] == 2 for r in history for row in r.curve)
    best_at_rung = max(history, key=lambda r: r.curve[0]["val_accuracy"])  # the fold mean decided the promotion
    assert promoted[0].number == best_at_rung.number
