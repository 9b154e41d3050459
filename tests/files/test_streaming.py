"""How the bytes leave: zero-copy (pathsend, wsgi.file_wrapper), bounded chunks,
reads off the event loop, aborts when the file changes mid-response, and
an early stop when the client goes away.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from werkzeug.test import Client

from ifmatch import asgi_files, files, wsgi_files
from ifmatch.files import CHUNK_SIZE, FileChangedError, OpenedFile
from ifmatch.ranges import ByteRange
from tests.files.conftest import BIG, FILES, MTIME_NS, Site
from tests.support.wsgi import recorder

Message = dict[str, Any]


def run_asgi(
    app: Callable[..., Awaitable[None]],
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
    spec_version: str = "2.4",
    on_send: Callable[[Message, list[Message]], Awaitable[None]] | None = None,
    receive: Callable[[], Awaitable[Message]] | None = None,
) -> list[Message]:
    """Drive an ASGI app like a server would; returns every message it sent."""
    sent: list[Message] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "extensions": extensions or {},
    }

    async def default_receive() -> Message:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if on_send is not None:
            await on_send(message, sent)

    asyncio.run(app(scope, receive or default_receive, send))  # type: ignore[arg-type]
    return sent


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


PATHSEND: dict[str, Any] = {"http.response.pathsend": {}}


def test_pathsend_for_a_whole_file(site: Site) -> None:
    sent = run_asgi(asgi_files.StaticFiles(site.root), "/big.bin", extensions=PATHSEND)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    assert sent[1]["path"] == str((site.root / "big.bin").resolve())
    assert Path(sent[1]["path"]).is_absolute()
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(BIG)).encode()


@pytest.mark.parametrize(
    ("path", "method", "headers"),
    [
        pytest.param("/big.bin", "GET", {"Range": "bytes=0-9"}, id="206"),
        pytest.param("/big.bin", "HEAD", {}, id="HEAD"),
        pytest.param("/empty.txt", "GET", {}, id="empty file"),
        pytest.param("/big.bin", "GET", {"If-None-Match": "*"}, id="304"),
        pytest.param("/nope", "GET", {}, id="404"),
    ],
)
def test_no_pathsend_unless_a_whole_file(
    site: Site, path: str, method: str, headers: dict[str, str]
) -> None:
    app = asgi_files.StaticFiles(site.root)
    sent = run_asgi(app, path, method=method, headers=headers, extensions=PATHSEND)
    assert "http.response.pathsend" not in [m["type"] for m in sent]


def test_no_pathsend_without_the_extension(site: Site) -> None:
    sent = run_asgi(asgi_files.StaticFiles(site.root), "/big.bin")
    assert "http.response.pathsend" not in [m["type"] for m in sent]
    assert body_of(sent) == BIG
    chunks = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert max(len(chunk) for chunk in chunks) <= CHUNK_SIZE
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


def _replace_after_open(monkeypatch: pytest.MonkeyPatch, new_content: bytes) -> None:
    """Atomically replace the file (rename) right after the app opened it."""
    real_open = files.open_file

    def open_then_replace(path: Any, **options: Any) -> OpenedFile | None:
        opened = real_open(path, **options)
        assert opened is not None
        fresh = opened.path.with_name("fresh.tmp")
        fresh.write_bytes(new_content)
        os.replace(fresh, opened.path)
        return opened

    monkeypatch.setattr(files, "open_file", open_then_replace)


def test_replaced_file_serves_the_version_its_validators_describe(
    fresh_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened once, fstat-ed once: a rename mid-request cannot mix versions or validators.

    pathsend would let the server open the *new* file under the *old* ETag,
    so the path is re-checked first and the response falls back to streaming.
    """
    before = asgi_files.StaticFiles(fresh_site.root)
    etag = dict(run_asgi(before, "/big.bin", method="HEAD")[0]["headers"])[b"etag"]
    _replace_after_open(monkeypatch, b"version two, another size")
    sent = run_asgi(asgi_files.StaticFiles(fresh_site.root), "/big.bin", extensions=PATHSEND)
    assert "http.response.pathsend" not in [m["type"] for m in sent]
    assert dict(sent[0]["headers"])[b"etag"] == etag
    assert body_of(sent) == BIG
    # Same through WSGI: version two is on disk now; version three replaces it mid-request.
    _replace_after_open(monkeypatch, b"version three!")
    client = Client(wsgi_files.StaticFiles(fresh_site.root))
    response = client.get("/big.bin", headers={"Range": "bytes=8-99"})
    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 8-24/25"
    assert response.data == b"two, another size"


def _rewrite_in_place(path: Path, keep_mtime: bool) -> None:
    with path.open("r+b") as handle:
        handle.seek(len(BIG) - 10)
        handle.write(b"X" * 10)
    if keep_mtime:
        os.utime(path, ns=(MTIME_NS, MTIME_NS))  # only ctime now tells


@pytest.mark.parametrize("keep_mtime", [False, True], ids=["mtime changes", "mtime restored"])
def test_in_place_change_aborts_a_wsgi_206(fresh_site: Site, keep_mtime: bool) -> None:
    """A 206 is never completed from two versions: the iterator raises instead."""
    app = wsgi_files.StaticFiles(fresh_site.root)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/big.bin", "HTTP_RANGE": "bytes=0-"}
    iterable = app(environ, recorder())
    chunks = iter(iterable)
    assert next(chunks) == BIG[:CHUNK_SIZE]
    _rewrite_in_place(fresh_site.root / "big.bin", keep_mtime)
    with pytest.raises(FileChangedError):
        list(chunks)
    iterable.close()  # type: ignore[attr-defined]


def test_in_place_change_aborts_an_asgi_multipart(fresh_site: Site) -> None:
    changed = False

    async def change_after_first_span(message: Message, sent: list[Message]) -> None:
        nonlocal changed
        if message["type"] == "http.response.body" and len(message["body"]) > 1000 and not changed:
            changed = True
            _rewrite_in_place(fresh_site.root / "big.bin", keep_mtime=False)

    app = asgi_files.StaticFiles(fresh_site.root)
    headers = {"Range": "bytes=0-99999, 150000-"}
    with pytest.raises(FileChangedError):
        run_asgi(app, "/big.bin", headers=headers, on_send=change_after_first_span)


def test_shrunk_file_aborts(fresh_site: Site) -> None:
    opened = files.open_file(fresh_site.root / "big.bin")
    assert opened is not None
    os.truncate(fresh_site.root / "big.bin", 10)
    with pytest.raises(FileChangedError):
        opened.read(ByteRange(0, 100))
    opened.close()


def test_ranges_read_only_their_spans_in_bounded_chunks_off_the_loop(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[ByteRange, int]] = []
    real_read = OpenedFile.read

    def recording_read(self: OpenedFile, span: ByteRange) -> bytes:
        reads.append((span, threading.get_ident()))
        return real_read(self, span)

    monkeypatch.setattr(OpenedFile, "read", recording_read)
    loop_threads: list[int] = []

    async def note_thread(message: Message, sent: list[Message]) -> None:
        loop_threads.append(threading.get_ident())

    app = asgi_files.StaticFiles(site.root, chunk_size=4096)
    sent = run_asgi(app, "/big.bin", headers={"Range": "bytes=100000-109999"}, on_send=note_thread)
    assert body_of(sent) == BIG[100000:110000]
    assert sum(len(span) for span, _ in reads) == 10000
    assert all(len(span) <= 4096 for span, _ in reads)
    assert all(thread not in loop_threads for _, thread in reads), "reads run in worker threads"


def test_client_disconnect_stops_the_stream_before_spec_2_4(site: Site) -> None:
    """Servers before ASGI 2.4 swallow sends after a disconnect; we watch receive instead."""
    first_chunk = asyncio.Event()

    async def receive() -> Message:
        await first_chunk.wait()
        return {"type": "http.disconnect"}

    async def on_send(message: Message, sent: list[Message]) -> None:
        if message["type"] == "http.response.body":
            first_chunk.set()
            await asyncio.sleep(0.01)  # the transfer is slow; the disconnect arrives

    app = asgi_files.StaticFiles(site.root, chunk_size=1024)
    sent = run_asgi(app, "/big.bin", spec_version="2.3", receive=receive, on_send=on_send)
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert len(bodies) < len(BIG) // 1024 // 2, "stopped early"
    assert not any(m.get("more_body") is False for m in bodies)


def test_a_receive_that_never_blocks_does_not_spin(site: Site) -> None:
    """A server that repeats the request instead of blocking (not ASGI) cannot hang us."""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    app = asgi_files.StaticFiles(site.root, chunk_size=1024)
    sent = run_asgi(app, "/big.bin", spec_version="2.3", receive=receive)
    assert body_of(sent) == BIG


class RecordingWrapper:
    """A ``wsgi.file_wrapper`` that records what it was given."""

    used: ClassVar[list[RecordingWrapper]] = []

    def __init__(self, file: Any, block_size: int = 8192) -> None:
        self.file, self.block_size, self.closed = file, block_size, False
        RecordingWrapper.used.append(self)

    def __iter__(self) -> Any:
        while chunk := self.file.read(self.block_size):
            yield chunk

    def close(self) -> None:
        self.closed = True
        self.file.close()


@pytest.mark.parametrize(
    ("headers", "used"),
    [
        pytest.param({}, True, id="200 whole file -> file_wrapper"),
        pytest.param({"Range": "bytes=0-9"}, False, id="206 -> own iterator"),
        pytest.param({"If-None-Match": "*"}, False, id="304 -> no body"),
    ],
)
def test_wsgi_file_wrapper(site: Site, headers: dict[str, str], used: bool) -> None:
    RecordingWrapper.used.clear()
    client = Client(wsgi_files.StaticFiles(site.root))
    response = client.get(
        "/big.bin", headers=headers, environ_overrides={"wsgi.file_wrapper": RecordingWrapper}
    )
    body = response.data
    response.close()
    assert bool(RecordingWrapper.used) == used
    if used:
        [wrapper] = RecordingWrapper.used
        assert body == BIG
        assert wrapper.block_size == CHUNK_SIZE
        assert wrapper.closed
        assert wrapper.file.closed


def test_wsgi_body_closes_the_file_even_if_never_iterated(site: Site) -> None:
    app = wsgi_files.StaticFiles(site.root)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/hello.txt"}
    before = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else None
    iterable = app(environ, recorder())
    iterable.close()  # type: ignore[attr-defined]
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) == before
    assert b"".join(app(environ, recorder())) == FILES["hello.txt"]


def test_asgi_closes_the_file(site: Site) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to count descriptors")
    before = len(os.listdir("/proc/self/fd"))
    for extensions in ({}, PATHSEND):
        run_asgi(asgi_files.StaticFiles(site.root), "/big.bin", extensions=extensions)
        run_asgi(asgi_files.StaticFiles(site.root), "/big.bin", headers={"If-None-Match": "*"})
    assert len(os.listdir("/proc/self/fd")) == before


def test_lifespan_and_websocket_scopes(site: Site) -> None:
    app = asgi_files.StaticFiles(site.root)
    events = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[Message] = []

    async def receive() -> Message:
        return next(events)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))  # type: ignore[arg-type]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    sent.clear()
    asyncio.run(app({"type": "websocket", "path": "/hello.txt"}, receive, send))  # type: ignore[arg-type]
    assert sent == [{"type": "websocket.close", "code": 1000}]
