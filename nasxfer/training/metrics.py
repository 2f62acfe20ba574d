"""Classification metrics from a confusion matrix: what every evaluation reports."""

from __future__ import annotations

import torch


def confusion_matrix(preds: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    index = labels.long() * num_classes + preds.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def classification_metrics(confusion: torch.Tensor) -> dict[str, float]:
    """Accuracy and macro-F1 from a confusion matrix (rows: true class, columns: predicted)."""
    confusion = confusion.double()
    total = confusion.sum().item()
    true_pos = confusion.diag()
    precision = true_pos / confusion.sum(0).clamp(min=1)
    recall = true_pos / confusion.sum(1).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    present = confusion.sum(1) > 0  # classes absent from this split do not drag macro-F1 down
    return {
        "accuracy": true_pos.sum().item() / max(total, 1),
        "f1": f1[present].mean().item() if present.any() else 0.0,
    }
