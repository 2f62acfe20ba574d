"""Knowing the data before training: validate and the start of search print the same summary
(classes, images per split, stored sizes, channels, imbalance, skipped files)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import DataConfig
from nasxfer.data import load_dataset
from nasxfer.data.summary import from_loaded, preview

from conftest import TINY


def uneven_folder(root: Path) -> Path:
    """Three classes of 9, 6 and 3 photos in three sizes, one empty file, one truncated JPEG."""
    rng = np.random.default_rng(1)
    sizes = [(20, 30), (40, 40), (60, 90)]  # (H, W)
    for label, (name, count) in enumerate((("ants", 9), ("bees", 6), ("wasps", 3))):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            h, w = sizes[i % 3]
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (root / "ants" / "empty.png").write_bytes(b"")
    whole = (root / "bees" / "0.png").read_bytes()
    (root / "bees" / "cut.png").write_bytes(whole[: len(whole) // 2])  # header intact, pixels cut
    return root


def _config(root: Path, **data) -> dict:
    return {
        **TINY,
        "data": {"dataset": "imagefolder", "root": str(root), "image_size": 8, "val_fraction": 0.2, "test_fraction": 0.2, **data},
        "search": {**TINY["search"], "budget": {"trials": 1}},
        "train": {**TINY["train"], "epochs": 1},
    }


def test_preview_and_loaded_summary_agree_on_what_training_sees(tmp_path):
    root = uneven_folder(tmp_path / "photos")
    cfg = DataConfig(dataset="imagefolder", root=str(root), image_size=8, val_fraction=0.2, test_fraction=0.2)
    seen, loaded = preview(cfg, seed=0), from_loaded(load_dataset(cfg, seed=0), cfg.resize)
    assert seen.class_names == loaded.class_names == ["ants", "bees", "wasps"]
    assert seen.carved == loaded.carved == ("val", "test")
    assert seen.channels == loaded.channels == 3 and seen.image_size == loaded.image_size == (8, 8)
    # Reading headers finds both bad files here (PIL reads the PNG's chunks), as decoding does.
    expected = [("cut.png", "truncated image"), ("empty.png", "empty file")]
    assert sorted((Path(p).name, why) for p, why in seen.skipped) == expected
    assert sorted((Path(p).name, why) for p, why in loaded.skipped) == expected
    assert seen.counts == loaded.counts and sum(map(sum, loaded.counts.values())) == 18
    assert loaded.stored_sizes.smallest == (20, 30) and loaded.stored_sizes.largest == (60, 90)
    assert loaded.stored_sizes.median == (40, 40)
    assert loaded.imbalance == sum(loaded.counts["train"][:1]) / min(loaded.counts["train"])


def test_validate_prints_the_data_summary(tmp_path):
    root = uneven_folder(tmp_path / "photos")
    path = tmp_path / "photos.yaml"
    path.write_text(yaml.safe_dump(_config(root)))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "data: imagefolder, 3 classes (ants, bees, wasps), 3 channels (colour)" in out
    assert "(val and test carved from train)" in out
    assert "sizes as stored: smallest 30x20 · median 40x40 · largest 90x60; loaded at 8x8 (data.resize: squash; a backbone may resize again)" in out
    assert re.search(r"per class \(train\): fewest \d+ \(wasps\) · most \d+ \(ants\) · imbalance \d+\.\dx", out), out
    assert "skipped 2 unreadable image files: " in out and "empty.png (empty file)" in out
    quick = CliRunner().invoke(app, ["validate", str(path), "--quick"])
    assert quick.exit_code == 0 and "data: imagefolder" not in quick.output


def test_search_prints_and_journals_the_summary_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = uneven_folder(tmp_path / "photos")
    path = tmp_path / "photos.yaml"
    path.write_text(yaml.safe_dump(_config(root)))
    runner = CliRunner()
    searched = runner.invoke(app, ["search", str(path), "--runs-dir", "runs"])
    assert searched.exit_code == 0, searched.output
    assert searched.output.count("data: imagefolder, 3 classes") == 1
    assert "skipped 2 unreadable image files" in searched.output and "cut.png (truncated image)" in searched.output
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert "data: imagefolder, 3 classes" in (run / "search.log").read_text()
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    (summary,) = [e for e in events if e["event"] == "data_summary"]
    assert summary["classes"] == ["ants", "bees", "wasps"] and summary["skipped"] == 2
    assert sum(map(sum, summary["counts"].values())) == 18
    report = json.loads(runner.invoke(app, ["report", "latest", "--runs-dir", "runs", "--format", "json"]).output)
    assert report["data"]["classes"] == ["ants", "bees", "wasps"] and report["data"]["stored_sizes"]["largest"] == [60, 90]
    markdown = runner.invoke(app, ["report", "latest", "--runs-dir", "runs"]).output
    assert "data: imagefolder, 3 classes, 3 channels" in markdown
    resumed = runner.invoke(app, ["search", "--resume", "latest", "--runs-dir", "runs", "--set", "search.budget.trials=2"])
    assert resumed.exit_code == 0 and "data: imagefolder" not in resumed.output  # said once per run


def test_validate_shows_each_backbone_stages(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    config = {**TINY, "model": {"backbone": {"factory": "factory_backbones:lite_like", "weights": "none"}},
              "search": {**TINY["search"], "space": {"train.lr": {"choices": [0.01, 0.1]}}}}
    path = tmp_path / "factory.yaml"
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "backbone factory:factory_backbones:lite_like" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.strip()[:1].isdigit() and len(line.split()) == 3]
    assert [r[:2] for r in rows] == [["1", "0"], ["2", "1"], ["3", "2"]]
    assert rows[-1][2] == f"{8 * 12 * 9 + 12:,}"
