"""The examples in the client's docstrings hold."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["cache", "update", "storage", "download", "poll", "cli"])
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"ifmatch.client.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
