"""The import graph of a package, read from its source: every import, those inside functions too.

Python hides a cycle that runs through a function-level import until the wrong module is
imported first; a private name imported from another module is a contract nobody signed.
This module finds both without importing the package under test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportGraph:
    """Modules of one package (dotted names) and, for each, the package modules it imports."""

    edges: dict[str, set[str]] = field(default_factory=dict)
    private: list[str] = field(default_factory=list)  # "a imports b._name"

    def cycles(self) -> list[list[str]]:
        """Strongly connected groups of two or more modules (each a cycle), sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        groups: list[list[str]] = []

        def visit(module: str) -> None:  # Tarjan's algorithm; packages are small enough to recurse
            index[module] = low[module] = len(index)
            stack.append(module)
            on_stack.add(module)
            for target in sorted(self.edges.get(module, ())):
                if target not in index:
                    visit(target)
                    low[module] = min(low[module], low[target])
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for module in sorted(self.edges):
            if module not in index:
                visit(module)
        return sorted(groups)


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` file under ``package_dir``."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(package_dir: Path) -> ImportGraph:
    """Read every import statement of the package at ``package_dir`` into an ``ImportGraph``."""
    modules = module_files(Path(package_dir))
    package = Path(package_dir).name
    graph = ImportGraph({name: set() for name in modules})

    def owner(dotted: str) -> str | None:
        """The package module a dotted name lives in (``a.b.func`` -> ``a.b``)."""
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                imported = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join(here + ([base] if base else []))
                imported = []
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    imported.append((full, None) if full in modules else (base, alias.name))
            else:
                continue
            for dotted, attribute in imported:
                if dotted != package and not dotted.startswith(package + "."):
                    continue
                target = owner(dotted)
                if target is None or target == name:
                    continue
                graph.edges[name].add(target)
                if attribute and attribute.startswith("_") and not attribute.startswith("__"):
                    graph.private.append(f"{name} imports {target}.{attribute}")
    return graph
