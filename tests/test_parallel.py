"""The parallel search loop (``nasxfer.search.parallel``) with trials on threads: no Ray needed.

``ThreadExecutor`` runs each trial through ``run_remote_trial``, as a Ray worker does, so
what is tested here is the loop: pending trials, results landing in the run folder,
re-queues, stops and resumes. ``test_parallel_fidelity.py`` adds schedulers, the pruner and
warm start; ``test_ray_executor.py`` runs the same loop on Ray.
"""

from __future__ import annotations

import sys
import threading
import time

import pytest

from nasxfer.config import validate_config
from nasxfer.errors import ConfigError
from nasxfer.evaluation.outcome import TrialOutcome
from nasxfer.executors.choice import check_executor
from nasxfer.storage.atomic import atomic_torch_save, sha256_file
from nasxfer.executors.remote import WorkerLost
from nasxfer.search.parallel import run_parallel_search
from nasxfer.search.planning import trial_seed
from nasxfer.progress.reporter import RecordingReporter, Reporter
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import TrialState
from thread_executor import ThreadExecutor, started_events


class ModelWritingEvaluator:
    """Scores a candidate by its ops and writes a small model.pt, as training would.

    ``together``: every trial waits until that many are inside ``evaluate`` at once (a
    barrier that times out, failing the trial, if they never are). ``slow``: every trial but
    trial 1 (known by its seed, not by which thread reached the evaluator first) sleeps that
    long. ``fail``: the values whose trials raise.
    """

    def __init__(self, together=1, slow=0.0, fail=lambda values: False):
        self.barrier = threading.Barrier(together) if together > 1 else None
        self.slow, self.fail = slow, fail
        self.calls = []
        self.lock = threading.Lock()

    def evaluate(self, config, *, seed, trial_dir, values, on_epoch=None, **_):
        with self.lock:
            self.calls.append(values)
        first = seed == trial_seed(config, 1)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        if self.slow and not first:
            time.sleep(self.slow)
        if self.fail(values):
            raise RuntimeError("boom")
        score = sum(op == "conv3x3" for op in config.model.scratch.ops) / 10 + config.train.lr
        for epoch in range(1, config.train.epochs + 1):
            on_epoch({"epoch": epoch, "train_loss": 1.0 / epoch, "images_per_second": 100.0})
        sha = atomic_torch_save(trial_dir / "model.pt", {"values": values, "seed": seed})
        return TrialOutcome({"val_accuracy": score, "params": 10.0}, [{"epoch": 1}], {"model.pt": sha})


def parallel_config(tiny_dict, **executor):
    tiny_dict["search"]["space"] = {
        "model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 2},
        "train.lr": {"choices": [0.05, 0.1]},
    }  # 8 candidates
    tiny_dict["search"]["strategy"] = {"name": "grid"}
    tiny_dict["search"]["budget"] = {"trials": 8}
    tiny_dict["executor"] = {"name": "ray", **executor}
    return validate_config(tiny_dict)




def test_two_trials_run_at_once_and_no_candidate_is_proposed_twice(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict)
    store = RunStore.create(tmp_path, config, {})
    evaluator = ModelWritingEvaluator(together=2)  # a trial alone would time out and fail
    outcome = run_parallel_search(config, store, None, evaluator, executor=ThreadExecutor(evaluator, slots=2))
    assert outcome.stop_reason == "trial budget reached (8 trials)"
    assert [r.state for r in outcome.history] == [TrialState.COMPLETE] * 8
    # grid search would propose a running candidate again if it did not see it: all 8 differ
    started = started_events(store)
    assert len({e["key"] for e in started}) == len(started) == 8
    assert sorted(r.number for r in store.history()) == list(range(1, 9))
    for record in store.history():  # files written by the driver, checked against the journal
        folder = store.trial_dir(record.number)
        assert sha256_file(folder / "model.pt") == record.checksums["model.pt"]
        assert (folder / "trial.json").is_file()
    assert len((store.path / "leaderboard.csv").read_text().splitlines()) == 9
    assert not list(tmp_path.glob("**/nasxfer-trial-*"))  # worker sandboxes never reach the run folder


def test_an_exhausted_space_ends_the_search_once_the_running_trials_finish(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict).apply({"search.budget.trials": 50})
    store = RunStore.create(tmp_path, config, {})
    evaluator = ModelWritingEvaluator()
    outcome = run_parallel_search(config, store, None, evaluator, executor=ThreadExecutor(evaluator, slots=3))
    assert outcome.stop_reason == "search space exhausted" and len(outcome.history) == 8


def test_reporters_see_one_trial_at_a_time(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict)
    store = RunStore.create(tmp_path, config, {})
    reporter = RecordingReporter()
    evaluator = ModelWritingEvaluator(together=2)
    run_parallel_search(config, store, reporter, evaluator, executor=ThreadExecutor(evaluator, slots=2))
    trial_hooks = [(hook, args[0] if hook != "trial_finished" else args[0].number) for hook, args in reporter.calls if hook.startswith(("trial", "epoch"))]
    blocks = []
    for hook, number in trial_hooks:
        if hook == "trial_started":
            blocks.append([number])
        else:
            assert blocks[-1][0] == number, trial_hooks  # no other trial's hooks in between
    assert len(blocks) == 8 and len(reporter.hooks("epoch_finished")) == 8 * config.train.epochs
    assert sum(hook == "message" and "sent to threads" in args[0] for hook, args in reporter.calls) == 8


def test_a_lost_worker_requeues_its_trial_with_the_same_number_and_seed(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict).apply({"search.budget.trials": 4})
    store = RunStore.create(tmp_path, config, {})
    evaluator = ModelWritingEvaluator()
    executor = ThreadExecutor(evaluator, lose=lambda number, attempt: number == 2 and attempt == 1)
    outcome = run_parallel_search(config, store, None, evaluator, executor=executor)
    assert [r.state for r in outcome.history] == [TrialState.COMPLETE] * 4
    requeued = [e for e in store.events() if e["event"] == "trial_requeued"]
    assert [(e["number"], e["attempt"], e["reason"]) for e in requeued] == [(2, 2, "simulated worker death")]
    assert executor.attempts[2] == 2 and len(started_events(store)) == 4  # re-queued, not re-proposed
    trial = next(r for r in outcome.history if r.number == 2)
    assert trial.seed == started_events(store)[1]["seed"]


def test_a_trial_that_keeps_losing_its_worker_fails_after_max_retries(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict, max_retries=1).apply({"search.budget.trials": 3})
    store = RunStore.create(tmp_path, config, {})
    evaluator = ModelWritingEvaluator()
    executor = ThreadExecutor(evaluator, lose=lambda number, attempt: number == 1)
    outcome = run_parallel_search(config, store, None, evaluator, executor=executor)
    failed = [r for r in outcome.history if r.state is TrialState.FAILED]
    assert [r.number for r in failed] == [1] and executor.attempts[1] == 2
    assert failed[0].error == (
        "WorkerLost: lost its worker 2 times (executor.max_retries: 1); last: simulated worker death"
    )
    assert any(e["event"] == "trial_error" and e["number"] == 1 for e in store.events())
    assert len(outcome.history) == 3  # the search went on


def test_failures_in_a_row_stop_new_trials(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict).apply({"search.max_failures": 2})
    store = RunStore.create(tmp_path, config, {})
    evaluator = ModelWritingEvaluator(fail=lambda values: True)
    outcome = run_parallel_search(config, store, None, evaluator, executor=ThreadExecutor(evaluator, slots=2))
    assert outcome.stop_reason.startswith("2 trials failed in a row") and "boom" in outcome.stop_reason
    assert 2 <= len(outcome.history) <= 3  # the trials already running when the streak came still finish


class StopOnFirstResult(Reporter):
    def __init__(self, stop):
        self.stop = stop

    def trial_finished(self, record, best):
        self.stop.request()


def test_a_stop_leaves_running_trials_unfinished_and_resume_runs_them(tmp_path, tiny_dict):
    config = parallel_config(tiny_dict).apply({"search.budget.trials": 4})
    store = RunStore.create(tmp_path, config, {})
    stop = StopRequest()
    evaluator = ModelWritingEvaluator(slow=0.5)  # trial 1 finishes first, trial 2 is still running
    executor = ThreadExecutor(evaluator, slots=2)
    outcome = run_parallel_search(config, store, StopOnFirstResult(stop), evaluator, stop, executor)
    assert outcome.interrupted and outcome.stop_reason == "stopped by request"
    assert [r.number for r in outcome.history] == [1]
    unfinished = [e["number"] for e in store.unfinished_trials()]
    assert unfinished == [2] and len(executor.cancelled) == 1
    assert [e["number"] for e in store.events() if e["event"] == "trial_interrupted"] == [2]
    assert not (store.trial_dir(2) / "model.pt").exists()  # the cancelled trial wrote nothing

    evaluator = ModelWritingEvaluator()
    executor = ThreadExecutor(evaluator, slots=2)
    outcome = run_parallel_search(config, store, None, evaluator, executor=executor)
    assert not outcome.interrupted and sorted(r.number for r in store.history()) == [1, 2, 3, 4]
    assert executor.attempts[2] == 1  # trial 2 ran again, first of this session
    started = started_events(store)
    assert [e["number"] for e in started] == [1, 2, 3, 4]  # resumed, not proposed again
    assert len({e["key"] for e in started}) == 4


def test_run_search_hands_ray_configs_to_the_parallel_loop(tmp_path, tiny_dict, monkeypatch):
    import nasxfer.executors.choice as executors

    config = parallel_config(tiny_dict).apply({"search.budget.trials": 2})
    evaluator = ModelWritingEvaluator()
    made = []
    monkeypatch.setattr(executors, "check_executor", lambda config: None)
    monkeypatch.setattr(executors, "create_executor", lambda config, ev: made.append(ThreadExecutor(ev)) or made[-1])
    store = RunStore.create(tmp_path, config, {})
    outcome = run_search(config, store, None, evaluator)
    assert len(made) == 1 and len(outcome.history) == 2
    started = next(e for e in store.events() if e["event"] == "search_started")
    assert started["executor"] == {"name": "threads", "slots": 2}


# --------------------------------------------------------------------------- config


def test_executor_section_defaults_to_local_and_round_trips(tiny_config):
    assert tiny_config.executor.name == "local"
    config = tiny_config.apply({"executor": {"name": "ray", "address": "10.0.0.5:6379", "gpus_per_trial": 0.5}})
    assert validate_config(__import__("yaml").safe_load(config.to_yaml())).executor == config.executor


@pytest.mark.parametrize(
    "executor, message",
    [
        ({"gpus_per_trial": 1}, "executor: gpus_per_trial is a Ray setting: set executor.name: ray"),
        ({"name": "ray", "gpus_per_trial": 1.5}, "executor.gpus_per_trial: 1.5 GPUs: above 1, give a whole number"),
        ({"name": "ray", "address": "http://head"}, "executor.address: 'http://head' is not local, auto, host:port"),
        ({"name": "ray", "max_retry": 1}, "executor.max_retry: unknown key — did you mean 'max_retries'?"),
        ({"name": "ray", "cpus_per_trial": 0}, "executor.cpus_per_trial: input should be greater than 0"),
    ],
)
def test_bad_executor_settings_are_one_line_errors(tiny_dict, executor, message):
    tiny_dict["executor"] = executor
    with pytest.raises(ConfigError) as error:
        validate_config(tiny_dict)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"search.evaluator.table": "table.json"}, "executor.name: a table lookup takes microseconds"),
        ({"train.device": "cuda:1"}, "train.device: 'cuda:1' names one GPU"),
        ({"train.device": "cpu", "executor.gpus_per_trial": 1}, "executor.gpus_per_trial: 1 reserves GPUs"),
    ],
)
def test_ray_settings_that_cannot_work_are_refused_before_a_run(tiny_config, changes, message):
    config = tiny_config.apply({"executor.name": "ray", **changes})
    with pytest.raises(ConfigError, match=message):
        check_executor(config)


def test_executor_ray_without_ray_says_how_to_install_it(tiny_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when it is not installed
    with pytest.raises(ConfigError) as error:
        check_executor(tiny_config.apply({"executor.name": "ray"}))
    assert str(error.value) == "executor.name: 'ray' needs Ray, which is not installed (pip install 'nasxfer[ray]')"
