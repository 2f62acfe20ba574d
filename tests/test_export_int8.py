"""int8 export of a transfer model: a pretrained backbone (with its own resize inside the
graph) and a trained head, quantized, tested against the float graph on the test split."""

import copy
import json

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app
from transfer_helpers import TINY_TRANSFER, save_cifar_checkpoint

cli = CliRunner()


def test_int8_export_of_a_transfer_trial(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    weights = tmp_path / "resnet20.th"
    save_cifar_checkpoint(weights)
    data = copy.deepcopy(TINY_TRANSFER)
    # The backbone runs at 12x12 on 8x8 images: the export's graph resizes inside it.
    data["model"]["backbone"] = {"name": "resnet20", "weights": str(weights), "image_size": 12}
    data["search"]["space"] = {"model.head.hidden": {"choices": [[]]}}
    data["search"]["budget"] = {"trials": 1}
    data["train"]["epochs"] = 1
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    assert cli.invoke(app, ["search", str(config), "-q", "--runs-dir", str(runs)]).exit_code == 0
    target = tmp_path / "out" / "head.int8.onnx"
    result = cli.invoke(app, ["export", "latest", "--trial", "1", "-f", "onnx", "--quantize", "int8", "-o", str(target), "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    sidecar = json.loads(target.with_name(target.name + ".json").read_text())
    report = sidecar["quantization"]
    assert sidecar["candidate"] == {"model.head.hidden": []} and report["test_images"] == 30
    assert report["int8"]["bytes"] < report["float"]["bytes"]  # a ResNet-20's weights: int8 is smaller
    assert 0 <= report["int8"]["test_accuracy"] <= 1 and report["agreement"] >= 0.8
    assert "int8: test accuracy" in result.output
