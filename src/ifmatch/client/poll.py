"""Polling that transfers a representation only when it changed (RFC 9110 §13.1.2, §15.4.5).

``poll(client, url, interval)`` GETs ``url`` every ``interval`` seconds with
``If-None-Match`` (or ``If-Modified-Since`` when the server sends no ETag)
and yields only responses that carry a changed representation: the current
one first, then each change after it.  A 304 costs a status line and a few
headers.  Through a cache that already holds the URL (a revalidated or a
fresh stored 200), the first response is still the current representation
and is yielded: "first" means first for this poll, not first on the wire.
A server that ignores the validators (always 200) still yields only
changes: a 200 with the same ETag, or without validators and the same body,
is not yielded.  ``Retry-After`` on a 429 or 503 stretches the wait.

``max_changes``, ``max_requests`` and ``timeout`` bound the loop (tests,
scripts); without them it runs until the consumer stops iterating.
:func:`poll_flow` is the loop as a flow of steps (:mod:`ifmatch.client._flow`):
:func:`poll` drives it with an ``httpx.Client`` or ``httpx2.Client`` as a
generator, :func:`apoll` with either library's ``AsyncClient`` as an async
generator.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ifmatch.client._flow import Emit, Fetch, Flow, Sleep, arun, run
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag

if TYPE_CHECKING:
    from ifmatch.client.httpx_compat import AsyncClient, Client, Response

_BUSY = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class _Version:
    """What tells one representation of the URL from the next: a validator, else the body."""

    etag: str | None
    last_modified: str | None
    digest: bytes | None

    @classmethod
    def of(cls, response: Response) -> _Version:
        """The version ``response`` (body read) carries; an unreadable validator counts as none."""
        etag = _valid_etag(response.headers.get("etag"))
        modified = _valid_date(response.headers.get("last-modified"))
        digest = None if etag or modified else hashlib.sha256(response.content).digest()
        return cls(etag, modified, digest)

    def same_as(self, other: _Version) -> bool:
        """Whether this is ``other`` again: the ETag decides, else Last-Modified, else the body."""
        if self.etag is not None:
            return self.etag == other.etag
        if self.last_modified is not None:
            return self.last_modified == other.last_modified
        return self.digest == other.digest

    def validators(self) -> dict[str, str]:
        """The request field that asks for anything but this version (§13.1.2, §13.1.3)."""
        if self.etag is not None:
            return {"If-None-Match": self.etag}
        if self.last_modified is not None:
            return {"If-Modified-Since": self.last_modified}
        return {}


@dataclass
class PollState:
    """The loop's bounds, and the version of the last changed representation."""

    interval: float
    max_changes: int | None = None
    max_requests: int | None = None
    timeout: float | None = None
    last: _Version | None = None
    changes: int = 0
    requests: int = 0

    def __post_init__(self) -> None:
        if self.interval < 0:
            raise ValueError("interval must be >= 0")
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Headers for the next request, with the validator of the last change."""
        headers = dict(extra or {})
        if self.last is not None:
            headers.update(self.last.validators())
        self.requests += 1
        return headers

    def observe(self, response: Response) -> bool:
        """Whether ``response`` (body read) is a change to yield; raises for error statuses.

        A 200 that a cache produced (revalidated or fresh) is judged like any
        other: the first one is the current representation, a later one is a
        change only if its validator (or body) differs from the last yielded.
        """
        if response.status_code == 304:
            return False
        if response.status_code in _BUSY:
            return False
        response.raise_for_status()
        version = _Version.of(response)
        same = self.last is not None and version.same_as(self.last)
        self.last = version
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

    def wait(self, response: Response) -> float:
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


def poll_flow(
    url: str,
    interval: float,
    *,
    max_changes: int | None = None,
    max_requests: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Flow[None]:
    """The polling loop as steps: emits each changed representation."""
    state = PollState(interval, max_changes, max_requests, timeout)
    while True:
        response = yield Fetch("GET", url, state.headers(headers))
        if state.observe(response):
            yield Emit(response)
        if state.done():
            return
        yield Sleep(state.wait(response))


def poll(
    client: Client,
    url: str,
    interval: float,
    *,
    max_changes: int | None = None,
    max_requests: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Response]:
    """Yield each changed representation of ``url`` (a generator; see the module doc)."""
    yield from run(
        poll_flow(
            url,
            interval,
            max_changes=max_changes,
            max_requests=max_requests,
            timeout=timeout,
            headers=headers,
        ),
        client,
    )


async def apoll(
    client: AsyncClient,
    url: str,
    interval: float,
    *,
    max_changes: int | None = None,
    max_requests: int | None = None,
    timeout: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> AsyncIterator[Response]:
    """:func:`poll` as an async generator for an ``AsyncClient``."""
    flow = poll_flow(
        url,
        interval,
        max_changes=max_changes,
        max_requests=max_requests,
        timeout=timeout,
        headers=headers,
    )
    async for response in arun(flow, client):
        yield response
