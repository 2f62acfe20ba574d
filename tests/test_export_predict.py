"""finetune → export → predict on a tiny run, end to end; exported outputs match PyTorch's."""

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import nasxfer
from nasxfer.cli import app
from nasxfer.final.export import load_torchscript
from nasxfer.storage.store import resolve_run

cli = CliRunner()
TOLERANCE = 1e-4  # float32 through different kernels (TorchScript, ONNX Runtime): absolute, on logits


@pytest.fixture(scope="module")
def finetuned_run(tmp_path_factory):
    import yaml

    from conftest import TINY

    root = tmp_path_factory.mktemp("final")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    runs = root / "runs"
    assert cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs), "--set", "search.budget.trials=2"]).exit_code == 0
    result = cli.invoke(app, ["finetune", "latest", "--epochs", "1", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    return runs, resolve_run(runs, "latest")


def images_folder(tmp_path, count=5, size=8):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_finetune_writes_torchscript_by_default_and_it_matches(finetuned_run):
    runs, store = finetuned_run
    model = nasxfer.load_model("latest", runs_dir=runs)
    scripted, meta = load_torchscript(store.path / "final" / "model.ts")
    assert meta["class_names"] == model.class_names and meta["input"]["shape"][1:] == [3, 8, 8]
    batch = torch.rand(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(scripted(batch), model(batch), atol=TOLERANCE)
    sidecar = json.loads((store.path / "final" / "model.ts.json").read_text())
    assert sidecar["preprocess"]["mean"] == model.metadata["preprocess"]["mean"]


def test_export_onnx_matches_pytorch(finetuned_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    runs, store = finetuned_run
    target = tmp_path / "model.onnx"
    result = cli.invoke(app, ["export", "latest", "--format", "onnx", "-o", str(target), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    batch = torch.rand(3, 3, 8, 8)
    [logits] = session.run(None, {"images": batch.numpy()})
    with torch.no_grad():
        expected = nasxfer.load_model("latest", runs_dir=runs)(batch).numpy()
    assert np.allclose(logits, expected, atol=TOLERANCE)
    assert json.loads((tmp_path / "model.onnx.json").read_text())["format"] == "onnx"


def test_export_state_dict_and_a_trial(finetuned_run, tmp_path):
    runs, _ = finetuned_run
    target = tmp_path / "weights.pt"
    result = cli.invoke(app, ["export", "latest", "-f", "state_dict", "--trial", "1", "-o", str(target), "--runs-dir", str(runs)])
    assert result.exit_code == 0 and "trial 1" in result.output
    payload = torch.load(target, weights_only=True)
    model = nasxfer.load_model("latest", runs_dir=runs, trial=1)
    assert set(payload["state_dict"]) == set(model.network.state_dict())
    assert json.loads(payload["nasxfer"])["class_names"] == model.class_names


def test_predict_folder_to_csv_with_a_row_per_image(finetuned_run, tmp_path):
    runs, _ = finetuned_run
    folder = images_folder(tmp_path)
    (folder / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "preds.csv"
    result = cli.invoke(app, ["predict", "latest", str(folder), "--top-k", "2", "-o", str(out), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "broken.png" in result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5 and {r["path"].rsplit("/", 1)[-1] for r in rows} == {f"img{i}.png" for i in range(5)}
    model = nasxfer.load_model("latest", runs_dir=runs)
    for row in rows:
        assert row["class_1"] in model.class_names and float(row["probability_1"]) >= float(row["probability_2"])
    # the CSV agrees with the Python API on the same file
    [[(name, prob), _]] = model.predict([folder / "img0.png"], top_k=2)
    first = next(r for r in rows if r["path"].endswith("img0.png"))
    assert first["class_1"] == name and abs(float(first["probability_1"]) - prob) < 1e-5


def test_predict_json_reports_unreadable_files(finetuned_run, tmp_path):
    runs, _ = finetuned_run
    folder = images_folder(tmp_path, count=2)
    out = tmp_path / "preds.json"
    result = cli.invoke(app, ["predict", "latest", str(folder / "img0.png"), str(tmp_path / "missing.png"), "-o", str(out), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data[0]["predictions"][0]["class"] and data[1] == {"path": str(tmp_path / "missing.png"), "error": "no such file"}


def test_predict_refuses_a_tampered_model(finetuned_run, tmp_path):
    import shutil

    runs, store = finetuned_run
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy, symlinks=True)
    model_path = resolve_run(copy, "latest").path / "final" / "model.pt"
    data = bytearray(model_path.read_bytes())
    data[-20] ^= 0xFF
    model_path.write_bytes(bytes(data))
    folder = images_folder(tmp_path, count=1)
    result = cli.invoke(app, ["predict", "latest", str(folder), "--runs-dir", str(copy)])
    assert result.exit_code == 2 and "checksum does not match" in result.output


def test_predict_with_nothing_readable_is_an_error(finetuned_run, tmp_path):
    runs, _ = finetuned_run
    result = cli.invoke(app, ["predict", "latest", str(tmp_path / "nope.png"), "--runs-dir", str(runs)])
    assert result.exit_code == 2 and "no readable image" in result.output


def test_export_int8_reports_the_trade_beside_the_float_model(finetuned_run, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    runs, store = finetuned_run
    target = tmp_path / "model.int8.onnx"
    result = cli.invoke(
        app, ["export", "latest", "--format", "onnx", "--quantize", "int8", "--calibration", "40", "-o", str(target), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "model.int8.onnx.json").read_text())["quantization"]
    test_images = json.loads((store.path / "final" / "metrics.json").read_text())["test_images"]
    assert report["test_images"] == test_images and report["calibration_images"] == 40
    assert report["int8"]["bytes"] == target.stat().st_size and report["float"]["bytes"] > 0  # a tiny graph can grow: QDQ nodes
    assert report["runtime"] == {"name": "onnxruntime", "version": report["runtime"]["version"], "threads": 1, "batch_size": 1}
    for part in ("float", "int8"):
        latency = report[part]["latency"]
        assert 0 < latency["median_ms"] <= latency["p90_ms"] and latency["rounds"] >= 5
    # The quickstart-sized model keeps its predictions, or the export says by how much it does not.
    if report["agreement"] < 0.99:
        assert any("differ from float" in note for note in report["notes"]) and "differ from float" in result.output
    print(result.output)
    assert "int8: test accuracy" in result.output and "agreement" in result.output and "(float" in result.output
    # The float test accuracy in ONNX Runtime is the final model's own (same weights, same test split).
    assert report["float"]["test_accuracy"] == pytest.approx(json.loads((store.path / "final" / "metrics.json").read_text())["test_accuracy"])
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert session.run(None, {"images": np.random.rand(2, 3, 8, 8).astype(np.float32)})[0].shape == (2, 3)


def test_export_int8_torchscript_is_refused_in_one_line(finetuned_run, tmp_path):
    runs, _ = finetuned_run
    result = cli.invoke(app, ["export", "latest", "--quantize", "int8", "-o", str(tmp_path / "m.ts"), "--runs-dir", str(runs)])
    assert result.exit_code == 2 and "--quantize int8: only with --format onnx" in result.output
    assert not (tmp_path / "m.ts").exists()
