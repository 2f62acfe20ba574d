"""Photo folders as users have them: sideways phone shots, hidden notebook folders, a
truncated JPEG, odd colour modes and extensions; training and predict see them alike."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner

from nasxfer.cli import app
from nasxfer.config import DataConfig
from nasxfer.data import load_dataset
from nasxfer.data.images import decode, list_image_files, probe

from conftest import TINY


def _half_black(size=(8, 16)) -> Image.Image:
    """Left half black, right half white: which way it is turned shows."""
    pixels = np.zeros((*size, 3), dtype=np.uint8)
    pixels[:, size[1] // 2:] = 255
    return Image.fromarray(pixels)


def _with_orientation(image: Image.Image, path: Path, orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes())


def photo_folder(root: Path) -> Path:
    """Two classes of every oddity a real folder has."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(("cats", "dogs")):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            pixels[..., 0] = 120 * c
            Image.fromarray(pixels).save(folder / f"{i}.JPG")  # upper-case extension
        Image.fromarray(pixels).convert("CMYK").save(folder / "cmyk.jpeg")
        Image.fromarray(pixels).convert("L").save(folder / "grey.png")
        Image.fromarray(pixels).convert("P").save(folder / "palette.png")
        Image.fromarray(pixels).convert("RGBA").save(folder / "rgba.png")
        Image.fromarray(pixels).save(folder / "photo.webp")
        (folder / "Thumbs.db").write_bytes(b"\0" * 64)
        (folder / ".DS_Store").write_bytes(b"\0" * 16)
        hidden = folder / ".ipynb_checkpoints"
        hidden.mkdir()
        Image.fromarray(pixels).save(hidden / "copy-checkpoint.png")
    good = io.BytesIO()
    Image.fromarray(pixels).save(good, format="JPEG")
    (root / "dogs" / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    (root / "cats" / "empty.png").write_bytes(b"")
    return root


def test_exif_orientation_turns_photos_upright(tmp_path):
    path = tmp_path / "sideways.jpg"
    _with_orientation(_half_black(), path, 6)  # stored 8x16, shown rotated a quarter turn
    assert probe(str(path))[0] == (16, 8)
    pixels = decode(str(path), (16, 8), grey=False)
    top, bottom = pixels[:, :2].mean(), pixels[:, -2:].mean()
    assert top < 60 and bottom > 200  # orientation 6 turns the black left half to the top
    plain = tmp_path / "plain.jpg"
    _half_black().save(plain)
    assert decode(str(plain), (8, 16), grey=False)[:, :, :2].mean() < 60  # no EXIF: left stays black


def test_training_and_predict_walk_folders_alike(tmp_path):
    root = photo_folder(tmp_path / "photos")
    files = list_image_files(root / "cats")
    names = sorted(Path(f).name for f in files)
    assert names == sorted(["0.JPG", "1.JPG", "2.JPG", "3.JPG", "4.JPG", "5.JPG", "cmyk.jpeg", "grey.png",
                            "palette.png", "photo.webp", "rgba.png", "empty.png"])
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(root), image_size=8), seed=0)
    assert data.skipped == 2
    assert sorted((Path(p).name, why) for p, why in data.skipped_files) == [("empty.png", "empty file"),
                                                                            ("truncated.jpg", "truncated image")]
    assert len(data.train) + len(data.val) + len(data.test) == 2 * 11  # every readable image, each once
    assert data.channels == 3


def test_search_reports_skipped_files_once_and_predict_skips_hidden_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = photo_folder(tmp_path / "photos")
    config = {**TINY, "data": {"dataset": "imagefolder", "root": str(root), "image_size": 8},
              "search": {**TINY["search"], "budget": {"trials": 1}}}
    config["train"] = {**TINY["train"], "epochs": 1}
    path = tmp_path / "photos.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    searched = runner.invoke(app, ["search", str(path), "--runs-dir", "runs"])
    assert searched.exit_code == 0, searched.output
    assert searched.output.count("skipped 2 unreadable image files") == 1
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    events = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    skipped = [e for e in events if e["event"] == "files_skipped"]
    assert len(skipped) == 1 and sorted(Path(p).name for p in skipped[0]["files"]) == ["empty.png", "truncated.jpg"]
    assert sorted(skipped[0]["reasons"].values()) == ["empty file", "truncated image"]
    assert "truncated.jpg (truncated image)" in searched.output
    assert "skipped 2 unreadable image files" in (run / "search.log").read_text()
    report = json.loads(runner.invoke(app, ["report", "latest", "--runs-dir", "runs", "--format", "json"]).output)
    assert sorted(Path(p).name for p in report["skipped_files"]) == ["empty.png", "truncated.jpg"]
    resumed = runner.invoke(app, ["search", "--resume", "latest", "--runs-dir", "runs", "--set", "search.budget.trials=2"])
    assert resumed.exit_code == 0 and "unreadable image files" not in resumed.output  # once per run
    predicted = runner.invoke(app, ["predict", "latest", str(root), "--runs-dir", "runs", "--output", "preds.json"])
    assert predicted.exit_code == 0, predicted.output
    paths = [row["path"] for row in json.loads((tmp_path / "preds.json").read_text())]
    assert paths and not any(".ipynb_checkpoints" in p or "Thumbs.db" in p for p in paths)


def _left_quarter_white(path: Path) -> None:
    """8 high, 16 wide, black but for its left quarter: each resize mode leaves it differently."""
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, :4] = 255
    Image.fromarray(pixels).save(path)


def test_resize_modes_squash_crop_or_pad(tmp_path):
    path = str(tmp_path / "wide.png")
    _left_quarter_white(tmp_path / "wide.png")
    squashed = decode(path, (8, 8), grey=False)  # the default, as before
    assert squashed.shape == (3, 8, 8) and squashed[:, :, :2].min() > 200 and squashed[:, :, 3:].max() < 60
    cropped = decode(path, (8, 8), grey=False, resize="center_crop")  # keeps columns 4..11: all black
    assert cropped.shape == (3, 8, 8) and cropped.max() < 60
    padded = decode(path, (8, 8), grey=False, resize="pad")  # scaled to 4x8, black bars above and below
    assert padded.shape == (3, 8, 8)
    assert padded[:, :2].max() == 0 and padded[:, 6:].max() == 0
    assert padded[:, 2:6, :2].min() > 200 and padded[:, 2:6, 3:].max() < 60


def test_predict_fits_images_as_training_did(tmp_path):
    import torch

    from nasxfer.final.inference import Classifier

    path = tmp_path / "wide.png"
    _left_quarter_white(path)
    for resize in ("squash", "center_crop", "pad"):
        payload = {"preprocess": {"mean": [0.5], "std": [0.5]}, "class_names": ["a", "b"], "in_channels": 3,
                   "image_size": [8, 8], "config": {"data": {"resize": resize}}}
        classifier = Classifier(torch.nn.Flatten(), payload)
        trained = torch.from_numpy(decode(str(path), (8, 8), grey=False, resize=resize)).float() / 255
        assert torch.equal(classifier.to_input(path), trained)
        assert torch.equal(classifier.to_input(Image.open(path)), trained)
    old = {**payload, "config": {"data": {}}}  # a model file from before data.resize
    assert Classifier(torch.nn.Flatten(), old).resize == "squash"


def test_resize_setting_reaches_every_loaded_image(tmp_path):
    root = tmp_path / "wide"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(5):
            _left_quarter_white(root / name / f"{i}.png")
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(root), image_size=8, resize="pad"), seed=0)
    images = data.train.images
    assert tuple(images.shape[1:]) == (3, 8, 8) and int(images[:, :, :2].max()) == 0
    assert int(images[:, :, 2:6, :2].min()) > 200


def _manifest(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "labels.csv"
    path.write_text(text)
    return path


def test_csv_manifest_lists_labelled_files_relative_to_itself(tmp_path):
    photos = photo_folder(tmp_path / "shoot" / "photos")
    rows = [f"photos/{p.relative_to(photos).as_posix()},{p.parent.name}" for p in sorted(photos.glob("*/*.JPG"))]
    rows += ["photos/cats/gone.jpg,cats", "photos/dogs/truncated.jpg,dogs"]  # missing, unreadable
    manifest = _manifest(tmp_path / "shoot", "path,label,notes\n" + "\n".join(r + ",x" for r in rows) + "\n\n")
    data = load_dataset(DataConfig(dataset="csv", root=str(manifest), image_size=8), seed=0)
    assert data.class_names == ["cats", "dogs"] and data.name == "csv"
    assert len(data.train) + len(data.val) + len(data.test) == 12
    assert sorted((Path(p).name, why) for p, why in data.skipped_files) == [("gone.jpg", "missing"),
                                                                            ("truncated.jpg", "truncated image")]


def test_csv_manifest_mistakes_are_one_clear_line(tmp_path):
    import pytest

    from nasxfer.errors import ConfigError

    photo_folder(tmp_path / "photos")
    cases = {
        "file,label\nphotos/cats/0.JPG,cats\n": "no 'path' column",
        "path,label\n": "lists no images",
        "": "is empty",
        "path,label\nphotos/cats/0.JPG,\n": "line 2 has an empty label",
        "path,label\nnope/a.jpg,cats\nnope/b.jpg,dogs\n": "none of the 2 files",
        "path,label\nphotos/cats/0.JPG,cats\n": "one label",
    }
    for text, expected in cases.items():
        manifest = _manifest(tmp_path, text)
        with pytest.raises(ConfigError, match=expected) as raised:
            load_dataset(DataConfig(dataset="csv", root=str(manifest)), seed=0)
        assert str(raised.value).startswith("data.root: ") and "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match="no such manifest file"):
        load_dataset(DataConfig(dataset="csv", root=str(tmp_path / "missing.csv")), seed=0)


def test_csv_manifest_validates_and_searches_from_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photos = photo_folder(tmp_path / "photos")
    rows = [f"{p.parent.name}/{p.name},{p.parent.name}" for p in sorted(photos.glob("*/*.JPG"))]
    manifest = _manifest(photos, "path,label\n" + "\n".join(rows + ["dogs/truncated.jpg,dogs"]) + "\n")
    config = {**TINY, "data": {"dataset": "csv", "root": str(manifest), "image_size": 8, "resize": "center_crop"},
              "search": {**TINY["search"], "budget": {"trials": 1}}}
    config["train"] = {**TINY["train"], "epochs": 1}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(config))
    runner = CliRunner()
    validated = runner.invoke(app, ["validate", str(path)])
    assert validated.exit_code == 0, validated.output
    searched = runner.invoke(app, ["search", str(path), "--runs-dir", "runs"])
    assert searched.exit_code == 0, searched.output
    assert searched.output.count("skipped 1 unreadable image file") == 1
    broken = _manifest(tmp_path / "broken", "file,label\na.jpg,cats\n")
    path.write_text(yaml.safe_dump({**config, "data": {"dataset": "csv", "root": str(broken)}}))
    runs_before = sorted((tmp_path / "runs").iterdir())
    refused = runner.invoke(app, ["search", str(path), "--runs-dir", "runs"])
    assert refused.exit_code == 2 and "data.root: manifest" in refused.output and "no 'path' column" in refused.output
    assert sorted((tmp_path / "runs").iterdir()) == runs_before  # nothing written
