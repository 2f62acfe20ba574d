"""Failure injection: a trial that raises, diverges or runs out of memory is a result."""

import errno

import pytest
import torch
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.evaluation.evaluator import TrainingEvaluator
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore, resolve_run
from nasxfer.search.trial import TrialState


def test_raise_and_nan_fail_their_trials_and_the_search_goes_on(tmp_path, tiny_config, monkeypatch):
    import nasxfer.models.build as build

    real_build = build.build_model

    def flaky_build(cfg, in_channels, num_classes, **kwargs):
        ops = cfg.scratch.ops
        if ops[0] == "identity":
            raise RuntimeError("injected failure")
        model = real_build(cfg, in_channels, num_classes, **kwargs)
        if ops[0] == "mbconv_k3_e1":  # diverges: every output NaN
            model.register_forward_hook(lambda module, args, out: out * float("nan"))
        return model

    monkeypatch.setattr(build, "build_model", flaky_build)
    cfg = tiny_config.apply(
        {"search.space": {"model.scratch.ops": {"choices": ["identity", "conv3x3", "mbconv_k3_e1"], "repeat": 2}},
         "search.strategy.name": "grid", "search.budget.trials": 9, "search.max_failures": 9}
    )
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store)
    by_first_op = {}
    for record in outcome.history:
        by_first_op.setdefault(record.values["model.scratch.ops"][0], set()).add((record.state, record.error))
    assert by_first_op["identity"] == {(TrialState.FAILED, "RuntimeError: injected failure")}
    assert {state for state, _ in by_first_op["mbconv_k3_e1"]} == {TrialState.FAILED}
    assert all("loss became nan" in error for _, error in by_first_op["mbconv_k3_e1"])
    assert {state for state, _ in by_first_op["conv3x3"]} == {TrialState.COMPLETE}
    assert len(outcome.history) == 9


class OutOfMemoryAbove:
    """A real TrainingEvaluator that raises CUDA's OOM error for batches above a size."""

    def __init__(self, limit):
        self.limit = limit
        self.inner = TrainingEvaluator()
        self.batch_sizes = []

    def prepare(self, config):
        self.inner.prepare(config)

    def evaluate(self, config, **kwargs):
        self.batch_sizes.append(config.train.batch_size)
        if config.train.batch_size > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.inner.evaluate(config, **kwargs)


def test_out_of_memory_is_retried_once_at_half_the_batch(tmp_path, tiny_config):
    cfg = tiny_config.apply({"search.budget.trials": 1})
    store = RunStore.create(tmp_path / "a", cfg, {})
    evaluator = OutOfMemoryAbove(limit=16)
    [record] = run_search(cfg, store, None, evaluator).history
    assert evaluator.batch_sizes == [32, 16]
    assert record.state is TrialState.COMPLETE and record.metrics["batch_size"] == 16
    assert any(e["event"] == "trial_retry" for e in store.events())

    store = RunStore.create(tmp_path / "b", cfg, {})
    evaluator = OutOfMemoryAbove(limit=4)
    [record] = run_search(cfg, store, None, evaluator).history
    assert evaluator.batch_sizes == [32, 16]  # one retry only
    assert record.state is TrialState.FAILED and "out of memory" in record.error


def test_disk_full_mid_search_is_one_line_and_the_run_resumes(write_config, tiny_dict, runs_dir, monkeypatch):
    import nasxfer.storage.store as store_module

    real_write = store_module.atomic_write_json
    calls = {"n": 0}

    def full_after_first_trial(path, value):
        calls["n"] += 1
        if calls["n"] > 2:  # env.json, then trial 1's trial.json succeed
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, value)

    monkeypatch.setattr(store_module, "atomic_write_json", full_after_first_trial)
    cli = CliRunner()
    result = cli.invoke(app, ["search", str(write_config(tiny_dict)), "-q"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: cannot write")
    assert "no space left on the device" in result.output
    store = resolve_run(runs_dir, "latest")
    assert [r.number for r in store.history()] == [1, 2]  # trial 2's journal line landed before its view failed

    monkeypatch.setattr(store_module, "atomic_write_json", real_write)  # space freed
    assert cli.invoke(app, ["search", "--resume", "latest", "-q"]).exit_code == 0
    assert [r.number for r in store.history()] == [1, 2, 3]


def test_read_only_runs_folder_is_one_line(write_config, tiny_dict):
    result = CliRunner().invoke(app, ["search", str(write_config(tiny_dict)), "--runs-dir", "/sys/nasxfer-runs"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: cannot write '/sys/nasxfer-runs': operation not permitted "
        "(use --runs-dir or NASXFER_RUNS_DIR to write elsewhere)"
    )


def test_a_resumed_trial_continues_at_the_batch_its_out_of_memory_retry_chose(tmp_path, tiny_config):
    from nasxfer.progress.reporter import Reporter
    from nasxfer.search.outcome import StopRequest

    class StopAt(Reporter):
        def __init__(self, stop, epoch):
            self.stop, self.epoch, self.epochs_seen = stop, epoch, []

        def epoch_finished(self, number, row, epochs):
            self.epochs_seen.append(row["epoch"])
            if row["epoch"] == self.epoch:
                self.stop.request()

    cfg = tiny_config.apply({"search.budget.trials": 1, "train.epochs": 3})
    store = RunStore.create(tmp_path, cfg, {})
    stop = StopRequest()
    first = OutOfMemoryAbove(limit=16)
    assert run_search(cfg, store, StopAt(stop, epoch=1), first, stop=stop).interrupted
    assert first.batch_sizes == [32, 16]

    # The resumed fit runs at the halved batch from the start: no second out of memory, and
    # the epoch-1 checkpoint (trained at 16) is the one it continues from.
    resumed, reporter = OutOfMemoryAbove(limit=16), StopAt(StopRequest(), epoch=0)
    [record] = run_search(cfg, store, reporter, resumed).history
    assert resumed.batch_sizes == [16]
    assert reporter.epochs_seen == [2, 3]
    assert record.state is TrialState.COMPLETE and record.overrides == {"train.batch_size": 16}


def test_finetune_of_an_out_of_memory_retried_trial_trains_at_its_effective_batch(tmp_path, tiny_config, monkeypatch):
    import nasxfer.final.finetune as finetune

    cfg = tiny_config.apply({"search.budget.trials": 1})
    store = RunStore.create(tmp_path, cfg, {})
    run_search(cfg, store, None, OutOfMemoryAbove(limit=16))
    trained_with = []
    real = finetune._train_and_test

    def spy(config, *args, **kwargs):
        trained_with.append(config.train.batch_size)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(finetune, "_train_and_test", spy)
    finetune.finetune_run(store, epochs=1)
    assert trained_with == [16]


def test_a_promoted_trial_keeps_the_batch_its_out_of_memory_retry_chose(tmp_path, tiny_config):
    cfg = tiny_config.apply(
        {"train.epochs": 3, "search.budget.trials": 3, "search.scheduler": {"name": "asha", "min_epochs": 1, "eta": 3}}
    )
    store = RunStore.create(tmp_path, cfg, {})
    evaluator = OutOfMemoryAbove(limit=16)
    history = run_search(cfg, store, None, evaluator).history
    promotions = [e for e in store.events() if e["event"] == "trial_promoted"]
    assert promotions  # the scheduler continued a paused trial
    # Each trial ran out of memory once, at 32; its promotions went straight on at 16.
    assert evaluator.batch_sizes.count(32) == len(history)
    assert all(r.overrides == {"train.batch_size": 16} for r in history)
