"""One table of RFC 9111 / RFC 5861 rules, each row citing its section, run against the sync
and async transports, on every storage (memory, SQLite, Redis), on httpx and on httpx2.

A row is a list of steps on a simulated clock: the request, what the origin answers if it is
asked (an empty list: it must not be asked), and what the application must get (status,
body, the cache's label, header values).  Time is simulated, never slept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest

from ifmatch import format_http_date
from ifmatch.client import (
    AsyncCachingTransport,
    CachingTransport,
    Heuristic,
    MemoryStorage,
    RedisStorage,
    SQLiteStorage,
    cache_status,
    was_revalidated,
)
from tests.client.redis_server import redis_url, unique_prefix

URL = "http://example.test/page"
OTHER = "http://example.test/other"
ELSEWHERE = "http://elsewhere.test/other"


class Clock:
    """Simulated seconds since the epoch, starting now (storages compare against real time)."""

    def __init__(self) -> None:
        import time

        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Origin:
    """What the origin answers: status, headers (Date is added unless given), body."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    date_offset: float = 0.0
    error: bool = False  # the connection fails instead

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        *,
        date_offset: float = 0.0,
        error: bool = False,
        **headers: str,
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "date_offset", date_offset)
        object.__setattr__(self, "error", error)
        object.__setattr__(
            self,
            "headers",
            tuple((name.replace("_", "-"), value) for name, value in headers.items()),
        )


@dataclass(frozen=True)
class Step:
    """One request; ``origin`` lists the answers it may draw (empty: origin not asked)."""

    origin: tuple[Origin, ...] = ()
    advance: float = 0.0
    method: str = "GET"
    url: str = URL
    request: tuple[tuple[str, str], ...] = ()
    status: int | None = None
    body: bytes | None = None
    label: str | None = None
    headers: dict[str, str | None] = field(default_factory=dict)
    sent: dict[str, str | None] = field(default_factory=dict)
    settle: bool = False  # wait for background revalidation before the next step


def get(
    *origin: Origin, advance: float = 0.0, request: dict[str, str] | None = None, **expect: Any
) -> Step:
    return Step(
        origin=tuple(origin), advance=advance, request=tuple((request or {}).items()), **expect
    )


@dataclass(frozen=True)
class Row:
    section: str
    steps: tuple[Step, ...]
    options: dict[str, Any] = field(default_factory=dict)


def row(section: str, *steps: Step, **options: Any) -> Any:
    return pytest.param(Row(section, steps, options), id=section)


HOUR = "max-age=3600"
A = '"a"'
B = '"b"'

ROWS = [
    # -- §4.2.1 freshness lifetime ------------------------------------------------------------
    row(
        "§4.2.1 max-age: a fresh response is reused without a request",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A), label="miss; stored"),
        get(advance=10, body=b"one", label="hit; fresh", headers={"age": "10"}),
    ),
    row(
        "§1.2.2 max-age=003600: leading zeros are a valid delta-seconds",
        get(Origin(200, b"one", Cache_Control="max-age=003600")),
        get(advance=3000, body=b"one", label="hit; fresh"),
    ),
    row(
        "§1.2.2 a delta-seconds too large to represent is 2^31",
        get(Origin(200, b"one", Cache_Control="max-age=99999999999999999999")),
        get(advance=10**9, body=b"one", label="hit; fresh"),
    ),
    row(
        "§4.2.1 stale once max-age has passed: revalidated with If-None-Match",
        get(Origin(200, b"one", Cache_Control="max-age=10", ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=20,
            body=b"one",
            label="revalidated",
            sent={"if-none-match": A},
        ),
    ),
    row(
        "§4.2.1 Expires minus Date is the lifetime",
        get(Origin(200, b"one", Expires="+100", ETag=A)),
        get(advance=50, body=b"one", label="hit; fresh"),
        get(Origin(304, ETag=A), advance=60, body=b"one", label="revalidated"),
    ),
    row(
        "§4.2.1 max-age wins over Expires",
        get(Origin(200, b"one", Cache_Control="max-age=100", Expires="-100")),
        get(advance=50, body=b"one", label="hit; fresh"),
    ),
    row(
        "§5.3 an invalid Expires (0) means already expired",
        get(Origin(200, b"one", Expires="0", ETag=A)),
        get(Origin(304, ETag=A), advance=1, body=b"one", label="revalidated"),
    ),
    row(
        "§4.2.1 s-maxage is for shared caches: ignored",
        get(Origin(200, b"one", Cache_Control="s-maxage=3600", ETag=A)),
        get(Origin(304, ETag=A), advance=1, label="revalidated"),
    ),
    # -- §4.2.3 age -----------------------------------------------------------------------------
    row(
        "§4.2.3 Age from upstream counts toward the age",
        get(Origin(200, b"one", Cache_Control="max-age=100", Age="90", ETag=A)),
        get(Origin(304, ETag=A), advance=20, label="revalidated"),
    ),
    row(
        "§5.1 a list in Age: the first member counts",
        get(Origin(200, b"one", Cache_Control="max-age=100", Age="90, 5", ETag=A)),
        get(Origin(304, ETag=A), advance=20, label="revalidated"),
    ),
    row(
        "§5.1 an invalid Age is ignored",
        get(Origin(200, b"one", Cache_Control="max-age=100", Age="ninety", ETag=A)),
        get(advance=20, label="hit; fresh", headers={"age": "20"}),
    ),
    row(
        "§4.2.3 a Date in the past is apparent age",
        get(Origin(200, b"one", Cache_Control="max-age=100", ETag=A, date_offset=-90)),
        get(Origin(304, ETag=A), advance=20, label="revalidated"),
    ),
    row(
        "§4.2.3 after a 304 the age counts from the 304, not the first response's Age",
        get(Origin(200, b"one", Cache_Control="max-age=100", Age="90", ETag=A)),
        get(Origin(304, ETag=A), advance=20, label="revalidated"),
        get(advance=20, label="hit; fresh", headers={"age": "20"}),
    ),
    row(
        "§5.1 Age is generated when a stored response is reused",
        get(Origin(200, b"one", Cache_Control=HOUR, Age="5")),
        get(advance=30, headers={"age": "35"}),
    ),
    # -- §4.2.2 heuristic freshness -----------------------------------------------------------
    row(
        "§4.2.2 heuristic freshness is off by default: Last-Modified alone revalidates",
        get(Origin(200, b"one", Last_Modified="-86400")),
        get(Origin(304), advance=10, label="revalidated", sent={"if-modified-since": "lm"}),
    ),
    row(
        "§4.2.2 heuristic freshness when enabled: 10 % of the time since Last-Modified",
        get(Origin(200, b"one", Last_Modified="-10000")),
        get(advance=500, label="hit; fresh"),
        get(Origin(304), advance=600, label="revalidated"),
        heuristic=Heuristic(0.1, 3600),
    ),
    row(
        "§4.2.2 no heuristic freshness for a status not heuristically cacheable",
        get(Origin(302, b"", Last_Modified="-10000", Location="/x")),
        get(Origin(302, b"", Location="/x"), advance=10, label="miss"),
        heuristic=Heuristic(0.1, 3600),
    ),
    # -- §5.2.2 response directives ---------------------------------------------------------
    row(
        "§5.2.2.4 no-cache: stored, but revalidated before every reuse",
        get(Origin(200, b"one", Cache_Control="no-cache, max-age=3600", ETag=A)),
        get(Origin(304, ETag=A), advance=1, body=b"one", label="revalidated"),
    ),
    row(
        "§5.2.2.5 no-store: never stored",
        get(Origin(200, b"one", Cache_Control="no-store, max-age=3600", ETag=A)),
        get(
            Origin(200, b"two", Cache_Control=HOUR),
            advance=1,
            body=b"two",
            sent={"if-none-match": None},
        ),
    ),
    row(
        "§5.2.2.5 a later no-store response replaces the stored one, which is not reused",
        get(Origin(200, b"one", Cache_Control="max-age=0", ETag=A)),
        get(Origin(200, b"two", Cache_Control="no-store"), advance=1, body=b"two"),
        get(Origin(200, b"three"), advance=1, body=b"three", sent={"if-none-match": None}),
    ),
    row(
        "§5.2.2.2 must-revalidate: not served stale even when max-stale allows",
        get(Origin(200, b"one", Cache_Control="max-age=10, must-revalidate", ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=20,
            request={"Cache-Control": "max-stale=100"},
            label="revalidated",
        ),
    ),
    row(
        "§5.2.2.8 proxy-revalidate is for shared caches: stale may be served with max-stale",
        get(Origin(200, b"one", Cache_Control="max-age=10, proxy-revalidate", ETag=A)),
        get(
            advance=20,
            request={"Cache-Control": "max-stale=100"},
            body=b"one",
            label="stale; reason=max-stale",
        ),
    ),
    row(
        "§5.2.2.7 private: fine for a private cache",
        get(Origin(200, b"one", Cache_Control="private, max-age=3600")),
        get(advance=1, body=b"one", label="hit; fresh"),
    ),
    # -- §5.2.1 request directives -------------------------------------------------------------
    row(
        "§5.2.1.1 request max-age: an older stored response is revalidated",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=10,
            request={"Cache-Control": "max-age=5"},
            label="revalidated",
        ),
    ),
    row(
        "§5.2.1.2 max-stale: a stale response within the limit is served",
        get(Origin(200, b"one", Cache_Control="max-age=10", ETag=A)),
        get(
            advance=50,
            request={"Cache-Control": "max-stale=100"},
            body=b"one",
            label="stale; reason=max-stale",
            headers={"age": "50"},
        ),
    ),
    row(
        "§5.2.1.2 max-stale: beyond the limit it is revalidated",
        get(Origin(200, b"one", Cache_Control="max-age=10", ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=50,
            request={"Cache-Control": "max-stale=10"},
            label="revalidated",
        ),
    ),
    row(
        "§5.2.1.3 min-fresh: not fresh enough for the client is revalidated",
        get(Origin(200, b"one", Cache_Control="max-age=100", ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=50,
            request={"Cache-Control": "min-fresh=60"},
            label="revalidated",
        ),
    ),
    row(
        "§5.2.1.4 request no-cache: revalidated even when fresh",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        get(
            Origin(304, ETag=A),
            advance=1,
            request={"Cache-Control": "no-cache"},
            label="revalidated",
        ),
    ),
    row(
        "§5.4 Pragma: no-cache without Cache-Control is request no-cache",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        get(Origin(304, ETag=A), advance=1, request={"Pragma": "no-cache"}, label="revalidated"),
    ),
    row(
        "§5.2.1.5 request no-store: the response is not stored",
        get(Origin(200, b"one", Cache_Control=HOUR), request={"Cache-Control": "no-store"}),
        get(Origin(200, b"two", Cache_Control=HOUR), advance=1, body=b"two"),
    ),
    row(
        "§5.2.1.7 only-if-cached with nothing stored: 504, the origin is not asked",
        get(request={"Cache-Control": "only-if-cached"}, status=504, label="miss; only-if-cached"),
    ),
    row(
        "§5.2.1.7 only-if-cached with a fresh response: reused",
        get(Origin(200, b"one", Cache_Control=HOUR)),
        get(
            advance=5, request={"Cache-Control": "only-if-cached"}, body=b"one", label="hit; fresh"
        ),
    ),
    row(
        "§5.2.1.7 only-if-cached with only a stale response: 504",
        get(Origin(200, b"one", Cache_Control="max-age=10", ETag=A)),
        get(advance=50, request={"Cache-Control": "only-if-cached"}, status=504),
    ),
    # -- §4.1 Vary ------------------------------------------------------------------------------
    row(
        "§4.1 Vary: each variant is stored and reused for its own request",
        get(
            Origin(200, b"hello", Cache_Control=HOUR, Vary="Accept-Language"),
            request={"Accept-Language": "en"},
        ),
        get(
            Origin(200, b"bonjour", Cache_Control=HOUR, Vary="Accept-Language"),
            request={"Accept-Language": "fr"},
            body=b"bonjour",
        ),
        get(advance=1, request={"Accept-Language": "en"}, body=b"hello", label="hit; fresh"),
        get(advance=1, request={"Accept-Language": "fr"}, body=b"bonjour", label="hit; fresh"),
    ),
    row(
        "§4.1 Vary: a request with another value is a miss",
        get(
            Origin(200, b"hello", Cache_Control=HOUR, Vary="Accept-Language"),
            request={"Accept-Language": "en"},
        ),
        get(
            Origin(200, b"hallo", Cache_Control=HOUR, Vary="Accept-Language"),
            request={"Accept-Language": "de"},
            body=b"hallo",
            label="miss; stored",
        ),
    ),
    row(
        "§4.1 Vary: * never matches",
        get(Origin(200, b"one", Cache_Control=HOUR, Vary="*")),
        get(Origin(200, b"two", Cache_Control=HOUR, Vary="*"), advance=1, body=b"two"),
    ),
    # -- §4.4 invalidation ---------------------------------------------------------------------
    row(
        "§4.4 a successful POST invalidates the target URI",
        get(Origin(200, b"one", Cache_Control=HOUR)),
        Step(method="POST", origin=(Origin(200, b"posted"),)),
        get(Origin(200, b"two", Cache_Control=HOUR), body=b"two"),
    ),
    row(
        "§4.4 an error response to an unsafe method does not invalidate",
        get(Origin(200, b"one", Cache_Control=HOUR)),
        Step(method="PUT", origin=(Origin(412),)),
        get(body=b"one", label="hit; fresh"),
    ),
    row(
        "§4.4 the same-origin Location of a successful PUT is invalidated",
        get(Origin(200, b"other", Cache_Control=HOUR), url=OTHER),
        Step(method="PUT", origin=(Origin(201, Location="/other"),)),
        get(Origin(200, b"other 2", Cache_Control=HOUR), url=OTHER, body=b"other 2"),
    ),
    row(
        "§4.4 the same-origin Content-Location of a successful PATCH is invalidated",
        get(Origin(200, b"other", Cache_Control=HOUR), url=OTHER),
        Step(method="PATCH", origin=(Origin(200, Content_Location=OTHER),)),
        get(Origin(200, b"other 2", Cache_Control=HOUR), url=OTHER, body=b"other 2"),
    ),
    row(
        "§4.4 a Location on another origin is not invalidated",
        get(Origin(200, b"there", Cache_Control=HOUR), url=ELSEWHERE),
        Step(method="POST", origin=(Origin(201, Location=ELSEWHERE),)),
        get(url=ELSEWHERE, body=b"there", label="hit; fresh"),
    ),
    # -- §4.3 validation -------------------------------------------------------------------------
    row(
        "§4.3.4 a 304 updates the stored headers, never Content-Length",
        get(Origin(200, b"one", Cache_Control="max-age=0", ETag=A, X_Version="1")),
        get(
            Origin(304, ETag=A, X_Version="2", Cache_Control=HOUR, Content_Length="0"),
            advance=1,
            body=b"one",
            label="revalidated",
            headers={"x-version": "2", "content-length": "3"},
        ),
        get(advance=1, body=b"one", label="hit; fresh", headers={"x-version": "2"}),
    ),
    row(
        "§4.3.1 Last-Modified alone: revalidated with If-Modified-Since",
        get(Origin(200, b"one", Cache_Control="max-age=0", Last_Modified="-1000")),
        get(
            Origin(304),
            advance=1,
            label="revalidated",
            sent={"if-modified-since": "lm", "if-none-match": None},
        ),
    ),
    row(
        "§4.3.3 a 304 naming another ETag: asked again without validators",
        get(Origin(200, b"one", Cache_Control="max-age=0", ETag=A)),
        get(
            Origin(304, ETag=B),
            Origin(200, b"two", Cache_Control="max-age=0", ETag=B),
            advance=1,
            body=b"two",
            label="miss; stored",
            sent={"if-none-match": None},
        ),
    ),
    row(
        "§4.3.3 a 200 to the revalidation replaces the stored response",
        get(Origin(200, b"one", Cache_Control="max-age=0", ETag=A)),
        get(Origin(200, b"two", Cache_Control="max-age=0", ETag=B), advance=1, body=b"two"),
        get(Origin(304, ETag=B), advance=1, body=b"two", sent={"if-none-match": B}),
    ),
    row(
        "§4.3.2 the application's own If-None-Match matching a fresh response: 304 from cache",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        get(
            advance=1,
            request={"If-None-Match": A},
            status=304,
            body=b"",
            label="hit; fresh; not-modified",
        ),
    ),
    row(
        "§4.3.5 a HEAD response updates the stored headers, never Content-Length",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A, X_Version="1")),
        Step(method="HEAD", origin=(Origin(200, ETag=A, X_Version="2", Content_Length="99"),)),
        get(
            advance=1,
            body=b"one",
            label="hit; fresh",
            headers={"x-version": "2", "content-length": "3"},
        ),
    ),
    row(
        "§4.3.5 a HEAD response with another validator makes the stored one go",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        Step(method="HEAD", origin=(Origin(200, ETag=B),)),
        get(Origin(200, b"two", Cache_Control=HOUR, ETag=B), body=b"two"),
    ),
    # -- §3.1 what is stored -------------------------------------------------------------------
    row(
        "§3.1 hop-by-hop and Connection-listed fields are not stored",
        get(
            Origin(
                200,
                b"one",
                Cache_Control=HOUR,
                Connection="x-secret",
                X_Secret="1",
                Keep_Alive="timeout=5",
                X_Kept="1",
            )
        ),
        get(
            advance=1,
            label="hit; fresh",
            headers={"x-secret": None, "keep-alive": None, "x-kept": "1"},
        ),
    ),
    row(
        "§3 a final status with explicit freshness is stored even if not understood",
        get(Origin(299, b"one", Cache_Control=HOUR)),
        get(advance=1, status=299, body=b"one", label="hit; fresh"),
    ),
    row(
        "§5.2.2.3 must-understand: an unknown status is not stored",
        get(Origin(599, b"one", Cache_Control="max-age=3600, no-store, must-understand")),
        get(Origin(599, b"two"), advance=1, body=b"two"),
    ),
    row(
        "§5.2.2.3 must-understand with a known status: no-store is ignored",
        get(Origin(200, b"one", Cache_Control="max-age=3600, no-store, must-understand")),
        get(advance=1, body=b"one", label="hit; fresh"),
    ),
    row(
        "§3 a 206 is not stored (partial content is not combined)",
        get(Origin(206, b"on", Cache_Control=HOUR, Content_Range="bytes 0-1/3")),
        get(Origin(200, b"one", Cache_Control=HOUR), advance=1, body=b"one"),
    ),
    row(
        "§3 a 404 with max-age is stored and reused",
        get(Origin(404, b"gone", Cache_Control=HOUR)),
        get(advance=1, status=404, body=b"gone", label="hit; fresh"),
    ),
    # -- RFC 5861 ------------------------------------------------------------------------------
    row(
        "RFC 5861 §3 stale-while-revalidate: served stale at once, revalidated behind",
        get(Origin(200, b"one", Cache_Control="max-age=10, stale-while-revalidate=100", ETag=A)),
        get(
            Origin(304, ETag=A, Cache_Control="max-age=10, stale-while-revalidate=100"),
            advance=20,
            body=b"one",
            label="stale; reason=stale-while-revalidate",
            settle=True,
        ),
        get(advance=1, body=b"one", label="hit; fresh"),
    ),
    row(
        "RFC 5861 §3 stale-while-revalidate: beyond the window it is revalidated first",
        get(Origin(200, b"one", Cache_Control="max-age=10, stale-while-revalidate=5", ETag=A)),
        get(Origin(304, ETag=A), advance=20, label="revalidated"),
    ),
    row(
        "RFC 5861 §4 stale-if-error: a 5xx within the window serves the stale response",
        get(Origin(200, b"one", Cache_Control="max-age=10, stale-if-error=100", ETag=A)),
        get(
            Origin(503, b"down"),
            advance=20,
            status=200,
            body=b"one",
            label="stale; reason=stale-if-error",
        ),
    ),
    row(
        "RFC 5861 §4 stale-if-error: an unreachable origin within the window",
        get(Origin(200, b"one", Cache_Control="max-age=10, stale-if-error=100")),
        get(Origin(error=True), advance=20, body=b"one", label="stale; reason=stale-if-error"),
    ),
    row(
        "RFC 5861 §4 stale-if-error: beyond the window the error is passed on",
        get(Origin(200, b"one", Cache_Control="max-age=10, stale-if-error=100", ETag=A)),
        get(Origin(503, b"down"), advance=200, status=503, body=b"down"),
    ),
    row(
        "RFC 5861 §4 stale-if-error in the request",
        get(Origin(200, b"one", Cache_Control="max-age=10", ETag=A)),
        get(
            Origin(500, b"down"),
            advance=20,
            request={"Cache-Control": "stale-if-error=60"},
            body=b"one",
            label="stale; reason=stale-if-error",
        ),
    ),
    row(
        "§4.2.4 must-revalidate forbids stale-if-error",
        get(
            Origin(
                200, b"one", Cache_Control="max-age=10, must-revalidate, stale-if-error=99", ETag=A
            )
        ),
        get(Origin(503, b"down"), advance=20, status=503, body=b"down"),
    ),
    # -- the always-revalidate option ----------------------------------------------------------
    row(
        "always_revalidate=True: even a fresh response is confirmed with the origin",
        get(Origin(200, b"one", Cache_Control=HOUR, ETag=A)),
        get(Origin(304, ETag=A), advance=1, body=b"one", label="revalidated"),
        always_revalidate=True,
    ),
    row(
        "always_revalidate=True: stale-if-error never shows stale data",
        get(Origin(200, b"one", Cache_Control="max-age=0, stale-if-error=100", ETag=A)),
        get(Origin(503, b"down"), advance=1, status=503),
        always_revalidate=True,
    ),
]


# -- running a row ---------------------------------------------------------------------------


class ScriptedOrigin:
    """The origin: answers each request from the step's list, recording what was sent."""

    def __init__(self, lib: Any, clock: Clock) -> None:
        self.lib, self.clock = lib, clock
        self.queue: list[Origin] = []
        self.seen: list[Any] = []

    def answer(self, request: Any) -> Any:
        self.seen.append(request)
        if not self.queue:
            raise AssertionError(
                f"the origin was asked, unexpectedly: {request.method} "
                f"{request.url} {dict(request.headers)}"
            )
        spec = self.queue.pop(0)
        if spec.error:
            raise self.lib.ConnectError("origin down", request=request)
        headers = [
            (n, self._time(v) if n.lower() in {"expires", "last-modified"} else v)
            for n, v in spec.headers
        ]
        if not any(n.lower() == "date" for n, _ in headers):
            headers.append(("Date", format_http_date(self.clock.now + spec.date_offset)))
        return self.lib.Response(spec.status, headers=headers, content=spec.body)

    def _time(self, value: str) -> str:
        """``+100`` / ``-100``: that many seconds from the simulated now, as an HTTP-date."""
        if value[:1] in "+-" and value[1:].isdigit():
            return format_http_date(self.clock.now + int(value))
        return value


@pytest.fixture(scope="module")
def redis_base() -> Iterator[str]:
    with redis_url() as url:
        yield url


def _storage(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "memory":
        return MemoryStorage()
    if kind == "sqlite":
        storage = SQLiteStorage(tmp_path / f"{uuid.uuid4().hex}.sqlite")
        request.addfinalizer(storage.close)
        return storage
    redis_storage = RedisStorage(request.getfixturevalue("redis_base"), prefix=unique_prefix())
    request.addfinalizer(redis_storage.clear)
    return redis_storage


COMBOS = [
    pytest.param(("sync", "memory", "httpx"), id="sync-memory"),
    pytest.param(("sync", "sqlite", "httpx"), id="sync-sqlite"),
    pytest.param(("sync", "redis", "httpx"), id="sync-redis"),
    pytest.param(("async", "memory", "httpx"), id="async-memory"),
    pytest.param(("async", "sqlite", "httpx"), id="async-sqlite"),
    pytest.param(("async", "redis", "httpx"), id="async-redis"),
    pytest.param(("sync", "memory", "httpx2"), id="sync-memory-httpx2"),
    pytest.param(("async", "sqlite", "httpx2"), id="async-sqlite-httpx2"),
]


def _check(step: Step, response: Any, sent: Any | None) -> None:
    if step.status is not None:
        assert response.status_code == step.status
    if step.body is not None:
        assert response.content == step.body
    if step.label is not None:
        assert cache_status(response) == step.label
        assert was_revalidated(response) is (step.label == "revalidated")
    for name, value in step.headers.items():
        assert response.headers.get(name) == value, name
    for name, value in step.sent.items():
        assert sent is not None, "the origin was not asked"
        if value == "lm":  # any valid date taken from the stored Last-Modified
            assert sent.headers.get(name)
        else:
            assert sent.headers.get(name) == value, name


@pytest.mark.parametrize("combo", COMBOS)
@pytest.mark.parametrize("case", ROWS)
def test_rfc9111(
    case: Row, combo: tuple[str, str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    mode, kind, lib_name = combo
    lib: Any = httpx if lib_name == "httpx" else httpx2
    clock = Clock()
    origin = ScriptedOrigin(lib, clock)
    storage = _storage(kind, tmp_path, request)
    mock = lib.MockTransport(origin.answer)
    if mode == "sync":
        _run_sync(case, lib, mock, storage, clock, origin)
    else:
        asyncio.run(_run_async(case, lib, mock, storage, clock, origin))


def _prepare(step: Step, clock: Clock, origin: ScriptedOrigin) -> int:
    clock.now += step.advance
    origin.queue = list(step.origin)
    return len(origin.seen)


def _finish(step: Step, origin: ScriptedOrigin, before: int, response: Any) -> None:
    assert origin.queue == [], f"the origin was not asked as expected: {origin.queue}"
    sent = origin.seen[-1] if len(origin.seen) > before else None
    if not step.origin:
        assert sent is None
    _check(step, response, sent)


def _run_sync(
    case: Row, lib: Any, mock: Any, storage: Any, clock: Clock, origin: ScriptedOrigin
) -> None:
    transport = CachingTransport(mock, storage, clock=clock, **case.options)
    with lib.Client(transport=transport) as client:
        for step in case.steps:
            before = _prepare(step, clock, origin)
            response = client.request(step.method, step.url, headers=list(step.request))
            response.read()
            if step.settle:
                transport.join()
            _finish(step, origin, before, response)


async def _run_async(
    case: Row, lib: Any, mock: Any, storage: Any, clock: Clock, origin: ScriptedOrigin
) -> None:
    transport = AsyncCachingTransport(mock, storage, clock=clock, **case.options)
    try:
        async with lib.AsyncClient(transport=transport) as client:
            for step in case.steps:
                before = _prepare(step, clock, origin)
                response = await client.request(step.method, step.url, headers=list(step.request))
                await response.aread()
                if step.settle:
                    await transport.join()
                _finish(step, origin, before, response)
    finally:
        if isinstance(storage, RedisStorage):
            await storage.aclose()


def test_every_row_cites_its_section() -> None:
    for param in ROWS:
        section = param.values[0].section
        assert section.startswith(("§", "RFC 5861", "always_revalidate")), section


_: Callable[..., Any] = get  # the table's helper, kept public for readers of the rows
