"""Which backbone stages train: ``model.finetune.unfreeze`` stages, counted from the top.

0 is a linear probe (only the head trains), ``all`` trains everything. The rest is frozen:
``requires_grad=False`` and held in eval mode by ``TransferNetwork.train``.
"""

from __future__ import annotations

from torch import nn

from nasxfer.models.transfer import TransferNetwork


def trainable_stages(unfreeze: int | str, num_stages: int) -> int:
    """How many of ``num_stages`` train; asking for more than there are means all of them."""
    return num_stages if unfreeze == "all" else min(int(unfreeze), num_stages)


def set_trainable_stages(network: TransferNetwork, unfreeze: int | str) -> None:
    """Freeze all but the top ``unfreeze`` stages of ``network``'s backbone (the head always trains)."""
    stages = network.backbone.stages
    frozen = len(stages) - trainable_stages(unfreeze, len(stages))
    for index in range(len(stages)):
        for part in network.backbone.stage_parts(index):
            parameters = part.parameters() if isinstance(part, nn.Module) else [part]
            for p in parameters:
                p.requires_grad_(index >= frozen)
    network.frozen_stages = frozen
    network.train(network.training)  # put newly frozen stages into eval mode now
