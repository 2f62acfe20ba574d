"""The search space: which config fields vary, and how. Knows nothing about models.

A ``SearchSpace`` is a tuple of dimensions, each naming a dotted config path. A
``Candidate`` is one value per dimension; its ``key`` is a stable hash of those values,
so a run can tell that it has already tried a candidate, across restarts and machines.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from nasxfer.errors import ConfigError


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Candidate:
    """A set of config values, ``{"train.lr": 0.05, "model.scratch.ops": [...]}``."""

    values: Mapping[str, Any]

    @property
    def key(self) -> str:
        """Stable across processes and Python versions: a hash of the canonical JSON."""
        return hashlib.sha256(canonical_json(dict(self.values)).encode()).hexdigest()[:12]

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and self.key == other.key

    def as_dict(self) -> dict[str, Any]:
        return json.loads(canonical_json(dict(self.values)))


# --------------------------------------------------------------------------- dimensions


@dataclass(frozen=True)
class Choice:
    """One of a finite list of values."""

    choices: tuple[Any, ...]

    @property
    def size(self) -> int:
        return len(self.choices)

    def sample(self, rng: random.Random) -> Any:
        return self.choices[rng.randrange(len(self.choices))]

    def grid(self) -> list[Any]:
        return list(self.choices)

    def neighbours(self, value: Any) -> list[Any]:
        return [c for c in self.choices if c != value]

    def contains(self, value: Any) -> bool:
        return value in self.choices


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]``, uniform or log-uniform."""

    low: int
    high: int
    log: bool = False

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def sample(self, rng: random.Random) -> int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(self.high, max(self.low, int(x)))
        return rng.randint(self.low, self.high)

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1))

    def neighbours(self, value: int) -> list[int]:
        return [v for v in (value - 1, value + 1) if self.low <= v <= self.high]

    def contains(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


@dataclass(frozen=True)
class FloatRange:
    """A float in ``[low, high]``, uniform or log-uniform. Values are rounded to 6
    significant digits so that they read well in tables and hash stably."""

    low: float
    high: float
    log: bool = False
    grid_points: int = 3

    size = math.inf

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return _round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return _round(rng.uniform(self.low, self.high))

    def grid(self) -> list[float]:
        n = self.grid_points
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return [_round(math.exp(lo + (hi - lo) * i / (n - 1))) for i in range(n)]
        return [_round(self.low + (self.high - self.low) * i / (n - 1)) for i in range(n)]

    def neighbours(self, value: float) -> list[float]:
        """Two steps of a tenth of the range (in log space for log ranges), kept inside it."""
        if self.log:
            step = (math.log(self.high) - math.log(self.low)) / 10
            moved = [math.exp(math.log(value) + d) for d in (-step, step)]
        else:
            step = (self.high - self.low) / 10
            moved = [value - step, value + step]
        return [_round(min(self.high, max(self.low, v))) for v in moved if _round(v) != value]

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high


Domain = Choice | IntRange | FloatRange


@dataclass(frozen=True)
class Dimension:
    """A config path and its domain; ``repeat`` makes the value a list of independent items."""

    path: str
    domain: Domain
    repeat: int | None = None

    @property
    def size(self) -> float:
        return self.domain.size ** (self.repeat or 1)

    @property
    def width(self) -> int:
        """How many independent coordinates this dimension has (``repeat`` or 1)."""
        return self.repeat or 1

    def sample(self, rng: random.Random) -> Any:
        if self.repeat is None:
            return self.domain.sample(rng)
        return [self.domain.sample(rng) for _ in range(self.repeat)]

    def grid(self) -> list[Any]:
        if self.repeat is None:
            return self.domain.grid()
        return [list(items) for items in itertools.product(self.domain.grid(), repeat=self.repeat)]

    def neighbours(self, value: Any) -> list[Any]:
        """Values that differ from ``value`` in exactly one coordinate."""
        if self.repeat is None:
            return self.domain.neighbours(value)
        out = []
        for i, item in enumerate(value):
            for other in self.domain.neighbours(item):
                out.append([*value[:i], other, *value[i + 1 :]])
        return out

    def contains(self, value: Any) -> bool:
        if self.repeat is None:
            return self.domain.contains(value)
        return isinstance(value, list) and len(value) == self.repeat and all(self.domain.contains(v) for v in value)


def _invalid_everywhere(config, dims, base: dict[str, Any], dim: Dimension, value: Any) -> ConfigError | None:
    """The error of ``dim = value`` beside the other dimensions' first values, unless a value
    of one other dimension makes it valid (layers per stage and ops per layer vary together);
    None when it is valid somewhere. Pairs, not every combination: the check stays linear."""
    try:
        config.apply({**base, dim.path: value})
        return None
    except ConfigError as exc:
        first_error = exc
    for other in dims:
        if other is dim:
            continue
        for other_value, _ in _values_to_check(other, base[other.path]):
            try:
                config.apply({**base, dim.path: value, other.path: other_value})
                return None
            except ConfigError:
                continue
    return first_error


def _values_to_check(dim: Dimension, first: Any):
    """``(value, description)`` for each value of ``dim`` that validation must see once."""
    domain = dim.domain
    edges = list(domain.choices) if isinstance(domain, Choice) else [domain.low, domain.high]
    kind = "choice" if isinstance(domain, Choice) else "range end"
    for edge in edges:
        if dim.repeat is None:
            yield edge, f"{kind} {edge!r}"
            continue
        for index in range(dim.repeat):  # one coordinate at a time, the others at the first value
            value = list(first)
            value[index] = edge
            yield value, f"{kind} {edge!r} at position {index}"


# --------------------------------------------------------------------------- the space


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @classmethod
    def from_config(cls, config) -> SearchSpace:
        """Build the space of ``config.search.space`` and check it against the schema.

        Every dimension must name an existing config field, and every value the space can
        give must validate: each choice (at each coordinate of a ``repeat``) and both ends of
        each range, one dimension at a time beside the others' first values. A value that
        cannot make a valid config fails here, before anything trains, not as a failed trial.
        """
        dims = []
        for path, spec in config.search.space.items():
            _check_path_exists(config, path)
            dims.append(Dimension(path, _domain(spec), spec.repeat))
        space = cls(tuple(dims))
        if dims:
            base = {d.path: d.grid()[0] for d in dims}
            for dim in dims:
                for value, where in _values_to_check(dim, base[dim.path]):
                    error = _invalid_everywhere(config, dims, base, dim, value)
                    if error is not None:
                        raise ConfigError(f"search.space.{dim.path}: {where} is not a valid config: {error}") from None
        return space

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(d.path for d in self.dimensions)

    @property
    def size(self) -> float:
        """Number of distinct candidates (``math.inf`` with a float range)."""
        return math.prod(d.size for d in self.dimensions) if self.dimensions else 1

    def sample(self, rng: random.Random) -> Candidate:
        return Candidate({d.path: d.sample(rng) for d in self.dimensions})

    def grid(self) -> Iterator[Candidate]:
        """Every combination of each dimension's grid values, first dimension slowest."""
        for combo in itertools.product(*(d.grid() for d in self.dimensions)):
            yield Candidate(dict(zip(self.paths, combo)))

    def neighbours(self, candidate: Candidate) -> list[Candidate]:
        """Candidates that differ from ``candidate`` in exactly one coordinate."""
        out = []
        for d in self.dimensions:
            for value in d.neighbours(candidate.values[d.path]):
                out.append(Candidate({**candidate.values, d.path: value}))
        return out

    def mutate(self, candidate: Candidate, rng: random.Random) -> Candidate:
        """A uniformly chosen one-coordinate neighbour (itself when it has none)."""
        options = self.neighbours(candidate)
        return options[rng.randrange(len(options))] if options else candidate

    def contains(self, candidate: Candidate) -> bool:
        return set(candidate.values) == set(self.paths) and all(
            d.contains(candidate.values[d.path]) for d in self.dimensions
        )

    def describe(self) -> list[tuple[str, str, str]]:
        """``(path, kind, detail)`` rows for ``validate`` and the report."""
        rows = []
        for d in self.dimensions:
            dom = d.domain
            if isinstance(dom, Choice):
                kind, detail = "choice", ", ".join(map(str, dom.choices))
            else:
                kind = ("int" if isinstance(dom, IntRange) else "float") + (" log" if dom.log else "")
                detail = f"{dom.low} … {dom.high}"
            if d.repeat:
                kind += f" ×{d.repeat}"
            rows.append((d.path, kind, detail))
        return rows


def _domain(spec) -> Domain:
    if spec.choices is not None:
        return Choice(tuple(spec.choices))
    if spec.integer:
        return IntRange(int(spec.low), int(spec.high), spec.log)
    return FloatRange(float(spec.low), float(spec.high), spec.log, spec.grid)


def _check_path_exists(config, path: str) -> None:
    node: Any = config
    walked: list[str] = []
    for part in path.split("."):
        fields = getattr(type(node), "model_fields", None)
        if fields is None or part not in fields:
            from nasxfer.config.messages import closest_key

            where = ".".join(walked) or "the config"
            close = closest_key(part, sorted(fields) if fields else [])
            hint = f" — did you mean '{'.'.join([*walked, close])}'?" if close else ""
            raise ConfigError(
                f"search.space.{path}: names no config field ('{part}' is not in {where}){hint}"
            )
        node = getattr(node, part)
        walked.append(part)
    if not walked or walked[0] == "search":
        raise ConfigError(f"search.space.{path}: the search settings themselves cannot be searched")


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def seen_keys(history: Sequence[Any]) -> set[str]:
    """Keys of every candidate already tried (any state) or pending."""
    return {record.key for record in history}
