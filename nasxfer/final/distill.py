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

import torch

from nasxfer.errors import NasxferError
from nasxfer.training.distill import teacher_fits, teacher_logits

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
    teacher_fits(teacher, data, FIELD)


@torch.no_grad()
def teacher_accuracy(teacher, split, device) -> float | None:
    """The teacher's accuracy on an in-memory split (None for a streamed one)."""
    if not hasattr(split, "images") or len(split) == 0:
        return None
    predictions = teacher_logits(teacher, split, device).argmax(1).cpu()
    return float((predictions == split.labels).float().mean())
