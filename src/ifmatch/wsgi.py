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

from ifmatch.guard import PreconditionError
from ifmatch.phrases import status_line
from ifmatch.tagging import (
    DEFAULT_MAX_BUFFER,
    Action,
    HashChoice,
    Headers,
    TaggingPolicy,
    Verdict,
    reply_headers,
)

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Module constants: looking a member up on the Enum class costs more than the test itself.
_PASS, _DECIDE = Action.PASS, Action.DECIDE

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


def _close(iterable: Iterable[bytes]) -> None:
    close = getattr(iterable, "close", None)
    if close is not None:
        close()


class ConditionalMiddleware:
    """Adds weak ETags to GET/HEAD 200s, answers 304/412 for them, and renders guard errors.

    Parameters as for :class:`ifmatch.asgi.ConditionalMiddleware`.
    """

    def __init__(
        self,
        app: WSGIApp,
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

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method != "GET" and method != "HEAD":
            method = str(method).upper()
            if method != "GET" and method != "HEAD":
                try:
                    return self.app(environ, start_response)
                except PreconditionError as error:
                    return error_response(error, start_response)
        head = method == "HEAD"
        exchange = self._head if head else self._get
        # Most requests carry no precondition: they never build their conditions.
        if self.policy.coding_outside or any(map(environ.__contains__, _PRECONDITION_KEYS)):
            exchange = self.policy.exchange(
                method, _request_headers(environ), hashable=exchange.hashable
            )
        inner = environ
        drop_body = head and self.head_as_get
        if drop_body:
            inner = dict(environ)
            inner["REQUEST_METHOD"] = "GET"

        captured: tuple[str, Headers] | None = None  # the app's status and headers
        pulled: list[bytes] = []  # the body so far: what the app passed to write() (PEP 3333)
        forwarding = False  # the server's start_response was called: later calls are its

        def capture(
            status: str, headers: Headers, exc_info: ExcInfo | None = None
        ) -> Callable[[bytes], object]:
            nonlocal captured
            if forwarding:
                # The response is under way: a late call (an error while streaming, with
                # exc_info) is the server's to handle, as PEP 3333 describes.
                return start_response(status, headers, exc_info)
            # Nothing was sent yet, so a second call (with exc_info) replaces the first.
            # The app's header list is never changed: every answer builds its own.
            captured = (status, headers if type(headers) is list else list(headers))
            return pulled.append

        try:
            result = self.app(inner, capture)
        except PreconditionError as error:
            return error_response(error, start_response, head)
        chunks = iter(result)
        # PEP 3333: start_response may be called as late as the first non-empty chunk.
        while captured is None:
            try:
                pulled.append(next(chunks))
            except StopIteration:
                break
            except BaseException:
                _close(result)
                raise
        if captured is None:
            _close(result)
            raise RuntimeError("the WSGI app returned without calling start_response")
        held = captured
        status, headers = held
        code = int(status[:3])  # PEP 3333: the status starts with its three digits
        plan = exchange.inspect_text(code, headers)

        if plan.action is _PASS:
            forwarding = True
            start_response(status, headers)
            if drop_body:
                _close(result)
                return []
            if not pulled:
                return result
            return _chain(pulled, chunks, result)
        if plan.action is _DECIDE:
            verdict = exchange.decide(plan)
            forwarding = True
            start_response(*_reply(status, headers, verdict))
            if verdict.status != 200 or drop_body:
                _close(result)
                return [] if drop_body or verdict.body is None else [verdict.body]
            return _chain(pulled, chunks, result)

        size = sum(map(len, pulled)) if pulled else 0
        limit = self.policy.max_buffer
        try:
            for chunk in chunks:
                pulled.append(chunk)
                size += len(chunk)
                if size > limit:
                    forwarding = True
                    start_response(status, headers)  # too big: stream the rest untagged
                    if drop_body:
                        _close(result)
                        return []
                    return _chain(pulled, chunks, result)
        except BaseException:
            _close(result)
            raise
        _close(result)
        if captured is not held:
            # The app replaced its response while we held it (start_response with
            # exc_info, PEP 3333): send the replacement as it is.
            forwarding = True
            start_response(*captured)
            return [] if drop_body else pulled
        if len(pulled) == 1:
            hashed = exchange.tag_body(plan, pulled[0])
        else:
            hashed = exchange.tag(plan, pulled)
        forwarding = True
        if not exchange.conditional:
            # Nothing to evaluate (the usual request): the 200 with its weak ETag.
            start_response(status, [*headers, ("etag", f'W/"{hashed}"')])
            return [] if drop_body else pulled
        verdict = exchange.decide(plan, hashed)
        start_response(*_reply(status, headers, verdict))
        if drop_body:
            return []
        return pulled if verdict.status == 200 else [verdict.body or b""]


def _reply(status: str, headers: Headers, verdict: Verdict) -> tuple[str, Headers]:
    """The status line and headers of the verdict's response."""
    line = status if verdict.status == 200 else status_line(verdict.status)
    return line, reply_headers(headers, verdict)


def _chain(first: list[bytes], rest: Iterator[bytes], result: Iterable[bytes]) -> Iterator[bytes]:
    """Yield what was pulled ahead, then the rest, and close the app's iterable at the end."""
    try:
        yield from first
        yield from rest
    finally:
        _close(result)


__all__ = ["ConditionalMiddleware", "error_response", "status_line"]
