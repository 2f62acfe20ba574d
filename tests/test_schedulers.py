"""Successive halving, Hyperband and ASHA on deterministic curves: rung sizes, promotions,
continuation from checkpoints, and replay of the journal after a stop or a crash."""

import shutil
from collections import Counter

import pytest

from curves import CurveEvaluator, accuracy, quality
from nasxfer.progress.reporter import Reporter
from nasxfer.search.objectives import objective_of
from nasxfer.search.outcome import StopRequest
from nasxfer.search.runner import run_search
from nasxfer.schedulers import create_scheduler
from nasxfer.schedulers.base import NewCandidate, Promotion
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import TrialRecord, TrialState

COMPLETE, PAUSED, PRUNED = TrialState.COMPLETE, TrialState.PAUSED, TrialState.PRUNED


def scheduled(config, name, trials, epochs=9, **settings):
    return config.apply(
        {"train.epochs": epochs, "search.budget.trials": trials, "search.scheduler": {"name": name, **settings}}
    )


def actions(store):
    """The journal's starts and promotions: (event, trial, epochs)."""
    kinds = ("trial_started", "trial_promoted")
    return [(e["event"], e["number"], e.get("epochs")) for e in store.events() if e["event"] in kinds]


def histories(store):
    """Before each start or promotion: the event and the history the runner had then."""
    latest: dict[int, TrialRecord] = {}
    for event in store.events():
        if event["event"] == "trial_finished":
            record = TrialRecord.from_json(event["trial"])
            latest[record.number] = record
        elif event["event"] in ("trial_started", "trial_promoted"):
            yield event, list(latest.values())


def assert_replays(store, config):
    """Every start and promotion in the journal is what the scheduler decides from the history
    before it: the schedule is rebuilt from the journal alone."""
    scheduler = create_scheduler(config, objective_of(config))
    for event, history in histories(store):
        step = scheduler.decide(history, can_start_new=len(history) < config.search.budget.trials).next
        if event["event"] == "trial_promoted":
            assert step == Promotion(event["number"], event["epochs"])
        else:
            assert step == NewCandidate(event["epochs"], event["bracket"])


def summary(history):
    return [(r.number, r.key, r.state.value, r.epochs_reached, r.metrics.get("val_accuracy")) for r in history]


def run(tmp_path, config, name="run", **kwargs):
    store = RunStore.create(tmp_path / name, config, {})
    evaluator = CurveEvaluator()
    return store, evaluator, run_search(config, store, kwargs.pop("reporter", None), evaluator, **kwargs)


def test_successive_halving_keeps_9_then_3_then_1(tmp_path, tiny_config):
    config = scheduled(tiny_config, "successive_halving", trials=9)
    store, evaluator, outcome = run(tmp_path, config)
    done = actions(store)
    assert [a for a in done if a[0] == "trial_started"] == [("trial_started", n, 1) for n in range(1, 10)]
    promoted = [(n, epochs) for event, n, epochs in done if event == "trial_promoted"]
    assert [epochs for _, epochs in promoted] == [3, 3, 3, 9]
    best_first = sorted(outcome.history, key=lambda r: -quality(r.values))
    assert {n for n, e in promoted if e == 3} == {r.number for r in best_first[:3]}
    assert promoted[-1][0] == best_first[0].number == outcome.best.number
    assert Counter(r.state for r in outcome.history) == {COMPLETE: 1, PRUNED: 8}
    assert all("not among the best" in r.reason for r in outcome.history if r.state is PRUNED)
    # promotions continue from the epoch checkpoint: no epoch is trained twice
    assert len(evaluator.trained) == len(set(evaluator.trained)) == 9 + 3 * 2 + 1 * 6 == outcome.epochs
    assert outcome.best.curve == [
        {"epoch": e, "train_loss": 1.0 / e, "images_per_second": 100.0, "val_accuracy": accuracy(outcome.best.values, e)}
        for e in range(1, 10)
    ]
    assert outcome.stop_reason == "trial budget reached (9 trials)"
    assert not list(store.path.glob("trials/*/checkpoint-*.pt"))  # retired trials' checkpoints are freed
    assert_replays(store, config)


def test_hyperband_runs_its_brackets_in_turn(tmp_path, tiny_config):
    config = scheduled(tiny_config, "hyperband", trials=17)
    store, evaluator, outcome = run(tmp_path, config)
    starts = [e for e in store.events() if e["event"] == "trial_started"]
    assert [(e["epochs"], e["bracket"]) for e in starts] == [(1, 0)] * 9 + [(3, 1)] * 5 + [(9, 2)] * 3
    done = actions(store)
    # synchronous: bracket 0 is finished (its last promotion made) before bracket 1 starts
    assert done.index(("trial_started", 10, 3)) > max(i for i, a in enumerate(done) if a[0] == "trial_promoted" and a[1] <= 9)
    promoted = Counter((next(r.bracket for r in outcome.history if r.number == n), epochs)
                       for event, n, epochs in done if event == "trial_promoted")
    assert promoted == {(0, 3): 3, (0, 9): 1, (1, 9): 1}
    assert Counter(r.state for r in outcome.history) == {COMPLETE: 5, PRUNED: 12}
    assert len(evaluator.trained) == len(set(evaluator.trained)) == 21 + (5 * 3 + 6) + 3 * 9 == outcome.epochs
    assert_replays(store, config)


def in_top_fraction(history, number, rung, eta):
    """Independently of the scheduler: is trial ``number`` among the best floor(m/eta) at ``rung``?"""
    at_rung = sorted(((accuracy(r.values, rung), r.number) for r in history if r.epochs_reached >= rung), reverse=True)
    return number in [n for _, n in at_rung[: len(at_rung) // eta]]


def test_asha_promotes_as_soon_as_a_trial_is_in_the_top_third(tmp_path, tiny_config):
    config = scheduled(tiny_config, "asha", trials=9)
    store, evaluator, outcome = run(tmp_path, config)
    done = actions(store)
    # asynchronous: the best of the first three goes on at once, without waiting for nine
    first_three = [r for r in outcome.history if r.number <= 3]
    assert done[3] == ("trial_promoted", max(first_three, key=lambda r: quality(r.values)).number, 3)
    rungs = {1: None, 3: 1, 9: 3}  # rung -> the rung below it
    for event, history in histories(store):
        if len(history) >= 9:
            break  # the budget is spent: the rest only finishes what was begun
        paused = [r for r in history if r.state is PAUSED]
        if event["event"] == "trial_promoted":
            assert in_top_fraction(history, event["number"], rungs[event["epochs"]], 3)
        else:  # a new candidate only when no paused trial is in its rung's top third
            assert not any(in_top_fraction(history, r.number, r.epochs_reached, 3) for r in paused)
    assert any(r.state is COMPLETE for r in outcome.history)  # each rung promotes its best at the end
    assert outcome.best.number == max(outcome.history, key=lambda r: quality(r.values)).number
    assert len(evaluator.trained) == len(set(evaluator.trained)) == outcome.epochs
    assert_replays(store, config)


def test_asha_brackets_take_turns_and_start_higher(tmp_path, tiny_config):
    config = scheduled(tiny_config, "asha", trials=4, brackets=2)
    store, _, outcome = run(tmp_path, config)
    starts = [(e["epochs"], e["bracket"]) for e in store.events() if e["event"] == "trial_started"]
    assert starts == [(1, 0), (3, 1), (1, 0), (3, 1)]
    assert_replays(store, config)


class StopAt(Reporter):
    def __init__(self, stop, number, epoch):
        self.stop, self.at, self.seen = stop, (number, epoch), []

    def epoch_finished(self, number, row, epochs):
        self.seen.append((number, row["epoch"]))
        if (number, row["epoch"]) == self.at:
            self.stop.request()


def test_a_stop_inside_a_promotion_resumes_from_its_checkpoint(tmp_path, tiny_config):
    config = scheduled(tiny_config, "successive_halving", trials=9)
    reference, _, expected = run(tmp_path, config, "reference")
    first_promoted = next(n for event, n, _ in actions(reference) if event == "trial_promoted")

    stop = StopRequest()
    store = RunStore.create(tmp_path / "stopped", config, {})
    outcome = run_search(config, store, StopAt(stop, first_promoted, 2), CurveEvaluator(), stop=stop)
    assert outcome.interrupted and store.interrupted_trial()["event"] == "trial_promoted"
    evaluator = CurveEvaluator()
    outcome = run_search(config, store, None, evaluator)
    assert evaluator.trained[0] == (first_promoted, 3)  # epochs 1 and 2 came from checkpoints
    assert actions(store) == actions(reference)
    assert summary(outcome.history) == summary(expected.history)


@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_replay_after_a_crash_mid_bracket_decides_the_same(tmp_path, tiny_config, name):
    config = scheduled(tiny_config, name, trials=12)
    reference, _, expected = run(tmp_path, config, "reference")
    # a kill right after the second promotion was journalled: the copy's journal ends there
    lines = (reference.path / "journal.jsonl").read_text().splitlines(keepends=True)
    promotions = [i for i, line in enumerate(lines) if '"event":"trial_promoted"' in line]
    crashed = tmp_path / "crashed" / reference.run_id
    shutil.copytree(reference.path, crashed)
    (crashed / "journal.jsonl").write_text("".join(lines[: promotions[1] + 1]))
    store = RunStore(crashed)
    assert store.interrupted_trial()["event"] == "trial_promoted"
    outcome = run_search(config, store, None, CurveEvaluator())
    assert actions(store) == actions(reference)
    assert summary(outcome.history) == summary(expected.history)
    assert_replays(store, config)


def test_rungs_of_fit_continue_the_same_training(tiny_config):
    """Stopping at a rung and resuming from its state equals training straight through."""
    import torch

    from nasxfer.training.fit import fit
    from test_fit import toy_batches

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    cfg = tiny_config.train.model_copy(update={"epochs": 4})
    straight = fit(model(), toy_batches(), toy_batches(seed=1), cfg, 3)
    states = []
    first = fit(model(), toy_batches(), toy_batches(seed=1), cfg, 3, stop_at_epoch=1, on_checkpoint=lambda s, e: states.append(s))
    assert len(first.curve) == 1
    again = fit(model(), toy_batches(), toy_batches(seed=1), cfg, 3, resume=states[-1], stop_at_epoch=4)
    strip = lambda curve: [{k: v for k, v in row.items() if "second" not in k} for row in curve]  # noqa: E731
    assert strip(again.curve) == strip(straight.curve)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"search.evaluator.table": "t.json"}, "search.scheduler: a results table"),
        ({"search.objective": {"metric": "params", "mode": "min"}}, "search.scheduler: the objective 'params'"),
        ({"search.scheduler.min_epochs": 9}, "search.scheduler.min_epochs: 9 leaves no rung"),
        ({"search.scheduler.brackets": 2}, "search.scheduler.brackets: successive_halving has one"),
        ({"search.pruner": {"name": "median"}}, "search.pruner: a scheduler already stops trials"),
        ({"search.space.train.epochs": {"low": 2, "high": 9}}, "search.space.train.epochs: with a scheduler"),
    ],
)
def test_settings_a_scheduler_cannot_work_with_are_one_line_errors(tiny_config, changes, message):
    from nasxfer.errors import ConfigError
    from nasxfer.search.runner import check_search_setup

    config = scheduled(tiny_config, "successive_halving", trials=9).apply(changes)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("'", "'")) as info:
        check_search_setup(config)
    assert "\n" not in str(info.value)


def test_unknown_scheduler_names_the_choices(tiny_config):
    from nasxfer.errors import ConfigError

    with pytest.raises(ConfigError, match=r"search.scheduler.name: unknown scheduler 'sha'.*choices: asha, hyperband"):
        tiny_config.apply({"search.scheduler": {"name": "sha"}})
