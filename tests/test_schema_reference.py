"""The config reference is generated from the schema, and the checked-in copies match it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import Config, read_yaml_mapping
from nasxfer.config.reference import json_schema, json_text, markdown_reference, sections
from nasxfer.schedulers import SCHEDULER_NAMES
from nasxfer.strategies import STRATEGY_NAMES, strategy_class

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../docs/nasxfer.schema.json"


def _option_models():
    return [(f"search.strategy ({name})", strategy_class(name).Options) for name in STRATEGY_NAMES]


def test_docs_config_md_is_what_the_generator_prints():
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == markdown_reference(), (
        "docs/config.md is out of date: regenerate it with `nasxfer schema > docs/config.md`"
    )


def test_docs_json_schema_is_what_the_generator_prints():
    assert (ROOT / "docs" / "nasxfer.schema.json").read_text(encoding="utf-8") == json_text(), (
        "docs/nasxfer.schema.json is out of date: regenerate it with "
        "`nasxfer schema --format json > docs/nasxfer.schema.json`"
    )


def test_every_field_of_every_section_and_option_model_has_a_description():
    models = list(sections(Config)) + _option_models()
    missing = [
        f"{path or '<top level>'}.{name}"
        for path, model in models
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"fields without Field(description=...): {missing}"
    walked = {model.__name__ for _, model in models}
    # the walk reaches nested, optional, mapped and listed sections
    assert {"SyntheticData", "BackboneConfig", "Dimension", "Objective", "SchedulerConfig", "WarmStartConfig"} <= walked


def test_reference_lists_every_section_strategy_scheduler_and_option():
    text = markdown_reference()
    for path, model in sections(Config):
        for name in model.model_fields:
            assert f"`{path + '.' if path else ''}{name}`" in text
    for name in STRATEGY_NAMES:
        assert f"### `{name}`" in text
        for option in strategy_class(name).Options.model_fields:
            assert f"`search.strategy.{option}`" in text
    for name in SCHEDULER_NAMES:
        assert f"- `{name}`:" in text
    assert "| `search.strategy.population` | int | `10` |" in text  # evolution's and nsga2's default
    assert "| `train.nesterov` | bool | `true` |" in text


def test_reference_is_deterministic_and_names_nothing_of_this_machine():
    text, schema = markdown_reference(), json_text()
    assert text == markdown_reference() and schema == json_text()
    for local in (str(ROOT), str(Path.home())):
        assert local not in text and local not in schema


def test_cli_schema_prints_markdown_by_default_and_json_on_request():
    runner = CliRunner()
    markdown = runner.invoke(app, ["schema"])
    assert markdown.exit_code == 0 and markdown.stdout == markdown_reference()
    as_json = runner.invoke(app, ["schema", "--format", "json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == json_schema()
    assert runner.invoke(app, ["schema", "--format", "xml"]).exit_code != 0


def test_generating_the_reference_imports_neither_torch_nor_optuna():
    code = (
        "import sys; from nasxfer.config.reference import markdown_reference, json_text; "
        "markdown_reference(); json_text(); print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_each_shipped_config_points_editors_at_the_schema(path):
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE
    assert (path.parent / "../docs/nasxfer.schema.json").resolve().is_file()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_the_json_schema_accepts_each_shipped_config(path):
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(read_yaml_mapping(path))]
    assert not errors


def test_the_json_schema_is_valid_and_knows_the_shorthands():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"model": {"backbone": "resnet18"}, "search": {"warm_start": "run-1"}})
    assert not validator.is_valid({"train": {"epochs": 0}})
    assert not validator.is_valid({"trian": {}})
