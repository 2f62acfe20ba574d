"""Config files as YAML: parsing with YAML 1.2 booleans, and reading a file into a mapping.

Nothing here knows the schema. ``read_yaml_mapping`` turns every way a file can fail to be
a config (missing, huge, not UTF-8, not YAML, empty, an alias bomb, not a mapping) into a
one-line ``ConfigError`` before pydantic ever sees the data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from nasxfer.errors import ConfigError

MAX_CONFIG_BYTES = 1_000_000  # a config is a page of YAML; anything bigger is a mistake
MAX_CONFIG_NODES = 100_000  # counted with aliases expanded: stops "billion laughs" documents


class Yaml12Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """``safe_load`` with YAML 1.2 booleans: only true/false, so ``amp: off`` stays a string.

    Built on libyaml's parser where PyYAML has it: ten times faster, which ``nasxfer runs``
    (a config per run) notices.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def safe_load_yaml(text: str):
    """Parse YAML safely (no object construction) with YAML 1.2 booleans."""
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in the file at ``path``, unvalidated; ``ConfigError`` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: no such file '{path}' (give the path of a YAML config)")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config: '{path}' is over {MAX_CONFIG_BYTES // 1000} kB: is it really a config?")
    try:
        text = path.read_text(encoding="utf-8")
        data = safe_load_yaml(text)
    except UnicodeDecodeError:
        raise ConfigError(f"config: '{path}' is not UTF-8 text (give a YAML file)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config: '{path}' is not valid YAML{where}: {problem}") from None
    if data is None:
        raise ConfigError(f"config: '{path}' is empty (start from configs/quickstart.yaml)")
    if too_many_nodes(data):
        raise ConfigError(f"config: '{path}' expands to over {MAX_CONFIG_NODES:,} values (YAML aliases?)")
    if not isinstance(data, dict):
        raise ConfigError(f"config: '{path}' must be a YAML mapping of sections (name, data, model, …)")
    return data


def too_many_nodes(data: Any) -> bool:
    """Count values as a validator would visit them (aliases expanded), stopping early."""
    budget = MAX_CONFIG_NODES
    stack = [data]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            return True
        if isinstance(node, dict):
            stack.extend(node.values())
            stack.extend(node.keys())
        elif isinstance(node, list):
            stack.extend(node)
    return False
