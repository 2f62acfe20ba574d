"""Transfer trials: heads, freezing, learning rates, the feature cache and LP-FT phases."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transfer_helpers import save_cifar_checkpoint, tiny_transfer

from nasxfer.config import validate_config
from nasxfer.evaluation.evaluator import TrainingEvaluator
from nasxfer.features.cache import FeatureCache, PooledFeatures, features_key
from nasxfer.models.weights import weights_digest
from nasxfer.features.loader import FeatureLoader
from nasxfer.models.build import build_model, preprocess_for
from nasxfer.models.freezing import set_trainable_stages
from nasxfer.models.heads import Head, pool_map, select_pooled
from nasxfer.training.fit import build_optimizer


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet20.th"
    return path, save_cifar_checkpoint(path)


@pytest.fixture
def config(weights_file):
    return validate_config(tiny_transfer(weights_file[0]))


def run_trial(evaluator, cfg, tmp_path, number, values=None):
    trial_dir = tmp_path / "trials" / f"{number:04d}"
    trial_dir.mkdir(parents=True)
    return evaluator.evaluate(cfg, seed=number, trial_dir=trial_dir, values=values or {}), trial_dir


# --------------------------------------------------------------------------- heads


@pytest.mark.parametrize("pooling, width", [("avg", 5), ("max", 5), ("avg+max", 10)])
def test_pooling_choices(pooling, width):
    fmap = torch.randn(2, 5, 3, 3)
    pooled = pool_map(fmap, pooling)
    assert pooled.shape == (2, width)
    assert torch.equal(pooled, select_pooled(fmap.mean((2, 3)), fmap.amax((2, 3)), pooling))


def test_head_layers():
    head = Head(10, 3, hidden=[8, 4], activation="gelu", norm="batch", dropout=0.2)
    kinds = [type(m).__name__ for m in head.layers]
    assert kinds == ["Linear", "BatchNorm1dAnyBatch", "GELU", "Dropout"] * 2
    head.train()
    assert head(torch.randn(1, 10)).shape == (1, 3)  # a last batch of one does not break BatchNorm
    assert [type(m).__name__ for m in Head(10, 3, norm="layer", hidden=[4]).layers] == ["Linear", "LayerNorm", "ReLU"]
    assert isinstance(Head(10, 3, dropout=0.5).layers[0], nn.Dropout)


# --------------------------------------------------------------------------- freezing


def test_unfreeze_counts_stages_from_the_top(config):
    network = build_model(config.model, 3, 3)
    stages = network.backbone.stages
    assert len(stages) == 4
    for unfreeze, frozen in [(0, 4), (1, 3), (3, 1), ("all", 0), (99, 0)]:
        set_trainable_stages(network, unfreeze)
        assert network.frozen_stages == frozen
        trains = {name.split(".")[2] for name, p in network.named_parameters() if p.requires_grad and name.startswith("backbone.")}
        assert trains == {name for stage in stages[frozen:] for name in stage if name != "linear"}
        network.train()
        assert all(not part.training for i in range(frozen) for part in network.backbone.stage_parts(i))
        trained = [part for i in range(frozen, 4) for part in network.backbone.stage_parts(i) if isinstance(part, nn.Module)]
        assert all(part.training for part in trained if not isinstance(part, nn.BatchNorm2d))


@pytest.mark.parametrize("batchnorm", ["eval", "train"])
def test_training_stages_batchnorm_keeps_pretrained_statistics_unless_told(config, batchnorm):
    """LP-FT's second phase, and any trial that unfreezes stages, starts from the features the
    head was fitted to: with the default ``batchnorm: eval`` a training forward pass normalises
    by the pretrained statistics, exactly as the frozen backbone (and the feature cache) did."""
    cfg = config.apply({"model.finetune.unfreeze": "all", "model.finetune.batchnorm": batchnorm})
    network = build_model(cfg.model, 3, 3)
    images = torch.randn(8, 3, 32, 32) * 2 + 0.5  # not the statistics the checkpoint's BN holds
    with torch.no_grad():
        network.eval()
        inference = network.forward_features(images)
        network.train()
        training = network.forward_features(images)
    norms = [m for m in network.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and network.training
    if batchnorm == "eval":
        assert torch.allclose(training, inference, atol=1e-6)
        assert not any(m.training for m in norms)
        assert all(m.weight.requires_grad for m in norms)  # scale and shift still train
    else:
        assert not torch.allclose(training, inference, atol=1e-3)
        assert all(m.training for m in norms)
        assert network.head.training


def test_backbone_lr_mult_makes_parameter_groups(config):
    cfg = config.apply({"model.finetune.unfreeze": "all", "model.finetune.backbone_lr_mult": 0.25, "train.lr": 0.2})
    network = build_model(cfg.model, 3, 3)
    optimizer = build_optimizer(network, cfg.train)
    lrs = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lrs[id(p)] = group["lr"]
    for name, p in network.named_parameters():
        assert lrs[id(p)] == pytest.approx(0.05 if name.startswith("backbone.") else 0.2), name
    set_trainable_stages(network, 0)
    assert {g["lr"] for g in build_optimizer(network, cfg.train).param_groups} == {0.2}  # frozen: left out


@pytest.mark.parametrize("batchnorm", ["eval", "train"])
def test_a_trial_leaves_frozen_weights_and_bn_statistics_bit_identical(config, weights_file, tmp_path, batchnorm):
    path, original = weights_file
    changes = {"model.finetune.unfreeze": 1, "model.finetune.feature_cache": "off", "train.epochs": 1}
    cfg = config.apply({**changes, "model.finetune.batchnorm": batchnorm})
    outcome, trial_dir = run_trial(TrainingEvaluator(), cfg, tmp_path, 1)
    assert outcome.metrics["feature_cache"] == 0 and outcome.metrics["frozen_stages"] == 3
    trained = torch.load(trial_dir / "model.pt", weights_only=True)["state_dict"]
    prefix = "backbone.body."
    frozen_keys = [k for k in original if k.startswith(("conv1", "bn1", "layer1", "layer2"))]
    assert any("running_var" in k for k in frozen_keys)
    for key in frozen_keys:
        assert torch.equal(trained[prefix + key], original[key]), key  # bit for bit, BN statistics too
    assert not torch.equal(trained[prefix + "layer3.0.conv1.weight"], original["layer3.0.conv1.weight"])
    moved = not torch.equal(trained[prefix + "layer3.0.bn1.running_mean"], original["layer3.0.bn1.running_mean"])
    assert moved == (batchnorm == "train")  # eval: the training stage's statistics stay pretrained
    assert not torch.equal(trained[prefix + "layer3.0.bn1.weight"], original["layer3.0.bn1.weight"])


# --------------------------------------------------------------------------- feature cache


def test_feature_cache_hits_on_later_trials_and_runs(config, tmp_path, feature_cache_dir):
    evaluator = TrainingEvaluator()
    first, first_dir = run_trial(evaluator, config, tmp_path, 1)
    assert first.metrics["feature_cache"] == 1 and first.metrics["feature_cache_hits"] == 0
    note = (first_dir / "feature_cache.json").read_text()
    assert "image augmentation (data.augment: auto) was not applied" in note
    assert len(list(feature_cache_dir.rglob("*.pt"))) == 2  # train and val; test is not needed to search

    other_head = config.apply({"model.head.hidden": [16], "model.head.pooling": "avg+max"})
    second, _ = run_trial(evaluator, other_head, tmp_path, 2)
    assert second.metrics["feature_cache_hits"] == 2
    assert second.curve[0]["phase"] == 1

    later_run, _ = run_trial(TrainingEvaluator(), config, tmp_path, 3)  # a new run: same data, same key
    assert later_run.metrics["feature_cache_hits"] == 2


def test_cached_features_are_the_backbones_features(config, tmp_path):
    from nasxfer.data import load_dataset
    from nasxfer.data.loader import BatchLoader
    from nasxfer.features.head_training import split_features

    data = load_dataset(config.data, seed=config.seed)
    network = build_model(config.model, data.channels, data.num_classes).eval()
    preprocess = preprocess_for(config.model, data, network)
    features, status, _ = split_features(
        network, data, "val", preprocess, config, torch.device("cpu"), FeatureCache(), weights_digest(network.backbone)
    )
    assert status == "miss" and features.avg.dtype == torch.float16
    x, y = next(iter(BatchLoader(data.val, batch_size=len(data.val), device="cpu", preprocess=preprocess)))
    with torch.no_grad():
        direct = network.backbone(x)
    assert torch.equal(features.labels, y)
    torch.testing.assert_close(features.avg.float(), direct.mean((2, 3)), atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(features.max.float(), direct.amax((2, 3)), atol=2e-3, rtol=2e-3)


def test_a_corrupt_cache_file_is_recomputed_never_trusted(config, tmp_path, feature_cache_dir):
    evaluator = TrainingEvaluator()
    run_trial(evaluator, config, tmp_path, 1)
    cache = FeatureCache()
    files = sorted(feature_cache_dir.rglob("*.pt"))
    truncated, tampered = files
    truncated.write_bytes(truncated.read_bytes()[:100])
    raw = torch.load(tampered, weights_only=True)
    raw["avg"][0, 0] += 1  # a changed value under the old checksum
    torch.save(raw, tampered)
    assert cache.load(truncated.stem) == (None, "corrupt") and cache.load(tampered.stem) == (None, "corrupt")

    # A later run reads the files again (a run keeps the copies it read or wrote, verified, in memory).
    outcome, trial_dir = run_trial(TrainingEvaluator(), config, tmp_path, 2)
    assert outcome.metrics["feature_cache_hits"] == 0
    assert set(json.loads((trial_dir / "feature_cache.json").read_text())["splits"].values()) == {"corrupt"}
    assert cache.load(truncated.stem)[1] == "hit" and cache.load(tampered.stem)[1] == "hit"  # rewritten


def test_cache_key_covers_weights_preprocessing_data_and_precision(config):
    from nasxfer.data.loader import Preprocess

    network = build_model(config.model, 3, 3)
    pre = Preprocess((0.5,), (0.5,), (8, 8), 3)
    weights = weights_digest(network.backbone)
    base = features_key(network.backbone, weights, pre, "data", "train", "fp32")
    with torch.no_grad():
        network.backbone.body.bn1.running_mean += 1e-3
    changed = [
        features_key(network.backbone, weights_digest(network.backbone), pre, "data", "train", "fp32"),
        features_key(network.backbone, weights, Preprocess((0.5,), (0.5,), (16, 16), 3), "data", "train", "fp32"),
        features_key(network.backbone, weights, pre, "other-data", "train", "fp32"),
        features_key(network.backbone, weights, pre, "data", "val", "fp32"),
        features_key(network.backbone, weights, pre, "data", "train", "bf16"),
    ]
    assert len({base, *changed}) == 6


def test_cache_save_and_load_round_trip(tmp_path):
    cache = FeatureCache(tmp_path)
    features = PooledFeatures(torch.randn(4, 3).half(), torch.randn(4, 3).half(), torch.arange(4))
    assert cache.load("ab" * 32) == (None, "miss")
    cache.save("ab" * 32, features)
    loaded, status = cache.load("ab" * 32)
    assert status == "hit" and torch.equal(loaded.avg, features.avg) and torch.equal(loaded.labels, features.labels)
    assert not list(tmp_path.rglob("*.tmp"))  # written through a temp file and renamed


def test_feature_loader_augments_in_feature_space():
    x, y = torch.randn(10, 4), torch.arange(10) % 3
    plain = list(FeatureLoader(x, y, batch_size=4, shuffle=True, seed=1))
    again = list(FeatureLoader(x, y, batch_size=4, shuffle=True, seed=1))
    assert len(plain) == 3 and all(torch.equal(a[0], b[0]) for a, b in zip(plain, again))
    noisy = next(iter(FeatureLoader(x, y, batch_size=10, noise=0.5)))[0]
    assert not torch.equal(noisy, x) and (noisy - x).abs().max() < 5
    mixed_x, soft = next(iter(FeatureLoader(x, y, batch_size=10, mixup=0.4, num_classes=3)))
    assert soft.shape == (10, 3) and torch.allclose(soft.sum(1), torch.ones(10))


def test_feature_mixup_trains(config, tmp_path):
    cfg = config.apply({"model.finetune.feature_mixup": 0.2, "model.finetune.feature_noise": 0.1})
    outcome, _ = run_trial(TrainingEvaluator(), cfg, tmp_path, 1)
    assert outcome.metrics["feature_cache"] == 1 and 0 <= outcome.metrics["val_accuracy"] <= 1


# --------------------------------------------------------------------------- LP-FT


def test_lp_ft_runs_a_cached_head_phase_then_unfreezes(config, tmp_path):
    from nasxfer.data import load_dataset
    from nasxfer.data.loader import BatchLoader
    from nasxfer.training.transfer import finetune_phases, fit_transfer

    cfg = config.apply({"model.finetune.unfreeze": 1, "finetune.head_epochs": 2, "finetune.head_lr": 0.02})
    phases = finetune_phases(cfg, epochs=1, lr=None, warmup_epochs=0)
    assert [(p.unfreeze, p.epochs, p.lr) for p in phases] == [(0, 2, 0.02), (1, 1, None)]
    assert len(finetune_phases(config, 3, None, 0)) == 1
    searched_frozen = config.apply({"finetune.head_epochs": 1, "finetune.unfreeze": "all"})
    assert [p.unfreeze for p in finetune_phases(searched_frozen, 1, None, 0)] == [0, "all"]

    data = load_dataset(cfg.data, seed=0)
    network = build_model(cfg.model, data.channels, data.num_classes)
    preprocess = preprocess_for(cfg.model, data, network)
    train = BatchLoader(data.train, batch_size=32, device="cpu", preprocess=preprocess, shuffle=True)
    before = network.backbone.body.layer3[2].conv2.weight.clone()
    seen = []
    result, report = fit_transfer(
        network, cfg, data, preprocess, torch.device("cpu"), phases=phases,
        train_batches=train, val_batches=None, val_split=None, on_epoch=seen.append,
    )  # fmt: skip
    assert [(row["epoch"], row["phase"]) for row in result.curve] == [(1, 1), (2, 1), (3, 2)]
    assert [row["epoch"] for row in seen] == [1, 2, 3]
    assert report.cached_phases == [1] and "phase 1 trained the head on cached" in report.note()
    assert network.frozen_stages == 3 and not torch.equal(before, network.backbone.body.layer3[2].conv2.weight)


# --------------------------------------------------------------------------- schedulers and pruning


@pytest.mark.parametrize("cache", ["auto", "off"])  # a head on cached features; through the backbone
def test_transfer_trials_stop_at_rungs_and_promotions_continue_from_the_checkpoint(config, tmp_path, cache, feature_cache_dir):
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore
    from nasxfer.search.trial import TrialState

    cfg = config.apply(
        {
            "model.finetune.feature_cache": cache, "model.finetune.unfreeze": 0 if cache == "auto" else 1,
            "train.epochs": 3, "search.budget.trials": 3,
            "search.scheduler": {"name": "successive_halving", "min_epochs": 1, "eta": 3},
        }
    )
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store, None, TrainingEvaluator())
    winner = outcome.best
    assert [r.epochs_reached for r in outcome.history if r.number != winner.number] == [1, 1]  # cut at the rung
    assert winner.state is TrialState.COMPLETE and [row["epoch"] for row in winner.curve] == [1, 2, 3]
    paused = next(
        e["trial"] for e in store.events()
        if e["event"] == "trial_finished" and e["trial"]["number"] == winner.number and e["trial"]["state"] == "paused"
    )
    assert winner.curve[0] == paused["curve"][0]  # epoch 1 came from the checkpoint, timing and all
    assert outcome.epochs == 1 + 1 + 3
    assert winner.metrics["feature_cache"] == (1.0 if cache == "auto" else 0.0)
