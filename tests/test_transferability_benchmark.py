"""benchmarks/transferability.py: the rank ensemble's arithmetic, and one tiny end-to-end run
of the benchmark (screen, search, finetune, τ) where ``../shared/data`` is present."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import transferability  # noqa: E402


def test_rank_mean_averages_each_backbones_rank_over_the_scores():
    # ranks (0 = lowest): [0, 2, 1] and [1, 2, 0] -> means 0.5, 2, 0.5
    assert transferability.rank_mean([[0.1, 0.9, 0.5], [3.0, 7.0, 1.0]]) == [0.5, 2.0, 0.5]


@pytest.mark.skipif(not (transferability.SHARED / "usps").exists() or not transferability.WEIGHTS.exists(),
                    reason="needs ../shared/data (usps, weights)")
def test_a_tiny_run_prints_both_taus_per_score(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NASXFER_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["--tasks", "usps", "--backbones", "resnet20,random", "--per-class", "4", "--test-per-class", "3",
            "--epochs", "1", "--finetune-epochs", "1", "--work", str(tmp_path)]
    assert transferability.main(argv) == 0
    out = capsys.readouterr().out
    assert "usps / resnet20: finetuned test_accuracy" in out and "usps / random:" in out
    assert "| logme |" in out and "| rank-mean |" in out
    assert "mean weighted τ over the tasks, frozen head search:" in out
