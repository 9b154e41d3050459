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

import enum
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ifmatch.guard import PreconditionError
from ifmatch.hashing import DEFAULT_HEX_DIGITS, weak_etag_bytes
from ifmatch.tagging import (
    HASH_BODY,
    LEAVE_ALONE,
    PRECONDITION_NAMES,
    Handling,
    ReadContext,
    TaggingMiddleware,
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


class ConditionalMiddleware(TaggingMiddleware[ASGIApp]):
    """Adds weak ETags to GET/HEAD 200s, answers 304/412 for them, and renders guard errors.

    Parameters (``hash``, ``max_buffer``, ``coding_outside``, ``head_as_get``): see
    :class:`ifmatch.tagging.TaggingMiddleware`.  The recommended order puts this
    middleware outside a compressor, where it sees the coding and needs no setting.
    """

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
            exchange = self.policy.context_raw(method, headers)
        # The usual response, a 200 without validators in one body message, is tagged (or
        # answered with a 304/412) by this closure, which measured cheaper than a _Responder:
        # its moves are the rows of TRANSITIONS marked "fast path".  A response of any other
        # shape is handed, in the phase it reached, to a _Responder.
        phase = START
        held: Message | None = None  # the start, while HOLD
        responder: _Responder | None = None

        async def tagging_send(message: Message) -> None:
            nonlocal phase, held, responder
            if responder is None:
                kind = message["type"]
                if phase is START:
                    if kind == "http.response.start":
                        fields = message.get("headers")
                        if (
                            type(fields) is list
                            and exchange.inspect_raw(message["status"], fields) is HASH_BODY
                        ):
                            held, phase = message, HOLD  # (START, START_HASH) -> HOLD
                            return
                elif phase is DONE or phase is ANSWERED:
                    if (
                        phase is DONE
                        and kind != "http.response.body"
                        and kind != "http.response.start"
                    ):
                        await send(message)  # e.g. trailers; a second response is dropped
                    return
                elif (
                    kind == "http.response.body"
                    and not message.get("more_body")
                    and len(body := message.get("body", b"")) <= exchange.policy.max_buffer
                ):
                    # HOLD, and the whole body in one message: the measured fast path.
                    start: Message = held  # type: ignore[assignment]  # HOLD: held is set
                    held = None
                    policy = exchange.policy
                    new = policy.one_shot
                    if new is None:
                        hashed = policy.hex_of(body)
                    else:
                        hashed = new(body).hexdigest()[:DEFAULT_HEX_DIGITS]  # hex_of, inline
                    if exchange.conditional:
                        verdict = exchange.decide(HASH_BODY, hashed)
                        if verdict.status != 200:
                            phase = ANSWERED  # (HOLD, LAST_REFUSED) -> ANSWERED
                            start["status"] = verdict.status
                            start["headers"] = reply_raw_headers(start["headers"], verdict)
                            await send(start)
                            await send(
                                {
                                    "type": "http.response.body",
                                    "body": verdict.body or b"",
                                    "more_body": False,
                                }
                            )
                            return
                    phase = DONE  # (HOLD, LAST_TAGGED) -> DONE
                    start["headers"] = [*start["headers"], (b"etag", weak_etag_bytes(hashed))]
                    await send(start)
                    await send(message)
                    return
                responder = _Responder(exchange, send, False, held)
            await responder.send(message)

        try:
            await self.app(scope, receive, tagging_send)
        except PreconditionError as error:
            if (phase if responder is None else responder.phase) is not START:
                raise  # the response has begun: the error is the app's own bug
            await send_error(send, error)
            return
        if responder is None and phase is HOLD:  # the app returned before its last body
            responder = _Responder(exchange, send, False, held)
        if responder is not None:
            await responder.finish()

    async def _head_request(
        self, scope: Scope, receive: Receive, send: Send, headers: RawHeaders, conditional: bool
    ) -> None:
        """A HEAD: its response goes through a :class:`_Responder`, which can drop the body."""
        exchange = self._head
        drop_body = self.head_as_get
        if conditional:
            exchange = self.policy.context_raw("HEAD", headers, hashable=exchange.hashable)
        inner_scope = scope
        if drop_body:
            inner_scope = dict(scope)
            inner_scope["method"] = "GET"
        responder = _Responder(exchange, send, drop_body)
        try:
            await self.app(inner_scope, receive, responder.send)
        except PreconditionError as error:
            if responder.phase is not START:
                raise
            await send_error(send, error, head=True)
            return
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


class Phase(enum.Enum):
    """Where one response is, as the middleware sees it; :data:`TRANSITIONS` says how it moves."""

    START = "nothing sent yet"
    HOLD = "the start is held while the body is buffered, to be hashed"
    STREAM = "the start went downstream; body messages pass through"
    DONE = "the last body message went downstream; any further body is dropped"
    ANSWERED = "a 304 or 412 replaced the app's response; all it still sends is dropped"


START, HOLD, STREAM, DONE, ANSWERED = Phase  # module names: cheaper than Phase.START

# What moves a response from one phase to the next.
START_UNTOUCHED = "a start to leave alone (not a GET/HEAD 200, no-store, unreadable validators)"
START_DECIDED = "a start with the app's own ETag, decided at once: a 200 streams on"
START_REFUSED = "a start with the app's own ETag, decided at once: a 304 or 412"
START_HASH = "a 200 start without an ETag: hold it, buffer the body"
LAST_TAGGED = "the last body message of a held 200, within max_buffer: tagged and sent"
LAST_REFUSED = "the last body message of a held 200, within max_buffer: a 304 or 412"
UNTAGGED = "the held body passed max_buffer, or another message came: sent untagged"
LAST_BODY = "the last body message passed through"

#: The phase machine as data (as h11's ``_state.py``): (phase, event) -> next phase.  A
#: pair not listed is a bug in the middleware (KeyError), never something an app can cause:
#: whatever an app sends in DONE or ANSWERED is dropped without a transition.  The closure
#: in :meth:`ConditionalMiddleware.__call__` makes the rows marked "fast path" itself.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (START, START_UNTOUCHED): STREAM,
    (START, START_DECIDED): STREAM,
    (START, START_REFUSED): ANSWERED,
    (START, START_HASH): HOLD,  # fast path
    (HOLD, LAST_TAGGED): DONE,  # fast path
    (HOLD, LAST_REFUSED): ANSWERED,  # fast path
    (HOLD, UNTAGGED): STREAM,
    (STREAM, LAST_BODY): DONE,
}

RawHeaders = list[tuple[bytes, bytes]]
# Module constants: looking a member up on the Enum class costs more than the rest of a test.
_PASS, _DECIDE, _HASH = Handling.PASS, Handling.DECIDE, Handling.HASH
_EMPTY_LAST = {"type": "http.response.body", "body": b"", "more_body": False}


class _Responder:
    """The ``send`` the app sees for a HEAD, or for a GET whose response is not the usual one.

    Holds, hashes and decides for every response shape: streamed bodies, app validators,
    content codings, bodies past ``max_buffer``, and HEAD's dropped body.  Its state is
    :attr:`phase`, moved only by :meth:`_go` along :data:`TRANSITIONS`.
    """

    # Slotted: one is made per request, and setting every field of a slotted instance
    # measured cheaper than a dict-backed one with class defaults.
    __slots__ = (
        "buffer",
        "downstream",
        "drop_body",
        "exchange",
        "headers",
        "phase",
        "plan",
        "size",
        "start",
    )

    headers: RawHeaders  # the held start's headers (set with ``start``)

    def __init__(
        self, exchange: ReadContext, send: Send, drop_body: bool, held: Message | None = None
    ) -> None:
        """``held``: a start the usual path of a GET held (phase HOLD, plan HASH_BODY)."""
        self.exchange = exchange
        self.downstream = send
        self.drop_body = drop_body
        self.buffer: list[bytes] = []
        self.size = 0  # bytes in buffer
        self.start: Message | None = held  # the response start, while HOLD
        if held is None:
            self.phase, self.plan = START, LEAVE_ALONE
        else:
            self.phase, self.plan = HOLD, HASH_BODY
            self.headers = held["headers"]

    def _go(self, event: str) -> None:
        self.phase = TRANSITIONS[self.phase, event]

    async def send(self, message: Message) -> None:
        kind = message["type"]
        phase = self.phase
        if kind == "http.response.body":
            if phase is STREAM:  # the hot path of a passed response
                more = message.get("more_body", False)
                if not more:
                    self._go(LAST_BODY)
                if self.drop_body:
                    message = {"type": "http.response.body", "body": b"", "more_body": more}
                await self.downstream(message)
            elif phase is HOLD:
                await self._hold(message)
            elif phase is START:
                await self.downstream(message)  # a body before any start: the server's to refuse
            # DONE, ANSWERED: dropped
        elif kind == "http.response.start":
            if phase is START:
                await self._start(message)
            # a second start is dropped: the first response is under way or answered
        elif phase is not ANSWERED:  # trailers, pathsend, ...
            if phase is HOLD:
                self.plan = LEAVE_ALONE
                await self._untagged(more=True)
            if self.drop_body and kind == "http.response.pathsend":
                if self.phase is STREAM:
                    await self._send_body(b"", False)  # HEAD: the file's bytes are not sent
            else:
                await self.downstream(message)

    async def _start(self, message: Message) -> None:
        headers = message.get("headers")
        if type(headers) is not list:
            headers = [] if headers is None else list(headers)
        self.headers = headers
        self.plan = plan = self.exchange.inspect_raw(message["status"], headers)
        if plan.handling is _PASS:
            self._go(START_UNTOUCHED)
            await self.downstream(message)
        elif plan.handling is _DECIDE:
            self.start = message
            await self._answer(self.exchange.decide(plan), None)
        else:
            self.start = message
            self._go(START_HASH)

    async def _hold(self, message: Message) -> None:
        """A body message while HOLD: buffer it; at the last one, tag and answer."""
        more = message.get("more_body", False)
        chunk = message.get("body", b"")
        self.buffer.append(chunk)
        self.size += len(chunk)
        if self.size > self.exchange.policy.max_buffer:
            # Too big to hold (even as the last message, as for WSGI): send what we have and
            # stream the rest untagged.
            self.plan = LEAVE_ALONE
            await self._untagged(more)
            return
        if more:
            return
        await self._answer_held()

    async def _answer_held(self) -> None:
        body = self.buffer[0] if len(self.buffer) == 1 else b"".join(self.buffer)
        self.buffer = []
        exchange = self.exchange
        verdict = exchange.decide(self.plan, exchange.tag_body(self.plan, body))
        await self._answer(verdict, body)

    async def _answer(self, verdict: Verdict, body: bytes | None) -> None:
        """Send the held start as the verdict says, then ``body`` (``None``: it streams on)."""
        start = self.start
        assert start is not None
        self.start = None
        status = verdict.status
        if status == 200 and verdict.etag is not None and not self.plan.weaken:
            start["headers"] = [*self.headers, (b"etag", verdict.etag.encode("latin-1"))]
        elif status != 200 or verdict.etag is not None:
            start["status"] = status
            start["headers"] = reply_raw_headers(self.headers, verdict)
        if status != 200:
            self._go(START_REFUSED if body is None else LAST_REFUSED)
            body = verdict.body or b""
        elif body is None:
            self._go(START_DECIDED)
        else:
            self._go(LAST_TAGGED)
        await self.downstream(start)
        if self.phase is STREAM:
            return
        # No body went downstream before this start: this one is the whole of it.
        if self.drop_body:
            await self.downstream(_EMPTY_LAST.copy())
        else:
            await self.downstream({"type": "http.response.body", "body": body, "more_body": False})

    async def _untagged(self, more: bool) -> None:
        """Send the held start and what was buffered for it, untagged (``more``: a body follows)."""
        start = self.start
        assert start is not None
        self.start = None
        self._go(UNTAGGED)
        await self.downstream(start)
        if self.buffer or not more:
            body = b"".join(self.buffer)
            self.buffer = []
            await self._send_body(body, more)

    async def _send_body(self, body: bytes, more: bool) -> None:
        if not more:
            self._go(LAST_BODY)
        await self.downstream(
            {
                "type": "http.response.body",
                "body": b"" if self.drop_body else body,
                "more_body": more,
            }
        )

    async def finish(self) -> None:
        """Close a held response the app left open (it returned without a final body message)."""
        if self.phase is HOLD:
            await self._answer_held()
