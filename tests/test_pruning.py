"""The median pruner: direction-aware, after the warm-up, journalled with its reason."""

import statistics

import pytest

from curves import CurveEvaluator, accuracy
from nasxfer.errors import ConfigError
from nasxfer.schedulers.pruning import MedianPruner, create_pruner
from nasxfer.search.runner import run_search
from nasxfer.storage.store import RunStore
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def record(number, losses, state=TrialState.COMPLETE):
    curve = [{"epoch": e, "val_loss": v} for e, v in enumerate(losses, start=1)]
    return TrialRecord(number, f"k{number}", {}, state, {"val_loss": losses[-1]}, curve)


def test_worse_than_the_median_is_direction_aware():
    pruner = MedianPruner(ObjectiveSpec("val_loss", "min"), warmup_epochs=1, min_trials=3)
    history = [record(1, [1.0, 0.5, 0.4]), record(2, [1.0, 0.6, 0.4]), record(3, [1.0, 0.7, 0.4])]
    assert pruner.check(history, {"epoch": 2, "val_loss": 0.65}, epochs=3) == (
        "val_loss 0.6500 after epoch 2 is worse than the median 0.6000 of 3 complete trials there"
    )
    assert pruner.check(history, {"epoch": 2, "val_loss": 0.55}, epochs=3) is None  # lower loss is better
    assert pruner.check(history, {"epoch": 1, "val_loss": 9.0}, epochs=3) is None  # warm-up
    assert pruner.check(history, {"epoch": 3, "val_loss": 9.0}, epochs=3) is None  # the last epoch
    # failed and pruned trials do not make the median; with two complete trials there are too few
    history[2] = record(3, [1.0, 0.7], TrialState.PRUNED)
    assert pruner.check(history, {"epoch": 2, "val_loss": 0.65}, epochs=3) is None


def test_a_search_prunes_below_the_median_and_pays_only_for_what_it_trained(tmp_path, tiny_config):
    config = tiny_config.apply(
        {"train.epochs": 4, "search.budget.trials": 10, "search.pruner": {"name": "median", "warmup_epochs": 1, "min_trials": 2}}
    )
    store = RunStore.create(tmp_path, config, {})
    evaluator = CurveEvaluator()
    outcome = run_search(config, store, None, evaluator)
    history = outcome.history
    pruned = [r for r in history if r.state is TrialState.PRUNED]
    assert pruned and all(r.epochs_reached == 2 for r in pruned)  # non-crossing curves: caught at the first chance
    assert [r.state for r in history[:2]] == [TrialState.COMPLETE] * 2  # min_trials complete ones first
    for trial in pruned:  # checked independently: below the median of the complete trials before it
        earlier = [accuracy(r.values, 2) for r in history if r.number < trial.number and r.state is TrialState.COMPLETE]
        assert accuracy(trial.values, 2) < statistics.median(earlier)
        assert trial.reason.startswith("val_accuracy ") and "median" in trial.reason
    assert len(evaluator.trained) == outcome.epochs == 4 * (len(history) - len(pruned)) + 2 * len(pruned)
    assert not list(store.path.glob("trials/*/checkpoint-*.pt"))
    assert outcome.best.state is TrialState.COMPLETE


def test_pruner_settings_that_cannot_work_are_refused(tiny_config):
    objective = ObjectiveSpec()
    too_long = tiny_config.apply({"search.pruner": {"name": "median", "warmup_epochs": 1}})  # 2 epochs
    with pytest.raises(ConfigError, match=r"search.pruner.warmup_epochs: 1 leaves no epoch to prune at"):
        create_pruner(too_long, objective)
    by_params = tiny_config.apply({"search.pruner": {"name": "median", "warmup_epochs": 0}, "search.objective": {"metric": "params", "mode": "min"}})
    with pytest.raises(ConfigError, match=r"search.pruner: the objective 'params'"):
        create_pruner(by_params, objective)


def test_unknown_pruner_names_the_choices(tiny_config):
    with pytest.raises(ConfigError, match=r"search.pruner.name: unknown pruner 'mean' — did you mean 'median'\? \(choices: median\)"):
        tiny_config.apply({"search.pruner": {"name": "mean"}})
