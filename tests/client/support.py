"""Transports that count or script what passes through them, for client tests, on either library.

Each builds its responses and streams with the classes of the library
(httpx or httpx2) of the objects it is handed, as the client itself does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from ifmatch.client.httpx_compat import library_of


class _CountedStream:
    def __init__(self, inner: Any, count: Callable[[int], None]) -> None:
        self.inner, self.count = inner, count

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.count(len(chunk))
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.count(len(chunk))
            yield chunk

    def close(self) -> None:
        if hasattr(self.inner, "close"):
            self.inner.close()

    async def aclose(self) -> None:
        if hasattr(self.inner, "aclose"):
            await self.inner.aclose()


_STREAMS: dict[str, type[Any]] = {}


def _counted_stream(library: Any) -> type[Any]:
    """_CountedStream as a subclass of ``library``'s sync and async stream bases."""
    if library.__name__ not in _STREAMS:
        _STREAMS[library.__name__] = type(
            "CountedStream",
            (_CountedStream, library.SyncByteStream, library.AsyncByteStream),
            {},
        )
    return _STREAMS[library.__name__]


class Counting(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a transport; counts requests, statuses and the body bytes that came back.

    It subclasses httpx's transport bases only for their context-manager
    methods; an httpx2 client accepts it the same (transports are duck-typed).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.body_bytes = 0
        self.statuses: list[int] = []
        self.requests: list[Any] = []

    def _add(self, count: int) -> None:
        self.body_bytes += count

    def _wrap(self, request: Any, response: Any) -> Any:
        self.requests.append(request)
        self.statuses.append(response.status_code)
        library = library_of(response)
        return library.Response(
            response.status_code,
            headers=response.headers.multi_items(),
            stream=_counted_stream(library)(response.stream, self._add),
            extensions=response.extensions,
        )

    def handle_request(self, request: Any) -> Any:
        return self._wrap(request, self.inner.handle_request(request))

    async def handle_async_request(self, request: Any) -> Any:
        return self._wrap(request, await self.inner.handle_async_request(request))

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


def Scripted(*responses: Any) -> Any:
    """A mock server answering from a list of responses; ``.seen`` holds the requests.

    The mock is the ``MockTransport`` of the responses' library.
    """
    library = library_of(responses[0])
    seen: list[Any] = []
    queue = list(responses)

    def answer(request: Any) -> Any:
        seen.append(request)
        return queue.pop(0)

    mock = library.MockTransport(answer)
    mock.seen = seen
    return mock
