"""The ASGI and WSGI middleware answer alike, whatever the app sends and the client asks.

The ASGI middleware has a short path for the usual response (one body
message) and a general one (:class:`ifmatch.asgi._Responder`) for every
other shape; the WSGI middleware has its own loop.  Drawn apps and requests
go through all three, and the answers (status, headers, body) must be the
same: a body in one piece or in two, over ASGI or WSGI, gets one ETag, one
decision and one set of 304 headers (RFC 9110 §8.8.3, §13.2.2, §15.4.5).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import MutableMapping
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from ifmatch.asgi import ConditionalMiddleware as AsgiMiddleware
from ifmatch.wsgi import ConditionalMiddleware as WsgiMiddleware

Answer = tuple[int, list[tuple[str, str]], bytes]

RESPONSE_FIELDS = st.sampled_from(
    [
        ("ETag", '"strong"'),
        ("ETag", 'W/"weak"'),
        ("ETag", "not-a-tag"),
        ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("Last-Modified", "yesterday"),
        ("Cache-Control", "no-store"),
        ("Cache-Control", "max-age=60"),
        ("Content-Encoding", "gzip"),
        ("Content-Type", "text/event-stream"),
        ("Content-Type", "application/json"),
        ("Content-Length", "2000000"),
        ("Vary", "Accept-Encoding"),
        ("Set-Cookie", "a=b"),
        ("X-Request-Id", "7"),
    ]
)
DATES = ["Mon, 01 Jan 2024 00:00:00 GMT", "Sat, 01 Jan 2000 00:00:00 GMT", "not a date"]


def _weak_tag(body: bytes) -> str:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'


@st.composite
def exchanges(
    draw: st.DrawFn,
) -> tuple[str, list[tuple[str, str]], int, list[tuple[str, str]], list[bytes], int]:
    """(method, request fields, status, response fields, body chunks, max_buffer)."""
    text = draw(st.binary(max_size=40))
    fields = draw(st.lists(RESPONSE_FIELDS, max_size=4, unique_by=lambda pair: pair[0]))
    body = gzip.compress(text, mtime=0) if ("Content-Encoding", "gzip") in fields else text
    cut = draw(st.integers(0, len(body)))
    chunks = draw(st.sampled_from([[body], [body[:cut], body[cut:]]]))
    tags = [
        _weak_tag(text),
        _weak_tag(body),
        '"strong"',
        'W/"strong"',
        'W/"weak"',
        "*",
        '"other"',
        "garbage",
    ]
    request: list[tuple[str, str]] = []
    for name, values in [
        ("If-None-Match", tags),
        ("If-Match", tags),
        ("If-Modified-Since", DATES),
        ("If-Unmodified-Since", DATES),
    ]:
        if draw(st.booleans()):
            request.append((name, draw(st.sampled_from(values))))
    if draw(st.booleans()):
        request.append(("Accept-Encoding", "gzip"))
    method = draw(st.sampled_from(["GET", "GET", "HEAD"]))
    status = draw(st.sampled_from([200, 200, 200, 404]))
    max_buffer = draw(st.sampled_from([0, 16, 1 << 20]))
    return method, request, status, fields, chunks, max_buffer


def _normal(status: int, headers: list[tuple[str, str]], body: bytes) -> Answer:
    return status, sorted((name.lower(), value) for name, value in headers), body


def _asgi(
    method: str,
    request: list[tuple[str, str]],
    status: int,
    fields: list[tuple[str, str]],
    chunks: list[bytes],
    max_buffer: int,
) -> Answer:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(name.lower().encode(), value.encode()) for name, value in fields]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(name.lower().encode(), value.encode()) for name, value in request],
    }
    asyncio.run(AsgiMiddleware(app, max_buffer=max_buffer)(scope, receive, send))
    start = sent[0]
    bodies = sent[1:]
    assert start["type"] == "http.response.start"
    assert all(message["type"] == "http.response.body" for message in bodies)
    assert [message.get("more_body", False) for message in bodies][-1:] == [False]
    headers = [(name.decode(), value.decode()) for name, value in start["headers"]]
    return _normal(start["status"], headers, b"".join(m.get("body", b"") for m in bodies))


def _wsgi(
    method: str,
    request: list[tuple[str, str]],
    status: int,
    fields: list[tuple[str, str]],
    chunks: list[bytes],
    max_buffer: int,
) -> Answer:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(f"{status} Whatever", list(fields))
        return list(chunks)

    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((line, headers))
        return lambda data: None

    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": "/"}
    for name, value in request:
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    body = b"".join(WsgiMiddleware(app, max_buffer=max_buffer)(environ, start_response))
    line, headers = started[0]
    return _normal(int(line[:3]), headers, body)


@given(exchanges())
def test_one_message_two_messages_and_wsgi_give_one_answer(
    case: tuple[str, list[tuple[str, str]], int, list[tuple[str, str]], list[bytes], int],
) -> None:
    method, request, status, fields, chunks, max_buffer = case
    over_asgi = _asgi(method, request, status, fields, chunks, max_buffer)
    assert over_asgi == _wsgi(method, request, status, fields, chunks, max_buffer)
    whole = [b"".join(chunks)]
    assert _asgi(method, request, status, fields, whole, max_buffer) == over_asgi


def _django(
    method: str,
    request: list[tuple[str, str]],
    status: int,
    fields: list[tuple[str, str]],
    chunks: list[bytes],
    max_buffer: int,
) -> Answer:
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory, override_settings

    from ifmatch.django import ConditionalMiddleware as DjangoMiddleware

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(b"".join(chunks), status=status, headers=dict(fields))

    with override_settings(IFMATCH={"max_buffer": max_buffer}):
        middleware = DjangoMiddleware(view)
    call = RequestFactory().head if method == "HEAD" else RequestFactory().get
    answer = middleware(call("/", headers=dict(request)))
    body = b"" if method == "HEAD" else answer.content
    return _normal(answer.status_code, list(answer.items()), body)


#: The fields Django's own response classes set or drop by themselves (a default
#: Content-Type, Content-Length on a 412), left out of the comparison with Django.
_DJANGO_OWN = {"content-type", "content-length"}


def _decided(answer: Answer) -> Answer:
    status, headers, body = answer
    return status, [pair for pair in headers if pair[0] not in _DJANGO_OWN], body


@given(exchanges())
def test_django_gives_the_same_answer(
    case: tuple[str, list[tuple[str, str]], int, list[tuple[str, str]], list[bytes], int],
) -> None:
    """Django's middleware, on the same app and request, decides and tags as ASGI does.

    Except a HEAD with an empty body: Django runs the view for HEAD itself, so an empty body
    may be the view leaving it out, and the middleware does not invent a tag for it
    (``test_django.py``); the ASGI middleware ran the app as GET and knows the body is empty.
    """
    method, request, status, fields, chunks, max_buffer = case
    assume(method != "HEAD" or any(chunks))
    expected = _asgi(method, request, status, fields, [b"".join(chunks)], max_buffer)
    assert _decided(_django(method, request, status, fields, chunks, max_buffer)) == _decided(
        expected
    )
