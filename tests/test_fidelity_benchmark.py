"""benchmarks/fidelity.py's arithmetic, which its published results rest on: the candidates a
scheduled search gets for a share of random search's epochs, counted by a dry run on made-up
curves (no training), and the trials its random-search yardsticks are cut from."""

import sys
from types import SimpleNamespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import pytest  # noqa: E402

from fidelity import ReplayEvaluator, scheduler_override, trials_for_budget, yardsticks  # noqa: E402

COMMON = ["search.budget.minutes=null", "train.device=cpu"]
OPTIONS = {"min_epochs": "2", "eta": "2", "brackets": "2"}


@pytest.mark.parametrize(
    ("name", "epochs", "expected"),
    [
        # brackets of 4 candidates from 2 epochs (16 epochs) and 3 from 4 epochs (16): 4 + 3 + 4
        ("hyperband", 48, (11, 48)),
        ("hyperband", 96, (21, 96)),  # three whole cycles
        ("successive_halving", 48, (12, 48)),  # 4 candidates per 16 epochs; brackets does not apply
    ],
)
def test_candidates_for_an_epoch_budget(tmp_path, name, epochs, expected):
    assert trials_for_budget(COMMON, scheduler_override(name, OPTIONS), epochs, tmp_path) == expected


def test_successive_halving_takes_no_brackets_option():
    expected = "search.scheduler={name: successive_halving, min_epochs: 2, eta: 2}"
    assert scheduler_override("successive_halving", OPTIONS) == expected
    assert "brackets: 2" in scheduler_override("hyperband", OPTIONS)


def test_replay_names_a_candidate_random_search_did_not_train():
    with pytest.raises(KeyError, match="not trained by random search"):
        ReplayEvaluator([]).evaluate(None, seed=1, values={"train.lr": 0.1})


def test_yardsticks_cut_random_search_into_its_first_half_and_a_second_search():
    history = [SimpleNamespace(number=n) for n in range(1, 25)]
    runs = yardsticks(history, 12)
    assert [r.number for r in runs["random (6)"]] == [1, 2, 3, 4, 5, 6]
    assert [r.number for r in runs["random (12) again"]] == list(range(13, 25))
    # Another search of 24 would need 48 trials: only the half is there.
    assert list(yardsticks(history, 24)) == ["random (12)"]


def test_benchmark_runs_end_to_end_with_its_yardsticks(tmp_path, capsys):
    from fidelity import main

    main([
        "--scheduler", "successive_halving", "--scheduler-options", "min_epochs=1,eta=2", "--replay",
        "--seeds", "0", "--random-trials", "2", "--scheduled-trials", "4", "--runs-dir", str(tmp_path),
        "--set", "train.epochs=2", "--set", "data.image_size=8",
    ])  # fmt: skip (random search trains 4 trials for the replay: its trials 3-4 are a second search of 2)
    summary = capsys.readouterr().out.split("summary over seeds")[1]
    rows = [line for line in summary.splitlines() if line.startswith("| random, 2 trials")]
    # The scheduler first, then random search against itself: half its trials, then a second search.
    assert [row.split(" | ")[1] for row in rows] == [
        "successive_halving (4)", "random (1) (yardstick)", "random (2) again (yardstick)",
    ]
    assert "| × 1.50 |" in rows[0] and rows[0].endswith("| 0/1 (seeds none) |")  # 6 epochs against 4: missed
    assert "| × 0.50 |" in rows[1]
    assert "| × 1.00 |" in rows[2] and rows[2].endswith("| – (the same epochs) |")  # no target at equal epochs
