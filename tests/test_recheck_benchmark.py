"""benchmarks/recheck.py end to end on the real table, tiny: both arms print a pick."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import recheck  # noqa: E402


@pytest.mark.skipif(not recheck.TABLE.is_file(), reason="needs ../shared/data/nas-bench-macro")
def test_both_arms_run_through_run_search(capsys):
    assert recheck.main(["--seeds", "2", "--trials", "12", "--top", "2"]) == 0  # (a screen would cost minutes)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("search.recheck: null: pick 9")
    assert lines[1].startswith("search.recheck: {top: 2, repeats: 2}: pick 9")
