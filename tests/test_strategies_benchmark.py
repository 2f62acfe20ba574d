"""benchmarks/strategies.py's re-checked pick, which docs/screening.md's figures rest on: the
leaders come from the searched trials only, and the pick among them is by the mean of runs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from strategies import rechecked_pick  # noqa: E402

from nasxfer.search.trial import TrialRecord, TrialState  # noqa: E402


def record(number, observed, mean):
    metrics = {"val_accuracy": observed, "mean_accuracy": mean}
    return TrialRecord(number, f"k{number}", {}, TrialState.COMPLETE, metrics, seed=number)


def test_the_leader_with_the_best_mean_is_picked_not_the_luckiest_run():
    history = [record(1, 0.95, 0.90), record(2, 0.93, 0.92), record(3, 0.91, 0.93), record(4, 0.99, 0.99)]
    # a budget of 4 with one leader: 2 searched trials, the luckier run (0.95) is the leader
    assert rechecked_pick(history, 4, 1) == 90.0
    # a budget of 7 with two leaders searches 3 trials; of the two leaders
    # by observed accuracy (trials 1 and 2) the better mean (0.92) wins; trial 4 was never searched
    assert round(rechecked_pick(history, 7, 2), 6) == 92.0
