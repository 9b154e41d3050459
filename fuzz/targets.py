"""Fuzz targets: each takes arbitrary bytes and fails (raises anything but the documented
error) only on a bug.

Every target decodes its input itself (:class:`Input`), so the same function runs under
atheris (``fuzz/run.py``, coverage-guided, ``make fuzz``), under the smoke run in
``make test`` (random and seed inputs) and on the crash rows of
``tests/scale/test_fuzz.py``.  Besides "no unexpected exception", each target checks
properties that a wrong answer would break: round trips, exact lengths, fail-safe
decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from ifmatch import (
    ByteRange,
    Conditions,
    ETag,
    ETagList,
    HeaderParseError,
    Outcome,
    Resource,
    evaluate,
    format_http_date,
    parse_http_date,
    parse_range,
    plan_ranges,
)
from ifmatch.asgi import ConditionalMiddleware
from ifmatch.cachecontrol import format_cache_control, parse_cache_control
from ifmatch.respond import Representation, respond
from ifmatch.service import patch
from ifmatch.service.cachepolicy import CachePolicy, PolicyError

Target = Callable[[bytes], None]
_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_MODIFIED = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class Input:
    """Arbitrary bytes consumed as small choices and strings, never raising."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            return 0
        self.at += 1
        return self.data[self.at - 1]

    def number(self, limit: int) -> int:
        """0 <= n < limit (limit <= 2**24)."""
        value = self.byte() | self.byte() << 8 | self.byte() << 16
        return value % limit

    def pick(self, options: list[Any] | tuple[Any, ...]) -> Any:
        return options[self.byte() % len(options)]

    def text(self, limit: int = 64) -> str:
        """Up to ``limit`` characters, Latin-1 (what a server decodes header bytes as)."""
        size = self.byte() % (limit + 1)
        piece = self.data[self.at : self.at + size]
        self.at += len(piece)
        return piece.decode("latin-1")

    def rest(self) -> str:
        piece = self.data[self.at :]
        self.at = len(self.data)
        return piece.decode("latin-1")


# -- header parsers ----------------------------------------------------------------------------


def etag_lists(data: bytes) -> None:
    """``If-Match`` / ``If-None-Match`` lists: parse, and what parsed prints and re-parses."""
    text = data.decode("latin-1")
    for field in ("If-Match", "If-None-Match"):
        try:
            parsed = ETagList.parse(text, field=field)
        except HeaderParseError:
            continue
        again = ETagList.parse(str(parsed), field=field)
        assert again == parsed, (text, str(parsed))
    try:
        tag = ETag.parse(text)
    except HeaderParseError:
        return
    assert ETag.parse(str(tag)) == tag


def http_dates(data: bytes) -> None:
    """HTTP-dates (IMF-fixdate, RFC 850, asctime): a UTC moment that formats and re-parses."""
    text = data.decode("latin-1")
    try:
        moment = parse_http_date(text, now=_NOW)
    except HeaderParseError:
        return
    assert moment.tzinfo is not None
    assert moment.utcoffset() is not None
    assert not moment.utcoffset()
    assert parse_http_date(format_http_date(moment)) == moment.replace(microsecond=0)


def ranges(data: bytes) -> None:
    """``Range``: parse, plan against a length, and check every span and length."""
    source = Input(data)
    length = source.pick([0, 1, 2, 10, 100, 1000, 65536, source.number(1 << 24)])
    value = source.rest()
    with contextlib.suppress(HeaderParseError):
        parse_range(value)
    plan = plan_ranges(value, length, "text/plain")
    assert plan.status in {200, 206, 416}
    headers = dict(plan.headers)
    if plan.status == 416:
        assert headers["Content-Range"] == f"bytes */{length}"
        return
    spans = [segment for segment in plan.segments if isinstance(segment, ByteRange)]
    for span in spans:
        assert 0 <= span.start < span.stop <= length, (span, length)
    if plan.status == 200:
        assert plan.content_length == length
    else:
        assert plan.content_length <= length or len(spans) == 1
        assert int(headers["Content-Length"]) == plan.content_length


def multipart(data: bytes) -> None:
    """The multipart/byteranges planner: the body it frames holds exactly the asked bytes."""
    source = Input(data)
    length = source.pick([1, 2, 7, 100, 999, 4096, 1 + source.number(100_000)])
    representation = bytes(index % 251 for index in range(length))
    boundary = source.pick(["b", "0123456789abcdef", "x'()+_,./:=?-y", None])
    specs = [
        f"{source.number(length + 2)}-{source.number(length + 2)}" for _ in range(source.byte() % 8)
    ]
    specs += [f"-{source.number(length + 2)}", f"{source.number(length + 2)}-"][: source.byte() % 3]
    specs += [source.text(16)] if source.byte() % 4 == 0 else []
    value = "bytes=" + ",".join(specs)
    plan = plan_ranges(value, length, "application/octet-stream", boundary=boundary)
    body = b"".join(plan.iter_body(lambda start, stop: [representation[start:stop]]))
    assert len(body) == plan.content_length
    headers = dict(plan.headers)
    if plan.status == 200:
        assert body == representation
        return
    if plan.status == 416:
        return
    if "multipart" not in headers.get("Content-Type", ""):
        start, stop = _content_range(headers["Content-Range"], length)
        assert body == representation[start:stop]
        return
    assert plan.content_length < length  # a multipart body never outgrows the whole (§14.6)
    mark = headers["Content-Type"].split("boundary=", 1)[1].strip('"')
    parts = body.split(b"--" + mark.encode())
    assert parts[-1].strip() in {b"--", b"--\r\n".strip()}
    for part in parts[1:-1]:
        head, _, payload = part.partition(b"\r\n\r\n")
        found = re.search(rb"Content-Range: (bytes \d+-\d+/\d+)", head)
        assert found is not None, head
        start, stop = _content_range(found.group(1).decode(), length)
        assert payload[:-2] == representation[start:stop], (start, stop)


def _content_range(value: str, length: int) -> tuple[int, int]:
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", value)
    assert match is not None, value
    assert int(match.group(3)) == length
    return int(match.group(1)), int(match.group(2)) + 1


def cache_control(data: bytes) -> None:
    """``Cache-Control``: parse, format, re-parse; and a policy rule built from it."""
    text = data.decode("latin-1")
    try:
        directives = parse_cache_control(text)
    except HeaderParseError:
        directives = None
    if directives is not None:
        assert parse_cache_control(format_cache_control(directives)) == directives
    try:
        policy = CachePolicy.parse([f"notes={text}"])
    except PolicyError:
        return
    for authenticated in (False, True):
        fields = dict(policy.headers("doc:notes", authenticated))
        names = {name for name, _ in parse_cache_control(fields["Cache-Control"])}
        if authenticated and "public" not in names:
            assert "private" in names or "no-store" in names, fields  # RFC 9111 §3.5
            assert "s-maxage" not in names


_FIELD_NAMES = [
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Range",
    "Range",
    "if-match",
    "IF-NONE-MATCH",
    "Content-Type",
]
_VALUES = ['"v1"', 'W/"v1"', '"v2"', "*", "Sun, 01 Jun 2025 12:00:00 GMT", "bytes=0-1", ""]


def conditional_fields(data: bytes) -> None:
    """The conditional fields together: evaluation never crashes and is fail-safe.

    A request whose fields cannot be read never gets a 304 it did not earn and an unsafe
    method never passes an ``If-Match`` it does not satisfy.
    """
    source = Input(data)
    pairs = []
    for _ in range(source.byte() % 6):
        name = source.pick(_FIELD_NAMES)
        value = source.pick(_VALUES) if source.byte() % 2 else source.text(40)
        pairs.append((name, value))
    conditions = Conditions.from_headers(pairs)
    tag = ETag("v1")
    resources = [
        Resource(tag, _MODIFIED),
        Resource(tag, _MODIFIED, True, True),
        Resource(None, None),
        Resource.missing(),
    ]
    for resource in resources[source.byte() % 2 :: 2]:
        for method in ("GET", "PUT", source.pick(["HEAD", "DELETE", "POST"])):
            decision = evaluate(method, conditions, resource, now=_NOW)
            if decision.outcome is Outcome.NOT_MODIFIED:
                assert method in {"GET", "HEAD"}
            if decision.status is None and conditions.if_match is not None:
                # Passing If-Match needs "*" and a current representation, or a strong match
                # with the current tag (§13.1.1).
                try:
                    listed = ETagList.parse(conditions.if_match)
                except HeaderParseError:
                    raise AssertionError("an unreadable If-Match passed") from None
                if listed.any:
                    assert resource.exists, (conditions, resource)
                else:
                    assert listed.strong_contains(resource.etag), (conditions, resource)
    reply = respond(
        source.pick(["GET", "HEAD", "PUT"]),
        conditions,
        Representation(tag, _MODIFIED, 10, "text/plain", ranges=True),
        now=_NOW,
    )
    assert reply.status in {200, 206, 304, 412, 416, 428}


# -- JSON Patch and merge patch -----------------------------------------------------------------

_KEYS = ["a", "b", "", "~", "~0", "~1", "/", "0", "1", "-", "01"]


def _json(source: Input, depth: int = 0) -> Any:
    kind = source.byte() % (7 if depth < 4 else 4)
    if kind == 0:
        return None
    if kind == 1:
        return source.byte() % 2 == 0
    if kind == 2:
        return source.number(1000) - 500
    if kind == 3:
        return source.pick([*_KEYS, source.text(8)])
    if kind == 4:
        return [_json(source, depth + 1) for _ in range(source.byte() % 4)]
    return {source.pick(_KEYS): _json(source, depth + 1) for _ in range(source.byte() % 4)}


def _pointer(source: Input) -> Any:
    if source.byte() % 8 == 0:
        return source.text(12)  # mostly not a pointer
    return "".join("/" + source.pick(_KEYS) for _ in range(source.byte() % 4))


def json_patch(data: bytes) -> None:
    """RFC 6902: only :class:`PatchError` for bad input; the document given is never changed."""
    source = Input(data)
    document = _json(source)
    operations: Any = []
    for _ in range(source.byte() % 5):
        operation: dict[str, Any] = {
            "op": source.pick(["add", "remove", "replace", "move", "copy", "test", "x"])
        }
        for member in ("path", "from"):
            if source.byte() % 4:
                operation[member] = _pointer(source)
        if source.byte() % 3:
            operation["value"] = _json(source)
        operations.append(operation)
    if source.byte() % 16 == 0:
        operations = _json(source)  # not even a list
    before = copy.deepcopy(document)
    try:
        patch.validate_json_patch(operations)
        result = patch.apply_json_patch(document, operations, max_bytes=1 << 16)
    except patch.PatchError:
        assert document == before
        return
    assert document == before
    json.dumps(result)  # still JSON
    for operation in operations:
        if operation["op"] == "test":
            continue
        if operation["op"] in {"add", "replace"} and operation["path"] == "":
            return
    # A patch of only "test" operations that applied changes nothing.
    if all(operation["op"] == "test" for operation in operations):
        assert patch.json_equal(result, document)


def merge_patch(data: bytes) -> None:
    """RFC 7396: total, does not change its inputs, and applying it twice changes nothing."""
    source = Input(data)
    target, change = _json(source), _json(source)
    before = copy.deepcopy((target, change))
    once = patch.merge_patch(target, change)
    assert (target, change) == before
    twice = patch.merge_patch(copy.deepcopy(once), change)
    assert patch.json_equal(once, twice), (target, change, once, twice)


# -- the ASGI middleware ------------------------------------------------------------------------

_RESPONSE_NAMES = [b"etag", b"last-modified", b"content-length", b"content-type", b"cache-control",
                   b"content-encoding", b"vary", b"x-other", b"ETag"]  # fmt: skip
_LOOP: asyncio.AbstractEventLoop | None = None


def asgi_middleware(data: bytes) -> None:
    """:class:`ifmatch.asgi.ConditionalMiddleware` around an app that answers with fuzzed
    status, fields and body messages, for a request with fuzzed conditional fields.

    What reaches the server must be a well-formed ASGI response: one start, body messages,
    the last with ``more_body`` false; no body on a 304 or a HEAD; a ``Content-Length``
    that matches the bytes sent.
    """
    global _LOOP
    source = Input(data)
    method = source.pick(["GET", "GET", "HEAD", "PUT", "POST"])
    request_headers = []
    for _ in range(source.byte() % 4):
        name = source.pick([b"if-none-match", b"if-match", b"if-modified-since", b"range",
                            b"if-range", b"if-unmodified-since", b"accept-encoding"])  # fmt: skip
        value = (
            source.pick([b'"x"', b"*", b'W/"x"', b"bytes=0-0"])
            if source.byte() % 2
            else source.text(30).encode("latin-1")
        )
        request_headers.append((name, value))
    status = source.pick([200, 200, 200, 201, 204, 206, 304, 404, 412, 500])
    response_headers = []
    for _ in range(source.byte() % 5):
        name = source.pick(_RESPONSE_NAMES)
        value = source.text(40).encode("latin-1")
        response_headers.append((name, value))
    chunks = [source.text(200).encode("latin-1") for _ in range(1 + source.byte() % 3)]
    if status in {204, 304}:
        chunks = [b""]  # what a server lets an app send (RFC 9110 §15.3.5, §15.4.5)
    declared = source.byte() % 4 == 0
    if declared:
        response_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": list(response_headers)}
        )
        for index, chunk in enumerate(chunks):
            await send(
                {"type": "http.response.body", "body": chunk, "more_body": index < len(chunks) - 1}
            )

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": request_headers,
        "query_string": b"",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }
    middleware = ConditionalMiddleware(app)
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    _LOOP.run_until_complete(middleware(scope, receive, send))
    assert sent, "nothing sent"
    assert sent[0]["type"] == "http.response.start"
    assert isinstance(sent[0]["status"], int)
    assert all(message["type"] == "http.response.body" for message in sent[1:])
    assert sent[-1].get("more_body", False) is False or len(sent) == 1
    body = b"".join(message.get("body", b"") for message in sent[1:])
    final = sent[0]["status"]
    if final == 304:
        assert body == b"", (final, method)
    lengths = [value for name, value in sent[0]["headers"] if name.lower() == b"content-length"]
    checkable = len(lengths) == 1 and lengths[0].isdigit() and final != 304 and method != "HEAD"
    if checkable and (final != status or declared):
        assert int(lengths[0]) == len(body), (final, lengths, len(body))


TARGETS: dict[str, Target] = {
    "etag_lists": etag_lists,
    "http_dates": http_dates,
    "ranges": ranges,
    "cache_control": cache_control,
    "conditional_fields": conditional_fields,
    "multipart": multipart,
    "json_patch": json_patch,
    "merge_patch": merge_patch,
    "asgi_middleware": asgi_middleware,
}

#: A few valid inputs per target: atheris starts its corpus from them, the smoke run too.
SEEDS: dict[str, list[bytes]] = {
    "etag_lists": [b'"a", W/"b", "c"', b"*", b'W/"x"', b'"\x80\xff"', b""],
    "http_dates": [
        b"Sun, 06 Nov 1994 08:49:37 GMT",
        b"Sunday, 06-Nov-94 08:49:37 GMT",
        b"Sun Nov  6 08:49:37 1994",
    ],
    "ranges": [b"\x03bytes=0-1,5-9", b"\x05bytes=-500", b"\x02bytes=0-", b"\x01items=1-2"],
    "cache_control": [
        b"max-age=0, must-revalidate, s-maxage=60",
        b'private="a, b"',
        b"public, no-cache",
    ],
    "conditional_fields": [b"\x02\x00\x01\x00\x01\x01\x01", b"\x03\x01\x00\x03\x00\x05\x01"],
    "multipart": [b"\x03\x01\x04\x00\x10\x00\x00\x20\x00\x00", b"\x06\x02\x07"],
    "json_patch": [b"\x05\x02\x00\x01\x00\x02\x01\x03\x01\x01\x00", b"\x04\x01\x05\x02"],
    "merge_patch": [b"\x05\x02\x00\x01\x06\x01\x01\x00", b"\x04\x02\x05\x01\x00\x00"],
    "asgi_middleware": [
        b"\x00\x01\x00\x01\x00\x00\x01\x00\x05hello",
        b"\x02\x00\x06\x00\x00\x02ab",
    ],
}
