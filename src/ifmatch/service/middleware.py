"""ASGI middleware of the service: bearer-token protection and one JSON log line per request.

Both are plain ASGI, so they wrap every route (404 and 405 included) and
cost nothing per request beyond a header look-up and one log record.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ifmatch import Conditions, Decision, Outcome, format_http_date, problem

ACCESS_LOGGER = logging.getLogger("ifmatch.service.access")
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
    fields["precondition"] = _outcome(conditions, decision)


def _outcome(conditions: Conditions | None, decision: Decision | None) -> str:
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
        self._second = -1
        self._value = b""

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, format_http_date(second).encode()
        return self._value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", self._now()))
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
            ACCESS_LOGGER.info(
                "request",
                extra={
                    "fields": {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "precondition": fields["precondition"],
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                        "pid": os.getpid(),
                    }
                },
            )


class BearerAuth:
    """401 for any request without ``Authorization: Bearer <token>`` (RFC 6750 §3),
    except those ``public`` says need none (the page and its files)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        public: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode() if token else None
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.expected is None
            or (self.public is not None and self.public(scope))
        ):
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
        if hmac.compare_digest(given, self.expected):
            await self.app(scope, receive, send)
            return
        error = 'Bearer realm="ifmatch"' + (', error="invalid_token"' if given else "")
        body = problem(401, "a valid bearer token is required", title="Unauthorized")
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", error.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
