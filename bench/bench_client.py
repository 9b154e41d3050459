"""Bytes on the wire for 100 polls of a 50 KB resource that changes on 10 of them.

A local uvicorn server (in a thread) serves one 50 KB resource with a strong
ETag and ``Cache-Control: no-cache`` (use only after revalidation); before
polls 5, 15, ..., 95 it switches to a new version.  Each contender polls it
100 times over a real TCP connection; a counting httpcore network backend
adds up every byte written to and read from the socket (request and status
lines, headers, bodies).  Contenders, all in this run:

* httpx without a cache (the baseline);
* ifmatch ``CachingTransport`` with memory and with SQLite storage;
* ifmatch ``poll()``, which sends If-None-Match itself, without a cache;
* hishel 2 (if installed) in RFC 9111 mode as a private cache (so it
  revalidates ``no-cache`` responses), and in its default mode, which
  ignores caching headers (ANCHORS.md) and so misses changes.

"Versions seen" counts the distinct versions the application received (11
exist: the first and 10 changes); "stale" counts responses whose body was
not the server's current version.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpcore
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ifmatch import (
    Conditions,
    ETag,
    Resource,
    etag_for_version,
    evaluate,
    format_http_date,
    not_modified_headers,
)
from ifmatch.client import CachingTransport, MemoryStorage, SQLiteStorage, poll

POLLS = 100
SIZE = 50 * 1024
CHANGES_BEFORE = frozenset(range(5, POLLS, 10))  # 10 changes
VERSIONS = 1 + len(CHANGES_BEFORE)
STARTED = time.time() - 3600


def version_at(poll_index: int) -> int:
    return 1 + sum(1 for index in CHANGES_BEFORE if index <= poll_index)


def body_of(version: int) -> bytes:
    return random.Random(version).randbytes(SIZE)


class _Origin:
    """The server's state: how many GETs it has answered decides the version."""

    def __init__(self) -> None:
        self.requests = 0
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.requests = 0

    def app(self) -> Starlette:
        async def resource(request: Request) -> Response:
            with self.lock:
                version = version_at(self.requests)
                self.requests += 1
            etag = etag_for_version(version)
            headers = [
                ("ETag", str(etag)),
                ("Last-Modified", format_http_date(STARTED + version)),
                ("Cache-Control", "no-cache"),
                ("Content-Type", "application/octet-stream"),
            ]
            decision = evaluate(
                "GET", Conditions.from_headers(request.headers.items()), Resource(ETag(etag.opaque))
            )
            if decision.status == 304:
                return Response(status_code=304, headers=dict(not_modified_headers(headers)))
            return Response(body_of(version), headers=dict(headers))

        return Starlette(routes=[Route("/resource", resource)])


class _CountingStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, counter: _CountingBackend) -> None:
        self.inner, self.counter = inner, counter

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.inner.read(max_bytes, timeout)
        self.counter.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.counter.sent += len(buffer)
        self.inner.write(buffer, timeout)

    def close(self) -> None:
        self.inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _CountingBackend(httpcore.NetworkBackend):
    """Counts every byte the connection pool writes to and reads from its sockets."""

    def __init__(self) -> None:
        self.inner = httpcore.SyncBackend()
        self.sent = self.received = 0

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _CountingStream(stream, self)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _counting_transport() -> tuple[httpx.HTTPTransport, _CountingBackend]:
    transport = httpx.HTTPTransport()
    backend = _CountingBackend()
    # httpx does not take a network backend; its pool is swapped for one that counts.
    transport._pool = httpcore.ConnectionPool(network_backend=backend)
    return transport, backend


class Row(NamedTuple):
    name: str
    requests: int
    statuses: str
    sent: int
    received: int
    versions: int
    stale: int
    seconds: float

    @property
    def total(self) -> int:
        return self.sent + self.received


def _poll_with(name: str, url: str, origin: _Origin,
               wrap: Callable[[httpx.BaseTransport], httpx.BaseTransport]) -> Row:
    origin.reset()
    inner, backend = _counting_transport()
    statuses: list[int] = []
    inner_hook = _StatusRecorder(inner, statuses)
    seen: set[bytes] = set()
    stale = 0
    started = time.perf_counter()
    with httpx.Client(transport=wrap(inner_hook)) as client:
        for index in range(POLLS):
            content = client.get(url).content
            digest = hashlib.sha256(content).digest()
            seen.add(digest)
            stale += content != body_of(version_at(index))
    took = time.perf_counter() - started
    return Row(name, origin.requests, _summary(statuses), backend.sent, backend.received,
               len(seen), stale, took)


def _poll_function(url: str, origin: _Origin) -> Row:
    origin.reset()
    inner, backend = _counting_transport()
    statuses: list[int] = []
    versions = 0
    started = time.perf_counter()
    with httpx.Client(transport=_StatusRecorder(inner, statuses)) as client:
        for response in poll(client, url, 0, max_requests=POLLS):
            versions += 1
            assert response.content == body_of(versions)
    took = time.perf_counter() - started
    return Row("ifmatch `poll()` (If-None-Match, no cache)", origin.requests, _summary(statuses),
               backend.sent, backend.received, versions, 0, took)


class _StatusRecorder(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, statuses: list[int]) -> None:
        self.inner, self.statuses = inner, statuses

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.statuses.append(response.status_code)
        return response

    def close(self) -> None:
        self.inner.close()


def _summary(statuses: list[int]) -> str:
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    return " / ".join(f"{count} x {status}" for status, count in counts.items())


@contextlib.contextmanager
def _serve(origin: _Origin) -> Iterator[str]:
    """Serve the origin with uvicorn in a thread on 127.0.0.1 (socket bound here, handed over)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        config = uvicorn.Config(origin.app(), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.01)
            yield f"http://127.0.0.1:{port}/resource"
        finally:
            server.should_exit = True
            thread.join(10)


def _hishel_rows(url: str, origin: _Origin, directory: Path) -> tuple[list[Row], str]:
    try:
        import hishel
        from hishel.httpx import CacheTransport
    except ImportError:
        return [], "hishel is not installed (`pip install hishel`): no peer row."
    rows = [
        _poll_with(
            "hishel 2, RFC 9111 mode, private cache", url, origin,
            lambda inner: CacheTransport(
                inner, storage=hishel.SqliteStorage(database_path=directory / "rfc.db"),
                rfc=hishel.CacheOptions(shared=False),
            ),
        ),
        _poll_with(
            "hishel 2, default mode (ignores caching headers)", url, origin,
            lambda inner: CacheTransport(
                inner, storage=hishel.SqliteStorage(database_path=directory / "default.db")
            ),
        ),
    ]
    return rows, ""


def run() -> str:
    origin = _Origin()
    with tempfile.TemporaryDirectory(prefix="ifmatch-bench-") as tmp:
        directory = Path(tmp)
        with _serve(origin) as url:
            rows = [
                _poll_with("httpx, no cache (baseline)", url, origin, lambda inner: inner),
                _poll_with("ifmatch `CachingTransport`, memory", url, origin,
                           lambda inner: CachingTransport(inner, MemoryStorage())),
                _poll_with("ifmatch `CachingTransport`, SQLite", url, origin,
                           lambda inner: CachingTransport(
                               inner, SQLiteStorage(directory / "ifmatch.sqlite"))),
                _poll_function(url, origin),
            ]
            peers, note = _hishel_rows(url, origin, directory)
            rows += peers
    baseline = rows[0].total
    lines = [
        "## Client: bytes on the wire for 100 polls (50 KB resource, 10 changes)",
        "",
        __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        "",
        "| client | requests | responses | sent (B) | received (B) | total (B) | saved "
        "| versions seen | stale | time (ms/poll) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        saved = 1 - row.total / baseline
        lines.append(
            f"| {row.name} | {row.requests} | {row.statuses} | {row.sent:,} | {row.received:,} "
            f"| {row.total:,} | {saved:.1%} | {row.versions} of {VERSIONS} | {row.stale} "
            f"| {row.seconds * 1000 / POLLS:.2f} |"
        )
    lines.append("")
    lines.append(
        "Target: at least 85 % saved with the cache.  A 304 here is about 200 bytes "
        "(status line and headers) against 50 KB for a 200; `poll()` yields only the "
        f"{VERSIONS} changed versions."
    )
    if note:
        lines += ["", note]
    else:
        lines += [
            "",
            "hishel in RFC mode downloads each new version twice: after a 200 that answered "
            "its revalidation it still sends the old ETag once more (observed in its request "
            "log: `If-None-Match: \"v1\"` -> 200, then `\"v1\"` -> 200 again, then "
            "`\"v2\"` -> 304).  In its default mode it never asks the server again and "
            "serves the first version for ever.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
