"""A revalidating HTTP cache as an httpx transport (RFC 9111, RFC 9110 §13.1.2-§13.1.3).

:class:`CachingTransport` wraps another transport, the way httpx layers its
own (``httpx.Client(transport=CachingTransport(httpx.HTTPTransport()))``),
so it composes with retries, proxies or mocks.  :class:`AsyncCachingTransport`
is the same for ``httpx.AsyncClient``.  Both are driven by the same sans-IO
functions (:func:`plan_request`, :func:`after_response`); only the calls to
the inner transport and the stream wrappers differ.

Policy, chosen for a client that must never show stale data:

* Every GET is sent to the server.  When a response for the URL (and the
  request headers its ``Vary`` names, RFC 9111 §4.1) is stored, the request
  carries ``If-None-Match`` with the stored ETag, or ``If-Modified-Since``
  with the stored Last-Modified when there is no ETag (RFC 9110 §13.1.3).
  A 304 returns the stored body with the stored headers updated from the
  304 (RFC 9111 §4.3.4, §3.2), and :func:`was_revalidated` says so.
* Only a 200 to a GET with a valid validator is stored; ``no-store`` (on
  request or response) and ``Vary: *`` are never stored (RFC 9111 §3,
  §4.1).  The body is stored once the application has read all of it, so
  streaming is not broken; a body cut short is not stored.
* A request that already carries its own conditional or ``Range`` fields is
  passed through untouched: the application is doing its own validation.
* A successful unsafe request (PUT, PATCH, DELETE, POST) invalidates what is
  stored for its URL, its ``Location`` and ``Content-Location`` (§4.4).
* A 304 whose ETag does not match the stored one cannot refer to it: the
  request is repeated once without validators rather than serve a wrong body.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace

import httpx

from ifmatch.client._http import derive, library_of
from ifmatch.client.storage import Entry, MemoryStorage, Storage, VaryValues
from ifmatch.dates import parse_http_date
from ifmatch.errors import HeaderParseError
from ifmatch.etag import ETag

#: ``response.extensions`` key: ``True`` when the body came from the cache after a 304.
REVALIDATED = "ifmatch_revalidated"

_CONDITIONAL = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")
_CONDITIONAL_OR_RANGE = (*_CONDITIONAL, "if-range", "range")
_SAFE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Never stored (RFC 9111 §3.1: hop-by-hop and connection-specific fields).
_UNSTORED = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade",
     "proxy-authenticate", "proxy-authentication-info", "trailer"}
)
#: Never replaced from a 304 (RFC 9111 §3.2): framing, plus Content-Encoding and
#: Content-Range because the stored bytes were encoded as first received.
_NOT_UPDATED = _UNSTORED | {"content-length", "content-encoding", "content-range"}
DEFAULT_MAX_ENTRY_BYTES = 32 * 1024 * 1024


def was_revalidated(response: httpx.Response) -> bool:
    """Whether ``response`` is a stored body the server just confirmed with a 304."""
    return bool(response.extensions.get(REVALIDATED, False))


class Action(enum.Enum):
    """What a transport does with the inner transport's response."""

    FORWARD = "forward"  # hand the response over as it is
    REPLAY = "replay"  # a 304 confirmed the stored entry: answer from the cache
    RETRY = "retry"  # a 304 that cannot refer to the stored entry: ask again, unconditionally
    STORE = "store"  # hand the response over, storing its body once fully read


@dataclass(frozen=True, slots=True)
class Plan:
    """A request as the cache will send it, and what it found in storage."""

    url: str
    request: httpx.Request
    cacheable: bool
    entry: Entry | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The decision after a response: an :class:`Action` and, for REPLAY/STORE, the entry."""

    action: Action
    entry: Entry | None = None
    expected_length: int | None = None


def plan_request(request: httpx.Request, storage: Storage) -> Plan:
    """Find a stored variant for ``request`` and add its validator (RFC 9111 §4.3.1)."""
    url = str(request.url)
    if request.method != "GET" or _has_any(request.headers, _CONDITIONAL_OR_RANGE):
        return Plan(url, request, cacheable=False)
    if "no-store" in _directives(request.headers):
        return Plan(url, request, cacheable=False)
    entry = next(
        (e for e in storage.variants(url) if _vary_values(e.vary, request.headers) == e.vary),
        None,
    )
    if entry is None:
        return Plan(url, request, cacheable=True)
    headers = request.headers.copy()
    etag, last_modified = _validators(httpx.Headers(list(entry.headers)))
    if etag is not None:
        headers["If-None-Match"] = str(etag)
    elif last_modified is not None:
        headers["If-Modified-Since"] = last_modified
    conditional = library_of(request).Request(
        request.method, request.url, headers=headers, extensions=request.extensions
    )
    return Plan(url, conditional, cacheable=True, entry=entry)


def after_response(plan: Plan, request: httpx.Request, response: httpx.Response,
                   storage: Storage, max_entry_bytes: int | None = None) -> Outcome:
    """Decide what to do with ``response`` (headers only; the body is not read here).

    ``max_entry_bytes`` also bounds an entry whose headers a 304 updated, so
    a server cannot grow one entry without limit by adding fields on each 304.
    """
    if request.method not in _SAFE:
        if response.status_code < 400:
            _invalidate(request, response, storage)
        return Outcome(Action.FORWARD)
    if not plan.cacheable:
        return Outcome(Action.FORWARD)
    if response.status_code == 304:
        return _on_not_modified(plan, response, storage, max_entry_bytes)
    if response.status_code != 200:
        if response.status_code in {404, 410}:
            storage.remove(plan.url)
        return Outcome(Action.FORWARD)
    template = _storable(request, response)
    if template is None:
        storage.remove(plan.url, plan.entry.variant if plan.entry else None)
        return Outcome(Action.FORWARD)
    length = response.headers.get("content-length")
    return Outcome(Action.STORE, template, int(length) if length and length.isdigit() else None)


def _on_not_modified(
    plan: Plan, response: httpx.Response, storage: Storage, max_entry_bytes: int | None
) -> Outcome:
    entry = plan.entry
    if entry is None:
        return Outcome(Action.FORWARD)  # the application's own 304, or one we cannot fill in
    stored_etag, _ = _validators(httpx.Headers(list(entry.headers)))
    new_etag, _ = _validators(response.headers)
    if new_etag is not None and (stored_etag is None or not new_etag.weak_match(stored_etag)):
        storage.remove(plan.url, entry.variant)
        return Outcome(Action.RETRY)
    updated = entry.with_headers(merge_not_modified(entry.headers, response.headers.multi_items()))
    too_large = max_entry_bytes is not None and updated.size > max_entry_bytes
    if too_large or "no-store" in _directives(httpx.Headers(list(updated.headers))):
        storage.remove(plan.url, entry.variant)
    else:
        storage.store(plan.url, updated)
    return Outcome(Action.REPLAY, updated)


def merge_not_modified(
    stored: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    fresh: list[tuple[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Stored headers updated from a 304 (RFC 9111 §4.3.4 and §3.2).

    Each field in the 304 replaces all stored instances of that field, in
    the position of the first; every other stored field is kept.  Framing
    fields and Content-Encoding are never replaced: they describe the
    stored bytes, not the representation.

    >>> merge_not_modified([("ETag", '"a"'), ("Content-Type", "text/plain"), ("X", "1")],
    ...                    [("X", "2"), ("Content-Length", "0"), ("Date", "d")])
    (('ETag', '"a"'), ('Content-Type', 'text/plain'), ('X', '2'), ('Date', 'd'))
    """
    connection_listed = {
        token.strip().lower()
        for name, value in fresh
        if name.lower() == "connection"
        for token in value.split(",")
    }
    replacing: dict[str, list[tuple[str, str]]] = {}
    for name, value in fresh:
        lowered = name.lower()
        if lowered in _NOT_UPDATED or lowered in connection_listed:
            continue
        replacing.setdefault(lowered, []).append((name, value))
    merged: list[tuple[str, str]] = []
    placed: set[str] = set()
    for name, value in stored:
        lowered = name.lower()
        if lowered not in replacing:
            merged.append((name, value))
        elif lowered not in placed:
            merged.extend(replacing[lowered])
            placed.add(lowered)
    for lowered, pairs in replacing.items():
        if lowered not in placed:
            merged.extend(pairs)
    return tuple(merged)


def _storable(request: httpx.Request, response: httpx.Response) -> Entry | None:
    """The entry (without its body) to store for a 200, or ``None`` when it must not be."""
    if "no-store" in _directives(response.headers):
        return None
    etag, last_modified = _validators(response.headers)
    if etag is None and last_modified is None:
        return None  # nothing to revalidate with
    vary_names = [
        token.strip().lower()
        for value in response.headers.get_list("vary")
        for token in value.split(",")
        if token.strip()
    ]
    if "*" in vary_names:
        return None
    template = tuple((name, "") for name in dict.fromkeys(vary_names))
    connection_listed = {
        token.strip().lower()
        for value in response.headers.get_list("connection")
        for token in value.split(",")
    }
    headers = tuple(
        (name, value)
        for name, value in response.headers.multi_items()
        if name.lower() not in _UNSTORED and name.lower() not in connection_listed
    )
    return Entry(200, headers, b"", _vary_values(template, request.headers))


def _invalidate(request: httpx.Request, response: httpx.Response, storage: Storage) -> None:
    """RFC 9111 §4.4: an unsafe method's success invalidates the URL and same-origin locations."""
    storage.remove(str(request.url))
    for field in ("location", "content-location"):
        value = response.headers.get(field)
        if not value:
            continue
        target = request.url.join(value)
        if (target.scheme, target.host, target.port) == (
            request.url.scheme, request.url.host, request.url.port
        ):
            storage.remove(str(target))


def _validators(headers: httpx.Headers) -> tuple[ETag | None, str | None]:
    """The stored ETag (if valid) and Last-Modified value (if a valid date); malformed ones drop."""
    etag: ETag | None = None
    raw = headers.get("etag")
    if raw is not None:
        try:
            etag = ETag.parse(raw)
        except HeaderParseError:
            etag = None
    last_modified = headers.get("last-modified")
    if last_modified is not None:
        try:
            parse_http_date(last_modified)
        except HeaderParseError:
            last_modified = None
    return etag, last_modified


def _vary_values(template: VaryValues, headers: httpx.Headers) -> VaryValues:
    """The request's values for the names in ``template``, normalised (RFC 9111 §4.1)."""
    values: list[tuple[str, str | None]] = []
    for name, _ in template:
        found = headers.get_list(name)
        if not found:
            values.append((name, None))
            continue
        tokens = [token.strip() for value in found for token in value.split(",")]
        values.append((name, ",".join(token for token in tokens if token)))
    return tuple(values)


def _directives(headers: httpx.Headers) -> set[str]:
    return {
        token.split("=", 1)[0].strip().lower()
        for value in headers.get_list("cache-control")
        for token in value.split(",")
    }


def _has_any(headers: httpx.Headers, names: tuple[str, ...]) -> bool:
    return any(name in headers for name in names)


def _replay(entry: Entry, via: httpx.Response) -> httpx.Response:
    extensions = {**via.extensions, REVALIDATED: True, "reason_phrase": b"OK"}
    library = library_of(via)
    response: httpx.Response = library.Response(
        entry.status,
        headers=list(entry.headers),
        stream=library.ByteStream(entry.body),
        extensions=extensions,
    )
    return response


@dataclass
class _Collector:
    """Accumulates a body as it streams past and stores it if it arrives whole."""

    storage: Storage
    url: str
    template: Entry
    expected_length: int | None
    limit: int
    size: int = 0
    overflow: bool = False

    def __post_init__(self) -> None:
        self.chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        if self.overflow:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.overflow, self.chunks = True, []
        else:
            self.chunks.append(chunk)

    def finish(self) -> None:
        if self.overflow:
            return
        body = b"".join(self.chunks)
        if self.expected_length is not None and len(body) != self.expected_length:
            return
        entry = replace(self.template, body=body)
        if entry.size <= self.limit:  # the limit covers the headers too
            self.storage.store(self.url, entry)


class _TeeStream:
    """Passes the inner stream's chunks on; a subclass of the client library's SyncByteStream."""

    def __init__(self, inner: httpx.SyncByteStream, collector: _Collector) -> None:
        self._inner, self._collector = inner, collector

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._collector.feed(chunk)
            yield chunk
        self._collector.finish()

    def close(self) -> None:
        self._inner.close()


class _AsyncTeeStream:
    """:class:`_TeeStream` for async streams (derived from AsyncByteStream)."""

    def __init__(self, inner: httpx.AsyncByteStream, collector: _Collector) -> None:
        self._inner, self._collector = inner, collector

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._collector.feed(chunk)
            yield chunk
        self._collector.finish()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _teed(response: httpx.Response, stream: object) -> httpx.Response:
    teed: httpx.Response = library_of(response).Response(
        response.status_code,
        headers=response.headers.multi_items(),
        stream=stream,
        extensions=response.extensions,
    )
    return teed


class CachingTransport(httpx.BaseTransport):
    """A revalidating cache in front of ``inner`` (default: a fresh ``httpx.HTTPTransport``).

    >>> client = httpx.Client(transport=CachingTransport(storage=MemoryStorage()))
    """

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        storage: Storage | None = None,
        *,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    ) -> None:
        # Without one, the inner transport is made on the first request, from the
        # library (httpx or httpx2) of that request's client.
        self.inner: httpx.BaseTransport | None = inner
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.max_entry_bytes = max_entry_bytes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (with validators when something is stored) and apply the policy."""
        inner = self._inner_for(request)
        plan = plan_request(request, self.storage)
        response = inner.handle_request(plan.request)
        outcome = after_response(plan, request, response, self.storage, self.max_entry_bytes)
        if outcome.action is Action.RETRY:
            response.read()
            response.close()
            plan = Plan(plan.url, request, cacheable=True)
            response = inner.handle_request(request)
            outcome = after_response(plan, request, response, self.storage, self.max_entry_bytes)
        if outcome.action is Action.REPLAY and outcome.entry is not None:
            response.read()
            response.close()
            return _replay(outcome.entry, response)
        if outcome.action is Action.STORE and outcome.entry is not None:
            inner_stream = response.stream
            library = library_of(response)
            assert isinstance(inner_stream, library.SyncByteStream)
            collector = _Collector(
                self.storage, plan.url, outcome.entry, outcome.expected_length,
                self.max_entry_bytes,
            )
            tee = derive(_TeeStream, library.SyncByteStream)
            return _teed(response, tee(inner_stream, collector))
        return response

    def close(self) -> None:
        """Close the inner transport (the storage stays open: it may be shared)."""
        if self.inner is not None:
            self.inner.close()

    def _inner_for(self, request: httpx.Request) -> httpx.BaseTransport:
        if self.inner is None:
            self.inner = library_of(request).HTTPTransport()
        return self.inner


class AsyncCachingTransport(httpx.AsyncBaseTransport):
    """:class:`CachingTransport` for ``httpx.AsyncClient``; same policy, same storages.

    Storage calls are synchronous: both stores answer in microseconds to
    milliseconds (SQLite in WAL mode), less than a thread hop would cost.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        storage: Storage | None = None,
        *,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
    ) -> None:
        # Without one, the inner transport is made on the first request, from the
        # library (httpx or httpx2) of that request's client.
        self.inner: httpx.AsyncBaseTransport | None = inner
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.max_entry_bytes = max_entry_bytes

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` (with validators when something is stored) and apply the policy."""
        inner = self._inner_for(request)
        plan = plan_request(request, self.storage)
        response = await inner.handle_async_request(plan.request)
        outcome = after_response(plan, request, response, self.storage, self.max_entry_bytes)
        if outcome.action is Action.RETRY:
            await response.aread()
            await response.aclose()
            plan = Plan(plan.url, request, cacheable=True)
            response = await inner.handle_async_request(request)
            outcome = after_response(plan, request, response, self.storage, self.max_entry_bytes)
        if outcome.action is Action.REPLAY and outcome.entry is not None:
            await response.aread()
            await response.aclose()
            return _replay(outcome.entry, response)
        if outcome.action is Action.STORE and outcome.entry is not None:
            inner_stream = response.stream
            library = library_of(response)
            assert isinstance(inner_stream, library.AsyncByteStream)
            collector = _Collector(
                self.storage, plan.url, outcome.entry, outcome.expected_length,
                self.max_entry_bytes,
            )
            tee = derive(_AsyncTeeStream, library.AsyncByteStream)
            return _teed(response, tee(inner_stream, collector))
        return response

    async def aclose(self) -> None:
        """Close the inner transport (the storage stays open: it may be shared)."""
        if self.inner is not None:
            await self.inner.aclose()

    def _inner_for(self, request: httpx.Request) -> httpx.AsyncBaseTransport:
        if self.inner is None:
            self.inner = library_of(request).AsyncHTTPTransport()
        return self.inner
