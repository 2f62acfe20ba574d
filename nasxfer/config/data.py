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

    num_samples: int = Field(600, ge=10, le=1_000_000)
    num_classes: int = Field(4, ge=2, le=1000)
    channels: Literal[1, 3] = 3
    image_size: int = Field(16, ge=4, le=1024)

    @model_validator(mode="after")
    def _fits_in_memory(self) -> SyntheticData:
        size = self.num_samples * self.channels * self.image_size**2
        if size > MAX_SYNTHETIC_BYTES:
            raise ValueError(
                f"{size / 1e9:.0f} GB of images is too much to generate; lower num_samples or image_size"
            )
        return self


class DataConfig(Strict):
    dataset: str = "digits"
    root: str | None = None  # folder of torchvision files or of the ImageFolder tree
    val_root: str | None = None  # imagefolder: a separate validation folder
    test_root: str | None = None  # imagefolder: a separate test folder
    download: bool = False  # torchvision datasets: download into root when missing
    image_size: int | None = Field(None, ge=4, le=1024)  # resize to this; None keeps native size
    val_fraction: float = Field(0.2, gt=0, lt=1)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    limit: int | None = Field(None, ge=10)  # keep at most this many training images (quick runs)
    augment: Literal["auto", "none", "flip", "crop", "crop_flip"] = "auto"
    mode: Literal["auto", "memory", "stream"] = "auto"  # stream: DataLoader with workers
    num_workers: int = Field(2, ge=0, le=64)
    synthetic: SyntheticData = SyntheticData()

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
        return self
