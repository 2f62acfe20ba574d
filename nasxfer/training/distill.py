"""Knowledge distillation (Hinton, Vinyals & Dean, 2015, "Distilling the Knowledge in a
Neural Network"): the student learns from the teacher's softened outputs and the labels.

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
         + (1 - alpha) * cross_entropy(student, labels)

The T^2 keeps the soft term's gradients the same size as the hard term's whatever T is
(the paper's section 2). Two ways to get the teacher's logits, both exact:

* ``CachedTeacher``: without augmentation a training image is the same tensor every epoch,
  so the teacher's logits on the training split are computed once and looked up. The
  loader then yields each image's *index* in place of its label (``indexed_split``), and
  the loss maps the index to the label and the cached logits.
* ``BatchTeacher``: with augmentation (crops, flips, mixup) the student sees a new image
  every step, and soft targets computed on the un-augmented image would not match it; the
  teacher then runs (without gradients) on the very batch the student sees.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s loss (module docstring); ``labels`` int64 class indices."""
    student, teacher = student.float(), teacher.float()
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1),
        reduction="batchmean", log_target=True,
    )  # fmt: skip
    hard = F.cross_entropy(student, labels)
    return alpha * temperature**2 * soft + (1 - alpha) * hard


class CachedTeacher:
    """The loss with the teacher's logits on every training image computed once; the batches'
    targets are image indices (``indexed_split``)."""

    mode = "cached"

    def __init__(self, logits: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float):
        self.logits, self.labels = logits, labels
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, student: torch.Tensor, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return distillation_loss(student, self.logits[index], self.labels[index], self.temperature, self.alpha)


class BatchTeacher:
    """The loss with the teacher run on each (augmented) batch the student trains on.

    ``teacher(x)`` takes the batch as the student's loader made it and returns logits.
    A mixed batch (mixup, cutmix) has soft labels; its hard term is the soft cross-entropy."""

    mode = "batch"

    def __init__(self, teacher: Callable[[torch.Tensor], torch.Tensor], temperature: float, alpha: float):
        self.teacher = teacher
        self.temperature, self.alpha = temperature, alpha

    def __call__(self, student: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher = self.teacher(x)
        if y.dtype == torch.long:
            return distillation_loss(student, teacher, y, self.temperature, self.alpha)
        soft = F.kl_div(F.log_softmax(student.float() / self.temperature, dim=1),
                        F.log_softmax(teacher.float() / self.temperature, dim=1), reduction="batchmean", log_target=True)  # fmt: skip
        hard = torch.sum(-y * F.log_softmax(student.float(), dim=1), dim=1).mean()
        return self.alpha * self.temperature**2 * soft + (1 - self.alpha) * hard


def indexed_split(split):
    """``split`` with each image's index in place of its label (for ``CachedTeacher``)."""
    from nasxfer.data.containers import Split

    return Split(split.images, torch.arange(len(split), dtype=torch.int64))


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


def teacher_fits(teacher, data, field: str) -> None:
    """A teacher (a ``Classifier``) must know the student's classes, in order, and take its
    images; a ``NasxferError`` naming ``field`` otherwise."""
    from nasxfer.errors import NasxferError

    if list(teacher.class_names) != list(data.class_names):
        raise NasxferError(
            f"{field}: the teacher's classes {teacher.class_names[:5]} are not the student's {list(data.class_names)[:5]} "
            "(same names, same order); distil from a model trained on the same data"
        )
    if teacher.in_channels != data.channels:
        raise NasxferError(f"{field}: the teacher takes {teacher.in_channels}-channel images, the data has {data.channels}")
