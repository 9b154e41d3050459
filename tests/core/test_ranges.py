"""Byte ranges (RFC 9110 §14): parsing, resolution, 206/416 plans, multipart, abuse."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator

import pytest

from ifmatch import ByteRange, HeaderParseError, RangePlan, RangeSpec, coalesce, parse_range
from ifmatch import plan_ranges as plan
from ifmatch.ranges import MAX_PARTS

LENGTH = 10_000
DATA = bytes(index % 251 for index in range(LENGTH))  # binary, position-dependent
TEXT = b"".join(b"%09d\n" % index for index in range(LENGTH // 10))  # 10000 ASCII bytes


def read_from(data: bytes, chunk: int = 333) -> object:
    def read(start: int, stop: int) -> Iterator[bytes]:
        for offset in range(start, stop, chunk):
            yield data[offset : min(offset + chunk, stop)]

    return read


def body(range_plan: RangePlan, data: bytes = DATA) -> bytes:
    produced = b"".join(range_plan.iter_body(read_from(data)))  # type: ignore[arg-type]
    assert len(produced) == range_plan.content_length
    declared = dict(range_plan.headers).get("Content-Length")
    assert declared == str(len(produced))
    return produced


@pytest.mark.parametrize(
    ("value", "specs"),
    [
        pytest.param("bytes=0-499", ((0, 499),), id="§14.1.2 first-last"),
        pytest.param("bytes=9500-", ((9500, None),), id="§14.1.2 first- (to the end)"),
        pytest.param("bytes=-500", ((None, 500),), id="§14.1.2 suffix"),
        pytest.param("bytes=0-0,-1", ((0, 0), (None, 1)), id="§14.1.2 first and last byte"),
        pytest.param("Bytes=0-1", ((0, 1),), id="§14.1 range units are case-insensitive"),
        pytest.param("BYTES=0-1", ((0, 1),), id="§14.1 BYTES"),
        pytest.param("bytes=0-1 ,\t5-6", ((0, 1), (5, 6)), id="§5.6.1 OWS around commas"),
        pytest.param("bytes=0-1,,5-6,", ((0, 1), (5, 6)), id="§5.6.1 empty list elements"),
        pytest.param("bytes=007-010", ((7, 10),), id="§14.1.1 1*DIGIT allows leading zeros"),
        pytest.param("bytes=5-5", ((5, 5),), id="§14.1.1 last equal to first is one byte"),
        pytest.param("bytes=0-" + "9" * 40, ((0, 10**18),), id="§14.1.1 huge last-pos is capped"),
    ],
)
def test_parse(value: str, specs: tuple[tuple[int | None, int | None], ...]) -> None:
    assert parse_range(value) == tuple(RangeSpec(first, last) for first, last in specs)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("items=0-1", id="§14.2 other range unit: ignore"),
        pytest.param("none=whatever", id="§14.1 a registered non-bytes unit"),
        pytest.param("x-rows=1-2,3-", id="§14.1.1 other-range syntax"),
    ],
)
def test_other_units_are_none(value: str) -> None:
    assert parse_range(value) is None
    assert plan(value, LENGTH).status == 200


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bytes=1-0", id="§14.1.1 last-pos below first-pos is invalid"),
        pytest.param("bytes=500-499", id="§14.1.1 500-499 is invalid"),
        pytest.param("bytes=", id="§14.1.1 range-set = 1#range-spec, not empty"),
        pytest.param("bytes=,", id="§14.1.1 only empty elements"),
        pytest.param("bytes=-", id="§14.1.1 lone dash"),
        pytest.param("bytes=abc", id="§14.1.1 not digits"),
        pytest.param("bytes=0-1-2", id="§14.1.1 two dashes"),
        pytest.param("bytes=--1", id="§14.1.1 negative suffix"),
        pytest.param("bytes=1.5-2", id="§14.1.1 decimals"),
        pytest.param("bytes=0x10-20", id="§14.1.1 hex"),
        pytest.param("bytes=+1-2", id="§14.1.1 signs"),
        pytest.param("bytes=\uff10-1", id="§14.1.1 DIGIT is ASCII only"),
        pytest.param("bytes=0-1;q=1", id="§14.1.1 no parameters"),
        pytest.param("bytes 0-1", id="§14.1.1 missing ="),
        pytest.param("=0-1", id="§14.1.1 missing unit"),
        pytest.param("bytes =0-1", id="§14.1.1 no space before ="),
        pytest.param("", id="empty"),
        pytest.param("bytes=" + ",".join(["0-0"] * 101), id="§14.2 too many range-specs"),
    ],
)
def test_parse_invalid(value: str) -> None:
    with pytest.raises(HeaderParseError) as caught:
        parse_range(value)
    assert caught.value.field == "Range"
    ranged = plan(value, LENGTH)  # §14.2: an invalid Range is ignored
    assert (ranged.status, ranged.content_length) == (200, LENGTH)


@pytest.mark.parametrize(
    ("value", "start", "stop"),
    [
        pytest.param("bytes=0-499", 0, 500, id="§14.1.2 the first 500 bytes"),
        pytest.param("bytes=500-999", 500, 1000, id="§14.1.2 the second 500 bytes"),
        pytest.param("bytes=-500", 9500, 10000, id="§14.1.2 the final 500 bytes (suffix)"),
        pytest.param("bytes=9500-", 9500, 10000, id="§14.1.2 the final 500 bytes (first-)"),
        pytest.param(
            "bytes=500-600,601-999",
            500,
            1000,
            id="§14.1.2 second 500 bytes, adjacent specs coalesced",
        ),
        pytest.param(
            "bytes=500-700,601-999",
            500,
            1000,
            id="§14.1.2 second 500 bytes, overlapping specs coalesced",
        ),
        pytest.param("bytes=0-", 0, 10000, id="§14.1.1 0- is the whole representation"),
        pytest.param("bytes=-20000", 0, 10000, id="§14.1.1 suffix longer than the representation"),
        pytest.param("bytes=9999-20000", 9999, 10000, id="§14.1.1 last-pos past the end clipped"),
        pytest.param("bytes=0-1,20000-", 0, 2, id="§14.1.1 unsatisfiable specs dropped"),
        pytest.param("bytes=0-4,2-3,5-9", 0, 10, id="§14.1.1 contained and adjacent coalesced"),
    ],
)
def test_single_range(value: str, start: int, stop: int) -> None:
    ranged = plan(value, LENGTH, "application/octet-stream")
    assert ranged.status == 206
    assert ranged.headers == (
        ("Content-Range", f"bytes {start}-{stop - 1}/{LENGTH}"),
        ("Content-Length", str(stop - start)),
    )
    assert body(ranged) == DATA[start:stop]


def test_first_and_last_byte_multipart_parsed_by_email() -> None:
    """§14.1.2 bytes=0-0,-1: two parts, parsed back with the stdlib MIME parser."""
    ranged = plan("bytes=0-0,-1", LENGTH, "text/plain", boundary="THIS_STRING_SEPARATES")
    assert ranged.status == 206
    headers = dict(ranged.headers)
    assert headers["Content-Type"] == "multipart/byteranges; boundary=THIS_STRING_SEPARATES"
    assert "Content-Range" not in headers  # §15.3.7.2 MUST NOT in the header section
    produced = body(ranged, TEXT)
    message = email.message_from_bytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + produced,
        policy=email.policy.HTTP,
    )
    assert message.is_multipart()
    parts = list(message.iter_parts())
    assert [part["Content-Range"] for part in parts] == ["bytes 0-0/10000", "bytes 9999-9999/10000"]
    assert [part["Content-Type"] for part in parts] == ["text/plain", "text/plain"]
    assert [part.get_payload(decode=True) for part in parts] == [TEXT[0:1], TEXT[9999:]]
    assert not message.defects


def parse_multipart(produced: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """A strict hand parser for §14.6: exact CRLFs, no preamble, no epilogue."""
    delimiter = b"--" + boundary.encode()
    assert produced.startswith(delimiter + b"\r\n")
    assert produced.endswith(b"\r\n" + delimiter + b"--\r\n")
    inner = produced[len(delimiter) + 2 : -(len(delimiter) + 6)]
    parts = []
    for raw in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, _, content = raw.partition(b"\r\n\r\n")
        fields = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n"))
        parts.append((fields, content))
    return parts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("bytes=0-99,200-299", [(0, 100), (200, 300)], id="§14.6 two parts"),
        pytest.param(
            "bytes=500-599,0-99",
            [(500, 600), (0, 100)],
            id="§15.3.7.2 parts in the order the specs were requested",
        ),
        pytest.param(
            "bytes=500-599,0-99,550-650",
            [(500, 651), (0, 100)],
            id="§15.3.7.2 coalesced part keeps its first spec's place",
        ),
        pytest.param(
            "bytes=-100,0-99,50-150",
            [(9900, 10000), (0, 151)],
            id="§14.1.1 overlapping specs coalesced, suffix first",
        ),
        pytest.param(
            "bytes=0-0,2-2,4-4",
            [(0, 1), (2, 3), (4, 5)],
            id="§14.1.1 a gap of one byte is not adjacent",
        ),
    ],
)
def test_multipart_exact(value: str, expected: list[tuple[int, int]]) -> None:
    ranged = plan(value, LENGTH, "application/octet-stream", boundary="b0undary")
    assert ranged.status == 206
    assert dict(ranged.headers)["Content-Type"] == "multipart/byteranges; boundary=b0undary"
    parts = parse_multipart(body(ranged), "b0undary")
    assert [
        (fields["Content-Range"], fields["Content-Type"], content) for fields, content in parts
    ] == [
        (f"bytes {a}-{b - 1}/{LENGTH}", "application/octet-stream", DATA[a:b]) for a, b in expected
    ]


def test_multipart_without_content_type_and_random_boundary() -> None:
    one, two = plan("bytes=0-9,20-29", LENGTH), plan("bytes=0-9,20-29", LENGTH)
    boundary = dict(one.headers)["Content-Type"].split("boundary=")[1]
    assert len(boundary) == 32
    assert boundary != dict(two.headers)["Content-Type"].split("boundary=")[1]
    parts = parse_multipart(body(one), boundary)
    assert [fields for fields, _ in parts] == [
        {"Content-Range": "bytes 0-9/10000"},
        {"Content-Range": "bytes 20-29/10000"},
    ]


def test_boundary_needing_quotes_and_invalid_boundaries() -> None:
    ranged = plan("bytes=0-9,20-29", LENGTH, boundary="a:b=c")
    assert dict(ranged.headers)["Content-Type"] == 'multipart/byteranges; boundary="a:b=c"'
    assert len(parse_multipart(body(ranged), "a:b=c")) == 2
    for bad in ("", "has space", "x" * 71, 'quo"te', "new\r\nline"):
        with pytest.raises(ValueError, match="boundary"):
            plan("bytes=0-9,20-29", LENGTH, boundary=bad)
        with pytest.raises(ValueError, match="boundary"):  # a caller's bug, whatever the Range
            plan(None, LENGTH, boundary=bad)
    with pytest.raises(ValueError, match="Content-Type"):
        plan("bytes=0-9,20-29", LENGTH, "text/plain\r\nX-Injected: 1")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("bytes=10000-", id="§14.1.1 first-pos at the length"),
        pytest.param("bytes=10000-10005", id="§14.1.1 first-pos past the end"),
        pytest.param("bytes=-0", id="§14.1.1 zero suffix-length is unsatisfiable"),
        pytest.param("bytes=20000-,-0", id="§14.1.1 no spec satisfiable"),
    ],
)
def test_unsatisfiable_416(value: str) -> None:
    ranged = plan(value, LENGTH)
    assert ranged.status == 416
    assert ranged.headers == (("Content-Range", "bytes */10000"),)
    assert ranged.segments == ()
    assert ranged.content_length == 0


@pytest.mark.parametrize(
    ("value", "status", "content_length"),
    [
        pytest.param(None, 200, 0, id="§14 no Range on an empty representation"),
        pytest.param("bytes=0-", 416, 0, id="§14.1.1 0- of nothing is unsatisfiable"),
        pytest.param("bytes=0-0", 416, 0, id="§14.1.1 0-0 of nothing"),
        pytest.param("bytes=-5", 200, 0, id="§14.1.1 suffix of nothing: whole (empty) 200"),
    ],
)
def test_zero_length_representation(value: str | None, status: int, content_length: int) -> None:
    ranged = plan(value, 0)
    assert ranged.status == status
    assert ranged.content_length == content_length
    if status == 416:
        assert ranged.headers == (("Content-Range", "bytes */0"),)
    else:
        assert ranged.headers == (("Content-Length", "0"),)
        assert body(ranged, b"") == b""


def test_no_range_is_the_whole_representation() -> None:
    ranged = plan(None, LENGTH, "text/plain")
    assert (ranged.status, ranged.headers) == (200, (("Content-Length", "10000"),))
    assert ranged.segments == (ByteRange(0, LENGTH),)
    assert body(ranged) == DATA


def test_negative_length_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        plan("bytes=0-1", -1)


KILLER = "bytes=0-," + ",".join(f"5-{index}" for index in range(1300))


@pytest.mark.parametrize(
    ("value", "length", "status"),
    [
        pytest.param(KILLER, LENGTH, 200, id="CVE-2011-3192 bytes=0-,5-0,5-1,... (1300 specs)"),
        pytest.param(
            "bytes=" + ",".join(f"0-{index}" for index in range(1300)),
            LENGTH,
            200,
            id="CVE-2011-3192 1300 valid overlapping specs",
        ),
        pytest.param(
            "bytes=" + ",".join(f"{2 * index}-{2 * index}" for index in range(99)),
            LENGTH,
            200,
            id="§14.2 99 tiny disjoint ranges -> whole 200",
        ),
        pytest.param(
            "bytes=" + ",".join(f"{3 * index}-{3 * index}" for index in range(30)),
            1000,
            200,
            id="§14.2 30 tiny ranges whose framing outweighs the data -> whole 200",
        ),
        pytest.param(
            "bytes=" + ",".join(["0-9999"] * 99),
            LENGTH,
            206,
            id="§14.2 99 copies of the whole range coalesce to one",
        ),
        pytest.param(
            "bytes=" + ",".join(f"{index}-" for index in range(99)),
            LENGTH,
            206,
            id="§14.2 99 overlapping open ranges coalesce to one",
        ),
        pytest.param("bytes=0-4999,5000-", LENGTH, 206, id="§14.2 two halves -> one range"),
        pytest.param(
            "bytes=0-4998,5000-",
            LENGTH,
            200,
            id="§14.2 two parts bigger than the whole with framing -> 200",
        ),
    ],
)
def test_abuse_never_amplifies(value: str, length: int, status: int) -> None:
    ranged = plan(value, length, "application/octet-stream")
    assert ranged.status == status
    assert ranged.content_length <= length
    assert len(body(ranged, DATA[:length])) <= length


def test_many_parts_limit() -> None:
    value = "bytes=" + ",".join(f"{100 * index}-{100 * index}" for index in range(MAX_PARTS))
    assert plan(value, LENGTH).status == 206
    more = "bytes=" + ",".join(f"{100 * index}-{100 * index}" for index in range(MAX_PARTS + 1))
    assert plan(more, LENGTH).status == 200


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        pytest.param([(0, 10), (10, 20)], [(0, 20)], id="§14.1.1 adjacent spans merge"),
        pytest.param([(0, 10), (5, 20)], [(0, 20)], id="§14.1.1 overlapping spans merge"),
        pytest.param([(0, 30), (5, 20)], [(0, 30)], id="§14.1.1 contained span merges"),
        pytest.param([(20, 30), (0, 10)], [(0, 10), (20, 30)], id="disjoint spans, sorted"),
        pytest.param([(0, 10), (11, 20)], [(0, 10), (11, 20)], id="a one-byte gap stays"),
        pytest.param([], [], id="nothing"),
    ],
)
def test_coalesce(spans: list[tuple[int, int]], merged: list[tuple[int, int]]) -> None:
    result = coalesce(ByteRange(a, b) for a, b in spans)
    assert result == [ByteRange(a, b) for a, b in merged]


@pytest.mark.parametrize(
    ("spec", "span"),
    [
        pytest.param(RangeSpec(0, 499), ByteRange(0, 500), id="§14.1.1 first-last"),
        pytest.param(RangeSpec(None, 0), None, id="§14.1.1 zero suffix unsatisfiable"),
        pytest.param(RangeSpec(None, 20_000), ByteRange(0, 10_000), id="§14.1.1 long suffix"),
        pytest.param(RangeSpec(10_000, None), None, id="§14.1.1 first-pos at length"),
        pytest.param(RangeSpec(5, 2), None, id="a hand-built backwards spec selects nothing"),
    ],
)
def test_resolve(spec: RangeSpec, span: ByteRange | None) -> None:
    assert spec.resolve(LENGTH) == span


def test_byte_range_helpers() -> None:
    span = ByteRange(500, 1000)
    assert len(span) == 500
    assert span.content_range(8000) == "bytes 500-999/8000"
