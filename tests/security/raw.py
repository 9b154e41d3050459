"""Raw request drivers and hostile header values for the end-to-end security properties.

The drivers speak ASGI and WSGI directly, not through a test client, so a
header value can be any byte string (non-ASCII, control characters, 100 kB)
and a field can arrive on several lines, as a hostile peer would send it.
The oracles say, with the core's own parsers, whether a field is readable.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from wsgiref.util import FileWrapper

from hypothesis import strategies as st

from ifmatch import ETag, ETagList, parse_http_date
from ifmatch.conditions import DUPLICATE, Conditions
from ifmatch.errors import HeaderParseError

Pairs = list[tuple[bytes, bytes]]

CONDITIONAL = (
    b"if-match",
    b"if-none-match",
    b"if-modified-since",
    b"if-unmodified-since",
    b"if-range",
    b"range",
)
VALID_DATE = b"Tue, 14 Nov 2023 22:13:20 GMT"

_PIECES = [
    b'"v1"',
    b'W/"v1"',
    b'"v2"',
    b"*",
    b",",
    b" ",
    b"\t",
    b'"',
    b"W/",
    b"w/",
    b'"a,b"',
    b"\x00",
    b"\x7f",
    b"\xff",
    b"\xe2\x80\x9c",
    b"\r",
    b"\n",
    VALID_DATE,
    b"Tuesday, 14-Nov-23 22:13:20 GMT",
    b"Tue Nov 14 22:13:20 2023",
    b"GMT",
    b"bytes=",
    b"0-",
    b"-1",
    b"0-0",
    b"items=",
    b"99999999999999999999",
]

#: Any bytes; tag- and date-like fragments glued together; very long values.
HOSTILE_VALUES = st.one_of(
    st.binary(max_size=120),
    st.text(st.characters(max_codepoint=0xFF), max_size=80).map(lambda s: s.encode("latin-1")),
    st.lists(st.sampled_from(_PIECES), max_size=12).map(b"".join),
    st.sampled_from(
        [
            b'"' + b"a" * 100_000 + b'"',
            b"W/" * 50_000,
            b"," * 100_000,
            b"\xff" * 100_000,
            b'"v1",' * 20_000,
            b"Tue, " * 20_000,
        ]
    ),
)
HOSTILE_PAIRS = st.lists(
    st.tuples(st.sampled_from(CONDITIONAL), HOSTILE_VALUES), min_size=1, max_size=6
)


def _spec_list(specs: Iterable[str]) -> bytes:
    return ("bytes=" + ",".join(specs)).encode()


#: Abusive Range values: hundreds of ranges, overlapping ones (CVE-2011-3192), random ones.
HOSTILE_RANGES = st.one_of(
    st.integers(1, 400).map(lambda n: _spec_list(["0-"] * n)),
    st.integers(1, 1300).map(lambda n: _spec_list(["0-", *(f"5-{i}" for i in range(n))])),
    st.integers(1, 400).map(lambda n: _spec_list(f"{2 * i}-{2 * i}" for i in range(n))),
    st.integers(1, 200).map(lambda n: _spec_list(f"-{i + 1}" for i in range(n))),
    st.lists(
        st.tuples(st.integers(0, 6000) | st.none(), st.integers(0, 6000) | st.none()).map(
            lambda t: f"{'' if t[0] is None else t[0]}-{'' if t[1] is None else t[1]}"
        ),
        min_size=1,
        max_size=60,
    ).map(_spec_list),
    HOSTILE_VALUES,
)


def _etags_readable(value: str | None, field: str) -> bool:
    if value is None:
        return True
    try:
        ETagList.parse(value, field=field)
    except HeaderParseError:
        return False
    return True


def _date_readable(value: str | None) -> bool:
    if value is None or value == DUPLICATE:
        return value is None
    try:
        parse_http_date(value)
    except HeaderParseError:
        return False
    return True


def unreadable_write_guard(pairs: Pairs) -> bool:
    """True when a field that guards the write (§13.2.2 steps 1-3) cannot be read.

    That is If-Match, or If-Unmodified-Since when If-Match is absent (a readable
    If-Match decides alone and If-Unmodified-Since is then not evaluated), or
    If-None-Match, which is evaluated whenever steps 1-2 pass.
    """
    conditions = Conditions.from_headers(pairs)
    if not _etags_readable(conditions.if_none_match, "If-None-Match"):
        return True
    if conditions.if_match is not None:
        return not _etags_readable(conditions.if_match, "If-Match")
    return conditions.if_unmodified_since is not None and not _date_readable(
        conditions.if_unmodified_since
    )


def no_readable_validator(pairs: Pairs) -> bool:
    """True when a GET must not get a 304: If-None-Match unreadable, or no readable validator."""
    conditions = Conditions.from_headers(pairs)
    inm, ims = conditions.if_none_match, conditions.if_modified_since
    if inm is not None and not _etags_readable(inm, "If-None-Match"):
        return True
    return bool(inm is None and ims is not None and not _date_readable(ims))


def unreadable_if_range(pairs: Pairs) -> bool:
    """True when If-Range is present and is neither one entity-tag nor one HTTP-date."""
    value = Conditions.from_headers(pairs).if_range
    if value is None:
        return False
    if value == DUPLICATE:
        return True
    try:
        ETag.parse(value)
    except HeaderParseError:
        return not _date_readable(value)
    return False


@dataclass(frozen=True)
class Reply:
    """A response: status, headers (lower-case names) and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name.lower()]
        return ", ".join(values) if values else None


async def asgi_call(
    app: Any,
    method: str,
    path: str,
    headers: Pairs = (),  # type: ignore[assignment]
    body: bytes = b"",
) -> Reply:
    """One request through an ASGI app, headers passed as raw byte pairs."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    sent = False
    status = 0
    out_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            out_headers.extend(
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in message.get("headers", [])
            )
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        elif message["type"] == "http.response.pathsend":
            with open(message["path"], "rb") as file:
                chunks.append(file.read())

    await app(scope, receive, send)
    return Reply(status, out_headers, b"".join(chunks))


def wsgi_call(
    app: Any,
    method: str,
    path: str,
    headers: Pairs = (),  # type: ignore[assignment]
    body: bytes = b"",
) -> Reply:
    """One request through a WSGI app; repeated fields joined with ", " as servers do."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    for name, value in headers:
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]}, {text}" if key in environ else text
    captured: dict[str, Any] = {}

    def start_response(status: str, pairs: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = int(status[:3]), pairs
        return lambda data: captured.setdefault("written", []).append(data)

    result = app(environ, start_response)
    try:
        chunks = [*captured.get("written", []), *result]
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Reply(
        captured["status"], [(k.lower(), v) for k, v in captured["headers"]], b"".join(chunks)
    )
