"""The package's layers, read from its source: no import runs back up.

Every import counts, wherever it is written: at the top, inside a function, or under
``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import imagetune

PACKAGE = Path(imagetune.__file__).parent

LIBRARY = ("jobs", "engine", "storage", "webhooks")
"""Usable without the service: they take plain arguments."""
ABOVE = ("api", "hosting", "wiring", "config")
"""The service's own parts, which build and use the library: never imported by it."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as a and a.b: b may be a
    module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("imagetune.")}


SOURCES = sorted(PACKAGE.rglob("*.py"))
IMPORTS = {module_name(path): imported(path) for path in SOURCES}
UNITS = {module.split(".")[1] for module in IMPORTS if module.count(".")}


def unit(name: str) -> str | None:
    """The top-level subpackage or module ``name`` is in; None for the package root and
    what it defines (``from imagetune import __version__``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in UNITS else None


def test_the_sources_are_read() -> None:
    assert "imagetune.engine.decode" in IMPORTS
    assert "imagetune.engine.errors" in IMPORTS["imagetune.engine.decode"]


@pytest.mark.parametrize("layer", LIBRARY)
def test_the_library_imports_nothing_above_it(layer: str) -> None:
    upward = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if unit(module) == layer
        for name in names
        if unit(name) in ABOVE
    )
    assert upward == []


def test_the_engine_is_a_library_of_its_own() -> None:
    outside = sorted(
        f"{module} imports {name}"
        for module, names in IMPORTS.items()
        if unit(module) == "engine"
        for name in names
        if unit(name) not in (None, "engine")
    )
    assert outside == []


def test_no_cycle_between_the_top_level_parts() -> None:
    graph: dict[str, set[str]] = {}
    for module, names in IMPORTS.items():
        source = unit(module)
        if source is None:
            continue
        graph.setdefault(source, set()).update(
            target for name in names if (target := unit(name)) not in (None, source)
        )
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as e:
        pytest.fail(f"import cycle between top-level parts: {' -> '.join(e.args[1])}")
