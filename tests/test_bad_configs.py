"""A corpus of malformed configs: each one is one line on stderr, exit code 2, no run folder."""

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app

from conftest import TINY

BOMB = """
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]
g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]
"""


def patched(path, value):
    """TINY with one dotted path set (or deleted when value is ...)."""
    import copy

    data = copy.deepcopy(TINY)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return yaml.safe_dump(data)


CORPUS = {
    # YAML itself
    "empty file": ("", "is empty"),
    "only a comment": ("# nothing here\n", "is empty"),
    "yaml syntax": ("name: tiny\ntrain: {epochs: 2\n", "not valid YAML at line"),
    "tab indentation": ("train:\n\tepochs: 2\n", "not valid YAML"),
    "a list, not a mapping": ("- name\n- seed\n", "must be a YAML mapping"),
    "a scalar": ("42\n", "must be a YAML mapping"),
    "binary file": (b"\x00\x01\x02\xff\xfe\x89PNG", "not UTF-8 text"),
    "alias bomb": (BOMB, "expands to over"),
    "python object tag": ("name: !!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
    # unknown keys and wrong types
    "unknown top-level key": (patched("trian", {}), "trian: unknown key — did you mean 'train'?"),
    "unknown nested key": (patched("train.learning_rate", 0.1), "train.learning_rate: unknown key"),
    "epochs as text": (patched("train.epochs", "ten"), "train.epochs: "),
    "seed as list": (patched("seed", [1]), "seed: "),
    "section as scalar": (patched("train", 5), "train: "),
    "bool for int": (patched("train.batch_size", "yes please"), "train.batch_size: "),
    # bad ranges and bounds
    "zero epochs": (patched("train.epochs", 0), "train.epochs: "),
    "negative batch": (patched("train.batch_size", -8), "train.batch_size: "),
    "zero lr": (patched("train.lr", 0), "train.lr: "),
    "val fraction 1": (patched("data.val_fraction", 1.0), "data.val_fraction: "),
    "fractions eat everything": (patched("data.test_fraction", 0.7), "val_fraction + test_fraction must be below 0.9"),
    "zero trial budget": (patched("search.budget", {"trials": 0}), "search.budget.trials: "),
    "huge epochs": (patched("train.epochs", 10**12), "train.epochs: "),
    "huge image size": (patched("data.image_size", 100_000), "data.image_size: "),
    "huge synthetic set": (patched("data.synthetic", {"num_samples": 1_000_000, "image_size": 1024}), "too much to generate"),
    "label smoothing 1": (patched("train.label_smoothing", 1.0), "train.label_smoothing: "),
    "warmup longer than training": (patched("train.warmup_epochs", 5), "warmup_epochs (5.0) must be below epochs"),
    "range upside down": (patched("search.space", {"train.lr": {"low": 1.0, "high": 0.1}}), "must be below high"),
    "log range from zero": (patched("search.space", {"train.lr": {"low": 0, "high": 0.1, "log": True}}), "a log range needs low > 0"),
    "empty choices": (patched("search.space", {"train.lr": {"choices": []}}), "search.space.train.lr.choices: "),
    # names of things
    "unknown dataset": (patched("data.dataset", "cifar"), "did you mean 'cifar10'?"),
    "unknown strategy": (patched("search.strategy", {"name": "bayes"}), "unknown strategy 'bayes'"),
    "unknown strategy option": (patched("search.strategy", {"name": "random", "population": 5}), "not an option of strategy 'random'"),
    "unknown op": (patched("model.scratch.ops", ["conv3x3", "conv11x11"]), "unknown op 'conv11x11'"),
    "ops do not match stages": (patched("model.scratch.ops", ["conv3x3"]), "give one op per layer"),
    "space names no field": (patched("search.space", {"model.scratch.width": {"choices": [1, 2]}}), "names no config field"),
    "space makes invalid configs": (patched("search.space", {"train.epochs": {"choices": [0, 2]}}), "not a valid config"),
    "unknown device": (patched("train.device", "tpu"), "unknown device 'tpu'"),
    "cuda graphs as a bool": (patched("train.cuda_graphs", True), "train.cuda_graphs: "),
    "cuda graphs on with fp16": (
        patched("train", {**TINY["train"], "cuda_graphs": "on", "amp": "fp16"}),
        "cuda_graphs: on cannot capture amp: fp16",
    ),
    "bad run name": (patched("name", "a/b"), "name: "),
    # missing files
    "missing imagefolder root": (
        patched("data", {"dataset": "imagefolder", "root": "/nonexistent/images"}),
        "data.root",
    ),
    "imagefolder without root": (patched("data", {"dataset": "imagefolder"}), "needs data.root"),
    "mnist missing offline": (patched("data", {"dataset": "mnist", "root": "/nonexistent/mnist"}), "data.download"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_config(name, tmp_path, monkeypatch):
    text, expected = CORPUS[name]
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    result = CliRunner().invoke(app, ["search", str(path)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert expected in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not runs.exists() or not any(runs.iterdir())


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("space, message", [
    ("{train.optimizer: {choices: [sgd, adam]}}", "search.space.train.optimizer: choice 'adam' is not a valid config"),
    ("{model.scratch.stem_channels: {choices: [8, 0]}}", "search.space.model.scratch.stem_channels: choice 0 is not a valid config"),
    ("{model.scratch.ops: {choices: [identity, conv3x3, bogus], repeat: 4}}", "choice 'bogus' at position 0"),
    ("{train.lr: {low: 0.01, high: 50}}", "search.space.train.lr: range end 50.0 is not a valid config"),
])
def test_every_value_of_a_space_is_checked_not_just_the_first(space, message, tmp_path):
    """Before: only the first value of each dimension was validated; the rest failed as trials."""
    from typer.testing import CliRunner

    from nasxfer.cli import app

    result = CliRunner().invoke(app, ["validate", "configs/quickstart.yaml", "--set", f"search.space={space}"])
    assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.parametrize("args, hint", [
    (["--set", "train.learning_rate=0.1"], "did you mean 'lr'?"),
    (["--set", "search.space={train.learning_rate: {low: 0.01, high: 0.1}}"], "did you mean 'train.lr'?"),
    (["--set", "train.num_epochs=3"], "did you mean 'epochs'?"),
])
def test_names_from_other_tools_get_a_suggestion(args, hint):
    result = CliRunner().invoke(app, ["validate", "configs/quickstart.yaml", *args])
    assert result.exit_code == 2 and hint in result.output, result.output
