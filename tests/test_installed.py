"""README's test command exercises the package as installed, not the source tree beside it
(``[tool.pytest.ini_options]`` in pyproject.toml: ``--import-mode=importlib``, ``--pyargs``)."""

import json
from importlib.metadata import distribution
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

import xr_coregix

PACKAGE = Path(xr_coregix.__file__).resolve().parent


def _editable() -> bool:
    direct = distribution("xr-coregix").read_text("direct_url.json")
    return bool(direct) and json.loads(direct).get("dir_info", {}).get("editable", False)


def test_the_tests_import_the_installed_package():
    if _editable():
        pytest.skip("an editable install: the installed package is the source tree")
    installed = Path(distribution("xr-coregix").locate_file("xr_coregix/__init__.py")).resolve()
    assert installed.parent == PACKAGE
    assert "site-packages" in PACKAGE.parts  # not the checkout the tests were run from
    # not the checkout's own copy (the virtual environment may live inside the checkout)
    assert PACKAGE != Path(__file__).resolve().parents[1] / "xr_coregix"


def test_the_doctests_are_those_of_the_imported_package(request):
    doctests = {Path(item.path).resolve() for item in request.session.items
                if isinstance(item, DoctestItem) and item.path.suffix == ".py"}  # fmt: skip
    if not doctests:
        pytest.skip("no doctest collected (a selection of the tests was run)")
    assert all(PACKAGE in path.parents for path in doctests), sorted(
        str(p) for p in doctests if PACKAGE not in p.parents
    )
