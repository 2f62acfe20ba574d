"""The from-scratch ops and macro network: shapes, gradients, and NAS-Bench-Macro's exact sizes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from torch import nn

from nasxfer.config import ScratchConfig
from nasxfer.models import SCRATCH_OPS
from nasxfer.models.ops import OPS, build_op
from nasxfer.models.scratch import build_scratch_network

NAS_BENCH_MACRO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "nas-bench-macro"
# One digit per layer in a NAS-Bench-Macro key.
MACRO_OPS = {"0": "identity", "1": "mbconv_k3_e3", "2": "mbconv_k5_e6"}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_covers_exactly_the_scratch_ops():
    assert set(OPS) == set(SCRATCH_OPS)
    assert len(OPS) == len(SCRATCH_OPS)


@pytest.mark.parametrize("name", SCRATCH_OPS)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_in,c_out", [(4, 4), (4, 8)])
def test_op_shapes(name, stride, c_in, c_out):
    op = build_op(name, c_in, c_out, stride)
    for size in (8, 7):  # an odd size checks that stride 2 rounds up like the padding implies
        out = op(torch.randn(2, c_in, size, size))
        expected = -(-size // stride)
        assert out.shape == (2, c_out, expected, expected)


def test_identity_is_a_true_identity_only_when_shape_is_kept():
    assert isinstance(build_op("identity", 4, 4, 1), nn.Identity)
    assert count_params(build_op("identity", 4, 4, 2)) == 4 * 4 + 2 * 4
    assert count_params(build_op("identity", 4, 8, 1)) == 4 * 8 + 2 * 8


def test_mbconv_residual_only_where_shapes_match():
    assert build_op("mbconv_k3_e3", 4, 4, 1).use_residual
    assert not build_op("mbconv_k3_e3", 4, 4, 2).use_residual
    assert not build_op("mbconv_k3_e3", 4, 8, 1).use_residual


def test_unknown_op_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown op"):
        build_op("maxpool", 4, 4, 1)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_network_forward_and_backward(in_channels):
    torch.manual_seed(0)
    cfg = ScratchConfig(
        stem_channels=8, stages=[1, 1], ops=["mbconv_k3_e1", "sepconv3x3"], head_channels=24
    )
    net = build_scratch_network(cfg, in_channels=in_channels, num_classes=5)
    x = torch.randn(3, in_channels, 16, 16)

    features = net.forward_features(x)
    assert net.num_features == 24
    assert features.shape == (3, 24)
    logits = net(x)
    assert logits.shape == (3, 5)
    torch.testing.assert_close(logits, net.forward_head(features))

    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_network_widths_double_per_stage():
    cfg = ScratchConfig(stem_channels=8, stages=[2, 1, 1], ops=["conv3x3"] * 4, head_channels=16)
    net = build_scratch_network(cfg, in_channels=3, num_classes=2)
    widths = [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [8, 16, 16, 32, 64, 16]


def test_initialisation():
    cfg = ScratchConfig(stem_channels=8, stages=[1], ops=["conv3x3"], head_channels=16)
    net = build_scratch_network(cfg, in_channels=3, num_classes=4)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            assert m.bias is None
        elif isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    linear = net.classifier
    assert torch.all(linear.bias == 0)
    assert linear.weight.abs().max() < 0.1


@pytest.fixture(scope="module")
def macro_table() -> dict:
    files = sorted(NAS_BENCH_MACRO_DIR.glob("*.json"))
    if not files:
        pytest.skip(f"NAS-Bench-Macro table not found under {NAS_BENCH_MACRO_DIR}")
    return json.loads(files[0].read_text())


def macro_config(key: str) -> ScratchConfig:
    return ScratchConfig(
        stem_channels=32,
        stages=[2, 3, 3],
        ops=[MACRO_OPS[digit] for digit in key],
        head_channels=1280,
    )


def test_parameter_counts_match_nas_bench_macro(macro_table):
    assert macro_table["02012100"]["params"] == 890_666  # the documented example
    keys = {"02012100", "00000000", "22222222"}
    keys.update(random.Random(0).sample(sorted(macro_table), 27))
    for key in sorted(keys):
        net = build_scratch_network(macro_config(key), in_channels=3, num_classes=10)
        assert count_params(net) == macro_table[key]["params"], key
