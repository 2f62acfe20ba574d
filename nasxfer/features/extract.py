"""Run a frozen backbone over a split once: pooled features for the cache."""

from __future__ import annotations

import torch

from nasxfer.features.cache import PooledFeatures, to_fp16
from nasxfer.training.compute import Precision, autocast


@torch.no_grad()
def pooled_features(backbone: torch.nn.Module, batches, precision: Precision = Precision()) -> PooledFeatures:
    """Average- and max-pooled feature maps of every image ``batches`` yields, in order.

    ``batches`` must not shuffle or augment (a plain ``BatchLoader``): the cache stores
    what the frozen backbone sees at evaluation time. Labels come from the batches too,
    since a stream split can drop unreadable images.
    """
    was_training = backbone.training
    backbone.eval()
    device_type = next(backbone.parameters()).device.type
    avg, max_, labels = [], [], []
    try:
        for x, y in batches:
            with autocast(device_type, precision):
                feature_map = backbone(x)
            feature_map = feature_map.float()
            avg.append(to_fp16(feature_map.mean(dim=(2, 3))).cpu())
            max_.append(to_fp16(feature_map.amax(dim=(2, 3))).cpu())
            labels.append(y.cpu())
    finally:
        backbone.train(was_training)
    if not labels:
        raise ValueError("no images to extract features from")
    return PooledFeatures(torch.cat(avg), torch.cat(max_), torch.cat(labels).long())
