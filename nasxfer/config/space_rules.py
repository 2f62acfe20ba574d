"""Which config fields a search space may vary: those that change what a trial trains.

Two kinds of field may not be searched. The data and its split are fixed per run: a
dimension over the seed (which draws the split), the dataset, its folders, its fractions or
its limit would validate every trial on other images, so their scores could not be compared.
Only ``data.image_size`` and ``data.augment`` change how a trial sees the same images.
Other fields change nothing a trial trains (``finetune`` is read after the search,
``executor`` says where trials run, ``output`` what the run writes, ``name`` what it is
called), so searching them spends the budget on repeats.
"""

from __future__ import annotations

from typing import Iterable

#: ``data`` fields a trial may change: how it sees the images, not which images it sees.
SEARCHABLE_DATA_FIELDS = ("image_size", "augment")

_FIXED_DATA = (
    "the data and its split are fixed per run, so that every trial is validated on the same images "
    "(only data.image_size and data.augment may vary); set it in the config instead"
)
_SPLIT_SEED = (
    "the seed draws the data's split, which is fixed per run so that every trial is validated on the same "
    "images (data.image_size and data.augment may vary); set seed in the config instead"
)
_UNUSED_BY_TRIALS = {
    "finetune": "finetune is read by nasxfer finetune after the search",
    "executor": "executor says where trials run, not what they train",
    "output": "output says what the run writes, not what trials train",
    "name": "name only names the run",
}


def unsearchable_reason(path: str, data_fields: Iterable[str]) -> str | None:
    """Why the dotted config ``path`` cannot be a search dimension; None when it may be one.

    ``data_fields`` are the ``data`` section's field names: a misspelt ``data.*`` path is left
    to the check that names the field it meant.
    """
    section, _, rest = path.partition(".")
    if section == "seed":
        return _SPLIT_SEED
    if section == "data" and (not rest or rest.split(".")[0] in set(data_fields)):
        return None if rest in SEARCHABLE_DATA_FIELDS else _FIXED_DATA
    if section in _UNUSED_BY_TRIALS:
        return f"{_UNUSED_BY_TRIALS[section]}, so no trial would train differently; set it in the config instead"
    return None


def check_space_paths(paths: Iterable[str], data_fields: Iterable[str]) -> None:
    """``ValueError`` naming the first path of ``paths`` that a search space may not vary."""
    data_fields = tuple(data_fields)
    for path in paths:
        reason = unsearchable_reason(path, data_fields)
        if reason:
            raise ValueError(f"search.space.{path}: {reason}")
