"""nasxfer's import graph has no cycle and no module imports another's private name."""

from __future__ import annotations

from pathlib import Path

import nasxfer

from import_graph import import_graph

PACKAGE = Path(nasxfer.__file__).parent
TOP_LEVEL = {"__init__.py", "__main__.py", "cli.py", "errors.py"}


def test_nasxfer_has_no_import_cycle():
    cycles = import_graph(PACKAGE).cycles()
    assert cycles == [], "import cycles (imports inside functions count): " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_name():
    assert import_graph(PACKAGE).private == []


def test_top_level_holds_only_the_entry_points():
    modules = {p.name for p in PACKAGE.glob("*.py")}
    assert modules == TOP_LEVEL, f"modules outside a package: {sorted(modules - TOP_LEVEL)}"


def test_every_package_says_what_it_owns():
    for init in PACKAGE.rglob("__init__.py"):
        doc = init.read_text().lstrip()
        assert doc.startswith('"""'), f"{init.relative_to(PACKAGE.parent)} has no docstring"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "fake"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_finds_a_cycle_hidden_inside_a_function(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from fake.b import thing\n",
        "sub/__init__.py": "",
        "sub/c.py": "def late():\n    from fake import a\n",
        "b.py": "def thing():\n    from fake.sub.c import late\n",
        "d.py": "import fake.a\n",  # imports into the cycle, is not part of it
    })
    assert import_graph(root).cycles() == [["fake.a", "fake.b", "fake.sub.c"]]


def test_the_graph_finds_relative_and_private_imports(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "sub/__init__.py": "",
        "sub/x.py": "from ._y import public\nfrom .z import _hidden\nfrom . import z\n",
        "sub/_y.py": "public = 1\n",
        "sub/z.py": "_hidden = 2\n__all__ = []\nfrom fake.sub.x import __doc__\n",
    })
    graph = import_graph(root)
    assert graph.edges["fake.sub.x"] == {"fake.sub._y", "fake.sub.z"}
    assert graph.private == ["fake.sub.x imports fake.sub.z._hidden"]  # a private module is fine; a dunder too
    assert graph.cycles() == [["fake.sub.x", "fake.sub.z"]]
