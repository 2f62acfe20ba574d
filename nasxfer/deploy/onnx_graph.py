"""Writing a PyTorch module as an ONNX graph (``images`` in, ``logits`` out, any batch size)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from nasxfer.errors import NasxferError
from nasxfer.storage.atomic import atomic_write_bytes


def write_onnx(module: torch.nn.Module, example: torch.Tensor, output: Path) -> None:
    """Write ``module`` (traced on ``example``) as ONNX to ``output``, atomically."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; say so plainly when it is missing)
    except ImportError:
        raise NasxferError("--format onnx: the onnx package is not installed (pip install 'nasxfer[onnx]')") from None
    import tempfile

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent) as tmp, warnings.catch_warnings():
        # The TorchScript-based exporter: the torch.export-based one (dynamo=True) still
        # mis-exports antialiased resizing, which transfer models use. It warns that it is
        # legacy; users cannot act on that, so it stays quiet.
        warnings.simplefilter("ignore", DeprecationWarning)
        # Strided slices (a CIFAR ResNet's shortcut) are not constant-folded, and tracing turns
        # shapes into constants (the input size is fixed and recorded beside the model): neither
        # is something a user can act on, and a search exports every candidate.
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        path = Path(tmp) / output.name
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "N"}, "logits": {0: "N"}},
            dynamo=False,
        )
        atomic_write_bytes(output, path.read_bytes())
