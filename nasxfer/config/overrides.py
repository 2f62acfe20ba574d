"""Dotted-path edits of a raw config mapping: ``--set key=value`` and ``Config.apply``.

Both work on plain data before validation, so an override is checked by the same schema
as the file it changes.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from nasxfer.config.yaml_io import safe_load_yaml
from nasxfer.errors import ConfigError


def parse_override(item: str) -> tuple[str, Any]:
    """``train.lr=0.05`` -> ``("train.lr", 0.05)``; the value is parsed as YAML."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set: '{item}' is not key=value (example: --set train.lr=0.05)")
    try:
        value = safe_load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path == "a.b.c"``, creating sections as needed.

    Space dimensions are themselves keyed by dotted paths (``search.space.train.lr``), so
    once the walk reaches ``search.space`` the rest of the path is one key.
    """
    parts = path.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        if parts[:i] == ["search", "space"] and i == 2:
            break
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{'.'.join(parts[: i + 1])}: is a value, not a section, so '{path}' cannot be set")
        node = child
    else:
        node[parts[-1]] = copy.deepcopy(value)
        return
    node[".".join(parts[2:])] = copy.deepcopy(value)
