import json
import re
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from nasxfer.config import ScratchConfig, validate_config
from nasxfer.errors import ConfigError, NasxferError
from nasxfer.evaluation.evaluator import TrainingEvaluator, make_evaluator
from nasxfer.evaluation.table import MACRO_OPS, TableEvaluator, load_table, macro_key

PROJECT = Path(__file__).resolve().parents[1]
REAL_TABLE = SHARED_DATA / "nas-bench-macro" / "nas-bench-macro_cifar10.json"
OPS = {"0": "identity", "1": "mbconv_k3_e3", "2": "mbconv_k5_e6"}


def entry(mean: float) -> dict:
    return {"test_acc": [mean - 1, mean, mean + 1], "mean_acc": mean, "std": 0.8, "params": 1000.0, "flops": 2000.0}


def write_table(tmp_path, keys, name="table.json"):
    path = tmp_path / name
    path.write_text(json.dumps({key: entry(80 + i) for i, key in enumerate(keys)}))
    return path


def macro_config(table, ops="01201200", space=None, **scratch):
    return validate_config(
        {
            "data": {"dataset": "cifar10"},
            "model": {
                "scratch": {
                    "stem_channels": 32,
                    "stages": [2, 3, 3],
                    "ops": [OPS[d] for d in ops],
                    "head_channels": 1280,
                    **scratch,
                }
            },
            "search": {
                "space": space if space is not None else {"model.scratch.ops": {"choices": list(MACRO_OPS), "repeat": 8}},
                "evaluator": {"table": str(table)},
            },
        }
    )


def evaluate(config, seed=0):
    return TableEvaluator().evaluate(config, seed=seed, trial_dir=None, values={})


def test_key_is_one_digit_per_layer():
    scratch = ScratchConfig(stem_channels=32, stages=[2, 3, 3], head_channels=1280, ops=[OPS[d] for d in "01201200"])
    assert macro_key(scratch) == "01201200"


def test_the_trial_seed_picks_one_of_the_recorded_runs(tmp_path):
    config = macro_config(write_table(tmp_path, ["00000000", "01201200"]), ops="01201200")  # mean 81
    accuracies = [evaluate(config, seed).metrics["val_accuracy"] for seed in range(4)]
    assert accuracies == pytest.approx([0.80, 0.81, 0.82, 0.80])
    outcome = evaluate(config, seed=7)
    assert outcome.metrics == pytest.approx(
        {"val_accuracy": 0.81, "mean_accuracy": 0.81, "params": 1000, "macs": 2000, "flops": 4000, "epochs": 0, "seconds": 0}
    )
    assert outcome.curve == []


def test_an_op_outside_the_benchmark_fails_the_trial(tmp_path):
    config = macro_config(write_table(tmp_path, ["00000000"]), ops="00000000", space={})
    config = config.apply({"model.scratch.ops": ["identity"] * 7 + ["conv3x3"]})
    with pytest.raises(NasxferError, match=r"^model.scratch.ops: op 'conv3x3' is not in NAS-Bench-Macro"):
        evaluate(config)


def test_another_layout_fails_the_trial(tmp_path):
    config = macro_config(write_table(tmp_path, ["00000000"]), ops="00000000", space={}, stem_channels=16)
    with pytest.raises(NasxferError, match=r"^model.scratch: .* is not NAS-Bench-Macro's layout"):
        evaluate(config)
    with pytest.raises(ConfigError, match=r"^search.evaluator.table: model.scratch: .*layout"):
        TableEvaluator().prepare(config)


def test_an_architecture_missing_from_the_table_fails_the_trial(tmp_path):
    config = macro_config(write_table(tmp_path, ["00000000"]), ops="11111111")
    with pytest.raises(NasxferError, match=r"architecture 11111111 is not in the table"):
        evaluate(config)


def test_a_missing_table_is_a_one_line_config_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        TableEvaluator().prepare(macro_config("nope.json"))
    message = str(info.value)
    assert re.match(r"^search.evaluator.table: no such file 'nope.json' \(.*current directory", message)
    assert "\n" not in message


def test_a_table_that_is_not_json_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"^search.evaluator.table: '.*bad.json' is not a JSON table"):
        TableEvaluator().prepare(macro_config(bad))
    bad.write_text(json.dumps({"00000000": {"acc": 1}}))
    with pytest.raises(ConfigError, match="not in NAS-Bench-Macro format"):
        TableEvaluator().prepare(macro_config(bad))


def test_prepare_refuses_a_space_the_table_cannot_answer(tmp_path):
    table = write_table(tmp_path, ["00000000"])
    other_op = {"model.scratch.ops": {"choices": ["identity", "conv3x3"], "repeat": 8}}
    with pytest.raises(ConfigError, match=r"^search.space.model.scratch.ops: NAS-Bench-Macro only has the ops"):
        TableEvaluator().prepare(macro_config(table, space=other_op))
    with pytest.raises(ConfigError, match=r"^search.space.train.lr: a table holds one result per architecture"):
        TableEvaluator().prepare(macro_config(table, space={"train.lr": {"low": 0.01, "high": 0.1}}))


def test_the_table_is_read_once_per_process(tmp_path):
    path = write_table(tmp_path, ["00000000"])
    first = load_table(path)
    path.write_text("{}")
    assert load_table(path) is first


def test_make_evaluator_follows_the_config(tmp_path, tiny_config):
    assert isinstance(make_evaluator(macro_config(write_table(tmp_path, ["00000000"]))), TableEvaluator)
    assert isinstance(make_evaluator(tiny_config), TrainingEvaluator)


@pytest.mark.skipif(not REAL_TABLE.is_file(), reason="the shared NAS-Bench-Macro table is not beside the project")
def test_the_real_benchmark_through_the_shipped_config(monkeypatch):
    from nasxfer.config import load_config

    monkeypatch.chdir(PROJECT)  # the config's table path is relative to the project root
    config = load_config(PROJECT / "configs" / "nas_bench_macro.yaml")
    TableEvaluator().prepare(config)
    table = load_table(config.search.evaluator.table)
    assert len(table) == 3**8
    best = max(table, key=lambda k: table[k]["mean_acc"])
    assert (best, round(table[best]["mean_acc"], 2)) == ("22212220", 93.13)
    outcome = evaluate(config.apply({"model.scratch.ops": [OPS[d] for d in "02012100"]}), seed=1)
    assert outcome.metrics["params"] == 890_666
    assert outcome.metrics["val_accuracy"] == pytest.approx(table["02012100"]["test_acc"][1] / 100)
