from strategy_conformance import FINITE, StrategyConformance, record

from nasxfer.strategies import STRATEGY_NAMES, create_strategy
from nasxfer.trial import ObjectiveSpec


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


def test_registry_names():
    assert set(STRATEGY_NAMES) >= {"random", "grid"}


def test_unknown_option_names_the_allowed_ones():
    import pytest

    from nasxfer.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^search.strategy.population: not an option of strategy 'random'"):
        create_strategy("random", FINITE, 0, ObjectiveSpec(), {"population": 3})
