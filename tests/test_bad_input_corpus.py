"""Bad input of every kind: each is one line on stderr starting "error: ", exit code 2, no
traceback, and nothing written (the runs folder stays empty; a run folder that existed stays
byte-identical). Nothing trains: configs go through ``validate`` where that is enough; the
cases that need the data or the weights go through ``search``, which refuses them before a
run folder exists; tampered run folders are fakes made from hand-written trial records.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nasxfer.cli import app

from conftest import TINY
from fake_run import make_fake_run

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
)


def set_path(path: str, value) -> dict:
    """TINY with one dotted path set."""
    data = copy.deepcopy(TINY)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def text(data: dict) -> str:
    return yaml.safe_dump(data)


def transfer(**backbone) -> dict:
    data = copy.deepcopy(TINY)
    data["model"] = {"backbone": {"name": "resnet20", **backbone}}
    data["search"]["space"] = {"model.head.dropout": {"choices": [0.0, 0.2]}}
    return data


def check_refused(result, expected: str = "") -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.rglob("*"))
    }


# ------------------------------------------------------------------ configs: validate refuses them

CONFIGS = {
    # the file itself
    "empty file": ("", "is empty"),
    "only whitespace": ("\n   \n\n", "is empty"),
    "binary file": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text"),
    "latin-1 text": ("name: caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    "a list, not a mapping": ("- name\n- seed\n", "must be a YAML mapping"),
    "a bare number": ("3.5\n", "must be a YAML mapping"),
    "yaml syntax": ("train: {epochs: 2\n", "not valid YAML at line"),
    "billion laughs": (BOMB, "expands to over"),
    "python object tag": ("name: !!python/object:os.system {}\n", "not valid YAML"),
    "python apply tag": ("name: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    "custom tag": ("name: !include secrets.yaml\n", "not valid YAML"),
    "over a megabyte": ("# " + "x" * 1_100_000 + "\n", "kB: is it really a config?"),
    # wrong types
    "epochs as text": (text(set_path("train.epochs", "ten")), "train.epochs: "),
    "lr as text": (text(set_path("train.lr", "fast")), "train.lr: "),
    "batch size as list": (text(set_path("train.batch_size", [32])), "train.batch_size: "),
    "seed as text": (text(set_path("seed", "zero")), "seed: "),
    "fraction as text": (text(set_path("data.val_fraction", "a fifth")), "data.val_fraction: "),
    "trials as float": (text(set_path("search.budget.trials", 2.5)), "search.budget.trials: "),
    "section as number": (text(set_path("search", 3)), "search: "),
    "space as list": (text(set_path("search.space", ["train.lr"])), "search.space: "),
    "ops as text": (text(set_path("model.scratch.ops", "conv3x3")), "model.scratch.ops: "),
    # out of range, both ends
    "zero epochs": (text(set_path("train.epochs", 0)), "train.epochs: "),
    "huge epochs": (text(set_path("train.epochs", 10**12)), "train.epochs: "),
    "zero batch": (text(set_path("train.batch_size", 0)), "train.batch_size: "),
    "huge batch": (text(set_path("train.batch_size", 10**9)), "train.batch_size: "),
    "negative lr": (text(set_path("train.lr", -0.1)), "train.lr: "),
    "negative seed": (text(set_path("seed", -1)), "seed: "),
    "seed past 2**31": (text(set_path("seed", 2**31)), "seed: "),
    "val fraction 0": (text(set_path("data.val_fraction", 0)), "data.val_fraction: "),
    "val fraction 1": (text(set_path("data.val_fraction", 1)), "data.val_fraction: "),
    "image size 3": (text(set_path("data.image_size", 3)), "data.image_size: "),
    "image size 100000": (text(set_path("data.image_size", 100_000)), "data.image_size: "),
    "dropout -0.1": (text(set_path("model.head.dropout", -0.1)), "model.head.dropout: "),
    "dropout 1": (text(set_path("model.head.dropout", 1.0)), "model.head.dropout: "),
    "eta 1": (text(set_path("search.scheduler", {"name": "asha", "eta": 1})), "search.scheduler.eta: "),
    "eta 101": (text(set_path("search.scheduler", {"name": "asha", "eta": 101})), "search.scheduler.eta: "),
    "zero trials": (text(set_path("search.budget", {"trials": 0})), "search.budget.trials: "),
    "no budget at all": (text(set_path("search.budget", {"trials": None})), "a search needs an end"),
    # unknown names
    "unknown key": (text(set_path("trian", {})), "trian: unknown key — did you mean 'train'?"),
    "unknown dataset": (text(set_path("data.dataset", "imagenet")), "data.dataset: "),
    "unknown strategy": (text(set_path("search.strategy", {"name": "bayes"})), "unknown strategy 'bayes'"),
    "unknown scheduler": (text(set_path("search.scheduler", {"name": "pbt"})), "unknown scheduler 'pbt'"),
    "unknown pruner": (text(set_path("search.pruner", {"name": "mean"})), "unknown pruner 'mean'"),
    "unknown metric": (text(set_path("search.objective", {"metric": "accuracy"})), "search.objective.metric: "),
    "unknown op": (text(set_path("model.scratch.ops", ["conv3x3", "conv9x9"])), "unknown op 'conv9x9'"),
    "unknown backbone": (text(transfer(name="resnet19")), "model.backbone.name: "),
    "unknown device": (text(set_path("train.device", "tpu")), "unknown device 'tpu'"),
    "space over no field": (text(set_path("search.space", {"train.lrr": {"choices": [0.1]}})), "names no config field"),
    # what search would refuse later
    "space over the seed": (text(set_path("search.space", {"seed": {"choices": [0, 1]}})), "search.space.seed: "),
    "scheduler on flops": (
        text(set_path("search", {**TINY["search"], "scheduler": {"name": "asha"}, "objective": {"metric": "flops", "mode": "min"}})),
        "search.scheduler: the objective 'flops'",
    ),
    "missing imagefolder": (text(set_path("data", {"dataset": "imagefolder", "root": "/nonexistent/images"})), "data.root: no such folder"),
    "missing weights file": (text(transfer(weights="/nonexistent/w.pth")), "model.backbone.weights: no such file"),
    "unknown run backbone": (text(transfer(name="run:nope", weights="DEFAULT")), "model.backbone.name: run 'nope'"),
    "factory that does not import": (text(transfer(name=None, factory="nowhere.nets:make")), "model.backbone.factory: cannot import"),
    "unknown warm-start run": (text(set_path("search.warm_start", "nope")), "search.warm_start: run 'nope'"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_validate_refuses_a_bad_config(name, tmp_path, monkeypatch):
    content, expected = CONFIGS[name]
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    path = tmp_path / "bad.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    check_refused(CliRunner().invoke(app, ["validate", str(path)]), expected)
    assert snapshot(runs) == {}


def test_a_folder_or_a_missing_file_is_no_config(tmp_path):
    check_refused(CliRunner().invoke(app, ["validate", str(tmp_path)]), "no such file")
    check_refused(CliRunner().invoke(app, ["validate", str(tmp_path / "nope.yaml")]), "no such file")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.epochs", "--set"),
        ("train.epochs=", "train.epochs: "),
        ("train.epochs=[1", "train.epochs: "),
        ("trian.epochs=2", "trian: unknown key"),
    ],
)
def test_validate_refuses_a_bad_override(override, expected, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(text(TINY))
    check_refused(CliRunner().invoke(app, ["validate", str(path), "--set", override]), expected)


# ------------------------------------------------------------------ image folders and checkpoint files


def image_folder(root: Path, classes: int = 2, per_class: int = 4, content: bytes = b"") -> Path:
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            (folder / f"{i}.png").write_bytes(content)
    return root


def search_refuses(tmp_path, monkeypatch, config: dict, expected: str) -> str:
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    path = tmp_path / "config.yaml"
    path.write_text(text(config))
    line = check_refused(CliRunner().invoke(app, ["search", str(path)]), expected)
    assert snapshot(runs) == {}
    return line


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n truncated", b"not an image at all"], ids=["zero-byte", "truncated", "text"])
def test_an_image_folder_of_only_broken_images_is_refused(tmp_path, monkeypatch, content):
    root = image_folder(tmp_path / "images", content=content)
    config = set_path("data", {"dataset": "imagefolder", "root": str(root)})
    search_refuses(tmp_path, monkeypatch, config, "data.root: none of")


def test_a_validation_folder_of_only_broken_images_is_refused(tmp_path, monkeypatch):
    from PIL import Image

    root = image_folder(tmp_path / "images", per_class=6)
    for png in root.rglob("*.png"):
        Image.new("RGB", (8, 8), (200, 10, 10)).save(png)
    val = image_folder(tmp_path / "val", content=b"broken")
    config = set_path("data", {"dataset": "imagefolder", "root": str(root), "val_root": str(val), "test_fraction": 0.3})
    search_refuses(tmp_path, monkeypatch, config, "the val split has no readable images")


def test_broken_images_among_good_ones_are_skipped_and_counted(tmp_path):
    from PIL import Image

    from nasxfer.config import validate_config
    from nasxfer.data import load_dataset

    root = image_folder(tmp_path / "images", per_class=10)
    for png in sorted(root.rglob("*.png"))[::3]:
        Image.new("RGB", (8, 8), (10, 200, 10)).save(png)
    good = sorted(root.rglob("*.png"))[::3]
    for png in sorted(root.rglob("*.png")):
        if png not in good:
            Image.new("RGB", (8, 8), (200, 10, 10)).save(png)
    (root / "class0" / "0.png").write_bytes(b"")  # zero bytes
    (root / "class1" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # truncated
    data = load_dataset(validate_config(set_path("data", {"dataset": "imagefolder", "root": str(root)})).data, seed=0)
    assert data.skipped == 2
    assert len(data.train) + len(data.val) + len(data.test) == 18


def checkpoint(tmp_path: Path, name: str) -> Path:
    """A file that ``weights:`` may name but that is no resnet20 checkpoint."""
    import torch

    path = tmp_path / f"{name}.pth"
    if name == "truncated":
        torch.save({"conv1.weight": torch.zeros(16, 3, 3, 3)}, path)
        path.write_bytes(path.read_bytes()[:40])
    elif name == "random bytes":
        path.write_bytes(bytes(range(256)) * 8)
    elif name == "zero bytes":
        path.write_bytes(b"")
    elif name == "wrong shapes":
        torch.save({"conv1.weight": torch.zeros(8, 3, 5, 5)}, path)
    elif name == "no tensors":
        torch.save({"epoch": 3, "note": "weights went elsewhere"}, path)
    elif name == "a pickled object":
        torch.save(Path("evil"), path)
    return path


@pytest.mark.parametrize(
    "name, expected",
    [
        ("truncated", "not a checkpoint that loads"),
        ("random bytes", "not a checkpoint that loads"),
        ("zero bytes", "not a checkpoint that loads"),
        ("wrong shapes", "does not fit resnet20"),
        ("no tensors", "holds no state dict"),
        ("a pickled object", "not a checkpoint that loads"),
    ],
)
def test_a_bad_checkpoint_file_as_backbone_weights_is_refused(tmp_path, monkeypatch, name, expected):
    config = transfer(weights=str(checkpoint(tmp_path, name)))
    line = search_refuses(tmp_path, monkeypatch, config, expected)
    assert line.startswith("error: model.backbone.weights: ")


def test_a_folder_as_backbone_weights_is_refused(tmp_path, monkeypatch):
    (tmp_path / "weights").mkdir()
    runs = tmp_path / "runs"
    monkeypatch.setenv("NASXFER_RUNS_DIR", str(runs))
    path = tmp_path / "config.yaml"
    path.write_text(text(transfer(weights=str(tmp_path / "weights"))))
    check_refused(CliRunner().invoke(app, ["validate", str(path)]), "model.backbone.weights: no such file")


# ------------------------------------------------------------------ tampered run folders


def _append(path: Path, line: str) -> None:
    with (path / "journal.jsonl").open("a", encoding="utf-8") as f:
        f.write(line)


TAMPERED = {
    "journal line is a list": (lambda p: _append(p, "[1, 2]\n"), "journal.jsonl"),
    "journal line is a string": (lambda p: _append(p, '"trial_finished"\n'), "journal.jsonl"),
    "finished trial without its record": (lambda p: _append(p, '{"event": "trial_finished"}\n'), "journal.jsonl"),
    "finished trial with a broken record": (lambda p: _append(p, '{"event": "trial_finished", "trial": {"number": "x"}}\n'), "journal.jsonl"),
    "finished trial in an unknown state": (
        lambda p: _append(p, '{"event": "trial_finished", "trial": {"number": 9, "key": "k", "values": {}, "state": "weird"}}\n'),
        "journal.jsonl",
    ),
    "journal is a folder": (lambda p: ((p / "journal.jsonl").unlink(), (p / "journal.jsonl").mkdir()), "journal.jsonl"),
    "config.yaml is junk": (lambda p: (p / "config.yaml").write_text("::: [ junk"), "config.yaml"),
    "config.yaml is binary": (lambda p: (p / "config.yaml").write_bytes(b"\x00\xff\xfe\x00"), "config.yaml"),
    "config.yaml is not a config": (lambda p: (p / "config.yaml").write_text("train: {epochs: 0}\n"), "config.yaml"),
    "config.yaml is missing": (lambda p: (p / "config.yaml").unlink(), "no such run"),
    "final metrics are junk": (lambda p: (p / "final" / "metrics.json").write_text("{junk"), "metrics.json"),
}
COMMANDS = {
    "report": ["report", "{run}", "--format", "json"],
    "report files": ["report", "{run}"],
    "finetune": ["finetune", "{run}"],
    "resume": ["search", "--resume", "{run}"],
}
# The final metrics are read by report only; finetune and resume never look at them.
SKIP = {("final metrics are junk", "finetune"), ("final metrics are junk", "resume")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("tamper", sorted(TAMPERED))
def test_a_tampered_run_folder_is_refused_and_left_as_it_is(tmp_path, tamper, command):
    if (tamper, command) in SKIP:
        pytest.skip("the command does not read that file")
    runs = tmp_path / "runs"
    store = make_fake_run(runs, copy.deepcopy(TINY), trials=3, failed=())
    change, expected = TAMPERED[tamper]
    change(store.path)
    before = snapshot(runs)
    args = [a.replace("{run}", store.run_id) for a in COMMANDS[command]]
    line = check_refused(CliRunner().invoke(app, [*args, "--runs-dir", str(runs)]), expected)
    assert store.run_id in line
    assert snapshot(runs) == before


def test_the_corpus_is_large_enough():
    assert len(CONFIGS) + len(TAMPERED) * len(COMMANDS) >= 40
