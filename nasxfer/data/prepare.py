"""Carving the splits a dataset lacks out of its training pool, and capping the training split."""

from __future__ import annotations

from nasxfer.data.containers import FileList, Source, Split
from nasxfer.data.splits import stratified_split, stratified_subsample


def carve(
    source: Source, val_fraction: float, test_fraction: float, seed: int
) -> tuple[Split | FileList, Split | FileList, Split | FileList, tuple[str, ...]]:
    """``(train, val, test, carved)``: missing splits cut from ``source.train`` by fraction.

    With neither split given the pool is cut ``[1 - val - test, val, test]``; with only
    one missing, only that one is cut (a dataset's own test set is kept, and
    ``test_fraction`` then has no effect). ``carved`` names the splits that were cut.
    """
    wanted: dict[str, float] = {}
    if source.val is None:
        wanted["val"] = val_fraction
    if source.test is None:
        wanted["test"] = test_fraction
    if not wanted:
        return source.train, source.val, source.test, ()
    fractions = [1.0 - sum(wanted.values()), *wanted.values()]
    train_index, *pieces = stratified_split(source.train.labels, fractions, seed)
    cut = {name: source.train.subset(index) for name, index in zip(wanted, pieces)}
    return (
        source.train.subset(train_index),
        cut.get("val", source.val),
        cut.get("test", source.test),
        tuple(wanted),
    )


def cap(train: Split | FileList, limit: int | None, seed: int) -> Split | FileList:
    """At most ``limit`` training samples, drawn per class so proportions are kept (``data.limit``)."""
    if limit is None or len(train) <= limit:
        return train
    return train.subset(stratified_subsample(train.labels, limit, seed))
