"""Using a trained model: load it from a run, feed it images, read predictions.

``Classifier`` wraps a network with its preprocessing, so it takes what an image file
gives (float ``[N, C, H, W]`` in ``[0, 1]`` at the size the model was trained on) and
returns logits. The same module is what ``nasxfer export`` writes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from nasxfer.errors import NasxferError
from nasxfer.models.classifier import Classifier
from nasxfer.search.pick import model_file
from nasxfer.storage.model_files import load_classifier



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
