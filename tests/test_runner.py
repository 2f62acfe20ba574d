"""The search loop, with a fake evaluator so the loop's own logic is what is tested."""

import math

import pytest

from nasxfer.evaluation.outcome import TrialOutcome
from nasxfer.progress.reporter import RecordingReporter
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import TrialState


class FakeEvaluator:
    """Scores a candidate by its ops; raises for candidates listed in ``fail_on``."""

    def __init__(self, fail=lambda values: False):
        self.fail = fail
        self.calls = []

    def prepare(self, config):
        pass

    def evaluate(self, config, *, seed, trial_dir, values, on_epoch=None, **_):
        self.calls.append((values, seed))
        if self.fail(values):
            raise RuntimeError("boom")
        score = sum(op == "conv3x3" for op in config.model.scratch.ops) / 10 + config.train.lr
        for epoch in range(1, config.train.epochs + 1):
            if on_epoch:
                on_epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "images_per_second": 100.0})
        return TrialOutcome({"val_accuracy": score, "params": 10.0}, [{"epoch": 1}])


def test_runs_the_trial_budget_and_records_everything(tmp_path, tiny_config):
    store = RunStore.create(tmp_path, tiny_config, {})
    reporter = RecordingReporter()
    evaluator = FakeEvaluator()
    outcome = run_search(tiny_config, store, reporter, evaluator)
    assert len(outcome.history) == 3 == len(evaluator.calls)
    assert outcome.stop_reason.startswith("trial budget reached")
    assert [r.number for r in store.history()] == [1, 2, 3]
    assert outcome.best.metrics["val_accuracy"] == max(r.metrics["val_accuracy"] for r in outcome.history)
    # each trial's values reached the evaluator's config, and seeds differ per trial
    assert len({seed for _, seed in evaluator.calls}) == 3
    assert [hook for hook, _ in reporter.calls].count("trial_finished") == 3
    assert len(reporter.hooks("epoch_finished")) == 3 * tiny_config.train.epochs
    events = [e["event"] for e in store.events()]
    assert events[-1] == "search_stopped" and events.count("trial_started") == 3


def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path, tiny_config):
    cfg = tiny_config.apply({"search.budget.trials": 6})
    store = RunStore.create(tmp_path, cfg, {})
    evaluator = FakeEvaluator(fail=lambda values: values["model.scratch.ops"][0] == "identity")
    outcome = run_search(cfg, store, None, evaluator)
    states = [r.state for r in outcome.history]
    assert TrialState.FAILED in states and TrialState.COMPLETE in states
    failed = [r for r in outcome.history if r.state is TrialState.FAILED]
    assert all(r.error == "RuntimeError: boom" for r in failed)
    assert any(e["event"] == "trial_error" and "Traceback" in e["traceback"] for e in store.events())


def test_too_many_failures_in_a_row_end_the_search(tmp_path, tiny_config):
    cfg = tiny_config.apply({"search.budget.trials": 10, "search.max_failures": 2})
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store, None, FakeEvaluator(fail=lambda values: True))
    assert len(outcome.history) == 2
    assert outcome.stop_reason.startswith("2 trials failed in a row") and "boom" in outcome.stop_reason
    assert outcome.best is None


def test_exhausted_space_stops_cleanly(tmp_path, tiny_config):
    cfg = tiny_config.apply(
        {"search.space": {"model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 2}}, "search.budget.trials": 50}
    )
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store, None, FakeEvaluator())
    assert len(outcome.history) == 4 and outcome.stop_reason == "search space exhausted"


def test_time_budget(tmp_path, tiny_config):
    cfg = tiny_config.apply({"search.budget": {"trials": None, "minutes": 1e-9}})
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store, None, FakeEvaluator())
    assert outcome.stop_reason.startswith("time budget reached") and len(outcome.history) <= 1


def test_invalid_candidate_is_a_failed_trial_not_a_crash(tmp_path, tiny_config):
    # 2 or 3 layers and 2 or 3 ops: each value is valid beside one of the other's, so the
    # space passes, but the mixed candidates are invalid configs and fail as trials
    cfg = tiny_config.apply(
        {
            "search.space": {
                "model.scratch.stages": {"choices": [[1, 1], [1, 1, 1]]},
                "model.scratch.ops": {"choices": [["conv3x3", "conv3x3"], ["conv3x3", "conv3x3", "conv3x3"]]},
            },
            "search.budget.trials": 4,
            "search.max_failures": 5,
        }
    )
    store = RunStore.create(tmp_path, cfg, {})
    outcome = run_search(cfg, store, None, FakeEvaluator())
    failed = [r for r in outcome.history if r.state is TrialState.FAILED]
    assert failed and all("entries but stages" in r.error for r in failed)
    assert len(failed) < len(outcome.history)  # the matching pairs trained
