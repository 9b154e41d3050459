"""ASGI middleware: ETags and 304s for reads, precondition errors turned into responses.

>>> from ifmatch.asgi import ConditionalMiddleware
>>> app = ConditionalMiddleware(app)                      # doctest: +SKIP

The rules live in :mod:`ifmatch.tagging` (shared with WSGI and Django).
This module only moves ASGI messages:

* GET/HEAD: the response start is held; if the app set an ``ETag`` the
  decision is made at once and the body streams through (or is swallowed
  for a 304); otherwise the body is buffered up to ``max_buffer`` bytes,
  hashed, and sent with its ETag, or replaced by a 304.  Past the limit the
  buffered part is flushed and the rest streams untagged.
* HEAD is run as GET inside (``head_as_get=True``), and the body dropped, so
  HEAD gets exactly GET's validators (RFC 9110 §9.3.2) even from an app that
  sends no body for HEAD.  GET is safe, so running it is harmless; pass
  ``head_as_get=False`` for an app with its own HEAD handlers, and a HEAD
  response without an ETag then stays untagged (there is no body to hash).
* Any method: a :class:`ifmatch.guard.PreconditionError` raised by the app
  before it started its response becomes that 304/412/428.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ifmatch.guard import PreconditionError
from ifmatch.tagging import (
    DEFAULT_MAX_BUFFER,
    Action,
    Exchange,
    HashChoice,
    Headers,
    Plan,
    Reply,
    TaggingPolicy,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _text_headers(raw: list[tuple[bytes, bytes]]) -> Headers:
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


def _raw_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_error(send: Send, error: PreconditionError, head: bool = False) -> None:
    """Send the 304/412/428 response a :class:`PreconditionError` carries."""
    body = error.body
    headers = error.headers
    if error.status != 304:
        headers = [*headers, ("content-length", str(len(body)))]
    await send(
        {"type": "http.response.start", "status": error.status, "headers": _raw_headers(headers)}
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


class ConditionalMiddleware:
    """Adds weak ETags to GET/HEAD 200s, answers 304/412 for them, and renders guard errors.

    ``hash``: ``"sha256"`` (default, standard library), ``"xxh3"`` (needs
    ``ifmatch[xxhash]``, several times faster), ``"blake2b"`` or a factory
    with hashlib's interface.  ``max_buffer``: largest body held to hash it.
    ``coding_outside``: set it when a compressor wraps this middleware (see
    :mod:`ifmatch.tagging`); the recommended order puts this middleware
    outside the compressor, where it sees the coding and needs no setting.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hash: HashChoice = "sha256",
        max_buffer: int = DEFAULT_MAX_BUFFER,
        coding_outside: bool = False,
        head_as_get: bool = True,
    ) -> None:
        self.app = app
        self.policy = TaggingPolicy.build(hash, max_buffer, coding_outside)
        self.head_as_get = head_as_get

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = str(scope["method"]).upper()
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            await self._guarded(scope, receive, send, send, head)
            return
        exchange = self.policy.exchange(
            method, scope.get("headers", []), hashable=not head or self.head_as_get
        )
        inner_scope = scope
        if head and self.head_as_get:
            inner_scope = dict(scope)
            inner_scope["method"] = "GET"
        responder = _Responder(exchange, send, head and self.head_as_get, self.policy.max_buffer)
        await self._guarded(inner_scope, receive, responder.send, send, head)
        await responder.finish()

    async def _guarded(
        self, scope: Scope, receive: Receive, inner_send: Send, outer_send: Send, head: bool
    ) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = True
            await inner_send(message)

        try:
            await self.app(scope, receive, tracking)
        except PreconditionError as error:
            if started:
                raise
            await send_error(outer_send, error, head)


class _Responder:
    """The ``send`` the app sees for one GET/HEAD: holds, hashes and decides."""

    def __init__(self, exchange: Exchange, send: Send, drop_body: bool, max_buffer: int) -> None:
        self.exchange = exchange
        self.downstream = send
        self.drop_body = drop_body
        self.max_buffer = max_buffer
        self.start: Message | None = None
        self.headers: Headers = []
        self.plan = Plan(Action.PASS)
        self.buffer: list[bytes] = []
        self.size = 0
        self.swallow = False
        self.done = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            await self._on_start(message)
        elif kind == "http.response.body":
            await self._on_body(message)
        elif not self.swallow:
            if self.plan.action is Action.HASH:
                self.plan = Plan(Action.PASS)
            await self._flush_pending()
            if self.drop_body and kind == "http.response.pathsend":
                await self._send_body(b"", False)
            else:
                await self.downstream(message)

    async def _on_start(self, message: Message) -> None:
        self.start = message
        self.headers = _text_headers(list(message.get("headers", [])))
        self.plan = self.exchange.inspect(int(message["status"]), self.headers)
        if self.plan.action is Action.PASS:
            await self._send_start(message)
        elif self.plan.action is Action.DECIDE:
            await self._reply(self.exchange.decide(self.plan, self.headers), streaming=True)

    async def _on_body(self, message: Message) -> None:
        if self.swallow or self.done:
            return
        more = bool(message.get("more_body", False))
        if self.plan.action is not Action.HASH:
            await self._send_body(message.get("body", b""), more)
            return
        chunk = bytes(message.get("body", b""))
        self.buffer.append(chunk)
        self.size += len(chunk)
        if more and self.size > self.max_buffer:
            # Too big to hold: flush what we have and stream the rest untagged.
            self.plan = Plan(Action.PASS)
            await self._flush_pending()
            return
        if not more:
            etag = self.exchange.tag(self.plan, self.buffer)
            await self._reply(self.exchange.decide(self.plan, self.headers, etag), streaming=False)

    async def _reply(self, reply: Reply, *, streaming: bool) -> None:
        assert self.start is not None
        start = dict(self.start)
        start["status"] = reply.status
        start["headers"] = _raw_headers(reply.headers)
        await self._send_start(start)
        if reply.body is not None:
            self.swallow = True
            await self._send_body(reply.body, False)
        elif not streaming:
            body = b"".join(self.buffer)
            self.buffer = []
            await self._send_body(body, False)

    async def _flush_pending(self) -> None:
        if self.start is not None and self.plan.action is Action.PASS and self.buffer:
            await self._send_start(self.start)
            body = b"".join(self.buffer)
            self.buffer = []
            await self._send_body(body, True)
        elif self.start is not None and self.plan.action is Action.PASS:
            await self._send_start(self.start)

    async def _send_start(self, message: Message) -> None:
        if self.start is None:
            return
        self.start = None
        await self.downstream(message)

    async def _send_body(self, body: bytes, more: bool) -> None:
        if self.done:
            return
        if not more:
            self.done = True
        await self.downstream(
            {"type": "http.response.body", "body": b"" if self.drop_body else body,
             "more_body": more}
        )

    async def finish(self) -> None:
        """Close a response the app left open (it returned without a final body message)."""
        if self.start is not None and self.plan.action is not Action.HASH:
            await self._send_start(self.start)
        if self.plan.action is Action.HASH and self.start is not None:
            etag = self.exchange.tag(self.plan, self.buffer)
            await self._reply(self.exchange.decide(self.plan, self.headers, etag), streaming=False)
