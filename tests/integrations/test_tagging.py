"""The middleware's decision equals the core's, whatever the request sends.

:meth:`ReadContext.decide` takes a shortcut for the usual revalidation
(``If-None-Match`` holding exactly the tag); these properties check that
the shortcut and the header scan never disagree with :func:`ifmatch.evaluate`.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from ifmatch import (
    Conditions,
    ETag,
    HeaderParseError,
    Resource,
    evaluate,
    not_modified_headers,
    parse_http_date,
)
from ifmatch.tagging import Handling, TaggingPolicy, Verdict, reply_headers, reply_raw_headers

HEX = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
DATES = st.sampled_from(
    ["Mon, 01 Jan 2024 00:00:00 GMT", "Sat, 01 Jan 2000 00:00:00 GMT", "not a date"]
)


def _readable_date(value: str | None) -> datetime | None:
    """A Last-Modified as the middleware reads it: unreadable counts as absent (§13.1.3)."""
    try:
        return None if value is None else parse_http_date(value)
    except HeaderParseError:
        return None


@st.composite
def if_none_match(draw: st.DrawFn, tag: str) -> str:
    forms = [
        f'W/"{tag}"',
        f'"{tag}"',
        f' W/"{tag}" ',
        f'"{tag[:-1]}x"',
        "*",
        "garbage",
        f'W/"{tag}", "other"',
        f'"other",W/"{tag}"',
        '""',
        f'w/"{tag}"',
    ]
    return draw(st.sampled_from(forms) | st.text(max_size=40))


@given(data=st.data(), tag=HEX, method=st.sampled_from(["GET", "HEAD"]))
def test_decide_agrees_with_evaluate(data: st.DataObject, tag: str, method: str) -> None:
    headers: dict[str, str] = {}
    if data.draw(st.booleans()):
        headers["If-None-Match"] = data.draw(if_none_match(tag))
    if data.draw(st.booleans()):
        headers["If-Match"] = data.draw(if_none_match(tag))
    if data.draw(st.booleans()):
        headers["If-Modified-Since"] = data.draw(DATES)
    if data.draw(st.booleans()):
        headers["If-Unmodified-Since"] = data.draw(DATES)
    modified = data.draw(st.none() | DATES)

    exchange = TaggingPolicy.build().context(method, list(headers.items()))
    response = [("Content-Type", "text/plain")]
    if modified:
        response.append(("Last-Modified", modified))
    plan = exchange.inspect(200, response)
    assert plan.handling is Handling.HASH
    verdict = exchange.decide(plan, tag)

    resource = Resource(ETag(tag, weak=True), _readable_date(modified))
    expected = evaluate(method, Conditions.from_headers(headers), resource)
    assert verdict.status == (expected.status or 200)
    assert verdict.etag == f'W/"{tag}"'


RESPONSE_FIELDS = st.sampled_from(
    [
        ("ETag", 'W/"x"'),
        ("ETag", '"strong"'),
        ("ETag", "not-a-tag"),
        ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ("Cache-Control", "no-store"),
        ("Cache-Control", "max-age=60, No-Store"),
        ("Cache-Control", "no-storex"),
        ("Content-Encoding", "gzip"),
        ("Content-Encoding", " Identity "),
        ("Content-Encoding", ""),
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Content-Type", "TEXT/Event-Stream"),
        ("Content-Type", "application/json"),
        ("Content-Length", "10"),
        ("Content-Length", "9"),
        ("Content-Length", " 100 "),
        ("Content-Length", "2000000"),
        ("Content-Length", "junk"),
        ("Vary", "Accept"),
        ("X-Request-Id", "7"),
    ]
)


@given(
    fields=st.lists(RESPONSE_FIELDS, max_size=5),
    lower=st.booleans(),
    status=st.sampled_from([200, 200, 404]),
    method=st.sampled_from(["GET", "HEAD"]),
    hashable=st.booleans(),
    conditional=st.booleans(),
    max_buffer=st.sampled_from([0, 9, 10, 99, 1 << 20]),
)
def test_raw_inspection_agrees_with_str_inspection(
    fields: list[tuple[str, str]],
    lower: bool,
    status: int,
    method: str,
    hashable: bool,
    conditional: bool,
    max_buffer: int,
) -> None:
    """The byte-pair and str fast paths plan exactly what the general scan plans."""
    policy = TaggingPolicy.build(max_buffer=max_buffer, coding_outside=conditional)
    request = [("If-None-Match", '"a"'), ("Accept-Encoding", "gzip")] if conditional else []
    exchange = policy.context(method, request, hashable=hashable)
    raw = [((name.lower() if lower else name).encode(), value.encode()) for name, value in fields]
    assert exchange.inspect_raw(status, raw) == exchange.inspect(status, fields)
    text = [(name.lower() if lower else name, value) for name, value in fields]
    assert exchange.inspect_text(status, text) == exchange.inspect(status, fields)


def test_unconditional_exchange_is_what_exchange_builds_for_a_plain_request() -> None:
    policy = TaggingPolicy.build()
    for method, hashable in [("GET", True), ("HEAD", True), ("HEAD", False)]:
        plain = policy.context(method, [(b"accept", b"*/*")], hashable=hashable)
        assert policy.unconditional(method, hashable=hashable) == plain


NAMES_304 = st.sampled_from(
    [
        b"etag",
        b"ETag",
        b"last-modified",
        b"content-type",
        b"Content-Length",
        b"vary",
        b"cache-control",
        b"set-cookie",
        b"content-encoding",
        b"date",
        b"x-request-id",
    ]
)


@given(st.lists(st.tuples(NAMES_304, st.binary(max_size=8)), max_size=8))
def test_memoized_304_headers_are_the_cores(headers: list[tuple[bytes, bytes]]) -> None:
    """The 304 reuses the core's choice per name sequence: same result as the core."""
    verdict = Verdict(304)
    assert reply_raw_headers(headers, verdict) == not_modified_headers(headers)
    assert reply_raw_headers(headers, verdict) == not_modified_headers(headers)  # from the memo
    text = [(name.decode(), value.decode("latin-1")) for name, value in headers]
    assert reply_headers(text, verdict) == not_modified_headers(text)


REQUEST_FIELDS = st.sampled_from(
    [
        (b"if-none-match", b'W/"a"'),
        (b"if-none-match", b'"b"'),
        (b"if-match", b"*"),
        (b"if-modified-since", b"Mon, 01 Jan 2024 00:00:00 GMT"),
        (b"if-unmodified-since", b"x"),
        (b"if-range", b'"a"'),
        (b"accept-encoding", b"gzip"),
        (b"accept-encoding", b"identity"),
        (b"accept", b"*/*"),
        (b"host", b"h"),
    ]
)


@given(
    headers=st.lists(REQUEST_FIELDS, max_size=6),
    coding_outside=st.booleans(),
    method=st.sampled_from(["GET", "HEAD"]),
)
def test_raw_exchange_is_the_general_one(
    headers: list[tuple[bytes, bytes]], coding_outside: bool, method: str
) -> None:
    policy = TaggingPolicy.build(coding_outside=coding_outside)
    expected = policy.context(method, headers)
    assert policy.context_raw(method, headers) == expected
    assert policy.context_raw(method, iter(headers)) == expected
    # If-Range and Range concern ranges, which the middleware leaves to the app.
    evaluated = [pair for pair in headers if pair[0] != b"if-range"]
    assert expected.conditions == Conditions.from_headers(evaluated)
