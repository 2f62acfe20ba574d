"""Timing trials again before ``--pick fastest`` trusts them.

A trial whose latency was measured on a busy machine (``latency_busy``) is rebuilt from its
model file and timed again with the run's ``search.latency`` settings: deployed in ONNX
Runtime (``evaluation.deployed``) or as a PyTorch module. ``search.pick.choose_trial``
journals what comes back, so the next pick reads it instead of timing again.
"""

from __future__ import annotations

from typing import Sequence


def retime_trials(store, records: Sequence, trust_factory: bool = False) -> dict[int, dict[str, float]]:
    """Fresh latency metrics (``latency_ms`` and the rest) of each trial in ``records``."""
    import torch

    from nasxfer.evaluation.costs import LatencySettings, measure_latency
    from nasxfer.evaluation.deployed import time_deployed
    from nasxfer.storage.model_files import open_model_file, rebuild_model
    from nasxfer.training.compute import resolve_device

    latency = store.config().search.latency
    fresh = {}
    for record in records:
        path = store.trial_dir(record.number) / "model.pt"
        if not path.is_file():
            continue  # no model file (a rejected trial): keep its figure
        payload = open_model_file(path, record.checksums.get("model.pt"), trust_factory=trust_factory)
        network = rebuild_model(payload)
        pre = payload["preprocess"]
        shape = (int(pre.get("channels") or payload["in_channels"]), *(pre.get("image_size") or payload["image_size"]))
        if latency.runtime == "onnxruntime":
            fresh[record.number] = time_deployed(network, shape, latency)
        else:
            device = torch.device("cpu") if latency.device == "cpu" else resolve_device(store.config().train.device)
            example = torch.randn(latency.batch_size, *shape, device=device)
            fresh[record.number] = measure_latency(network.to(device), example, LatencySettings.of(latency))
    return fresh
