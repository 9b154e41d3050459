"""Content codings (RFC 9110 §8.4, §8.8.3): the middleware with a compressor in either order.

Rules checked for Starlette's GZipMiddleware and Django's GZipMiddleware,
with ifmatch outside the compressor (it sees the coding) and inside it
(``coding_outside=True``):

* no strong ETag is ever sent for two different content codings;
* whatever ETag a client received gets its 304 when sent back, whichever
  coding it now accepts (no ``-gzip`` suffix that fails to match);
* a 304 keeps ``Vary: Accept-Encoding``;
* a generated tag is the same for the gzip and the identity body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import Client as DjangoClient
from django.test import override_settings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from ifmatch import ETag
from ifmatch.asgi import ConditionalMiddleware

from .stacks import Answer, _joined

GZIP = {"Accept-Encoding": "gzip"}
IDENTITY = {"Accept-Encoding": "identity"}

Get = Callable[[str, dict[str, str]], Answer]


async def big(request: Request) -> Response:
    return Response(b"x" * 2048, media_type="text/plain", headers={"ETag": '"big-v1"'})


async def big_untagged(request: Request) -> Response:
    return Response(b"y" * 2048, media_type="text/plain")


def _starlette(ifmatch_outside: bool) -> Iterator[Get]:
    ours = Middleware(ConditionalMiddleware, coding_outside=not ifmatch_outside)
    gzip = Middleware(GZipMiddleware, minimum_size=500)
    # Starlette's list runs outermost first.
    stack = [ours, gzip] if ifmatch_outside else [gzip, ours]
    app = Starlette(
        routes=[Route("/big", big), Route("/big-untagged", big_untagged)], middleware=stack
    )
    with TestClient(app) as client:

        def get(path: str, headers: dict[str, str]) -> Answer:
            response = client.get(path, headers=headers)
            return Answer(
                response.status_code, _joined(response.headers.multi_items()), response.content
            )

        yield get


def _django(ifmatch_outside: bool) -> Iterator[Get]:
    ours, gzip = "ifmatch.django.ConditionalMiddleware", "django.middleware.gzip.GZipMiddleware"
    # Django's MIDDLEWARE list runs outermost first, like Starlette's.
    stack = [ours, gzip] if ifmatch_outside else [gzip, ours]
    with override_settings(MIDDLEWARE=stack, IFMATCH={"coding_outside": not ifmatch_outside}):
        client = DjangoClient()

        def get(path: str, headers: dict[str, str]) -> Answer:
            response = client.get(path, headers=headers)
            return Answer(response.status_code, _joined(response.items()), response.content)

        yield get


STACKS = {
    "starlette, ifmatch outside gzip": lambda: _starlette(True),
    "starlette, ifmatch inside gzip": lambda: _starlette(False),
    "django, ifmatch outside gzip": lambda: _django(True),
    "django, ifmatch inside gzip": lambda: _django(False),
}


@pytest.fixture(params=sorted(STACKS))
def get(request: pytest.FixtureRequest) -> Iterator[Get]:
    yield from STACKS[request.param]()


def test_no_strong_etag_is_shared_between_codings(get: Get) -> None:
    """§8.8.3: a strong tag promises identical bytes, so gzip and identity can't share one."""
    seen: dict[str, set[str]] = {}
    for headers in (GZIP, IDENTITY, {}, GZIP):
        answer = get("/big", headers)
        assert answer.status == 200
        coding = answer.header("content-encoding") or "identity"
        etag = ETag.parse(answer.header("etag") or "")
        if not etag.weak:
            seen.setdefault(etag.opaque, set()).add(coding)
    assert all(len(codings) == 1 for codings in seen.values()), seen
    gzipped = get("/big", GZIP)
    assert gzipped.header("content-encoding") == "gzip", "the compressor must have run"
    assert ETag.parse(gzipped.header("etag") or "").weak


@pytest.mark.parametrize("path", ["/big", "/big-untagged"])
@pytest.mark.parametrize("first", [GZIP, IDENTITY], ids=["got-gzip", "got-identity"])
@pytest.mark.parametrize("then", [GZIP, IDENTITY], ids=["sends-gzip", "sends-identity"])
def test_any_received_etag_gets_its_304(
    get: Get, path: str, first: dict[str, str], then: dict[str, str]
) -> None:
    """§13.1.2 weak comparison: the tag sent back as received validates, in any coding."""
    received = get(path, first).header("etag")
    assert received
    answer = get(path, {**then, "If-None-Match": received})
    assert answer.status == 304, answer
    assert answer.body == b""
    assert answer.header("content-encoding") is None


def test_304_keeps_vary_accept_encoding(get: Get) -> None:
    """§15.4.5: a 304 carries the Vary the 200 would have carried."""
    full = get("/big", GZIP)
    assert "accept-encoding" in (full.header("vary") or "").lower()
    answer = get("/big", {**GZIP, "If-None-Match": full.header("etag") or ""})
    assert answer.status == 304
    assert "accept-encoding" in (answer.header("vary") or "").lower()


def test_generated_tag_does_not_depend_on_the_coding(get: Get) -> None:
    """The hash is of the decoded body, so both codings of one body share one weak tag."""
    gzipped = get("/big-untagged", GZIP)
    plain = get("/big-untagged", IDENTITY)
    assert gzipped.header("content-encoding") == "gzip"
    assert plain.header("content-encoding") is None
    assert gzipped.header("etag") == plain.header("etag")
    assert ETag.parse(plain.header("etag") or "").weak
