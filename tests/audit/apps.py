"""A small WSGI document store that gets conditional requests right, or makes ONE mistake.

``DocumentApp()`` is correct (the control: the auditor must find nothing);
``DocumentApp(mistake)`` makes exactly one of the mistakes the seeds list:

* ``"no-304"``: computes ETags but never compares them on GET (200 where 304 belongs);
* ``"if-match-ignored"``: performs a write whenever If-Match is present, whatever its value;
* ``"gzip-strong-etag"``: gzips for ``Accept-Encoding: gzip`` and keeps the strong ETag;
* ``"per-host-etag"``: two "backends" behind a round-robin balancer, each putting its
  host name into the ETag.

It is built on the core (``evaluate``, ``plan_ranges``, ``not_modified_headers``)
so that the correct version is correct for the same reasons the adapters are.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from ifmatch import (
    Conditions,
    ETag,
    Outcome,
    Resource,
    evaluate,
    format_http_date,
    not_modified_headers,
    plan_ranges,
)

MISTAKES = ("no-304", "if-match-ignored", "gzip-strong-etag", "per-host-etag")
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_REASONS = {
    200: "OK",
    206: "Partial Content",
    304: "Not Modified",
    412: "Precondition Failed",
    416: "Range Not Satisfiable",
    428: "Precondition Required",
}


class DocumentApp:
    """One JSON document at any path, versioned; GET/HEAD/PUT."""

    def __init__(self, mistake: str | None = None) -> None:
        if mistake is not None and mistake not in MISTAKES:
            raise ValueError(f"unknown mistake {mistake!r}")
        self.mistake = mistake
        self.body = b'{"title": "conditional requests", "tags": ["etag", "304", "412"], ' + (
            b'"text": "' + b"lorem ipsum " * 40 + b'"}'
        )
        self.version = 1
        self.modified = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        self.writes = 0
        self._hosts = itertools.cycle(["web-a", "web-b"])

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        headers = [
            (key[5:].replace("_", "-"), value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        conditions = Conditions.from_headers(headers)
        if method in ("GET", "HEAD"):
            return self._read(method, environ, conditions, start_response)
        if method == "PUT":
            return self._write(environ, conditions, start_response)
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD, PUT")])
        return [b""]

    def _etag(self, coded: bool) -> ETag:
        if self.mistake == "per-host-etag":
            return ETag(f"{next(self._hosts)}-v{self.version}")
        if coded and self.mistake != "gzip-strong-etag":
            return ETag(f"v{self.version}-gzip")
        return ETag(f"v{self.version}")

    def _read(
        self,
        method: str,
        environ: dict[str, Any],
        conditions: Conditions,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        coded = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = gzip.compress(self.body, mtime=0) if coded else self.body
        etag = self._etag(coded)
        headers = [
            ("Content-Type", "application/json"),
            ("ETag", str(etag)),
            ("Last-Modified", format_http_date(self.modified)),
            ("Cache-Control", "no-cache"),
            ("Vary", "Accept-Encoding"),
            ("Accept-Ranges", "bytes"),
        ]
        if coded:
            headers.append(("Content-Encoding", "gzip"))
        if self.mistake == "no-304":
            conditions = Conditions(range=conditions.range, if_range=conditions.if_range)
        decision = evaluate(method, conditions, Resource(etag, self.modified))
        if decision.outcome is Outcome.NOT_MODIFIED:
            start_response("304 Not Modified", not_modified_headers(headers))
            return [b""]
        plan = plan_ranges(conditions.range if decision.use_range else None, len(body))
        replaced = {name.lower() for name, _ in plan.headers}
        headers = [(n, v) for n, v in headers if n.lower() not in replaced] + list(plan.headers)
        content = b"".join(plan.iter_body(lambda start, stop: [body[start:stop]]))
        if plan.status == 416:
            content = b""
            headers.append(("Content-Length", "0"))
        start_response(f"{plan.status} {_REASONS[plan.status]}", headers)
        return [b""] if method == "HEAD" else [content]

    def _write(
        self, environ: dict[str, Any], conditions: Conditions, start_response: StartResponse
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        if self.mistake == "if-match-ignored" and conditions.if_match is not None:
            conditions = Conditions(if_none_match=conditions.if_none_match)
            required = False
        else:
            required = True
        current = Resource(self._etag(False), self.modified)
        decision = evaluate("PUT", conditions, current, require_precondition=required)
        if decision.status is not None:
            start_response(f"{decision.status} {_REASONS[decision.status]}", [])
            return [b""]
        self.body = body
        self.version += 1
        self.writes += 1
        self.modified = datetime.now(UTC)
        start_response("200 OK", [("ETag", str(self._etag(False)))])
        return [b""]
