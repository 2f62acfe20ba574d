"""The ``data`` section: which dataset, how it is split, loaded and augmented."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from nasxfer.config.base import Strict
from nasxfer.config.messages import known_name
from nasxfer.data import DATASET_NAMES

MAX_SYNTHETIC_BYTES = 4 * 10**9


class SyntheticData(Strict):
    """Procedural images (class-dependent shapes plus noise) for tests and demos."""

    num_samples: int = Field(600, ge=10, le=1_000_000, description="Number of images generated (all splits together).")
    num_classes: int = Field(4, ge=2, le=1000, description="Number of classes; each has its own shape.")
    channels: Literal[1, 3] = Field(3, description="Channels per image: 1 (grey) or 3 (RGB).")
    image_size: int = Field(16, ge=4, le=1024, description="Height and width of each image, in pixels.")

    @model_validator(mode="after")
    def _fits_in_memory(self) -> SyntheticData:
        size = self.num_samples * self.channels * self.image_size**2
        if size > MAX_SYNTHETIC_BYTES:
            raise ValueError(
                f"{size / 1e9:.0f} GB of images is too much to generate; lower num_samples or image_size"
            )
        return self


class DataConfig(Strict):
    dataset: str = Field("digits", description="Dataset name: digits, synthetic, a torchvision dataset (mnist, fashion_mnist, cifar10, cifar100, svhn), imagefolder or csv (a manifest of path,label rows).")
    root: str | None = Field(None, description="torchvision datasets: their folder (see download); imagefolder: a folder of class folders, or of train/, val/, test/; csv: the manifest file (header path,label; paths relative to its folder). Relative paths resolve against the working directory.")
    val_root: str | None = Field(None, description="imagefolder only: a separate folder of class folders for validation.")
    test_root: str | None = Field(None, description="imagefolder only: a separate folder of class folders for testing.")
    download: bool = Field(False, description="torchvision datasets: download into root when the files are missing.")
    image_size: int | None = Field(None, ge=4, le=1024, description="Resize every image to this many pixels square, once at load time; null keeps the native size.")
    resize: Literal["squash", "center_crop", "pad"] = Field("squash", description="Image files whose shape differs from image_size: squash stretches them (the default, as before, so earlier runs stay comparable), center_crop cuts the longer side evenly, pad adds black bars evenly; predict resizes the same way.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Fraction of the data held out for validation (stratified, seeded) where the dataset has no validation split.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Fraction of the data held out for testing (stratified, seeded) where the dataset has no test split.")
    limit: int | None = Field(None, ge=10, description="Keep at most this many training images (for quick runs); null keeps all.")
    augment: Literal["auto", "none", "flip", "crop", "crop_flip"] = Field("auto", description="Training augmentation: auto (random crop; a horizontal flip too only for the built-in natural-image datasets, cifar10, cifar100 and fashion_mnist, or with data.flip: true), none, flip, crop or crop_flip.")
    flip: bool | None = Field(None, description="With augment: auto, whether a horizontal flip keeps your labels: true adds flips (photographs of objects), false never flips; null: flip only the built-in natural-image datasets (never image folders or CSV manifests, which may hold digits, text or arrows).")
    policy: Literal["none", "randaugment", "trivialaugment"] = Field("none", description="An automatic augmentation policy on the training batches (torchvision v2, on the device, new ops every 8 images): randaugment, trivialaugment, or none. Searchable like any field; not applied to heads trained on cached features.")
    mixup: float = Field(0.0, ge=0, le=10, description="Mixup of training image pairs: the Beta(alpha, alpha) parameter alpha (0.2 to 1 is usual); 0 turns it off. With cutmix too, each batch gets one of them.")
    cutmix: float = Field(0.0, ge=0, le=10, description="CutMix of training image pairs: the Beta(alpha, alpha) parameter alpha (1 is usual); 0 turns it off.")
    mode: Literal["auto", "memory", "stream"] = Field("auto", description="memory: tensors on the training device, augmented there in batches; stream: a DataLoader with num_workers workers; auto picks by dataset size.")
    num_workers: int = Field(2, ge=0, le=64, description="stream mode: DataLoader worker processes.")
    synthetic: SyntheticData = Field(SyntheticData(), description="dataset synthetic only: how the procedural images are generated.")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return known_name(name, DATASET_NAMES, "dataset")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError(
                "val_fraction + test_fraction must be below 0.9 so that training data remains"
            )
        if self.dataset == "imagefolder" and not self.root:
            raise ValueError("dataset 'imagefolder' needs data.root: the folder of class folders")
        if self.dataset == "csv" and not self.root:
            raise ValueError("dataset 'csv' needs data.root: the manifest file (a CSV with columns path,label)")
        return self
