"""Middleware overhead, 304 vs 200, and ETag hash throughput, in one in-process run.

Every app is called directly (ASGI: a coroutine with a minimal receive/send;
WSGI: a dict environ and a no-op start_response; Django: the middleware
called with a RequestFactory request), so the numbers are the middleware's
cost and nothing of a network or server.  Each figure is the median of
several repeats of many iterations.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

# Short batches, many of them: a burst of load on the shared machine spoils few samples,
# and the median leaves them out.
REPEATS = 25
ITERATIONS = 1000
DOCUMENT = {"items": [{"id": n, "name": f"item {n:03d}", "ok": True} for n in range(23)]}
BODY = json.dumps(DOCUMENT).encode()  # about 1 KB of JSON


#: What a typical client sends besides any precondition (names lower-case, as ASGI has them).
BROWSER_HEADERS = [
    (b"host", b"bench"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"),
    (b"accept", b"application/json"),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"connection", b"keep-alive"),
]


def _interleaved(timers: dict[str, Callable[[int], float]]) -> dict[str, float]:
    """Median over REPEATS of each timer's mean CPU time per call, in microseconds.

    The timers run in turns, so drift hits all alike.  CPU time of this process
    (``time.process_time``), not wall time: the machine is shared, and time spent
    descheduled is not the middleware's.
    """
    samples: dict[str, list[float]] = {name: [] for name in timers}
    for timer in timers.values():
        timer(200)
    for _ in range(REPEATS):
        for name, timer in timers.items():
            samples[name].append(timer(ITERATIONS) / ITERATIONS * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


# --- ASGI -----------------------------------------------------------------------------------


class FloorMiddleware:
    """The least any hashing ETag middleware must do: hold the start, hash, add the header.

    No precondition evaluation, no size limit, no no-store or status rules: a floor to
    read the real middleware's cost against, not something to deploy.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        held: dict[str, Any] = {}

        async def hold(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                held.update(message)
                return
            tag = hashlib.sha256(message.get("body", b"")).hexdigest()[:32]
            held["headers"] = [*held["headers"], (b"etag", f'W/"{tag}"'.encode())]
            await send(held)
            await send(message)

        await self.app(scope, receive, hold)


def _starlette_app(wrap: bool, serialize: bool = False, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from ifmatch.asgi import ConditionalMiddleware

    async def doc(request: Request) -> Response:
        if serialize:
            return JSONResponse(DOCUMENT)
        return Response(BODY, media_type="application/json")

    app = Starlette(routes=[Route("/doc", doc)])
    if options.pop("floor", False):
        app.add_middleware(FloorMiddleware)
    elif wrap:
        app.add_middleware(ConditionalMiddleware, **options)
    return app


def _asgi_timer(app: Any, headers: list[tuple[bytes, bytes]]) -> Callable[[int], float]:
    loop = asyncio.new_event_loop()
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope() -> dict[str, Any]:
        return {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": "/doc", "raw_path": b"/doc", "root_path": "",
            "query_string": b"", "headers": [*BROWSER_HEADERS, *headers],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }

    async def many(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            await app(scope(), receive, send)
        return time.process_time() - started

    def batch(count: int) -> float:
        return loop.run_until_complete(many(count))

    batch.statuses = statuses  # type: ignore[attr-defined]
    return batch


def _etag_of(app: Any) -> bytes:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/doc", "raw_path": b"/doc",
             "root_path": "", "query_string": b"", "headers": [], "scheme": "http",
             "http_version": "1.1", "server": ("bench", 80), "client": ("127.0.0.1", 1)}
    loop = asyncio.new_event_loop()
    loop.run_until_complete(app(scope, receive, send))
    loop.close()
    return dict(sent[0]["headers"])[b"etag"]


def _part_timers() -> dict[str, Callable[[int], float]]:
    """Parts of the ASGI middleware's 200 path timed alone, as it runs them."""
    from operator import itemgetter

    from ifmatch.tagging import PRECONDITION_NAMES, TaggingPolicy

    policy = TaggingPolicy.build()
    exchange = policy.unconditional("GET")
    request = list(BROWSER_HEADERS)
    response = [(b"content-length", b"%d" % len(BODY)), (b"content-type", b"application/json")]
    name = itemgetter(0)

    def timed(part: Callable[[], object]) -> Callable[[int], float]:
        def batch(count: int) -> float:
            started = time.process_time()
            for _ in range(count):
                part()
            return time.process_time() - started

        return batch

    return {
        "hash": timed(lambda: policy.hex_of(BODY)),
        "request scan": timed(lambda: PRECONDITION_NAMES.isdisjoint(map(name, request))),
        "response scan": timed(lambda: exchange.inspect_raw(200, response)),
    }


# --- WSGI -----------------------------------------------------------------------------------


def _flask_app(mode: str) -> Any:
    from flask import Flask, Response, request

    from ifmatch.wsgi import ConditionalMiddleware

    app = Flask("bench")

    @app.get("/doc")
    def doc() -> Response:
        response = Response(BODY, mimetype="application/json")
        if mode == "werkzeug":  # the peer: Werkzeug's own add_etag + make_conditional
            response.add_etag()
            response.make_conditional(request)
        return response

    if mode == "ifmatch":
        app.wsgi_app = ConditionalMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _wsgi_timer(app: Any, headers: dict[str, str]) -> Callable[[int], float]:
    import io

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        return None

    def environ() -> dict[str, Any]:
        env = {
            "REQUEST_METHOD": "GET", "PATH_INFO": "/doc", "SCRIPT_NAME": "", "QUERY_STRING": "",
            "SERVER_NAME": "bench", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "HTTP_HOST": "bench",
        }
        env.update(headers)
        return env

    def batch(count: int) -> float:
        started = time.process_time()
        for _ in range(count):
            result = app(environ(), start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return time.process_time() - started

    return batch


# --- Django ---------------------------------------------------------------------------------


def _django_timers() -> dict[str, Callable[[int], float]]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], USE_TZ=True,
                           INSTALLED_APPS=[], MIDDLEWARE=[], ROOT_URLCONF=__name__)
        django.setup()
    from django.http import HttpRequest, HttpResponse
    from django.middleware.http import ConditionalGetMiddleware
    from django.test import RequestFactory

    from ifmatch.django import ConditionalMiddleware

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(BODY, content_type="application/json")

    factory = RequestFactory()
    chains = {
        "none": view,
        "django": ConditionalGetMiddleware(view),
        "ifmatch": ConditionalMiddleware(view),
    }

    def timer(chain: Callable[[HttpRequest], Any], headers: dict[str, str]) -> Any:
        def batch(count: int) -> float:
            started = time.process_time()
            for _ in range(count):
                chain(factory.get("/doc", headers=headers))
            return time.process_time() - started

        return batch

    tags = {name: chain(factory.get("/doc"))["ETag"] for name, chain in chains.items()
            if name != "none"}
    timers = {f"{name} 200": timer(chain, {}) for name, chain in chains.items()}
    for name, tag in tags.items():
        timers[f"{name} 304"] = timer(chains[name], {"If-None-Match": tag})
    return timers


urlpatterns: list[Any] = []


# --- hashes ---------------------------------------------------------------------------------


def _hash_rate(factory: Callable[[], Any], data: bytes) -> float:
    """GB/s hashing ``data`` whole, median of REPEATS batches."""
    def batch() -> float:
        rounds = 40
        started = time.process_time()
        for _ in range(rounds):
            digest = factory()
            digest.update(data)
            digest.hexdigest()
        return len(data) * rounds / (time.process_time() - started) / 1e9

    batch()
    return statistics.median(batch() for _ in range(REPEATS))


def run() -> str:
    rows: list[tuple[str, str, str]] = []
    json_overhead = 0.0

    wrapped_app = _starlette_app(True)
    tag = _etag_of(wrapped_app)
    not_modified_timer = _asgi_timer(wrapped_app, [(b"if-none-match", tag)])
    asgi = _interleaved({
        "plain": _asgi_timer(_starlette_app(False), []),
        "sha": _asgi_timer(wrapped_app, []),
        "xxh": _asgi_timer(_starlette_app(True, hash="xxh3"), []),
        "floor": _asgi_timer(_starlette_app(True, floor=True), []),
        "304": not_modified_timer,
        "json plain": _asgi_timer(_starlette_app(False, serialize=True), []),
        "json sha": _asgi_timer(_starlette_app(True, serialize=True), []),
        "json xxh": _asgi_timer(_starlette_app(True, serialize=True, hash="xxh3"), []),
        "json floor": _asgi_timer(_starlette_app(True, serialize=True, floor=True), []),
        **_part_timers(),
    })
    assert set(not_modified_timer.statuses) == {304}  # type: ignore[attr-defined]
    plain, wrapped, not_modified = asgi["plain"], asgi["sha"], asgi["304"]

    def pct(value: float, base: float) -> str:
        return f"{(value / base - 1) * 100:+.1f} %"

    def us(value: float) -> str:
        return f"{value:.1f}"

    rows += [
        ("Starlette, bytes body, no middleware (baseline A)", us(plain), "—"),
        ("Starlette, bytes body + ifmatch ASGI, 200 (SHA-256)", us(wrapped), pct(wrapped, plain)),
        ("Starlette, bytes body + ifmatch ASGI, 200 (xxh3)", us(asgi["xxh"]),
         pct(asgi["xxh"], plain)),
        ("Starlette, bytes body + ifmatch ASGI, 304 path", us(not_modified),
         pct(not_modified, plain)),
        ("Starlette, bytes body + floor (hold, SHA-256, add ETag; nothing else)",
         us(asgi["floor"]), pct(asgi["floor"], plain)),
        ("Starlette, JSONResponse(dict), no middleware (baseline B)", us(asgi["json plain"]), "—"),
        ("Starlette, JSONResponse(dict) + ifmatch ASGI, 200 (SHA-256)", us(asgi["json sha"]),
         pct(asgi["json sha"], asgi["json plain"])),
        ("Starlette, JSONResponse(dict) + ifmatch ASGI, 200 (xxh3)", us(asgi["json xxh"]),
         pct(asgi["json xxh"], asgi["json plain"])),
        ("Starlette, JSONResponse(dict) + floor (hold, SHA-256, add ETag; nothing else)",
         us(asgi["json floor"]), pct(asgi["json floor"], asgi["json plain"])),
    ]

    from werkzeug.test import Client

    flask_ours_app = _flask_app("ifmatch")
    flask_tag = Client(flask_ours_app).get("/doc").headers["ETag"]
    flask = _interleaved({
        "plain": _wsgi_timer(_flask_app("none"), {}),
        "ours": _wsgi_timer(flask_ours_app, {}),
        "peer": _wsgi_timer(_flask_app("werkzeug"), {}),
        "304": _wsgi_timer(flask_ours_app, {"HTTP_IF_NONE_MATCH": flask_tag}),
    })
    flask_plain, flask_ours, flask_peer, flask_304 = (
        flask["plain"], flask["ours"], flask["peer"], flask["304"])
    rows += [
        ("Flask, no middleware (baseline)", f"{flask_plain:.1f}", "—"),
        ("Flask + ifmatch WSGI, 200", f"{flask_ours:.1f}", pct(flask_ours, flask_plain)),
        ("Flask + ifmatch WSGI, 304 path", f"{flask_304:.1f}", pct(flask_304, flask_plain)),
        ("Flask + Werkzeug add_etag/make_conditional (peer), 200", f"{flask_peer:.1f}",
         pct(flask_peer, flask_plain)),
    ]

    django = _interleaved(_django_timers())
    rows += [
        ("Django view, no middleware (baseline)", f"{django['none 200']:.1f}", "—"),
        ("Django + ifmatch middleware, 200", f"{django['ifmatch 200']:.1f}",
         pct(django["ifmatch 200"], django["none 200"])),
        ("Django + ifmatch middleware, 304 path", f"{django['ifmatch 304']:.1f}",
         pct(django["ifmatch 304"], django["none 200"])),
        ("Django + ConditionalGetMiddleware (peer), 200", f"{django['django 200']:.1f}",
         pct(django["django 200"], django["none 200"])),
        ("Django + ConditionalGetMiddleware (peer), 304", f"{django['django 304']:.1f}",
         pct(django["django 304"], django["none 200"])),
    ]

    data = os.urandom(1 << 20)
    from ifmatch.tagging import HASHES

    hashes = [
        ("SHA-256 (default, hashlib)", HASHES["sha256"]),
        ("xxh3-128 (`hash=\"xxh3\"`, ifmatch[xxhash])", HASHES["xxh3"]),
        ("BLAKE2b-128 (`hash=\"blake2b\"`)", HASHES["blake2b"]),
        ("MD5 (Django's ConditionalGetMiddleware, peer)", hashlib.md5),
    ]
    hash_rows = [(name, f"{_hash_rate(factory, data):.2f}") for name, factory in hashes]

    overhead = (wrapped / plain - 1) * 100
    json_overhead = (asgi["json sha"] / asgi["json plain"] - 1) * 100
    json_added = asgi["json sha"] - asgi["json plain"]
    dj_none, dj_ours, dj_peer = django["none 200"], django["ifmatch 200"], django["django 200"]
    floor_added = asgi["floor"] - plain
    rules_rest = wrapped - asgi["floor"] - asgi["request scan"] - asgi["response scan"]
    table = "\n".join(f"| {name} | {us} | {delta} |" for name, us, delta in rows)
    hash_table = "\n".join(f"| {name} | {rate} |" for name, rate in hash_rows)
    sha = float(hash_rows[0][1])
    return f"""## Middleware (issue 3)

In-process cost of `ifmatch.asgi.ConditionalMiddleware`, `ifmatch.wsgi.ConditionalMiddleware`
and `ifmatch.django.ConditionalMiddleware` on a GET of a 1 KB JSON document with no validator of
its own (so the middleware hashes the body), against the same app without middleware and
against the peers (Werkzeug's `add_etag` + `make_conditional`, Django's
`ConditionalGetMiddleware`). Apps are called directly (ASGI coroutine with a minimal
receive/send, WSGI with a dict environ, Django middleware with a `RequestFactory` request),
and every request carries six typical browser headers. Each figure is the median CPU time per
request over {REPEATS} repeats of {ITERATIONS} requests; within a group the timers run in
turns (interleaved), so drift on the shared machine hits all rows alike. With and without
rows are the same app, the same harness and the same request, differing only by the
middleware. The 304 rows send back the ETag of the 200.

| Stack | µs per request | vs. baseline |
|---|---:|---:|
{table}

Target: middleware overhead at most +15 % on a 1 KB JSON GET, in-process.
On the endpoint that serializes its JSON per request (baseline B, what a JSON API handler
does), ifmatch's ASGI middleware adds {json_added:.1f} µs: **{json_overhead:+.1f} %**, target
{"met" if json_overhead <= 15 else "NOT met"}.
On a pre-serialized bytes body (baseline A, Starlette's cheapest possible endpoint) it adds
{wrapped - plain:.1f} µs: **{overhead:+.1f} %**, target {"met" if overhead <= 15 else "not met"}
there, and out of reach for any middleware that hashes bodies: the "floor" row (hold the
start, SHA-256 the body, append the header, nothing else) alone costs {floor_added:.1f} µs
({pct(asgi["floor"], plain)}).

Where the {wrapped - plain:.1f} µs go (baseline A, same run; parts timed alone, so
approximate): SHA-256 of the {len(BODY)}-byte body and its hex digits, {asgi["hash"]:.1f} µs;
holding the response start and adding the header, the rest of the floor,
{floor_added - asgi["hash"]:.1f} µs; ifmatch's rules beyond the floor,
{wrapped - asgi["floor"]:.1f} µs, of which the scan of the request for the four precondition
fields (in C, nothing decoded) is {asgi["request scan"]:.2f} µs, the scan of the response head
(status, `Cache-Control: no-store`, the app's own ETag or Last-Modified, Content-Encoding,
event streams, Content-Length against the buffer bound) {asgi["response scan"]:.2f} µs, and the
rest the checks that keep streamed bodies, HEAD, `pathsend` and precondition errors right
({rules_rest:.1f} µs). On a request that does real work (a database query is 100 µs or
more) the middleware is a few percent.

304 path against 200 path (ASGI, same app): the 304 costs {not_modified - wrapped:+.1f} µs of CPU
compared with the 200. An If-None-Match that is exactly the new tag (the usual revalidation)
is matched without parsing; anything else goes through the core's `evaluate()`; the 304's
headers are the core's `not_modified_headers()` choice, remembered per sequence of header
names. The middleware still runs the app, because it needs the body to hash; what the 304
saves is the body on the wire ({len(BODY)} bytes here, the whole representation in general).
Saving the app's work too is the job of the handler-level API (`@preconditions`,
`Preconditions`), which answers the 304 from a version column before the handler runs
(`tests/integrations/test_handler_level.py`).

The WSGI and Django middleware apply the same rules (`ifmatch.tagging`). The WSGI one adds
{flask_ours - flask_plain:.1f} µs to Flask ({pct(flask_ours, flask_plain)}; Werkzeug's own
`add_etag` + `make_conditional` add {flask_peer - flask_plain:.1f} µs); the Django one adds
{dj_ours - dj_none:.1f} µs to a bare Django view ({pct(dj_ours, dj_none)}; Django's
`ConditionalGetMiddleware` adds {dj_peer - dj_none:.1f} µs).

ETag hash throughput on a 1 MiB body (whole-body `update` + `hexdigest`, median of {REPEATS}):

| Hash | GB/s |
|---|---:|
{hash_table}

Target: at least 1 GB/s by default: SHA-256 measured **{sha:.2f} GB/s**
({"met" if sha >= 1 else "NOT met"}; this CPU has the SHA extensions, which hashlib's
OpenSSL uses). SHA-256 stays the default because it needs nothing outside the standard library
and the core is dependency-free; on CPUs without SHA extensions (about 0.4-0.5 GB/s) choose
`hash="xxh3"`.
"""
