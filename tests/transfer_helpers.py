"""Shared pieces of the transfer tests: tiny configs, stand-in checkpoints, a factory module."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "weights"
CIFAR5K = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-5k"

TINY_TRANSFER = {
    "name": "tinyx",
    "seed": 0,
    "data": {
        "dataset": "synthetic",
        "synthetic": {"num_samples": 120, "num_classes": 3, "channels": 3, "image_size": 8},
        "val_fraction": 0.25,
        "test_fraction": 0.25,
    },
    "model": {"backbone": {"name": "resnet20", "weights": "WEIGHTS", "image_size": 8}},
    "search": {
        "strategy": {"name": "grid"},
        "space": {
            "model.head.hidden": {"choices": [[], [16]]},
            "model.head.pooling": {"choices": ["avg", "avg+max"]},
        },
        "budget": {"trials": 3},
    },
    "train": {"epochs": 2, "batch_size": 32, "lr": 0.05, "device": "cpu"},
    "finetune": {"epochs": 1},
}


def tiny_transfer(weights: Path | str) -> dict:
    config = copy.deepcopy(TINY_TRANSFER)
    config["model"]["backbone"]["weights"] = str(weights)
    return config


def save_cifar_checkpoint(path: Path, depth: int = 20, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random-init CIFAR ResNet saved the way DataParallel trainers save: {"state_dict": {"module.…"}}.

    It stands in for downloaded weights; returns the state dict (without prefixes).
    """
    from nasxfer.models.backbones.cifar_resnet import CifarResNet

    torch.manual_seed(seed)
    model = CifarResNet(depth, num_classes=7)  # 7 classes: a classifier that must never load
    with torch.no_grad():  # BN statistics that are not the defaults, so loading them is visible
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"best_prec1": 0.0, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return state
