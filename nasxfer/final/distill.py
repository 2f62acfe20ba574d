"""``finetune.distill``: the teacher, found and loaded, and the distillation loss for one
final training (``training.distill`` holds the loss itself).

The teacher is a trial of the same run (its number), another run's model (``run:<id>``:
its final model, else its best trial's) or a nasxfer model file. It must know the same
classes, in the same order, as the student's data. It is used as a ``Classifier``: it
takes images in [0, 1] and applies its own preprocessing, so a teacher with another input
size or normalisation (a pretrained transfer model) teaches a small from-scratch student.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nasxfer.errors import NasxferError

FIELD = "finetune.distill.teacher"


def load_teacher(store, settings, trust_factory: bool = False):
    """``(Classifier, description)`` of the teacher ``settings`` (a ``DistillConfig``) names."""
    from nasxfer.final.inference import load_classifier, model_file
    from nasxfer.search.trial import TrialState
    from nasxfer.storage.store import resolve_run

    teacher = settings.teacher
    if isinstance(teacher, int):
        match = [r for r in store.history() if r.number == teacher]
        if not match or match[0].state in (TrialState.FAILED, TrialState.REJECTED):
            raise NasxferError(f"{FIELD}: run '{store.run_id}' has no trained trial {teacher} (see nasxfer report {store.run_id})")
        path, sha256, what = model_file(store, teacher)
        what = f"trial {teacher} of this run"
    elif teacher.startswith("run:"):
        other = resolve_run(store.path.parent, teacher[4:].strip())
        path, sha256, what = model_file(other)
        what = f"run {other.run_id}, {what}"
    else:
        path, sha256 = Path(teacher).expanduser(), None
        if not path.is_file():
            raise NasxferError(f"{FIELD}: no such model file '{teacher}' (a trial number, run:<id> or a .pt model file)")
        what = f"model file {path}"
    return load_classifier(path, sha256, trust_factory=trust_factory, verify=sha256 is not None), what


def check_teacher(teacher, data) -> None:
    """A teacher must know the student's classes, in order, and take its images."""
    if list(teacher.class_names) != list(data.class_names):
        raise NasxferError(
            f"{FIELD}: the teacher's classes {teacher.class_names[:5]} are not the student's {list(data.class_names)[:5]} "
            "(same names, same order); distil from a model trained on the same data"
        )
    if teacher.in_channels != data.channels:
        raise NasxferError(f"{FIELD}: the teacher takes {teacher.in_channels}-channel images, the data has {data.channels}")


def _teach(teacher, images01: torch.Tensor) -> torch.Tensor:
    """The teacher's logits on float images in [0, 1] at any size (resized to its own)."""
    if tuple(images01.shape[-2:]) != tuple(teacher.image_size):
        images01 = F.interpolate(images01, size=teacher.image_size, mode="bilinear", align_corners=False, antialias=True)
    return teacher(images01).float()


@torch.no_grad()
def teacher_logits(teacher, split, device, batch_size: int = 256) -> torch.Tensor:
    """The teacher's logits on every image of an in-memory split, in order, on ``device``."""
    out = []
    for start in range(0, len(split), batch_size):
        images = split.images[start : start + batch_size].to(device).float() / 255
        out.append(_teach(teacher, images))
    return torch.cat(out) if out else torch.zeros(0, len(teacher.class_names), device=device)


@torch.no_grad()
def teacher_accuracy(teacher, split, device) -> float | None:
    """The teacher's accuracy on an in-memory split (None for a streamed one)."""
    if not hasattr(split, "images") or len(split) == 0:
        return None
    predictions = teacher_logits(teacher, split, device).argmax(1).cpu()
    return float((predictions == split.labels).float().mean())


class TeacherLogits:
    """The teacher's logits per training image, each image computed once per finetune.

    Every seed's training split is a subset of the same pool (train+val less a holdout
    carved per seed), so rows are kept by the image's bytes and a later seed computes only
    the images no earlier one had."""

    def __init__(self, teacher, device):
        self.teacher, self.device = teacher.to(device).eval(), device
        self.rows: dict[bytes, torch.Tensor] = {}
        self.computed = 0  # images the teacher ran on (the tests read it)

    def for_split(self, split) -> torch.Tensor:
        import hashlib

        flat = split.images.reshape(len(split), -1).numpy()
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
        missing = sorted({i for i, key in enumerate(keys) if key not in self.rows})
        if missing:
            fresh = teacher_logits(self.teacher, split.subset(missing), self.device)
            self.rows.update({keys[i]: row for i, row in zip(missing, fresh)})
            self.computed += len(missing)
        if not keys:
            return torch.zeros(0, len(self.teacher.class_names), device=self.device)
        return torch.stack([self.rows[key] for key in keys])


def distillation_for(teacher, settings, train_split, augment, preprocess, device, cache: TeacherLogits | None = None) -> tuple[Any, Any, str]:
    """``(loss_fn, split for the training loader, how the teacher's logits are computed)``.

    Without augmentation on an in-memory split the logits are computed once
    (``CachedTeacher`` with rows from ``cache``, the loader then yields image indices);
    otherwise the teacher runs on each batch as the student sees it (``BatchTeacher``), the
    student's normalisation undone first so the teacher applies its own."""
    from nasxfer.training.distill import BatchTeacher, CachedTeacher, indexed_split

    teacher = teacher.to(device).eval()
    T, alpha = settings.temperature, settings.alpha
    if hasattr(train_split, "images") and not augment.active:
        logits = (cache or TeacherLogits(teacher, device)).for_split(train_split)
        loss = CachedTeacher(logits, train_split.labels.to(device), T, alpha)
        return loss, indexed_split(train_split), "computed once on the training images (no augmentation)"
    mean = torch.tensor(preprocess.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std, device=device).view(1, -1, 1, 1)
    loss = BatchTeacher(lambda x: _teach(teacher, (x.float() * std + mean).clamp(0, 1)), T, alpha)
    why = "augmentation is on" if augment.active else "the training images are streamed"
    return loss, train_split, f"computed on each training batch as the student sees it ({why})"
