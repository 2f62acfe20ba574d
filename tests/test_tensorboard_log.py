"""``output.tensorboard``: the config switch, the missing-package error, the scalars written."""

from __future__ import annotations

import sys

import pytest
from fake_run import RECORDS, drive, fake_record
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import validate_config
from nasxfer.errors import ConfigError
from nasxfer.progress.tensorboard_log import TensorBoardReporter, require_tensorboard


class FakeWriter:
    """Stands in for torch's SummaryWriter; every instance is kept to be inspected."""

    made: list["FakeWriter"] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.texts: list[tuple[str, str]] = []
        self.closed = False
        FakeWriter.made.append(self)

    def add_scalar(self, tag, value, global_step=None):
        assert not self.closed
        self.scalars.append((tag, value, global_step))

    def add_text(self, tag, text, global_step=None):
        self.texts.append((tag, text))

    def flush(self):
        pass

    def close(self):
        self.closed = True


@pytest.fixture
def no_tensorboard(monkeypatch):
    # None in sys.modules makes `import torch.utils.tensorboard` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)


def test_output_section_defaults_off_and_forbids_unknown_keys(tiny_dict):
    assert validate_config(tiny_dict).output.tensorboard is False
    with pytest.raises(ConfigError, match=r"output.tensorbord: unknown key — did you mean 'tensorboard'\?"):
        validate_config({**tiny_dict, "output": {"tensorbord": True}})


def test_missing_tensorboard_is_a_one_line_config_error(no_tensorboard):
    with pytest.raises(ConfigError) as caught:
        require_tensorboard()
    message = str(caught.value)
    assert message.startswith("output.tensorboard:") and "pip install tensorboard" in message and "\n" not in message


def test_search_with_tensorboard_but_without_the_package_fails_before_the_run_folder(no_tensorboard, write_config, tiny_dict, runs_dir):
    tiny_dict["output"] = {"tensorboard": True}
    for command in ("search", "validate"):
        result = CliRunner().invoke(app, [command, str(write_config(tiny_dict))])
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "output.tensorboard" in lines[0] and "pip install tensorboard" in lines[0]
    assert not runs_dir.exists()


def test_reporter_writes_each_trials_epochs_and_the_search_best(tmp_path, tiny_config):
    FakeWriter.made = []
    reporter = TensorBoardReporter(tmp_path / "tensorboard", writer_factory=FakeWriter)
    drive(reporter, tiny_config, [*RECORDS, fake_record(4, 0.7, ["conv3x3", "identity"])])
    search, *trials = FakeWriter.made
    assert search.log_dir == str(tmp_path / "tensorboard" / "search")
    assert [w.log_dir.rsplit("/", 1)[1] for w in trials] == ["trial-0001", "trial-0002", "trial-0003", "trial-0004"]
    assert all(w.closed for w in FakeWriter.made)
    first = trials[0]
    assert ("val/accuracy", pytest.approx(0.2), 1) in first.scalars and ("train/loss", 0.6, 2) in first.scalars
    assert {tag for tag, _, _ in first.scalars} == {"train/loss", "val/loss", "val/accuracy", "val/f1", "speed/images_per_second", "speed/train_seconds"}
    assert first.texts[0][0] == "values" and "identity" in first.texts[0][1]
    assert trials[1].scalars == []  # the failed trial has no epochs
    assert ("best/val_accuracy", 0.8, 4) in search.scalars and ("trial/val_accuracy", 0.7, 4) in search.scalars
    assert not any(step == 2 and tag.startswith("trial/") for tag, _, step in search.scalars)


def test_make_reporter_adds_tensorboard_when_asked(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from nasxfer.progress import tensorboard_log
    from nasxfer.progress.live import make_reporter

    monkeypatch.setattr(tensorboard_log, "require_tensorboard", lambda: FakeWriter)
    reporter = make_reporter(Console(file=io.StringIO()), run_dir=tmp_path, tensorboard=True)
    try:
        assert isinstance(reporter.reporters[-1], TensorBoardReporter)
        assert reporter.reporters[-1].log_dir == tmp_path / "tensorboard"
    finally:
        reporter.stop()
