"""Handler-level preconditions answer before the expensive work (issue 3, acceptance 2).

Each framework's guard (Starlette and Flask decorators, the FastAPI
dependency, the Django decorator) gets a cheap validators function; the
endpoint behind it calls ``EXPENSIVE`` (a stand-in for the database read and
serialization).  A 304, a 412 and a 428 must be answered without calling it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .stacks import STACKS, Client
from .store import EXPENSIVE, STORE

GUARDED = ["django", "django-asgi", "fastapi", "flask", "flask-async", "starlette"]


@pytest.fixture(params=GUARDED)
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    STORE.reset()
    EXPENSIVE.calls = 0
    yield from STACKS[request.param]()
    STORE.reset()


def test_304_without_calling_the_expensive_function(client: Client) -> None:
    """§13.1.2: the cached read is answered from the version column alone."""
    answer = client("GET", "/expensive", {"If-None-Match": '"v1"'}, b"")
    assert answer.status == 304
    assert answer.header("etag") == '"v1"'
    assert answer.body == b""
    assert EXPENSIVE.calls == 0


def test_304_from_if_modified_since_without_calling_it(client: Client) -> None:
    """§13.1.3: Last-Modified from the cheap function is enough too."""
    modified = client("HEAD", "/versioned", {}, b"").header("last-modified") or ""
    answer = client("GET", "/expensive", {"If-Modified-Since": modified}, b"")
    assert answer.status == 304
    assert EXPENSIVE.calls == 0


def test_stale_write_and_missing_precondition_never_reach_the_handler(client: Client) -> None:
    """§13.1.1 and RFC 6585 §3: 412 and 428 come before the handler runs."""
    stale = client("PUT", "/expensive", {"If-Match": '"v0"'}, b"{}")
    unconditional = client("PUT", "/expensive", {}, b"{}")
    assert (stale.status, unconditional.status) == (412, 428)
    assert EXPENSIVE.calls == 0


def test_a_changed_resource_runs_the_handler_once_and_gets_validators(client: Client) -> None:
    """The control: a stale cache entry gets the full 200, with the guard's validators."""
    answer = client("GET", "/expensive", {"If-None-Match": '"v0"'}, b"")
    assert answer.status == 200
    assert answer.header("etag") == '"v1"'
    assert answer.header("last-modified")
    assert EXPENSIVE.calls == 1


def test_starlette_decorator_on_an_http_endpoint_method() -> None:
    """HTTPEndpoint methods get (self, request): the guard finds the request last."""
    from starlette.applications import Starlette
    from starlette.endpoints import HTTPEndpoint
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from ifmatch.starlette import preconditions

    from .stacks import versioned_resource

    STORE.reset()
    EXPENSIVE.calls = 0

    class Document(HTTPEndpoint):
        @preconditions(versioned_resource, require=True)
        async def get(self, request: Request) -> Response:
            return PlainTextResponse(EXPENSIVE().decode())

        @preconditions(versioned_resource, require=True)
        def put(self, request: Request) -> Response:  # sync: run in the thread pool
            return PlainTextResponse("stored")

    client = TestClient(Starlette(routes=[Route("/doc", Document)]))
    assert client.get("/doc", headers={"If-None-Match": '"v1"'}).status_code == 304
    assert client.put("/doc", content=b"x").status_code == 428
    assert client.put("/doc", content=b"x", headers={"If-Match": '"v1"'}).text == "stored"
    full = client.get("/doc")
    assert (full.status_code, full.headers["etag"]) == (200, '"v1"')
    assert EXPENSIVE.calls == 1
