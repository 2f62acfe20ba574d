from pathlib import Path

import pytest

from nasxfer.config import Config, load_config, parse_override, set_path, validate_config
from nasxfer.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_every_shipped_config_validates():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert isinstance(cfg, Config)


def test_overrides_parse_yaml_values_and_reach_search(write_config, tiny_dict):
    path = write_config(tiny_dict)
    cfg = load_config(
        path,
        ["train.lr=0.05", "train.nesterov=false", "search.strategy.name=grid", "search.budget.trials=7",
         "model.scratch.ops=[identity, conv3x3]"],
    )
    assert cfg.train.lr == 0.05 and cfg.train.nesterov is False
    assert cfg.search.strategy.name == "grid" and cfg.search.budget.trials == 7
    assert cfg.model.scratch.ops == ["identity", "conv3x3"]


def test_override_can_set_a_whole_space_dimension(write_config, tiny_dict):
    cfg = load_config(write_config(tiny_dict), ["search.space.train.weight_decay={low: 0.0001, high: 0.01, log: true}"])
    assert cfg.search.space["train.weight_decay"].log is True


def test_apply_returns_a_new_validated_config(tiny_config):
    new = tiny_config.apply({"train.lr": 0.3, "model.scratch.ops": ["identity", "identity"]})
    assert new.train.lr == 0.3 and new.model.scratch.ops == ["identity", "identity"]
    assert tiny_config.train.lr == 0.05  # frozen original untouched
    with pytest.raises(ConfigError, match=r"^train.lr: "):
        tiny_config.apply({"train.lr": -1})


def test_yaml_round_trip(tiny_config, write_config):
    path = write_config(tiny_config.to_yaml(), "resolved.yaml")
    assert load_config(path) == tiny_config


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"train": {"epochz": 3}}, r"^train.epochz: unknown key — did you mean 'epochs'\?"),
        ({"train": {"epochs": "many"}}, r"^train.epochs: .*integer.*'many'"),
        ({"train": {"epochs": 0}}, r"^train.epochs: .*greater than or equal to 1"),
        ({"train": {"batch_size": -4}}, r"^train.batch_size: "),
        ({"data": {"dataset": "cifar"}}, r"^data.dataset: unknown dataset 'cifar' — did you mean 'cifar10'\? \(choices: "),
        ({"data": {"val_fraction": 1.5}}, r"^data.val_fraction: "),
        ({"search": {"strategy": {"name": "evo"}}}, r"^search.strategy.name: unknown strategy 'evo' — did you mean 'evolution'\? \(choices: evolution, grid, local, nsga2, random, reinforce, tpe\)"),
        ({"model": {"scratch": {"ops": ["conv9x9", "conv3x3"]}}}, r"^model.scratch.ops: unknown op 'conv9x9'"),
        ({"model": {"scratch": {"ops": ["conv3x3"]}}}, r"^model.scratch: ops has 1 entries but stages \[1, 1\] have 2 layers"),
        ({"search": {"budget": {"trials": None, "minutes": None}}}, r"^search.budget: set trials or minutes"),
        ({"search": {"space": {"train.lr": {"low": 0.5, "high": 0.1}}}}, r"^search.space.train.lr: low \(0.5\) must be below high"),
        ({"search": {"space": {"train.lr": {"choices": [1, 1]}}}}, r"^search.space.train.lr: choices contain duplicates"),
        ({"name": "../escape"}, r"^name: string should match pattern"),
    ],
)
def test_bad_values_give_one_line_naming_the_field(tiny_dict, patch, expected):
    def merge(base, extra):
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "space":
                merge(base[key], value)
            else:
                base[key] = value

    merge(tiny_dict, patch)
    with pytest.raises(ConfigError, match=expected) as info:
        validate_config(tiny_dict)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", r"is empty"),
        ("train: [1, 2\n", r"is not valid YAML at line"),
        ("- just\n- a list\n", r"must be a YAML mapping"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", r"is not UTF-8 text"),
    ],
)
def test_unreadable_files(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_file():
    with pytest.raises(ConfigError, match=r"^config: no such file"):
        load_config("/nonexistent/config.yaml")


def test_bad_override_syntax(write_config, tiny_dict):
    with pytest.raises(ConfigError, match=r"^--set: 'train.lr' is not key=value"):
        load_config(write_config(tiny_dict), ["train.lr"])


def test_set_path_refuses_to_descend_into_a_value():
    data = {"train": {"lr": 0.1}}
    with pytest.raises(ConfigError, match="train.lr: is a value"):
        set_path(data, "train.lr.x", 1)


def test_parse_override_keeps_strings():
    assert parse_override("data.root=/tmp/x") == ("data.root", "/tmp/x")
    assert parse_override("train.amp=off") == ("train.amp", "off")  # YAML 1.2: off is a string
    assert parse_override("train.nesterov=false") == ("train.nesterov", False)


def test_on_off_in_files_are_strings(write_config, tiny_dict):
    tiny_dict["train"]["channels_last"] = "on"
    text = __import__("yaml").safe_dump(tiny_dict).replace("channels_last: 'on'", "channels_last: on")
    assert load_config(write_config(text)).train.channels_last == "on"


def test_integer_ranges_are_detected(tiny_dict):
    tiny_dict["search"]["space"] = {"train.epochs": {"low": 1, "high": 4}}
    cfg = validate_config(tiny_dict)
    assert cfg.search.space["train.epochs"].integer is True
