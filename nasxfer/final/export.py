"""Writing a trained model in the formats people deploy: TorchScript, ONNX, a state dict.

Every export includes the preprocessing (the exported module takes float images in
[0, 1] and normalises them itself) and gets a sidecar ``<file>.json`` naming the input it
expects and the class names; TorchScript files carry the same JSON inside as well.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from nasxfer.deploy.onnx_graph import write_onnx
from nasxfer.errors import NasxferError
from nasxfer.storage.atomic import atomic_write_bytes, atomic_write_json
from nasxfer.final.inference import Classifier

FORMATS = ("torchscript", "onnx", "state_dict")
SUFFIX = {"torchscript": ".ts", "onnx": ".onnx", "state_dict": ".pt"}


def describe(classifier: Classifier, fmt: str, source: str) -> dict[str, Any]:
    """The sidecar: what goes in, what comes out, and where the model came from."""
    channels = classifier.in_channels
    height, width = classifier.image_size
    return {
        "format": fmt,
        "input": {
            "name": "images",
            "shape": ["N", channels, height, width],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "note": "RGB (or grey) pixels divided by 255; normalisation is inside the model",
            "resize": classifier.resize,  # how training fitted images to height x width (data.resize)
        },
        "output": {"name": "logits", "shape": ["N", len(classifier.class_names)], "softmax": "not applied"},
        "class_names": classifier.class_names,
        "preprocess": classifier.metadata["preprocess"],
        "candidate": classifier.metadata["candidate"],
        "source": source,
        "exported": datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }


def export_model(classifier: Classifier, fmt: str, output: Path, source: str) -> Path:
    """Write ``classifier`` as ``fmt`` to ``output`` (and ``output.json``); returns the path."""
    if fmt not in FORMATS:
        raise NasxferError(f"--format: unknown format '{fmt}' (choices: {', '.join(FORMATS)})")
    output = Path(output)
    classifier = classifier.cpu().eval()
    sidecar = describe(classifier, fmt, source)
    example = torch.rand(2, classifier.in_channels, *classifier.image_size)
    if fmt == "torchscript":
        _write_torchscript(classifier, example, output, sidecar)
    elif fmt == "onnx":
        write_onnx(classifier, example, output)
    else:
        payload = {"state_dict": classifier.network.state_dict(), "nasxfer": json.dumps(sidecar)}
        import io

        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write_bytes(output, buffer.getvalue())
    atomic_write_json(output.with_name(output.name + ".json"), sidecar)
    return output


def _write_torchscript(classifier: Classifier, example: torch.Tensor, output: Path, sidecar: dict) -> None:
    import io

    # TorchScript is deprecated upstream in favour of torch.export, but it is still what
    # C++/mobile runtimes load; the warnings say nothing a user of nasxfer can act on.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # Tracing warns where Python values become constants (shapes, flags); the exported
        # model is meant for the fixed input size recorded beside it, which is what tracing keeps.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(classifier, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={"nasxfer.json": json.dumps(sidecar)})
    atomic_write_bytes(output, buffer.getvalue())


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """An exported TorchScript model and the JSON it carries."""
    extra = {"nasxfer.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        # Tracing warns where Python values become constants (shapes, flags); the exported
        # model is meant for the fixed input size recorded beside it, which is what tracing keeps.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra["nasxfer.json"])
