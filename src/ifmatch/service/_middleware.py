"""ASGI middleware of the service: bearer-token protection and one JSON log line per request.

Both are plain ASGI, so they wrap every route (404 and 405 included) and
cost nothing per request beyond a header look-up and one log record.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifmatch import Conditions, Decision, Outcome, format_http_date, problem
from ifmatch.service._accesslog import ACCESS, ACCESS_LOGGER

__all__ = ["ACCESS_LOGGER", "AccessLog", "BearerAuth", "DateHeader", "http_date_now"]
_LOG_KEY = "ifmatch.log"


def note_precondition(
    request: Request, conditions: Conditions | None, decision: Decision | None
) -> None:
    """Record the precondition outcome of a request for its log line.

    ``absent``: no precondition fields; ``ignored``: the resource was missing
    and the answer is 404 (§13.2.1); otherwise the outcome, with the field
    that decided a 304/412 (``412 If-Match``).
    """
    fields: dict[str, Any] | None = request.scope.get(_LOG_KEY)
    if fields is None:
        return
    fields["precondition"] = outcome(conditions, decision)


def note_disconnect(request: Request) -> None:
    """Record that the client went away before its request was complete (logged, no 5xx)."""
    fields: dict[str, Any] | None = request.scope.get(_LOG_KEY)
    if fields is not None:
        fields["note"] = "client closed the connection before the request content was complete"


_date_second = -1
_date_value = b""


def http_date_now() -> bytes:
    """The ``Date`` value for a response starting now (formatted once per second)."""
    global _date_second, _date_value
    second = int(time.time())
    if second != _date_second:
        _date_second, _date_value = second, format_http_date(second).encode()
    return _date_value


def outcome(conditions: Conditions | None, decision: Decision | None) -> str:
    if decision is None:
        return "ignored"
    if decision.outcome is Outcome.PRECONDITION_REQUIRED:
        return "428 required"
    if decision.outcome is not Outcome.PROCEED:
        return f"{decision.status} {decision.field}"
    if conditions is not None and conditions.range is not None and conditions.if_range:
        return "If-Range matched" if decision.use_range else "If-Range failed"
    if conditions is None or not conditions.any_present:
        return "absent"
    return "passed"


class DateHeader:
    """Sets ``Date`` when the response starts (RFC 9110 §6.6.1).

    uvicorn's own Date is refreshed once a second, so it can be older than
    the Last-Modified of a resource written a moment ago, which §8.8.2.1
    forbids; ``ifmatch serve`` turns uvicorn's off and uses this instead.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", http_date_now()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_dated)


class AccessLog:
    """Logs ``{"method", "path", "status", "precondition", "ms", ...}`` as one JSON line."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app, self.enabled = app, enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        fields: dict[str, Any] = {"precondition": "-"}
        scope[_LOG_KEY] = fields
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            ms = (time.perf_counter() - started) * 1000
            precondition = fields["precondition"]
            ACCESS.record(
                scope["method"], scope["path"], status, precondition, ms, note=fields.get("note")
            )


#: Paths answered without a token: the health check reveals only that the database answers,
#: and load-balancer probes usually cannot send credentials.
PUBLIC_PATHS = frozenset({"/healthz"})


async def _refuse(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Send a complete problem+json response from middleware (before any endpoint ran)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BearerAuth:
    """401 for any request without ``Authorization: Bearer <token>`` (RFC 6750 §2.1, §3).

    The scheme name is case-insensitive (RFC 9110 §11.1), so ``bearer`` and
    ``BEARER`` are accepted; the token is compared in constant time.
    ``Authorization`` is a singleton field: a request carrying it twice is
    refused with 400 ``invalid_request`` whatever the values, since a proxy
    and the service could each read a different one.  :data:`PUBLIC_PATHS`
    need no token, nor do the requests ``public`` accepts (the page and its files).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        public: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.expected = token.encode() if token else None
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.expected is None
            or scope["path"] in PUBLIC_PATHS
            or (self.public is not None and self.public(scope))
        ):
            await self.app(scope, receive, send)
            return
        given = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
        if len(given) > 1:
            body = problem(400, "the Authorization field must appear only once")
            challenge = b'Bearer realm="ifmatch", error="invalid_request"'
            await _refuse(send, 400, body, [(b"www-authenticate", challenge)])
            return
        scheme, _, credentials = given[0].partition(b" ") if given else (b"", b"", b"")
        token = credentials.strip(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(token, self.expected):
            await self.app(scope, receive, send)
            return
        error = 'Bearer realm="ifmatch"' + (', error="invalid_token"' if given else "")
        body = problem(401, "a valid bearer token is required", title="Unauthorized")
        await _refuse(send, 401, body, [(b"www-authenticate", error.encode())])


#: Request header limits (answered with 431, RFC 6585 §5): per field line and for all of them.
MAX_FIELD_BYTES = 8 * 1024
MAX_HEADER_BYTES = 64 * 1024


class HeaderLimits:
    """431 for a request whose header fields are too large (RFC 6585 §5).

    uvicorn's httptools parser accepts fields of any size, so the limit is
    checked here, where it holds on any ASGI server: one field line
    (name, ``": "`` and value) may take :data:`MAX_FIELD_BYTES`, all of
    them together :data:`MAX_HEADER_BYTES`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            total = 0
            for name, value in scope["headers"]:
                size = len(name) + len(value) + 2
                total += size
                if size > MAX_FIELD_BYTES:
                    field = name.decode("latin-1")[:64]
                    detail = f"the {field} field exceeds {MAX_FIELD_BYTES} bytes"
                    await self._too_large(send, detail)
                    return
            if total > MAX_HEADER_BYTES:
                await self._too_large(send, f"the header fields exceed {MAX_HEADER_BYTES} bytes")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _too_large(send: Send, detail: str) -> None:
        body = problem(431, detail)
        await _refuse(send, 431, body, [(b"connection", b"close")])
