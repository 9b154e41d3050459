"""The client's flows as steps, and the one sync and one async driver that run them.

A flow (``update``, ``create``, ``delete``, ``download``, ``poll``) is a
generator that *yields steps* and is resumed with their results.  It makes
every decision and does no network I/O, in the style of h11 and of httpx's
``Auth.auth_flow``; a driver performs the steps with the caller's client.
So each flow is written once, and the sync and async functions the user
calls are a few lines each around :func:`run` / :func:`arun`.

The steps, and what the flow is resumed with:

======================  =====================================================
``Fetch(method, url)``  the response, its body read
``Open(method, url)``   the response, its body not read yet (a download)
``Chunk()``             the open response's next raw body chunk; ``b""`` at
                        its end (the same for a body a mock already read)
``Sleep(seconds)``      ``None``, after the wait
``Apply(document)``     the user's ``change(document)``, awaited if need be
``Emit(value)``         ``None``; the driver hands ``value`` to its consumer
======================  =====================================================

An exception raised while a step is performed (a dropped connection, a
timeout, an error from ``change``) is thrown into the flow where it yielded,
so the flow decides whether to retry; one it does not catch leaves the
driver as it would have without the flow.  An opened response stays open
until the next ``Fetch``, ``Open`` or ``Sleep`` step, or the end of the flow.

Drivers take an ``httpx`` or an ``httpx2`` client: they call only the
methods both have (``request``, ``build_request``, ``send``, ``iter_raw``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

if TYPE_CHECKING:
    from ifmatch.client.httpx_compat import AsyncClient, Client, Response

T = TypeVar("T")
Change = Callable[[Any], Any]
AsyncChange = Callable[[Any], Any | Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Fetch:
    """Step: send a request and resume with its response, body read."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class Open:
    """Step: send a request and resume with its response before the body is read."""

    method: str
    url: str
    headers: dict[str, str]
    chunk_size: int = 64 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Step: resume with the next raw chunk of the opened body, ``b""`` at its end."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait this many seconds."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Apply:
    """Step: call the user's ``change`` on ``document`` and resume with its result."""

    document: Any


@dataclass(frozen=True, slots=True)
class Emit:
    """Step: hand ``value`` to whoever iterates the driver (``poll``'s changes)."""

    value: Any


Step = Fetch | Open | Chunk | Sleep | Apply | Emit
Flow = Generator[Step, Any, T]


@dataclass
class _Stream:
    """The response an ``Open`` step opened, and the iterator over its raw chunks."""

    response: Any = None
    chunks: Any = None


def _no_change(document: Any) -> Any:
    raise TypeError("this flow has no change function but asked to apply one")


class _SyncIO:
    def __init__(self, client: Client, change: Change | None) -> None:
        # Any: a union of the two libraries' clients cannot type send(build_request()).
        self.client: Any = client
        self.change = change or _no_change
        self.stream = _Stream()

    def perform(self, step: Step) -> Any:
        if isinstance(step, Chunk):
            return next(self.stream.chunks, b"")
        if isinstance(step, Apply):
            return self.change(step.document)
        self.close()
        if isinstance(step, Fetch):
            return self.client.request(
                step.method, step.url, headers=step.headers, content=step.content
            )
        if isinstance(step, Open):
            request = self.client.build_request(step.method, step.url, headers=step.headers)
            response = self.client.send(request, stream=True)
            self.stream = _Stream(response, _raw(response, step.chunk_size))
            return response
        assert isinstance(step, Sleep)
        time.sleep(step.seconds)
        return None

    def close(self) -> None:
        if self.stream.response is not None:
            self.stream.response.close()
            self.stream = _Stream()


def _raw(response: Response, chunk_size: int) -> Iterator[bytes]:
    if response.is_stream_consumed:  # a mock that read its own body
        yield response.content
    else:
        yield from response.iter_raw(chunk_size)


class _AsyncIO:
    def __init__(self, client: AsyncClient, change: AsyncChange | None) -> None:
        self.client: Any = client
        self.change: AsyncChange = change or _no_change
        self.stream = _Stream()

    async def perform(self, step: Step) -> Any:
        if isinstance(step, Chunk):
            return await anext(self.stream.chunks, b"")
        if isinstance(step, Apply):
            result = self.change(step.document)
            return (await result) if inspect.isawaitable(result) else result
        await self.close()
        if isinstance(step, Fetch):
            return await self.client.request(
                step.method, step.url, headers=step.headers, content=step.content
            )
        if isinstance(step, Open):
            request = self.client.build_request(step.method, step.url, headers=step.headers)
            response = await self.client.send(request, stream=True)
            self.stream = _Stream(response, _araw(response, step.chunk_size))
            return response
        assert isinstance(step, Sleep)
        await asyncio.sleep(step.seconds)
        return None

    async def close(self) -> None:
        if self.stream.response is not None:
            await self.stream.response.aclose()
            self.stream = _Stream()


async def _araw(response: Response, chunk_size: int) -> AsyncIterator[bytes]:
    if response.is_stream_consumed:  # a mock that read its own body
        yield response.content
    else:
        async for chunk in response.aiter_raw(chunk_size):
            yield chunk


def run(flow: Flow[T], client: Client, change: Change | None = None) -> Generator[Any, None, T]:
    """Drive ``flow`` with a sync client; yields what it emits, returns its result."""
    io = _SyncIO(client, change)
    reply: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                result: T = stop.value
                return result
            reply, error = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            try:
                reply = io.perform(step)
            except Exception as caught:  # thrown into the flow, which may handle it
                error = caught
    finally:
        io.close()
        flow.close()


@dataclass
class Returned(Generic[T]):
    """Where :func:`arun` leaves the flow's result (an async generator cannot return one)."""

    value: T | None = None


async def arun(
    flow: Flow[T],
    client: AsyncClient,
    change: AsyncChange | None = None,
    returned: Returned[T] | None = None,
) -> AsyncIterator[Any]:
    """Drive ``flow`` with an async client; yields what it emits, its result into ``returned``."""
    io = _AsyncIO(client, change)
    reply: Any = None
    error: Exception | None = None
    try:
        while True:
            try:
                step = flow.send(reply) if error is None else flow.throw(error)
            except StopIteration as stop:
                if returned is not None:
                    returned.value = stop.value
                return
            reply, error = None, None
            if isinstance(step, Emit):
                yield step.value
                continue
            try:
                reply = await io.perform(step)
            except Exception as caught:  # thrown into the flow, which may handle it
                error = caught
    finally:
        await io.close()
        flow.close()


def drive(flow: Flow[T], client: Client, change: Change | None = None) -> T:
    """Run ``flow`` to its end with a sync client and return its result."""
    runner = run(flow, client, change)
    while True:
        try:
            next(runner)
        except StopIteration as stop:
            result: T = stop.value
            return result


async def adrive(flow: Flow[T], client: AsyncClient, change: AsyncChange | None = None) -> T:
    """Run ``flow`` to its end with an async client and return its result."""
    returned: Returned[T] = Returned()
    async for _ in arun(flow, client, change, returned):
        pass
    return cast(T, returned.value)
