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

import contextlib
import dataclasses
import gzip
import itertools
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from ifmatch import (
    ByteRange,
    Conditions,
    ETag,
    Outcome,
    Resource,
    evaluate,
    format_http_date,
    not_modified_headers,
    plan_ranges,
)

#: The seeds' four mistakes (the issue's acceptance list).
MISTAKES = ("no-304", "if-match-ignored", "gzip-strong-etag", "per-host-etag")
#: Further single mistakes, one per remaining check, for the probes' own tests.
OTHER_MISTAKES = (
    "no-etag",
    "unquoted-etag",
    "weak-etag",
    "lm-after-date",
    "strong-etag-dynamic-body",
    "ims-over-inm",
    "304-drops-etag",
    "no-head",
    "range-off-by-one",
    "if-range-ignored",
    "416-without-content-range",
    "no-428",
    "rejects-body",
)
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
    """One JSON document at any path, versioned; GET/HEAD/PUT (PATCH replaces, like PUT)."""

    def __init__(self, mistake: str | None = None) -> None:
        if mistake is not None and mistake not in MISTAKES + OTHER_MISTAKES:
            raise ValueError(f"unknown mistake {mistake!r}")
        self.mistake = mistake
        self.body = b'{"title": "conditional requests", "tags": ["etag", "304", "412"], ' + (
            b'"text": "' + b"lorem ipsum " * 40 + b'"}'
        )
        self.version = 1
        self.modified = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        self.writes = 0
        self.received: list[tuple[str, str]] = []
        self._hosts = itertools.cycle(["web-a", "web-b"])
        self._requests = itertools.count()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        headers = [
            (key[5:].replace("_", "-"), value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        conditions = Conditions.from_headers(headers)
        if method == "HEAD" and self.mistake == "no-head":
            start_response("405 Method Not Allowed", [("Allow", "GET, PUT")])
            return [b""]
        if method in ("GET", "HEAD"):
            return self._read(method, environ, conditions, start_response)
        if method in ("PUT", "PATCH"):
            self.received.append((method, environ.get("CONTENT_TYPE", "")))
            return self._write(environ, conditions, start_response)
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD, PUT")])
        return [b""]

    def _etag(self, coded: bool) -> ETag:
        if self.mistake == "per-host-etag":
            return ETag(f"{next(self._hosts)}-v{self.version}")
        weak = self.mistake == "weak-etag"
        if coded and self.mistake != "gzip-strong-etag":
            return ETag(f"v{self.version}-gzip", weak)
        return ETag(f"v{self.version}", weak)

    def _read(
        self,
        method: str,
        environ: dict[str, Any],
        conditions: Conditions,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        coded = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self.body
        if self.mistake == "strong-etag-dynamic-body":
            body += b" %d" % next(self._requests)
        body = gzip.compress(body, mtime=0) if coded else body
        etag = self._etag(coded)
        modified = self.modified
        headers = [
            ("Content-Type", "application/json"),
            ("ETag", str(etag)),
            ("Last-Modified", format_http_date(modified)),
            ("Cache-Control", "no-cache"),
            ("Vary", "Accept-Encoding"),
            ("Accept-Ranges", "bytes"),
            ("Date", format_http_date(datetime.now(UTC))),
        ]
        if self.mistake == "lm-after-date":
            headers[2] = ("Last-Modified", "Fri, 01 Jan 2100 00:00:00 GMT")
            modified = datetime(2100, 1, 1, tzinfo=UTC)
        elif self.mistake == "no-etag":
            del headers[1]
        elif self.mistake == "unquoted-etag":
            headers[1] = ("ETag", etag.opaque)
        if coded:
            headers.append(("Content-Encoding", "gzip"))
        if self.mistake == "no-304":
            conditions = Conditions(range=conditions.range, if_range=conditions.if_range)
        if self.mistake == "if-range-ignored":
            conditions = dataclasses.replace(conditions, if_range=None)
        resource = Resource(None if self.mistake == "no-etag" else etag, modified)
        decision = evaluate(method, conditions, resource)
        if self.mistake == "ims-over-inm" and conditions.if_modified_since:
            only_date = Conditions(if_modified_since=conditions.if_modified_since)
            decision = evaluate(method, only_date, resource)
        if decision.outcome is Outcome.NOT_MODIFIED:
            kept = not_modified_headers(headers)
            if self.mistake == "304-drops-etag":
                kept = [(name, value) for name, value in kept if name != "ETag"]
            start_response("304 Not Modified", kept)
            return [b""]
        plan = plan_ranges(conditions.range if decision.use_range else None, len(body))
        replaced = {name.lower() for name, _ in plan.headers}
        headers = [(n, v) for n, v in headers if n.lower() not in replaced] + list(plan.headers)
        content = b"".join(plan.iter_body(lambda start, stop: [body[start:stop]]))
        if plan.status == 206 and self.mistake == "range-off-by-one":
            span = plan.segments[0]
            assert isinstance(span, ByteRange)
            content = body[span.start + 1 : span.stop + 1]
        if plan.status == 416:
            content = b""
            headers.append(("Content-Length", "0"))
            if self.mistake == "416-without-content-range":
                headers = [(n, v) for n, v in headers if n != "Content-Range"]
        start_response(f"{plan.status} {_REASONS[plan.status]}", headers)
        return [b""] if method == "HEAD" else [content]

    def _write(
        self, environ: dict[str, Any], conditions: Conditions, start_response: StartResponse
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        if self.mistake == "rejects-body":
            start_response("422 Unprocessable Content", [])
            return [b""]
        if self.mistake == "if-match-ignored" and conditions.if_match is not None:
            conditions = Conditions(if_none_match=conditions.if_none_match)
            required = False
        else:
            required = self.mistake != "no-428"
        current = Resource(None if self.mistake == "no-etag" else self._etag(False), self.modified)
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


@contextlib.contextmanager
def serve_wsgi(app: Callable[..., Iterable[bytes]], path: str = "/doc") -> Iterator[str]:
    """Serve a WSGI app on a real socket (Werkzeug's threaded server, in a thread)."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}{path}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
