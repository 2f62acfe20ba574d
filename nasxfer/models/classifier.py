"""``Classifier``: a network with its preprocessing, taking images in [0, 1].

It takes what an image file gives (float ``[N, C, H, W]`` in ``[0, 1]`` at the size the
model was trained on) and returns logits. ``storage.model_files.load_classifier`` reads one
from a model file; ``final.inference`` predicts with it and ``final.export`` writes it out.
"""

from __future__ import annotations

from typing import Any, Sequence

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


def _per_channel(values: Sequence[float], channels: int) -> torch.Tensor:
    values = list(values)
    if len(values) == 1:
        values = values * channels
    return torch.tensor(values, dtype=torch.float32).view(1, -1, 1, 1)
