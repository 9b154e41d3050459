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
from ifmatch.hashing import DEFAULT_HEX_DIGITS
from ifmatch.tagging import (
    DEFAULT_MAX_BUFFER,
    HASH_PLAN,
    PASS_PLAN,
    PRECONDITION_NAMES,
    Action,
    Exchange,
    HashChoice,
    Plan,
    TaggingPolicy,
    Verdict,
    reply_raw_headers,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _raw_headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def send_error(send: Send, error: PreconditionError, head: bool = False) -> None:
    """Send the 304/412/428 response a :class:`PreconditionError` carries."""
    reply = error.reply
    headers = _raw_headers(reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else reply.body})


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
        self.policy = policy = TaggingPolicy.build(hash, max_buffer, coding_outside)
        self.head_as_get = head_as_get
        # A request without preconditions (the usual one) shares one of these.
        self._get = policy.unconditional("GET")
        self._head = policy.unconditional("HEAD", hashable=head_as_get)
        self._coding_outside = coding_outside

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method != "GET" and method != "HEAD":
            await self._guarded(scope, receive, send)
            return
        headers = scope["headers"]
        if type(headers) is not list:
            # Any iterable (ASGI spec): read it once here, and give the app the list.
            headers = list(headers)
            scope = {**scope, "headers": headers}
        # Most requests carry no precondition: they never build their conditions.  (ASGI
        # request header names are lower-case.  This loop, stopping at the first hit, measured
        # fewer instructions than a set's isdisjoint over map(itemgetter(0), headers).)
        conditional = self._coding_outside
        if not conditional:
            for name, _ in headers:
                if name in PRECONDITION_NAMES:
                    conditional = True
                    break
        if method == "HEAD":
            await self._head_request(scope, receive, send, headers, conditional)
            return
        exchange = self._get
        if conditional:
            exchange = self.policy.exchange_raw(method, headers)
        # The usual response, a 200 without validators in one body message, is tagged (or
        # answered with a 304/412) by this closure, which measured cheaper than a _Responder;
        # a response of any other shape is handed to one.
        state: Message | _Responder | None = None  # None, the held start, _SENT or a _Responder

        async def tagging_send(message: Message) -> None:
            nonlocal state
            kind = message["type"]
            if state is None:
                if kind == "http.response.start":
                    fields = message.get("headers")
                    if (type(fields) is list
                            and exchange.inspect_raw(message["status"], fields) is HASH_PLAN):
                        state = message
                        return
            elif state is _SENT:
                if kind != "http.response.body" and kind != "http.response.start":
                    await send(message)  # e.g. trailers; a second response is dropped
                return
            elif (not isinstance(state, _Responder) and kind == "http.response.body"
                  and not message.get("more_body")
                  and len(body := message.get("body", b"")) <= exchange.policy.max_buffer):
                start = state
                state = _SENT
                policy = exchange.policy
                new = policy.one_shot
                if new is None:
                    hashed = policy.hex_of(body)
                else:
                    hashed = new(body).hexdigest()[:DEFAULT_HEX_DIGITS]  # hex_of, inline
                if exchange.conditional:
                    verdict = exchange.decide(HASH_PLAN, hashed)
                    if verdict.status != 200:
                        start["status"] = verdict.status
                        start["headers"] = reply_raw_headers(start["headers"], verdict)
                        await send(start)
                        await send({"type": "http.response.body", "body": verdict.body or b"",
                                    "more_body": False})
                        return
                # Hex digits are etagc (RFC 9110 §8.8.3): the weak ETag is built directly.
                start["headers"] = [*start["headers"], (b"etag", f'W/"{hashed}"'.encode())]
                await send(start)
                await send(message)
                return
            if not isinstance(state, _Responder):
                state = _Responder(exchange, send, False, state)
            await state.send(message)

        try:
            await self.app(scope, receive, tagging_send)
        except PreconditionError as error:
            if state is not None and (
                not isinstance(state, _Responder) or state.start is not None or state.started
            ):
                raise
            await send_error(send, error)
            return
        if state is not None and state is not _SENT:  # the app returned before its last body
            if not isinstance(state, _Responder):
                state = _Responder(exchange, send, False, state)
            await state.finish()

    async def _head_request(
        self, scope: Scope, receive: Receive, send: Send, headers: RawHeaders, conditional: bool
    ) -> None:
        """A HEAD: its response goes through a :class:`_Responder`, which can drop the body."""
        exchange = self._head
        drop_body = self.head_as_get
        if conditional:
            exchange = self.policy.exchange_raw("HEAD", headers, hashable=exchange.hashable)
        inner_scope = scope
        if drop_body:
            inner_scope = dict(scope)
            inner_scope["method"] = "GET"
        responder = _Responder(exchange, send, drop_body)
        try:
            await self.app(inner_scope, receive, responder.send)
        except PreconditionError as error:
            if responder.start is not None or responder.started:
                raise
            await send_error(send, error, head=True)
            return
        if responder.start is not None:
            await responder.finish()

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except PreconditionError as error:
            if started:
                raise
            await send_error(send, error, scope["method"] == "HEAD")


RawHeaders = list[tuple[bytes, bytes]]
#: Marks the usual response as gone downstream (compared by identity; never sent).
_SENT: Message = {}
# Module constants: looking a member up on the Enum class costs more than the rest of a test.
_PASS, _DECIDE, _HASH = Action.PASS, Action.DECIDE, Action.HASH


class _Responder:
    """The ``send`` the app sees for a HEAD, or for a GET whose response is not the usual one.

    Holds, hashes and decides for every response shape: streamed bodies, app validators,
    content codings, bodies past ``max_buffer``, and HEAD's dropped body.
    """

    # Slotted: one is made per request, and setting every field of a slotted instance
    # measured cheaper than a dict-backed one with class defaults.
    __slots__ = ("buffer", "done", "downstream", "drop_body", "exchange", "headers", "plan",
                 "size", "start", "started", "swallow")

    headers: RawHeaders  # the held start's headers (set with ``start``)

    def __init__(
        self, exchange: Exchange, send: Send, drop_body: bool, held: Message | None = None
    ) -> None:
        """``held``: a start the usual path of a GET held, whose plan was :data:`HASH_PLAN`."""
        self.exchange = exchange
        self.downstream = send
        self.drop_body = drop_body
        self.buffer: list[bytes] = []
        self.start: Message | None = held  # a response start held back
        self.started = False  # a start went downstream
        self.plan = PASS_PLAN if held is None else HASH_PLAN
        if held is not None:
            self.headers = held["headers"]
        self.size = 0  # bytes in buffer
        self.swallow = False  # the reply was a 304/412: drop what the app still sends
        self.done = False  # the last body message went downstream

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            plan = self.plan
            if (plan.action is _HASH and self.start is not None and not self.buffer
                    and not message.get("more_body")):
                await self._whole_body(plan, message)
            elif plan.action is _PASS and not self.drop_body:
                if not self.done:  # streaming through: the hot path of a passed response
                    self.done = not message.get("more_body", False)
                    await self.downstream(message)
            else:
                await self._on_body(message)
        elif kind == "http.response.start":
            self.start = message
            headers = message.get("headers")
            if type(headers) is not list:
                headers = [] if headers is None else list(headers)
            self.headers = headers
            self.plan = plan = self.exchange.inspect_raw(message["status"], headers)
            if plan is HASH_PLAN:
                return  # the usual 200, held for its body
            if plan.action is _PASS:
                await self._send_start(message)
            elif plan.action is _DECIDE:
                await self._reply(self.exchange.decide(plan), streaming=True)
        elif not self.swallow:
            if self.plan.action is _HASH:
                self.plan = PASS_PLAN
            await self._flush_pending()
            if self.drop_body and kind == "http.response.pathsend":
                await self._send_body(b"", False)
            else:
                await self.downstream(message)

    async def _whole_body(self, plan: Plan, message: Message) -> None:
        """Tag a body that came in one message, and send it with its ETag (or the 304)."""
        body = message.get("body", b"")
        exchange = self.exchange
        if len(body) > exchange.policy.max_buffer:
            await self._on_body(message)  # past the limit even whole: untagged, as for WSGI
            return
        hashed = exchange.tag_body(plan, body)
        start = self.start
        verdict = exchange.decide(plan, hashed)
        if start is None or verdict.status != 200 or plan.weaken or verdict.etag is None:
            self.buffer = [body]
            await self._reply(verdict, streaming=False)
            return
        await self._send_tagged(start, verdict.etag.encode("latin-1"), message)

    async def _send_tagged(self, start: Message, etag: bytes, message: Message) -> None:
        """Send the held start with ``etag`` added, then the (last) body message."""
        start["headers"] = [*self.headers, (b"etag", etag)]
        self.start = None
        self.started = self.done = True
        await self.downstream(start)
        if self.drop_body:
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self.downstream(message)

    async def _on_body(self, message: Message) -> None:
        if self.swallow or self.done:
            return
        more = message.get("more_body", False)
        if self.plan.action is not _HASH:
            if self.drop_body:
                message = {"type": "http.response.body", "body": b"", "more_body": more}
            self.done = not more
            await self.downstream(message)
            return
        chunk = message.get("body", b"")
        self.buffer.append(chunk)
        self.size += len(chunk)
        if self.size > self.exchange.policy.max_buffer:
            # Too big to hold (even as the last message, as for WSGI): send what we have and
            # stream the rest untagged.
            self.plan = PASS_PLAN
            await self._flush_pending(more)
            return
        if more:
            return
        body = self.buffer[0] if len(self.buffer) == 1 else b"".join(self.buffer)
        self.buffer = []
        hashed = self.exchange.tag(self.plan, [body])
        verdict = self.exchange.decide(self.plan, hashed)
        if verdict.status == 200 and not self.plan.weaken:
            # The common case, kept short: add the ETag, send the held start and the body.
            start = self.start
            assert start is not None
            assert verdict.etag is not None
            last = {"type": "http.response.body", "body": body, "more_body": False}
            await self._send_tagged(start, verdict.etag.encode("latin-1"), last)
            return
        self.buffer = [body]
        await self._reply(verdict, streaming=False)

    async def _reply(self, verdict: Verdict, *, streaming: bool) -> None:
        """Send the held start as the verdict says; then its body, unless it streams on."""
        start = self.start
        assert start is not None
        status = verdict.status
        if status == 200 and verdict.etag is not None and not self.plan.weaken:
            start["headers"] = [*self.headers, (b"etag", verdict.etag.encode("latin-1"))]
        elif status != 200 or verdict.etag is not None:
            start["status"] = status
            start["headers"] = reply_raw_headers(self.headers, verdict)
        self.start = None
        self.started = True
        await self.downstream(start)
        if status == 200:
            if streaming:
                return
            body = self.buffer[0] if len(self.buffer) == 1 else b"".join(self.buffer)
            self.buffer = []
        else:
            self.swallow = True
            body = verdict.body or b""
        # No body went downstream before this start: this one is the whole of it.
        self.done = True
        await self.downstream(
            {"type": "http.response.body", "body": b"" if self.drop_body else body,
             "more_body": False}
        )

    async def _flush_pending(self, more: bool = True) -> None:
        """Send a held start and what was buffered for it, untagged (``more``: a body follows)."""
        if self.start is None or self.plan.action is not _PASS:
            return
        await self._send_start(self.start)
        if self.buffer or not more:
            body = b"".join(self.buffer)
            self.buffer = []
            await self._send_body(body, more)

    async def _send_start(self, message: Message) -> None:
        self.start = None
        self.started = True
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
        if self.start is None:
            return
        if self.plan.action is _HASH:
            hashed = self.exchange.tag(self.plan, self.buffer)
            await self._reply(self.exchange.decide(self.plan, hashed), streaming=False)
        else:
            await self._send_start(self.start)
