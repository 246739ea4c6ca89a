"""Doctests that draw need matplotlib (the ``plot`` extra): skipped when it is not installed."""

import importlib.util

import pytest
from _pytest.doctest import DoctestItem


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("matplotlib") is not None:
        return
    skip = pytest.mark.skip(reason="needs matplotlib (the plot extra)")
    for item in items:
        if isinstance(item, DoctestItem) and "plot" in item.name.split("."):
            item.add_marker(skip)
