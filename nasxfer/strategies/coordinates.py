"""A space seen as flat coordinates: one per plain dimension, one per item of a repeated one.

Learning strategies model each coordinate on its own (a softmax per layer's op, one Optuna
distribution per ``path[i]``), so they need to take candidates apart and put them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from nasxfer.search.space import Candidate, Dimension, SearchSpace


@dataclass(frozen=True)
class Coordinate:
    dimension: Dimension
    index: int | None  # the item of a repeated dimension; None for a plain one

    @property
    def name(self) -> str:
        path = self.dimension.path
        return path if self.index is None else f"{path}[{self.index}]"

    @property
    def domain(self):
        return self.dimension.domain

    def read(self, values: dict[str, Any]) -> Any:
        value = values[self.dimension.path]
        return value if self.index is None else value[self.index]


def coordinates(space: SearchSpace) -> list[Coordinate]:
    """The space's coordinates, dimension by dimension, items in order."""
    out = []
    for dim in space.dimensions:
        if dim.repeat is None:
            out.append(Coordinate(dim, None))
        else:
            out.extend(Coordinate(dim, i) for i in range(dim.repeat))
    return out


def assemble(space: SearchSpace, items: Sequence[Any]) -> Candidate:
    """The candidate whose coordinates (in ``coordinates(space)`` order) are ``items``."""
    values: dict[str, Any] = {}
    position = 0
    for dim in space.dimensions:
        if dim.repeat is None:
            values[dim.path] = items[position]
            position += 1
        else:
            values[dim.path] = list(items[position : position + dim.repeat])
            position += dim.repeat
    return Candidate(values)


def fits(space: SearchSpace, values: dict[str, Any]) -> bool:
    """Whether a journal row's values are a candidate of this space.

    A resumed run whose space was edited can hold rows that are not; learners skip them.
    """
    return space.contains(Candidate(values))
