"""The HTTP protocol ``ifmatch serve`` runs answers exactly as uvicorn's own does.

:class:`FastHttpProtocol` writes the fast path's answers itself, without an
ASGI cycle.  Each case here is fed, as raw bytes, to it and to uvicorn's own
httptools protocol serving the same application on the same database; the
bytes written back must be the same (the Date value aside, which moves with
the clock).  The cases the shortcut must take are checked to have started no
ASGI task, and those it must leave alone (RFC 9112 framing it does not
handle: HTTP/1.0, ``Connection: close``, a request with content, pipelining
behind an unfinished answer) to have gone through uvicorn's cycle.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ifmatch import Conditions
from ifmatch.service._pages import page_etag
from ifmatch.service._protocol import FastHttpProtocol, protocol_class
from ifmatch.service.app import ServiceApp, create_app
from ifmatch.service.cli import uvicorn_options
from ifmatch.service.settings import Settings
from ifmatch.service.store import Content, Current, WriteRequest
from tests.service.conftest import postgres_schema

DATE = re.compile(rb"\r\ndate: [^\r]*\r\n")


class _Transport(asyncio.Transport):
    """Collects what a protocol writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.closed:  # as asyncio's and uvloop's transports: nothing after close()
            self.written += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _content(body: bytes) -> Callable[[Current | None], Content]:
    content = Content.of(body, "application/json")
    return lambda _: content


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApp]:
    app = create_app(Settings(db=f"sqlite:///{tmp_path / 'p.db'}", access_log=False))
    store = app.state.store
    for name, body in (("doc", b'{"a": 1}'), ("other", b'{"b": [1, 2]}')):
        store.write(WriteRequest("PUT", "doc:c", name, Conditions(), _content(body), False))
    yield app
    app.fast.close()
    store.close()


def _config(app: ServiceApp, kind: type[HttpToolsProtocol], keep_alive_s: float = 5) -> Config:
    """uvicorn's configuration as ``ifmatch serve`` sets it, for ``kind`` of protocol."""
    return Config(
        app=app,
        **{**uvicorn_options("warning"), "http": kind},
        lifespan="off",
        timeout_keep_alive=keep_alive_s,  # type: ignore[arg-type]  # uvicorn takes an int
    )


def _exchange(
    app: ServiceApp, kind: type[HttpToolsProtocol], data: bytes | list[bytes], warm: bool = False
) -> tuple[bytes, int]:
    """The bytes ``kind`` writes for ``data`` (or for each of its chunks, fed one after
    the other without the loop running in between), and how many ASGI tasks it started.
    ``warm``: a write to another document first, so that what the store opens in its
    event loop on first use (PostgreSQL's pool) is open."""

    async def run() -> tuple[bytes, int]:
        if warm:
            await _warm(app)
        config = _config(app, kind)
        protocol = kind(config, ServerState(), {}, asyncio.get_running_loop())
        started = 0
        original = protocol._start_asgi_task

        def counted(*args: Any) -> None:
            nonlocal started
            started += 1
            original(*args)

        protocol._start_asgi_task = counted  # type: ignore[method-assign,assignment]
        transport = _Transport()
        protocol.connection_made(transport)
        for chunk in [data] if isinstance(data, bytes) else data:
            protocol.data_received(chunk)
        # Until every task and write is done, bounded (10 s of waiting).  A PUT written by
        # callbacks (PostgreSQL's submit) has no task: waiting for it must sleep as well,
        # or a slow round trip outlasts the loop and aclose() below interrupts the write.
        await asyncio.sleep(0)
        for _ in range(1000):
            writing = getattr(protocol, "_writing", False)
            if not protocol.tasks and not protocol.pipeline and not writing:
                break
            await asyncio.sleep(0.01)
        if protocol.timeout_keep_alive_task is not None:
            protocol.timeout_keep_alive_task.cancel()
        await app.state.store.aclose()  # what the store opened in this loop (PostgreSQL's pool)
        return bytes(transport.written), started

    return asyncio.run(run())


async def _warm(app: ServiceApp) -> None:
    """A write to another document, so that what the store opens in this event loop on
    first use (PostgreSQL's pool) is open."""
    warming = WriteRequest("PUT", "doc:w", "warm", Conditions(), _content(b"{}"), False, whole=True)
    assert await app.state.store.write_async(warming) is not None


def _etag(app: ServiceApp, name: str) -> bytes:
    found = app.state.store.get("doc:c", name)
    assert found is not None
    return str(found[0].etag).encode()


def _page_etag(app: ServiceApp) -> bytes:
    """The ETag of the page ``/api/c?limit=1`` (its first member, and a next page)."""
    page = app.state.store.page("doc:c", None, 1)
    members = [(name, meta.version) for name, meta, _ in page.members]
    return str(page_etag("c", 1, members, page.more)).encode()


def _get(path: bytes, *fields: bytes, method: bytes = b"GET", version: bytes = b"1.1") -> bytes:
    head = [method + b" " + path + b" HTTP/" + version, b"host: 127.0.0.1", *fields]
    return b"\r\n".join(head) + b"\r\n\r\n"


TAG = b"<the document's ETag>"
PAGE = b"<the ETag of /api/c?limit=1>"
INM = b"If-None-Match: " + TAG
DOC = b"/api/c/doc"
# (case, request bytes (TAG stands for the document's ETag), answered without an ASGI cycle)
CASES = [
    ("304 for a matching If-None-Match (RFC 9110 §13.1.2)", _get(DOC, INM), True),
    ("200 without conditions", _get(DOC), True),
    ("HEAD: the 200's fields, no content (§9.3.2)", _get(DOC, method=b"HEAD"), True),
    ("200 for an If-None-Match that does not match", _get(DOC, b'If-None-Match: "v9"'), True),
    (
        "304 for a weak match (§8.8.3.2 weak comparison)",
        _get(DOC, b"If-None-Match: W/" + TAG),
        True,
    ),
    ("412 for a failed If-Match on a read (§13.1.1)", _get(DOC, b'If-Match: "v9"'), True),
    ("collection 304", _get(b"/api/c", b'If-None-Match: "c2"'), True),
    ("two pipelined reads, answered in order", _get(DOC, INM) + _get(b"/api/c/other"), True),
    ("404 is the application's", _get(b"/api/c/missing"), False),
    ("a page's 304 (its own ETag)", _get(b"/api/c?limit=1", b"If-None-Match: " + PAGE), True),
    (
        "HEAD of a page: 304",
        _get(b"/api/c?limit=1", b"If-None-Match: " + PAGE, method=b"HEAD"),
        True,
    ),
    ("a page's 200 is the application's", _get(b"/api/c?limit=1"), False),
    ("a changed page is the application's", _get(b"/api/c?limit=1", b'If-None-Match: "p0"'), False),
    (
        "a bad limit is the application's 400",
        _get(b"/api/c?limit=0", b"If-None-Match: " + PAGE),
        False,
    ),
    ("another query goes to the application", _get(b"/api/c?x=1", b'If-None-Match: "c2"'), False),
    ("a query on a document goes to the application", _get(DOC + b"?limit=1", INM), False),
    ("percent-encoding goes to uvicorn's decoding", _get(b"/api/c/%64oc"), False),
    ("HTTP/1.0 keeps uvicorn's framing (RFC 9112 §9.3)", _get(DOC, version=b"1.0"), False),
    ("Connection: close keeps uvicorn's framing (§9.6)", _get(DOC, b"Connection: close"), False),
    ("a GET with content goes through the cycle", _get(DOC, b"Content-Length: 2") + b"{}", False),
    ("Expect: 100-continue goes through the cycle", _get(DOC, b"Expect: 100-continue"), False),
    ("outside /api/", _get(b"/healthz"), False),
]


@pytest.mark.parametrize(("case", "request_bytes", "shortcut"), CASES, ids=[c[0] for c in CASES])
def test_the_same_bytes_as_uvicorns_own_protocol(
    app: ServiceApp, case: str, request_bytes: bytes, shortcut: bool
) -> None:
    data = request_bytes.replace(TAG, _etag(app, "doc")).replace(PAGE, _page_etag(app))
    ours, our_tasks = _exchange(app, FastHttpProtocol, data)
    theirs, _ = _exchange(app, HttpToolsProtocol, data)
    assert ours, f"{case}: nothing written"
    assert DATE.sub(b"\r\ndate: -\r\n", ours) == DATE.sub(b"\r\ndate: -\r\n", theirs), case
    if shortcut:
        assert our_tasks == 0, f"{case}: went through an ASGI cycle"
    else:
        assert our_tasks >= 1, f"{case}: was answered without uvicorn's cycle"


def test_a_read_behind_an_unfinished_answer_waits_its_turn(app: ServiceApp) -> None:
    # The 404 goes through the cycle; the 304 pipelined behind it must not overtake it.
    tag = _etag(app, "doc")
    data = _get(b"/api/c/missing") + _get(b"/api/c/doc", b"If-None-Match: " + tag)
    ours, tasks = _exchange(app, FastHttpProtocol, data)
    theirs, _ = _exchange(app, HttpToolsProtocol, data)
    assert DATE.sub(b"\r\ndate: -\r\n", ours) == DATE.sub(b"\r\ndate: -\r\n", theirs)
    assert ours.index(b"404") < ours.index(b"304")
    assert tasks == 2


def test_a_write_from_elsewhere_is_seen_by_the_next_read(app: ServiceApp) -> None:
    tag = _etag(app, "doc")
    conditional = _get(b"/api/c/doc", b"If-None-Match: " + tag)
    assert _exchange(app, FastHttpProtocol, conditional)[0].startswith(b"HTTP/1.1 304")
    content = Content.of(b'{"a": 2}', "application/json")
    app.state.store.write(
        WriteRequest("PUT", "doc:c", "doc", Conditions(), lambda _: content, False)
    )
    answer, tasks = _exchange(app, FastHttpProtocol, conditional)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:40]
    assert answer.endswith(b'{"a": 2}')
    assert tasks == 0


def test_serve_uses_the_fast_protocol_with_this_uvicorn() -> None:
    assert protocol_class() is FastHttpProtocol


# -- PUT ---------------------------------------------------------------------------------

#: Fields whose values move with the clock (a write's Last-Modified is its time).
CLOCK = re.compile(rb"\r\n(date|last-modified): [^\r]*\r\n")


def _timeless(answer: bytes) -> bytes:
    return CLOCK.sub(rb"\r\n\1: -\r\n", CLOCK.sub(rb"\r\n\1: -\r\n", answer))


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Callable[[], ServiceApp]]:
    """Makes applications on databases with the same two documents (the same ETags)."""
    made: list[ServiceApp] = []

    def make() -> ServiceApp:
        db = tmp_path / f"twin{len(made)}.db"
        twin = create_app(Settings(db=f"sqlite:///{db}", access_log=False))
        for name, body in (("doc", b'{"a": 1}'), ("other", b'{"b": [1, 2]}')):
            twin.state.store.write(
                WriteRequest("PUT", "doc:c", name, Conditions(), _content(body), False)
            )
        made.append(twin)
        return twin

    yield make
    for twin in made:
        twin.fast.close()
        twin.state.store.close()


def _put(path: bytes, body: bytes, *fields: bytes) -> bytes:
    head = [
        b"PUT " + path + b" HTTP/1.1",
        b"host: 127.0.0.1",
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        *fields,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


IF_MATCH = b"If-Match: " + TAG
PUT_CASES = [
    ("200: a matching If-Match (RFC 9110 §13.1.1)", _put(DOC, b'{"a": 2}', IF_MATCH), True),
    (
        "201 and Location: create-only If-None-Match: * (§13.1.2)",
        _put(b"/api/c/new", b'{"n": 1}', b"If-None-Match: *"),
        True,
    ),
    ("412: a stale If-Match is the application's", _put(DOC, b"{}", b'If-Match: "v9"'), False),
    ("428 without a precondition (RFC 6585 §3)", _put(DOC, b"{}"), False),
    ("400: content that is not JSON", _put(DOC, b"{nope", IF_MATCH), False),
    ("a PUT with a query goes through the cycle", _put(DOC + b"?x=1", b"{}", IF_MATCH), False),
    (
        "a body in two packets goes through the parser",
        [_put(DOC, b'{"a": 2}', IF_MATCH)[:-2], b"2}"],
        False,
    ),
    (
        "a PUT and a pipelined GET in one packet: both through uvicorn, in order",
        _put(DOC, b'{"a": 2}', IF_MATCH) + _get(DOC),
        False,
    ),
    (
        "Transfer-Encoding: chunked goes to the parser (RFC 9112 §6.1)",
        b"PUT /api/c/doc HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"transfer-encoding: chunked\r\n" + IF_MATCH + b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "request_bytes", "shortcut"), PUT_CASES, ids=[c[0] for c in PUT_CASES]
)
def test_a_put_gets_the_same_bytes_as_from_uvicorns_own_protocol(
    twins: Callable[[], ServiceApp], case: str, request_bytes: bytes | list[bytes], shortcut: bool
) -> None:
    mine, theirs_app = twins(), twins()
    tag = _etag(mine, "doc")
    data = (
        request_bytes.replace(TAG, tag)
        if isinstance(request_bytes, bytes)
        else [chunk.replace(TAG, tag) for chunk in request_bytes]
    )
    assert _etag(mine, "doc") == _etag(theirs_app, "doc")
    ours, our_tasks = _exchange(mine, FastHttpProtocol, data)
    theirs, _ = _exchange(theirs_app, HttpToolsProtocol, data)
    assert _timeless(ours) == _timeless(theirs), case
    # The same state after: the write happened exactly once, or not at all, on both.
    assert mine.state.store.get("doc:c", "doc") is not None
    assert _etag(mine, "doc") == _etag(theirs_app, "doc"), case
    if shortcut:
        assert our_tasks == 0, f"{case}: went through an ASGI cycle"
        assert mine.fast.answered == 1, f"{case}: counted {mine.fast.answered} times"
    else:
        assert our_tasks >= 1, f"{case}: was answered without uvicorn's cycle"


@pytest.mark.postgres
@pytest.mark.parametrize("warm", [False, True], ids=["pool opened by it", "pool open"])
@pytest.mark.parametrize(
    ("case", "request_bytes", "shortcut"), PUT_CASES[:4], ids=[c[0] for c in PUT_CASES[:4]]
)
def test_a_put_on_postgresql_gets_the_same_bytes_as_from_uvicorns_own_protocol(
    case: str, request_bytes: bytes, shortcut: bool, warm: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the shortcut writes through the store's async batches, not SQLite's
    # group commit; the bytes and the state after must be the same all the same.  Once
    # the pool is open, a PUT whose If-Match names a version is driven by callbacks
    # (PostgresStore.submit), without a task: that path is checked too.
    from ifmatch.service.postgres import PostgresStore

    submitted: list[bool] = []
    submit = PostgresStore.submit

    def counted(self: PostgresStore, request: WriteRequest, done: Any) -> bool:
        submitted.append(submit(self, request, done))
        return submitted[-1]

    monkeypatch.setattr(PostgresStore, "submit", counted)
    with postgres_schema() as mine_dsn, postgres_schema() as theirs_dsn:
        twins = []
        for dsn in (mine_dsn, theirs_dsn):
            twin = create_app(Settings(db=dsn, access_log=False))
            for name, body in (("doc", b'{"a": 1}'), ("other", b'{"b": [1, 2]}')):
                twin.state.store.write(
                    WriteRequest("PUT", "doc:c", name, Conditions(), _content(body), False)
                )
            twins.append(twin)
        mine, theirs_app = twins
        try:
            data = request_bytes.replace(TAG, _etag(mine, "doc"))
            ours, our_tasks = _exchange(mine, FastHttpProtocol, data, warm)
            theirs, _ = _exchange(theirs_app, HttpToolsProtocol, data, warm)
            assert _timeless(ours) == _timeless(theirs), case
            assert _etag(mine, "doc") == _etag(theirs_app, "doc"), case
            assert (our_tasks == 0) is shortcut, case
            # Each is offered to submit(), which takes an If-Match "v<N>" (the 200 and the
            # 412) once the pool is open; the others go to a task.
            names_version = b"If-Match" in request_bytes
            assert submitted == [warm and names_version], (case, submitted)
        finally:
            for twin in twins:
                twin.state.store.close()


def test_a_read_sent_while_a_put_is_written_is_answered_after_it(
    twins: Callable[[], ServiceApp],
) -> None:
    # The GET arrives before the group commit ran: it must see the PUT's new version.
    mine, theirs_app = twins(), twins()
    tag = _etag(mine, "doc")
    chunks = [_put(DOC, b'{"a": 3}', b"If-Match: " + tag), _get(DOC)]
    ours, tasks = _exchange(mine, FastHttpProtocol, chunks)
    theirs, _ = _exchange(theirs_app, HttpToolsProtocol, chunks)
    assert _timeless(ours) == _timeless(theirs)
    assert ours.count(b"HTTP/1.1 200 OK") == 2
    assert ours.endswith(b'{"a": 3}')
    assert tasks == 0


def test_a_put_whose_write_fails_is_answered_by_the_application_and_not_written_again(
    twins: Callable[[], ServiceApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs_app = twins(), twins()
    data = _put(DOC, b'{"a": 4}', b"If-Match: " + _etag(mine, "doc"))
    answers = []
    for twin, kind in ((mine, FastHttpProtocol), (theirs_app, HttpToolsProtocol)):
        calls: list[int] = []

        def failing(requests: Any, calls: list[int] = calls) -> Any:
            calls.append(len(requests))
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(twin.state.store, "try_write_many", failing)
        answers.append(_exchange(twin, kind, data)[0])
        assert calls == [1], "the failed write was tried again"
    assert answers[0].startswith(b"HTTP/1.1 5"), answers[0][:40]
    assert _timeless(answers[0]) == _timeless(answers[1])


def _serve_protocol(
    app: ServiceApp, keep_alive_s: float
) -> tuple[FastHttpProtocol, _Transport, asyncio.AbstractEventLoop]:
    loop = asyncio.get_running_loop()
    config = _config(app, FastHttpProtocol, keep_alive_s)
    protocol = FastHttpProtocol(config, ServerState(), {}, loop)
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport, loop


def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(app: ServiceApp) -> None:
    conditional = _get(DOC, b"If-None-Match: " + _etag(app, "doc"))

    async def run() -> tuple[bool, bool, int]:
        protocol, transport, _ = _serve_protocol(app, 0.2)
        for _ in range(6):  # busy for 0.3 s, longer than the timeout: stays open
            protocol.data_received(conditional)
            await asyncio.sleep(0.05)
        open_while_busy = not transport.closed
        for _ in range(100):  # then idle: closed within the timeout (bounded: 1 s)
            await asyncio.sleep(0.01)
            if transport.closed:
                break
        return open_while_busy, transport.closed, transport.written.count(b"HTTP/1.1 304")

    open_while_busy, closed, answered = asyncio.run(run())
    assert answered == 6
    assert open_while_busy
    assert closed


async def _shut_down_while_writing(app: ServiceApp, data: bytes) -> tuple[bytes, bool, bool]:
    """Feed ``data`` (a PUT) and shut the connection down at once: the bytes written, whether
    the connection was closed (waited for in time, bounded: 5 s), and whether the PUT was
    in flight without a task (its write driven by callbacks) when shutdown came."""
    protocol, transport, _ = _serve_protocol(app, 5)
    protocol.data_received(data)
    in_flight = not protocol.tasks and getattr(protocol, "_writing", False)
    protocol.shutdown()
    assert not transport.closed  # not before the write's answer
    for _ in range(500):
        await asyncio.sleep(0.01)
        if transport.closed:
            break
    if protocol.timeout_keep_alive_task is not None:
        protocol.timeout_keep_alive_task.cancel()
    return bytes(transport.written), transport.closed, in_flight


def test_shutdown_while_a_put_is_written_sends_its_answer_then_closes(
    app: ServiceApp,
) -> None:
    data = _put(DOC, b'{"a": 5}', b"If-Match: " + _etag(app, "doc"))
    written, closed, _ = asyncio.run(_shut_down_while_writing(app, data))
    assert written.startswith(b"HTTP/1.1 200 OK")
    assert written.endswith(b'{"a": 5}')
    assert closed


@pytest.mark.postgres
def test_shutdown_while_a_put_is_written_on_postgresql_sends_its_answer_then_closes() -> None:
    # The PUT goes by callbacks (PostgresStore.submit), with no task for uvicorn's shutdown
    # to wait for: the connection itself must stay open until the answer is written.
    with postgres_schema() as dsn:
        app = create_app(Settings(db=dsn, access_log=False))
        try:
            app.state.store.write(
                WriteRequest("PUT", "doc:c", "doc", Conditions(), _content(b'{"a": 1}'), False)
            )
            data = _put(DOC, b'{"a": 6}', b"If-Match: " + _etag(app, "doc"))

            async def run() -> tuple[bytes, bool, bool]:
                await _warm(app)
                try:
                    return await _shut_down_while_writing(app, data)
                finally:
                    await app.state.store.aclose()

            written, closed, in_flight = asyncio.run(run())
            assert in_flight, "the PUT did not go by callbacks"
            assert written.startswith(b"HTTP/1.1 200 OK")
            assert written.endswith(b'{"a": 6}')
            assert closed
            # Written once: the answer's ETag is the stored version's, with the new bytes.
            assert b"\r\netag: " + _etag(app, "doc") + b"\r\n" in written
            found = app.state.store.get("doc:c", "doc")
            assert found is not None
            assert found[1] == b'{"a": 6}'
        finally:
            app.state.store.close()


# -- any request head --------------------------------------------------------------------


_VALID_PARTS: dict[str, list[bytes]] = {
    "method": [b"GET", b"HEAD"],
    # Mostly the document: most of what the shortcut answers is about it.
    "target": [DOC, DOC, DOC, DOC, b"/api/c", b"/api/c?limit=1", b"/api/c/missing"],
    "version": [b"HTTP/1.1"],
    "name": [
        b"Host",
        b"If-None-Match",
        b"if-none-match",
        b"X-Any",
        b"If-Match",
        b"If-Modified-Since",
        b"Range",
        b"Connection",
        b"Content-Type",
        b"Authorization",
        b"Expect",
    ],
    "separator": [b": ", b":", b":\t"],
    "value": [
        TAG,
        b"W/" + TAG,
        b'"v9"',
        b"*",
        TAG + b", " + TAG,
        b"",
        b"close",
        b"keep-alive",
        b"100-continue",
        b"bytes=0-1",
        b"Thu, 01 Jan 1970 00:00:00 GMT",
        b" " + TAG + b" \t",
    ],
    "end": [b"\r\n"],
    "after": [b""],
}
#: What one part may be instead (RFC 9112's grammar broken, or another framing).
_OTHER_PARTS: dict[str, list[bytes]] = {
    "method": [b"get", b"OPTIONS", b"GET\t", b"", b"PROPFIND"],
    "target": [b"/api/c/%64oc", b"/api//doc", b"/api/c/doc#here", b"/api/c/d\xc3\xa9", b"*"],
    "version": [b"HTTP/1.0", b"HTTP/1.2", b"http/1.1", b"HTTP/1.1 ", b""],
    "name": [b"If-None-Match ", b"Bad Name", b"", b"Content-Length", b"Transfer-Encoding"],
    "separator": [b" : ", b""],
    "value": [b"\x00", b"\x7f", b"caf\xc3\xa9", TAG + b"\r\n folded", b"chunked", b"2"],
    "end": [b"\n"],
    "after": [b"{}", b"GET / HTTP/1.1\r\n\r\n", b"\r\n"],
}


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    """A request head that is valid but for at most one part (so that a part read
    differently would show), the broken part any bytes one time in four."""

    def part(kind: str) -> bytes:
        if kind != broken:
            return draw(st.sampled_from(_VALID_PARTS[kind]))
        return draw(
            st.sampled_from(_OTHER_PARTS[kind]) | st.binary(max_size=10),
        )

    broken = draw(st.sampled_from([None, *_VALID_PARTS]))
    fields = []
    for index in range(draw(st.integers(0, 4))):
        field = [part("name"), part("separator"), part("value")]
        if index and broken in ("name", "separator", "value"):
            broken = None  # one broken part only
        fields.append(b"".join(field))
    end = part("end")
    lines = [part("method") + b" " + part("target") + b" " + part("version"), *fields]
    return end.join(lines) + end + end + part("after")


INVALID = [
    ("whitespace before a colon (RFC 9112 §5.1)", _get(DOC, b"If-None-Match : " + TAG)),
    ("a space in a field name", _get(DOC, b"Bad Name: x")),
    ("obsolete line folding (RFC 9112 §5.2)", _get(DOC, b"X-Any: a\r\n b", INM)),
    ("a control character in a value", _get(DOC, b"X-Any: \x01", INM)),
    ("a bare LF ending a field", _get(DOC, b"X-Any: a\nIf-None-Match: " + TAG)),
    ("a field line without a colon", _get(DOC, b"no colon", INM)),
    ("an empty field name", _get(DOC, b": x", INM)),
    ("two Content-Length fields", _get(DOC, b"Content-Length: 0", b"Content-Length: 1", INM)),
    ("a lower-case method", _get(DOC, INM, method=b"get")),
    ("an unknown version", _get(DOC, INM, version=b"1.2")),
    ("bytes after a read that are no request", _get(DOC, INM) + b"{}"),
]


@pytest.mark.parametrize(("case", "request_bytes"), INVALID, ids=[c[0] for c in INVALID])
def test_a_head_httptools_refuses_is_refused_the_same(
    app: ServiceApp, case: str, request_bytes: bytes
) -> None:
    data = request_bytes.replace(TAG, _etag(app, "doc"))
    ours, _ = _exchange(app, FastHttpProtocol, data)
    theirs, _ = _exchange(app, HttpToolsProtocol, data)
    assert ours == theirs, case
    assert ours.startswith(b"HTTP/1.1 400"), case


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(head=_heads())
def test_any_request_head_gets_the_same_bytes_as_from_uvicorns_own_protocol(
    app: ServiceApp, head: bytes
) -> None:
    """Whatever the head, valid or not: the shortcut reads only a strict subset of HTTP/1.1
    and leaves the rest to httptools, so nothing it reads differently can get another
    answer (a 304 where uvicorn says 400, say: fail safe)."""
    data = head.replace(TAG, _etag(app, "doc"))
    ours, _ = _exchange(app, FastHttpProtocol, data)
    theirs, _ = _exchange(app, HttpToolsProtocol, data)
    assert DATE.sub(b"\r\ndate: -\r\n", ours) == DATE.sub(b"\r\ndate: -\r\n", theirs), data
