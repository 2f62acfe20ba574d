import pytest
import torch
from torch import nn

from nasxfer.evaluation.costs import LatencySettings, count_flops, measure_costs, measure_latency, peak_memory_mb


def test_resnet18_macs_match_the_published_figure():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    flops = count_flops(model, torch.randn(1, 3, 224, 224))
    assert flops / 2 == pytest.approx(1.82e9, rel=0.02)


def test_linear_flops_are_exact():
    model = nn.Linear(10, 4)
    assert count_flops(model, torch.randn(1, 10)) == 2 * 10 * 4


def test_costs_leave_the_model_as_it_was():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    costs = measure_costs(model, (3, 8, 8), torch.device("cpu"), LatencySettings(batch_size=2, warmup=1, repeats=3))
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # BN stats untouched
    assert costs["params"] == 3 * 4 * 9 + 4 + 4 + 4 and costs["macs"] == costs["flops"] / 2
    assert 0 < costs["latency_ms"] <= costs["latency_p90_ms"]


def test_latency_percentiles_from_repeats():
    model = nn.Identity()
    result = measure_latency(model, torch.zeros(1), LatencySettings(warmup=2, repeats=5))
    assert result["latency_p90_ms"] >= result["latency_ms"] >= 0


def test_peak_memory_on_cpu_is_the_process_peak():
    assert peak_memory_mb(torch.device("cpu")) > 10  # a Python process with torch is tens of MB


LINUX_PEAK = pytest.mark.skipif(not __import__("os").path.exists("/proc/self/clear_refs"), reason="Linux only")


def touch_megabytes(n: int) -> None:
    block = bytearray(b"\x01") * (n * 2**20)  # filled, so every page is resident
    del block


@LINUX_PEAK
def test_the_cpu_peak_can_be_reset_so_it_is_a_trials_own():
    from nasxfer.evaluation.costs import reset_peak_memory

    cpu = torch.device("cpu")
    touch_megabytes(300)
    lifetime = peak_memory_mb(cpu)
    assert reset_peak_memory(cpu)
    assert peak_memory_mb(cpu) < lifetime - 200


@LINUX_PEAK
def test_a_trials_peak_memory_does_not_count_what_the_process_used_before(tmp_path, tiny_config):
    from nasxfer.search.runner import run_search
    from nasxfer.storage.store import RunStore

    touch_megabytes(300)
    before = peak_memory_mb(torch.device("cpu"))
    config = tiny_config.apply({"search.budget.trials": 1, "train.epochs": 1})
    store = RunStore.create(tmp_path / "runs", config, {})
    run_search(config, store)
    (trial,) = store.history()
    assert trial.metrics["peak_memory_mb"] < before - 200
