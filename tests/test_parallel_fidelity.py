"""Schedulers, the median pruner and warm start on parallel trials (threads, no Ray):
rungs decided as the sequential loop decides them, promotions continued from the checkpoint
a worker sent back, the pruner run in the worker, warm-start candidates first."""

from __future__ import annotations

import statistics
import time

from curves import CurveEvaluator, accuracy, quality
from nasxfer.search.parallel import run_parallel_search
from nasxfer.progress.reporter import Reporter
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import TrialState
from thread_executor import ThreadExecutor, started_events


def scheduled_parallel(config, name, trials, epochs=9, **settings):
    return config.apply(
        {
            "train.epochs": epochs,
            "search.budget.trials": trials,
            "search.scheduler": {"name": name, **settings},
            "executor": {"name": "ray"},
        }
    )


def summary(history):
    """Each trial's outcome, by number: what a parallel run must agree on with a sequential one."""
    return sorted((r.number, r.key, r.state.value, r.epochs_reached, r.metrics.get("val_accuracy")) for r in history)


def run_threads(tmp_path, config, name="parallel", slots=3, reporter=None, stop=None, executor=None, evaluator=None):
    store = RunStore.create(tmp_path / name, config, {}) if isinstance(name, str) else name
    evaluator = evaluator or CurveEvaluator()
    executor = executor or ThreadExecutor(evaluator, slots=slots)
    outcome = run_parallel_search(config, store, reporter, evaluator, stop, executor)
    return store, evaluator, executor, outcome


def test_parallel_hyperband_decides_every_rung_as_the_sequential_search(tmp_path, tiny_config):
    config = scheduled_parallel(tiny_config, "hyperband", trials=17)
    sequential = run_search(config.apply({"executor": {"name": "local"}}), RunStore.create(tmp_path / "seq", config, {}), None, CurveEvaluator())
    store, evaluator, executor, outcome = run_threads(tmp_path, config, slots=3)
    # Random search sees the same tried candidates at every proposal, and every rung is decided
    # on complete information, so each trial ends as it did when trained one at a time.
    assert summary(outcome.history) == summary(sequential.history)
    assert outcome.stop_reason == sequential.stop_reason == "trial budget reached (17 trials)"
    # Promotions continue from the checkpoint the worker sent back: no epoch is trained twice.
    assert len(evaluator.trained) == len(set(evaluator.trained)) == outcome.epochs == sequential.epochs
    promotions = [t for t in executor.tasks if t.plan.previous is not None]
    assert promotions and all(t.checkpoint["epoch"] == t.plan.previous.epochs_reached for t in promotions)
    # Synchronous: a rung is decided only once every trial of its bracket has reached it.
    bracket = {r.number: r.bracket for r in outcome.history}
    training_from: dict[int, int] = {}  # running trials -> the epoch their stretch started from
    for event in store.events():
        if event["event"] == "trial_finished":
            training_from.pop(event["trial"]["number"], None)  # (a retirement was not running)
        elif event["event"] == "trial_promoted":
            below = [n for n, start in training_from.items() if bracket[n] == bracket[event["number"]] and start < event["reached"]]
            assert not below, (event, below)  # nobody of the bracket still on its way to this rung
            training_from[event["number"]] = event["reached"]
        elif event["event"] == "trial_started":
            training_from[event["number"]] = 0
    # and while a bracket waited for its rung, the next one kept the free workers busy
    starts = [e["number"] for e in store.events() if e["event"] in ("trial_started", "trial_promoted")]
    assert starts.index(10) < max(i for i, n in enumerate(starts) if bracket[n] == 0)
    assert not list(store.path.glob("trials/*/checkpoint-*.pt"))  # freed once nothing can continue them


def test_parallel_asha_promotes_paused_trials_from_their_checkpoints(tmp_path, tiny_config):
    config = scheduled_parallel(tiny_config, "asha", trials=12)
    store, evaluator, executor, outcome = run_threads(tmp_path, config, slots=3)
    promoted = [e for e in store.events() if e["event"] == "trial_promoted"]
    assert promoted and len({(e["number"], e["epochs"]) for e in promoted}) == len(promoted)  # never twice
    assert len(evaluator.trained) == len(set(evaluator.trained)) == outcome.epochs
    for task in executor.tasks:
        if task.plan.previous is not None:
            assert task.checkpoint["curve"] == task.plan.previous.curve  # the rung's state, shipped
    assert any(r.state is TrialState.COMPLETE and r.epochs_reached == 9 for r in outcome.history)
    assert outcome.best.epochs_reached == 9
    for record in outcome.history:  # a paused trial's checkpoint is on the driver's disk, verified
        if record.state is TrialState.PAUSED:
            assert store.checkpoints(record.number).latest()["epoch"] == record.epochs_reached


def test_a_stopped_parallel_promotion_resumes_from_its_rung(tmp_path, tiny_config):
    config = scheduled_parallel(tiny_config, "successive_halving", trials=9)
    reference = run_search(config.apply({"executor": {"name": "local"}}), RunStore.create(tmp_path / "seq", config, {}), None, CurveEvaluator())

    class StopOncePromoting(Reporter):
        def message(self, text):
            if any(e["event"] == "trial_promoted" for e in store.events()):
                stop.request()

    class SlowPromotions(CurveEvaluator):
        """A promotion (a trial continuing from its rung's checkpoint) takes a second to start.
        The stop is requested as the promotion is sent; without the pause a worker thread
        could finish it before the loop saw the stop, leaving nothing to resume (the flake)."""

        def evaluate(self, config, *, checkpoints=None, **kwargs):
            if checkpoints is not None and checkpoints.latest() is not None:
                time.sleep(1.0)
            return super().evaluate(config, checkpoints=checkpoints, **kwargs)

    store, stop = RunStore.create(tmp_path / "parallel", config, {}), StopRequest()
    _, _, _, outcome = run_threads(tmp_path, config, store, reporter=StopOncePromoting(), stop=stop, evaluator=SlowPromotions())
    assert outcome.interrupted
    unfinished = store.unfinished_trials()
    assert unfinished and unfinished[0]["event"] == "trial_promoted"

    _, evaluator, executor, outcome = run_threads(tmp_path, config, store)
    resumed = next(t for t in executor.tasks if t.plan.number == unfinished[0]["number"])
    assert resumed.plan.resumed and resumed.checkpoint["epoch"] == unfinished[0]["reached"]
    trained = [epoch for number, epoch in evaluator.trained if number == resumed.plan.number]
    assert trained == list(range(unfinished[0]["reached"] + 1, trained[-1] + 1))  # not from epoch 1
    assert summary(outcome.history) == summary(reference.history)


def test_the_median_pruner_runs_in_the_worker_against_the_trials_finished_before(tmp_path, tiny_config):
    config = tiny_config.apply(
        {
            "train.epochs": 4, "search.budget.trials": 10, "executor": {"name": "ray"},
            "search.pruner": {"name": "median", "warmup_epochs": 1, "min_trials": 2},
        }
    )
    store, evaluator, executor, outcome = run_threads(tmp_path, config, slots=2)
    pruned = [r for r in outcome.history if r.state is TrialState.PRUNED]
    assert pruned and all(r.epochs_reached == 2 and "median" in r.reason for r in pruned)
    tasks = {t.plan.number: t for t in executor.tasks}
    for trial in pruned:  # checked independently, against what the worker was sent
        earlier = [accuracy(r.values, 2) for r in tasks[trial.number].history]
        assert all(r.state is TrialState.COMPLETE for r in tasks[trial.number].history)
        assert len(earlier) >= 2 and accuracy(trial.values, 2) < statistics.median(earlier)
    assert len(evaluator.trained) == outcome.epochs == 4 * (len(outcome.history) - len(pruned)) + 2 * len(pruned)


def test_a_parallel_search_warm_starts_from_an_earlier_run(tmp_path, tiny_config):
    earlier_config = tiny_config.apply({"search.budget.trials": 5})
    earlier = RunStore.create(tmp_path / "runs", earlier_config, {})
    best_first = sorted(run_search(earlier_config, earlier, None, CurveEvaluator()).history, key=lambda r: -quality(r.values))
    config = tiny_config.apply(
        {"seed": 1, "search.budget.trials": 4, "search.warm_start": {"run": earlier.run_id, "top": 2}, "executor": {"name": "ray"}}
    )
    store = RunStore.create(tmp_path / "runs", config, {})
    _, _, _, outcome = run_threads(tmp_path, config, store, slots=2)
    assert [e["key"] for e in started_events(store)][:2] == [r.key for r in best_first[:2]]
    assert len({r.key for r in outcome.history}) == 4
