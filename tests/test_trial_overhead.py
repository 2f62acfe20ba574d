"""What a head search pays once per run, not per trial (issue #22): the backbone, its costs,
its weights digest, its features; head-only model files; head checkpoints when needed."""

from __future__ import annotations

import pytest
import torch
from transfer_helpers import save_cifar_checkpoint, tiny_transfer

from nasxfer.config import validate_config
from nasxfer.evaluation.costs import BackboneCostCache, candidate_costs, frozen_backbone_costs
from nasxfer.evaluation.evaluator import TrainingEvaluator
from nasxfer.models.build import build_model, model_for_training
from nasxfer.models.freezing import set_trainable_stages
from nasxfer.models.weights import weights_digest

COSTS = ("params", "flops", "macs", "memory_mb")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet20.th"
    save_cifar_checkpoint(path)
    return path


@pytest.fixture
def config(weights_file):
    return validate_config(tiny_transfer(weights_file))


def run_trial(evaluator, cfg, tmp_path, number, **kwargs):
    trial_dir = tmp_path / "trials" / f"{number:04d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    return evaluator.evaluate(cfg, seed=number, trial_dir=trial_dir, values={}, **kwargs), trial_dir


# --------------------------------------------------------------------------- costs


@pytest.mark.parametrize("head", [{"hidden": [], "pooling": "avg"}, {"hidden": [16], "pooling": "avg+max", "dropout": 0.2}])
def test_cached_backbone_costs_plus_the_head_are_the_whole_networks(config, tmp_path, head):
    cfg = config.apply({f"model.head.{k}": v for k, v in head.items()})
    network = build_model(cfg.model, 3, 3)
    set_trainable_stages(network, 0)
    shape = (3, 8, 8)
    device = torch.device("cpu")
    whole = candidate_costs(network, shape, device, cfg.search, cfg.train.batch_size)
    cache = BackboneCostCache(tmp_path / "costs")
    digest = weights_digest(network.backbone)
    split = frozen_backbone_costs(network, shape, device, cfg.search, cfg.train.batch_size, cache, digest)
    for name in COSTS:  # counted per operator or per saved tensor: exactly equal
        assert split[name] == whole[name], name
    for name in ("latency_ms", "latency_p90_ms"):  # the same forward pass, timed in two pieces
        assert 0 < split[name] < 5 * whole[name] + 1.0, name
    # Measured once: another head on the same backbone reads the backbone's part.
    again = frozen_backbone_costs(network, shape, device, cfg.search, cfg.train.batch_size, cache, digest)
    assert cache.measured == 1 and all(again[name] == split[name] for name in ("params", "flops", "memory_mb"))
    later_run = BackboneCostCache(tmp_path / "costs")
    frozen_backbone_costs(network, shape, device, cfg.search, cfg.train.batch_size, later_run, digest)
    assert later_run.measured == 0  # across runs, from the file


def test_a_corrupt_costs_file_is_measured_again(config, tmp_path):
    network = build_model(config.model, 3, 3)
    set_trainable_stages(network, 0)
    args = ((3, 8, 8), torch.device("cpu"), config.search, config.train.batch_size)
    first = BackboneCostCache(tmp_path)
    frozen_backbone_costs(network, *args, first, weights_digest(network.backbone))
    (path,) = tmp_path.glob("*.json")
    path.write_text(path.read_text()[:40])
    second = BackboneCostCache(tmp_path)
    frozen_backbone_costs(network, *args, second, weights_digest(network.backbone))
    assert second.measured == 1


def test_a_trials_recorded_costs_are_the_uncached_figures(config, tmp_path):
    cfg = config.apply({"model.finetune.unfreeze": 0})
    evaluator = TrainingEvaluator()
    outcome, _ = run_trial(evaluator, cfg, tmp_path, 1)
    data = evaluator.data_for(cfg, torch.device("cpu"))
    fresh = model_for_training(cfg, data, torch.device("cpu"), 1)
    whole = candidate_costs(fresh.model, (3, 8, 8), torch.device("cpu"), cfg.search, cfg.train.batch_size)
    for name in COSTS:
        assert outcome.metrics[name] == whole[name], name


# --------------------------------------------------------------------------- the backbone, once


def test_the_backbone_is_built_once_per_run(config, tmp_path, monkeypatch):
    import nasxfer.models.backbones as backbones

    built = []
    real = backbones.build_backbone
    monkeypatch.setattr(backbones, "build_backbone", lambda *a, **k: built.append(1) or real(*a, **k))
    evaluator = TrainingEvaluator()
    evaluator.prepare(config)
    for number, head in enumerate([[], [16], [8]], start=1):
        run_trial(evaluator, config.apply({"model.head.hidden": head}), tmp_path, number)
    run_trial(evaluator, config.apply({"model.finetune.unfreeze": 1}), tmp_path, 4)  # a copy, not a build
    assert len(built) == 1


@pytest.mark.parametrize("changes", [{}, {"model.finetune.unfreeze": 1}, {"model.finetune.feature_cache": "off"}])
def test_a_trial_on_the_runs_backbone_is_the_trial_on_its_own(config, tmp_path, changes):
    """Shared, copied or built for the trial alone: the same network, so the same numbers."""
    cfg = config.apply(changes)
    evaluator = TrainingEvaluator()
    run_trial(evaluator, cfg.apply({"model.head.hidden": [8]}), tmp_path / "a", 1)  # the run's backbone is in use
    shared, _ = run_trial(evaluator, cfg, tmp_path / "a", 2)
    alone, _ = run_trial(TrainingEvaluator(), cfg, tmp_path / "b", 2)
    def numbers(curve):
        return [{k: v for k, v in row.items() if "seconds" not in k and k != "images_per_second"} for row in curve]

    assert numbers(shared.curve) == numbers(alone.curve)
    for name in ("val_accuracy", "val_loss", "train_loss", *COSTS):
        assert shared.metrics[name] == alone.metrics[name], name


def test_the_head_starts_the_same_however_the_backbone_came(config):
    """The backbone is built under a forked random state: the head's initial weights, and
    every draw after them, depend on the seed alone, so a trial on a run's backbone starts
    as one that builds its own, and as the final training does."""
    from nasxfer.data import load_dataset
    from nasxfer.models.backbones import build_backbone

    data = load_dataset(config.data, seed=config.seed)
    own = model_for_training(config, data, torch.device("cpu"), 7).model
    after_own = torch.rand(3)
    backbone = build_backbone(config.model.backbone)
    given = model_for_training(config, data, torch.device("cpu"), 7, backbone=backbone).model
    after_given = torch.rand(3)
    for (name, a), b in zip(own.head.state_dict().items(), given.head.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(after_own, after_given)


def test_freezing_never_puts_a_frozen_stage_in_training_mode(config, monkeypatch):
    """A frozen backbone may be a run's shared one: not even for a moment in training mode."""
    from torch import nn

    network = build_model(config.model, 3, 3)
    set_trainable_stages(network, 0)
    frozen = {id(m) for m in network.backbone.body.modules()}
    seen = []
    real = nn.Module.__setattr__

    def spy(self, name, value):
        if name == "training" and value and id(self) in frozen and isinstance(self, nn.BatchNorm2d):
            seen.append(self)
        real(self, name, value)

    monkeypatch.setattr(nn.Module, "__setattr__", spy)
    network.train()
    set_trainable_stages(network, 0)
    network.train(True)
    assert not seen
    assert network.head.training and not any(m.training for m in network.backbone.body.modules() if isinstance(m, nn.BatchNorm2d))


# --------------------------------------------------------------------------- model files and checkpoints


def test_a_cached_head_trial_writes_a_head_only_model_file_that_rebuilds(config, tmp_path, weights_file):
    from nasxfer.errors import NasxferError
    from nasxfer.storage.model_files import load_payload, rebuild_model

    evaluator = TrainingEvaluator()
    outcome, trial_dir = run_trial(evaluator, config, tmp_path, 1)
    payload = load_payload(trial_dir / "model.pt", outcome.checksums["model.pt"])
    assert payload["state_dict"] and not any(k.startswith("backbone.") for k in payload["state_dict"])
    assert payload["backbone_weights"] == weights_digest(evaluator.backbone_for(config, torch.device("cpu"), False, shared=True))

    full, full_dir = run_trial(TrainingEvaluator(), config.apply({"model.finetune.feature_cache": "off"}), tmp_path, 2)
    assert (trial_dir / "model.pt").stat().st_size < (full_dir / "model.pt").stat().st_size / 5

    rebuilt = rebuild_model(payload)
    x = torch.rand(4, 3, 8, 8)
    whole = rebuild_model(load_payload(full_dir / "model.pt"))
    with torch.no_grad():
        assert torch.equal(rebuilt.backbone(x), whole.backbone(x))  # the pretrained backbone came back
        assert rebuilt(x).shape == (4, 3)

    save_cifar_checkpoint(weights_file, seed=1)  # the weights file changed since the search
    try:
        with pytest.raises(NasxferError, match="not the ones this head was trained on"):
            rebuild_model(payload)
    finally:
        save_cifar_checkpoint(weights_file, seed=0)


def test_a_head_trial_checkpoints_only_where_it_must_and_resumes_exactly(config, tmp_path):
    from nasxfer.errors import TrainingInterrupted
    from nasxfer.storage.store import RunStore

    cfg = config.apply({"train.epochs": 3})
    store = RunStore.create(tmp_path / "runs", cfg, {})
    done = TrainingEvaluator().evaluate(cfg, seed=1, trial_dir=store.trial_dir(1), values={},
                                        checkpoints=store.checkpoints(1))  # fmt: skip
    assert not [e for e in store.events() if e["event"] == "checkpoint"]  # a finished head trial wrote none

    stops = iter([False, True])
    with pytest.raises(TrainingInterrupted):
        TrainingEvaluator().evaluate(cfg, seed=1, trial_dir=store.trial_dir(2), values={},
                                     checkpoints=store.checkpoints(2), should_stop=lambda: next(stops))  # fmt: skip
    assert [e["epoch"] for e in store.events() if e["event"] == "checkpoint" and e["number"] == 2] == [2]
    resumed = TrainingEvaluator().evaluate(cfg, seed=1, trial_dir=store.trial_dir(2), values={},
                                           checkpoints=store.checkpoints(2))  # fmt: skip
    assert [row["epoch"] for row in resumed.curve] == [1, 2, 3]
    for a, b in zip(resumed.curve, done.curve):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    assert resumed.metrics["val_accuracy"] == done.metrics["val_accuracy"]


def test_a_small_head_trains_on_one_cpu_thread_to_the_same_numbers(config, tmp_path, monkeypatch):
    """Its matmuls are too small to share between threads; the thread count comes back after,
    and the numbers are those of the same training at the process's thread count."""
    import nasxfer.features.head_training as head_training
    from nasxfer.training.threads import usable_cpus

    if usable_cpus() < 2:
        pytest.skip("needs two usable CPUs to tell one thread from the process's count")
    # Two threads by setting: under auto a busy box would give the trial one thread anyway,
    # and the test could not tell the head's rule from the box's load.
    config = config.apply({"train.threads": 2})
    threads_seen = []
    real_fit = head_training.fit

    def spying_fit(*args, **kwargs):
        threads_seen.append(torch.get_num_threads())
        return real_fit(*args, **kwargs)

    before = torch.get_num_threads()
    monkeypatch.setattr(head_training, "fit", spying_fit)
    torch.set_num_threads(2)
    try:
        one, _ = run_trial(TrainingEvaluator(), config, tmp_path / "a", 1)
        assert threads_seen == [1] and torch.get_num_threads() == 2
        import nasxfer.training.compute as compute

        monkeypatch.setattr(compute, "ONE_THREAD_MACS", 0)  # every step "large": the process's threads
        two, _ = run_trial(TrainingEvaluator(), config, tmp_path / "b", 1)
        assert threads_seen == [1, 2]
    finally:
        torch.set_num_threads(before)
    for name in ("val_accuracy", "val_loss", "train_loss"):
        assert one.metrics[name] == two.metrics[name], name
