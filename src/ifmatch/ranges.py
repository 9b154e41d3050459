"""Byte ranges (RFC 9110 §14): parsing ``Range``, planning 206/416 responses.

ABNF, quoted from RFC 9110 §14.1.1 and §14.2::

    Range            = ranges-specifier
    ranges-specifier = range-unit "=" range-set
    range-set        = 1#range-spec
    range-spec       = int-range / suffix-range / other-range
    int-range        = first-pos "-" [ last-pos ]
    suffix-range     = "-" suffix-length

The plan is sans-IO: :func:`plan_ranges` says which status and headers to
send and lists the body as segments (literal bytes of multipart framing and
:class:`ByteRange` spans of the representation).  An adapter reads each span
however it likes (a file, a database blob) and knows the exact
``Content-Length`` before the first byte.

Abuse (CVE-2011-3192, the "Apache Killer") cannot amplify a response:
overlapping and adjacent ranges are coalesced, too many ranges are ignored,
and a 206 that would be larger than the whole representation becomes a 200
with the representation, so the body never exceeds what a plain GET sends.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ifmatch.errors import HeaderParseError

#: More range-specs than this in one field and the field is ignored (200).
MAX_RANGE_SPECS = 100
#: More parts than this after coalescing and the field is ignored (200).
MAX_PARTS = 32
_DIGITS_CAP = 18  # 10**18 bytes is an exabyte: larger numbers are all "too large".
_SPEC_RE = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
# RFC 2046 §5.1.1: 1*70 bchars, not ending in a space; we also refuse the space itself so
# that the parameter never needs quoting beyond what _multipart does.
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}", re.ASCII)
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TOKEN_RE = re.compile(_TCHARS, re.ASCII)
_UNIT_RE = re.compile(rf"({_TCHARS})=(.*)", re.ASCII | re.DOTALL)


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """One ``range-spec``: ``first-last``, ``first-`` (last ``None``) or a suffix ``-N``."""

    first: int | None
    last: int | None

    def resolve(self, length: int) -> ByteRange | None:
        """The span this spec selects in a representation of ``length`` bytes, if satisfiable."""
        if self.first is None:
            suffix = self.last or 0
            if suffix == 0 or length == 0:
                return None
            return ByteRange(max(length - suffix, 0), length)
        if self.first >= length or (self.last is not None and self.last < self.first):
            return None
        last = length - 1 if self.last is None else min(self.last, length - 1)
        return ByteRange(self.first, last + 1)


@dataclass(frozen=True, slots=True, order=True)
class ByteRange:
    """A half-open span ``[start, stop)`` of the representation."""

    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    def content_range(self, length: int) -> str:
        """The ``Content-Range`` value for this span, e.g. ``bytes 0-499/1234``."""
        return f"bytes {self.start}-{self.stop - 1}/{length}"


def parse_range(value: str) -> tuple[RangeSpec, ...] | None:
    """Parse a ``Range`` value; ``None`` for a unit other than ``bytes`` (to be ignored).

    Raises :class:`HeaderParseError` for a malformed ``bytes`` range-set,
    including one with ``last-pos`` below ``first-pos`` (§14.1.1: invalid).

    >>> parse_range("bytes=0-499, -500")
    (RangeSpec(first=0, last=499), RangeSpec(first=None, last=500))
    """
    match = _UNIT_RE.fullmatch(value.strip(" \t"))
    if match is None:
        raise HeaderParseError("Range: expected range-unit '=' range-set", field="Range")
    if match.group(1).lower() != "bytes":
        return None
    specs: list[RangeSpec] = []
    for element in match.group(2).split(","):
        item = element.strip(" \t")
        if not item:
            continue
        if len(specs) >= MAX_RANGE_SPECS:
            raise HeaderParseError("Range: too many range-specs", field="Range")
        spec = _SPEC_RE.fullmatch(item)
        if spec is None or spec.group(0) == "-":
            raise HeaderParseError(f"Range: bad range-spec {item[:40]!r}", field="Range")
        first, last = _number(spec.group(1)), _number(spec.group(2))
        if first is not None and last is not None and last < first:
            raise HeaderParseError("Range: last-pos is before first-pos", field="Range")
        specs.append(RangeSpec(first, last))
    if not specs:
        raise HeaderParseError("Range: empty range-set", field="Range")
    return tuple(specs)


def _number(digits: str) -> int | None:
    if not digits:
        return None
    stripped = digits.lstrip("0") or "0"
    return int(stripped) if len(stripped) <= _DIGITS_CAP else 10**_DIGITS_CAP


def coalesce(spans: Iterable[ByteRange]) -> list[ByteRange]:
    """Sort spans and merge those that overlap or touch (§14.1.1 suggests it)."""
    merged: list[ByteRange] = []
    for span in sorted(spans):
        if merged and span.start <= merged[-1].stop:
            last = merged[-1]
            merged[-1] = ByteRange(last.start, max(last.stop, span.stop))
        else:
            merged.append(span)
    return merged


@dataclass(frozen=True, slots=True)
class RangePlan:
    """How to answer: status, headers to set, and the body as segments.

    ``headers`` replaces any ``Content-Length`` (and, for multipart, the
    ``Content-Type``) the full response would have had.  A 416 has no
    segments; an adapter may send a short problem body instead.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    segments: tuple[bytes | ByteRange, ...] = field(default=())

    @property
    def content_length(self) -> int:
        """Exact body length, known before the first byte is read."""
        return sum(len(segment) for segment in self.segments)

    def iter_body(self, read: Callable[[int, int], Iterable[bytes]]) -> Iterator[bytes]:
        """Yield the body, calling ``read(start, stop)`` for each span of the representation."""
        for segment in self.segments:
            if isinstance(segment, ByteRange):
                yield from read(segment.start, segment.stop)
            else:
                yield segment


def plan_ranges(
    range_value: str | None,
    length: int,
    content_type: str | None = None,
    *,
    boundary: str | None = None,
) -> RangePlan:
    """Plan the response to a GET whose ``Range`` is to be honoured.

    Pass ``None`` (or call after deciding not to honour the range) for the
    plain 200.  An unparseable field or a unit other than bytes is ignored
    (200, §14.2 allows it); no satisfiable range gives 416 with
    ``Content-Range: bytes */length``; one range gives 206 with
    ``Content-Range``; several give ``multipart/byteranges`` (§14.6).
    """
    if length < 0:
        raise ValueError("a representation length cannot be negative")
    if boundary is not None and _BOUNDARY_RE.fullmatch(boundary) is None:
        raise ValueError(f"not a multipart boundary (RFC 2046 §5.1.1): {boundary[:80]!r}")
    whole = _whole(length)
    if range_value is None:
        return whole
    try:
        specs = parse_range(range_value)
    except HeaderParseError:
        return whole
    if specs is None:
        return whole
    resolved = [span for spec in specs if (span := spec.resolve(length)) is not None]
    if not resolved:
        if length == 0 and any(spec.first is None and spec.last for spec in specs):
            return whole  # A suffix of nothing: §14.1.1 deems it satisfiable, as the empty body.
        return RangePlan(416, (("Content-Range", f"bytes */{length}"),))
    spans = coalesce(resolved)
    if len(spans) > MAX_PARTS:
        return whole
    spans = _in_request_order(spans, resolved)
    if len(spans) == 1:
        span = spans[0]
        headers = (
            ("Content-Range", span.content_range(length)),
            ("Content-Length", str(len(span))),
        )
        return RangePlan(206, headers, (span,))
    plan = _multipart(spans, length, content_type, boundary or secrets.token_hex(16))
    return whole if plan.content_length >= length else plan


def _in_request_order(spans: list[ByteRange], requested: list[ByteRange]) -> list[ByteRange]:
    """Order coalesced spans by the first range-spec that fell into each (§15.3.7.2).

    "A server that generates a multipart response SHOULD send parts in the
    same order that the corresponding range-spec appeared in the received
    Range header field, excluding those ranges that were deemed
    unsatisfiable or that were coalesced into other ranges."
    """
    if len(spans) == 1:
        return spans

    def first_request(span: ByteRange) -> int:
        return next(
            index
            for index, part in enumerate(requested)
            if span.start <= part.start and part.stop <= span.stop
        )

    return sorted(spans, key=first_request)


def _whole(length: int) -> RangePlan:
    segments: tuple[ByteRange, ...] = (ByteRange(0, length),) if length else ()
    return RangePlan(200, (("Content-Length", str(length)),), segments)


def _multipart(
    spans: list[ByteRange], length: int, content_type: str | None, boundary: str
) -> RangePlan:
    if content_type is not None and any(char in content_type for char in "\r\n\x00"):
        raise ValueError("a Content-Type cannot contain CR, LF or NUL")
    segments: list[bytes | ByteRange] = []
    part_type = f"Content-Type: {content_type}\r\n" if content_type else ""
    for index, span in enumerate(spans):
        lead = "\r\n" if index else ""
        content_range = span.content_range(length)
        head = f"{lead}--{boundary}\r\n{part_type}Content-Range: {content_range}\r\n\r\n"
        segments.append(head.encode("latin-1", "replace"))
        segments.append(span)
    segments.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    body_length = sum(len(segment) for segment in segments)
    parameter = boundary if _TOKEN_RE.fullmatch(boundary) else f'"{boundary}"'
    headers = (
        ("Content-Type", f"multipart/byteranges; boundary={parameter}"),
        ("Content-Length", str(body_length)),
    )
    return RangePlan(206, headers, tuple(segments))
