"""The ASGI and WSGI middleware at the message level: buffering, HEAD, pass-through.

These drive the middleware with hand-written apps and a recording ``send``
(or ``start_response``), so the order of events is visible: a body past
``max_buffer`` must reach the client before the app has finished, an event
stream must never wait, and an untouched response must be the app's own.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import pytest
import xxhash

from ifmatch import ETag
from ifmatch.asgi import ConditionalMiddleware as AsgiMiddleware
from ifmatch.guard import PreconditionFailed
from ifmatch.preconditions import Decision, Outcome, Resource
from ifmatch.tagging import accepts_coding, resolve_hash
from ifmatch.wsgi import ConditionalMiddleware as WsgiMiddleware
from tests.support.wsgi import recorder

Message = dict[str, Any]


def run_asgi(app: Any, method: str = "GET", headers: dict[str, str] | None = None) -> list[Message]:
    """Call an ASGI app once; return everything it sent, plus app-side markers."""
    sent: list[Message] = []
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": method, "path": "/", "headers": raw}

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def start_of(sent: list[Message]) -> tuple[int, dict[str, str]]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}


def body_of(sent: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def chunked_app(chunks: list[bytes], headers: list[tuple[bytes, bytes]], log: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        log.append(f"app saw {scope['method']}")
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, chunk in enumerate(chunks):
            log.append(f"app sends chunk {index}")
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


class Recorder:
    """A ``send`` that logs when each message reaches the client."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.sent: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.log.append(f"client got {message['type']}")
        self.sent.append(message)


def run_logged(app: Any, log: list[str], method: str = "GET") -> list[Message]:
    recorder = Recorder(log)
    scope = {"type": "http", "method": method, "path": "/", "headers": []}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    asyncio.run(app(scope, receive, recorder))
    return recorder.sent


def test_body_within_the_limit_is_held_and_tagged() -> None:
    log: list[str] = []
    chunks = [b"a" * 100, b"b" * 100, b"c" * 100]
    app = AsgiMiddleware(
        chunked_app(chunks, [(b"content-type", b"text/plain")], log), max_buffer=1000
    )
    sent = run_logged(app, log)
    status, headers = start_of(sent)
    expected = hashlib.sha256(b"".join(chunks)).hexdigest()[:32]
    assert (status, headers["etag"]) == (200, f'W/"{expected}"')
    assert body_of(sent) == b"".join(chunks)
    assert log.index("client got http.response.start") > log.index("app sends chunk 2")


def test_body_past_the_limit_streams_untagged_before_the_app_finishes() -> None:
    log: list[str] = []
    chunks = [b"x" * 600, b"y" * 600, b"z" * 600]
    app = AsgiMiddleware(
        chunked_app(chunks, [(b"content-type", b"text/plain")], log), max_buffer=1000
    )
    sent = run_logged(app, log)
    status, headers = start_of(sent)
    assert status == 200
    assert "etag" not in headers
    assert body_of(sent) == b"".join(chunks)
    # At most max_buffer (plus one chunk) was held: the client had the start before chunk 2.
    assert log.index("client got http.response.start") < log.index("app sends chunk 2")


def test_declared_length_past_the_limit_is_never_buffered() -> None:
    log: list[str] = []
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"3000")]
    app = AsgiMiddleware(chunked_app([b"x" * 1000] * 3, headers, log), max_buffer=1000)
    sent = run_logged(app, log)
    assert log.index("client got http.response.start") < log.index("app sends chunk 0")
    assert "etag" not in start_of(sent)[1]


def test_event_stream_is_never_held() -> None:
    log: list[str] = []
    headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
    app = AsgiMiddleware(chunked_app([b"data: 1\n\n", b"data: 2\n\n"], headers, log))
    sent = run_logged(app, log)
    assert log.index("client got http.response.body") < log.index("app sends chunk 1")
    assert "etag" not in start_of(sent)[1]


def test_head_runs_as_get_and_gets_gets_validators() -> None:
    log: list[str] = []
    app = AsgiMiddleware(chunked_app([b"hello"], [(b"content-type", b"text/plain")], log))
    get = run_logged(app, log)
    head = run_logged(app, log, method="HEAD")
    assert "app saw HEAD" not in log
    assert start_of(head)[1]["etag"] == start_of(get)[1]["etag"]
    assert body_of(head) == b""


def test_head_not_run_as_get_stays_untagged_when_the_app_sends_no_body() -> None:
    """Nothing to hash: an empty HEAD body is not the representation, so no ETag is invented."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else b"hello"
        await send({"type": "http.response.body", "body": body})

    sent = run_asgi(AsgiMiddleware(app, head_as_get=False), "HEAD")
    assert start_of(sent) == (200, {"content-type": "text/plain", "content-length": "5"})


def test_unparseable_app_etag_leaves_the_response_alone() -> None:
    log: list[str] = []
    headers = [(b"etag", b"not-quoted"), (b"content-type", b"text/plain")]
    app = AsgiMiddleware(chunked_app([b"hello"], headers, log))
    sent = run_asgi(app, headers={"If-None-Match": "*"})
    assert start_of(sent) == (200, {"etag": "not-quoted", "content-type": "text/plain"})
    assert body_of(sent) == b"hello"


def test_app_etag_is_decided_at_the_start_without_buffering() -> None:
    log: list[str] = []
    headers = [(b"etag", b'"v3"'), (b"content-type", b"text/plain")]
    app = AsgiMiddleware(chunked_app([b"a", b"b"], headers, log))
    sent = run_logged(app, log)
    assert log.index("client got http.response.start") < log.index("app sends chunk 0")
    assert start_of(sent)[1]["etag"] == '"v3"'
    not_modified = run_asgi(app, headers={"If-None-Match": '"v3"'})
    assert start_of(not_modified)[0] == 304
    assert body_of(not_modified) == b""


def test_last_modified_only_gets_a_hash_etag_and_if_modified_since() -> None:
    log: list[str] = []
    date = b"Mon, 01 Jan 2024 00:00:00 GMT"
    app = AsgiMiddleware(chunked_app([b"hello"], [(b"last-modified", date)], log))
    assert ETag.parse(start_of(run_asgi(app))[1]["etag"]).weak
    since = run_asgi(app, headers={"If-Modified-Since": date.decode()})
    assert start_of(since)[0] == 304
    assert "last-modified" not in start_of(since)[1], "§15.4.5: the ETag suffices on a 304"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_writes_pass_through_untagged(method: str) -> None:
    log: list[str] = []
    app = AsgiMiddleware(chunked_app([b"done"], [(b"content-type", b"text/plain")], log))
    sent = run_asgi(app, method, headers={"If-None-Match": "*"})
    assert start_of(sent) == (200, {"content-type": "text/plain"})


def test_guard_error_raised_by_the_app_becomes_its_response() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise PreconditionFailed(
            Decision(Outcome.PRECONDITION_FAILED, "If-Match", "stale"), Resource(ETag("v2"))
        )

    sent = run_asgi(AsgiMiddleware(app), "PUT")
    status, headers = start_of(sent)
    assert (status, headers["etag"], headers["content-type"]) == (
        412,
        '"v2"',
        "application/problem+json",
    )
    assert b'"precondition":"If-Match"' in body_of(sent)


#: Each hash choice and the body digest computed here, independently of the middleware: the
#: ETag is ``W/"<first 32 hex digits>"`` (ifmatch.hashing.DEFAULT_HEX_DIGITS, 128 bits).
HASH_CHOICES = [
    pytest.param("sha256", lambda body: hashlib.sha256(body).hexdigest()[:32], id="sha256"),
    pytest.param("xxh3", lambda body: xxhash.xxh3_128(body).hexdigest()[:32], id="xxh3"),
    pytest.param(
        "blake2b", lambda body: hashlib.blake2b(body, digest_size=16).hexdigest(), id="blake2b"
    ),
    pytest.param(hashlib.md5, lambda body: hashlib.md5(body).hexdigest(), id="factory md5"),
    pytest.param(
        hashlib.sha1, lambda body: hashlib.sha1(body).hexdigest()[:32], id="factory sha1 truncated"
    ),
]
HASHED_BODY = [b'{"id": 7, ', b'"name": "caf\xc3\xa9"}']


@pytest.mark.parametrize(("choice", "digest"), HASH_CHOICES)
@pytest.mark.parametrize(
    "shape", ["asgi one message", "asgi chunks", "asgi conditional", "wsgi chunks"]
)
def test_hash_choices_tag_the_digest_of_the_body(
    choice: Any, digest: Callable[[bytes], str], shape: str
) -> None:
    """Every hash choice tags exactly its digest of the whole body, on every body path."""
    body = b"".join(HASHED_BODY)
    expected = f'W/"{digest(body)}"'
    if shape.startswith("asgi"):
        log: list[str] = []
        chunks = HASHED_BODY if shape == "asgi chunks" else [body]
        inner = chunked_app(chunks, [(b"content-type", b"application/json")], log)
        # A non-matching If-None-Match sends the tag through the core's evaluation.
        headers = {"If-None-Match": '"other"'} if shape == "asgi conditional" else None
        sent = run_asgi(AsgiMiddleware(inner, hash=choice), headers=headers)
        status, response_headers = start_of(sent)
        assert (status, response_headers["etag"], body_of(sent)) == (200, expected, body)
    else:

        def app(environ: Any, start_response: Any) -> Any:
            start_response("200 OK", [("Content-Type", "application/json")])
            return Body(list(HASHED_BODY))

        status_line, wsgi_headers, data, _ = call_wsgi(WsgiMiddleware(app, hash=choice))
        assert (status_line, wsgi_headers["etag"], data) == ("200 OK", expected, body)


def test_unknown_hash_is_refused_when_configured() -> None:
    with pytest.raises(ValueError, match="unknown hash"):
        resolve_hash("crc32")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("gzip", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("", False),
        ("identity, br;q=0.5", True),
        ("*", True),
        ("gzip;q=bogus", False),
    ],
)
def test_accepts_coding(value: str, expected: bool) -> None:
    """§12.5.3: a coding with q=0 is not acceptable."""
    assert accepts_coding(value) is expected


# --- WSGI ---------------------------------------------------------------------------------


class Body:
    """An app iterable that records whether it was closed (PEP 3333)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def call_wsgi(app: Any, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/"}
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, dict(headers)))
        return lambda data: None

    result = app(environ, start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    return started[-1][0], started[-1][1], body, result


def test_wsgi_untouched_response_is_the_apps_own_iterable() -> None:
    """Pass-through returns the app's object, so wsgi.file_wrapper keeps its fast path."""
    body = Body([b"secret"])

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Cache-Control", "no-store")])
        return body

    _status, headers, data, result = call_wsgi(WsgiMiddleware(app))
    assert result is body
    assert "ETag" not in headers
    assert data == b"secret"
    assert body.closed


def test_wsgi_tags_closes_and_answers_304() -> None:
    bodies: list[Body] = []

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        bodies.append(Body([b"hel", b"lo"]))
        return bodies[-1]

    middleware = WsgiMiddleware(app)
    status, headers, data, _ = call_wsgi(middleware)
    assert (status, data) == ("200 OK", b"hello")
    assert bodies[-1].closed
    status, headers_304, data, _ = call_wsgi(middleware, headers={"If-None-Match": headers["etag"]})
    assert (status, data) == ("304 Not Modified", b"")
    assert "Content-Type" not in headers_304
    assert headers_304["etag"] == headers["etag"]
    assert bodies[-1].closed


def test_wsgi_late_start_response_from_a_generator() -> None:
    """PEP 3333 lets start_response wait until the first chunk is produced."""

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"late"

    _status, headers, data, _ = call_wsgi(WsgiMiddleware(app))
    assert data == b"late"
    assert ETag.parse(headers["etag"]).weak


def test_wsgi_body_past_the_limit_streams_untagged() -> None:
    body = Body([b"x" * 600] * 3)

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body

    _status, headers, data, _ = call_wsgi(WsgiMiddleware(app, max_buffer=1000))
    assert "etag" not in {k.lower() for k in headers}
    assert data == b"x" * 1800
    assert body.closed


def test_wsgi_head_runs_as_get() -> None:
    seen: list[str] = []

    def app(environ: Any, start_response: Any) -> Any:
        seen.append(environ["REQUEST_METHOD"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    middleware = WsgiMiddleware(app)
    _, get_headers, _, _ = call_wsgi(middleware)
    _status, head_headers, data, _ = call_wsgi(middleware, "HEAD")
    assert seen == ["GET", "GET"]
    assert head_headers["etag"] == get_headers["etag"]
    assert data == b""


def bare_app(body: bytes) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.mark.parametrize(
    "sent_back",
    ["{tag}", "{strong}", " {tag} ", '"other", {tag}', '{tag}, W/"x"', "*"],
    ids=["as received", "strong form", "with spaces", "in a list", "first of two", "star"],
)
def test_304_for_an_app_with_no_headers_at_all(sent_back: str) -> None:
    """§13.1.2: every form of a matching If-None-Match gets a 304 that carries the ETag."""
    app = AsgiMiddleware(bare_app(b"hello"))
    tag = start_of(run_asgi(app))[1]["etag"]
    strong = tag.removeprefix("W/")
    value = sent_back.replace("{tag}", tag).replace("{strong}", strong)
    sent = run_asgi(app, headers={"If-None-Match": value})
    assert start_of(sent) == (304, {"etag": tag})
    assert body_of(sent) == b""


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": "{tag}", "If-Match": '"nope"'}, 412),
        ({"If-None-Match": "{tag}", "If-Unmodified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"}, 304),
        (
            {"If-None-Match": 'W/"not-it"', "If-Modified-Since": "Sat, 01 Jan 2000 00:00:00 GMT"},
            200,
        ),
    ],
    ids=[
        "§13.2.2 If-Match first -> 412",
        "§13.1.4 IUS without Last-Modified ignored -> 304",
        "§13.2.2 If-None-Match false -> 200, IMS ignored",
    ],
)
def test_other_fields_beside_if_none_match_go_through_the_core(
    headers: dict[str, str], status: int
) -> None:
    app = AsgiMiddleware(bare_app(b"hello"))
    tag = start_of(run_asgi(app))[1]["etag"]
    filled = {name: value.replace("{tag}", tag) for name, value in headers.items()}
    assert start_of(run_asgi(app, headers=filled))[0] == status


def test_wsgi_replaced_start_response_with_exc_info_is_sent_as_replaced() -> None:
    """PEP 3333's error pattern: nothing was sent yet, so the second call wins."""
    import sys

    def app(environ: Any, start_response: Any) -> Any:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
            return [b"error body"]

    status, headers, data, _ = call_wsgi(WsgiMiddleware(app))
    assert (status, data) == ("500 Oops", b"error body")
    assert "etag" not in {name.lower() for name in headers}


def test_wsgi_late_start_response_reaches_the_server_once_streaming() -> None:
    """Once the middleware has started the response, later calls are the server's."""
    import sys

    calls: list[str] = []

    def app(environ: Any, start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Cache-Control", "no-store")])
        yield b"part"
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Oops", [], sys.exc_info())
            yield b""

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        calls.append(status)
        if exc_info is not None:
            raise exc_info[1].with_traceback(exc_info[2])  # a server that already sent headers
        return lambda data: None

    result = WsgiMiddleware(app)(environ, start_response)
    with pytest.raises(ValueError, match="late"):
        list(result)
    assert calls == ["200 OK", "500 Oops"]


def test_request_headers_as_a_one_shot_iterable_are_read_whole() -> None:
    """ASGI allows any iterable of header pairs: a generator must not be read up by the scan,
    neither for the evaluation nor for the app behind the middleware."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def reading_app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(list(scope["headers"]))
        await bare_app(b"hello")(scope, receive, send)

    app = AsgiMiddleware(reading_app)
    tag = start_of(run_asgi(app))[1]["etag"]
    sent: list[Message] = []
    pairs = [(b"accept", b"*/*"), (b"if-none-match", tag.encode())]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": iter(pairs)}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    assert start_of(sent) == (304, {"etag": tag})
    assert seen[-1] == pairs


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("If-Match", '"nope"', 412),
        ("If-None-Match", "*", 304),
        ("If-Modified-Since", "Tue, 02 Jan 2024 00:00:00 GMT", 304),
        ("If-Unmodified-Since", "Sun, 31 Dec 2023 00:00:00 GMT", 412),
    ],
    ids=[
        "§13.1.1 If-Match false -> 412",
        "§13.1.2 If-None-Match * -> 304",
        "§13.1.3 not modified since -> 304",
        "§13.1.4 modified since -> 412",
    ],
)
def test_each_precondition_field_alone_reaches_the_evaluation(
    field: str, value: str, status: int
) -> None:
    """The request scan knows all four fields: each one alone changes the answer from 200."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"last-modified", b"Mon, 01 Jan 2024 00:00:00 GMT")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    sent = run_asgi(AsgiMiddleware(app), headers={field: value, "Accept": "*/*"})
    assert start_of(sent)[0] == status


def _etag_of(body: bytes) -> bytes:
    return f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()


async def _usual_start(send: Any, headers: Any = None) -> None:
    start_headers = [(b"content-type", b"text/plain")] if headers is None else headers
    await send({"type": "http.response.start", "status": 200, "headers": start_headers})


async def _returns_without_a_body(send: Any) -> None:
    await _usual_start(send)


async def _sends_a_body_after_the_last(send: Any) -> None:
    await _usual_start(send)
    await send({"type": "http.response.body", "body": b"one"})
    await send({"type": "http.response.body", "body": b"late"})


async def _sends_trailers(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "trailers": True,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"one"})
    await send({"type": "http.response.trailers", "headers": [(b"x-sum", b"1")]})


async def _tuple_headers(send: Any) -> None:
    await _usual_start(send, ((b"content-type", b"text/plain"),))
    await send({"type": "http.response.body", "body": b"one"})


async def _empty_last_message(send: Any) -> None:
    await _usual_start(send)
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    await send({"type": "http.response.body"})


async def _not_found(send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"no"})


#: App behaviours at the edges of the ASGI message sequence, and what the client must get:
#: (message type, status or body, ETag or None) per message.  The usual GET and a conditional
#: GET (whose precondition is true, so the answer stays 200) take different code paths in
#: the middleware; both must give exactly this.
ASGI_SHAPES = [
    pytest.param(
        _returns_without_a_body,
        [("http.response.start", 200, _etag_of(b"")), ("http.response.body", b"", None)],
        id="app returns after its start: the 200 is closed with an empty body",
    ),
    pytest.param(
        _sends_a_body_after_the_last,
        [("http.response.start", 200, _etag_of(b"one")), ("http.response.body", b"one", None)],
        id="a body after the last one is dropped, not sent as a second response",
    ),
    pytest.param(
        _sends_trailers,
        [
            ("http.response.start", 200, _etag_of(b"one")),
            ("http.response.body", b"one", None),
            ("http.response.trailers", None, None),
        ],
        id="trailers follow the tagged body",
    ),
    pytest.param(
        _tuple_headers,
        [("http.response.start", 200, _etag_of(b"one")), ("http.response.body", b"one", None)],
        id="start headers as a tuple are read like a list",
    ),
    pytest.param(
        _empty_last_message,
        [("http.response.start", 200, _etag_of(b"one")), ("http.response.body", b"one", None)],
        id="a last message without a body key ends a buffered body",
    ),
    pytest.param(
        _not_found,
        [("http.response.start", 404, None), ("http.response.body", b"no", None)],
        id="a 404 passes untouched",
    ),
]


@pytest.mark.parametrize(("behaviour", "expected"), ASGI_SHAPES)
@pytest.mark.parametrize(
    ("method", "request_headers"),
    [("GET", {}), ("GET", {"If-None-Match": '"other"'}), ("HEAD", {})],
    ids=["usual GET", "conditional GET (true, §13.1.2)", "HEAD (GET's head, §9.3.2)"],
)
def test_asgi_message_sequences_at_the_edges(
    behaviour: Any,
    expected: list[tuple[str, Any, Any]],
    method: str,
    request_headers: dict[str, str],
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await behaviour(send)

    if method == "HEAD":  # the same messages, without the body's bytes
        expected = [
            (kind, b"" if kind == "http.response.body" else value, etag)
            for kind, value, etag in expected
        ]
    sent = run_asgi(AsgiMiddleware(app), method, headers=request_headers)
    got = []
    for message in sent:
        kind = message["type"]
        if kind == "http.response.start":
            got.append((kind, message["status"], dict(message["headers"]).get(b"etag")))
        elif kind == "http.response.body":
            assert not message.get("more_body", False), "the middleware sends one last body"
            got.append((kind, message.get("body", b""), None))
        else:
            got.append((kind, None, None))
    assert got == expected


@pytest.mark.parametrize(
    "request_headers", [{}, {"If-None-Match": '"other"'}], ids=["usual GET", "conditional GET"]
)
def test_guard_error_after_the_start_is_held_is_not_turned_into_a_response(
    request_headers: dict[str, str],
) -> None:
    """Once the app has started its response, a PreconditionError is its own bug: re-raised,
    never a second start."""
    error = PreconditionFailed(
        Decision(Outcome.PRECONDITION_FAILED, "If-Match", "stale"), Resource(ETag("v2"))
    )

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await _usual_start(send)
        raise error

    with pytest.raises(PreconditionFailed):
        run_asgi(AsgiMiddleware(app), headers=request_headers)


@pytest.mark.parametrize(
    "request_headers", [{}, {"If-None-Match": "*"}], ids=["200 tagged", "304 (§13.1.2)"]
)
def test_app_header_lists_are_never_changed(request_headers: dict[str, str]) -> None:
    """Apps may share one header list between responses: neither middleware may edit it."""
    shared_raw = [(b"content-type", b"text/plain")]
    shared_text = [("Content-Type", "text/plain")]

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": shared_raw})
        await send({"type": "http.response.body", "body": b"hello"})

    def wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", shared_text)
        return [b"hello"]

    run_asgi(AsgiMiddleware(asgi_app), headers=request_headers)
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in request_headers.items()},
    }
    answered: list[str] = []
    list(
        WsgiMiddleware(wsgi_app)(environ, recorder(lambda status, headers: answered.append(status)))
    )
    assert answered[0][:3] == ("304" if request_headers else "200")
    assert shared_raw == [(b"content-type", b"text/plain")]
    assert shared_text == [("Content-Type", "text/plain")]


@pytest.mark.parametrize("make", [tuple, iter], ids=["tuple", "generator"])
def test_wsgi_headers_as_a_tuple_or_generator_are_read_whole(make: Any) -> None:
    """PEP 3333 asks for a list; a tuple or a generator still reaches the server whole."""

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", make([("Content-Type", "text/plain"), ("X-Id", "7")]))
        return [b"hello"]

    got: list[Any] = []

    body = b"".join(
        WsgiMiddleware(app)(
            {"REQUEST_METHOD": "GET", "PATH_INFO": "/"},
            recorder(lambda status, headers: got.append(headers)),
        )
    )
    names = [name.lower() for name, _ in got[0]]
    assert (names, body) == (["content-type", "x-id", "etag"], b"hello")


@pytest.mark.parametrize("send_back", [False, True], ids=["200", "304 (§13.1.2)"])
def test_wsgi_body_given_to_write_is_tagged_with_the_rest(send_back: bool) -> None:
    """PEP 3333's write() callable: what the app writes comes before its iterable, and the
    whole is one body with one tag."""

    def app(environ: Any, start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"hel")
        write(b"l")
        return [b"o"]

    expected = f'W/"{hashlib.sha256(b"hello").hexdigest()[:32]}"'
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    if send_back:
        environ["HTTP_IF_NONE_MATCH"] = expected
    started: list[tuple[str, dict[str, str]]] = []

    body = b"".join(
        WsgiMiddleware(app)(
            environ, recorder(lambda status, headers: started.append((status, dict(headers))))
        )
    )
    status, headers = started[0]
    assert headers["etag"] == expected
    assert (status[:3], body) == (("304", b"") if send_back else ("200", b"hello"))
