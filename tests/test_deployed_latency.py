"""search.latency.runtime: onnxruntime: candidates timed as deployed, once per architecture,
journalled and reused on resume; robust timing (rounds, busy flags) on a fake clock."""

import json

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.deploy import timing
from nasxfer.storage.store import resolve_run

cli = CliRunner()
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def timed_events(store):
    return [e for e in store.events() if e.get("event") == "latency_timed"]


def test_deployed_latency_is_timed_once_per_architecture_and_reused_on_resume(tiny_dict, write_config, tmp_path):
    tiny_dict["search"]["space"]["model.scratch.ops"] = {"choices": ["identity", "conv3x3"], "repeat": 2}
    tiny_dict["search"]["budget"]["trials"] = 4
    tiny_dict["search"]["latency"] = {"runtime": "onnxruntime", "threads": 1, "quantize": "int8", "rounds": 2, "repeats": 3}
    tiny_dict["search"]["objectives"] = [{"metric": "val_accuracy", "mode": "max"}, {"metric": "latency_ms", "mode": "min"}]
    tiny_dict["train"]["epochs"] = 1
    runs = tmp_path / "runs"
    result = cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    store = resolve_run(runs, "latest")
    history = store.history()
    events = timed_events(store)
    by_key = {e["key"]: e["metrics"] for e in events}
    architectures = {tuple(r.values["model.scratch.ops"]) for r in history}
    assert len(events) == len(by_key) == len(architectures)  # one timing per architecture, none twice
    for record in history:
        assert record.metrics["latency_ms"] in {m["latency_ms"] for m in by_key.values()}
        assert record.metrics["latency_busy"] in (0.0, 1.0) and record.metrics["latency_p90_ms"] >= record.metrics["latency_ms"]
    # Same architecture, same figure: the repeated candidate was not re-timed.
    seen = {}
    for record in history:
        ops = tuple(record.values["model.scratch.ops"])
        assert seen.setdefault(ops, record.metrics["latency_ms"]) == record.metrics["latency_ms"]

    # Resume with a larger budget: architectures already timed are read from the journal.
    result = cli.invoke(app, ["search", "--resume", store.run_id, "-q", "--runs-dir", str(runs), "--set", "search.budget.trials=8"])
    assert result.exit_code == 0, result.output
    history = store.history()
    assert len(history) == 8
    events = timed_events(store)
    assert len(events) == len({e["key"] for e in events}) == len({tuple(r.values["model.scratch.ops"]) for r in history})
    for record in history[:4]:
        ops = tuple(record.values["model.scratch.ops"])
        assert seen[ops] == record.metrics["latency_ms"]
    for record in history[4:]:
        ops = tuple(record.values["model.scratch.ops"])
        if ops in seen:  # timed before the resume: reused, not timed again
            assert record.metrics["latency_ms"] == seen[ops]


def test_max_latency_ms_means_deployed_latency(tiny_dict, write_config, tmp_path):
    tiny_dict["search"]["latency"] = {"runtime": "onnxruntime", "rounds": 1, "repeats": 2}
    tiny_dict["search"]["constraints"] = {"max_latency_ms": 1e-6}
    tiny_dict["search"]["max_rejects"] = 2
    runs = tmp_path / "runs"
    result = cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    store = resolve_run(runs, "latest")
    rejected = [r for r in store.history() if r.state.value == "rejected"]
    assert len(rejected) == 2 and all("ms latency > search.constraints.max_latency_ms" in r.error for r in rejected)
    assert all(r.metrics["latency_ms"] > 0 and "latency_spread" in r.metrics for r in rejected)


def test_int8_latency_needs_onnxruntime(tiny_dict, write_config):
    tiny_dict["search"]["latency"] = {"quantize": "int8"}
    result = cli.invoke(app, ["validate", str(write_config(tiny_dict))])
    assert result.exit_code == 2 and "search.latency: quantize: int8" in result.output and "runtime: onnxruntime" in result.output


class FakeClock:
    """perf_counter / process_time that advance only when a fake pass runs."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def perf_counter(self):
        return self.wall

    def process_time(self):
        return self.cpu


def test_timing_keeps_the_best_round_and_flags_a_busy_one(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)
    calls = {"a": 0, "b": 0}

    def runner(name, ms, busy_calls=range(0)):
        def run():
            i = calls[name]
            calls[name] += 1
            slow = i in busy_calls
            clock.wall += (ms * 40 if slow else ms) / 1000  # a busy spell: the wall clock runs, the CPU does not
            clock.cpu += ms / 1000

        return run

    # "a"'s second round (passes 12..23 with warmup 2 + 10 timed) ran on a busy machine.
    result = timing.time_interleaved({"a": runner("a", 2.0, range(14, 24)), "b": runner("b", 3.0)}, rounds=4)
    a, b = result["a"], result["b"]
    assert a.median_ms == pytest.approx(2.0) and a.busy and a.spread == pytest.approx(40.0)
    assert b.median_ms == pytest.approx(3.0) and not b.busy and b.spread == pytest.approx(1.0)
    assert a.cpu_ms == pytest.approx(2.0) and a.rounds == 4 and a.passes == 10
    # A re-timing that comes back clean clears the flag and keeps the faster figure.
    assert not a.better(b).busy and a.better(b).median_ms == pytest.approx(2.0)


def test_wall_time_far_above_cpu_time_on_one_thread_is_busy(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(timing, "time", clock)

    def starved():
        clock.wall += 0.010  # 10 ms of wall time for 2 ms of CPU: another process had the core
        clock.cpu += 0.002

    assert timing.time_interleaved({"m": starved}, rounds=2)["m"].busy
    assert not timing.time_interleaved({"m": starved}, rounds=2, one_thread=False)["m"].busy


def test_pick_fastest_retimes_busy_flagged_trials_and_journals_it(tiny_dict, write_config, tmp_path, monkeypatch):
    monkeypatch.setattr(timing, "BUSY_RATIO", 0.0)  # every timing looks busy: all are re-timed
    tiny_dict["search"]["latency"] = {"runtime": "onnxruntime", "rounds": 2, "repeats": 2}
    tiny_dict["search"]["budget"]["trials"] = 2
    tiny_dict["train"]["epochs"] = 1
    runs = tmp_path / "runs"
    assert cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q", "--runs-dir", str(runs)]).exit_code == 0
    store = resolve_run(runs, "latest")
    history = store.history()
    assert all(r.metrics["latency_busy"] == 1.0 and r.metrics["latency_retimed"] == 2.0 for r in history)
    result = cli.invoke(app, ["finetune", "latest", "--pick", "fastest", "--epochs", "1", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    retimed = {e["number"]: e["metrics"] for e in store.events() if e.get("event") == "latency_retimed"}
    assert set(retimed) == {r.number for r in history}
    chosen = json.loads((store.path / "final" / "metrics.json").read_text())["trial"]
    assert chosen == min(retimed, key=lambda n: (retimed[n]["latency_ms"], n))
