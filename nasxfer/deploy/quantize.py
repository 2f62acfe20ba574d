"""Static post-training int8 quantization of an ONNX graph, with ONNX Runtime's tools.

Why ONNX Runtime's ``quantize_static`` and not torchao: the file a user deploys is the
ONNX graph, and ORT quantizes that graph itself, so what is calibrated, measured and
shipped is one artefact run by one runtime; torchao's PT2E flow yields a PyTorch program
that still has to be lowered to some runtime before it runs fast on a CPU.

The settings are ORT's recommended ones for CNNs on x86 CPUs: QDQ format (the runtime
fuses each QuantizeLinear/DequantizeLinear pair with its operator into an int8 kernel),
unsigned 8-bit activations with signed 8-bit weights (U8S8), per-channel weight scales
(a convolution's output channels differ in range by orders of magnitude), MinMax
calibration. The graph is pre-processed first (shape inference, graph optimisation:
BatchNorm folded into the convolutions), as ORT's documentation asks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from nasxfer.errors import NasxferError


def quantize_int8(float_model: Path, output: Path, calibration: Iterable[np.ndarray], per_channel: bool = True) -> None:
    """Quantize the ONNX graph at ``float_model`` to int8 at ``output``; ``calibration``
    yields float32 ``[N, C, H, W]`` batches of what the model is fed (``images``)."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise NasxferError("--quantize int8: onnxruntime is not installed (pip install 'nasxfer[onnx]')") from None

    class Reader(CalibrationDataReader):
        def __init__(self, batches):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"images": np.ascontiguousarray(batch, dtype=np.float32)}

    output = Path(output)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            quant_pre_process(str(float_model), str(prepared), skip_symbolic_shape=True)
        except Exception:  # noqa: BLE001 - pre-processing only helps; quantize the graph as it is
            prepared = Path(float_model)
        quantized = Path(tmp) / output.name
        quantize_static(
            str(prepared),
            str(quantized),
            Reader(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        from nasxfer.storage.atomic import atomic_write_bytes

        atomic_write_bytes(output, quantized.read_bytes())
