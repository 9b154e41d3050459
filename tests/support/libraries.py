"""The ``http`` fixture: runs a test once on httpx and once on httpx2.

ifmatch's client must behave the same on both libraries (issue 14), with
one copy of its logic; every client test that builds a client or a response
takes the library from this fixture (``http.Client``, ``http.Response``).
The command line picks its library from ``$IFMATCH_HTTP``, so it is set too.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

LIBRARIES = ("httpx", "httpx2")


@pytest.fixture(params=LIBRARIES)
def http(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The HTTP library the test runs on: httpx, then httpx2."""
    monkeypatch.setenv("IFMATCH_HTTP", request.param)
    return importlib.import_module(request.param)
