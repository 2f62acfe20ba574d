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

from typing import Callable

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
