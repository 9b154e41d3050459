"""A private HTTP cache (RFC 9111, RFC 5861) as an httpx / httpx2 transport.

:class:`CachingTransport` wraps another transport, the way httpx layers its
own (``httpx.Client(transport=CachingTransport(httpx.HTTPTransport()))``),
so it composes with retries, proxies or mocks.  :class:`AsyncCachingTransport`
is the same for ``httpx.AsyncClient``.  Every decision is taken by the
sans-IO rules of :mod:`ifmatch.client.policy` (freshness in
:mod:`ifmatch.client.freshness`); these classes only move bytes between the
client, the inner transport and the storage.

What the cache does, in short (docs/client.md has the whole table):

* A fresh stored response (``max-age``, ``Expires``) is reused without a
  request, with a generated ``Age``; a stale one is revalidated with
  If-None-Match / If-Modified-Since and reused on 304 (headers updated,
  RFC 9111 §4.3.4); ``no-cache`` and ``must-revalidate`` are honoured,
  ``stale-while-revalidate`` and ``stale-if-error`` too.
* ``always_revalidate=True`` keeps the stricter behaviour: every request
  goes to the origin, the body is saved on 304; nothing is ever shown
  stale.
* Each response says what the cache did in ``response.extensions
  ["ifmatch_cache"]`` (see :func:`cache_status`), and each decision is
  logged at DEBUG on the ``ifmatch.client.cache`` logger.

The same classes serve httpx and httpx2: responses and streams are built
from the library of the request being handled.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from http import HTTPStatus
from types import ModuleType
from typing import Any, Generic, TypeVar, assert_never, cast

import httpx

from ifmatch.client.entry import Entry
from ifmatch.client.freshness import Heuristic
from ifmatch.client.httpx_compat import derive, errors, library_of
from ifmatch.client.policy import (
    DEFAULT_MAX_ENTRY_BYTES,
    CacheMiss,
    FromCache,
    GatewayTimeout,
    HeadRequest,
    Label,
    NeedRevalidation,
    NotModifiedFromCache,
    Options,
    PassThrough,
    Refreshed,
    Removal,
    Request,
    RequestState,
    ResponseState,
    RetryWithoutValidators,
    StaleOnError,
    StoreAndUse,
    Unsafe,
    UseResponse,
    log,
    merge_not_modified,
    on_error,
    on_request,
    on_response,
)
from ifmatch.client.storage import AsyncStorage, MemoryStorage, Storage

#: ``response.extensions`` key: ``True`` when the body came from the cache after a 304.
REVALIDATED = "ifmatch_revalidated"
#: ``response.extensions`` key: what the cache did (a :class:`Label` value, e.g. ``hit; fresh``).
CACHE_STATUS = "ifmatch_cache"
#: ``response.extensions`` key: the current age in seconds of a response served from storage.
CACHE_AGE = "ifmatch_age"

__all__ = [
    "CACHE_STATUS",
    "DEFAULT_MAX_ENTRY_BYTES",
    "REVALIDATED",
    "AsyncCachingTransport",
    "CachingTransport",
    "Heuristic",
    "Label",
    "cache_status",
    "merge_not_modified",
    "was_revalidated",
]


def was_revalidated(response: Any) -> bool:
    """Whether ``response`` is a stored body the server just confirmed with a 304."""
    return bool(response.extensions.get(REVALIDATED, False))


def cache_status(response: Any) -> str | None:
    """What the cache did for ``response``: ``hit; fresh``, ``revalidated``, ``miss``, ...

    ``None`` when the response did not pass through a caching transport.
    """
    value = response.extensions.get(CACHE_STATUS)
    return None if value is None else str(value)


def _lib(thing: Any) -> ModuleType:
    """The library (httpx or httpx2) of the request or response being handled."""
    return library_of(thing)


def _head(request: Any) -> Request:
    return Request(request.method, str(request.url), tuple(request.headers.multi_items()))


def _with_headers(request: Any, headers: tuple[tuple[str, str], ...]) -> Any:
    lib = _lib(request)
    return lib.Request(
        request.method, request.url, headers=list(headers), extensions=request.extensions
    )


def _from_storage(
    request: Any,
    entry: Entry,
    headers: tuple[tuple[str, str], ...],
    label: Label,
    status: int | None = None,
    via: Any = None,
) -> Any:
    lib = _lib(request)
    extensions = dict(via.extensions) if via is not None else {}
    code = entry.status if status is None else status
    extensions.update({CACHE_STATUS: label.value, "reason_phrase": _phrase(code)})
    if label is Label.REVALIDATED:
        extensions[REVALIDATED] = True
    body = b"" if code == 304 or request.method == "HEAD" else entry.body
    if code == 304:
        headers = tuple(
            (n, v)
            for n, v in headers
            if n.lower()
            not in {
                "content-length",
                "content-type",
                "content-encoding",
                "content-range",
                "transfer-encoding",
            }
        )
    response = lib.Response(
        code,
        headers=list(headers),
        stream=lib.ByteStream(body),
        extensions=extensions,
        request=request,
    )
    return response


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _labelled(response: Any, label: Label) -> Any:
    response.extensions = {**response.extensions, CACHE_STATUS: label.value}
    return response


def _gateway_timeout(request: Any) -> Any:
    lib = _lib(request)
    return lib.Response(
        504,
        headers=[("Content-Length", "0")],
        stream=lib.ByteStream(b""),
        extensions={CACHE_STATUS: Label.ONLY_IF_CACHED.value},
        request=request,
    )


@dataclass
class _Collector:
    """Accumulates a body as it streams past and hands it on if it arrives whole."""

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

    def finish(self) -> Entry | None:
        if self.overflow:
            return None
        body = b"".join(self.chunks)
        if self.expected_length is not None and len(body) != self.expected_length:
            return None
        entry = replace(self.template, body=body)
        return entry if entry.size <= self.limit else None  # the limit covers the headers too


class _TeeStream:
    """Hands the body on as it streams past, and to the storage once it arrived whole."""

    def __init__(self, inner: Any, collector: _Collector, done: Callable[[Entry], None]) -> None:
        self._inner, self._collector, self._done = inner, collector, done

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._collector.feed(chunk)
            yield chunk
        entry = self._collector.finish()
        if entry is not None:
            self._done(entry)

    def close(self) -> None:
        self._inner.close()


class _AsyncTeeStream:
    """:class:`_TeeStream` for async bodies; the storage call is awaited."""

    def __init__(self, inner: Any, collector: _Collector, done: Callable[[Entry], Any]) -> None:
        self._inner, self._collector, self._done = inner, collector, done

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._collector.feed(chunk)
            yield chunk
        entry = self._collector.finish()
        if entry is not None:
            await self._done(entry)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _teed(response: Any, stream: Any) -> Any:
    lib = _lib(response)
    return lib.Response(
        response.status_code,
        headers=response.headers.multi_items(),
        stream=stream,
        extensions=response.extensions,
        request=response.request if _has_request(response) else None,
    )


def _has_request(response: Any) -> bool:
    try:
        response.request  # noqa: B018 - httpx raises when no request is attached
    except RuntimeError:
        return False
    return True


def _options(
    always_revalidate: bool,
    heuristic: Heuristic | None,
    keep_stale: float | None,
    max_entry_bytes: int,
) -> Options:
    defaults = Options()
    return Options(
        always_revalidate=always_revalidate,
        heuristic=heuristic,
        keep_stale=defaults.keep_stale if keep_stale is None else keep_stale,
        max_entry_bytes=max_entry_bytes,
    )


def _describe(state: RequestState | ResponseState) -> str:
    return type(state).__name__


def _cacheable(head: Request) -> bool:
    return head.method.upper() in {"GET", "HEAD"}


#: The request states in which the request goes on to the origin.
_ToOrigin = Unsafe | HeadRequest | CacheMiss | NeedRevalidation
#: The request states that storage answers alone.
_FromStorage = GatewayTimeout | NotModifiedFromCache | FromCache


def _sent(request: Any, state: _ToOrigin) -> Any:
    """The request the origin gets: with the stored entry's validators when revalidating."""
    return _with_headers(request, state.headers) if isinstance(state, NeedRevalidation) else request


S = TypeVar("S", Storage, AsyncStorage)


class _CacheTransport(Generic[S]):
    """What the sync and the async transport share: the settings and every step without I/O."""

    #: The library's transport class that serves as ``inner`` when none is given.
    _inner_transport: str
    #: The background revalidations under way (threads, or asyncio tasks).
    _background: set[Any]

    def __init__(
        self,
        inner: Any = None,
        storage: S | None = None,
        *,
        always_revalidate: bool = False,
        heuristic: Heuristic | None = None,
        keep_stale: float | None = None,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inner = inner
        # A MemoryStorage is both a Storage and an AsyncStorage.
        self.storage: S = storage if storage is not None else cast(S, MemoryStorage())
        self.options = _options(always_revalidate, heuristic, keep_stale, max_entry_bytes)
        self.clock = clock
        self._background = set()

    @property
    def max_entry_bytes(self) -> int:
        """The largest entry (body plus headers) that is stored."""
        return self.options.max_entry_bytes

    def _inner(self, request: Any) -> Any:
        if self.inner is None:
            self.inner = getattr(_lib(request), self._inner_transport)()
        return self.inner

    def _on_request(self, head: Request, variants: list[Entry]) -> RequestState:
        state = on_request(head, variants, self.clock(), self.options)
        log.debug("%s %s: %s", head.method, head.url, _describe(state))
        return state

    def _from_storage_alone(self, request: Any, head: Request, state: _FromStorage) -> Any:
        """The answer to a request the origin is not asked about (a revalidation may follow)."""
        if isinstance(state, GatewayTimeout):
            return _gateway_timeout(request)
        if isinstance(state, NotModifiedFromCache):
            entry_status = Entry(304, state.headers, b"")
            return _from_storage(request, entry_status, state.headers, Label.NOT_MODIFIED)
        if state.background is not None:
            self._revalidate_later(request, head, state.background)
        return _from_storage(request, state.entry, state.headers, state.label)

    def _revalidate_later(self, request: Any, head: Request, state: NeedRevalidation) -> None:
        raise NotImplementedError

    def _stale_or_raise(
        self, request: Any, head: Request, state: _ToOrigin, error: Exception
    ) -> Any:
        """The origin is unreachable: the stale entry if RFC 5861 §4 allows it, else ``error``."""
        stale = on_error(state, self.clock(), self.options)
        if stale is None or not isinstance(state, NeedRevalidation):
            raise error
        log.debug("%s: origin unreachable, serving stale (stale-if-error)", head.url)
        return _from_storage(request, state.entry, stale.headers, stale.label)

    def _on_response(
        self, state: _ToOrigin, head: Request, response: Any, started: float
    ) -> ResponseState:
        outcome = on_response(
            state,
            head,
            response.status_code,
            tuple(response.headers.multi_items()),
            started,
            self.clock(),
            self.options,
        )
        log.debug(
            "%s %s -> %d: %s", head.method, head.url, response.status_code, _describe(outcome)
        )
        return outcome


class CachingTransport(_CacheTransport[Storage], httpx.BaseTransport):
    """A private RFC 9111 cache in front of ``inner`` (default: a new ``HTTPTransport``).

    ``storage``: a :class:`MemoryStorage` (default), :class:`SQLiteStorage`
    or :class:`RedisStorage`.  ``always_revalidate``: ask the origin on
    every request (never serve a stored response unconfirmed).
    ``heuristic``: freshness for responses without ``max-age``/``Expires``
    (RFC 9111 §4.2.2; off by default).  ``clock``: seconds since the epoch
    (replace it to simulate time).

    >>> client = httpx.Client(transport=CachingTransport(storage=MemoryStorage()))
    """

    _inner_transport = "HTTPTransport"
    _background: set[threading.Thread]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from storage, by revalidating, or from the origin (RFC 9111 §4)."""
        head = _head(request)
        variants = self._lookup(head.url) if _cacheable(head) else []
        state = self._on_request(head, variants)
        return self._drive(request, head, state)  # type: ignore[no-any-return]

    def _drive(self, request: Any, head: Request, state: RequestState) -> Any:
        if isinstance(state, PassThrough):
            return _labelled(self._inner(request).handle_request(request), state.label)
        if isinstance(state, _ToOrigin):
            return self._exchange(request, head, state, retried=False)
        return self._from_storage_alone(request, head, state)

    def _exchange(self, request: Any, head: Request, state: _ToOrigin, retried: bool) -> Any:
        started = self.clock()
        try:
            response = self._inner(request).handle_request(_sent(request, state))
        except errors("TransportError") as error:
            return self._stale_or_raise(request, head, state, error)
        outcome = self._on_response(state, head, response, started)
        if isinstance(outcome, RetryWithoutValidators):
            response.read()
            response.close()
            self._remove(outcome.removals)
            if retried:
                raise RuntimeError("the origin answered 304 twice to an unconditional request")
            return self._exchange(request, head, CacheMiss(), retried=True)
        if isinstance(outcome, StaleOnError):
            response.read()
            response.close()
            assert isinstance(state, NeedRevalidation)
            return _from_storage(request, state.entry, outcome.headers, outcome.label, via=response)
        if isinstance(outcome, Refreshed):
            response.read()
            response.close()
            if outcome.keep:
                assert isinstance(state, NeedRevalidation)
                self._store(head.url, outcome.entry, previous=state.entry)
            else:
                self._forget(head.url, outcome.entry.variant)
            return _from_storage(
                request, outcome.entry, outcome.headers, outcome.label, via=response
            )
        if isinstance(outcome, UseResponse):
            self._remove(outcome.removals)
            if outcome.store is not None:
                self._store(head.url, outcome.store)
            return _labelled(response, outcome.label)
        if isinstance(outcome, StoreAndUse):
            self._remove(outcome.removals)
            tee = derive(_TeeStream, _lib(request).SyncByteStream)
            collector = _Collector(
                outcome.entry, outcome.expected_length, self.options.max_entry_bytes
            )
            stream = tee(response.stream, collector, lambda entry: self._store(head.url, entry))
            return _labelled(_teed(response, stream), outcome.label)
        assert_never(outcome)

    def _remove(self, removals: tuple[Removal, ...]) -> None:
        for url, variant in removals:
            self._forget(url, variant)

    # A storage that fails (Redis unreachable, a disk full) must not fail the request: the
    # cache then behaves as a miss, and says so at WARNING.

    def _lookup(self, url: str) -> list[Entry]:
        try:
            return self.storage.variants(url)
        except Exception:
            log.warning("cache storage lookup failed for %s; treated as a miss", url, exc_info=True)
            return []

    def _store(self, url: str, entry: Entry, previous: Entry | None = None) -> None:
        # After a 304 only the metadata changed: a storage with refresh() keeps the body.
        refresh = getattr(self.storage, "refresh", None) if previous is not None else None
        try:
            if refresh is not None:
                refresh(url, entry, previous)
            else:
                self.storage.store(url, entry)
        except Exception:
            log.warning("cache storage could not store %s", url, exc_info=True)

    def _forget(self, url: str, variant: str | None) -> None:
        try:
            self.storage.remove(url, variant)
        except Exception:
            log.warning("cache storage could not remove %s", url, exc_info=True)

    def _revalidate_later(self, request: Any, head: Request, state: NeedRevalidation) -> None:
        """stale-while-revalidate (RFC 5861 §3): revalidate in a thread, store what comes."""

        def run() -> None:
            try:
                response = self._exchange(request, head, state, retried=False)
                response.read()
                response.close()
            except Exception:  # a background refresh must never break the foreground
                log.debug("background revalidation of %s failed", head.url, exc_info=True)
            finally:
                self._background.discard(thread)

        thread = threading.Thread(target=run, name="ifmatch-revalidate", daemon=True)
        self._background.add(thread)
        thread.start()

    def join(self, timeout: float = 30.0) -> None:
        """Wait until the background revalidations started so far have finished."""
        for thread in list(self._background):
            thread.join(timeout)

    def close(self) -> None:
        """Wait for background revalidations, close the inner transport (not the storage)."""
        self.join()
        if self.inner is not None:
            self.inner.close()


class AsyncCachingTransport(_CacheTransport[AsyncStorage], httpx.AsyncBaseTransport):
    """:class:`CachingTransport` for ``httpx.AsyncClient``: same rules, same storages.

    Storage calls go through the storages' async methods, so the event loop
    is never blocked (SQLite runs in a worker thread, Redis on its asyncio
    client).
    """

    _inner_transport = "AsyncHTTPTransport"
    _background: set[asyncio.Task[None]]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from storage, by revalidating, or from the origin (RFC 9111 §4)."""
        head = _head(request)
        variants = await self._lookup(head.url) if _cacheable(head) else []
        state = self._on_request(head, variants)
        return await self._drive(request, head, state)  # type: ignore[no-any-return]

    async def _drive(self, request: Any, head: Request, state: RequestState) -> Any:
        if isinstance(state, PassThrough):
            response = await self._inner(request).handle_async_request(request)
            return _labelled(response, state.label)
        if isinstance(state, _ToOrigin):
            return await self._exchange(request, head, state, retried=False)
        return self._from_storage_alone(request, head, state)

    async def _exchange(self, request: Any, head: Request, state: _ToOrigin, retried: bool) -> Any:
        started = self.clock()
        try:
            response = await self._inner(request).handle_async_request(_sent(request, state))
        except errors("TransportError") as error:
            return self._stale_or_raise(request, head, state, error)
        outcome = self._on_response(state, head, response, started)
        if isinstance(outcome, RetryWithoutValidators):
            await response.aread()
            await response.aclose()
            await self._remove(outcome.removals)
            if retried:
                raise RuntimeError("the origin answered 304 twice to an unconditional request")
            return await self._exchange(request, head, CacheMiss(), retried=True)
        if isinstance(outcome, StaleOnError):
            await response.aread()
            await response.aclose()
            assert isinstance(state, NeedRevalidation)
            return _from_storage(request, state.entry, outcome.headers, outcome.label, via=response)
        if isinstance(outcome, Refreshed):
            await response.aread()
            await response.aclose()
            if outcome.keep:
                assert isinstance(state, NeedRevalidation)
                await self._store(head.url, outcome.entry, previous=state.entry)
            else:
                await self._forget(head.url, outcome.entry.variant)
            return _from_storage(
                request, outcome.entry, outcome.headers, outcome.label, via=response
            )
        if isinstance(outcome, UseResponse):
            await self._remove(outcome.removals)
            if outcome.store is not None:
                await self._store(head.url, outcome.store)
            return _labelled(response, outcome.label)
        if isinstance(outcome, StoreAndUse):
            await self._remove(outcome.removals)
            tee = derive(_AsyncTeeStream, _lib(request).AsyncByteStream)
            collector = _Collector(
                outcome.entry, outcome.expected_length, self.options.max_entry_bytes
            )

            async def done(entry: Entry) -> None:
                await self._store(head.url, entry)

            stream = tee(response.stream, collector, done)
            return _labelled(_teed(response, stream), outcome.label)
        assert_never(outcome)

    async def _remove(self, removals: tuple[Removal, ...]) -> None:
        for url, variant in removals:
            await self._forget(url, variant)

    async def _lookup(self, url: str) -> list[Entry]:
        try:
            return await self.storage.avariants(url)
        except Exception:
            log.warning("cache storage lookup failed for %s; treated as a miss", url, exc_info=True)
            return []

    async def _store(self, url: str, entry: Entry, previous: Entry | None = None) -> None:
        refresh = getattr(self.storage, "arefresh", None) if previous is not None else None
        try:
            if refresh is not None:
                await refresh(url, entry, previous)
            else:
                await self.storage.astore(url, entry)
        except Exception:
            log.warning("cache storage could not store %s", url, exc_info=True)

    async def _forget(self, url: str, variant: str | None) -> None:
        try:
            await self.storage.aremove(url, variant)
        except Exception:
            log.warning("cache storage could not remove %s", url, exc_info=True)

    def _revalidate_later(self, request: Any, head: Request, state: NeedRevalidation) -> None:
        """stale-while-revalidate (RFC 5861 §3): revalidate in a task, store what comes."""

        async def run() -> None:
            try:
                response = await self._exchange(request, head, state, retried=False)
                await response.aread()
                await response.aclose()
            except Exception:  # a background refresh must never break the foreground
                log.debug("background revalidation of %s failed", head.url, exc_info=True)

        try:
            task = asyncio.get_running_loop().create_task(run())
        except RuntimeError:  # not on asyncio (trio): no background work, the stale answer stands
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def join(self) -> None:
        """Wait until the background revalidations started so far have finished."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        """Finish background revalidations, close the inner transport (not the storage)."""
        await self.join()
        if self.inner is not None:
            await self.inner.aclose()
