"""One table of HTTP cases, run against the ASGI and the WSGI StaticFiles alike.

Placeholders in request headers: ``{etag}`` is the ETag a plain GET returned
(so the test never computes it the way the code does), ``{weak}`` its weak
form, ``{lm}`` the Last-Modified, ``{earlier}``/``{later}`` dates a day off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.files.conftest import BIG, FILES, LAST_MODIFIED, Answer, Call

EARLIER = "Mon, 13 Nov 2023 22:13:20 GMT"
LATER = "Wed, 15 Nov 2023 22:13:20 GMT"
N = len(BIG)


@dataclass(frozen=True)
class Case:
    """A request, the expected status, headers (value or ``None`` = absent) and body."""

    method: str
    path: str
    request: dict[str, str]
    status: int
    headers: dict[str, str | None] = field(default_factory=dict)
    body: bytes | Callable[[Answer], None] | None = None


def case(id_: str, *args: object, **kwargs: object) -> object:
    return pytest.param(Case(*args, **kwargs), id=id_)  # type: ignore[arg-type]


def problem(field_name: str | None) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        document = json.loads(answer.body)
        assert document["status"] == answer.status
        if field_name:
            assert document["precondition"] == field_name

    return check


def multipart(*spans: tuple[int, int]) -> Callable[[Answer], None]:
    def check(answer: Answer) -> None:
        content_type = answer.headers["content-type"]
        boundary = content_type.split("boundary=")[1]
        assert int(answer.headers["content-length"]) == len(answer.body)
        parts = answer.body.split(f"--{boundary}".encode())
        assert parts[0] == b""
        assert parts[-1] == b"--\r\n"
        for part, (start, stop) in zip(parts[1:-1], spans, strict=True):
            head, _, data = part.partition(b"\r\n\r\n")
            assert f"Content-Range: bytes {start}-{stop - 1}/{N}".encode() in head
            assert b"Content-Type: application/octet-stream" in head
            assert data.removesuffix(b"\r\n") == BIG[start:stop]

    return check


HELLO = FILES["hello.txt"]
TXT = "text/plain; charset=utf-8"

# fmt: off
CASES = [
    # §9.3.1 GET and validators (§8.8.2, §8.8.3)
    case("§9.3.1 GET -> 200 with strong ETag, Last-Modified, Accept-Ranges", "GET", "/hello.txt",
         {}, 200, {"content-type": TXT, "content-length": str(len(HELLO)),
                   "last-modified": LAST_MODIFIED, "accept-ranges": "bytes"}, HELLO),
    case("§8.3 unknown extension -> application/octet-stream", "GET", "/data.unknownext", {}, 200,
         {"content-type": "application/octet-stream"}, b"\x00\x01\x02"),
    case("§8.3 .html -> text/html", "GET", "/page.html", {}, 200,
         {"content-type": "text/html; charset=utf-8"}, FILES["page.html"]),
    case("§8.6 empty file -> 200, Content-Length 0", "GET", "/empty.txt", {}, 200,
         {"content-length": "0"}, b""),
    case("nested path and non-ASCII name -> 200", "GET", "/caf%C3%A9%20menu.txt", {}, 200, {},
         FILES["caf\u00e9 menu.txt"]),
    case("percent signs are decoded once only", "GET", "/%252e%252e", {}, 200, {},
         FILES["%2e%2e"]),
    case("symlink inside the root -> 200", "GET", "/link_in.txt", {}, 200, {}, HELLO),
    # §13.1.2 If-None-Match: weak comparison, lists scanned (not split), *
    case("§13.1.2 If-None-Match current -> 304", "GET", "/hello.txt",
         {"If-None-Match": "{etag}"}, 304,
         {"etag": "{etag}", "content-type": None, "content-length": None,
          "last-modified": None, "accept-ranges": None}, b""),
    case("§13.1.2 If-None-Match weak form of current -> 304 (weak comparison)", "GET",
         "/hello.txt", {"If-None-Match": "{weak}"}, 304, {"etag": "{etag}"}, b""),
    case('§13.1.2 If-None-Match "a,b", current -> 304 (comma inside a tag)', "GET",
         "/hello.txt", {"If-None-Match": '"a,b", {etag}'}, 304, {}, b""),
    case('§13.1.2 If-None-Match "a,b" alone -> 200', "GET", "/hello.txt",
         {"If-None-Match": '"a,b"'}, 200, {}, HELLO),
    case("§13.1.2 If-None-Match * -> 304", "GET", "/hello.txt", {"If-None-Match": "*"}, 304,
         {}, b""),
    case("§13.1.2 If-None-Match other -> 200", "GET", "/hello.txt",
         {"If-None-Match": '"other"'}, 200, {"etag": "{etag}"}, HELLO),
    case("§13.1.2 HEAD If-None-Match current -> 304", "HEAD", "/hello.txt",
         {"If-None-Match": "{etag}"}, 304, {"etag": "{etag}"}, b""),
    case("§13.1.2 unreadable If-None-Match on GET -> 200, never 304", "GET", "/hello.txt",
         {"If-None-Match": "{etag} garbage"}, 200, {}, HELLO),
    # §13.1.3 If-Modified-Since
    case("§13.1.3 If-Modified-Since = Last-Modified -> 304", "GET", "/hello.txt",
         {"If-Modified-Since": "{lm}"}, 304, {"etag": "{etag}"}, b""),
    case("§13.1.3 If-Modified-Since later -> 304", "GET", "/hello.txt",
         {"If-Modified-Since": LATER}, 304, {}, b""),
    case("§13.1.3 If-Modified-Since earlier -> 200", "GET", "/hello.txt",
         {"If-Modified-Since": EARLIER}, 200, {}, HELLO),
    case("§13.1.3 invalid If-Modified-Since ignored -> 200", "GET", "/hello.txt",
         {"If-Modified-Since": "yesterday"}, 200, {}, HELLO),
    case("§13.2.2 If-None-Match present: If-Modified-Since ignored -> 200", "GET", "/hello.txt",
         {"If-None-Match": '"other"', "If-Modified-Since": LATER}, 200, {}, HELLO),
    # §13.1.1 If-Match, §13.1.4 If-Unmodified-Since
    case("§13.1.1 If-Match current -> 200", "GET", "/hello.txt", {"If-Match": "{etag}"}, 200,
         {}, HELLO),
    case("§13.1.1 If-Match * -> 200", "GET", "/hello.txt", {"If-Match": "*"}, 200, {}, HELLO),
    case("§13.1.1 If-Match stale -> 412 with current ETag and problem body", "GET",
         "/hello.txt", {"If-Match": '"stale"'}, 412,
         {"etag": "{etag}", "content-type": "application/problem+json"}, problem("If-Match")),
    case("§13.1.1 If-Match weak current -> 412 (strong comparison)", "GET", "/hello.txt",
         {"If-Match": "{weak}"}, 412, {}, problem("If-Match")),
    case("§13.1.4 If-Unmodified-Since earlier -> 412", "GET", "/hello.txt",
         {"If-Unmodified-Since": EARLIER}, 412, {"etag": "{etag}"},
         problem("If-Unmodified-Since")),
    case("§13.1.4 If-Unmodified-Since = Last-Modified -> 200", "GET", "/hello.txt",
         {"If-Unmodified-Since": "{lm}"}, 200, {}, HELLO),
    case("§13.2.2 If-Match fails before Range -> 412", "GET", "/big.bin",
         {"If-Match": '"stale"', "Range": "bytes=0-9"}, 412, {"content-range": None}),
    case("§13.2.2 HEAD If-Match stale -> 412, no body", "HEAD", "/hello.txt",
         {"If-Match": '"stale"'}, 412, {"etag": "{etag}"}, b""),
    # §14 Range
    case("§14.2 bytes=0-99 -> 206 with Content-Range", "GET", "/big.bin",
         {"Range": "bytes=0-99"}, 206,
         {"content-range": f"bytes 0-99/{N}", "content-length": "100", "etag": "{etag}",
          "content-type": "application/octet-stream"}, BIG[:100]),
    case("§14.1.1 suffix bytes=-100 -> last 100 bytes", "GET", "/big.bin",
         {"Range": "bytes=-100"}, 206, {"content-range": f"bytes {N - 100}-{N - 1}/{N}"},
         BIG[-100:]),
    case("§14.1.1 open-ended bytes=199990- -> 206", "GET", "/big.bin",
         {"Range": "bytes=199990-"}, 206, {"content-range": f"bytes 199990-{N - 1}/{N}"},
         BIG[199990:]),
    case("§14.1.1 last-pos past the end is clipped", "GET", "/big.bin",
         {"Range": "bytes=199990-999999"}, 206, {"content-length": "10"}, BIG[199990:]),
    case("§14.1.1 range across chunk boundary (64 KiB) -> exact bytes", "GET", "/big.bin",
         {"Range": "bytes=65000-140000"}, 206, {"content-length": "75001"}, BIG[65000:140001]),
    case("§14.6 two ranges -> multipart/byteranges, exact Content-Length", "GET", "/big.bin",
         {"Range": "bytes=0-9, 100000-100009"}, 206, {},
         multipart((0, 10), (100000, 100010))),
    case("§14.1.1 overlapping ranges are coalesced -> one 206", "GET", "/big.bin",
         {"Range": "bytes=0-50, 20-99"}, 206, {"content-range": f"bytes 0-99/{N}"}, BIG[:100]),
    case("§14.1.1 one satisfiable range of two -> 206", "GET", "/big.bin",
         {"Range": "bytes=0-9, 300000-"}, 206, {"content-range": f"bytes 0-9/{N}"}, BIG[:10]),
    case("§15.5.17 unsatisfiable -> 416 with bytes */length", "GET", "/big.bin",
         {"Range": "bytes=300000-"}, 416, {"content-range": f"bytes */{N}"}, problem(None)),
    case("§15.5.17 any range of an empty file -> 416 bytes */0", "GET", "/empty.txt",
         {"Range": "bytes=0-0"}, 416, {"content-range": "bytes */0"}),
    case("§14.2 malformed range (last < first) ignored -> 200", "GET", "/big.bin",
         {"Range": "bytes=9-1"}, 200, {"content-range": None}, BIG),
    case("§14.2 unknown range unit ignored -> 200", "GET", "/big.bin",
         {"Range": "items=0-1"}, 200, {"content-range": None}, BIG),
    case("§14.2 HEAD ignores Range -> 200 headers", "HEAD", "/big.bin",
         {"Range": "bytes=0-9"}, 200, {"content-length": str(N), "content-range": None}, b""),
    case("§13.2.2 If-None-Match current wins over Range -> 304", "GET", "/big.bin",
         {"If-None-Match": "{etag}", "Range": "bytes=0-9"}, 304, {"content-range": None}, b""),
    # §13.1.5 If-Range
    case("§13.1.5 If-Range current strong ETag -> 206", "GET", "/big.bin",
         {"Range": "bytes=10-19", "If-Range": "{etag}"}, 206, {}, BIG[10:20]),
    case("§13.1.5 If-Range stale ETag -> 200 full", "GET", "/big.bin",
         {"Range": "bytes=10-19", "If-Range": '"stale"'}, 200, {"content-range": None}, BIG),
    case("§13.1.5 If-Range weak ETag -> 200 full (never weak)", "GET", "/big.bin",
         {"Range": "bytes=10-19", "If-Range": "{weak}"}, 200, {}, BIG),
    case("§13.1.5 If-Range = Last-Modified (old, strong date) -> 206", "GET", "/big.bin",
         {"Range": "bytes=10-19", "If-Range": "{lm}"}, 206, {}, BIG[10:20]),
    case("§13.1.5 If-Range other date -> 200 full", "GET", "/big.bin",
         {"Range": "bytes=10-19", "If-Range": LATER}, 200, {}, BIG),
    # §15.5.6 methods, §15.5.5 not found
    case("§15.5.6 POST -> 405 with Allow", "POST", "/hello.txt", {}, 405,
         {"allow": "GET, HEAD"}, problem(None)),
    case("§15.5.6 PUT with If-Match -> 405 (method first)", "PUT", "/hello.txt",
         {"If-Match": "*"}, 405, {"allow": "GET, HEAD"}),
    case("§15.5.6 DELETE of a missing file -> 405", "DELETE", "/nope", {}, 405,
         {"allow": "GET, HEAD"}),
    case("§15.5.5 missing file -> 404 problem", "GET", "/nope.txt", {}, 404,
         {"content-type": "application/problem+json"}, problem(None)),
    case("§15.5.5 missing file with If-None-Match * -> 404 (§13.2.1)", "GET", "/nope.txt",
         {"If-None-Match": "*"}, 404),
    case("§15.5.5 HEAD missing -> 404, no body", "HEAD", "/nope.txt", {}, 404, {}, b""),
    case("directory -> 404, no listing", "GET", "/sub", {}, 404),
    case("directory with slash -> 404, no listing", "GET", "/sub/", {}, 404),
    case("root itself -> 404", "GET", "/", {}, 404),
    case("hidden file -> 404 by default", "GET", "/.hidden", {}, 404),
    case("FIFO -> 404 without blocking", "GET", "/fifo", {}, 404),
]
# fmt: on


def fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@pytest.mark.parametrize("c", CASES)
def test_static_files_table(static: Call, c: Case) -> None:
    plain = static("GET", "/big.bin" if "big" in c.path else "/hello.txt")
    etag = plain.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag of 128 bits"
    values = {"etag": etag, "weak": f"W/{etag}", "lm": plain.headers["last-modified"]}
    answer = static(c.method, c.path, {k: fill(v, values) for k, v in c.request.items()})
    assert answer.status == c.status, answer.body[:200]
    for name, expected in c.headers.items():
        if expected is None:
            assert name not in answer.headers, name
        else:
            assert answer.headers.get(name) == fill(expected, values), name
    if callable(c.body):
        c.body(answer)
    elif c.body is not None:
        assert answer.body == c.body
    if answer.status >= 400:
        assert b"/" not in answer.body.replace(b"about:blank", b"").replace(b"+json", b"")
        assert str(answer.body).find("root") == -1


@pytest.mark.parametrize("path", ["/hello.txt", "/big.bin", "/empty.txt", "/nope", "/sub"])
@pytest.mark.parametrize("request_headers", [{}, {"If-None-Match": '"x"'}, {"If-Match": '"x"'}])
def test_head_has_the_headers_of_get(
    static: Call, path: str, request_headers: dict[str, str]
) -> None:
    """§9.3.2: HEAD gets the same header fields as GET, and no body."""
    get, head = static("GET", path, request_headers), static("HEAD", path, request_headers)
    assert head.status == get.status
    assert head.body == b""
    assert dict(head.headers) == dict(get.headers)
