"""Every command's --help reads cleanly: no types on flags, no swallowed defaults, no split words."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from nasxfer.cli import FINETUNE_DEFAULTS, app

COMMANDS = ["validate", "search", "screen", "finetune", "report", "compare", "runs", "export", "predict"]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_no_flag_types_and_no_stray_spaces(command):
    text = _help(*([command] if command else []))
    assert "<bool>" not in text
    # "Trial number ." was a help string whose "[default: …]" rich markup swallowed
    assert not re.search(r"\w \.(\s|$)", text), text


def test_finetune_help_shows_its_defaults():
    text = " ".join(_help("finetune").replace("│", " ").split())  # rows wrap inside the box
    assert f"finetune.epochs, {FINETUNE_DEFAULTS['epochs']}" in text
    assert "./runs" in text


def test_export_help_keeps_words_whole():
    assert "state_dic\n" not in _help("export").replace(" ", "").replace("│", "")


def test_finetune_defaults_shown_are_the_schemas():
    from nasxfer.config import FinetuneConfig

    defaults = FinetuneConfig()
    assert FINETUNE_DEFAULTS == {"epochs": defaults.epochs, "seeds": defaults.seeds}


def test_version():
    import nasxfer

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"nasxfer {nasxfer.__version__}"
