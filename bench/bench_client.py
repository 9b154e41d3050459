"""Client caches on two traces: browsing a page with its assets, and polling one resource.

A local uvicorn server (in a thread) is the origin; every contender reaches it
through a counting TCP relay (also in a thread) that adds up every byte
written in either direction: request and status lines, headers, bodies.  The
origin counts the requests that reach it.  Contenders, all in this run:

* httpx without a cache (the baseline);
* ifmatch ``CachingTransport`` (RFC 9111 private cache) with memory, SQLite and
  Redis storage, and with ``always_revalidate=True``;
* hishel 2 in its standards (RFC 9111) mode as a private cache;
* requests-cache with ``cache_control=True`` (its standards mode), on requests.

**Browsing**: a page and its 20 assets, fetched 50 times over a simulated 10
minutes (one view every 12 s; time is simulated with time-machine, nothing
sleeps).  Cache-Control as sites send it: the HTML page ``no-cache`` (changes
every 3 minutes); 6 fingerprinted scripts and stylesheets ``public,
max-age=31536000, immutable``; 8 images ``max-age=3600``; 2 fonts
``max-age=86400``; 2 JSON feeds whose ``max-age`` runs to their next change
(every 2 minutes); 1 banner with only ``Last-Modified`` (changes at minute 5);
1 user document ``private, no-cache`` (changes at minute 4).  Everything has an
ETag but the banner.  "Stale" counts responses whose body was not the origin's
current version when the application received it.

Each trace runs three times per contender, interleaved; the counts are the same every time
and the time column is the median.

**Polling**: 100 polls of a 50 KB resource (``no-cache``, strong ETag) that
changes before polls 5, 15, ..., 95; ifmatch ``poll()`` without a cache is a row
too.  "Versions seen" counts the distinct versions the application received
(11 exist).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import uvicorn

from ifmatch import format_http_date
from ifmatch.client import (
    CachingTransport,
    Heuristic,
    MemoryStorage,
    RedisStorage,
    SQLiteStorage,
    poll,
)

# -- the counting relay ------------------------------------------------------------------------


class _Relay:
    """A TCP relay on 127.0.0.1 that counts the bytes going each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = self.down = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def reset(self) -> None:
        self.up = self.down = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upward: bool
        ) -> None:
            try:
                while data := await reader.read(65536):
                    if upward:
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                origin_reader, origin_writer = await asyncio.open_connection(
                    "127.0.0.1", self.target_port
                )
                await asyncio.gather(
                    pump(reader, origin_writer, True), pump(origin_reader, writer, False)
                )

        async def main() -> None:
            self.stop = asyncio.Event()
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            async with server:
                await self.stop.wait()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        self.loop.run_until_complete(main())
        self.loop.close()

    def __enter__(self) -> _Relay:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[int]:
    """Serve ``app`` with uvicorn in a thread on 127.0.0.1; yields the port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            date_header=False,
            server_header=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError("uvicorn did not start")
                time.sleep(0.01)
            yield port
        finally:
            server.should_exit = True
            thread.join(10)


# -- the origins -------------------------------------------------------------------------------


@dataclass
class Resource:
    """One resource of the origin: its size, Cache-Control, and when it changes."""

    path: str
    size: int
    cache_control: str | None
    changes: tuple[float, ...] = ()  # seconds after the start at which a new version appears
    every: float | None = None  # or: a new version every so many seconds (max-age runs to it)
    etag: bool = True

    def version(self, elapsed: float) -> int:
        if self.every is not None:
            return int(elapsed // self.every)
        return sum(1 for change in self.changes if change <= elapsed)

    def body(self, version: int) -> bytes:
        return random.Random(f"{self.path}#{version}").randbytes(self.size)

    def headers(self, elapsed: float, start: float) -> list[tuple[str, str]]:
        version = self.version(elapsed)
        changed = start + (self.changes[version - 1] if version and self.changes else 0)
        if self.every is not None:
            changed = start + version * self.every
        pairs = [("Last-Modified", format_http_date(changed - 86400 * (version == 0)))]
        if self.etag:
            pairs.append(("ETag", f'"{hashlib.sha256(self.body(version)).hexdigest()[:16]}"'))
        if self.every is not None:
            remaining = int(self.every - elapsed % self.every)
            pairs.append(("Cache-Control", f"max-age={remaining}"))
        elif self.cache_control is not None:
            pairs.append(("Cache-Control", self.cache_control))
        return pairs


def _site() -> list[Resource]:
    assets = [
        Resource(f"/static/app.{n}.js", 60_000 + 20_000 * n, "public, max-age=31536000, immutable")
        for n in range(4)
    ]
    assets += [
        Resource(f"/static/style.{n}.css", 25_000, "public, max-age=31536000, immutable")
        for n in range(2)
    ]
    assets += [Resource(f"/img/{n}.jpg", 40_000 + 5_000 * n, "max-age=3600") for n in range(8)]
    assets += [Resource(f"/fonts/{n}.woff2", 30_000, "max-age=86400") for n in range(2)]
    assets += [Resource(f"/api/feed{n}.json", 8_000, None, every=120.0) for n in range(2)]
    assets += [Resource("/img/banner.jpg", 80_000, None, changes=(300.0,), etag=False)]
    assets += [Resource("/api/user.json", 2_000, "private, no-cache", changes=(240.0,))]
    page = Resource("/", 30_000, "no-cache", changes=(180.0, 360.0, 540.0))
    return [page, *assets]


class Origin:
    """An ASGI origin for a set of resources; versions follow the (simulated) clock.

    With ``by_request``, the clock is the number of requests answered before
    (request N sees second N): the polling trace's resource changes between polls.
    """

    def __init__(self, resources: list[Resource], by_request: bool = False) -> None:
        self.by_request = by_request
        self.resources = {resource.path: resource for resource in resources}
        self.start = time.time()
        self.requests = 0
        self.statuses: dict[int, int] = {}

    def reset(self) -> None:
        self.start = time.time()
        self.requests = 0
        self.statuses = {}

    def current(self, path: str) -> bytes:
        resource = self.resources[path]
        return resource.body(resource.version(self._elapsed(self.requests - 1)))

    def _elapsed(self, index: int) -> float:
        return float(index) if self.by_request else time.time() - self.start

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.requests += 1
        resource = self.resources[scope["path"]]
        now = time.time()
        elapsed = self._elapsed(self.requests - 1)
        headers = [*resource.headers(elapsed, self.start), ("Date", format_http_date(now))]
        body = resource.body(resource.version(elapsed))
        request = {name.decode().lower(): value.decode() for name, value in scope["headers"]}
        status = 200
        etag = next((v for n, v in headers if n == "ETag"), None)
        last_modified = next(v for n, v in headers if n == "Last-Modified")
        if "if-none-match" in request:
            status = 304 if etag is not None and etag in request["if-none-match"] else 200
        elif "if-modified-since" in request:
            status = 304 if request["if-modified-since"] == last_modified else 200
        if status == 304:
            body = b""
        else:
            headers.append(("Content-Length", str(len(body))))
        headers.append(("Content-Type", "application/octet-stream"))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(n.encode(), v.encode()) for n, v in headers],
            }
        )
        await send({"type": "http.response.body", "body": body})


# -- contenders --------------------------------------------------------------------------------


class Row(NamedTuple):
    name: str
    requests: int
    statuses: str
    sent: int
    received: int
    stale: int
    seconds_per_fetch: float
    versions: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.received


Fetch = Callable[[str], bytes]


@dataclass
class Contender:
    name: str
    make: Callable[[str], tuple[Fetch, Callable[[], None]]]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _httpx_contender(name: str, wrap: Callable[[httpx.BaseTransport], Any]) -> Contender:
    def make(base: str) -> tuple[Fetch, Callable[[], None]]:
        client = httpx.Client(base_url=base, transport=wrap(httpx.HTTPTransport()))
        return (lambda path: client.get(path).content), client.close

    return Contender(name, make)


def _hishel_contender(directory: Path) -> Contender | None:
    try:
        import hishel
        from hishel.httpx import CacheTransport
    except ImportError:
        return None
    counter = iter(range(1000))
    return _httpx_contender(
        "hishel 2, RFC 9111 mode, private cache",
        lambda inner: CacheTransport(
            inner,
            storage=hishel.SqliteStorage(database_path=directory / f"hishel-{next(counter)}.db"),
            rfc=hishel.CacheOptions(shared=False),
        ),
    )


def _requests_cache_contender() -> Contender | None:
    try:
        import requests_cache
    except ImportError:
        return None

    def make(base: str) -> tuple[Fetch, Callable[[], None]]:
        session = requests_cache.CachedSession(backend="memory", cache_control=True)
        return (lambda path: session.get(base + path).content), session.close

    return Contender("requests-cache, cache_control=True (memory)", make)


def _redis_storage() -> RedisStorage | None:
    try:
        storage = RedisStorage(prefix=f"ifmatch-bench:{random.getrandbits(48):x}:")
        storage.client.ping()
    except Exception:  # no redis-py or no server: no row, said in the note
        return None
    return storage


def _contenders(directory: Path, redis: RedisStorage | None) -> list[Contender]:
    counter = iter(range(1000))
    rows = [
        _httpx_contender("httpx, no cache (baseline)", lambda inner: inner),
        _httpx_contender(
            "ifmatch `CachingTransport`, memory",
            lambda inner: CachingTransport(inner, MemoryStorage()),
        ),
        _httpx_contender(
            "ifmatch `CachingTransport`, SQLite",
            lambda inner: CachingTransport(
                inner, SQLiteStorage(directory / f"ifmatch-{next(counter)}.sqlite")
            ),
        ),
    ]
    if redis is not None:

        def with_redis(inner: httpx.BaseTransport) -> CachingTransport:
            redis.clear()
            return CachingTransport(inner, redis)

        rows.append(_httpx_contender("ifmatch `CachingTransport`, Redis", with_redis))
    rows.append(
        _httpx_contender(
            "ifmatch `CachingTransport`, `always_revalidate=True`",
            lambda inner: CachingTransport(inner, MemoryStorage(), always_revalidate=True),
        )
    )
    rows.append(
        _httpx_contender(
            "ifmatch `CachingTransport`, `heuristic=Heuristic()` (10 %, at most a day)",
            lambda inner: CachingTransport(inner, MemoryStorage(), heuristic=Heuristic()),
        )
    )
    rows += [c for c in (_hishel_contender(directory), _requests_cache_contender()) if c]
    return rows


def _summary(statuses: dict[int, int]) -> str:
    return " / ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))


# -- the traces --------------------------------------------------------------------------------

VIEWS = 50
VIEW_EVERY = 12.0  # 50 views over 600 simulated seconds
POLLS = 100
POLL_SIZE = 50 * 1024
CHANGES_BEFORE = frozenset(range(5, POLLS, 10))


def _browse(contender: Contender, origin: Origin, relay: _Relay, base: str) -> Row:
    import time_machine

    with time_machine.travel(float(int(time.time())) + 0.25, tick=False) as traveller:
        origin.reset()
        relay.reset()
        fetch, close = contender.make(base)
        stale = fetches = 0
        spent = 0.0
        try:
            for view in range(VIEWS):
                if view:
                    traveller.shift(VIEW_EVERY)
                for path in origin.resources:
                    started = time.perf_counter()
                    body = fetch(path)
                    spent += time.perf_counter() - started
                    fetches += 1
                    stale += body != origin.current(path)
        finally:
            close()
    return Row(
        contender.name,
        origin.requests,
        _summary(origin.statuses),
        relay.up,
        relay.down,
        stale,
        spent / fetches,
    )


def _poll_resource() -> Resource:
    return Resource(
        "/resource",
        POLL_SIZE,
        "no-cache",
        changes=tuple(float(index) for index in sorted(CHANGES_BEFORE)),
    )


def _poll(contender: Contender, origin: Origin, relay: _Relay, base: str) -> Row:
    origin.reset()
    relay.reset()
    fetch, close = contender.make(base)
    seen: set[bytes] = set()
    stale = 0
    spent = 0.0
    try:
        for _ in range(POLLS):
            started = time.perf_counter()
            body = fetch("/resource")
            spent += time.perf_counter() - started
            seen.add(hashlib.sha256(body).digest())
            stale += body != origin.current("/resource")
    finally:
        close()
    return Row(
        contender.name,
        origin.requests,
        _summary(origin.statuses),
        relay.up,
        relay.down,
        stale,
        spent / POLLS,
        len(seen),
    )


def _poll_function(origin: Origin, relay: _Relay, base: str) -> Row:
    origin.reset()
    relay.reset()
    versions = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base) as client:
        for index, response in enumerate(poll(client, "/resource", 0, max_requests=POLLS)):
            versions += 1
            assert response.content == origin.current("/resource"), index
    took = time.perf_counter() - started
    return Row(
        "ifmatch `poll()` (If-None-Match, no cache)",
        origin.requests,
        _summary(origin.statuses),
        relay.up,
        relay.down,
        0,
        took / POLLS,
        versions,
    )


def _table(rows: list[Row], unit: str, versions: int | None = None) -> list[str]:
    baseline = rows[0].total
    head = (
        "| client | requests | responses | sent (B) | received (B) | total (B) | saved "
        "| stale |" + (" versions seen |" if versions else "") + f" time (ms/{unit}) |"
    )
    lines = [
        head,
        "|---|---:|---|---:|---:|---:|---:|---:|" + ("---:|" if versions else "") + "---:|",
    ]
    for row in rows:
        seen = f" {row.versions} of {versions} |" if versions else ""
        lines.append(
            f"| {row.name} | {row.requests} | {row.statuses} | {row.sent:,} | {row.received:,} "
            f"| {row.total:,} | {1 - row.total / baseline:.1%} | {row.stale} |{seen} "
            f"{row.seconds_per_fetch * 1000:.2f} |"
        )
    return lines


ROUNDS = 3


def _rounds(trace: Callable[[Contender], Row], contenders: list[Contender]) -> list[Row]:
    """Each contender's trace ``ROUNDS`` times, interleaved; its counts (the same every round,
    checked) with the median time, so one noisy moment on a shared machine does not decide."""
    runs: list[list[Row]] = [[] for _ in contenders]
    for _ in range(ROUNDS):
        for index, contender in enumerate(contenders):
            runs[index].append(trace(contender))
    rows = []
    for results in runs:
        first = results[0]
        assert all(
            r._replace(seconds_per_fetch=0) == first._replace(seconds_per_fetch=0) for r in results
        ), f"{first.name}: counts differ between rounds"
        times = sorted(r.seconds_per_fetch for r in results)
        rows.append(first._replace(seconds_per_fetch=times[len(times) // 2]))
    return rows


def _browsing_reading(rows: list[Row]) -> list[str]:
    """What the browsing table says, from its own figures."""
    ours = next(row for row in rows if row.name == "ifmatch `CachingTransport`, memory")
    correct = [row for row in rows if row.stale == 0]
    fewest = min(correct, key=lambda row: row.requests)
    cheaper = [row for row in rows if row.requests < ours.requests]
    text = (
        f"Among the contenders that served no stale response, {fewest.name} sent the "
        f"fewest requests ({fewest.requests}); ifmatch's default cache sent "
        f"{ours.requests}, with {ours.stale} stale."
    )
    if cheaper:
        names = ", ".join(
            f"{row.name} ({row.requests} requests, {row.stale} stale)" for row in cheaper
        )
        text += (
            f"  Fewer requests than ifmatch's default: {names}. They reuse the banner, which "
            "has only Last-Modified, by heuristic freshness (RFC 9111 §4.2.2: a tenth of its "
            "age, here hours) and so keep showing the old banner after it changes at minute "
            "5. ifmatch leaves heuristic freshness off unless asked (`heuristic=Heuristic()`, "
            "a row of its own above, which then behaves like them); every other request the "
            "caches send is the same: the `no-cache` page and user document, and each feed "
            "once its `max-age` ran out."
        )
    return [text]


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="ifmatch-bench-") as tmp:
        directory = Path(tmp)
        redis = _redis_storage()
        contenders = _contenders(directory, redis)
        site = Origin(_site())
        with _serve(site) as port, _Relay(port) as relay:
            base = f"http://127.0.0.1:{relay.port}"
            _browse(contenders[1], site, relay, base)  # warm-up (imports, first connections)
            browsing = _rounds(lambda c: _browse(c, site, relay, base), contenders)
        polled = Origin([_poll_resource()], by_request=True)
        with _serve(polled) as port, _Relay(port) as relay:
            base = f"http://127.0.0.1:{relay.port}"
            polling = _rounds(lambda c: _poll(c, polled, relay, base), contenders)
            polling.insert(len(contenders), _poll_function(polled, relay, base))
        if redis is not None:
            redis.clear()
            redis.close()
    fetches = VIEWS * len(site.resources)
    lines = [
        "## Client caches: browsing and polling (`bench/bench_client.py`)",
        "",
        __doc__.split("\n\n", 1)[1].strip() if __doc__ else "",
        "",
        f"### Browsing: {VIEWS} views of a page and its {len(site.resources) - 1} assets "
        f"({fetches} fetches) over a simulated {VIEWS * VIEW_EVERY / 60:.0f} minutes",
        "",
        *_table(browsing, "fetch"),
        "",
        *_browsing_reading(browsing),
        "",
        f"### Polling: {POLLS} polls of a 50 KB `no-cache` resource, 10 changes",
        "",
        *_table(polling, "poll", versions=1 + len(CHANGES_BEFORE)),
    ]
    if redis is None:
        lines += [
            "",
            "No Redis row: redis-py is not installed or no server answers on 127.0.0.1:6379.",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
