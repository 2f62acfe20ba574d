import pytest
from strategy_conformance import FINITE, LEARN, LearningConformance, StrategyConformance, fake_score, record

from nasxfer.errors import ConfigError
from nasxfer.search.space import Candidate, Choice, Dimension, FloatRange, IntRange, SearchSpace
from nasxfer.strategies import STRATEGY_NAMES, create_strategy
from nasxfer.search.trial import ObjectiveSpec, TrialRecord, TrialState


def differs_in_one_coordinate(a: dict, b: dict) -> bool:
    diffs = 0
    for path in a:
        x, y = a[path], b[path]
        if isinstance(x, list):
            diffs += sum(u != v for u, v in zip(x, y))
        else:
            diffs += x != y
    return diffs == 1


def scored(number: int, values: dict, score: float) -> TrialRecord:
    candidate = Candidate(values)
    return TrialRecord(number, candidate.key, candidate.as_dict(), TrialState.COMPLETE, {"val_accuracy": score})


def pending_record(number: int, values: dict) -> TrialRecord:
    """A trial still running (parallel trials): proposed, not scored."""
    candidate = Candidate(values)
    return TrialRecord(number, candidate.key, candidate.as_dict(), TrialState.RUNNING)


class TestRandom(StrategyConformance):
    strategy_name = "random"

    def test_different_seeds_explore_differently(self):
        a = [r.key for r in self.drive(self.make(seed=1), 10)]
        b = [r.key for r in self.drive(self.make(seed=2), 10)]
        assert a != b


class TestGrid(StrategyConformance):
    strategy_name = "grid"

    def test_walks_the_grid_in_order(self):
        strategy = self.make(FINITE)
        history = self.drive(strategy, 18)
        assert [r.key for r in history] == [c.key for c in FINITE.grid()]


class TestLocal(StrategyConformance, LearningConformance):
    strategy_name = "local"

    def test_climbs_from_the_best_initial_sample(self):
        strategy = create_strategy("local", LEARN, 0, ObjectiveSpec(), {"initial": 3})
        history = self.drive(strategy, 3)
        best = max(history, key=lambda r: fake_score(r.values))
        assert differs_in_one_coordinate(best.values, strategy.propose(history).values)

    def test_restarts_when_the_neighbourhood_is_exhausted(self):
        space = SearchSpace((Dimension("train.epochs", IntRange(1, 10)), Dimension("train.batch_size", IntRange(1, 10))))
        strategy = create_strategy("local", space, 0, ObjectiveSpec(), {"initial": 1})
        # A local optimum at (5, 5): all four neighbours tried and worse.
        history = [scored(1, {"train.epochs": 5, "train.batch_size": 5}, 0.9)]
        for n, (e, b) in enumerate([(4, 5), (6, 5), (5, 4), (5, 6)], start=2):
            history.append(scored(n, {"train.epochs": e, "train.batch_size": b}, 0.5))
        restart = strategy.propose(history)
        assert restart.key not in {r.key for r in history}
        assert not differs_in_one_coordinate(restart.values, history[0].values)
        # The new climb goes on from the restart point, though it scored below the old optimum.
        history.append(scored(6, restart.values, 0.1))
        assert differs_in_one_coordinate(restart.values, strategy.propose(history).values)


class TestEvolution(StrategyConformance, LearningConformance):
    strategy_name = "evolution"

    def test_first_population_is_random_then_children_are_one_mutation_away(self):
        strategy = create_strategy("evolution", LEARN, 0, ObjectiveSpec(), {"population": 4, "sample": 2})
        history = self.drive(strategy, 10)
        for i in range(4, 10):
            window = history[i - 4 : i]
            assert any(differs_in_one_coordinate(r.values, history[i].values) for r in window)

    def test_the_oldest_trials_age_out(self):
        # Trial 1 is by far the best, but the population is the 3 most recent trials.
        strategy = create_strategy("evolution", LEARN, 0, ObjectiveSpec(), {"population": 3, "sample": 3})
        history = [scored(1, {"model.scratch.ops": ["mbconv_k3_e3"] * 6}, 0.99)]
        for n, ops in enumerate([["identity"] * 6, ["conv3x3"] * 6, ["identity"] * 3 + ["conv3x3"] * 3], start=2):
            history.append(scored(n, {"model.scratch.ops": ops}, n / 10))
        child = strategy.propose(history)
        assert differs_in_one_coordinate(history[-1].values, child.values)  # the window's best

    def test_pending_trials_never_join_the_population(self):
        # A population of 3 over 4 trials: the pending one (no score yet) would push the
        # oldest, by far the best, out of the window if it were counted as a member.
        strategy = create_strategy("evolution", LEARN, 0, ObjectiveSpec(), {"population": 3, "sample": 3})
        history = [scored(1, {"model.scratch.ops": ["mbconv_k3_e3"] * 6}, 0.99)]
        for n, ops in enumerate([["identity"] * 6, ["conv3x3"] * 6], start=2):
            history.append(scored(n, {"model.scratch.ops": ops}, n / 10))
        pending = pending_record(4, {"model.scratch.ops": ["identity"] * 3 + ["conv3x3"] * 3})
        assert strategy.population(history + [pending]) == history
        child = strategy.propose(history + [pending])
        assert differs_in_one_coordinate(history[0].values, child.values)  # the best is still a parent

    def test_sample_larger_than_population_is_a_config_error(self):
        with pytest.raises(ConfigError, match="sample"):
            create_strategy("evolution", LEARN, 0, ObjectiveSpec(), {"population": 3, "sample": 4})


class TestTPE(StrategyConformance, LearningConformance):
    strategy_name = "tpe"
    options = {"startup": 5}

    def test_history_becomes_optuna_trials(self):
        space = SearchSpace(
            (
                Dimension("model.scratch.ops", Choice(("identity", "conv3x3")), repeat=2),
                Dimension("train.epochs", IntRange(1, 5)),
                Dimension("train.lr", FloatRange(0.001, 0.1, log=True)),
            )
        )
        values = {"model.scratch.ops": ["conv3x3", "identity"], "train.epochs": 3, "train.lr": 0.01}
        failed = Candidate({**values, "train.epochs": 4})
        history = [scored(1, values, 0.8), record(2, failed, failed=True)]
        study, distributions = create_strategy("tpe", space, 0, ObjectiveSpec(), {}).study(history, seed=0)
        assert sorted(distributions) == ["model.scratch.ops[0]", "model.scratch.ops[1]", "train.epochs", "train.lr"]
        first, second = study.trials
        assert first.params == {"model.scratch.ops[0]": 1, "model.scratch.ops[1]": 0, "train.epochs": 3, "train.lr": 0.01}
        assert first.value == 0.8 and second.state.name == "FAIL"

    def test_pending_trials_are_replayed_as_running_for_the_constant_liar(self):
        history = [scored(1, {"model.scratch.ops": ["conv3x3"] * 6}, 0.8)]
        pending = pending_record(2, {"model.scratch.ops": ["identity"] * 6})
        strategy = create_strategy("tpe", LEARN, 0, ObjectiveSpec(), {})
        study, _ = strategy.study(history + [pending], seed=0)
        assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]
        assert study.trials[1].params == {f"model.scratch.ops[{i}]": 0 for i in range(6)}

    def test_minimizing_objective_is_told_as_larger_is_better(self):
        history = [record(1, FINITE.sample(__import__("random").Random(0)), objective=ObjectiveSpec("val_loss", "min"))]
        strategy = create_strategy("tpe", FINITE, 0, ObjectiveSpec("val_loss", "min"), {})
        study, _ = strategy.study(history, seed=0)
        assert study.trials[0].value == -history[0].metrics["val_loss"]


class TestNSGA2(StrategyConformance, LearningConformance):
    strategy_name = "nsga2"
    options = {"population": 8}
    learn_steps = 40

    def test_replayed_trials_keep_their_generations(self):
        strategy = self.make(LEARN)
        history = self.drive(strategy, 17, fail_every=5)
        study, distributions = strategy.study(history, seed=0)
        study.ask(distributions)
        *replayed, asked = study.trials
        key = next(k for k in asked.system_attrs if k.endswith("generation"))
        # 14 complete trials before it: generation 0 holds 8, generation 1 the next 6 (the
        # failed ones do not count), so the new trial is still in generation 1 and has parents.
        assert asked.system_attrs[key] == 1
        assert [t.system_attrs[key] for t in replayed] == [0] * 9 + [1] * 8


def test_nsga2_generations_rule():
    from nasxfer.strategies.nsga2 import generations

    assert generations([True] * 5, 2) == [0, 0, 1, 1, 2]
    assert generations([True, False, True, True], 2) == [0, 0, 0, 1]


class TestReinforce(StrategyConformance, LearningConformance):
    strategy_name = "reinforce"

    def test_policy_moves_towards_the_rewarded_op(self):
        space = SearchSpace((Dimension("model.scratch.ops", Choice(("identity", "conv3x3")), repeat=2),))
        strategy = create_strategy("reinforce", space, 0, ObjectiveSpec(), {})
        good, bad = {"model.scratch.ops": ["conv3x3", "conv3x3"]}, {"model.scratch.ops": ["identity", "identity"]}
        history = [scored(i, good if i % 2 else bad, 0.9 if i % 2 else 0.5) for i in range(1, 9)]
        p = strategy.policy(history).probabilities("model.scratch.ops")
        assert (p[:, 1] > 0.7).all()

    def test_entropy_bonus_keeps_the_policy_wider(self):
        space = SearchSpace((Dimension("model.scratch.ops", Choice(("identity", "conv3x3")), repeat=2),))
        good, bad = {"model.scratch.ops": ["conv3x3", "conv3x3"]}, {"model.scratch.ops": ["identity", "identity"]}
        history = [scored(i, good if i % 2 else bad, 0.9 if i % 2 else 0.5) for i in range(1, 21)]
        sharp = create_strategy("reinforce", space, 0, ObjectiveSpec(), {}).policy(history)
        wide = create_strategy("reinforce", space, 0, ObjectiveSpec(), {"entropy": 1.0}).policy(history)
        assert wide.probabilities("model.scratch.ops")[0, 1] < sharp.probabilities("model.scratch.ops")[0, 1]


def test_registry_names():
    assert set(STRATEGY_NAMES) >= {"random", "grid", "local", "evolution", "tpe", "nsga2", "reinforce"}


def test_listing_strategies_imports_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, nasxfer.strategies; print(sorted(m for m in ('optuna', 'numpy', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"^search.strategy.population: not an option of strategy 'random'"):
        create_strategy("random", FINITE, 0, ObjectiveSpec(), {"population": 3})
    with pytest.raises(ConfigError, match=r"options: population, sample"):
        create_strategy("evolution", FINITE, 0, ObjectiveSpec(), {"populaton": 3})


import pytest


@pytest.mark.parametrize("name", ["random", "local", "evolution", "nsga2", "tpe"])
def test_strategies_run_with_two_objectives(name):
    """Multi-objective: proposals stay valid, new and deterministic with a second objective."""
    from strategy_conformance import MIXED, fake_score

    from nasxfer.search.trial import TrialRecord, TrialState

    objectives = (ObjectiveSpec("val_accuracy", "max"), ObjectiveSpec("latency_ms", "min"))

    def drive(seed):
        strategy = create_strategy(name, MIXED, seed, objectives[0], {}, objectives)
        history = []
        for i in range(15):
            candidate = strategy.propose(history)
            values = candidate.as_dict()
            latency = sum(op != "identity" for op in values["model.scratch.ops"]) + values["train.lr"]
            history.append(
                TrialRecord(i + 1, candidate.key, values, TrialState.COMPLETE,
                            {"val_accuracy": fake_score(values), "latency_ms": latency})
            )
        return history

    history = drive(4)
    assert len({r.key for r in history}) == 15
    assert [r.key for r in drive(4)] == [r.key for r in history]
