"""The supernet: a path's forward pass is the standalone network's, on shared weights."""

from __future__ import annotations

import pytest
import torch

from nasxfer.config import ScratchConfig
from nasxfer.models.scratch import ScratchNetwork
from nasxfer.models.supernet import Supernet, path_of

OPS = ["identity", "mbconv_k3_e3", "mbconv_k5_e6", "conv3x3"]


def supernet(stems=(8, 16)):
    cfg = ScratchConfig(stem_channels=stems[0], stages=[2, 2], ops=["identity"] * 4, head_channels=32)
    return cfg, Supernet(cfg, stems, [OPS] * 4, in_channels=3, num_classes=5)


@pytest.mark.parametrize("stem,ops", [(8, ["identity", "mbconv_k3_e3", "mbconv_k5_e6", "conv3x3"]), (16, ["conv3x3", "identity", "identity", "mbconv_k5_e6"])])
def test_a_path_is_the_standalone_network_with_copied_weights(stem, ops):
    torch.manual_seed(0)
    cfg, net = supernet()
    # Train-mode steps move BN statistics away from their initial values, so the copy is not trivially equal.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(4, 3, 16, 16))
    path_cfg = cfg.model_copy(update={"stem_channels": stem, "ops": ops})
    path = net.path_network(path_of(path_cfg))
    standalone = ScratchNetwork(path_cfg, 3, 5)
    assert path.state_dict().keys() == standalone.state_dict().keys()
    standalone.load_state_dict(path.state_dict())
    x = torch.randn(6, 3, 16, 16)
    path.eval(), standalone.eval()
    assert torch.equal(path(x), standalone(x))
    # The path shares the supernet's tensors: no copy is made.
    shared = {p.data_ptr() for p in net.parameters()}
    assert all(p.data_ptr() in shared for p in path.parameters())
    assert sum(p.numel() for p in path.parameters()) == sum(p.numel() for p in standalone.parameters())


def test_a_training_step_updates_only_the_sampled_path():
    torch.manual_seed(1)
    _, net = supernet(stems=(8,))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(4, 3, 16, 16)
    torch.manual_seed(5)
    path = net.sample_path()
    torch.manual_seed(5)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()
    net(x).sum().backward()
    optimizer.step()
    on_path = set(net.path_network(path).state_dict().keys())
    for layer, op in enumerate(path[1]):
        for name, value in net.widths["8"].layers[layer].state_dict().items():
            changed = not torch.equal(before[f"widths.8.layers.{layer}.{name}"], value)
            chosen = name.split(".")[0] == op
            assert changed <= chosen, f"layer {layer}: {name} changed off the path"
            if chosen and name.endswith("weight") and "conv" in name:
                assert changed, f"layer {layer}: {name} is on the path but did not train"
    assert on_path


def test_a_path_outside_the_supernet_is_refused():
    _, net = supernet()
    with pytest.raises(ValueError, match="stem_channels 32"):
        net.path_network((32, ("identity",) * 4))
    with pytest.raises(ValueError, match="layer 2: op 'sepconv3x3'"):
        net.path_network((8, ("identity", "identity", "sepconv3x3", "identity")))
    net.eval()
    with pytest.raises(RuntimeError, match="path_network"):
        net(torch.randn(1, 3, 16, 16))
