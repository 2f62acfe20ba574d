"""``nasxfer export --format onnx --quantize int8``: the int8 model and what it costs.

The model (preprocessing included, as every export) is written as float ONNX, quantized
with static post-training quantization (``deploy.quantize``: per-channel weights,
calibrated on ``calibration`` images drawn from the training split of the data the model
was trained on), and both are then run in ONNX Runtime on the test split: their test
accuracy, how often their predictions agree, their size on disk and their CPU latency
(batch 1, ``threads`` threads, ``deploy.timing``'s interleaved rounds) go into the
sidecar JSON (``quantization``) and the one line the command prints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from nasxfer.errors import NasxferError
from nasxfer.final.export import describe
from nasxfer.final.inference import Classifier
from nasxfer.storage.atomic import atomic_write_json

#: Below this share of test images with the float model's prediction, the export says so.
AGREEMENT_FLOOR = 0.99
#: The speed-up int8 should give; below it the report says why it did not.
EXPECTED_SPEEDUP = 2.0


def export_int8(
    classifier: Classifier, output: Path, source: str, data, calibration: int = 300, threads: int = 1, seed: int = 0
) -> dict[str, Any]:
    """Write ``classifier`` as int8 ONNX to ``output`` (and ``output.json``), measured on
    ``data`` (the model's ``LoadedData``); returns the ``quantization`` report."""
    from nasxfer.deploy.onnx_graph import write_onnx
    from nasxfer.deploy.quantize import quantize_int8
    from nasxfer.deploy.timing import ort_session, time_interleaved

    if calibration < 1:
        raise NasxferError("--calibration: needs at least 1 training image")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    classifier = classifier.cpu().eval()
    example = torch.rand(2, classifier.in_channels, *classifier.image_size)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        float_path = Path(tmp) / "float.onnx"
        write_onnx(classifier, example, float_path)
        picked = _sample(len(data.train), calibration, seed)
        quantize_int8(float_path, output, _batches(data.train, picked, 32))
        float_bytes = float_path.stat().st_size
        # Accuracy on every thread (it is not what is timed); latency on the fixed count.
        fast = {"float": ort_session(str(float_path), threads=0), "int8": ort_session(str(output), threads=0)}
        predictions, labels = {k: [] for k in fast}, []
        for batch, batch_labels in _batches(data.test, np.arange(len(data.test)), 128, labels=True):
            labels.append(batch_labels)
            for name, session in fast.items():
                predictions[name].append(session.run(None, {"images": batch})[0].argmax(1))
        labels = np.concatenate(labels)
        preds = {k: np.concatenate(v) for k, v in predictions.items()}
        timed = {"float": ort_session(str(float_path), threads), "int8": ort_session(str(output), threads)}
        one = next(_batches(data.test, np.arange(1), 1))
        runners = {name: (lambda s=s: s.run(None, {"images": one})) for name, s in timed.items()}
        timing = time_interleaved(runners, one_thread=threads == 1)
        if any(t.busy for t in timing.values()):  # a busy spell: time again, keep each model's best
            again = time_interleaved(runners, rounds=7, one_thread=threads == 1)
            timing = {name: timing[name].better(again[name]) for name in timing}
    report = _report(preds, labels, float_bytes, output.stat().st_size, timing, threads, len(picked))
    sidecar = describe(classifier, "onnx", source)
    sidecar["quantization"] = report
    atomic_write_json(output.with_name(output.name + ".json"), sidecar)
    return report


def data_of(classifier: Classifier):
    """The data ``classifier`` was trained on, split as its run split it (its own config and seed)."""
    from nasxfer.config import validate_config
    from nasxfer.data import load_dataset

    if not classifier.trained_config:
        raise NasxferError("--quantize int8: this model file carries no config, so its training data cannot be found")
    config = validate_config(classifier.trained_config)
    return load_dataset(config.data, seed=config.seed), config.seed


def _report(preds, labels, float_bytes: int, int8_bytes: int, timing, threads: int, calibrated: int) -> dict[str, Any]:
    agreement = float((preds["float"] == preds["int8"]).mean()) if len(labels) else 1.0
    speedup = timing["float"].median_ms / max(timing["int8"].median_ms, 1e-9)
    report = {
        "method": "onnxruntime quantize_static: QDQ, activations uint8, weights int8 per channel, MinMax calibration",
        "calibration_images": calibrated,
        "test_images": int(len(labels)),
        "float": {
            "test_accuracy": float((preds["float"] == labels).mean()) if len(labels) else None,
            "bytes": float_bytes,
            "latency": timing["float"].as_dict(),
        },
        "int8": {
            "test_accuracy": float((preds["int8"] == labels).mean()) if len(labels) else None,
            "bytes": int8_bytes,
            "latency": timing["int8"].as_dict(),
        },
        "agreement": agreement,
        "differ": int((preds["float"] != preds["int8"]).sum()),
        "speedup": speedup,
        "runtime": {"name": "onnxruntime", "version": _ort_version(), "threads": threads, "batch_size": 1},
        "notes": [],
    }
    if agreement < AGREEMENT_FLOOR:
        report["notes"].append(
            f"int8 predictions differ from float on {1 - agreement:.1%} of the test images "
            f"({report['differ']} of {len(labels)}), more than the {1 - AGREEMENT_FLOOR:.0%} expected"
        )
    if speedup < EXPECTED_SPEEDUP:
        report["notes"].append(f"int8 is {speedup:.2f}x as fast as float here, not {EXPECTED_SPEEDUP:g}x: " + _why_slow(timing))
    return report


def _why_slow(timing) -> str:
    reasons = []
    if not _cpu_has_int8_dot_product():
        reasons.append("this CPU has no VNNI int8 dot-product instructions")
    if timing["float"].median_ms < 5:
        reasons.append(
            f"the float model takes only {timing['float'].median_ms:.2f} ms at batch 1, so fixed per-operator "
            "costs (launching each kernel, quantizing and dequantizing activations between them) are a large "
            "share that int8 does not shrink"
        )
    if any(t.busy for t in timing.values()):
        reasons.append("the machine was busy while timing (see latency.busy)")
    return "; ".join(reasons) or "the int8 kernels gave less than the arithmetic they save on this CPU"


def _cpu_has_int8_dot_product() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # unknown: do not blame the CPU
    return "avx512_vnni" in flags or "avx_vnni" in flags or "asimddp" in flags


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def summary_line(report: dict[str, Any]) -> str:
    """The trade in one line: accuracy, agreement, size, latency, float beside int8."""
    f, q = report["float"], report["int8"]
    acc = (
        f"test accuracy {q['test_accuracy']:.4f} (float {f['test_accuracy']:.4f}), "
        if q["test_accuracy"] is not None else ""
    )  # fmt: skip
    run = report["runtime"]
    return (
        f"int8: {acc}agreement {report['agreement']:.2%}, "
        f"{q['bytes'] / 1e6:.3g} MB (float {f['bytes'] / 1e6:.3g} MB), "
        f"latency {q['latency']['median_ms']:.3g} ms median / {q['latency']['p90_ms']:.3g} ms p90 "
        f"(float {f['latency']['median_ms']:.3g} / {f['latency']['p90_ms']:.3g} ms; {report['speedup']:.2f}x; "
        f"ONNX Runtime CPU, batch 1, {run['threads']} thread{'s' if run['threads'] != 1 else ''})"
    )


def _sample(count: int, wanted: int, seed: int) -> np.ndarray:
    """``wanted`` distinct indices of ``count``, drawn with ``seed`` (all of them when fewer)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(count)[: min(wanted, count)])


def _batches(split, indices: np.ndarray, size: int, labels: bool = False) -> Iterator:
    """Float32 ``[N, C, H, W]`` batches in [0, 1] (what an exported model takes) of the
    ``indices`` of an in-memory or streamed split; an unreadable streamed file is left out."""
    for start in range(0, len(indices), size):
        chunk = indices[start : start + size]
        if hasattr(split, "images"):
            images, ys = split.images[torch.as_tensor(chunk)], split.labels[torch.as_tensor(chunk)]
        else:
            items = [split.dataset[int(i)] for i in chunk]
            items = [item for item in items if item is not None]
            if not items:
                continue
            images = torch.stack([torch.as_tensor(image) for image, _ in items])
            ys = torch.tensor([label for _, label in items])
        batch = (images.float() / 255).numpy()
        yield (batch, ys.numpy()) if labels else batch
