import math

import pytest
import torch
from torch import nn

from nasxfer.config import TrainConfig
from nasxfer.training.compute import Precision, choose_precision, use_channels_last
from nasxfer.training.metrics import classification_metrics, confusion_matrix
from nasxfer.training.fit import TrainingDiverged, build_optimizer, evaluate, fit, lr_factor


class Batches(list):
    """A re-iterable list of (x, y) batches, like a BatchLoader."""


def toy_batches(n=64, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 8, generator=g) * 3
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, 8, generator=g) * 0.5
    return Batches([(x[i : i + 16], y[i : i + 16]) for i in range(0, n, 16)])


def test_precision_choice_covers_the_cuda_branches_on_cpu():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert choose_precision("auto", cpu) == Precision()
    assert choose_precision("bf16", cpu) == Precision()  # autocast off the GPU is not worth it
    assert choose_precision("auto", cuda, bf16_supported=True) == Precision(torch.bfloat16)
    assert choose_precision("auto", cuda, bf16_supported=False) == Precision(torch.float16, scale_loss=True)
    assert choose_precision("fp16", cuda, bf16_supported=True) == Precision(torch.float16, scale_loss=True)
    assert choose_precision("off", cuda, bf16_supported=True) == Precision()
    assert use_channels_last("auto", cuda) and not use_channels_last("auto", cpu)
    assert use_channels_last("on", cpu) and not use_channels_last("off", cuda)


def test_lr_schedule_warms_up_then_decays_to_zero():
    factors = [lr_factor(s, 100, 10, "cosine") for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert factors[-1] < 0.01
    assert lr_factor(50, 100, 0, "constant") == 1.0


def test_no_weight_decay_on_biases_and_norms():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    opt = build_optimizer(model, TrainConfig(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and len(decay["params"]) == 1
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3
    assert opt.defaults["nesterov"] is True


def test_metrics_from_confusion():
    preds = torch.tensor([0, 0, 1, 1, 2, 0])
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    cm = confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[2, 0, 0], [0, 1, 0], [1, 1, 1]]
    m = classification_metrics(cm)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # per-class F1: 0.8, 2/3, 0.5 -> macro mean
    assert m["f1"] == pytest.approx((0.8 + 2 / 3 + 0.5) / 3)


def test_fit_learns_and_reports_each_epoch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    train, val = toy_batches(seed=0), toy_batches(seed=0)
    seen = []
    result = fit(model, train, val, TrainConfig(epochs=5, lr=0.1, warmup_epochs=1), 3, on_epoch=seen.append)
    assert [row["epoch"] for row in result.curve] == [1, 2, 3, 4, 5] == [row["epoch"] for row in seen]
    assert result.final["val_accuracy"] > 0.9
    assert result.curve[-1]["train_loss"] < result.curve[0]["train_loss"]
    assert evaluate(model, val, 3)["accuracy"] == pytest.approx(result.final["val_accuracy"])


def test_fit_without_validation_reports_training_only():
    model = nn.Linear(8, 3)
    result = fit(model, toy_batches(), None, TrainConfig(epochs=1), 3)
    assert "val_accuracy" not in result.final and math.isfinite(result.final["train_loss"])


def test_nan_loss_raises_diverged():
    model = nn.Linear(8, 3)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        fit(model, toy_batches(), None, TrainConfig(epochs=1), 3)


def test_backend_switches_only_touch_cuda(monkeypatch):
    from nasxfer.training.compute import configure_backend

    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    configure_backend(TrainConfig(), torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    configure_backend(TrainConfig(cudnn_benchmark=True), torch.device("cuda"))  # flags only: no CUDA call
    assert torch.backends.cudnn.benchmark is True
    configure_backend(TrainConfig(cudnn_benchmark=False), torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is False
