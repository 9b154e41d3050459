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

import time
from typing import Any

from ifmatch.service._accesslog import ACCESS
from ifmatch.service._fastpath import FastPath

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


if HttpToolsProtocol is not None:

    class FastHttpProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with the fast path's reads answered in place."""

        _fast: FastPath | None = None

        def on_headers_complete(self) -> None:
            if not self._answered_here():
                super().on_headers_complete()

        def _answered_here(self) -> bool:
            if self.cycle is not None and not self.cycle.response_complete:
                return False  # a pipelined request waits for the one before it
            if self.limit_concurrency is not None or self.flow.write_paused or self.root_path:
                return False
            if self.expect_100_continue or self.parser.should_upgrade():
                return False
            if self.parser.get_http_version() != "1.1" or not self.parser.should_keep_alive():
                return False
            method = self.parser.get_method()
            if method != b"GET" and method != b"HEAD":
                return False
            url: bytes = self.url
            if not url.startswith(b"/api/") or b"%" in url or b"#" in url:
                return False
            # A query is passed on as uvicorn's scope has it; the front answers only a page's.
            target, _, query = url.partition(b"?")
            for name, _ in self.headers:
                if name == b"content-length" or name == b"transfer-encoding":
                    return False
            fast = self._fast
            if fast is None:
                fast = self._fast = _fast_path(self.app)
            if fast is None or fast.cache is None:
                return False
            started = time.perf_counter()
            text = "GET" if method == b"GET" else "HEAD"
            path = target.decode("ascii")
            answer = fast.read(text, path, self.headers, query)
            if answer is None:
                return False
            status, headers, body, precondition = answer
            if status != 304 and not any(name == b"content-length" for name, _ in headers):
                return False  # uvicorn would choose the framing: let it
            head = [STATUS_LINE[status]]
            for name, value in headers:
                head += (name, b": ", value, b"\r\n")
            head.append(b"\r\n")
            if text == "GET":
                head.append(body)
            self.transport.write(b"".join(head))
            fast.answered += 1
            self.cycle = _ANSWERED  # type: ignore[assignment]  # quacks like a finished cycle
            self.server_state.total_requests += 1
            self._unset_keepalive_if_required()  # a request answered just before armed one
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
            if fast.access_log:
                ACCESS.record(
                    text, path, status, precondition, (time.perf_counter() - started) * 1000
                )
            return True


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
