"""train.cuda_graphs: who may capture, and that the graphed step's logic trains like eager.

The capture itself needs CUDA. On a CPU the tests force eligibility and stand in for
``cuda_capture`` with a function whose "replay" runs the captured Python again: that
drives the same wiring (static inputs, lr tensors, capture settings, eager fallbacks,
checkpoints) a real graph goes through. The last test runs only where CUDA is.
"""

import copy

import pytest
import torch
import yaml
from torch import nn

import nasxfer.training.cuda_graphs as cuda_graphs
import nasxfer.training.fit as train
from nasxfer.config import TrainConfig, load_config, validate_config
from nasxfer.training.cuda_graphs import GraphedStep, capture_settings, ineligible, sync_lrs
from nasxfer.errors import ConfigError, TrainingInterrupted
from nasxfer.training.fit import build_optimizer, fit, training_state

CUDA = torch.device("cuda")  # a device object only: nothing here touches a GPU
CPU = torch.device("cpu")


class Batches(list):
    """Re-iterable (x, y) batches: four of 16 and a partial one of 8 per epoch."""


def toy_batches(n=72, batch=16, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(3, 8, generator=g) * 3
    y = torch.randint(0, 3, (n,), generator=g)
    x = centers[y] + torch.randn(n, 8, generator=g) * 0.5
    return Batches([(x[i : i + batch].to(device), y[i : i + batch].to(device)) for i in range(0, n, batch)])


def toy_model(seed=0):
    torch.manual_seed(seed)
    # No bias before the norm: its gradient is rounding noise, which Adam's normalisation
    # would turn into full-size steps that differ between any two kernels.
    return nn.Sequential(nn.Linear(8, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def config(**overrides):
    settings = dict(epochs=3, lr=0.1, warmup_epochs=1, device="cpu") | overrides
    return TrainConfig(**settings)


@pytest.fixture
def captures(monkeypatch):
    """Force the graphed path on this CPU; each 'replay' reruns the captured step."""
    made = []

    def fake_capture(step):
        made.append(step)
        return step

    monkeypatch.setattr(train, "ineligible", lambda *args, **kwargs: None)
    monkeypatch.setattr(cuda_graphs, "cuda_capture", fake_capture)
    return made


def lrs_per_step(monkeypatch):
    """Record every optimiser step's learning rates (float or tensor alike)."""
    seen = []
    build = train.build_optimizer

    def recording(*args, **kwargs):
        optimizer = build(*args, **kwargs)
        optimizer.register_step_pre_hook(lambda o, a, k: seen.append([float(g["lr"]) for g in o.param_groups]))
        return optimizer

    monkeypatch.setattr(train, "build_optimizer", recording)
    return seen


# --------------------------------------------------------------------------- eligibility


def test_each_reason_to_train_eagerly():
    model, sgd = toy_model(), None
    sgd = build_optimizer(model, TrainConfig())
    adamw = build_optimizer(model, TrainConfig(optimizer="adamw"))
    assert ineligible("off", CUDA, False, model, sgd) == "train.cuda_graphs: off"
    assert ineligible("on", CPU, False, model, sgd) == "not a CUDA device (cpu)"
    assert ineligible("auto", torch.device("mps"), False, model, sgd) == "not a CUDA device (mps)"
    assert "fp16 with dynamic loss scaling" in ineligible("auto", CUDA, True, model, sgd)
    assert "torch.compile'd" in ineligible("on", CUDA, False, torch.compile(model), sgd)
    assert "Adagrad" in ineligible("on", CUDA, False, model, torch.optim.Adagrad(model.parameters()))
    for setting in ("on", "auto"):
        assert ineligible(setting, CUDA, False, model, sgd) is None
        assert ineligible(setting, CUDA, False, model, adamw) is None


def test_fit_gets_the_choice_from_its_config(monkeypatch):
    asked = []
    monkeypatch.setattr(train, "ineligible", lambda *args: asked.append(args) or "just because")
    result = fit(toy_model(), toy_batches(), None, config(epochs=1, warmup_epochs=0, cuda_graphs="auto"), 3)
    (setting, device, scale_loss, _, optimizer), = asked
    assert (setting, device, scale_loss) == ("auto", CPU, False) and isinstance(optimizer, torch.optim.SGD)
    assert result.cuda_graphs == "eager: just because"
    assert "graphed_steps" not in result.final  # the row says nothing when graphs were never tried


# --------------------------------------------------------------------------- config


def test_config_field_defaults_validates_and_round_trips(write_config, tiny_dict):
    assert TrainConfig().cuda_graphs == "off"
    for setting in ("auto", "on", "off"):
        cfg = TrainConfig(cuda_graphs=setting)
        assert TrainConfig.model_validate(cfg.model_dump()) == cfg
    with pytest.raises(ValueError, match="cuda_graphs"):
        TrainConfig(cuda_graphs="sometimes")
    with pytest.raises(ValueError, match="cuda_graphs: on cannot capture amp: fp16"):
        TrainConfig(cuda_graphs="on", amp="fp16")
    assert TrainConfig(cuda_graphs="auto", amp="fp16").amp == "fp16"  # auto trains eagerly there
    # YAML 1.2: a bare `on` in a file is the string, as for channels_last
    text = yaml.safe_dump(tiny_dict).replace("train:\n", "train:\n  cuda_graphs: on\n", 1)
    loaded = load_config(write_config(text))
    assert loaded.train.cuda_graphs == "on"
    assert validate_config(loaded.model_dump()).train.cuda_graphs == "on"
    assert load_config(write_config(tiny_dict), ["train.cuda_graphs=auto"]).train.cuda_graphs == "auto"
    with pytest.raises(ConfigError, match="train.cuda_graphs"):
        load_config(write_config(tiny_dict), ["train.cuda_graphs=yes"])


# --------------------------------------------------------------------------- on a CPU


def test_on_and_auto_train_exactly_like_off_on_a_cpu(monkeypatch):
    def called(step):
        raise AssertionError("the CUDA capture was reached on a CPU")

    monkeypatch.setattr(cuda_graphs, "cuda_capture", called)
    weights = {}
    for setting in ("off", "on", "auto"):
        model = toy_model()
        result = fit(model, toy_batches(), toy_batches(seed=1), config(cuda_graphs=setting), 3)
        weights[setting] = model.state_dict()
        assert result.cuda_graphs == ("eager: train.cuda_graphs: off" if setting == "off" else "eager: not a CUDA device (cpu)")
    for setting in ("on", "auto"):
        assert all(torch.equal(weights[setting][k], weights["off"][k]) for k in weights["off"])


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_graphed_step_logic_trains_like_eager(monkeypatch, captures, optimizer):
    cfg = dict(optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01)
    seen = lrs_per_step(monkeypatch)
    eager_model = toy_model()
    monkeypatch.setattr(train, "ineligible", lambda *args, **kwargs: "eager, for comparison")
    eager = fit(eager_model, toy_batches(), toy_batches(seed=1), config(**cfg), 3)
    assert captures == []
    eager_lrs = seen[:]

    seen.clear()
    graphed_model = toy_model()
    monkeypatch.setattr(train, "ineligible", lambda *args, **kwargs: None)
    graphed = fit(graphed_model, toy_batches(), toy_batches(seed=1), config(cuda_graphs="on", **cfg), 3)
    graphed_lrs = seen

    assert len(captures) == 1 and graphed.cuda_graphs == "graphed"
    # 4 full batches and a partial one per epoch: 3 full ones warm up, the 4th is captured
    # and replayed, partial batches run eagerly.
    assert [row["graphed_steps"] for row in graphed.curve] == [1.0, 4.0, 4.0]
    # the schedule reaches the graph: the same rate at every one of the 15 steps
    assert len(graphed_lrs) == len(eager_lrs) == 15
    flat = lambda rows: [lr for row in rows for lr in row]  # noqa: E731
    assert flat(graphed_lrs) == pytest.approx(flat(eager_lrs), rel=1e-6)  # float32 lr tensors
    assert len({lr[0] for lr in eager_lrs}) > 5  # warm-up and cosine decay: the rate moves
    for key, value in eager_model.state_dict().items():
        assert torch.allclose(graphed_model.state_dict()[key].float(), value.float(), rtol=1e-5, atol=1e-6), key
    assert graphed.final["train_loss"] == pytest.approx(eager.final["train_loss"], rel=1e-5)


def test_a_failed_capture_trains_on_eagerly(monkeypatch):
    def failing(step):
        raise RuntimeError("operation not permitted when stream is capturing\nmore detail")

    monkeypatch.setattr(cuda_graphs, "cuda_capture", failing)
    monkeypatch.setattr(train, "ineligible", lambda *args, **kwargs: None)
    model = toy_model()
    result = fit(model, toy_batches(), None, config(), 3)
    assert result.cuda_graphs == "eager: capture failed (RuntimeError: operation not permitted when stream is capturing)"
    assert [row["graphed_steps"] for row in result.curve] == [0.0, 0.0, 0.0]
    eager_model = toy_model()
    fit(eager_model, toy_batches(), None, config(), 3)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in eager_model.state_dict().items())


def test_too_few_steps_to_capture_say_so(captures):
    result = fit(toy_model(), Batches(toy_batches()[:2]), None, config(epochs=1, warmup_epochs=0), 3)
    assert captures == [] and result.cuda_graphs == "eager: fewer than 4 training steps of one batch shape"


def test_checkpoints_look_eager_and_resume_the_same_run(captures):
    cfg = config(optimizer="adamw", lr=0.01, cuda_graphs="on")
    straight = toy_model()
    fit(straight, toy_batches(), None, cfg, 3)

    states = {}
    interrupted = toy_model()
    with pytest.raises(TrainingInterrupted):
        fit(interrupted, toy_batches(), None, cfg, 3, on_checkpoint=lambda s, e: states.update({e: s}), should_stop=lambda: True)
    saved = states[1]["optimizer"]
    # as eager training writes it: float rates, the optimiser's own settings
    eager_model = toy_model()
    eager_optimizer = build_optimizer(eager_model, cfg)
    eager_model(toy_batches()[0][0]).sum().backward()
    eager_optimizer.step()
    eager_saved = eager_optimizer.state_dict()
    for group, eager_group in zip(saved["param_groups"], eager_saved["param_groups"]):
        assert type(group["lr"]) is float
        assert {k: v for k, v in group.items() if k not in ("lr", "initial_lr", "params")} == {
            k: v for k, v in eager_group.items() if k not in ("lr", "initial_lr", "params")
        }
    assert all(s["step"].device.type == "cpu" for s in saved["state"].values())

    resumed = toy_model(seed=1)  # weights come from the checkpoint
    result = fit(resumed, toy_batches(), None, cfg, 3, resume=copy.deepcopy(states[1]))
    assert [row["epoch"] for row in result.curve] == [1, 2, 3] and result.cuda_graphs == "graphed"
    for key, value in straight.state_dict().items():
        assert torch.allclose(resumed.state_dict()[key].float(), value.float(), rtol=1e-5, atol=1e-6), key

    # and a graphed run's checkpoint resumes eagerly too (another machine, graphs off)
    eager_resumed = toy_model(seed=2)
    fit(eager_resumed, toy_batches(), None, config(optimizer="adamw", lr=0.01), 3, resume=copy.deepcopy(states[1]))
    for key, value in straight.state_dict().items():
        assert torch.allclose(eager_resumed.state_dict()[key].float(), value.float(), rtol=1e-5, atol=1e-6), key


def test_capture_settings_are_switched_back():
    model = toy_model()
    for optimizer in (build_optimizer(model, TrainConfig()), build_optimizer(model, TrainConfig(optimizer="adamw"))):
        before = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        lrs = [torch.zeros(()) for _ in optimizer.param_groups]
        with capture_settings(optimizer, lrs):
            assert all(g["lr"] is lr and g["fused"] is True and g["foreach"] is False for g, lr in zip(optimizer.param_groups, lrs))
            assert all(g.get("capturable", True) is True for g in optimizer.param_groups)
        assert [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups] == before


def test_lr_tensors_follow_the_scheduler():
    model = toy_model()
    optimizer = build_optimizer(model, TrainConfig(lr=0.2))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: train.lr_factor(step, 20, 5, "cosine"))
    lrs = [torch.zeros(()) for _ in optimizer.param_groups]
    for _ in range(20):
        sync_lrs(optimizer, lrs)
        assert [lr.item() for lr in lrs] == pytest.approx([g["lr"] for g in optimizer.param_groups], rel=1e-6)
        optimizer.step()
        scheduler.step()


def test_graphed_step_replays_only_its_shape(captures):
    calls = []

    def eager(x, y):
        calls.append(("eager", len(x)))
        return x.sum()

    def body(x, y):
        calls.append(("graph", len(x)))
        return x.sum()

    optimizer = build_optimizer(toy_model(), TrainConfig())
    step = GraphedStep(eager, body, optimizer, warmup_steps=2)
    sizes = [16, 8, 16, 16, 16, 8, 16]
    losses = [step(torch.ones(n, 8), torch.zeros(n, dtype=torch.long)).item() for n in sizes]
    assert calls == [("eager", 16), ("eager", 8), ("eager", 16), ("graph", 16), ("graph", 16), ("eager", 8), ("graph", 16)]
    assert losses == [n * 8 for n in sizes] and step.replays == 3 and step.status == "graphed"
    step.close()
    assert step._static is None and step.status == "graphed"  # what happened stays said


# --------------------------------------------------------------------------- on CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_real_graphs_train_like_eager_on_cuda(optimizer, amp):
    if amp == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    cfg = dict(optimizer=optimizer, lr=0.1 if optimizer == "sgd" else 0.01, amp=amp, device="cuda")
    models, results, states = {}, {}, {}
    for setting in ("off", "auto"):
        models[setting] = toy_model().cuda()
        results[setting] = fit(
            models[setting], toy_batches(device="cuda"), toy_batches(seed=1, device="cuda"),
            config(cuda_graphs=setting, **cfg), 3, on_checkpoint=lambda s, e, k=setting: states.update({k: s}),
        )  # fmt: skip
    assert results["auto"].cuda_graphs == "graphed", results["auto"].cuda_graphs
    assert [row["graphed_steps"] for row in results["auto"].curve] == [1.0, 4.0, 4.0]
    tolerance = dict(rtol=1e-3, atol=1e-4) if amp == "off" else dict(rtol=2e-2, atol=2e-3)
    for key, value in models["off"].state_dict().items():
        assert torch.allclose(models["auto"].state_dict()[key].float(), value.float(), **tolerance), key
    saved = states["auto"]["optimizer"]
    assert all(type(g["lr"]) is float and not g.get("fused") for g in saved["param_groups"])
    assert all(s["step"].device.type == "cpu" for s in saved["state"].values() if "step" in s)
