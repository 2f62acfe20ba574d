"""Using a trained model: load it from a run, feed it images, read predictions.

``Classifier`` wraps a network with its preprocessing, so it takes what an image file
gives (float ``[N, C, H, W]`` in ``[0, 1]`` at the size the model was trained on) and
returns logits. The same module is what ``nasxfer export`` writes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasxfer.errors import NasxferError

_GREY_WEIGHTS = (0.299, 0.587, 0.114)


class Classifier(nn.Module):
    """Preprocessing + network. Input: float images in [0, 1], ``[N, in_channels, H, W]``
    with ``(H, W) == image_size``; output: logits ``[N, len(class_names)]``."""

    def __init__(self, network: nn.Module, payload: dict[str, Any]):
        super().__init__()
        pre = payload["preprocess"]
        self.network = network
        self.class_names: list[str] = list(payload["class_names"])
        self.in_channels = int(payload["in_channels"])
        self.image_size = tuple(int(v) for v in payload["image_size"])
        self.model_channels = int(pre.get("channels") or self.in_channels)
        self.model_size = tuple(pre["image_size"]) if pre.get("image_size") else None
        # Image files are fitted to image_size as training fitted them (data.resize); model
        # files from before that setting were all squashed.
        self.resize: str = ((payload.get("config") or {}).get("data") or {}).get("resize", "squash")
        channels = self.model_channels
        self.register_buffer("mean", _per_channel(pre["mean"], channels))
        self.register_buffer("std", _per_channel(pre["std"], channels))
        self.register_buffer("grey", torch.tensor(_GREY_WEIGHTS).view(1, 3, 1, 1))
        self.metadata = {k: payload.get(k) for k in ("candidate", "class_names", "in_channels", "image_size", "preprocess")}
        self.metadata["resize"] = self.resize
        # The resolved config the network was trained with: what finds its data again (int8 calibration, testing).
        self.trained_config: dict[str, Any] | None = payload.get("config")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images
        if self.model_size is not None and tuple(x.shape[-2:]) != self.model_size:
            # Antialiasing changes only a shrink (enlarging, the usual case, gives the same
            # pixels without it), and ONNX's exporter has no antialiased resize: use it only
            # where it matters, so that a model which enlarges its input exports to ONNX.
            shrinks = any(want < have for want, have in zip(self.model_size, x.shape[-2:]))
            x = F.interpolate(x, size=self.model_size, mode="bilinear", align_corners=False, antialias=shrinks)
        if self.in_channels == 1 and self.model_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        elif self.in_channels == 3 and self.model_channels == 1:
            x = (x * self.grey).sum(dim=1, keepdim=True)
        return self.network((x - self.mean) / self.std)

    @torch.no_grad()
    def predict(self, images: Sequence[Any], top_k: int = 1, batch_size: int = 64) -> list[list[tuple[str, float]]]:
        """Top-k ``(class name, probability)`` for each image: a path, a PIL image, or a
        float tensor ``[C, H, W]`` in [0, 1]. Raises on an unreadable file; see
        ``predict_files`` to skip those instead."""
        tensors = [self.to_input(item) for item in images]
        return self._predict_tensors(tensors, top_k, batch_size)

    def to_input(self, item: Any) -> torch.Tensor:
        """One image as the float ``[C, H, W]`` tensor this classifier takes."""
        if isinstance(item, torch.Tensor):
            x = item.float()
            if tuple(x.shape[-2:]) != self.image_size:
                x = F.interpolate(x[None], size=self.image_size, mode="bilinear", align_corners=False, antialias=True)[0]
            return x
        from PIL import Image, ImageOps

        from nasxfer.data.images import decode, fit_to_size

        if isinstance(item, Image.Image):
            mode = "L" if self.in_channels == 1 else "RGB"
            image = fit_to_size(ImageOps.exif_transpose(item).convert(mode), self.image_size, self.resize)
            pixels = torch.from_numpy(np.array(image, dtype=np.uint8))
            pixels = pixels[None] if self.in_channels == 1 else pixels.permute(2, 0, 1)
            return pixels.float() / 255
        pixels = decode(str(item), self.image_size, grey=self.in_channels == 1, resize=self.resize)
        if pixels is None:
            raise NasxferError(f"cannot read image '{item}'")
        return torch.from_numpy(pixels).float() / 255

    def _predict_tensors(self, tensors: list[torch.Tensor], top_k: int, batch_size: int):
        self.eval()
        device = self.mean.device
        k = min(top_k, len(self.class_names))
        out = []
        for start in range(0, len(tensors), batch_size):
            batch = torch.stack(tensors[start : start + batch_size]).to(device)
            probs = self(batch).float().softmax(dim=1)
            values, indices = probs.topk(k, dim=1)
            for row_values, row_indices in zip(values.tolist(), indices.tolist()):
                out.append([(self.class_names[i], p) for i, p in zip(row_indices, row_values)])
        return out


@dataclass
class FilePrediction:
    path: str
    top: list[tuple[str, float]] | None  # None when the file could not be read
    error: str | None = None


def predict_files(classifier: Classifier, paths: Iterable[str | Path], top_k: int = 1, batch_size: int = 64) -> list[FilePrediction]:
    """Predict for image files and folders (searched recursively, hidden folders and
    non-image files left out, as in training); unreadable files are returned with an error
    instead of stopping the rest."""
    from nasxfer.data.images import list_image_files

    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():  # walked exactly as training walks a class folder
            files += [Path(p) for p in list_image_files(path)]
        else:
            files.append(path)
    readable, results = [], []
    for path in files:
        try:
            readable.append((path, classifier.to_input(path)))
        except NasxferError:
            results.append(FilePrediction(str(path), None, "unreadable image" if path.exists() else "no such file"))
    tops = classifier._predict_tensors([t for _, t in readable], top_k, batch_size) if readable else []
    results += [FilePrediction(str(path), top) for (path, _), top in zip(readable, tops)]
    order = {str(p): i for i, p in enumerate(files)}
    return sorted(results, key=lambda r: order[r.path])


# --------------------------------------------------------------------------- loading


def model_file(store, trial: int | None = None) -> tuple[Path, str | None, str]:
    """``(path, sha256, description)`` of the model to use: the finetuned final model,
    else (or with ``trial``) a trial's model."""
    from nasxfer.search.pick import choose_trial

    if trial is None:
        final = store.path / "final" / "model.pt"
        if final.is_file():
            events = [e for e in store.events() if e.get("event") == "finetuned"]
            return final, (events[-1].get("sha256") if events else None), "the final model"
    record = choose_trial(store, trial)
    path = store.trial_dir(record.number) / "model.pt"
    return path, record.checksums.get("model.pt"), f"trial {record.number}'s model (not finetuned)"


def load_classifier(
    path: str | Path, sha256: str | None, device: str = "cpu", trust_factory: bool = False, verify: bool = True
) -> Classifier:
    """The model file at ``path`` as a ``Classifier``; see ``model_files.open_model_file``
    for what ``sha256``, ``trust_factory`` and ``verify`` allow."""
    from nasxfer.storage.model_files import open_model_file, rebuild_model

    payload = open_model_file(path, sha256, trust_factory=trust_factory, verify=verify)
    return Classifier(rebuild_model(payload), payload).to(device).eval()


def load_model(
    run: str = "latest",
    runs_dir: str | Path | None = None,
    trial: int | None = None,
    device: str = "cpu",
    trust_factory: bool = False,
    verify: bool = True,
) -> Classifier:
    """A run's model, ready to use: the finetuned final model, or a trial's with ``trial``.

    The file must match the sha256 its run journalled (``verify=False`` accepts a file with
    none recorded); a model whose backbone is a ``factory`` is rebuilt by calling that
    function, so it loads only with ``trust_factory=True``.

    ``model(images)`` takes float images in [0, 1] (``[N, C, H, W]`` at
    ``model.image_size``) and returns logits; ``model.predict([...paths or PIL
    images...], top_k=3)`` returns ``(class name, probability)`` lists.
    """
    from nasxfer.storage.store import default_runs_dir, resolve_run

    store = resolve_run(Path(runs_dir) if runs_dir else default_runs_dir(), run)
    path, sha256, _ = model_file(store, trial)
    return load_classifier(path, sha256, device, trust_factory=trust_factory, verify=verify)


def _per_channel(values: Sequence[float], channels: int) -> torch.Tensor:
    values = list(values)
    if len(values) == 1:
        values = values * channels
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)


def predictions_as_rows(results: list[FilePrediction], top_k: int) -> list[dict[str, Any]]:
    """One flat row per readable image: path, then class_i / probability_i for i in 1..k."""
    rows = []
    for result in results:
        if result.top is None:
            continue
        row: dict[str, Any] = {"path": result.path}
        for i, (name, prob) in enumerate(result.top, start=1):
            row[f"class_{i}"] = name
            row[f"probability_{i}"] = round(prob, 6)
        rows.append(row)
    return rows


def predictions_as_json(results: list[FilePrediction]) -> str:
    return json.dumps(
        [
            {"path": r.path, "error": r.error} if r.top is None
            else {"path": r.path, "predictions": [{"class": c, "probability": round(p, 6)} for c, p in r.top]}
            for r in results
        ],
        indent=2,
    )
