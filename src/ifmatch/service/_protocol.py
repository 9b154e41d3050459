"""uvicorn's httptools protocol, answering the fast path's reads without an ASGI cycle.

A conditional ``GET`` that ends in 304 is the request conditional requests
exist to make cheap.  Through ASGI, uvicorn spends more on it than the fast
path does (:mod:`ifmatch.service._fastpath`): a scope, a task, an event and
two ``send`` messages per request.  :class:`FastHttpProtocol` asks the fast
path for its answer as soon as a request's head is parsed and, when there is
one, writes the answer's bytes itself: the same status, fields and body the
ASGI route sends (``tests/service/test_protocol.py`` compares the two byte by
byte), answered from the same validator cache, so never stale.

Only the plainest requests are answered here: ``GET`` or ``HEAD`` under
``/api/``, HTTP/1.1 with keep-alive, no query but a collection page's
(``?limit=N&cursor=C``, whose 304 the fast path answers), no
percent-encoding, no content, no ``Expect``, no upgrade, no request of the connection still
being answered (pipelining keeps its order), and a transport that is not
pushing back.  Everything else, and every request the fast path declines,
goes through uvicorn's own cycle unchanged.

This leans on uvicorn's protocol internals, so :func:`protocol_class` checks
that the attributes it uses exist and gives uvicorn's own class when they do
not (a newer uvicorn then serves as before, only without the shortcut).
"""

from __future__ import annotations

import re
import time
from typing import Any, cast

from ifmatch.service._accesslog import ACCESS
from ifmatch.service._fastpath import (
    WRITE_FAILED,
    Answer,
    FastPath,
    Headers,
    PreparedPut,
)
from ifmatch.service._middleware import MAX_FIELD_BYTES
from ifmatch.service.store import WriteDone, WriteRequest, WriteResult

try:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError:  # httptools is missing: uvicorn falls back to h11, no shortcut
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

#: What the shortcut reads and sets on uvicorn's protocol.
_USES = (
    "cycle",
    "pipeline",
    "flow",
    "transport",
    "parser",
    "url",
    "headers",
    "app",
    "loop",
    "server_state",
    "timeout_keep_alive",
    "timeout_keep_alive_task",
    "timeout_keep_alive_handler",
    "limit_concurrency",
    "expect_100_continue",
    "root_path",
    "_unset_keepalive_if_required",
)


class _Answered:
    """Stands in for uvicorn's cycle of a request answered here: finished, so the
    parser's later callbacks for it (body, message complete) do nothing."""

    response_complete = True
    disconnected = False
    keep_alive = True

    class message_event:  # uvicorn calls cycle.message_event.set()
        @staticmethod
        def set() -> None:
            return None


_ANSWERED = _Answered()


def _fast_path(app: Any) -> FastPath | None:
    """The service's fast path inside uvicorn's wrappers of the application, if any."""
    for _ in range(8):
        fast = getattr(app, "fast", None)
        if isinstance(fast, FastPath):
            return fast
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


#: A request head the shortcut reads itself: ``GET``, ``HEAD`` or ``PUT`` of a target
#: under ``/api/`` (no percent-encoding, no fragment, nothing but visible ASCII), HTTP/1.1,
#: and fields whose names are tokens and whose values are visible ASCII, spaces and tabs
#: (RFC 9112 §3, §5; RFC 9110 §5.1, §5.5).  No obsolete line folding, no bare LF: anything
#: else, valid or not, goes to httptools, which this grammar is a strict subset of.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEAD = re.compile(
    rb"(GET|HEAD|PUT) (/api/[!\"$&-~]*) HTTP/1\.1\r\n((?:" + _TOKEN + rb":[\t -~]*\r\n)*)\r\n"
)
#: A field line of a head ``_HEAD`` matched: its name and its value with the leading
#: whitespace left out (the trailing is stripped after: a lazy match would cost more).
_FIELD = re.compile(rb"(" + _TOKEN + rb"):[\t ]*([\t -~]*)\r\n")
#: Fields that change how a request is framed or handled by uvicorn: its cycle's.
_FRAMING = frozenset({b"transfer-encoding", b"connection", b"upgrade", b"expect"})
#: Fields (lower case, after a line's start) that make a read more than plain: any
#: condition but If-None-Match, credentials, content, and the framing fields.
_SPECIAL = re.compile(
    rb"\r\n(?:if-(?!none-match:)|range:|authorization:|content-|transfer-encoding:"
    rb"|connection:|upgrade:|expect:)"
)
_INM = b"\r\nif-none-match:"
_NOT_MODIFIED, _ABSENT = "304 If-None-Match", "absent"
_METHODS = {b"GET": "GET", b"HEAD": "HEAD", b"PUT": "PUT"}


if HttpToolsProtocol is not None:

    class FastHttpProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the fast path's reads and JSON PUTs answered
        in place."""

        _fast: FastPath | None = None
        #: The parser is between two requests (nothing of the next one fed to it yet).
        _between = True
        #: A PUT of this connection is queued for the group commit: later bytes wait.
        _writing = False
        _held = b""
        #: The error the shortcut's write raised, for the application to answer.
        _failed: Exception | None = None
        _close_after = False
        #: Answers held while the parser reads (:meth:`_feed`).
        _deferred: list[bytes] | None = None
        #: When the connection last had a request (the loop's clock), for the keep-alive.
        _active = 0.0

        def data_received(self, data: bytes) -> None:
            if self._writing:  # an answer is on its way: keep the order of requests
                self._held += data
                self.flow.pause_reading()
                return
            if not (self._between and self._read_here(data)):
                self._feed(data)

        def _feed(self, data: bytes) -> None:
            """Give ``data`` to uvicorn's parser.  The answers given here meanwhile
            (:meth:`_answered_here`) are written once the parser has read all of it: bytes
            it refuses further on get uvicorn's 400 alone, as from uvicorn itself (whose
            answers come later, from tasks)."""
            self._deferred = []
            try:
                super().data_received(data)
            finally:
                deferred, self._deferred = self._deferred, None
            if deferred and not self.transport.is_closing():
                self.transport.write(b"".join(deferred))

        def on_message_begin(self) -> None:
            self._between = False
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._between = True
            super().on_message_complete()

        def on_headers_complete(self) -> None:
            failed, self._failed = self._failed, None
            if failed is not None:  # a shortcut's write raised: the application answers
                super().on_headers_complete()
                cast(dict[str, Any], self.scope)[WRITE_FAILED] = failed
            elif not self._answered_here():
                super().on_headers_complete()

        def shutdown(self) -> None:
            if self._writing:  # close once the write's answer is sent
                self._close_after = True
            else:
                super().shutdown()

        def timeout_keep_alive_handler(self) -> None:
            # Requests answered here leave the timer armed and only note the time.
            left = self._active + self.timeout_keep_alive - self.loop.time()
            if self._writing or left > 0:
                self.timeout_keep_alive_task = self.loop.call_later(
                    max(left, 0.01), self.timeout_keep_alive_handler
                )
            else:
                super().timeout_keep_alive_handler()

        def _ready(self, writes: bool = False) -> FastPath | None:
            """The fast path, when this connection may be answered here now (``writes``:
            for a PUT, which every store takes; reads need SQLite's validator cache)."""
            if self.cycle is not None and not self.cycle.response_complete:
                return None  # a pipelined request waits for the one before it
            if self.pipeline or self.limit_concurrency is not None or self.root_path:
                return None
            if self.flow.write_paused:
                return None
            fast = self._fast
            if fast is None:
                fast = self._fast = _fast_path(self.app)
            if fast is None or not fast.puts or (fast.cache is None and not writes):
                return None
            return fast

        def _read_here(self, data: bytes) -> bool:
            """Answer ``data`` here when it is exactly one plain request the fast path
            takes, without the parser; ``False`` (nothing done) otherwise."""
            end = data.find(b"\r\n\r\n") + 4
            head = _HEAD.fullmatch(data, 0, end) if end > 3 else None
            if head is None:
                return False
            method = _METHODS[head[1]]
            fast = self._ready(method == "PUT")
            if fast is None:
                return False
            started = time.perf_counter()
            if method != "PUT" and end == len(data) and end <= MAX_FIELD_BYTES:
                # The commonest read: its only condition, if any, is one If-None-Match.
                low = data.lower()
                if _SPECIAL.search(low) is None and low.count(_INM) <= 1:
                    at = low.find(_INM)
                    inm = None
                    if at >= 0:
                        at += len(_INM)
                        inm = data[at : data.index(b"\r\n", at)].strip(b" \t")
                    plain = fast.plain(method, head[2], inm)
                    if plain is not None:
                        self.transport.write(plain[0])
                        precondition = _NOT_MODIFIED if plain[1] == 304 else _ABSENT
                        self._answered(fast, method, head[2], plain[1], precondition, started)
                        return True
            fields = [
                (name.lower(), value.rstrip(b" \t")) for name, value in _FIELD.findall(head[3])
            ]
            length = None
            for name, value in fields:
                if name in _FRAMING:
                    return False
                if name == b"content-length":
                    if length is not None or not value.isdigit():
                        return False
                    length = int(value)
            if method == "PUT":
                return length == len(data) - end and self._put(fast, head[2], fields, data, end)
            if length is not None or end != len(data):
                return False
            target, _, query = head[2].partition(b"?")
            path = target.decode("ascii")
            answer = fast.read(method, path, fields, query)
            return answer is not None and self._send(fast, method, path, answer, started)

        def _put(self, fast: FastPath, url: bytes, fields: Headers, data: bytes, end: int) -> bool:
            """Queue a plain JSON PUT for the fast path's group commit; its answer is
            written when the commit is done (:meth:`_put_done`)."""
            if url.find(b"?") >= 0:  # not ``in``, which tries an int first (a TypeError)
                return False
            put = fast.prepare_put(url.decode("ascii"), fields, data[end:])
            if put is None:
                return False
            self._writing = True
            started = time.perf_counter()

            def done(result: WriteResult | Exception | None) -> None:
                self._put_done(fast, put, data, result, started)

            if fast.cache is not None:  # SQLite: this turn's group commit
                fast.queue_write(put.request, done)
            elif not fast.store.submit(put.request, done):  # PostgreSQL: its async batches
                task = self.loop.create_task(_write_async(fast, put.request, done))
                self.tasks.add(task)  # uvicorn's shutdown waits for it, as for a cycle's
                task.add_done_callback(self.tasks.discard)
            return True

        def _put_done(
            self,
            fast: FastPath,
            put: PreparedPut,
            data: bytes,
            result: WriteResult | Exception | None,
            started: float,
        ) -> None:
            """Send a queued PUT's answer; a refusal, a busy lock or an error goes to
            uvicorn's cycle with the request's bytes, as if it had just arrived."""
            self._writing = False
            held, self._held = self._held, b""
            if held:
                self.flow.resume_reading()
            if self.transport.is_closing():
                return
            answer = fast.put_answer(put, result) if isinstance(result, WriteResult) else None
            if answer is None:
                if isinstance(result, Exception):
                    self._failed = result
                self._feed(data + held)
                return
            self._send(fast, "PUT", put.path, answer, started)
            if self._close_after:
                self.transport.close()
            elif held:
                self.data_received(held)

        def _answered_here(self) -> bool:
            """Answer the request whose head the parser just read, when the fast path
            takes it (a read the shortcut left to the parser, e.g. split across
            packets)."""
            if self.expect_100_continue or self.parser.should_upgrade():
                return False
            if self.parser.get_http_version() != "1.1" or not self.parser.should_keep_alive():
                return False
            method = self.parser.get_method()
            if method != b"GET" and method != b"HEAD":
                return False
            url: bytes = self.url
            if not url.startswith(b"/api/") or url.find(b"%") >= 0 or url.find(b"#") >= 0:
                return False
            # A query is passed on as uvicorn's scope has it; the front answers only a page's.
            target, _, query = url.partition(b"?")
            for name, _ in self.headers:
                if name == b"content-length" or name == b"transfer-encoding":
                    return False
            fast = self._ready()
            if fast is None:
                return False
            started = time.perf_counter()
            text = _METHODS[method]
            path = target.decode("ascii")
            answer = fast.read(text, path, self.headers, query)
            if answer is None or not self._send(fast, text, path, answer, started):
                return False
            self.cycle = _ANSWERED  # type: ignore[assignment]  # quacks like a finished cycle
            return True

        def _send(
            self, fast: FastPath, method: str, path: str, answer: Answer, started: float
        ) -> bool:
            """Write an answer of the fast path; ``False`` (nothing written) when uvicorn
            would frame it otherwise."""
            status, headers, body, precondition = answer
            framed = status == 304
            head = [STATUS_LINE[status]]
            for name, value in headers:
                head += (name, b": ", value, b"\r\n")
                if name == b"content-length":
                    framed = True
            if not framed:
                return False  # uvicorn would choose the framing: let it
            head.append(b"\r\n")
            if method != "HEAD":
                head.append(body)
            if self._deferred is None:
                self.transport.write(b"".join(head))
            else:
                self._deferred.append(b"".join(head))
            self._answered(fast, method, path, status, precondition, started)
            return True

        def _answered(
            self,
            fast: FastPath,
            method: str,
            target: str | bytes,
            status: int,
            precondition: str,
            started: float,
        ) -> None:
            """Count and log a request answered here, and keep its connection alive."""
            fast.answered += 1
            self.server_state.total_requests += 1
            self._active = self.loop.time()
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
            if fast.access_log:
                path = target if isinstance(target, str) else target.decode("ascii")
                ACCESS.record(
                    method, path, status, precondition, (time.perf_counter() - started) * 1000
                )


async def _write_async(fast: FastPath, request: WriteRequest, done: WriteDone) -> None:
    """Make a PUT's write with :meth:`Store.write_async` and give ``done`` its outcome:
    the result, the exception it raised, or ``None`` (the store cannot write it so)."""
    try:
        result = await fast.store.write_async(request)
    except Exception as error:
        done(error)
        return
    done(result)


def protocol_class() -> Any:
    """The HTTP protocol for uvicorn: :class:`FastHttpProtocol` when this uvicorn has what
    it uses, else ``"auto"`` (uvicorn's own choice)."""
    if HttpToolsProtocol is None:
        return "auto"
    names = set(dir(HttpToolsProtocol))
    for member in vars(HttpToolsProtocol).values():
        code = getattr(member, "__code__", None)
        if code is not None:
            names.update(code.co_names)
    if not all(name in names for name in _USES):
        return "auto"
    return FastHttpProtocol
