"""The examples in the client's docstrings hold.

Only the modules that carry examples are listed, and each must run at least
one: a module without examples would make its row pass without checking anything.
"""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["cache", "httpx_compat", "update"])
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"ifmatch.client.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"ifmatch.client.{name} has no doctest examples"
    assert result.failed == 0
