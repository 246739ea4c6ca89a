"""Layers: the numerical core (``xr_coregix.core``) never imports the xarray layer or the edges.

Every module of ``xr_coregix/core`` is parsed (not imported) and every import statement in it,
at the top or inside a function, absolute or relative, is resolved to the module it names.
"""

import ast
from pathlib import Path

import pytest

import xr_coregix.core

CORE = Path(xr_coregix.core.__file__).parent
FORBIDDEN = (
    "xr_coregix.xr",
    "xr_coregix.plot",
    "xr_coregix.io",
    "xr_coregix.pipeline",
    "xr_coregix.cli",
    "xr_coregix.masks_io",
)


def imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` for every module an import in ``source`` may bind.

    ``package`` is the package the source lives in (``"xr_coregix.core"``), to resolve
    relative imports. ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a module);
    ``importlib.import_module("…")`` and ``__import__("…")`` with a literal name count too, and
    so does an attribute path from the package itself (``xr_coregix.plot.anchors`` after
    ``import xr_coregix``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                found.append((node.lineno, str(first.value)))
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is not None and dotted.startswith("xr_coregix."):
                found.append((node.lineno, dotted))
    return found


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


def forbidden(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in FORBIDDEN)


def core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_the_core_has_modules_to_check():
    names = {path.name for path in core_modules()}
    assert {"__init__.py", "transform.py", "solve.py", "grid.py"} <= names


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_imports_nothing_above_the_core(path):
    # the package a module's relative imports start from (a package's __init__ is in it too)
    package = ".".join(["xr_coregix", "core", *path.relative_to(CORE).parent.parts])
    found = imported_names(path.read_text(encoding="utf-8"), package)
    bad = [f"line {line}: {module}" for line, module in found if forbidden(module)]
    assert not bad, f"{path.relative_to(CORE.parent)} imports above the core: {bad}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from ..xr import warp", "xr_coregix.xr"),
        ("from .. import plot", "xr_coregix.plot"),
        ("from ..xr.warp import apply", "xr_coregix.xr.warp"),
        ("import xr_coregix.io", "xr_coregix.io"),
        ("from xr_coregix import pipeline", "xr_coregix.pipeline"),
        ("def f():\n    from ..cli import main\n    return main", "xr_coregix.cli"),
        ("def f():\n    from .. import masks_io\n", "xr_coregix.masks_io"),
        ("import importlib\nimportlib.import_module('xr_coregix.plot')", "xr_coregix.plot"),
        ("if True:\n    import xr_coregix.xr.series as s", "xr_coregix.xr.series"),
        ("import xr_coregix\nxr_coregix.plot.anchors(fit)", "xr_coregix.plot.anchors"),
    ],
)
def test_the_check_sees_every_form_of_import(source, expected):
    found = [module for _, module in imported_names(source, "xr_coregix.core")]
    assert expected in found and any(forbidden(module) for module in found)


@pytest.mark.parametrize(
    "source",
    [
        "from .transform import RigidTransform",
        "from ..errors import CoregError",
        "from . import grid",
        "import numpy as np",
        "from xr_coregix.core.anchors import kabsch",
        "import xr_coregix.xrays",  # a name that only starts like a forbidden one
    ],
)
def test_the_check_lets_the_core_and_its_dependencies_pass(source):
    found = [module for _, module in imported_names(source, "xr_coregix.core")]
    assert found and not any(forbidden(module) for module in found)
