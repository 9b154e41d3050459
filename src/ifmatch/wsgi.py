"""WSGI middleware: ETags and 304s for reads, precondition errors turned into responses.

>>> from ifmatch.wsgi import ConditionalMiddleware
>>> app.wsgi_app = ConditionalMiddleware(app.wsgi_app)   # doctest: +SKIP

Same rules as the ASGI middleware (:mod:`ifmatch.tagging`).  The app's
iterable is returned unchanged whenever nothing is to be done, so
``wsgi.file_wrapper`` keeps its zero-copy path; it is closed in every case
(PEP 3333).  HEAD runs as GET inside (``head_as_get=True``) and the body is
dropped, so HEAD and GET carry the same validators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any
from wsgiref.types import StartResponse as StartResponse  # re-exported: the one name for it
from wsgiref.types import WSGIApplication

from ifmatch.guard import PreconditionError
from ifmatch.hashing import weak_etag
from ifmatch.phrases import status_line
from ifmatch.tagging import (
    Handling,
    Headers,
    Inspection,
    ReadContext,
    TaggingMiddleware,
    Verdict,
    reply_headers,
)

#: PEP 3333's types as the standard library spells them (``wsgiref.types``, Python 3.11), so
#: that a Flask, Werkzeug or Django WSGI app type-checks where ours is expected and back.
WSGIApp = WSGIApplication
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]

# Module constants: looking a member up on the Enum class costs more than the test itself.
_PASS, _DECIDE = Handling.PASS, Handling.DECIDE


def error_response(
    error: PreconditionError, start_response: StartResponse, head: bool = False
) -> list[bytes]:
    """Start the 304/412/428 response a :class:`PreconditionError` carries; return its body."""
    reply = error.reply
    start_response(reply.status_line, reply.headers)
    return [] if head else [reply.body]


#: The request fields the middleware reads, by their WSGI environ key.
_ENVIRON_FIELDS = (
    ("HTTP_IF_MATCH", "if-match"),
    ("HTTP_IF_NONE_MATCH", "if-none-match"),
    ("HTTP_IF_MODIFIED_SINCE", "if-modified-since"),
    ("HTTP_IF_UNMODIFIED_SINCE", "if-unmodified-since"),
    ("HTTP_ACCEPT_ENCODING", "accept-encoding"),
)
_PRECONDITION_KEYS = tuple(key for key, _ in _ENVIRON_FIELDS[:4])


def _request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, str(environ[key])) for key, name in _ENVIRON_FIELDS if key in environ]


class ConditionalMiddleware(TaggingMiddleware[WSGIApp]):
    """Adds weak ETags to GET/HEAD 200s, answers 304/412 for them, and renders guard errors.

    Parameters as for :class:`ifmatch.asgi.ConditionalMiddleware`.
    """

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method != "GET" and method != "HEAD":
            method = str(method).upper()
            if method != "GET" and method != "HEAD":
                return self._guarded(environ, start_response)
        head = method == "HEAD"
        exchange = self._context(environ, method, head)
        inner = environ
        drop_body = head and self.head_as_get
        if drop_body:
            inner = dict(environ)
            inner["REQUEST_METHOD"] = "GET"
        response = _Response(start_response, drop_body)
        try:
            result = self.app(inner, response.start_response)
        except PreconditionError as error:
            return error_response(error, start_response, head)
        chunks = response.started(result)
        status, headers = response.head()
        plan = exchange.inspect_text(int(status[:3]), headers)  # PEP 3333: 3 digits first
        if plan.handling is _PASS:
            return response.untouched(chunks)
        if plan.handling is _DECIDE:
            return response.decided(exchange.decide(plan), chunks)
        return self._tag(response, exchange, plan, chunks)

    def _guarded(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A method other than GET/HEAD: untouched, unless the app raises a guard's error."""
        try:
            return self.app(environ, start_response)
        except PreconditionError as error:
            return error_response(error, start_response)

    def _context(self, environ: dict[str, Any], method: str, head: bool) -> ReadContext:
        """The request's exchange: a shared one unless it carries a precondition to evaluate."""
        exchange = self._head if head else self._get
        # Most requests carry no precondition: they never build their conditions.
        if self.policy.coding_outside or any(map(environ.__contains__, _PRECONDITION_KEYS)):
            exchange = self.policy.context(
                method, _request_headers(environ), hashable=exchange.hashable
            )
        return exchange

    def _tag(
        self, response: _Response, exchange: ReadContext, plan: Inspection, chunks: Iterator[bytes]
    ) -> Iterable[bytes]:
        """A 200 without an ETag: buffer its body (up to max_buffer), hash it, then decide."""
        pulled = response.pulled
        size = sum(map(len, pulled)) if pulled else 0
        limit = self.policy.max_buffer
        try:
            for chunk in chunks:
                pulled.append(chunk)
                size += len(chunk)
                if size > limit:
                    return response.untouched(chunks)  # too big: stream the rest untagged
        except BaseException:
            response.close()
            raise
        response.close()
        if response.replaced():
            # The app replaced its response while we held it (start_response with
            # exc_info, PEP 3333): send the replacement as it is.
            return response.forward(*response.head())
        if len(pulled) == 1:
            hashed = exchange.tag_body(plan, pulled[0])
        else:
            hashed = exchange.tag(plan, pulled)
        status, headers = response.head()
        if not exchange.conditional:
            # Nothing to evaluate (the usual request): the 200 with its weak ETag.
            return response.forward(status, [*headers, ("etag", weak_etag(hashed))])
        verdict = exchange.decide(plan, hashed)
        body = pulled if verdict.status == 200 else [verdict.body or b""]
        return response.forward(*_reply(status, headers, verdict), body)


class _Response:
    """One response on its way through the middleware: what the app started, and its body.

    Its :meth:`start_response` is the one the app calls; the server's is called once,
    when the middleware knows what to send (:meth:`forward`).  After that, a late call
    from the app (an error while streaming, with ``exc_info``) goes to the server, as
    PEP 3333 describes.
    """

    __slots__ = ("captured", "drop_body", "forwarding", "held", "pulled", "result", "server")

    def __init__(self, start_response: StartResponse, drop_body: bool) -> None:
        self.server = start_response
        self.forwarding = False  # the server's start_response was called: later calls are its
        self.drop_body = drop_body
        self.captured: tuple[str, Headers] | None = None  # the app's status and headers
        self.held: tuple[str, Headers] | None = None  # what the decision was made on
        self.pulled: list[bytes] = []  # the body so far, with what the app passed to write()
        self.result: Iterable[bytes] = ()

    def start_response(
        self, status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if self.forwarding:
            # The response is under way: a late call (an error while streaming, with
            # exc_info) is the server's to handle, as PEP 3333 describes.
            return self.server(status, headers, exc_info)
        # Nothing was sent yet, so a second call (with exc_info) replaces the first.
        # The app's header list is never changed: every answer builds its own.
        self.captured = (status, headers if type(headers) is list else list(headers))
        return self.pulled.append

    def started(self, result: Iterable[bytes]) -> Iterator[bytes]:
        """The app's body iterator, pulled until it has called start_response (PEP 3333)."""
        self.result = result
        chunks = iter(result)
        while self.captured is None:
            try:
                self.pulled.append(next(chunks))
            except StopIteration:
                break
            except BaseException:
                self.close()
                raise
        if self.captured is None:
            self.close()
            raise RuntimeError("the WSGI app returned without calling start_response")
        self.held = self.captured
        return chunks

    def head(self) -> tuple[str, Headers]:
        """The status and headers the app gave (the latest, if it replaced them)."""
        assert self.captured is not None
        return self.captured

    def replaced(self) -> bool:
        """Whether the app called start_response again after the decision was made on it."""
        return self.captured is not self.held

    def close(self) -> None:
        """Close the app's iterable (PEP 3333: in every case)."""
        close = getattr(self.result, "close", None)
        if close is not None:
            close()

    def forward(
        self, status: str, headers: Headers, body: list[bytes] | None = None
    ) -> list[bytes]:
        """Start the server's response; the body is what was pulled, or ``body``."""
        self._start(status, headers)
        if self.drop_body:
            return []
        return self.pulled if body is None else body

    def _start(self, status: str, headers: Headers) -> None:
        self.forwarding = True
        self.server(status, headers)

    def untouched(self, chunks: Iterator[bytes]) -> Iterable[bytes]:
        """Send the app's response as it is: what was pulled, then the rest as it comes."""
        self._start(*self.head())
        if self.drop_body:
            self.close()
            return []
        if not self.pulled:
            return self.result
        return _chain(self.pulled, chunks, self)

    def decided(self, verdict: Verdict, chunks: Iterator[bytes]) -> Iterable[bytes]:
        """The app gave its own ETag: the verdict's response, its body streaming if a 200."""
        self._start(*_reply(*self.head(), verdict))
        if verdict.status != 200 or self.drop_body:
            self.close()
            return [] if self.drop_body or verdict.body is None else [verdict.body]
        return _chain(self.pulled, chunks, self)


def _reply(status: str, headers: Headers, verdict: Verdict) -> tuple[str, Headers]:
    """The status line and headers of the verdict's response."""
    line = status if verdict.status == 200 else status_line(verdict.status)
    return line, reply_headers(headers, verdict)


def _chain(first: list[bytes], rest: Iterator[bytes], response: _Response) -> Iterator[bytes]:
    """Yield what was pulled ahead, then the rest, and close the app's iterable at the end."""
    try:
        yield from first
        yield from rest
    finally:
        response.close()


__all__ = ["ConditionalMiddleware", "error_response", "status_line"]
