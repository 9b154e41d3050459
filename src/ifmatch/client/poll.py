"""Polling that transfers a representation only when it changed (RFC 9110 §13.1.2, §15.4.5).

``poll(client, url, interval)`` GETs ``url`` every ``interval`` seconds with
``If-None-Match`` (or ``If-Modified-Since`` when the server sends no ETag)
and yields only responses that carry a changed representation: the first
one, then each 200 after it.  A 304 costs a status line and a few headers.
A server that ignores the validators (always 200) still yields only
changes: a 200 with the same ETag, or without validators and the same body,
is not yielded.  ``Retry-After`` on a 429 or 503 stretches the wait.

``max_changes``, ``max_requests`` and ``timeout`` bound the loop (tests,
scripts); without them it runs until the consumer stops iterating.
:func:`apoll` is the same as an async generator; both drive :class:`PollState`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass

import httpx

from ifmatch.client.cache import was_revalidated
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag

_BUSY = frozenset({429, 503})


@dataclass
class PollState:
    """What the last changed representation looked like, and the loop's bounds."""

    interval: float
    max_changes: int | None = None
    max_requests: int | None = None
    timeout: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    digest: bytes | None = None
    changes: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        if self.interval < 0:
            raise ValueError("interval must be >= 0")
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for the next request, with the validator of the last change."""
        headers = dict(extra or {})
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        elif self.last_modified is not None:
            headers["If-Modified-Since"] = self.last_modified
        self.requests += 1
        return headers

    def observe(self, response: httpx.Response) -> bool:
        """Whether ``response`` (body read) is a change to yield; raises for error statuses."""
        if response.status_code == 304 or was_revalidated(response):
            return False
        if response.status_code in _BUSY:
            return False
        response.raise_for_status()
        etag = _valid_etag(response.headers.get("etag"))
        modified = _valid_date(response.headers.get("last-modified"))
        digest = None if etag or modified else hashlib.sha256(response.content).digest()
        same = self.changes > 0 and (
            (etag is not None and etag == self.etag)
            or (etag is None and modified is not None and modified == self.last_modified)
            or (digest is not None and digest == self.digest)
        )
        self.etag, self.last_modified, self.digest = etag, modified, digest
        if same:
            return False
        self.changes += 1
        return True

    def done(self) -> bool:
        """Whether a bound has been reached."""
        return (
            (self.max_changes is not None and self.changes >= self.max_changes)
            or (self.max_requests is not None and self.requests >= self.max_requests)
            or (self.deadline is not None and time.monotonic() >= self.deadline)
        )

    def wait(self, response: httpx.Response) -> float:
        """Seconds to sleep before the next request (Retry-After honoured, deadline kept)."""
        delay = self.interval
        if response.status_code in _BUSY:
            delay = max(delay, _retry_after(response.headers.get("retry-after")))
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - time.monotonic()))
        return delay


def _valid_etag(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ETag.parse(value))
    except HeaderParseError:
        return None


def _valid_date(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_http_date(value)
    except HeaderParseError:
        return None
    return value


def _retry_after(value: str | None) -> float:
    if value is None:
        return 0.0
    if value.strip().isdigit():
        return float(value.strip())
    try:
        moment = parse_http_date(value)
    except HeaderParseError:
        return 0.0
    return max(0.0, moment.timestamp() - time.time())


def poll(
    client: httpx.Client,
    url: str,
    interval: float,
    *,
    max_changes: int | None = None,
    max_requests: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[httpx.Response]:
    """Yield each changed representation of ``url`` (a generator; see the module doc)."""
    state = PollState(interval, max_changes, max_requests, timeout)
    while True:
        response = client.get(url, headers=state.headers(headers))
        if state.observe(response):
            yield response
        if state.done():
            return
        time.sleep(state.wait(response))


async def apoll(
    client: httpx.AsyncClient,
    url: str,
    interval: float,
    *,
    max_changes: int | None = None,
    max_requests: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[httpx.Response]:
    """:func:`poll` as an async generator for ``httpx.AsyncClient``."""
    state = PollState(interval, max_changes, max_requests, timeout)
    while True:
        response = await client.get(url, headers=state.headers(headers))
        if state.observe(response):
            yield response
        if state.done():
            return
        await asyncio.sleep(state.wait(response))
