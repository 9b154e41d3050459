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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from ifmatch import Conditions
from ifmatch.service._pages import page_etag
from ifmatch.service._protocol import FastHttpProtocol, protocol_class
from ifmatch.service.app import ServiceApp, create_app
from ifmatch.service.settings import Settings
from ifmatch.service.store import Content, Current, WriteRequest

DATE = re.compile(rb"\r\ndate: [^\r]*\r\n")


class _Transport(asyncio.Transport):
    """Collects what a protocol writes."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
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


def _exchange(app: ServiceApp, kind: type[HttpToolsProtocol], data: bytes) -> tuple[bytes, int]:
    """The bytes ``kind`` writes for ``data``, and how many ASGI tasks it started."""

    async def run() -> tuple[bytes, int]:
        config = Config(
            app=app,
            http=kind,
            server_header=False,
            date_header=False,
            access_log=False,
            lifespan="off",
            log_level="warning",
        )
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
        protocol.data_received(data)
        for _ in range(1000):  # bounded (10 s): until every task is done
            await asyncio.sleep(0.01 if protocol.tasks else 0)
            if not protocol.tasks and not protocol.pipeline:
                break
        if protocol.timeout_keep_alive_task is not None:
            protocol.timeout_keep_alive_task.cancel()
        return bytes(transport.written), started

    return asyncio.run(run())


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
