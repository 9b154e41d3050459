"""A resource's whole life through every stack: delete, create with If-None-Match: *, 404s.

These need more than one request, so they sit beside the single-request
conformance table; they run over the same six stacks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from .stacks import STACKS, Client
from .store import STORE


@pytest.fixture(params=sorted(STACKS))
def client(request: pytest.FixtureRequest) -> Iterator[Client]:
    STORE.reset()
    yield from STACKS[request.param]()
    STORE.reset()


def test_delete_then_create_only_if_absent(client: Client) -> None:
    etag = client("GET", "/versioned", {}, b"").header("etag") or ""
    assert client("DELETE", "/versioned", {"If-Match": etag}, b"").status == 204

    # §13.2.1: a GET of a missing resource is a 404, whatever its preconditions say.
    assert client("GET", "/versioned", {"If-Match": etag}, b"").status == 404
    assert client("GET", "/versioned", {"If-None-Match": "*"}, b"").status == 404
    # §13.1.1: If-Match (even *) is false without a current representation.
    gone = client("PUT", "/versioned", {"If-Match": "*"}, b'{"title": "x"}')
    assert gone.status == 412
    assert json.loads(gone.body)["precondition"] == "If-Match"

    # §13.1.2: If-None-Match: * lets exactly one create through.
    created = client("PUT", "/versioned", {"If-None-Match": "*"}, b'{"title": "new"}')
    assert created.status == 200
    assert created.header("etag") not in (None, etag)
    again = client("PUT", "/versioned", {"If-None-Match": "*"}, b'{"title": "late"}')
    assert again.status == 412
    assert again.header("etag") == created.header("etag")
    assert json.loads(client("GET", "/versioned", {}, b"").body) == {"title": "new"}


def test_lost_update_is_refused_in_sequence(client: Client) -> None:
    """Two clients read v1; the first write wins, the second gets 412 and the new ETag."""
    first = client("GET", "/versioned", {}, b"").header("etag") or ""
    won = client("PUT", "/versioned", {"If-Match": first}, b'{"title": "A"}')
    lost = client("PUT", "/versioned", {"If-Match": first}, b'{"title": "B"}')
    assert (won.status, lost.status) == (200, 412)
    assert lost.header("etag") == won.header("etag")
    assert json.loads(lost.body)["current_etag"] == won.header("etag")
    assert json.loads(client("GET", "/versioned", {}, b"").body) == {"title": "A"}
