"""finetune.distill: Hinton et al.'s loss, the teacher's logits cached or computed per
batch, and the CLI end to end with a trial of the same run as the teacher."""

import json

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.storage.store import resolve_run
from nasxfer.training.distill import BatchTeacher, CachedTeacher, distillation_loss

cli = CliRunner()


def test_the_loss_is_hintons():
    torch.manual_seed(0)
    student, teacher, labels = torch.randn(6, 4), torch.randn(6, 4), torch.randint(0, 4, (6,))
    assert torch.allclose(distillation_loss(student, teacher, labels, 3.0, 0.0), F.cross_entropy(student, labels))
    # alpha 1: only the soft term, T^2 * KL(p_teacher || p_student) at temperature T
    p = F.softmax(teacher / 3, dim=1)
    kl = (p * (p.log() - F.log_softmax(student / 3, dim=1))).sum(1).mean()
    assert torch.allclose(distillation_loss(student, teacher, labels, 3.0, 1.0), 9 * kl, atol=1e-6)
    assert distillation_loss(teacher, teacher, labels, 2.0, 1.0).abs() < 1e-6  # a student equal to its teacher


def test_cached_logits_give_the_same_loss_as_the_teacher_on_the_batch():
    torch.manual_seed(0)
    teacher = torch.nn.Linear(5, 3)
    images, labels = torch.randn(10, 5), torch.randint(0, 3, (10,))
    with torch.no_grad():
        cached = CachedTeacher(teacher(images), labels, 4.0, 0.7)
    batch = BatchTeacher(teacher, 4.0, 0.7)
    index = torch.tensor([3, 1, 7])
    student = torch.randn(3, 3)
    assert torch.allclose(cached(student, images[index], index), batch(student, images[index], labels[index]), atol=1e-6)
    # a mixed batch (mixup) has class probabilities for labels: the hard term is the soft cross-entropy
    soft = F.one_hot(labels[index], 3).float()
    assert torch.allclose(batch(student, images[index], soft), batch(student, images[index], labels[index]), atol=1e-6)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    import copy

    import yaml

    from conftest import TINY

    data = copy.deepcopy(TINY)
    data["data"]["augment"] = "none"  # the teacher's logits are then computed once
    data["search"]["budget"]["trials"] = 2
    data["train"]["epochs"] = 1
    root = tmp_path_factory.mktemp("distill")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    runs = root / "runs"
    assert cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs)]).exit_code == 0
    return runs, resolve_run(runs, "latest")


def test_finetune_distils_from_a_trial_of_the_same_run(searched):
    runs, store = searched
    result = cli.invoke(app, ["finetune", "latest", "--trial", "2", "--epochs", "1", "--runs-dir", str(runs),
                              "--set", "finetune.distill.teacher=1", "--set", "finetune.distill.temperature=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((store.path / "final" / "metrics.json").read_text())
    d = metrics["distill"]
    assert d["teacher"] == "trial 1 of this run" and d["temperature"] == 2 and d["alpha"] == 0.9
    assert d["teacher_logits"].startswith("computed once") and 0 <= d["teacher_test_accuracy"] <= 1
    assert "distilled from trial 1 of this run" in result.output and "computed once" in result.output
    assert metrics["trial"] == 2 and 0 <= metrics["test_accuracy"] <= 1


def test_a_teacher_from_a_model_file_with_augmentation_runs_on_each_batch(searched, tmp_path, monkeypatch):
    import shutil

    import nasxfer.data.loader as loader
    from nasxfer.data.augment import Augment
    from nasxfer.final.finetune import finetune_run

    runs, store = searched
    copy = tmp_path / "teacher.pt"
    shutil.copy(store.trial_dir(1) / "model.pt", copy)
    # Finetuned with augmentation (the final training reads augment_for from the loader at
    # call time): the teacher must see the augmented batches, not cached clean ones.
    monkeypatch.setattr(loader, "augment_for", lambda cfg, data: Augment(crop_padding=1, hflip=True))
    metrics = finetune_run(store, trial=2, epochs=1, overwrite=True, overrides=[f"finetune.distill.teacher={copy}"])
    how = metrics["distill"]["teacher_logits"]
    assert metrics["distill"]["teacher"] == f"model file {copy}"
    assert how.startswith("computed on each training batch") and "augmentation is on" in how


@pytest.mark.parametrize(
    "teacher, message",
    [("99", "finetune.distill.teacher: run '"), ("/no/such/teacher.pt", "finetune.distill.teacher: no such model file"), ("run:nope", "nope")],
)
def test_a_bad_teacher_is_one_line_and_writes_nothing(searched, teacher, message, tmp_path):
    import shutil

    runs, _ = searched
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    store = resolve_run(copy, "latest")
    shutil.rmtree(store.path / "final", ignore_errors=True)
    result = cli.invoke(app, ["finetune", "latest", "--epochs", "1", "--runs-dir", str(copy), "--set", f"finetune.distill.teacher={teacher}"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and not (store.path / "final").exists()


def test_the_teachers_logits_are_computed_once_per_image_across_seeds(searched):
    from nasxfer.data.containers import Split
    from nasxfer.final.distill import load_teacher
    from nasxfer.training.distill import TeacherLogits
    from nasxfer.config import DistillConfig

    _, store = searched
    teacher, _ = load_teacher(store, DistillConfig(teacher=1))
    cache = TeacherLogits(teacher, torch.device("cpu"))
    images = torch.randint(0, 255, (10, 3, 8, 8), dtype=torch.uint8)
    first = Split(images[:7], torch.zeros(7, dtype=torch.long))
    second = Split(images[3:], torch.zeros(7, dtype=torch.long))  # 4 images in common with the first
    a, b = cache.for_split(first), cache.for_split(second)
    assert cache.computed == 10 and torch.allclose(a[3:], b[:4])
    with torch.no_grad():
        assert torch.allclose(b, teacher(images[3:].float() / 255), atol=1e-5)
