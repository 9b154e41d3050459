"""Microseconds per precondition evaluation: ifmatch vs Werkzeug vs Django, in one run.

The request is a typical revalidating GET: eight ordinary headers plus
``If-None-Match`` and ``If-Modified-Since``.  Each implementation gets the
equivalent input it documents:

* ifmatch: ``evaluate("GET", Conditions.from_headers(headers), Resource(ETag(...), lm))``
  from a plain header dict, building the validator objects inside the loop;
* Werkzeug: ``is_resource_modified(environ, etag=..., last_modified=datetime)``;
* Django: ``get_conditional_response(request, etag=..., last_modified=int)``
  on an ``HttpRequest`` built once by ``RequestFactory``.  On the 304 path
  Django also builds an ``HttpResponseNotModified``: that is part of what the
  function does, so it is part of its time.

Each cell is the median CPU time of several interleaved ``timeit`` repeats, in
microseconds per call.
"""

from __future__ import annotations

import statistics
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ifmatch import Conditions, ETag, Resource, evaluate, format_http_date

OPAQUE = "33a64df551425fcc55e4d42a148795d9"
LAST_MODIFIED = datetime(2026, 2, 26, 10, 30, 0, 123_000, tzinfo=UTC)
LM_TEXT = format_http_date(LAST_MODIFIED)
OLDER_TEXT = format_http_date(LAST_MODIFIED.timestamp() - 3600)
COMMON = {
    "Host": "api.example.com",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/130.0",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate, br",
    "Accept-Language": "en-GB,en;q=0.8",
    "Connection": "keep-alive",
    "Cookie": "session=0123456789abcdef",
    "Cache-Control": "max-age=0",
}
CASES: list[tuple[str, dict[str, str], int]] = [
    (
        "INM + IMS, tag matches (304)",
        {"If-None-Match": f'"{OPAQUE}"', "If-Modified-Since": LM_TEXT},
        304,
    ),
    (
        "INM + IMS, tag differs (200)",
        {"If-None-Match": '"0ld"', "If-Modified-Since": OLDER_TEXT},
        200,
    ),
    ("IMS only, not modified (304)", {"If-Modified-Since": LM_TEXT}, 304),
]
REPEATS = 9
TARGET_SECONDS = 0.05  # per implementation and repeat


def _ifmatch(headers: dict[str, str]) -> Callable[[], int]:
    def call() -> int:
        resource = Resource(ETag(OPAQUE), LAST_MODIFIED)
        decision = evaluate("GET", Conditions.from_headers(headers), resource)
        return decision.status or 200

    return call


def _werkzeug(headers: dict[str, str]) -> Callable[[], int]:
    from werkzeug.http import is_resource_modified

    environ = {"REQUEST_METHOD": "GET", "wsgi.url_scheme": "https", "PATH_INFO": "/doc"}
    environ.update({"HTTP_" + name.upper().replace("-", "_"): v for name, v in headers.items()})

    def call() -> int:
        modified = is_resource_modified(environ, etag=OPAQUE, last_modified=LAST_MODIFIED)
        return 200 if modified else 304

    return call


def _django(headers: dict[str, str]) -> Callable[[], int]:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(DEBUG=False, ALLOWED_HOSTS=["*"], USE_TZ=True, SECRET_KEY="bench-only")
        django.setup()
    from django.test import RequestFactory
    from django.utils.cache import get_conditional_response

    meta: dict[str, Any] = {
        "HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()
    }
    request = RequestFactory().get("/doc", **meta)
    etag, last_modified = f'"{OPAQUE}"', int(LAST_MODIFIED.timestamp())

    def call() -> int:
        response = get_conditional_response(request, etag=etag, last_modified=last_modified)
        return 200 if response is None else int(response.status_code)

    return call


def _medians(calls: dict[str, Callable[[], int]]) -> dict[str, float]:
    """Median microseconds per call, the implementations interleaved in every repeat.

    Interleaving means a burst of load on a shared machine hits all of them alike, and
    process CPU time (not wall time) leaves out the time other processes hold the CPU.
    """
    timers = {name: timeit.Timer(call, timer=time.process_time) for name, call in calls.items()}
    numbers = {}
    for name, timer in timers.items():
        number, took = timer.autorange()
        numbers[name] = max(1, int(number * TARGET_SECONDS / took))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(REPEATS):
        for name, timer in timers.items():
            samples[name].append(timer.timeit(numbers[name]) / numbers[name] * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def run() -> str:
    from importlib.metadata import version

    import django

    rows = []
    for name, fields, expected in CASES:
        headers = {**COMMON, **fields}
        calls = {
            "ifmatch": _ifmatch(headers),
            "werkzeug": _werkzeug(headers),
            "django": _django(headers),
        }
        for peer, call in calls.items():  # equivalent inputs must give the same answer
            if call() != expected:
                raise AssertionError(f"{peer} answered {call()} for {name!r}, not {expected}")
        times = _medians(calls)
        ours = times["ifmatch"]
        rows.append(
            f"| {name} | {ours:.2f} | {times['werkzeug']:.2f} | {times['django']:.2f}"
            f" | {times['werkzeug'] / ours:.1f}x | {times['django'] / ours:.1f}x |"
        )
    return "\n".join(
        [
            "## Core: precondition evaluation (`bench/bench_core.py`)",
            "",
            "Microseconds per evaluation of a revalidating GET (8 ordinary headers plus",
            "If-None-Match and If-Modified-Since): median CPU time of "
            f"{REPEATS} interleaved `timeit` repeats, all three in one run.",
            "ifmatch: `Conditions.from_headers(dict)` + `Resource(ETag(...), datetime)` +",
            "`evaluate`; Werkzeug "
            f"{version('werkzeug')}: `is_resource_modified(environ, etag, last_modified)`;",
            f"Django {django.__version__}: `get_conditional_response(request, etag, last_modified)`"
            " on a prebuilt",
            "`RequestFactory` request (its 304 path includes building `HttpResponseNotModified`).",
            "Every implementation is checked to give the expected status before timing.",
            "",
            "| case | ifmatch µs | Werkzeug µs | Django µs | vs Werkzeug | vs Django |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


if __name__ == "__main__":
    print(run())
