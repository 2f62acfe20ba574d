"""Real pretrained weights on real images (../shared/data; skipped in a fresh clone without it)."""

from __future__ import annotations

import pytest
from transfer_helpers import CIFAR5K, SHARED_WEIGHTS

from nasxfer.config import validate_config
from nasxfer.evaluation.evaluator import TrainingEvaluator

RESNET20 = SHARED_WEIGHTS / "resnet20-cifar10.th"

pytestmark = pytest.mark.skipif(
    not (RESNET20.exists() and (CIFAR5K / "train").is_dir()), reason="needs ../shared/data (weights, cifar10-5k)"
)


def small_cifar(root, per_class: int, test_per_class: int):
    """An ImageFolder of links to the first images of each class (reading 1,000 test images
    that the search never scores would cost more than the test itself)."""
    for split, count in (("train", per_class), ("test", test_per_class)):
        for class_dir in sorted((CIFAR5K / split).iterdir()):
            target = root / split / class_dir.name
            target.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:count]:
                (target / image.name).symlink_to(image)
    return root


def test_linear_probe_on_pretrained_resnet20_beats_random_features(tmp_path):
    """A linear head on frozen features: 180 CIFAR-10 training images, 60 for validation."""
    root = small_cifar(tmp_path / "cifar", per_class=24, test_per_class=1)
    base = validate_config(
        {
            "data": {"dataset": "imagefolder", "root": str(root), "val_fraction": 0.25, "mode": "memory"},
            "model": {"backbone": {"name": "resnet20", "weights": str(RESNET20)}},
            "train": {"epochs": 20, "batch_size": 256, "optimizer": "adamw", "lr": 0.05, "weight_decay": 0.0, "device": "cpu"},
        }
    )
    evaluator = TrainingEvaluator()
    accuracy = {}
    for weights in (str(RESNET20), "none"):
        trial_dir = tmp_path / weights.replace("/", "_")
        trial_dir.mkdir()
        cfg = base.apply({"model.backbone.weights": weights})
        outcome = evaluator.evaluate(cfg, seed=0, trial_dir=trial_dir, values={})
        assert outcome.metrics["feature_cache"] == 1
        accuracy[weights] = outcome.metrics["val_accuracy"]
    # the checkpoint was trained on CIFAR-10 itself, so its features separate the classes well
    assert accuracy[str(RESNET20)] > 0.6 and accuracy[str(RESNET20)] > accuracy["none"] + 0.2, accuracy
