"""Transfer learning end to end through the command line, offline, on tiny synthetic data."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
import torch
from transfer_helpers import save_cifar_checkpoint, tiny_transfer
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import resolve_run

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def trial_json(run, number):
    return json.loads((run / "trials" / f"{number:04d}" / "trial.json").read_text())


def only_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "resnet20-random.th"
    save_cifar_checkpoint(path)
    return path


def test_search_and_lp_ft_finetune_with_a_checkpoint_file_backbone(write_config, weights, runs_dir, feature_cache_dir):
    config = tiny_transfer(weights)
    config["search"]["space"] = {
        "model.finetune.unfreeze": {"choices": [0, 1]},
        "model.head.pooling": {"choices": ["avg", "avg+max"]},
    }
    config["model"]["head"] = {"hidden": [16]}
    config["finetune"].update(head_epochs=1, epochs=1)
    path = write_config(config)
    result = invoke("search", path)
    assert result.exit_code == 0, result.output
    run = resolve_run(runs_dir, "latest").path
    first, second, third = (trial_json(run, n) for n in (1, 2, 3))
    assert all(t["state"] == "complete" for t in (first, second, third))
    # grid order: (unfreeze 0, avg), (0, avg+max), (1, avg)
    assert first["metrics"]["feature_cache"] == 1 and first["metrics"]["feature_cache_hits"] == 0
    assert second["metrics"]["feature_cache"] == 1 and second["metrics"]["feature_cache_hits"] == 2
    assert third["metrics"]["feature_cache"] == 0 and third["metrics"]["frozen_stages"] == 3
    assert "was not applied" in json.loads((run / "trials" / "0001" / "feature_cache.json").read_text())["note"]
    journal = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    assert [e["trial"]["metrics"]["feature_cache"] for e in journal if e["event"] == "trial_finished"] == [1, 1, 0]

    result = invoke("finetune", "latest", "--trial", "3")  # the trial that unfreezes a stage
    assert result.exit_code == 0, result.output
    assert "finetuned, 1 head-only epoch, then 1 with the top stage" in result.output  # phase by phase
    metrics = json.loads((run / "final" / "metrics.json").read_text())
    assert [row["phase"] for row in metrics["curve"]] == [1, 2] and metrics["head_epochs"] == 1
    assert metrics["transfer"]["cached_phases"] == [1] and metrics["frozen_stages"] == 3
    payload = torch.load(run / "final" / "model.pt", weights_only=True)
    assert payload["preprocess"]["image_size"] is None and payload["preprocess"]["channels"] == 3

    again = invoke("search", path, "--set", "search.budget.trials=1", "-q")  # a second run: all from cache
    assert again.exit_code == 0, again.output
    assert trial_json(resolve_run(runs_dir, "latest").path, 1)["metrics"]["feature_cache_hits"] == 2


@pytest.mark.parametrize("batchnorm", ["eval", "train"])
def test_lp_ft_second_phase_starts_where_the_head_phase_ended(write_config, weights, runs_dir, feature_cache_dir, batchnorm):
    """The head trained on cached features must score the same once the backbone trains.

    The regression: EfficientNet-Lite's first epoch through the backbone raised the
    early-stopping loss from 0.60 to 0.88, because its BatchNorm switched to batch
    statistics. With a learning rate of 1e-9 the second phase changes no weight, so the
    early-stopping score may move only if BatchNorm's statistics do."""
    config = tiny_transfer(weights)
    config["model"]["finetune"] = {"batchnorm": batchnorm}
    config["search"]["budget"]["trials"] = 1
    path = write_config(config)
    assert invoke("search", path, "-q").exit_code == 0
    changes = ["head_epochs=2", "head_lr=0.001", "epochs=1", "unfreeze=all", "lr=1e-9", "holdout=0.3"]
    result = invoke("finetune", "latest", *[arg for c in changes for arg in ("--set", f"finetune.{c}")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((resolve_run(runs_dir, "latest").path / "final" / "metrics.json").read_text())
    head_phase, backbone_phase = metrics["curve"][1], metrics["curve"][2]
    assert (head_phase["phase"], backbone_phase["phase"]) == (1, 2)
    same = backbone_phase["val_loss"] == pytest.approx(head_phase["val_loss"], rel=1e-4)
    assert same == (batchnorm == "eval"), (head_phase["val_loss"], backbone_phase["val_loss"])


def test_earlier_runs_as_backbones(write_config, tiny_dict, weights, runs_dir):
    from nasxfer.storage.model_files import load_payload, rebuild_model

    tiny_dict["search"]["budget"]["trials"] = 1
    assert invoke("search", write_config(tiny_dict, "scratch.yaml"), "-q").exit_code == 0
    scratch_run = resolve_run(runs_dir, "latest").run_id
    source = tiny_transfer(weights)
    source["search"]["budget"]["trials"] = 1
    assert invoke("search", write_config(source, "transfer.yaml"), "-q").exit_code == 0
    transfer_run = resolve_run(runs_dir, "latest").run_id

    for run_id, width in ((scratch_run, 16), (transfer_run, 64)):
        config = tiny_transfer("DEFAULT")
        config["model"]["backbone"] = {"name": f"run:{run_id}"}
        config["search"]["budget"]["trials"] = 1
        result = invoke("search", write_config(config, "from-run.yaml"), "-q")
        assert result.exit_code == 0, result.output
        run = resolve_run(runs_dir, "latest").path
        assert trial_json(run, 1)["state"] == "complete", trial_json(run, 1)["error"]
        payload = load_payload(run / "trials" / "0001" / "model.pt")
        shutil.rmtree(runs_dir / run_id)  # the source run is gone; its description travels in the file
        model = rebuild_model(payload)
        assert model.backbone.num_features == width
        assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 3)

    result = invoke("search", write_config(config, "from-run.yaml"))
    assert f"run '{transfer_run}': no such run" in only_line(result)


def test_backbone_as_a_dimension_has_per_candidate_preprocessing(write_config, runs_dir):
    from nasxfer.storage.model_files import load_payload, rebuild_model

    config = tiny_transfer("none")
    config["data"]["synthetic"]["num_samples"] = 48
    del config["model"]["backbone"]["image_size"]  # each backbone's own input size
    config["search"]["space"] = {"model.backbone.name": {"choices": ["resnet20", "mobilenet_v3_small"]}}
    config["train"]["epochs"] = 1
    result = invoke("search", write_config(config), "-q")
    assert result.exit_code == 0, result.output
    run = resolve_run(runs_dir, "latest").path
    seen = {}
    for number in (1, 2):
        payload = load_payload(run / "trials" / f"{number:04d}" / "model.pt")
        name = payload["candidate"]["model.backbone.name"]
        seen[name] = (payload["preprocess"]["image_size"], rebuild_model(payload).backbone.num_features)
    assert seen == {"resnet20": ([32, 32], 64), "mobilenet_v3_small": ([224, 224], 576)}


def test_factory_backbone_search(write_config, runs_dir):
    config = tiny_transfer("DEFAULT")
    config["model"]["backbone"] = {"factory": "factory_backbones:tiny_cnn"}
    config["search"]["budget"]["trials"] = 1
    result = invoke("search", write_config(config), "-q")
    assert result.exit_code == 0, result.output
    trial = trial_json(resolve_run(runs_dir, "latest").path, 1)
    assert trial["state"] == "complete" and trial["metrics"]["backbone_stages"] == 2


@pytest.mark.parametrize(
    "backbone, message",
    [
        ({"name": "resnet20", "weights": "/no/such/weights.th"}, "model.backbone.weights: no such file '/no/such/weights.th'"),
        ({"name": "resnet18", "weights": "IMAGENET1K_V7"}, "model.backbone.weights: resnet18 has no weights 'IMAGENET1K_V7' (choices: DEFAULT, IMAGENET1K_V1, none"),
        ({"name": "run:nope"}, "model.backbone.name: run 'nope': no such run"),
        ({"factory": "factory_backbones:broken"}, "model.backbone.factory: factory_backbones:broken() raised RuntimeError"),
    ],
)
def test_backbone_problems_fail_before_a_run_folder(write_config, runs_dir, backbone, message):
    config = tiny_transfer("none")
    config["model"]["backbone"] = backbone
    line = only_line(invoke("search", write_config(config)))
    assert message in line, line
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.skipif(importlib.util.find_spec("timm") is not None, reason="timm is installed")
def test_timm_backbone_without_timm(write_config, runs_dir):
    config = tiny_transfer("none")
    config["model"]["backbone"] = {"name": "timm:resnet18"}
    assert "(pip install timm)" in only_line(invoke("search", write_config(config)))


def test_a_misspelt_backbone_among_the_choices_fails_before_a_run_folder(write_config, runs_dir):
    config = tiny_transfer("none")
    config["search"]["space"] = {"model.backbone.name": {"choices": ["resnet20", "resnet20_"]}}
    line = only_line(invoke("search", write_config(config)))
    assert "search.space.model.backbone.name: choice 'resnet20_' is not a valid config" in line
    assert "did you mean 'resnet20'?" in line and not runs_dir.exists()
