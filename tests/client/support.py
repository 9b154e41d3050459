"""Transports that count or cut what passes through them, for client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx


class _CountedStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream,
                 count: Callable[[int], None]) -> None:
        self.inner, self.count = inner, count

    def __iter__(self) -> Iterator[bytes]:
        assert isinstance(self.inner, httpx.SyncByteStream)
        for chunk in self.inner:
            self.count(len(chunk))
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self.inner, httpx.AsyncByteStream)
        async for chunk in self.inner:
            self.count(len(chunk))
            yield chunk

    def close(self) -> None:
        if isinstance(self.inner, httpx.SyncByteStream):
            self.inner.close()

    async def aclose(self) -> None:
        if isinstance(self.inner, httpx.AsyncByteStream):
            await self.inner.aclose()


class Counting(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Wraps a transport; counts requests, statuses and the body bytes that came back."""

    def __init__(self, inner: httpx.BaseTransport | httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.body_bytes = 0
        self.statuses: list[int] = []
        self.requests: list[httpx.Request] = []

    def _add(self, count: int) -> None:
        self.body_bytes += count

    def _wrap(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        self.requests.append(request)
        self.statuses.append(response.status_code)
        stream = response.stream
        assert isinstance(stream, httpx.SyncByteStream | httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers.multi_items(),
            stream=_CountedStream(stream, self._add),
            extensions=response.extensions,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(self.inner, httpx.BaseTransport)
        return self._wrap(request, self.inner.handle_request(request))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(self.inner, httpx.AsyncBaseTransport)
        return self._wrap(request, await self.inner.handle_async_request(request))


class Scripted(httpx.MockTransport):
    """A mock server answering from a list of responses, recording the requests."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.queue = list(responses)
        self.seen: list[httpx.Request] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.queue.pop(0)
