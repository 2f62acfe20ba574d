"""nasxfer.data: splits, dataset families, image folders, and the on-device batch loader.

Everything here is offline and tiny; the MNIST test uses the shared copy when present.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nasxfer.config import DataConfig
from nasxfer.data import DATASET_NAMES, load_dataset
from nasxfer.data.augment import augment_batch
from nasxfer.data.loader import Augment, BatchLoader, Preprocess, augment_for
from nasxfer.data.registry import LOADERS, Split, StreamSplit, merge
from nasxfer.data.splits import stratified_split, stratified_subsample
from nasxfer.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def synthetic_cfg(**overrides) -> DataConfig:
    spec = {"num_samples": 120, "num_classes": 3, "channels": 3, "image_size": 8}
    return DataConfig(dataset="synthetic", synthetic=spec, **overrides)


def tiny_split(n: int = 24, channels: int = 3, size: int = 6, seed: int = 0) -> Split:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), generator=gen, dtype=torch.uint8)
    return Split(images, torch.arange(n) % 3)


def batches(loader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in loader]


# --------------------------------------------------------------------------- splits


def test_stratified_split_keeps_proportions_and_covers_every_class():
    sizes = [100, 50, 30, 12, 8]
    labels = np.repeat(np.arange(5), sizes)
    train, val, test = stratified_split(labels, [0.6, 0.2, 0.2], seed=0)
    assert (len(train), len(val), len(test)) == (120, 40, 40)  # exact, not off by per-class rounding
    for c, size in enumerate(sizes):
        assert abs((labels[val] == c).sum() - 0.2 * size) < 1
        for part in (train, val, test):
            assert (labels[part] == c).sum() >= 1


@pytest.mark.parametrize("seed", range(6))
def test_stratified_split_sizes_are_exact_for_random_label_sets(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 40, rng.integers(2, 12))
    labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    val, test = rng.uniform(0.05, 0.3, 2)
    parts = stratified_split(labels, [1 - val - test, val, test], seed=seed)
    big_classes = int((sizes >= 3).sum())
    for part, fraction in zip(parts[1:], (val, test)):
        # Exact up to rounding, unless one member of every class needs more room than that.
        assert abs(len(part) - fraction * len(labels)) < 1 or len(part) == big_classes
    assert sum(len(p) for p in parts) == len(labels) == len(np.unique(np.concatenate(parts)))
    for c, size in enumerate(sizes):
        if size >= 3:
            assert all((labels[p] == c).sum() >= 1 for p in parts)


def test_stratified_split_is_disjoint_sorted_and_complete():
    labels = np.random.default_rng(1).integers(0, 4, 103)
    parts = stratified_split(labels, [0.7, 0.15, 0.15], seed=3)
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(joined) == len(labels)
    assert all((np.diff(p) > 0).all() for p in parts)


def test_stratified_split_is_deterministic_per_seed_and_accepts_tensors():
    labels = np.arange(60) % 3
    a = stratified_split(labels, [0.5, 0.5], seed=7)
    b = stratified_split(torch.as_tensor(labels), [0.5, 0.5], seed=7)
    c = stratified_split(labels, [0.5, 0.5], seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_stratified_split_gives_small_classes_one_each_and_may_leave_a_rest():
    labels = np.array([0] * 3 + [1] * 40)
    parts = stratified_split(labels, [0.9, 0.05, 0.05], seed=0)
    assert all((labels[p] == 0).sum() == 1 for p in parts)
    half = stratified_split(labels, [0.25, 0.25], seed=0)
    assert sum(len(p) for p in half) < len(labels)
    with pytest.raises(ValueError):
        stratified_split(labels, [0.8, 0.4], seed=0)


def test_stratified_subsample_is_exact_and_keeps_every_class():
    labels = np.repeat(np.arange(10), 50)
    index = stratified_subsample(labels, 37, seed=0)
    assert len(index) == 37 == len(np.unique(index))
    assert set(labels[index]) == set(range(10))


# --------------------------------------------------------------------------- built-in datasets


def test_registry_knows_every_dataset_name_and_rejects_others():
    assert set(LOADERS) == set(DATASET_NAMES)
    with pytest.raises(ConfigError, match=r"^data\.dataset: unknown dataset"):
        load_dataset(DataConfig.model_construct(dataset="nope"), seed=0)


def test_digits_loads_as_grey_8x8_with_ten_classes():
    data = load_dataset(DataConfig(dataset="digits"), seed=0)
    assert data.class_names == [str(i) for i in range(10)]
    assert (data.channels, data.image_size, data.hflip_ok) == (1, (8, 8), False)
    assert data.train.images.shape[1:] == (1, 8, 8) and data.train.images.dtype == torch.uint8
    assert len(data.train) + len(data.val) + len(data.test) == 1797
    assert set(data.val.labels.tolist()) == set(range(10))
    assert 0.2 < data.mean[0] < 0.4 and len(data.std) == 1
    assert int(data.train.images.max()) == 255
    again = load_dataset(DataConfig(dataset="digits"), seed=0)
    assert again.fingerprint == data.fingerprint
    assert load_dataset(DataConfig(dataset="digits"), seed=1).fingerprint != data.fingerprint


def test_digits_image_size_and_limit():
    data = load_dataset(DataConfig(dataset="digits", image_size=16, limit=50), seed=0)
    assert data.image_size == (16, 16)
    assert data.train.images.shape[1:] == (1, 16, 16) and data.test.images.shape[1:] == (1, 16, 16)
    assert len(data.train) == 50 and set(data.train.labels.tolist()) == set(range(10))


def test_synthetic_honours_its_spec_and_seed():
    cfg = DataConfig(
        dataset="synthetic", synthetic={"num_samples": 70, "num_classes": 7, "channels": 1, "image_size": 12}
    )
    data = load_dataset(cfg, seed=3)
    assert (data.channels, data.image_size, len(data.class_names)) == (1, (12, 12), 7)
    assert len(data.train) + len(data.val) + len(data.test) == 70
    assert set(data.train.labels.tolist()) == set(range(7))
    assert load_dataset(cfg, seed=3).fingerprint == data.fingerprint
    assert load_dataset(cfg, seed=4).fingerprint != data.fingerprint
    colour = load_dataset(synthetic_cfg(), seed=0)
    assert colour.train.images.shape[1:] == (3, 8, 8)


def test_merge_concatenates_splits():
    data = load_dataset(synthetic_cfg(), seed=0)
    both = merge(data.train, data.val)
    assert len(both) == len(data.train) + len(data.val)
    assert torch.equal(both.labels[: len(data.train)], data.train.labels)


# --------------------------------------------------------------------------- torchvision datasets


def test_missing_torchvision_dataset_names_the_download_field(tmp_path):
    cfg = DataConfig(dataset="cifar10", root=str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match=r"^data\.download: cifar10 not found under .*data\.download: true"):
        load_dataset(cfg, seed=0)


@pytest.mark.skipif(not (SHARED_DATA / "MNIST" / "raw").is_dir(), reason="no shared MNIST copy")
def test_mnist_from_local_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for packed in (SHARED_DATA / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(packed, "rb") as src, open(raw / packed.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    data = load_dataset(DataConfig(dataset="mnist", root=str(tmp_path), limit=100, val_fraction=0.02), seed=0)
    assert (data.channels, data.image_size, len(data.class_names), data.hflip_ok) == (1, (28, 28), 10, False)
    assert len(data.train) == 100 and len(data.test) == 10_000  # the official test set is kept
    assert len(data.val) == 1200  # 2% of the 60,000 official training images
    assert set(data.train.labels.tolist()) == set(range(10))


# --------------------------------------------------------------------------- image folders


def write_images(folder: Path, classes=("cat", "dog", "fox"), per_class=6, size=(10, 12), mode="RGB", ext="png"):
    rng = np.random.default_rng(len(str(folder)))
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (*size, 3) if mode == "RGB" else size
            pixels = rng.integers(0, 256, shape, dtype=np.uint8)
            pixels[..., :3] = 80 * c  # a class-dependent corner
            Image.fromarray(pixels).convert(mode).save(folder / name / f"{i}.{ext}")


def test_imagefolder_without_split_folders_is_carved(tmp_path):
    write_images(tmp_path / "flat", per_class=10)
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "flat")), seed=0)
    assert data.class_names == ["cat", "dog", "fox"]
    assert (data.channels, data.image_size, data.hflip_ok) == (3, (10, 12), False)  # flips only with data.flip: true
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6)
    assert isinstance(data.train, Split) and data.skipped == 0


def test_imagefolder_split_folders_grey_images_and_resize(tmp_path):
    root = tmp_path / "tree"
    write_images(root / "train", per_class=5, mode="L")
    write_images(root / "val", per_class=2, mode="L")
    write_images(root / "test", per_class=3, mode="L")
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(root), image_size=8), seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (15, 6, 9)
    assert (data.channels, data.image_size) == (1, (8, 8))
    assert data.val.images.shape[1:] == (1, 8, 8)


def test_imagefolder_val_root_override_and_mixed_sizes(tmp_path):
    write_images(tmp_path / "train", per_class=4, size=(10, 12))
    write_images(tmp_path / "other", per_class=2, size=(7, 7), ext="jpg")
    cfg = DataConfig(dataset="imagefolder", root=str(tmp_path / "train"), val_root=str(tmp_path / "other"))
    data = load_dataset(cfg, seed=0)
    assert len(data.val) == 6 and data.val.images.shape[2:] == (10, 12)  # resized to the first image


def test_imagefolder_skips_unreadable_files(tmp_path):
    write_images(tmp_path / "set", per_class=6)
    (tmp_path / "set" / "dog" / "broken.png").write_bytes(b"not a png at all")
    (tmp_path / "set" / "dog" / "notes.txt").write_text("ignored: not an image extension")
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "set")), seed=0)
    assert data.skipped == 1
    assert len(data.train) + len(data.val) + len(data.test) == 18


def test_imagefolder_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.root: no such folder"):
        load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "missing")), seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"^data\.root: no class folders"):
        load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "empty")), seed=0)
    write_images(tmp_path / "train", classes=("a", "b"), per_class=3)
    write_images(tmp_path / "val", classes=("a", "c"), per_class=2)
    cfg = DataConfig(dataset="imagefolder", root=str(tmp_path / "train"), val_root=str(tmp_path / "val"))
    with pytest.raises(ConfigError, match=r"^data\.val_root: class folders .*missing: b; extra: c"):
        load_dataset(cfg, seed=0)
    cfg = DataConfig(dataset="imagefolder", root=str(tmp_path / "train"), test_root=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match=r"^data\.test_root: no such folder"):
        load_dataset(cfg, seed=0)


def test_stream_mode_gives_the_same_batches_as_memory(tmp_path):
    write_images(tmp_path / "set", per_class=8)
    memory = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "set"), mode="memory"), seed=0)
    stream = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "set"), mode="stream"), seed=0)
    assert isinstance(stream.train, StreamSplit) and len(stream.train) == len(memory.train)
    assert stream.image_size == memory.image_size and stream.fingerprint != memory.fingerprint
    pre = Preprocess(mean=(0.5,), std=(0.25,))
    aug = Augment(crop_padding=2, hflip=True)
    options = dict(batch_size=5, device="cpu", preprocess=pre, augment=aug, shuffle=True, seed=3)
    expected = batches(BatchLoader(memory.train, **options))
    got = batches(BatchLoader(stream.train, num_workers=0, **options))
    assert [x.shape for x, _ in got] == [x.shape for x, _ in expected]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(got, expected))
    with_worker = batches(BatchLoader(stream.val, num_workers=1, **options))
    assert sum(len(y) for _, y in with_worker) == len(stream.val)


def test_auto_mode_streams_what_would_not_fit_in_memory(tmp_path, monkeypatch):
    write_images(tmp_path / "set", per_class=4)
    monkeypatch.setattr("nasxfer.data.imagefolder.MEMORY_LIMIT_BYTES", 1000)
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "set")), seed=0)
    assert isinstance(data.train, StreamSplit) and data.mean == (0.485, 0.456, 0.406)


def test_stream_drops_unreadable_files_from_batches(tmp_path):
    for split, count in (("train", 4), ("val", 1), ("test", 1)):
        write_images(tmp_path / "tree" / split, per_class=count)
    (tmp_path / "tree" / "train" / "fox" / "zz.png").write_bytes(b"\x89PNG truncated")
    data = load_dataset(DataConfig(dataset="imagefolder", root=str(tmp_path / "tree"), mode="stream"), seed=0)
    assert len(data.train) == 13 and data.skipped == 1  # every file was probed, so it was counted
    pre = Preprocess(mean=data.mean, std=data.std)
    got = batches(BatchLoader(data.train, batch_size=4, device="cpu", preprocess=pre, num_workers=0))
    assert sum(len(y) for _, y in got) == 12 and all(x.shape[1:] == (3, 10, 12) for x, _ in got)


# --------------------------------------------------------------------------- batch loader


def test_batch_loader_shapes_lengths_and_dtypes():
    split = tiny_split(n=23)
    pre = Preprocess(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    loader = BatchLoader(split, batch_size=5, device="cpu", preprocess=pre)
    got = batches(loader)
    assert len(loader) == len(got) == 5 and loader.num_samples == 23
    assert [len(y) for _, y in got] == [5, 5, 5, 5, 3]
    assert got[0][0].dtype == torch.float32 and got[0][1].dtype == torch.int64
    assert torch.equal(torch.cat([y for _, y in got]), split.labels)  # no shuffle: in order
    dropped = BatchLoader(split, batch_size=5, device="cpu", preprocess=pre, drop_last=True, shuffle=True)
    assert len(dropped) == 4 and [len(y) for _, y in dropped] == [5] * 4


def test_batch_loader_normalises_with_the_data_statistics():
    data = load_dataset(synthetic_cfg(), seed=0)
    loader = BatchLoader(data.train, batch_size=32, device="cpu", preprocess=Preprocess.for_data(data))
    x = torch.cat([x for x, _ in loader])
    assert x.mean(dim=(0, 2, 3)).abs().max() < 1e-3
    assert (x.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-2


def test_batch_loader_is_deterministic_per_seed_and_new_each_epoch():
    split = tiny_split(n=30)
    pre = Preprocess(mean=(0.5,), std=(0.5,))
    aug = Augment(crop_padding=1, hflip=True)

    def make(seed):
        return BatchLoader(split, batch_size=8, device="cpu", preprocess=pre, augment=aug, shuffle=True, seed=seed)

    a, b, c = make(0), make(0), make(1)
    first_a, first_b, first_c = batches(a), batches(b), batches(c)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(first_a, first_b))
    assert not torch.equal(first_a[0][1], first_c[0][1])
    second_a = batches(a)
    assert not torch.equal(first_a[0][1], second_a[0][1])
    b.set_epoch(1)
    assert all(torch.equal(x, y) for (x, _), (y, _) in zip(second_a, batches(b)))


def test_crop_keeps_shape_and_moves_pixels_like_reflect_padding():
    images = torch.arange(4 * 1 * 6 * 6, dtype=torch.float32).view(4, 1, 6, 6)
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(images, Augment(crop_padding=2), gen)
    assert out.shape == images.shape
    assert not torch.equal(out, images)
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    for i in range(4):
        windows = [padded[i, :, dy : dy + 6, dx : dx + 6] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) for w in windows)


def test_flip_only_when_enabled():
    images = torch.randint(0, 256, (64, 3, 5, 5), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(augment_batch(images, Augment(), gen), images)
    flipped = augment_batch(images, Augment(hflip=True), gen)
    mirrored = torch.tensor([torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images)])
    same = torch.tensor([torch.equal(f, i) for f, i in zip(flipped, images)])
    assert (mirrored | same).all() and mirrored.any() and same.any()


def test_preprocess_turns_grey_into_rgb_and_resizes():
    split = tiny_split(n=6, channels=1, size=8)
    pre = Preprocess(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), image_size=(12, 12), channels=3)
    x, _ = next(iter(BatchLoader(split, batch_size=6, device="cpu", preprocess=pre, channels_last=True)))
    assert x.shape == (6, 3, 12, 12)
    assert x.is_contiguous(memory_format=torch.channels_last)
    grey = x * torch.tensor(pre.std).view(1, 3, 1, 1) + torch.tensor(pre.mean).view(1, 3, 1, 1)
    assert torch.allclose(grey[:, 0], grey[:, 2], atol=1e-5)
    with pytest.raises(ValueError):
        BatchLoader(split, batch_size=2, device="cpu", preprocess=Preprocess(mean=(0.5, 0.5), std=(1.0, 1.0)))


def test_augment_for_follows_the_config():
    data = load_dataset(synthetic_cfg(), seed=0)  # 8x8, hflip not ok
    assert augment_for(synthetic_cfg(), data) == Augment(crop_padding=1, hflip=False)
    assert augment_for(synthetic_cfg(augment="none"), data) == Augment()
    assert augment_for(synthetic_cfg(augment="flip"), data) == Augment(hflip=True)
    assert augment_for(synthetic_cfg(augment="crop_flip"), data) == Augment(crop_padding=1, hflip=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batch_loader_on_cuda_keeps_data_on_the_device():
    data = load_dataset(synthetic_cfg(), seed=0)
    aug = Augment(crop_padding=1, hflip=True)
    loader = BatchLoader(
        data.train, batch_size=16, device="cuda", preprocess=Preprocess.for_data(data), augment=aug, shuffle=True
    )
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and x.shape == (16, 3, 8, 8)
