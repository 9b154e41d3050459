"""The middlewares read the app's response fields fail-safe (RFC 9110 §5.3).

ETag and Last-Modified are singletons (§8.8.3, §8.8.2): an app response that
carries one twice has no readable validator, so the middleware must leave it
alone (200), never answer 304 against whichever line came last.
Cache-Control is a list: ``no-store`` on any of its lines keeps the response
untouched (RFC 9111 §5.2.2.5), however the lines are split.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ifmatch.asgi import ConditionalMiddleware as AsgiMiddleware
from ifmatch.wsgi import ConditionalMiddleware as WsgiMiddleware
from tests.security.raw import asgi_call, wsgi_call

Pairs = list[tuple[bytes, bytes]]

CASES = [
    pytest.param(
        [(b"etag", b'"a"'), (b"etag", b'"b"')],
        [(b"if-none-match", b'"b"')],
        id="§8.8.3 two ETags: unreadable, no 304",
    ),
    pytest.param(
        [(b"etag", b'"a"'), (b"etag", b'"b"')],
        [(b"if-none-match", b'"a"')],
        id="§8.8.3 two ETags, first one asked: no 304",
    ),
    pytest.param(
        [
            (b"last-modified", b"Tue, 14 Nov 2023 22:13:20 GMT"),
            (b"last-modified", b"Wed, 15 Nov 2023 22:13:20 GMT"),
        ],
        [(b"if-modified-since", b"Wed, 15 Nov 2023 22:13:20 GMT")],
        id="§8.8.2 two Last-Modified: unreadable, no 304",
    ),
]


def _asgi_app(response_headers: Pairs) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain"), *response_headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    return app


def _wsgi_app(response_headers: Pairs) -> Any:
    def app(environ: Any, start_response: Any) -> list[bytes]:
        extra = [(name.decode(), value.decode()) for name, value in response_headers]
        start_response("200 OK", [("Content-Type", "text/plain"), *extra])
        return [b"hello"]

    return app


@pytest.mark.parametrize(("response_headers", "request_headers"), CASES)
def test_asgi_duplicate_validators_never_304(
    response_headers: Pairs, request_headers: Pairs
) -> None:
    reply = asyncio.run(
        asgi_call(AsgiMiddleware(_asgi_app(response_headers)), "GET", "/", request_headers)
    )
    assert reply.status == 200
    assert reply.body == b"hello"


@pytest.mark.parametrize(("response_headers", "request_headers"), CASES)
def test_wsgi_duplicate_validators_never_304(
    response_headers: Pairs, request_headers: Pairs
) -> None:
    reply = wsgi_call(WsgiMiddleware(_wsgi_app(response_headers)), "GET", "/", request_headers)
    assert reply.status == 200
    assert reply.body == b"hello"


NO_STORE_SPLIT = [(b"cache-control", b"no-store"), (b"cache-control", b"max-age=0")]


def test_asgi_no_store_on_any_cache_control_line_is_left_alone() -> None:
    app = AsgiMiddleware(_asgi_app(NO_STORE_SPLIT))
    first = asyncio.run(asgi_call(app, "GET", "/", []))
    assert first.status == 200
    assert first.header("etag") is None


def test_wsgi_no_store_on_any_cache_control_line_is_left_alone() -> None:
    app = WsgiMiddleware(_wsgi_app(NO_STORE_SPLIT))
    first = wsgi_call(app, "GET", "/", [])
    assert first.status == 200
    assert first.header("etag") is None


def test_a_single_validator_still_gets_its_304() -> None:
    """The control: the same app with one ETag is answered 304 as usual."""
    reply = asyncio.run(
        asgi_call(
            AsgiMiddleware(_asgi_app([(b"etag", b'"b"')])), "GET", "/", [(b"if-none-match", b'"b"')]
        )
    )
    assert reply.status == 304
